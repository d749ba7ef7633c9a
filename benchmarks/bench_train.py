"""Training throughput of the LRCN activity net (LRCN-fc6: the hybrid CaffeNet conv1..fc6 on every frame,
LSTM 256 over 16 frames per clip, a 101-way classifier per frame; lrcn_native/models/lrcn_activity.prototxt, its
'input' stage)
with our SGDSolver (the paper's solver: lr 0.001 step, momentum 0.9, weight decay 0.005, clip 5), beside the
same model trained by PyTorch (SGD with momentum and weight decay, global-norm clipping at 5) in the same run.

One iteration = forward + backward over N clips × 16 frames + the update. Reported per batch: seconds per
iteration (median of --iters after one warm-up), iterations/s, images (frames)/s and GFLOP/s, counting the
convolutions and fc6 only (6 FLOPs per multiply-add: forward, data gradient, weight gradient): 7.1 GFLOP
per frame, 2.7 TFLOP per iteration at the paper's batch of 24 clips (384 frames). Inputs are random
(the cost does not depend on the values); clip markers and labels have the real layout (time-major).

    python benchmarks/bench_train.py [--clips 24 4] [--iters 3] [--device cpu|gpu] [--no-torch] [--quick]
                                     [--out benchmarks/results/train.json]
"""
import argparse
import os
import statistics
import time

import common

import numpy as np

import lrcn_native as caffe
from lrcn_native.backend import K
from lrcn_native.proto.text import parse

MODEL = os.path.join(common.ROOT, "lrcn_native", "models", "lrcn_activity.prototxt")
T = 16  # frames per clip
# Multiply-adds per frame of the layers that dominate: (name, output channels, input channels per group ×
# kernel area, output pixels).
MACS = [("conv1", 96, 3 * 49, 111 * 111), ("conv2", 384, 48 * 25, 26 * 26), ("conv3", 512, 384 * 9, 13 * 13),
        ("conv4", 512, 256 * 9, 13 * 13), ("conv5", 384, 256 * 9, 13 * 13), ("fc6", 4096, 384 * 36, 1)]
FLOP_PER_FRAME = 6 * sum(o * k * p for _, o, k, p in MACS)
SOLVER = ('base_lr: 0.001 lr_policy: "step" gamma: 0.1 stepsize: 10000 momentum: 0.9 weight_decay: 0.005 '
          'clip_gradients: 5 random_seed: 1701 train_state { stage: "input" }')


def batch(clips, seed=0):
    """Random frames in Caffe's mean-subtracted range, labels repeated per clip, clip markers 0 on each
    clip's first frame; all time-major (row t·N + n)."""
    rng = np.random.default_rng(seed)
    frames = T * clips
    data = rng.uniform(-128, 128, (frames, 3, 227, 227)).astype(np.float32)
    label = np.tile(rng.integers(0, 101, clips), T).astype(np.float32)
    markers = np.ones(frames, np.float32)
    markers[:clips] = 0
    return data, label, markers


WARMUP = 1  # iterations before the timed ones: allocations, BLAS threads, caches (0 with --quick)


def timed(step, iters, sync):
    for _ in range(WARMUP):
        step()
    sync()
    runs = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        sync()
        runs.append(time.perf_counter() - t0)
    return runs


def ours(clips, iters, gpu):
    if gpu:
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()
    with open(MODEL) as f:
        text = f.read()
    frames = T * clips
    assert text.count("dim: 32 ") == 3, "the model's Input shapes changed"
    text = text.replace("dim: 32 ", f"dim: {frames} ")
    solver = caffe.SGDSolver(parse(f"net_param {{ {text} }} {SOLVER}", "bench_train.prototxt"))
    data, label, markers = batch(clips)
    solver.net.blobs["data"].data[...] = data
    solver.net.blobs["label"].data[...] = label
    solver.net.blobs["clip_markers"].data[...] = markers
    runs = timed(lambda: solver.step(1), iters, K.synchronize if gpu else (lambda: None))
    return runs, float(solver.loss)


