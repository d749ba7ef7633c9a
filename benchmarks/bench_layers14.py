"""The layers issue 14 added (BatchNorm, Scale, Bias, PReLU, the pointwise family, Crop, Tile, Reduction,
SigmoidCrossEntropyLoss) forward and backward on the CPU against PyTorch in the same run, and the model
zoo's deploy nets (tests/zoo/) forward + backward against the same nets in PyTorch (export-torch's TorchNet).

Layer shapes: ResNet-50's res2 activations at batch 8 (8×256×56×56, 25.7 MB a tensor) for the channel-wise
and pointwise layers; an FCN-style crop of 8×64×114×114 to 112×112; a 4-fold tile of 8×64×56×56; row
reductions of 2048×4096; the sigmoid cross-entropy of 256×1000 scores. PyTorch runs the same formulas with
its own kernels (F.batch_norm, broadcasting, F.prelu, slicing, repeat, reductions,
F.binary_cross_entropy_with_logits) on the same data and parameters, and its answers are checked against
ours (max_abs_diff_vs_torch). Backward is timed alone (ours: layer.backward after one forward; torch:
autograd.grad on a retained graph, to the bottom and the parameters as ours computes). GB/s counts the
tensors a pass must touch at least, the same for both: forward reads the bottoms and writes the top;
backward reads the top diff and bottom 0 and writes bottom 0's diff. ratio = torch time / our time,
forward + backward (> 1: ours is faster). Each time is the best of --repeat runs after a warm-up.

The zoo nets run at batch --zoo-batch (1: the acceptance tests' size) with random weights; ours is
Net.forward + Net.backward (force_backward, so the data gradient is computed, as autograd does for torch).

    python benchmarks/bench_layers14.py --quick
    python benchmarks/bench_layers14.py --out benchmarks/results/layers14_cpu.json
"""
import argparse
import math
import os

import common

import numpy as np

ZOO = os.path.join(common.ROOT, "tests", "zoo")
ZOO_NETS = ["bvlc_alexnet.deploy.prototxt", "bvlc_reference_caffenet.deploy.prototxt",
            "VGG_ILSVRC_16_layers_deploy.prototxt", "bvlc_googlenet.deploy.prototxt", "ResNet-50-deploy.prototxt",
            "ResNet-101-deploy.prototxt", "ResNet-152-deploy.prototxt"]
ACT = (8, 256, 56, 56)
LN2 = math.log(2.0)


def cases(torch, act):
    """(name, layer text, bottom shapes, torch formula f(bottoms, params), whether Caffe has a backward)."""
    F = torch.nn.functional

    def channel(t):  # (C,) broadcast over (N, C, H, W)
        return t.view(1, -1, 1, 1)
    n, c, h, w = act
    gauss = 'filler { type: "gaussian" std: 1 }'
    return [
        ("BatchNorm global stats", 'type: "BatchNorm" batch_norm_param { use_global_stats: true }', [act],
         lambda b, p: F.batch_norm(b[0], p[0] / p[2], p[1] / p[2], eps=1e-5), True),
        ("BatchNorm batch stats", 'type: "BatchNorm" batch_norm_param { use_global_stats: false }', [act],
         lambda b, p: F.batch_norm(b[0], None, None, training=True, eps=1e-5), True),
        ("Scale + bias", f'type: "Scale" scale_param {{ bias_term: true {gauss} bias_filler {{ type: "gaussian" }} }}',
         [act], lambda b, p: b[0] * channel(p[0]) + channel(p[1]), True),
        ("Bias", f'type: "Bias" bias_param {{ {gauss} }}', [act], lambda b, p: b[0] + channel(p[0]), True),
        ("PReLU", 'type: "PReLU" prelu_param { filler { type: "uniform" min: 0 max: 0.5 } }', [act],
         lambda b, p: F.prelu(b[0], p[0]), True),
        ("AbsVal", 'type: "AbsVal"', [act], lambda b, p: b[0].abs(), True),
        ("BNLL", 'type: "BNLL"', [act], lambda b, p: F.softplus(b[0]), True),
        ("ELU", 'type: "ELU" elu_param { alpha: 0.5 }', [act], lambda b, p: F.elu(b[0], 0.5), True),
        ("Exp base 2", 'type: "Exp" exp_param { base: 2 scale: 0.5 shift: 0.1 }', [act],
         lambda b, p: torch.exp(LN2 * (0.1 + 0.5 * b[0])), True),
        ("Log", 'type: "Log" log_param { scale: 0.5 shift: 10 }', [act], lambda b, p: torch.log(10 + 0.5 * b[0]), True),
        ("Power", 'type: "Power" power_param { power: 2 scale: 0.5 shift: 1 }', [act],
         lambda b, p: (1 + 0.5 * b[0]) ** 2, True),
        ("Threshold", 'type: "Threshold" threshold_param { threshold: 0.5 }', [act],
         lambda b, p: (b[0] > 0.5).float(), False),
        ("Crop", 'type: "Crop" crop_param { axis: 2 offset: 1 }', [(n, 64, 114, 114), (n, 64, 112, 112)],
         lambda b, p: b[0][:, :, 1:113, 1:113].contiguous(), True),
        ("Tile", 'type: "Tile" tile_param { axis: 1 tiles: 4 }', [(n, 64, h, w)],
         lambda b, p: b[0].repeat(1, 4, 1, 1), True),
        ("Reduction SUMSQ", 'type: "Reduction" reduction_param { operation: SUMSQ axis: 1 coeff: 0.5 }',
         [(n * 256, 4096)], lambda b, p: 0.5 * (b[0] * b[0]).sum(1), True),
        ("Reduction ASUM", 'type: "Reduction" reduction_param { operation: ASUM axis: 1 }', [(n * 256, 4096)],
         lambda b, p: b[0].abs().sum(1), True),
        ("SigmoidCrossEntropyLoss", 'type: "SigmoidCrossEntropyLoss"', [(256, 1000), (256, 1000)],
         lambda b, p: F.binary_cross_entropy_with_logits(b[0], b[1], reduction="sum") / b[0].shape[0], True),
    ]


