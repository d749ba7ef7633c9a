"""Convolution and InnerProduct on the paper's nets: CaffeNet conv1..fc6 (caffenet_reference/deploy.prototxt)
and the LRCN activity net's hybrid CNN conv1..fc6 (LRCN_activity_recognition/deploy_lstm.prototxt), on
--frames frames of 3×227×227 (16 by default: one clip), forward and backward, layer by layer.

Each layer of the prototxt up to fc6 is built from its own layer message with our layer classes; types
not registered in this tree (other units) are skipped, their top shape computed (Pooling: Caffe's ceil
rule) so the next layer sees the right input. Parameters are gaussian(0.01), inputs and top diffs
standard normal. conv1 does not propagate to its bottom (the data), as in a training net.

The baseline is PyTorch in the same run, same shapes, same thread count: F.conv2d / F.linear (and F.relu,
F.max_pool2d(ceil_mode=True), F.local_response_norm for the layers we time), forward with autograd on,
backward as torch.autograd.grad over the same inputs (retained graph). GFLOP/s counts 2·multiply-adds of
the GEMMs (forward 2·N·M·HoWo·C/g·kh·kw; backward twice that with a bottom diff, once without); % of
peak uses 210 GFLOP/s per CPU thread (420 for the 2-core machine, DESIGN.md) and 67 TFLOP/s for an
H200. Each time is the fastest of --repeat runs after a warm-up, ours and PyTorch's runs taking turns
(the project machine is shared: the fastest run is the least disturbed one; numbers still vary by tens
of % between runs; with --threads 1 the times are the process's CPU time, which is robust to that).
ratio = ours / PyTorch (< 1: ours is faster). Our CPU GEMMs are OpenBLAS's, and its kernel set (recorded
as blas_core) halves or doubles them on AVX-512 machines: this environment sets
OPENBLAS_CORETYPE=Haswell (AVX2); OPENBLAS_CORETYPE=SkylakeX selects the AVX-512 kernels.

    python benchmarks/bench_conv.py                         # CPU, 2 threads
    python benchmarks/bench_conv.py --threads 1             # CPU time on one core (a loaded machine)
    python benchmarks/bench_conv.py --quick                 # a smoke run: CaffeNet on one frame, once
    python benchmarks/bench_conv.py --device gpu            # needs cupy and a device; cuDNN if torch has CUDA
"""
import argparse
import os
import time

import common

import numpy as np


ORIGINAL = common.ORIGINAL
NETS = {"caffenet": os.path.join(ORIGINAL, "caffenet_reference", "deploy.prototxt"),
        "lrcn_hybrid": os.path.join(ORIGINAL, "LRCN_activity_recognition", "deploy_lstm.prototxt")}
GEMM_TYPES = ("Convolution", "InnerProduct")


def layers_to_fc6(path):
    """The prototxt's layer messages from the first one through fc6."""
    out = []
    for lp in parse_file(path).msgs("layer"):
        out.append(lp)
        if lp.str("name") == "fc6":
            return out
    raise ValueError(f"{path}: no layer named fc6")


