"""Test helpers: build one layer from prototxt text, run it, check gradients by finite differences
(Caffe's GradientChecker: central differences, step 1e-2, |a − e| ≤ 1e-3·max(|a|, |e|, 1)), and run
the same layer on the GPU for parity (skipped without one)."""
import importlib.util
import os
import pathlib
import shutil

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.backend import K
from lrcn_native.blob import Blob
from lrcn_native.layer import REGISTRY, TEST
from lrcn_native.proto.text import Ident, parse, parse_file


def _has_gpu():
    if not K.has_cuda or K.device_count() == 0:
        return False
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True


# The original LRCN prototxt, solver and list files: the folder LRCN_ORIGINAL names, else the workplace's
# ../shared/lrcn_original beside the checkout. They are byte-exact copies of files of three public
# repositories (folder names as there; the list with blob ids is in that folder's SOURCES.md).
ORIGINAL = pathlib.Path(os.environ.get("LRCN_ORIGINAL")
                        or pathlib.Path(__file__).resolve().parents[2] / "shared" / "lrcn_original")
needs_original = pytest.mark.skipif(not ORIGINAL.is_dir(), reason=(
    f"the original LRCN files are not in {ORIGINAL}: set LRCN_ORIGINAL to a folder holding the example "
    "prototxts of jeffdonahue/caffe@506c4d94 (coco_caption, caffenet_reference), "
    "LisaAnne/lisa-caffe-public@49b8643d (LRCN_activity_recognition, LRCN_evaluate) and "
    "vsubhashini/caffe@ea53fbd7 (s2vt, youtube)"))

# The model zoo's released deploy nets (tests/zoo/README.md).
ZOO = pathlib.Path(__file__).with_name("zoo")


def zoo_net(file, force_backward=True):
    """The released net at batch 1 (the files say 10, or 1 for the ResNets), force_backward set as a user
    who wants input gradients would, with random weights (He-scaled) and each BatchNorm's statistics set
    to those of the input it sees, so activations stay O(1) through the depth and the softmax does not
    saturate (a saturated one would send no gradient back)."""
    netp = parse_file(str(ZOO / file))
    if force_backward:
        netp.add("force_backward", Ident("true"))
    caffe.set_random_seed(0)
    net = caffe.Net(netp, caffe.TEST)
    shape = net.blobs["data"].data.shape
    net.blobs["data"].reshape(1, *shape[1:])
    net.reshape()
    rng = np.random.default_rng(0)
    net.blobs["data"].data[...] = rng.standard_normal(net.blobs["data"].data.shape)
    calibrate = any(layer.type == "BatchNorm" for layer in net.layers)  # statistics need a forward
    for i, layer in enumerate(net.layers):
        for b in layer.blobs:  # weights N(0, 2/fan_in), biases and Scale's factors N(0, 1)
            std = np.sqrt(2 / (b.count / b.shape[0])) if b.data.ndim > 1 else 1
            b.data[...] = rng.standard_normal(b.shape).astype(np.float32) * std
        if layer.type == "BatchNorm":  # (N, C, H, W) bottom: per-channel mean and variance, factor 1
            x = net.layer_io(i)[0][0].data
            layer.blobs[0].data[...] = x.mean(axis=(0, 2, 3))
            layer.blobs[1].data[...] = x.var(axis=(0, 2, 3))
            layer.blobs[2].data[...] = 1
        if calibrate:
            net.forward_from_to(i, i)
    return net


HAS_GPU = _has_gpu()
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason="no CUDA device (or no cupy): GPU parity not run")


def make_layer(text, phase=TEST):
    """A layer from the body of a `layer { ... }` message, e.g. 'type: "ReLU" relu_param { ... }'."""
    lp = parse(text, "<test>")
    if "name" not in lp:
        lp.add("name", "test")
    return REGISTRY[lp.str("type")](lp, phase)


