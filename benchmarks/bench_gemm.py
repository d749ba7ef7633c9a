"""sgemm on the project's real shapes: ours (K.gemm) against the best library on the same machine.

CPU (--device cpu): K.gemm (OpenBLAS through gemm_cpu) vs numpy's matmul (its own OpenBLAS) vs PyTorch
(if installed). GPU (--device gpu, needs cupy and a device): our tiled SGEMM vs cuBLAS through
cupy.matmul, both plain fp32 (CUPY_TF32 must be unset), timed with CUDA events.

Shapes (M×N×K; nn/nt/tn = whether op(A), op(B) are transposed):
  squares 1024³, 2048³, 4096³;
  conv1..conv5 of CaffeNet (caffenet_reference/deploy.prototxt) and of the activity net's "hybrid"
  CNN (CAFFE_FACTS.md §1) lowered by im2col: per group, top (num_output/g × H'W') = W (num_output/g
  × C/g·k²) · col (C/g·k² × H'W'), for one 227² image and for 16 frames side by side (N = 16·H'W');
  fc6 on 384 frames (24 clips × 16): forward top = bottom · Wᵀ, and the hybrid's two backward GEMMs;
  the LSTM: input transform of all T·N = 384 frames (4H = 1024, D = 4096), recurrent step
  24×1024×256, and the captioning LSTM's step 100×4000×1000.

Each CPU timing is the fastest of the runs after warm-up (common.best_seconds), each GPU one their median; GFLOP/s = 2·M·N·K / time; % of --peak
(GFLOP/s: 420 for the 2-core project machine, DESIGN.md; 67000 for the H200's fp32 FMA rate); ratio =
ours / the best baseline (> 1: ours is faster). On the GPU each run times --inner back-to-back calls
queued behind a large cuBLAS product, so the events see the kernels, not Python's launch gaps; inputs
repeat, so shapes that fit in L2 are timed from L2 (for both libraries alike).

    python benchmarks/bench_gemm.py --device cpu --quick
    python benchmarks/bench_gemm.py --device gpu --out benchmarks/results/gemm_gpu.json
"""
import argparse
import os
import sys

import common

import numpy as np

from lrcn_native.backend import K

# (name, input size, [(layer, num_output, kernel, stride, pad, group, max-pool 3/2 after)]), 3 channels in.
CAFFENET = ("caffenet", 227, [("conv1", 96, 11, 4, 0, 1, True), ("conv2", 256, 5, 1, 2, 2, True),
                              ("conv3", 384, 3, 1, 1, 1, False), ("conv4", 384, 3, 1, 1, 2, False),
                              ("conv5", 256, 3, 1, 1, 2, True)])
HYBRID = ("hybrid", 227, [("conv1", 96, 7, 2, 0, 1, True), ("conv2", 384, 5, 2, 0, 2, True),
                          ("conv3", 512, 3, 1, 1, 1, False), ("conv4", 512, 3, 1, 1, 2, False),
                          ("conv5", 384, 3, 1, 1, 2, True)])
FRAMES, CLIPS, HIDDEN = 384, 24, 256  # one activity batch: 24 clips × 16 frames; LSTM 256


def conv_shapes(net):
    """im2col GEMMs (name, M, N, K, trans_a, trans_b) of each conv layer, and fc6's input size."""
    name, size, layers = net
    channels, shapes = 3, []
    for layer, num_output, kernel, stride, pad, group, pool in layers:
        size = (size + 2 * pad - kernel) // stride + 1
        m, k = num_output // group, channels // group * kernel * kernel
        g = f" ×{group} groups" if group > 1 else ""
        shapes.append((f"{name} {layer} 1 image{g}", m, size * size, k, False, False))
        shapes.append((f"{name} {layer} 16 frames{g}", m, 16 * size * size, k, False, False))
        channels = num_output
        if pool:  # Caffe's pooled size rounds up
            size = -(-(size - 3) // 2) + 1
    return shapes, channels * size * size


def all_shapes():
    caffenet, caffenet_fc6_in = conv_shapes(CAFFENET)
    hybrid, hybrid_fc6_in = conv_shapes(HYBRID)
    return ([(f"square {n}", n, n, n, False, False) for n in (1024, 2048, 4096)] + caffenet + hybrid + [
        ("caffenet fc6 forward", FRAMES, 4096, caffenet_fc6_in, False, True),
        ("hybrid fc6 forward", FRAMES, 4096, hybrid_fc6_in, False, True),
        ("hybrid fc6 backward data", FRAMES, hybrid_fc6_in, 4096, False, False),
        ("hybrid fc6 backward weight", 4096, hybrid_fc6_in, FRAMES, True, False),
        ("lstm input transform", FRAMES, 4 * HIDDEN, 4096, False, True),
        ("lstm recurrent step", CLIPS, 4 * HIDDEN, HIDDEN, False, True),
        ("caption lstm recurrent step", 100, 4000, 1000, False, True),
    ])


def operands(xp, m, n, k, ta, tb):
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(np.float32)
    return xp.asarray(a), xp.asarray(b), xp.zeros((m, n), np.float32)


def cpu_time(fn, warmup, repeat):
    return common.best_seconds(fn, repeat, warmup)


def cpu_impls(m, n, k, ta, tb):
    a, b, c = operands(np, m, n, k, ta, tb)
    opa, opb = (a.T if ta else a), (b.T if tb else b)
    impls = {"ours": lambda: K.gemm(ta, tb, 1.0, a, b, 0.0, c),
             "numpy": lambda: np.matmul(opa, opb, out=c)}
    torch = common.torch
    if torch is not None:
        ta_, tb_, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        impls["torch"] = lambda: torch.matmul(ta_.T if ta else ta_, tb_.T if tb else tb_, out=tc)
    return impls, None


def gpu_impls(m, n, k, ta, tb):
    import cupy
    a, b, c_ours = operands(cupy, m, n, k, ta, tb)
    c_cublas = cupy.zeros_like(c_ours)
    opa, opb = (a.T if ta else a), (b.T if tb else b)
    impls = {"ours": lambda: K.gemm(ta, tb, 1.0, a, b, 0.0, c_ours),
             "cublas": lambda: cupy.matmul(opa, opb, out=c_cublas)}
    for f in impls.values():
        f()
    # Agreement check: both are fp32 sums of K products; relative to the size of the terms.
    scale = float(cupy.abs(opa).max() * cupy.abs(opb).max()) * max(k, 1)
    return impls, float(cupy.abs(c_ours - c_cublas).max()) / scale


class GpuTimer:
    def __init__(self, inner):
        import cupy
        self.cupy, self.inner = cupy, inner
        self.start, self.end = cupy.cuda.Event(), cupy.cuda.Event()
        # ~2.7 ms of work on an H200: long enough for Python to queue `inner` launches behind it.
        self.fa, self.fb = cupy.ones((4096, 4096), np.float32), cupy.ones((4096, 4096), np.float32)
        self.fc = cupy.empty((4096, 4096), np.float32)

    def __call__(self, fn, warmup, repeat):
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeat):
            self.cupy.matmul(self.fa, self.fb, out=self.fc)
            self.start.record()
            for _ in range(self.inner):
                fn()
            self.end.record()
            self.end.synchronize()
            times.append(self.cupy.cuda.get_elapsed_time(self.start, self.end) / 1e3 / self.inner)
        return float(np.median(times))