def torch_lrcn():
    """LRCN-fc6 in PyTorch, the same layers as lrcn_activity.prototxt (Caffe's ceil-mode pooling); input
    (T·N, 3, 227, 227) time-major, output (T, N, 101); each clip starts from a zero LSTM state."""
    from torch import nn
    pool = dict(kernel_size=3, stride=2, ceil_mode=True)  # Caffe rounds pooling up

    class LRCN(nn.Module):
        def __init__(self):
            super().__init__()
            self.cnn = nn.Sequential(
                nn.Conv2d(3, 96, 7, 2), nn.ReLU(), nn.MaxPool2d(**pool), nn.LocalResponseNorm(5, 1e-4, 0.75),
                nn.Conv2d(96, 384, 5, 2, groups=2), nn.ReLU(), nn.MaxPool2d(**pool),
                nn.LocalResponseNorm(5, 1e-4, 0.75),
                nn.Conv2d(384, 512, 3, 1, 1), nn.ReLU(), nn.Conv2d(512, 512, 3, 1, 1, groups=2), nn.ReLU(),
                nn.Conv2d(512, 384, 3, 1, 1, groups=2), nn.ReLU(), nn.MaxPool2d(**pool), nn.Flatten(),
                nn.Linear(384 * 36, 4096), nn.ReLU(), nn.Dropout(0.9))
            self.lstm = nn.LSTM(4096, 256)
            self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(256, 101))

        def forward(self, x):
            h, _ = self.lstm(self.cnn(x).view(T, -1, 4096))
            return self.head(h)
    return LRCN()


def pytorch(clips, iters, gpu):
    import torch
    from torch import nn
    device = "cuda" if gpu else "cpu"
    torch.manual_seed(1701)
    model = torch_lrcn().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=0.005)
    data, label, _ = batch(clips)
    x, y = torch.from_numpy(data).to(device), torch.from_numpy(label).long().to(device)
    loss_fn = nn.CrossEntropyLoss()
    out = {}

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x).reshape(-1, 101), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        out["loss"] = loss.detach()
    sync = torch.cuda.synchronize if gpu else (lambda: None)
    runs = timed(step, iters, sync)
    return runs, float(out["loss"])


def summary(runs, clips):
    s = statistics.median(runs)
    frames = T * clips
    return dict(seconds_per_iter=s, iter_per_s=1 / s, images_per_s=frames / s,
                gflop_per_s=FLOP_PER_FRAME * frames / s / 1e9, runs=runs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, nargs="+", default=[24, 4], help="clips per batch (16 frames each)")
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    common.add_arguments(ap, "one clip, one iteration without warm-up (a smoke run)")
    args = ap.parse_args()
    if args.quick:
        global WARMUP
        args.clips, args.iters, WARMUP = [1], 1, 0
    gpu = args.device == "gpu"
    result = common.header(device=args.device, quick=args.quick, flop_per_frame=FLOP_PER_FRAME, cases=[])
    for clips in args.clips:
        case = dict(clips=clips, frames=T * clips)
        runs, loss = ours(clips, args.iters, gpu)
        case["ours"] = dict(summary(runs, clips), loss=loss)
        print(f"{clips} clips × {T} frames  ours:    {case['ours']['seconds_per_iter']:.3f} s/iter  "
              f"{case['ours']['images_per_s']:.1f} images/s  {case['ours']['gflop_per_s']:.0f} GFLOP/s", flush=True)
        if common.torch is None and not args.no_torch:
            print("PyTorch is not installed: no baseline")
            args.no_torch = True
        if not args.no_torch:
            runs, loss = pytorch(clips, args.iters, gpu)
            case["pytorch"] = dict(summary(runs, clips), loss=loss, threads=common.torch.get_num_threads())
            print(f"{clips} clips × {T} frames  pytorch: {case['pytorch']['seconds_per_iter']:.3f} s/iter  "
                  f"{case['pytorch']['images_per_s']:.1f} images/s  {case['pytorch']['gflop_per_s']:.0f} GFLOP/s",
                  flush=True)
        result["cases"].append(case)
    common.save(result, args, "train")

if __name__ == "__main__":
    main()
