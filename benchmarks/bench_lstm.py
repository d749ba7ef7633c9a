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

    python benchmarks/bench_lstm.py                    # CPU, 2 threads
    python benchmarks/bench_lstm.py --quick            # a smoke run: the activity shape at N = 2, once
    python benchmarks/bench_lstm.py --threads 1 --clock cpu
    python benchmarks/bench_lstm.py --device gpu       # needs cupy and a device; cuDNN if torch has CUDA
"""
import argparse

import common

import numpy as np

import lrcn_native as caffe
from lrcn_native.backend import K, blas_core, blas_library
from lrcn_native.blob import Blob
from lrcn_native.layer import REGISTRY, TRAIN
from lrcn_native.proto.text import parse

SHAPES = {"activity": {"T": 16, "N": 24, "D": 4096, "S": 0, "H": 256, "target": 0.65},
          "captioning": {"T": 20, "N": 100, "D": 1000, "S": 1000, "H": 1000, "target": 1.0}}
GPU_TARGET = 1.5


def gflop(T, N, D, S, H, backward):
    """2·multiply-adds of the GEMMs: forward, or forward+backward (each weight GEMM has a dW and a dx twin)."""
    G = 4 * H
    fwd = 2.0 * (T * N * D * G + N * S * G + T * N * H * G)
    return (fwd * 3 if backward else fwd) / 1e9


def best_ms(fn, sync, repeat, clock):
    return common.best_seconds(fn, repeat, sync=sync, clock=clock) * 1e3


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
    fwd = best_ms(lambda: layer.forward(bottom, top), sync, args.repeat, args.clock)

    def step():
        layer.forward(bottom, top)
        layer.backward(top, propagate, bottom)
    return fwd, best_ms(step, sync, args.repeat, args.clock)


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
    fwd = best_ms(no_grad, sync, args.repeat, args.clock)
    inputs = [x] + ([xs] if S else []) + list(lstm.parameters())
    return fwd, best_ms(lambda: torch.autograd.grad(run(), inputs, gy), sync, args.repeat, args.clock)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for OpenBLAS, OpenMP and PyTorch")
    ap.add_argument("--repeat", type=int, default=5)
    common.add_arguments(ap, "the activity shape with N = 2 clips, once (a smoke run)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process CPU time summed over threads (CPU only; steadier on a shared machine, "
                         "best with --threads 1)")
    args = ap.parse_args()
    shapes = SHAPES
    if args.quick:
        args.repeat = 1
        shapes = {"activity": dict(SHAPES["activity"], N=2)}
    if args.device == "gpu":
        args.clock = "wall"
    torch = common.torch
    if torch is None:
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
    results = common.header(device=args.device, threads=args.threads, repeat=args.repeat, clock=args.clock,
                            quick=args.quick, shapes={},
                            cudnn=torch.backends.cudnn.version() if torch is not None and args.device == "gpu" else None)
    print(f"{'shape':11s} {'pass':9s} {'ours ms':>8s} {'GFLOP/s':>8s} {'%peak':>6s} {'torch ms':>9s} "
          f"{'GFLOP/s':>8s} {'ratio':>6s} {'target':>6s}")
    for name, shape in shapes.items():
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
            peak = common.PEAK_GFLOPS["cpu"] * args.threads if args.device == "cpu" else common.PEAK_GFLOPS["gpu"]
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
    common.save(results, args, f"lstm_{args.device}")

if __name__ == "__main__":
    main()