def gpu_info():
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    return dict(gpu=props["name"].decode(), sms=props["multiProcessorCount"], cupy=cupy.__version__,
                cuda_runtime=cupy.cuda.runtime.runtimeGetVersion())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    common.add_arguments(p, "the three smallest shapes, once (a smoke run)")
    p.add_argument("--peak", type=float,
                   help="fp32 peak in GFLOP/s (default 420 on the CPU, 67000 on the GPU)")
    p.add_argument("--only", help="comma-separated substrings: run only the shapes whose name contains one")
    args = p.parse_args()
    gpu = args.device == "gpu"
    peak = args.peak or (67000.0 if gpu else 420.0)
    if gpu:
        try:
            import cupy  # noqa: F401
        except ImportError:
            sys.exit("bench_gemm: --device gpu needs cupy (pip install cupy-cuda13x)")
        if K.device_count() == 0:
            sys.exit("bench_gemm: --device gpu needs a CUDA device and lrcn_native._cuda")
        if os.environ.get("CUPY_TF32", "0") != "0":
            sys.exit("bench_gemm: unset CUPY_TF32: the baseline must be plain fp32 like ours")
        warmup, repeat = (2, 5) if args.quick else (5, 20)
        timer, make = GpuTimer(inner=3 if args.quick else 10), gpu_impls
    else:
        warmup, repeat = (1, 1) if args.quick else (2, 10)
        timer, make = cpu_time, cpu_impls

    shapes = all_shapes()
    if args.only:
        shapes = [s for s in shapes if any(w in s[0] for w in args.only.split(","))]
    if args.quick:
        shapes = sorted(shapes, key=lambda s: s[1] * s[2] * s[3])[:3]
    rows = []
    print(f"{'shape':40s} {'M×N×K':>20s} op  ratio  per library: ms, GFLOP/s")
    for name, m, n, k, ta, tb in shapes:
        impls, err = make(m, n, k, ta, tb)
        gflop = 2.0 * m * n * k / 1e9
        results = {}
        for impl, fn in impls.items():
            t = timer(fn, warmup, repeat)
            results[impl] = {"ms": t * 1e3, "gflops": gflop / t, "pct_peak": 100 * gflop / t / peak}
        best = max((r["gflops"] for i, r in results.items() if i != "ours"))
        ratio = results["ours"]["gflops"] / best
        row = {"name": name, "M": m, "N": n, "K": k, "trans_a": ta, "trans_b": tb, "gflop": gflop,
               "results": results, "ours_over_best_baseline": ratio}
        if gpu:
            row["pct_of_cublas"] = 100 * ratio
            row["max_abs_diff_vs_cublas_rel"] = err
        rows.append(row)
        op = ("t" if ta else "n") + ("t" if tb else "n")
        cells = "  ".join(f"{i} {r['ms']:.3f} {r['gflops']:.0f}" for i, r in results.items())
        print(f"{name:40s} {f'{m}×{n}×{k}':>20s} {op}  {ratio:5.2f}  {cells}", flush=True)

    report = common.header(device=args.device, peak_gflops=peak, quick=args.quick, warmup=warmup, repeat=repeat,
                           gpu=gpu_info() if gpu else None, shapes=rows)
    common.save(report, args, f"gemm_{args.device}")

if __name__ == "__main__":
    main()
