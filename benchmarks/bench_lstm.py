"""The LSTM layer on the paper's shapes, forward and forward+backward, against PyTorch's nn.LSTM in the same
run (CPU: same thread count; GPU: cuDNN through PyTorch).

  activity:   T=16 frames × N=24 clips, D=4096 (fc6) → H=256          (LRCN-fc6, train_test_lstm_RGB.prototxt)
  captioning: T=20 words × N=100 sentences, D=1000 (embedding), static input S=1000 (fc8) → H=1000
              (lstm2 of the factored lrcn.prototxt)

Ours: the LSTM layer class on Blobs, cont 0 at t = 0 and 1 after, gradients to x (and the static input) and
all parameters. PyTorch's nn.LSTM has no static input: it gets [x_t, x_static] concatenated at every step
(D + S inputs), the usual equivalent, timed with the concatenation; its forward runs under no_grad, its
forward+backward with autograd (gradients to x, the static input and the weights).

GFLOP/s counts 2·multiply-adds of each side's own GEMMs (ours: W_xc·x over all steps, W_static·x_static
once, W_hc·h per step; backward twice that); % of peak uses 210 GFLOP/s per thread (the 2-core project
CPU's 420, DESIGN.md) and 67 TFLOP/s for an H200. Times are the fastest of --repeat runs after a warm-up,
wall-clock by default, or with --clock cpu the process's CPU time summed over threads, which a loaded,
shared machine disturbs less. ratio = ours / PyTorch (< 1: ours is faster). Targets (issue 3): on the CPU
activity ≤ 0.65 (real Caffe's ratio) and captioning ≤ 1; on the GPU ≤ 1.5 against cuDNN fp32.

On AMD CPUs with AVX-512, OpenBLAS may pick its AVX2 (Haswell) kernels, about half as fast as its AVX-512
ones; the JSON records the kernels used, and OPENBLAS_CORETYPE=SkylakeX selects the AVX-512 ones.

    python benchmarks/bench_lstm.py --quick            # CPU, 2 threads, 2 repeats
    python benchmarks/bench_lstm.py --threads 1 --clock cpu
    python benchmarks/bench_lstm.py --device gpu       # needs cupy and a device; cuDNN if torch has CUDA
"""
import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

try:  # PyTorch (the baseline) before lrcn_native: its OpenMP runtime then starts with its own
    import torch  # noqa: F401  defaults, not the OMP_WAIT_POLICY lrcn_native.backend sets for ours
except ImportError:
    pass

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import lrcn_native as caffe  # noqa: E402
from lrcn_native.backend import K, blas_core, blas_library  # noqa: E402
from lrcn_native.blob import Blob  # noqa: E402
from lrcn_native.layer import REGISTRY, TRAIN  # noqa: E402
from lrcn_native.proto.text import parse  # noqa: E402

SHAPES = {"activity": {"T": 16, "N": 24, "D": 4096, "S": 0, "H": 256, "target": 0.65},
          "captioning": {"T": 20, "N": 100, "D": 1000, "S": 1000, "H": 1000, "target": 1.0}}
PEAK = {"cpu": 210.0, "gpu": 67000.0}  # GFLOP/s: per CPU core (the 2-core project machine: 420), the H200
GPU_TARGET = 1.5


def gflop(T, N, D, S, H, backward):
    """2·multiply-adds of the GEMMs: forward, or forward+backward (each weight GEMM has a dW and a dx twin)."""
    G = 4 * H
    fwd = 2.0 * (T * N * D * G + N * S * G + T * N * H * G)
    return (fwd * 3 if backward else fwd) / 1e9


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}


def best_ms(fn, sync, repeat, clock):
    fn()
    sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        sync()
        best = min(best, clock() - t0)
    return best * 1e3


def ours(shape, args, rng):
    T, N, D, S, H = (shape[k] for k in "TNDSH")
    lp = parse(f'name: "lstm" type: "LSTM" recurrent_param {{ num_output: {H} '
               'weight_filler { type: "uniform" min: -0.08 max: 0.08 } }', "<bench>")
    layer = REGISTRY["LSTM"](lp, TRAIN)
    arrays = [rng.standard_normal((T, N, D), np.float32), np.ones((T, N), np.float32)]
    arrays[1][0] = 0
    if S:
        arrays.append(rng.standard_normal((N, S), np.float32))
    bottom, top = [Blob(*a.shape) for a in arrays], [Blob()]
    for b, a in zip(bottom, arrays):
        b.data[...] = a
    layer.setup(bottom, top)
    layer.reshape(bottom, top)
    layer.param_propagate_down = [True] * len(layer.blobs)
    top[0].diff[...] = rng.standard_normal(top[0].shape, np.float32)
    propagate = [True, False] + ([True] if S else [])
    sync = K.synchronize if args.device == "gpu" else (lambda: None)
    fwd = best_ms(lambda: layer.forward(bottom, top), sync, args.repeat, CLOCK[args.clock])

    def step():
        layer.forward(bottom, top)
        layer.backward(top, propagate, bottom)
    return fwd, best_ms(step, sync, args.repeat, CLOCK[args.clock])