def ours(text, xs, backward, rng, warmup, repeat):
    """Our layer's forward and backward times (backward None without one), top, bottom 0's diff, top diff
    and parameters."""
    from lrcn_native.blob import Blob
    from lrcn_native.layer import REGISTRY
    from lrcn_native.proto.text import parse
    lp = parse(f'name: "bench" {text}', "<bench>")
    layer = REGISTRY[lp.str("type")](lp)
    bottom, top = [Blob(*x.shape) for x in xs], [Blob()]
    for b, x in zip(bottom, xs):
        b.data[...] = x
    layer.setup(bottom, top)
    layer.reshape(bottom, top)
    layer.param_propagate_down = [layer.type != "BatchNorm"] * len(layer.blobs)  # statistics: no gradient
    if layer.type == "BatchNorm":  # running sums of mean and variance with their factor
        layer.blobs[0].data[...] = rng.standard_normal(layer.blobs[0].shape)
        layer.blobs[1].data[...] = rng.uniform(0.5, 2, layer.blobs[1].shape)
        layer.blobs[2].data[...] = 1
    fwd = common.best_seconds(lambda: layer.forward(bottom, top), repeat, warmup)
    dy = (np.ones(top[0].shape, np.float32) if layer.is_loss else
          rng.standard_normal(top[0].shape).astype(np.float32))
    top[0].diff[...] = dy
    down = [True] + [False] * (len(bottom) - 1)  # Crop's reference and the loss targets take no gradient
    bwd = common.best_seconds(lambda: layer.backward(top, down, bottom), repeat, warmup) if backward else None
    params = [b.data.copy() for b in layer.blobs]
    return fwd, bwd, top[0].data.copy(), bottom[0].diff.copy(), dy, params


def torch_impl(torch, formula, xs, params, learnable, dy, backward, warmup, repeat):
    bottoms = [torch.from_numpy(x) for x in xs]
    bottoms[0].requires_grad_(backward)
    ps = [torch.from_numpy(p).requires_grad_(backward and learnable) for p in params]
    fwd = common.best_seconds(lambda: formula(bottoms, ps), repeat, warmup)
    y = formula(bottoms, ps)
    if not backward:
        return fwd, None, y.numpy(), None
    wrt = [bottoms[0]] + [p for p in ps if p.requires_grad]
    gy = torch.from_numpy(dy)
    bwd = common.best_seconds(lambda: torch.autograd.grad(y, wrt, gy, retain_graph=True), repeat, warmup)
    dx = torch.autograd.grad(y, wrt, gy, retain_graph=True)[0]
    return fwd, bwd, y.detach().numpy(), dx.numpy()


def record(fwd, bwd, xs, y):
    fwd_bytes = 4 * (sum(x.size for x in xs) + y.size)
    out = {"forward_ms": fwd * 1e3, "forward_GBps": fwd_bytes / fwd / 1e9}
    if bwd is not None:
        out.update(backward_ms=bwd * 1e3, backward_GBps=4 * (y.size + 2 * xs[0].size) / bwd / 1e9)
    return out


