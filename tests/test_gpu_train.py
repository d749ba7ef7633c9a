"""One whole training iteration on the GPU against the CPU: LRCN-fc6 (lrcn_native/models/lrcn_activity_fc6.prototxt,
2 clips of 16 frames) and the factored captioning LRCN's language model at its real size (T 20 × N 100,
8801 words, 1000 units, a static image input). Each runs SGDSolver.step(1) from the same weights and
inputs on both devices and compares the loss and every parameter's update. Skipped without a GPU."""
import os

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.proto.text import parse
from lrcn_native.tasks.captioning_demo import language_layers
from util import needs_gpu

pytestmark = needs_gpu
MODELS = os.path.join(os.path.dirname(caffe.__file__), "models")
SOLVER = ('base_lr: 0.01 lr_policy: "fixed" momentum: 0.9 weight_decay: 0.005 clip_gradients: 5 '
          'random_seed: 1701 display: 0')
# The GPU sums in another order (GEMM k-tiles, tree reductions); after ~20 layers of float32 the loss and
# each update (learning rate × clipped, decayed gradient) agree to ~1e-5 in relative norm. 1e-3 leaves room
# for ReLU and max-pooling ties that rounding flips, and still catches a wrong or missing gradient term.
TOL = 1e-3


def one_iteration(net_text, inputs, gpu):
    """(loss, {param name: update}) of SGDSolver.step(1) on one device."""
    (caffe.set_mode_gpu if gpu else caffe.set_mode_cpu)()
    try:
        solver = caffe.SGDSolver(parse(f"net_param {{ {net_text} }} {SOLVER}", "train_solver.prototxt"))
        for name, value in inputs.items():
            solver.net.blobs[name].data[...] = value
        before = {name: [b.data.copy() for b in blobs] for name, blobs in solver.net.params.items()}
        solver.step(1)
        updates = {name: [b.data - w for b, w in zip(blobs, before[name])] for name, blobs in solver.net.params.items()}
        return float(solver.loss), updates
    finally:
        caffe.set_mode_cpu()


def check_iteration(net_text, inputs):
    cpu_loss, cpu = one_iteration(net_text, inputs, False)
    gpu_loss, gpu = one_iteration(net_text, inputs, True)
    assert np.isfinite(cpu_loss) and gpu_loss == pytest.approx(cpu_loss, rel=TOL)
    for name in cpu:
        for i, (c, g) in enumerate(zip(cpu[name], gpu[name])):
            err = np.linalg.norm(g.astype(np.float64) - c) / max(np.linalg.norm(c.astype(np.float64)), 1e-30)
            assert np.linalg.norm(c) > 0 and err <= TOL, f"{name}[{i}]: update differs by {err:.3g} (relative)"


def test_lrcn_fc6_training_iteration():
    with open(os.path.join(MODELS, "lrcn_activity_fc6.prototxt")) as f:
        text = f.read()
    clips, T = 2, 16
    rng = np.random.default_rng(0)
    markers = np.ones(T * clips, np.float32)
    markers[:clips] = 0  # time-major: row t·N + n
    inputs = {"data": rng.uniform(-128, 128, (T * clips, 3, 227, 227)).astype(np.float32),
              "label": np.tile(rng.integers(0, 101, clips), T).astype(np.float32), "clip_markers": markers}
    check_iteration(text, inputs)


def test_captioning_training_iteration():
    T, N, V, H = 20, 100, 8801, 1000
    text = (f'layer {{ name: "data" type: "Input" top: "fc8" top: "cont_sentence" top: "input_sentence" '
            f'top: "target_sentence" input_param {{ shape {{ dim: {N} dim: 1000 }} shape {{ dim: {T} dim: {N} }} '
            f'shape {{ dim: {T} dim: {N} }} shape {{ dim: {T} dim: {N} }} }} }}\n' + language_layers(V, H, "fc8") +
            'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "predict" bottom: "target_sentence" top: "loss" '
            'loss_weight: 20 loss_param { ignore_label: -1 } softmax_param { axis: 2 } }')
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, T, N)
    steps = np.arange(T)[:, None]
    words = rng.integers(0, V, (T, N)).astype(np.float32)
    target = np.where(steps < lengths, words, -1).astype(np.float32)  # −1 after each sentence: ignored
    inputs = {"fc8": rng.uniform(-5, 5, (N, 1000)).astype(np.float32),
              "cont_sentence": (steps > 0).astype(np.float32) * np.ones((T, N), np.float32),
              "input_sentence": np.where(steps == 0, 0, np.roll(target, 1, axis=0)).clip(-1).astype(np.float32),
              "target_sentence": target}
    check_iteration(text, inputs)
