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
import os

import common

import numpy as np

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
    fwd = common.best_seconds(lambda: layer.forward(bottom, top), repeat, warmup)
    dy = rng.standard_normal(top[0].shape).astype(np.float32)
    top[0].diff[...] = dy
    bwd = common.best_seconds(lambda: layer.backward(top, [True], bottom), repeat, warmup)
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
    fwd = common.best_seconds(forward, repeat, warmup)
    y = forward()
    bwd = common.best_seconds(lambda: torch.autograd.grad(y, xt, gy, retain_graph=True), repeat, warmup)
    (dx,) = torch.autograd.grad(y, xt, gy, retain_graph=True)
    return fwd, bwd, y.detach().numpy(), dx.numpy()


def record(fwd, bwd, x, y, is_pool):
    fwd_bytes = 4 * (x.size + y.size)
    bwd_bytes = 4 * (y.size + x.size + (0 if is_pool else x.size))
    return {"forward_ms": fwd * 1e3, "backward_ms": bwd * 1e3, "forward_GBps": fwd_bytes / fwd / 1e9,
            "backward_GBps": bwd_bytes / bwd / 1e9, "total_GBps": (fwd_bytes + bwd_bytes) / (fwd + bwd) / 1e9}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_arguments(ap, "CaffeNet's pool5 and norm2 only, once each (a smoke run)")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for ours and torch")
    args = ap.parse_args()
    warmup, repeat = (1, 1) if args.quick else (3, args.repeat)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read when our extension loads OpenMP
    import lrcn_native  # noqa: F401
    torch = common.torch
    if torch is not None:
        torch.set_num_threads(args.threads)
    else:
        print("torch not importable: timing ours only")

    rng = np.random.default_rng(0)
    rows = []
    print(f"{'case':16s} {'shape':>18s} | {'ours fwd/bwd ms':>16s} {'GB/s':>6s} | {'torch fwd/bwd ms':>16s} "
          f"{'GB/s':>6s} | ratio")
    for name, text, shape in CASES[3:5] if args.quick else CASES:
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

    result = common.header(benchmark="pooling_cpu", threads=args.threads, frames=FRAMES, warmup=warmup,
                           repeat=repeat, quick=args.quick, results=rows)
    common.save(result, args, "pooling_cpu")

if __name__ == "__main__":
    main()