def pytorch(torch, shape, args):
    T, N, D, S, H = (shape[k] for k in "TNDSH")
    dev = "cuda" if args.device == "gpu" else "cpu"
    lstm = torch.nn.LSTM(D + S, H).to(dev)
    x = torch.randn(T, N, D, device=dev, requires_grad=True)
    xs = torch.randn(N, S, device=dev, requires_grad=True) if S else None
    gy = torch.randn(T, N, H, device=dev)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)

    def run():
        inp = torch.cat([x, xs.expand(T, N, S)], 2) if S else x
        return lstm(inp)[0]

    def no_grad():
        with torch.no_grad():
            run()
    fwd = best_ms(no_grad, sync, args.repeat, CLOCK[args.clock])
    inputs = [x] + ([xs] if S else []) + list(lstm.parameters())
    return fwd, best_ms(lambda: torch.autograd.grad(run(), inputs, gy), sync, args.repeat, CLOCK[args.clock])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for OpenBLAS, OpenMP and PyTorch")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="--repeat 2")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process CPU time summed over threads (CPU only; steadier on a shared machine, "
                         "best with --threads 1)")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/lstm_<device>.json)")
    args = ap.parse_args()
    if args.quick:
        args.repeat = 2
    if args.device == "gpu":
        args.clock = "wall"
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: our numbers only")
    K.gemm_cpu_set_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    if args.device == "gpu":
        caffe.set_mode_gpu()
        if torch is not None and not torch.cuda.is_available():
            print("PyTorch has no CUDA: our numbers only")
            torch = None
    rng = np.random.default_rng(0)
    print(f"BLAS: {blas_library}, OpenBLAS kernels: {blas_core}")
    results = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "device": args.device,
               "threads": args.threads, "repeat": args.repeat, "clock": args.clock, "blas": blas_library,
               "openblas_core": blas_core,
               "torch": torch.__version__ if torch is not None else None,
               "cudnn": (torch.backends.cudnn.version() if torch is not None and args.device == "gpu" else None),
               "machine": {"cpus": os.cpu_count(), "load_average_before": os.getloadavg(),
                           "processor": platform.processor() or platform.machine()},
               "shapes": {}}
    print(f"{'shape':11s} {'pass':9s} {'ours ms':>8s} {'GFLOP/s':>8s} {'%peak':>6s} {'torch ms':>9s} "
          f"{'GFLOP/s':>8s} {'ratio':>6s} {'target':>6s}")
    for name, shape in SHAPES.items():
        row = dict(shape)
        row["target"] = shape["target"] if args.device == "cpu" else GPU_TARGET
        timings = {"ours": ours(shape, args, rng)}
        if torch is not None:
            timings["torch"] = pytorch(torch, shape, args)
        for i, what in enumerate(("forward", "forward_backward")):
            backward = i == 1
            r = row[what] = {"ours_ms": timings["ours"][i],
                             "ours_gflop": gflop(*(shape[k] for k in "TNDSH"), backward)}
            r["ours_gflops"] = r["ours_gflop"] / r["ours_ms"] * 1e3
            peak = PEAK["cpu"] * args.threads if args.device == "cpu" else PEAK["gpu"]
            r["percent_of_peak"] = 100 * r["ours_gflops"] / peak
            line = f"{name:11s} {what[:9]:9s} {r['ours_ms']:8.1f} {r['ours_gflops']:8.1f} {r['percent_of_peak']:6.1f}"
            if "torch" in timings:
                T, N, D, S, H = (shape[k] for k in "TNDSH")
                r["torch_ms"] = timings["torch"][i]
                r["torch_gflops"] = gflop(T, N, D + S, 0, H, backward) / r["torch_ms"] * 1e3
                r["ratio"] = r["ours_ms"] / r["torch_ms"]
                line += f" {r['torch_ms']:9.1f} {r['torch_gflops']:8.1f} {r['ratio']:6.2f} {row['target']:6.2f}"
            print(line, flush=True)
        results["shapes"][name] = row
    results["machine"]["load_average_after"] = os.getloadavg()
    out = args.out or os.path.join(HERE, "results", f"lstm_{args.device}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