def blobs_from(arrays):
    out = []
    for a in arrays:
        b = Blob()
        b.reshape(np.shape(a))  # a 0-axis array is a one-element scalar blob
        b.data[...] = a
        out.append(b)
    return out


def setup_layer(layer, bottom_arrays, n_tops=1):
    bottom = blobs_from(bottom_arrays)
    top = [Blob() for _ in range(n_tops)]
    layer.check_counts(bottom, top)
    layer.setup(bottom, top)
    layer.reshape(bottom, top)
    layer.param_propagate_down = [True] * len(layer.blobs)
    return bottom, top


def forward(layer, bottom, top):
    layer.reshape(bottom, top)
    layer.forward(bottom, top)
    return [t.data.copy() for t in top]


def gradcheck(layer, bottom_arrays, n_tops=1, check_bottoms=None, check_params=True, step=1e-2,
              threshold=1e-3, kink=None, kink_range=-1.0, seed=0, max_checks=200):
    """Central-difference check of d(Σ_t w_t·top_t)/d(bottom, params) against layer.backward.

    Random weights w_t make every top element matter. Elements whose value lies within kink_range of
    ``kink`` (non-differentiable points, e.g. ReLU at 0) are skipped, as in Caffe's checker. At most
    ``max_checks`` elements per blob are checked (random subset) to keep the test fast."""
    rng = np.random.default_rng(seed)
    bottom, top = setup_layer(layer, bottom_arrays, n_tops)
    forward(layer, bottom, top)
    weights = [rng.uniform(-1, 1, t.shape).astype(np.float32) for t in top]

    def objective():
        outs = forward(layer, bottom, top)
        return sum(float(np.dot(o.ravel().astype(np.float64), w.ravel())) for o, w in zip(outs, weights))

    if check_bottoms is None:
        check_bottoms = list(range(len(bottom)))
    # Analytic gradients.
    forward(layer, bottom, top)
    for t, w in zip(top, weights):
        t.diff[...] = w
    for p in layer.blobs:
        p.diff[...] = 0
    propagate = [i in check_bottoms for i in range(len(bottom))]
    layer.backward(top, propagate, bottom)
    targets = [(bottom[i], f"bottom {i}") for i in check_bottoms]
    if check_params:
        targets += [(p, f"param {i}") for i, p in enumerate(layer.blobs)]
    analytic = [b.diff.copy() for b, _ in targets]
    for (blob, what), grad in zip(targets, analytic):
        flat = blob.data.reshape(-1)
        idx = np.arange(flat.size)
        if flat.size > max_checks:
            idx = rng.choice(flat.size, max_checks, replace=False)
        for k in idx:
            x = float(flat[k])
            if kink is not None and abs(x - kink) <= kink_range:
                continue
            blob.data.reshape(-1)[k] = x + step
            plus = objective()
            blob.data.reshape(-1)[k] = x - step
            minus = objective()
            blob.data.reshape(-1)[k] = x
            e = (plus - minus) / (2 * step)
            a = float(grad.reshape(-1)[k])
            scale = max(abs(a), abs(e), 1.0)
            assert abs(a - e) <= threshold * scale, (
                f"{layer.type} {what} element {k}: analytic {a} vs numeric {e}")


def run_layer(text, bottom_arrays, params, gpu, phase=TEST, propagate=None, seed=0, n_tops=1):
    """Forward and backward of one layer on one device from ``params`` (None: its fillers' values), top diffs
    uniform in [-1, 1] from ``seed``: (tops, bottom diffs, param diffs, param data), host copies."""
    (caffe.set_mode_gpu if gpu else caffe.set_mode_cpu)()
    try:
        layer = make_layer(text, phase)
        bottom, top = setup_layer(layer, bottom_arrays, n_tops)
        for p, v in zip(layer.blobs, params or [p.data.copy() for p in layer.blobs]):
            p.data[...] = v
            p.diff[...] = 0
        layer.reshape(bottom, top)
        layer.forward(bottom, top)
        rng = np.random.default_rng(seed)
        for t in top:
            t.diff[...] = rng.uniform(-1, 1, t.shape).astype(np.float32)
        prop = propagate if propagate is not None else [True] * len(bottom)
        layer.backward(top, prop, bottom)
        return ([t.data.copy() for t in top], [b.diff.copy() for b, p in zip(bottom, prop) if p],
                [p.diff.copy() for p in layer.blobs], [p.data.copy() for p in layer.blobs])
    finally:
        caffe.set_mode_cpu()


