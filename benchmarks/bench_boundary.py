"""The cost of crossing into the native kernels, where the arithmetic is small.

  calls:    native calls per forward+backward of LRCN-fc6 (lrcn_native/models/lrcn_activity.prototxt 'input',
            one clip of T=16 frames at 67×67 so that it runs in a second: the calls do not depend on the
            image size), counted by wrapping every function of the module; and per forward of the
            captioning net at T=1, batch 1 (lrcn_original/coco_caption/lrcn_word_to_preds.deploy.prototxt,
            random weights), the step a decoder takes once per word.
  per call: µs of a call whose arithmetic is nil (1-element arrays): K.set with one array and
            K.lstm_unit_forward with five give a fixed cost per call and a cost per array argument.
  overhead: the calls of each net × their arrays priced that way, in µs; for the captioning step also its
            wall time, the part spent outside the native calls, and the step with every kernel a no-op
            (its Python alone).

Times are the fastest of --repeat runs on a shared 2-core machine: compare ratios within one run.

    python benchmarks/bench_boundary.py [--quick] [--label before]
"""
import argparse
import collections
import os
import re
import time

import common  # noqa: F401  (before lrcn_native: the baseline import order)

import numpy as np

import lrcn_native as caffe
from lrcn_native.backend import K

ORIGINAL = common.ORIGINAL
FC6 = os.path.join(common.ROOT, "lrcn_native", "models", "lrcn_activity.prototxt")
CAPTION = os.path.join(ORIGINAL, "coco_caption", "lrcn_word_to_preds.deploy.prototxt")


class Counter:
    """Wraps every function of K while active: calls, array arguments and seconds inside, per function."""

    def __init__(self):
        self.calls, self.arrays, self.seconds = collections.Counter(), collections.Counter(), collections.Counter()

    def __enter__(self):
        self.saved = {n: getattr(K, n) for n in dir(K) if not n.startswith("_") and callable(getattr(K, n))}
        for name, fn in self.saved.items():
            setattr(K, name, self._wrap(name, fn))
        return self

    def _wrap(self, name, fn):
        def counted(*args, **kwargs):
            self.calls[name] += 1
            for a in list(args) + list(kwargs.values()):
                self.arrays[name] += len(a) if isinstance(a, list) else hasattr(a, "__array_interface__")
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t0
        return counted

    def __exit__(self, *exc):
        for name, fn in self.saved.items():
            setattr(K, name, fn)


class Stubbed:
    """Replaces every function of K by one that does nothing (and returns -1, Embed's "every index valid")
    while active: what is left of a step is its Python."""

    def __enter__(self):
        self.saved = {n: getattr(K, n) for n in dir(K) if not n.startswith("_") and callable(getattr(K, n))}
        for name in self.saved:
            setattr(K, name, lambda *args, **kwargs: -1)

    def __exit__(self, *exc):
        for name, fn in self.saved.items():
            setattr(K, name, fn)


def per_call_us(repeat):
    """(µs per call, µs per array argument) of calls with nil arithmetic."""
    one = np.zeros(1, np.float32)
    c, h, c_prev, cont = (np.zeros(1, np.float32) for _ in range(4))
    x = np.zeros(4, np.float32)
    n = 2000

    def loop(fn):
        def run():
            for _ in range(n):
                fn()
        return common.best_seconds(run, repeat) / n * 1e6
    t1 = loop(lambda: K.set(one, 0.0))
    t5 = loop(lambda: K.lstm_unit_forward(c, h, c_prev, x, cont))
    per_array = (t5 - t1) / 4
    return t1 - per_array, per_array, {"set_1_array_us": t1, "lstm_unit_forward_5_arrays_us": t5}


