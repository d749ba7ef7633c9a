"""Pooling and LRN on the CPU, on 16 frames of the paper's CNNs: ours (the Pooling / LRN layers) against
PyTorch (F.max_pool2d(ceil_mode=True), F.local_response_norm) in the same run, when torch imports.

Shapes (16 frames): CaffeNet pool1 96×55×55 → 27×27, norm1 96×27×27, pool2 256×27×27 → 13×13,
norm2 256×13×13, pool5 256×13×13 → 6×6; the activity net's "hybrid" CNN (CAFFE_FACTS.md §1) pool1
96×111×111 → 55×55, norm1 96×55×55, pool2 384×26×26 → 13×13, norm2 384×13×13, pool5 384×13×13 → 6×6.
Max pooling is kernel 3 stride 2; LRN is ACROSS_CHANNELS, local_size 5, α 1e-4, β 0.75.

Each time is the best of --repeat runs after a warm-up (the least disturbed on a shared machine). Backward is timed alone (ours: layer.backward
after one forward; torch: autograd.grad on a retained graph). GB/s counts the tensors each pass must
touch at least, the same for both implementations: forward reads x and writes y; backward reads dy
(and x for LRN) and writes dx. ratio = torch time / our time (> 1: ours is faster).

    python benchmarks/bench_pooling.py --quick [--threads 1]
    python benchmarks/bench_pooling.py --out benchmarks/results/pooling_cpu.json
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

FRAMES = 16
POOL = 'type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2 }'
NORM = 'type: "LRN" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }'
# (name, layer text, bottom shape of one frame)
CASES = [
    ("caffenet pool1", POOL, (96, 55, 55)), ("caffenet norm1", NORM, (96, 27, 27)),
    ("caffenet pool2", POOL, (256, 27, 27)), ("caffenet norm2", NORM, (256, 13, 13)),
    ("caffenet pool5", POOL, (256, 13, 13)),
    ("hybrid pool1", POOL, (96, 111, 111)), ("hybrid norm1", NORM, (96, 55, 55)),
    ("hybrid pool2", POOL, (384, 26, 26)), ("hybrid norm2", NORM, (384, 13, 13)),
    ("hybrid pool5", POOL, (384, 13, 13)),
]


def best_time(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def ours(text, x, rng, warmup, repeat):
    """Our layer's forward and backward times, its outputs, and the random top diff it used."""
    from lrcn_native.blob import Blob
    from lrcn_native.layer import REGISTRY
    from lrcn_native.proto.text import parse
    lp = parse(text, "<bench>")
    layer = REGISTRY[lp.str("type")](lp)
    bottom, top = [Blob(*x.shape)], [Blob()]
    bottom[0].data[...] = x
    layer.setup(bottom, top)
    layer.reshape(bottom, top)
    fwd = best_time(lambda: layer.forward(bottom, top), warmup, repeat)
    dy = rng.standard_normal(top[0].shape).astype(np.float32)
    top[0].diff[...] = dy
    bwd = best_time(lambda: layer.backward(top, [True], bottom), warmup, repeat)
    return fwd, bwd, top[0].data.copy(), bottom[0].diff.copy(), dy


def torch_impl(is_pool, x, dy, warmup, repeat):
    import torch
    import torch.nn.functional as F
    xt = torch.from_numpy(x).requires_grad_()
    gy = torch.from_numpy(dy)

    def forward():
        if is_pool:
            return F.max_pool2d(xt, 3, 2, ceil_mode=True)
        return F.local_response_norm(xt, 5, alpha=1e-4, beta=0.75, k=1.0)
    fwd = best_time(forward, warmup, repeat)
    y = forward()
    bwd = best_time(lambda: torch.autograd.grad(y, xt, gy, retain_graph=True), warmup, repeat)
    (dx,) = torch.autograd.grad(y, xt, gy, retain_graph=True)
    return fwd, bwd, y.detach().numpy(), dx.numpy()


def record(fwd, bwd, x, y, is_pool):
    fwd_bytes = 4 * (x.size + y.size)
    bwd_bytes = 4 * (y.size + x.size + (0 if is_pool else x.size))
    return {"forward_ms": fwd * 1e3, "backward_ms": bwd * 1e3, "forward_GBps": fwd_bytes / fwd / 1e9,
            "backward_GBps": bwd_bytes / bwd / 1e9, "total_GBps": (fwd_bytes + bwd_bytes) / (fwd + bwd) / 1e9}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few repetitions (a smoke run)")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for ours and torch")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "pooling_cpu.json"))
    args = ap.parse_args()
    warmup, repeat = (1, 3) if args.quick else (3, args.repeat)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read when our extension loads OpenMP
    import lrcn_native  # noqa: F401
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
        print("torch not importable: timing ours only")

    rng = np.random.default_rng(0)
    rows = []
    print(f"{'case':16s} {'shape':>18s} | {'ours fwd/bwd ms':>16s} {'GB/s':>6s} | {'torch fwd/bwd ms':>16s} "
          f"{'GB/s':>6s} | ratio")
    for name, text, shape in CASES:
        is_pool = "Pooling" in text
        x = rng.standard_normal((FRAMES, *shape)).astype(np.float32)
        fwd, bwd, y, dx, dy = ours(text, x, rng, warmup, repeat)
        row = {"case": name, "bottom": [FRAMES, *shape], "top": list(y.shape), "ours": record(fwd, bwd, x, y, is_pool)}
        line = (f"{name:16s} {'x'.join(map(str, (FRAMES, *shape))):>18s} | {fwd * 1e3:7.2f} /{bwd * 1e3:7.2f} "
                f"{row['ours']['total_GBps']:6.1f}")
        if torch is not None:
            tf, tb, ty, tdx = torch_impl(is_pool, x, dy, warmup, repeat)
            row["torch"] = record(tf, tb, x, ty, is_pool)
            row["ratio"] = (tf + tb) / (fwd + bwd)
            # Sanity: the same answers (max pooling exactly; LRN to float32 rounding).
            row["max_abs_diff_vs_torch"] = {"top": float(np.abs(ty - y).max()), "bottom_diff": float(np.abs(tdx - dx).max())}
            line += f" | {tf * 1e3:7.2f} /{tb * 1e3:7.2f} {row['torch']['total_GBps']:6.1f} | {row['ratio']:5.2f}x"
        print(line, flush=True)
        rows.append(row)

    result = {"benchmark": "pooling_cpu", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "threads": args.threads,
              "torch": torch.__version__ if torch is not None else None, "frames": FRAMES,
              "warmup": warmup, "repeat": repeat, "quick": args.quick, "results": rows}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
