"""Reading a CaffeNet-sized .caffemodel (~244 MB, 61 M float32): our wire reader vs the protobuf library.

Each measurement runs in a fresh process so that its peak memory is its own: the peak resident set
(VmHWM, reset through /proc/self/clear_refs after the imports) minus the resident set before the read.
The file is written by our writer into a temporary folder, so it is in the page cache: this measures
parsing and copying, not the disk. protobuf (if installed) parses the same bytes through the dynamic
descriptor of tests/test_caffemodel.py, then its repeated fields are converted to numpy, as a loader
must. Results go to benchmarks/results/caffemodel.json.

    python benchmarks/bench_caffemodel.py [--repeat 3]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import common

import numpy as np

from lrcn_native.proto import caffemodel as cm

# CaffeNet (bvlc_reference_caffenet): parameter shapes per layer, param-less layers in between.
CAFFENET = [
    ("conv1", "Convolution", [(96, 3, 11, 11), (96,)]), ("relu1", "ReLU", []), ("pool1", "Pooling", []),
    ("norm1", "LRN", []), ("conv2", "Convolution", [(256, 48, 5, 5), (256,)]), ("relu2", "ReLU", []),
    ("pool2", "Pooling", []), ("norm2", "LRN", []), ("conv3", "Convolution", [(384, 256, 3, 3), (384,)]),
    ("relu3", "ReLU", []), ("conv4", "Convolution", [(384, 192, 3, 3), (384,)]), ("relu4", "ReLU", []),
    ("conv5", "Convolution", [(256, 192, 3, 3), (256,)]), ("relu5", "ReLU", []), ("pool5", "Pooling", []),
    ("fc6", "InnerProduct", [(4096, 9216), (4096,)]), ("relu6", "ReLU", []), ("drop6", "Dropout", []),
    ("fc7", "InnerProduct", [(4096, 4096), (4096,)]), ("relu7", "ReLU", []), ("drop7", "Dropout", []),
    ("fc8", "InnerProduct", [(1000, 4096), (1000,)]), ("prob", "Softmax", []),
]


def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def child(kind, path):
    """Read `path` once with `kind` ("ours" or "protobuf"); print seconds and peak memory increase."""
    if kind == "protobuf":
        sys.path.insert(0, os.path.join(common.ROOT, "tests"))
        from test_caffemodel import protobuf_messages
        net_class = protobuf_messages()["NetParameter"]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set
    before = _status("VmRSS")
    t0 = time.perf_counter()
    if kind == "ours":
        blobs = [b for layer in cm.read_caffemodel(path).layers for b in layer.blobs]
        t_parse = time.perf_counter()
    else:
        with open(path, "rb") as f:
            net = net_class.FromString(f.read())
        t_parse = time.perf_counter()
        blobs = [np.array(b.data, np.float32).reshape(tuple(b.shape.dim)) for layer in net.layer for b in layer.blobs]
    t1 = time.perf_counter()
    print(json.dumps({"seconds": t1 - t0, "parse_seconds": t_parse - t0, "values": sum(b.size for b in blobs),
                      "peak_rss_increase_mb": (_status("VmHWM") - before) / 2**20}))


def run_child(kind, path):
    out = subprocess.run([sys.executable, __file__, "--child", kind, path], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per reader; the fastest is kept")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    common.add_arguments(ap, "CaffeNet's convolutions only (~9 MB), one process per reader (a smoke run)")
    args = ap.parse_args()
    if args.child:
        return child(*args.child)
    net = CAFFENET
    if args.quick:
        args.repeat, net = 1, [layer for layer in CAFFENET if layer[1] != "InnerProduct"]

    rng = np.random.default_rng(0)
    layers = [cm.LayerWeights(n, t, [rng.standard_normal(s, np.float32) for s in shapes]) for n, t, shapes in net]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "caffenet.caffemodel")
        t0 = time.perf_counter()
        cm.write_caffemodel(path, "CaffeNet", layers)
        write_s = time.perf_counter() - t0
        got = cm.read_caffemodel(path)
        assert all(a.tobytes() == b.tobytes() for x, y in zip(got.layers, layers) for a, b in zip(x.blobs, y.blobs))
        del got
        size = os.path.getsize(path)
        results = common.header(quick=args.quick, file_mb=size / 2**20, values=sum(b.size for layer in layers for b in layer.blobs),
                                write_seconds=write_s)
        kinds = ["ours"]
        try:
            from google.protobuf import __version__ as pb_version
            from google.protobuf.internal import api_implementation
            kinds.append("protobuf")
            results["protobuf_version"] = f"{pb_version} ({api_implementation.Type()})"
        except ImportError:
            results["protobuf_version"] = None
        for kind in kinds:
            runs = [run_child(kind, path) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["seconds"])
            results[kind] = dict(best, runs_seconds=[r["seconds"] for r in runs],
                                 read_mb_per_s=size / 2**20 / best["seconds"])
            print(f"{kind:9s} {best['seconds']:.3f} s (parse {best['parse_seconds']:.3f} s), "
                  f"peak RSS +{best['peak_rss_increase_mb']:.0f} MB for a {size / 2**20:.0f} MB file", flush=True)
    common.save(results, args, "caffemodel")

if __name__ == "__main__":
    main()