def gpu_parity(text, bottom_arrays, n_tops=1, phase=TEST, propagate=None, rtol=1e-5, atol=1e-6, seed=0):
    """Runs the layer's forward and backward on the CPU and on the GPU from identical parameters and
    inputs; asserts tops, bottom diffs and param diffs agree. Tolerances: float32 with a different
    summation order on the GPU (callers pass larger ones for long reductions)."""
    cpu = run_layer(text, bottom_arrays, None, False, phase, propagate, seed, n_tops)
    gpu = run_layer(text, bottom_arrays, cpu[3], True, phase, propagate, seed, n_tops)
    for kind, c_all, g_all in zip(("top", "bottom diff", "param diff"), cpu[:3], gpu[:3]):
        for i, (c, g) in enumerate(zip(c_all, g_all)):
            np.testing.assert_allclose(g, c, rtol=rtol, atol=atol, err_msg=f"{kind} {i}")


def python_command(code, ranks=1):
    """The command running ``code`` in a fresh interpreter that imports the same lrcn_native as this one (built in
    place, or installed as in CI, where the source tree has no extension and must not shadow the installed
    package); with ranks > 1, in that many MPI processes (mpiexec -n ranks)."""
    import sys
    first = f"import sys; sys.path.insert(0, {os.path.dirname(os.path.dirname(caffe.__file__))!r})\n"
    command = [sys.executable, "-c", first + code]
    return ["mpiexec", "-n", str(ranks)] + command if ranks > 1 else command


def run_python(code, timeout, ranks=1):
    """Runs python_command(code, ranks); its output is captured."""
    import subprocess
    return subprocess.run(python_command(code, ranks), capture_output=True, text=True, timeout=timeout)


needs_mpi = pytest.mark.skipif(shutil.which("mpiexec") is None or importlib.util.find_spec("mpi4py") is None,
                               reason="needs mpi4py and mpiexec: pip install 'lrcn_native[mpi]'")


def write_videos(root, counts, size=(240, 320), flow=False, label=lambda i: i):
    """Frames in the released layout for videos v0, v1, ... with ``counts[i]`` frames each, and the video list
    `<Class>/<video> <label>` beside them (returned). RGB frames are ``<root>/v<i>/v<i>.%04d.jpg`` numbered
    from 1; with ``flow``, the released flow script's ``flow_image_v<i>.%04d.jpg`` numbered from 2. Frame k of
    video i is a flat JPEG of colour (R, G, B) = (40 + 20·i, 8·k, 100): G tells which frame was read
    (to ±1 grey level, JPEG's rounding of a flat colour)."""
    from PIL import Image
    root = pathlib.Path(root)
    lines = []
    for i, n in enumerate(counts):
        video = root / f"v{i}"
        video.mkdir(parents=True)
        for k in range(2, n + 2) if flow else range(1, n + 1):
            frame = np.empty(size + (3,), np.uint8)
            frame[...] = (40 + 20 * i, 8 * k, 100)
            Image.fromarray(frame).save(video / f"{'flow_image_' if flow else ''}v{i}.{k:04d}.jpg", quality=95)
        lines.append(f"Class{i}/v{i} {label(i)}")
    listing = root.parent / f"{root.name}_list.txt"
    listing.write_text("\n".join(lines) + "\n")
    return listing