def pooled_shape(lp, shape):
    """Caffe's pooling output shape (ceil rule; pad 0 in these nets) for an unregistered Pooling layer."""
    p = lp.msg("pooling_param")
    k, s = p.int("kernel_size"), p.int("stride", 1)
    n, c, h, w = shape
    return (n, c, -(-(h - k) // s) + 1, -(-(w - k) // s) + 1)


def flops(lp, bottom_shape, top_shape, propagate):
    """Forward and backward FLOPs of a Convolution or InnerProduct layer (2 per multiply-add)."""
    if lp.str("type") == "Convolution":
        p = lp.msg("convolution_param")
        k = p.ints("kernel_size") or [p.int("kernel_h"), p.int("kernel_w")]
        kh, kw = (k * 2)[:2]
        fwd = 2.0 * np.prod(top_shape) * bottom_shape[1] // p.int("group", 1) * kh * kw
    else:
        fwd = 2.0 * np.prod(bottom_shape) * top_shape[-1]
    return fwd, fwd * (2 if propagate else 1)


def fastest(jobs, repeat, clock):
    """{name: ms}: the fastest of ``repeat`` runs of each (fn, sync) job after a warm-up run. The jobs take
    turns within each round, so ours and PyTorch's see the same moments of a shared machine's load."""
    best = {}
    for round_ in range(repeat + 1):
        for name, (fn, sync) in jobs.items():
            t0 = clock()
            fn()
            sync()
            if round_:
                best[name] = min(best.get(name, float("inf")), (clock() - t0) * 1e3)
    return best


def torch_layer(torch, lp, x, device):
    """The PyTorch function computing layer ``lp`` on ``x`` (its parameters made here), or None."""
    F = torch.nn.functional
    kind = lp.str("type")
    gen = lambda *s: (0.01 * torch.randn(*s, device=device)).requires_grad_()  # noqa: E731
    if kind == "Convolution":
        p = lp.msg("convolution_param")
        k, g, m = p.int("kernel_size"), p.int("group", 1), p.int("num_output")
        w, b = gen(m, x.shape[1] // g, k, k), gen(m)
        return lambda: F.conv2d(x, w, b, p.int("stride", 1), p.int("pad", 0), 1, g), [w, b]
    if kind == "InnerProduct":
        m = lp.msg("inner_product_param").int("num_output")
        w, b = gen(m, int(np.prod(x.shape[1:]))), gen(m)
        return lambda: F.linear(x.reshape(x.shape[0], -1), w, b), [w, b]
    if kind == "ReLU":
        return lambda: F.relu(x), []
    if kind == "Pooling":
        p = lp.msg("pooling_param")
        return lambda: F.max_pool2d(x, p.int("kernel_size"), p.int("stride", 1), ceil_mode=True), []
    if kind == "LRN":
        p = lp.msg("lrn_param")
        return lambda: F.local_response_norm(x, p.int("local_size", 5), p.float("alpha", 1.0), p.float("beta", 0.75),
                                             p.float("k", 1.0)), []
    return None


def bench_net(name, path, args, torch):
    gpu = args.device == "gpu"
    # One CPU thread: the process's CPU time, which other processes' use of the core does not inflate.
    clock = time.process_time if args.threads == 1 and not gpu else time.perf_counter
    peak = common.PEAK_GFLOPS["gpu"] if gpu else common.PEAK_GFLOPS["cpu"] * args.threads
    sync = K.synchronize if gpu else (lambda: None)
    tdev = "cuda" if gpu else "cpu"
    tsync = (lambda: torch.cuda.synchronize()) if (torch is not None and gpu) else (lambda: None)
    rng = np.random.default_rng(0)
    shape = (args.frames, 3, 227, 227)
    rows = []
    print(f"\n{name}: {args.frames} frames of 3x227x227 ({os.path.relpath(path)})")
    print(f"{'layer':8s} {'type':12s} {'ours fwd':>9s} {'bwd':>8s} {'GFLOP/s':>8s} {'%peak':>6s} "
          f"{'torch fwd':>9s} {'bwd':>8s} {'ratio':>6s}")
    for i, lp in enumerate(layers_to_fc6(path)):
        kind, lname = lp.str("type"), lp.str("name")
        propagate = i > 0
        if kind not in REGISTRY:
            if kind == "Pooling":
                shape = pooled_shape(lp, shape)
            elif kind not in ("ReLU", "LRN", "Dropout"):
                raise ValueError(f"{lname}: cannot infer the top shape of an unregistered {kind}")
            rows.append({"layer": lname, "type": kind, "skipped": "type not registered in this tree"})
            print(f"{lname:8s} {kind:12s} (not registered here: skipped)")
            continue
        layer = REGISTRY[kind](lp, TEST)
        bottom, top = [Blob(*shape)], [Blob()]
        bottom[0].data[...] = rng.standard_normal(shape, np.float32)
        layer.setup(bottom, top)
        layer.reshape(bottom, top)
        layer.param_propagate_down = [True] * len(layer.blobs)
        for p in layer.blobs:
            p.data[...] = 0.01 * rng.standard_normal(p.shape, np.float32)
        top[0].diff[...] = rng.standard_normal(top[0].shape, np.float32)
        row = {"layer": lname, "type": kind, "bottom": list(shape), "top": list(top[0].shape),
               "propagate_down": propagate}
        jobs = {"ours_forward_ms": (lambda: layer.forward(bottom, top), sync),
                "ours_backward_ms": (lambda: layer.backward(top, [propagate], bottom), sync)}
        x = torch.randn(*shape, device=tdev).requires_grad_(propagate) if torch is not None else None
        made = torch_layer(torch, lp, x, tdev) if torch is not None else None
        if made is not None:
            fn, params = made
            y = fn()
            inputs, gy = params + ([x] if propagate else []), torch.randn_like(y)
            jobs["torch_forward_ms"] = (fn, tsync)
            jobs["torch_backward_ms"] = (lambda: torch.autograd.grad(y, inputs, gy, retain_graph=True), tsync)
        row.update(fastest(jobs, args.repeat, clock))
        ours = row["ours_forward_ms"] + row["ours_backward_ms"]
        line = f"{lname:8s} {kind:12s} {row['ours_forward_ms']:9.2f} {row['ours_backward_ms']:8.2f}"
        if kind in GEMM_TYPES:
            fwd, bwd = flops(lp, shape, top[0].shape, propagate)
            row["gflop"] = (fwd + bwd) / 1e9
            row["gflops"] = row["gflop"] / ours * 1e3
            row["percent_of_peak"] = 100 * row["gflops"] / peak
            line += f" {row['gflops']:8.1f} {row['percent_of_peak']:6.1f}"
        else:
            line += f" {'':8s} {'':6s}"
        if made is not None:
            row["ratio"] = ours / (row["torch_forward_ms"] + row["torch_backward_ms"])
            line += f" {row['torch_forward_ms']:9.2f} {row['torch_backward_ms']:8.2f} {row['ratio']:6.2f}"
        print(line, flush=True)
        rows.append(row)
        shape = top[0].shape
        del layer, bottom, top
    return {"prototxt": os.path.relpath(path, common.ROOT), "layers": rows, "totals": totals(rows)}


def totals(rows):
    out = {}
    for what, kinds in (("conv_and_ip", GEMM_TYPES), ("all_timed", None)):
        timed = [r for r in rows if "ours_forward_ms" in r and (kinds is None or r["type"] in kinds)]
        t = {"layers": [r["layer"] for r in timed],
             "ours_ms": sum(r["ours_forward_ms"] + r["ours_backward_ms"] for r in timed)}
        if all("torch_forward_ms" in r for r in timed):
            t["torch_ms"] = sum(r["torch_forward_ms"] + r["torch_backward_ms"] for r in timed)
            t["ratio"] = t["ours_ms"] / t["torch_ms"]
        if kinds is not None:
            t["gflops"] = sum(r["gflop"] for r in timed) / t["ours_ms"] * 1e3
        out[what] = t
    return out


def main():
    global caffe, K, Blob, REGISTRY, TEST, parse_file  # imported below, once OMP_NUM_THREADS is set
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for OpenBLAS, OpenMP and PyTorch")
    ap.add_argument("--repeat", type=int, default=5)
    common.add_arguments(ap, "CaffeNet on one frame, once (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.frames = 1, 1
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read by OpenMP when lrcn_native loads it
    import lrcn_native as caffe
    from lrcn_native.backend import K
    from lrcn_native.blob import Blob
    from lrcn_native.layer import REGISTRY, TEST
    from lrcn_native.proto.text import parse_file
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
    nets = ["caffenet"] if args.quick else list(NETS)
    results = common.header(device=args.device, frames=args.frames, threads=args.threads, repeat=args.repeat,
                            quick=args.quick, openblas_coretype_env=os.environ.get("OPENBLAS_CORETYPE"),
                            clock="process_time" if args.threads == 1 and args.device == "cpu" else "perf_counter",
                            nets={})
    for name in nets:
        results["nets"][name] = r = bench_net(name, NETS[name], args, torch)
        for what, t in r["totals"].items():
            extra = f", PyTorch {t['torch_ms']:.1f} ms, ratio {t['ratio']:.2f}" if "ratio" in t else ""
            print(f"{name} {what} ({len(t['layers'])} layers) forward+backward: ours {t['ours_ms']:.1f} ms{extra}")
    common.save(results, args, f"conv_{args.device}")

if __name__ == "__main__":
    main()