def layer_rows(args, torch, warmup, repeat):
    rng = np.random.default_rng(0)
    act = (1, 64, 56, 56) if args.quick else ACT
    rows = []
    print(f"{'layer':24s} {'bottom':>16s} | {'ours fwd/bwd ms':>17s} | {'torch fwd/bwd ms':>17s} | ratio")
    chosen = cases(torch, act)
    for name, text, shapes, formula, backward in ([chosen[2], chosen[10], chosen[16]] if args.quick else chosen):
        xs = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        if "SigmoidCrossEntropy" in text:
            xs[1] = rng.uniform(0, 1, shapes[1]).astype(np.float32)  # targets are probabilities
        fwd, bwd, y, dx, dy, params = ours(text, xs, backward, rng, warmup, repeat)
        learnable = "BatchNorm" not in text  # BatchNorm's blobs are statistics
        tf, tb, ty, tdx = torch_impl(torch, formula, xs, params, learnable, dy, backward, warmup, repeat)
        row = {"layer": name, "prototxt": text, "bottoms": [list(s) for s in shapes], "top": list(y.shape),
               "ours": record(fwd, bwd, xs, y), "torch": record(tf, tb, xs, ty),
               "ratio": (tf + (tb or 0)) / (fwd + (bwd or 0)),
               "max_abs_diff_vs_torch": {"top": float(np.abs(ty - y).max()),
                                         "bottom_diff": float(np.abs(tdx - dx).max()) if backward else None}}
        ms = lambda f, b: f"{f * 1e3:7.2f} /{b * 1e3:7.2f}" if b is not None else f"{f * 1e3:7.2f} /     - "  # noqa: E731
        print(f"{name:24s} {'x'.join(map(str, shapes[0])):>16s} | {ms(fwd, bwd):>17s} | {ms(tf, tb):>17s} | "
              f"{row['ratio']:5.2f}x", flush=True)
        rows.append(row)
    return rows


def zoo_rows(args, torch, warmup, repeat):
    import lrcn_native as caffe
    from lrcn_native.export_torch import TorchNet
    from lrcn_native.proto.text import Ident, parse_file
    rows = []
    print(f"\n{'zoo net (batch ' + str(args.zoo_batch) + ')':40s} | {'ours fwd/bwd ms':>17s} | "
          f"{'torch fwd/bwd ms':>17s} | ratio")
    rng = np.random.default_rng(0)
    for file in ZOO_NETS[1:2] if args.quick else ZOO_NETS:
        netp = parse_file(os.path.join(ZOO, file))
        netp.add("force_backward", Ident("true"))
        net = caffe.Net(netp, caffe.TEST)
        net.blobs["data"].reshape(args.zoo_batch, *net.blobs["data"].data.shape[1:])
        net.reshape()
        for layer in net.layers:  # He-scaled weights; BatchNorm statistics mean 0, variance 1
            for b in layer.blobs:
                std = math.sqrt(2 / (b.count / b.shape[0])) if b.data.ndim > 1 else 0.1
                b.data[...] = rng.standard_normal(b.shape) * std
            if layer.type == "BatchNorm":
                layer.blobs[1].data[...], layer.blobs[2].data[...] = 1, 1
        x = rng.standard_normal(net.blobs["data"].data.shape).astype(np.float32)
        net.blobs["data"].data[...] = x
        dy = rng.standard_normal(net.blobs["prob"].data.shape).astype(np.float32)
        fwd = common.best_seconds(net.forward, repeat, warmup)
        bwd = common.best_seconds(lambda: net.backward(prob=dy), repeat, warmup)
        module = TorchNet(net)
        xt = torch.from_numpy(x).requires_grad_()
        tf = common.best_seconds(lambda: module(data=xt)["prob"], repeat, warmup)
        prob = module(data=xt)["prob"]
        wrt = [xt] + list(module.parameters())
        tb = common.best_seconds(lambda: torch.autograd.grad(prob, wrt, torch.from_numpy(dy), retain_graph=True),
                                 repeat, warmup)
        net.forward()
        row = {"net": file, "batch": args.zoo_batch, "ours": {"forward_ms": fwd * 1e3, "backward_ms": bwd * 1e3},
               "torch": {"forward_ms": tf * 1e3, "backward_ms": tb * 1e3}, "ratio": (tf + tb) / (fwd + bwd),
               "max_abs_diff_vs_torch": float(np.abs(prob.detach().numpy() - net.blobs["prob"].data).max())}
        print(f"{file:40s} | {fwd * 1e3:8.1f} /{bwd * 1e3:8.1f} | {tf * 1e3:8.1f} /{tb * 1e3:8.1f} | "
              f"{row['ratio']:5.2f}x", flush=True)
        rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_arguments(ap, "three layers at batch 1 and CaffeNet, once each (a smoke run)")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--zoo-repeat", type=int, default=3)
    ap.add_argument("--zoo-batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for ours and torch")
    args = ap.parse_args()
    torch = common.torch
    if torch is None:
        raise SystemExit("bench_layers14.py: PyTorch, the baseline (and export-torch), is not installed: pip install torch")
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read when our extension loads OpenMP
    import lrcn_native  # noqa: F401
    torch.set_num_threads(args.threads)
    warmup, repeat = (1, 1) if args.quick else (2, args.repeat)
    result = common.header(benchmark="layers14_cpu", threads=args.threads, warmup=warmup, repeat=repeat,
                           zoo_repeat=args.zoo_repeat, zoo_batch=args.zoo_batch, quick=args.quick)
    result["layers"] = layer_rows(args, torch, warmup, repeat)
    result["zoo"] = zoo_rows(args, torch, warmup, 1 if args.quick else args.zoo_repeat)
    common.save(result, args, "layers14_cpu")


if __name__ == "__main__":
    main()