def fc6_net(path):
    """LRCN-fc6 for one 16-frame clip at 67×67 (pool5 1×1): the same layers and calls as 227×227."""
    with open(path) as f:
        text = f.read()
    text, n = re.subn(r"shape \{ dim: 32 dim: 3 dim: 227 dim: 227 \} shape \{ dim: 32 \} shape \{ dim: 32 \}",
                      "shape { dim: 16 dim: 3 dim: 67 dim: 67 } shape { dim: 16 } shape { dim: 16 }", text)
    assert n == 1, f"{path}: the Input layer's shapes changed; update bench_boundary.fc6_net"
    tmp = os.path.join(common.HERE, "results", ".fc6_small.prototxt")
    with open(tmp, "w") as f:
        f.write(text)
    try:
        net = caffe.Net(tmp, caffe.TRAIN, stages=["input"])
    finally:
        os.remove(tmp)
    rng = np.random.default_rng(0)
    net.blobs["data"].data[...] = rng.standard_normal(net.blobs["data"].shape, np.float32)
    net.blobs["label"].data[...] = 3
    net.blobs["clip_markers"].data[...] = 1
    net.blobs["clip_markers"].data[0] = 0
    return net


def caption_net(path):
    net = caffe.Net(path, caffe.TEST)
    rng = np.random.default_rng(0)
    for name, blob in net.params.items():
        for b in blob:
            b.data[...] = rng.uniform(-0.08, 0.08, b.shape).astype(np.float32)
    net.blobs["cont_sentence"].reshape(1, 1)
    net.blobs["input_sentence"].reshape(1, 1)
    net.blobs["image_features"].reshape(1, 1000)
    net.reshape()
    net.blobs["cont_sentence"].data[...] = 0
    net.blobs["input_sentence"].data[...] = 17
    net.blobs["image_features"].data[...] = rng.standard_normal((1, 1000), np.float32)
    return net


def counted(step, repeat=1):
    """The Counter of the fastest of ``repeat`` runs of step, and that run's seconds."""
    best = None
    for _ in range(repeat):
        with Counter() as c:
            t0 = time.perf_counter()
            step()
            total = time.perf_counter() - t0
        if best is None or total < best[1]:
            best = (c, total)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_arguments(ap)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--label", default="after", help="names the JSON: boundary_<label>.json")
    args = ap.parse_args()
    if args.quick:
        args.repeat = 2
    K.gemm_cpu_set_threads(1)  # the boundary, not the arithmetic: one thread is steadier on a shared machine
    results = common.header(repeat=args.repeat, quick=args.quick, threads=1)
    base, per_array, raw = per_call_us(args.repeat)
    results["per_call"] = dict(raw, fixed_us=base, per_array_us=per_array)
    print(f"per call: {base:.2f} µs + {per_array:.2f} µs per array  ({raw})")

    fc6 = fc6_net(FC6)
    fc6.forward()  # warm-up: first-touch allocations
    runs = [("lrcn_fc6_forward_backward", *counted(lambda: (fc6.forward(), fc6.backward())), False)]
    if os.path.exists(CAPTION):
        cap = caption_net(CAPTION)
        cap.forward()
        runs.append(("caption_t1_forward", *counted(cap.forward, args.repeat * 10), True))
        with Stubbed():
            results["caption_t1_python_only_us"] = common.best_seconds(cap.forward, args.repeat * 30) * 1e6
    else:
        print(f"{CAPTION} not found: no captioning step")
    for name, cnt, seconds, per_step in runs:
        calls, arrays = sum(cnt.calls.values()), sum(cnt.arrays.values())
        overhead = calls * base + arrays * per_array
        outside = (seconds - sum(cnt.seconds.values())) * 1e6
        results[name] = {"native_calls": calls, "array_arguments": arrays, "boundary_us": overhead,
                         "step_us": seconds * 1e6, "outside_native_us": outside,
                         "calls_by_function": dict(sorted(cnt.calls.items()))}
        line = f"{name}: {calls} native calls, {arrays} arrays, ~{overhead:.0f} µs of boundary"
        if per_step:
            line += f"; step {seconds * 1e6:.0f} µs, of which {outside:.0f} µs outside the native calls"
        print(line)
    if "caption_t1_python_only_us" in results:
        print(f"caption_t1_forward with every kernel a no-op: {results['caption_t1_python_only_us']:.0f} µs")
    common.save(results, args, f"boundary_{args.label}")


if __name__ == "__main__":
    main()
