"""Solvers: the fused update kernels and whole steps against Caffe's formulas computed by hand in float64
(Caffe's least-squares solver test), each lr policy, clipping, iter_size, weight decay and multipliers;
snapshots, exact resume after an interrupt (also inside a test pass), atomic writes under SIGKILL, NaN
detection, the `lrcn train` / `lrcn test` commands, and a pinned short training run."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import lrcn_native as caffe
import solver_layers
from lrcn_native import cli
from lrcn_native.backend import K
from lrcn_native.proto.caffemodel import load_weights, read_solverstate
from lrcn_native.proto.text import parse
from lrcn_native.solver import NonFiniteError, _read_run_state
from util import needs_gpu

f32 = np.float32
TESTS = os.path.dirname(os.path.abspath(__file__))


# --- the kernels ---------------------------------------------------------------------------------------
def reference_update(kind, w, diff, hist, clip, norm, decay, l1, rate, hp):
    """Caffe's update of one blob in float64; returns (w, u, histories)."""
    g = diff * clip * norm
    if decay:
        g = g + decay * (np.sign(w) if l1 else w)
    h = [x.copy() for x in hist]
    if kind == "sgd":
        h[0] = hp["momentum"] * h[0] + rate * g
        u = h[0]
    elif kind == "nesterov":
        old = h[0].copy()
        h[0] = hp["momentum"] * h[0] + rate * g
        u = (1 + hp["momentum"]) * h[0] - hp["momentum"] * old
    elif kind == "adagrad":
        h[0] = h[0] + g * g
        u = rate * g / (np.sqrt(h[0]) + hp["delta"])
    elif kind == "rmsprop":
        h[0] = (1 - hp["rms_decay"]) * g * g + hp["rms_decay"] * h[0]
        u = rate * g / (np.sqrt(h[0]) + hp["delta"])
    elif kind == "adadelta":
        m, d = hp["momentum"], hp["delta"]
        h[0] = (1 - m) * g * g + m * h[0]
        s = g * np.sqrt((h[1] + d) / (h[0] + d))
        h[1] = (1 - m) * s * s + m * h[1]
        u = rate * s
    else:  # adam; rate already carries the bias correction
        b1, b2 = hp["momentum"], hp["momentum2"]
        h[0] = (1 - b1) * g + b1 * h[0]
        h[1] = (1 - b2) * g * g + b2 * h[1]
        u = rate * h[0] / (np.sqrt(h[1]) + hp["delta"])
    return w - u, u, h


HP = {"sgd": dict(momentum=0.9), "nesterov": dict(momentum=0.9), "adagrad": dict(delta=1e-3),
      "rmsprop": dict(rms_decay=0.95, delta=1e-3), "adadelta": dict(momentum=0.95, delta=1e-3),
      "adam": dict(momentum=0.9, momentum2=0.999, delta=1e-3)}


def call_kernel(kind, arrays, clip, norm, decay, l1, rate, hp):
    fn = getattr(K, f"{kind}_update")
    tail = {"sgd": ["momentum"], "nesterov": ["momentum"], "adagrad": ["delta"], "rmsprop": ["rms_decay", "delta"],
            "adadelta": ["momentum", "delta"], "adam": ["momentum", "momentum2", "delta"]}[kind]
    fn(*arrays, clip, norm, decay, l1, rate, *[hp[k] for k in tail])


@pytest.mark.parametrize("kind", list(HP))
@pytest.mark.parametrize("clip,norm,decay,l1", [(1.0, 1.0, 0.0, False), (0.3, 0.5, 0.01, False),
                                                (1.0, 0.25, 0.02, True)])
def test_kernel_matches_formula(kind, clip, norm, decay, l1):
    rng = np.random.default_rng(0)
    n = 1000
    w, diff = rng.standard_normal(n).astype(f32), rng.standard_normal(n).astype(f32)
    w[:3] = 0  # sign(0) = 0 for L1
    hist = [np.abs(rng.standard_normal(n)).astype(f32) for _ in range(2 if kind in ("adadelta", "adam") else 1)]
    expect_w, expect_u, expect_h = reference_update(kind, w.astype(np.float64), diff.astype(np.float64),
                                                    [h.astype(np.float64) for h in hist], clip, norm, decay, l1,
                                                    0.01, HP[kind])
    arrays = [w.copy(), diff.copy()] + [h.copy() for h in hist]
    call_kernel(kind, arrays, clip, norm, decay, l1, 0.01, HP[kind])
    # float32 against float64: a few roundings of O(1) values, ~1e-7 relative each.
    np.testing.assert_allclose(arrays[0], expect_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays[1], expect_u, rtol=1e-5, atol=1e-7)
    for got, want in zip(arrays[2:], expect_h):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_kernel_argument_checks():
    a, b = np.zeros(4, f32), np.zeros(4, f32)
    with pytest.raises(ValueError, match="history must have 4 elements"):
        K.sgd_update(a, b, np.zeros(5, f32), 1, 1, 0, False, 0.1, 0.9)
    with pytest.raises(ValueError, match="diff must be <f4"):
        K.sgd_update(a, np.zeros(4), np.zeros(4, f32), 1, 1, 0, False, 0.1, 0.9)
    with pytest.raises(ValueError, match="read-only"):
        ro = np.zeros(4, f32)
        ro.flags.writeable = False
        K.sgd_update(a, b, ro, 1, 1, 0, False, 0.1, 0.9)


@needs_gpu
@pytest.mark.parametrize("kind", list(HP))
def test_kernel_gpu_matches_cpu(kind):
    import cupy
    rng = np.random.default_rng(1)
    n = 100_000
    host = [rng.standard_normal(n).astype(f32), rng.standard_normal(n).astype(f32)]
    host += [np.abs(rng.standard_normal(n)).astype(f32) for _ in range(2 if kind in ("adadelta", "adam") else 1)]
    dev = [cupy.asarray(a) for a in host]
    call_kernel(kind, host, 0.5, 0.5, 0.01, False, 0.01, HP[kind])
    call_kernel(kind, dev, 0.5, 0.5, 0.01, False, 0.01, HP[kind])
    for h, d in zip(host, dev):
        # Same expressions on both devices; nvcc and gcc may fuse different multiply-adds (1-2 ulp).
        np.testing.assert_allclose(cupy.asnumpy(d), h, rtol=1e-6, atol=1e-7)


# --- whole steps: Caffe's least-squares solver test ----------------------------------------------------
N, D, KOUT = 8, 5, 3
LSQ_NET = f"""
name: "lsq"
layer {{ name: "x" type: "Input" top: "x" top: "t" input_param {{ shape {{ dim: {N} dim: {D} }}
                                                                shape {{ dim: {N} dim: {KOUT} }} }} }}
layer {{ name: "ip" type: "Python" bottom: "x" top: "y" {{params}}
        python_param {{ module: "solver_layers" layer: "Linear" param_str: "{KOUT}" }} }}
layer {{ name: "loss" type: "Python" bottom: "y" bottom: "t" top: "loss" loss_weight: 1
        python_param {{ module: "solver_layers" layer: "EuclideanLoss" }} }}
"""
TYPES = {"sgd": "SGD", "nesterov": "Nesterov", "adagrad": "AdaGrad", "rmsprop": "RMSProp", "adadelta": "AdaDelta",
         "adam": "Adam"}


ENUMS = ("snapshot_format", "solver_mode", "solver_type")


def solver_text(net, **fields):
    body = " ".join(f"{k}: {json.dumps(v) if isinstance(v, str) and k not in ENUMS else v}"
                    for k, v in fields.items())
    return f"net_param {{ {net} }} {body}"


def make_solver(text, filename="solver.prototxt"):
    sp = parse(text, filename)
    return caffe.get_solver(sp)


def lsq_solver(kind, params="param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }", **extra):
    fields = dict(type=TYPES[kind], base_lr=1.0 if kind == "adadelta" else 0.05, lr_policy="step", gamma=0.5,
                  stepsize=2, weight_decay=0.01, random_seed=3, **{k: v for k, v in HP[kind].items()})
    fields.update(extra)
    s = make_solver(solver_text(LSQ_NET.replace("{params}", params), **fields))
    rng = np.random.default_rng(7)
    s.net.blobs["x"].data[...] = rng.standard_normal((N, D))
    s.net.blobs["t"].data[...] = rng.standard_normal((N, KOUT))
    return s


def lsq_by_hand(kind, s, steps, lr_mult=(1, 2), decay_mult=(1, 0), clip=-1.0, l1=False, momentum=None):
    """The weights after each of `steps` iterations, from the closed-form gradient of
    L = Σ‖X·Wᵀ + b − T‖² / (2N):  dW = Rᵀ·X / N,  db = Σ_n R / N  with R = X·Wᵀ + b − T."""
    X, T = s.net.blobs["x"].data.astype(np.float64), s.net.blobs["t"].data.astype(np.float64)
    params = [p.data.astype(np.float64) for p in s.net.params["ip"]]
    hp = dict(HP[kind])
    if momentum is not None:
        hp["momentum"] = momentum
    hist = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    base = 1.0 if kind == "adadelta" else 0.05
    out = []
    for it in range(steps):
        R = X @ params[0].T + params[1] - T
        grads = [R.T @ X / N, R.sum(0) / N]
        norm = np.sqrt(sum((g ** 2).sum() for g in grads))
        scale = clip / norm if 0 <= clip < norm else 1.0
        rate = base * 0.5 ** (it // 2)
        for i in range(2):
            r = rate * lr_mult[i]
            if kind == "adam":
                r *= np.sqrt(1 - 0.999 ** (it + 1)) / (1 - 0.9 ** (it + 1))
            params[i], _, hist[i] = reference_update(kind, params[i], grads[i], hist[i], scale, 1.0,
                                                     0.01 * decay_mult[i], l1, r, hp)
        out.append([p.copy() for p in params])
    return out


def run_steps(s, steps):
    out = []
    for _ in range(steps):
        s.step(1)
        out.append([p.data.copy() for p in s.net.params["ip"]])
    return out


def assert_steps_close(got, want):
    for step, (g, w) in enumerate(zip(got, want)):
        for i in range(2):
            # float32 weights against a float64 replay over a few steps: relative drift ~1e-6.
            np.testing.assert_allclose(g[i], w[i], rtol=1e-4, atol=1e-5, err_msg=f"step {step} param {i}")


@pytest.mark.parametrize("kind", list(HP))
def test_each_step_equals_update_by_hand(kind):
    s = lsq_solver(kind)
    want = lsq_by_hand(kind, s, 5)
    assert_steps_close(run_steps(s, 5), want)
    assert s.iter == 5


def test_clipping_by_global_norm_l1_decay_and_frozen_weights():
    s = lsq_solver("sgd", clip_gradients=0.1, regularization_type="L1")
    want = lsq_by_hand("sgd", s, 4, clip=0.1, l1=True)
    assert_steps_close(run_steps(s, 4), want)
    s = lsq_solver("sgd", params="param { lr_mult: 0 } param { lr_mult: 1 decay_mult: 0 }")
    w0 = s.net.params["ip"][0].data.copy()
    want = lsq_by_hand("sgd", s, 3, lr_mult=(0, 1), decay_mult=(1, 0))
    assert_steps_close(run_steps(s, 3), want)
    np.testing.assert_array_equal(s.net.params["ip"][0].data, w0)


def test_clip_scale_applied_only_above_threshold():
    s = lsq_solver("sgd", momentum=0.0, weight_decay=0.0, base_lr=1.0, lr_policy="fixed", clip_gradients=5.0)
    w, b = s.net.params["ip"]
    for diffs, scale in (((3.0, 4.0), 1.0), ((6.0, 8.0), 0.5)):  # global norms 5 (kept) and 10 (halved)
        w.data[...], b.data[...] = 0, 0
        w.diff[...], b.diff[...] = 0, 0
        w.diff.reshape(-1)[0], b.diff.reshape(-1)[0] = diffs
        s.apply_update()
        assert w.data.reshape(-1)[0] == f32(-diffs[0] * scale) and b.data.reshape(-1)[0] == f32(-diffs[1] * 2 * scale)


def test_solver_type_checks():
    with pytest.raises(ValueError, match="momentum cannot be used with AdaGrad"):
        lsq_solver("adagrad", momentum=0.9)
    with pytest.raises(ValueError, match="rms_decay should lie between 0 and 1"):
        lsq_solver("rmsprop", rms_decay=1.5)
    with pytest.raises(ValueError, match="unknown solver type 'Foo'"):
        make_solver(solver_text(LSQ_NET.replace("{params}", ""), type="Foo", lr_policy="fixed"))
    with pytest.raises(ValueError, match="unknown learning rate policy 'cosine'"):
        make_solver(solver_text(LSQ_NET.replace("{params}", ""), lr_policy="cosine"))
    with pytest.raises(ValueError, match="cannot both be specified"):
        make_solver(solver_text(LSQ_NET.replace("{params}", ""), lr_policy="fixed", type="Adam") + " solver_type: ADAM")
    old = make_solver(solver_text(LSQ_NET.replace("{params}", ""), lr_policy="fixed") + " solver_type: ADAM")
    assert isinstance(old, caffe.AdamSolver) and len(old.history) == 4


# --- learning-rate policies ----------------------------------------------------------------------------
@pytest.mark.parametrize("policy,fields,expect", [
    ("fixed", {}, lambda it: 0.01),
    ("step", dict(gamma=0.1, stepsize=3), lambda it: 0.01 * 0.1 ** (it // 3)),
    ("exp", dict(gamma=0.9), lambda it: 0.01 * 0.9 ** it),
    ("inv", dict(gamma=0.1, power=0.75), lambda it: 0.01 * (1 + 0.1 * it) ** -0.75),
    ("multistep", dict(gamma=0.5), lambda it: 0.01 * 0.5 ** ((it >= 2) + (it >= 5))),
    ("poly", dict(power=2.0), lambda it: 0.01 * (1 - it / 10) ** 2),
    ("sigmoid", dict(gamma=-0.5, stepsize=4), lambda it: 0.01 / (1 + np.exp(0.5 * (it - 4)))),
])
def test_lr_policy(policy, fields, expect):
    text = solver_text(LSQ_NET.replace("{params}", ""), base_lr=0.01, lr_policy=policy, max_iter=10, **fields)
    if policy == "multistep":
        text += " stepvalue: 2 stepvalue: 5"
    s = make_solver(text)
    for it in range(10):  # Caffe asks once per iteration (multistep advances one step per call)
        s.iter = it
        # The rate is float32 arithmetic (Caffe's Dtype); the float64 formula agrees to a few float32
        # roundings (poly's 1 − it/max_iter cancels: 1 − 0.9 in float32 is off by 2.4e-7 relative, squared).
        np.testing.assert_allclose(s.learning_rate(), expect(it), rtol=1e-6, err_msg=f"iteration {it}")


def test_step_policy_is_float32():
    s = make_solver(solver_text(LSQ_NET.replace("{params}", ""), base_lr=0.001, lr_policy="step", gamma=0.1,
                                stepsize=10000))
    s.iter = 25000
    rate = s.learning_rate()
    assert rate.dtype == np.float32 and rate == f32(0.001) * f32(0.1) ** f32(2) and s.current_step == 2


# --- nets, weights, display ------------------------------------------------------------------------------
def test_net_states_weights_and_generic_test_nets(tmp_path):
    net = batches_net(4, data=data_layer(4) + """
    layer { name: "only_a" type: "ReLU" bottom: "x" top: "xa" include { stage: "a" } }
    layer { name: "only_b" type: "ReLU" bottom: "x" top: "xb" include { stage: "b" } }""")
    text = solver_text(net, lr_policy="fixed", test_interval=10) + \
        ' train_state { stage: "a" } test_iter: 1 test_state { stage: "b" } test_iter: 2 test_state { }'
    s = make_solver(text)
    names = [[n for n in x._layer_names if n.startswith("only")] for x in [s.net] + s.test_nets]
    assert names == [["only_a"], ["only_b"], []] and s.test_iter == [1, 2]
    s.net.save(str(tmp_path / "w.caffemodel"))
    expect = s.net.params["ip"][0].data.copy()
    s2 = make_solver(text + f' weights: "{tmp_path / "w.caffemodel"}"')
    np.testing.assert_array_equal(s2.net.params["ip"][0].data, expect)
    np.testing.assert_array_equal(s2.test_nets[0].params["ip"][0].data, expect)
    with pytest.raises(ValueError, match="2 test_state entries for 3 test_iter"):
        make_solver(text + " test_iter: 1")


def test_smoothed_loss_and_debug_info(caplog):
    caplog.set_level("INFO", logger="lrcn_native")
    s = make_solver(solver_text(batches_net(4), base_lr=0.05, lr_policy="fixed", average_loss=3, display=1,
                                debug_info=True))
    seen = []
    s.add_callback(lambda: None, lambda: seen.append((s.loss, s.smoothed_loss)))
    s.step(5)
    losses = [loss for loss, _ in seen]
    for i, (_, smoothed) in enumerate(seen):  # the mean of the last average_loss losses (float32)
        np.testing.assert_allclose(smoothed, np.mean(losses[max(0, i - 2):i + 1]), rtol=1e-6)
    assert re.search(r"\[Forward\] Layer ip, top blob y data: [\d.e-]+", caplog.text)
    assert re.search(r"\[Backward\] Layer ip, param blob 0 diff: [\d.e-]+", caplog.text)


# --- iter_size ------------------------------------------------------------------------------------------
def data_layer(n, total=32, noise=0.0, seed=0, name="data", include=""):
    return f"""
    layer {{ name: "{name}" type: "Python" top: "x" top: "label" {include}
        python_param {{ module: "solver_layers" layer: "Batches"
                       param_str: '{{"n": {n}, "d": 6, "total": {total}, "seed": {seed}, "noise": {noise}}}' }} }}"""


def batches_net(n, total=32, noise=0.0, seed=0, name="data", data=None):
    """Batches → Linear (6 → 1) → EuclideanLoss against the label."""
    return f"""
    name: "toy"
    {data or data_layer(n, total, noise, seed, name)}
    layer {{ name: "ip" type: "Python" bottom: "x" top: "y"
            python_param {{ module: "solver_layers" layer: "Linear" param_str: "1" }} }}
    layer {{ name: "loss" type: "Python" bottom: "y" bottom: "label" top: "loss" loss_weight: 1
            python_param {{ module: "solver_layers" layer: "EuclideanLoss" }} }}
    """


def test_iter_size_equals_larger_batch():
    common = dict(base_lr=0.1, lr_policy="fixed", momentum=0.9, weight_decay=0.01, random_seed=11)
    big = make_solver(solver_text(batches_net(8), **common))
    small = make_solver(solver_text(batches_net(4), iter_size=2, **common))
    for s in (big, small):
        s.step(5)
    for a, b in zip(big.net.params["ip"], small.net.params["ip"]):
        # One gradient as the mean of two half-batch means: equal up to float32 summation order.
        np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(big.net.params["ip"][0].data, make_solver(solver_text(batches_net(8), **common))
                              .net.params["ip"][0].data)  # it trained


# --- snapshots and exact resume -------------------------------------------------------------------------
def resume_solver_text(tmp_path, prefix, **extra):
    test_net = batches_net(4, total=12, seed=9, name="tdata")
    fields = dict(base_lr=0.05, lr_policy="step", gamma=0.5, stepsize=4, momentum=0.9, weight_decay=0.01,
                  clip_gradients=2.0, random_seed=5, max_iter=10, snapshot=4, display=2, test_iter=2, test_interval=3,
                  snapshot_prefix=str(tmp_path / prefix))
    fields.update(extra)
    return solver_text(batches_net(4, noise=0.1), **fields) + f" test_net_param {{ {test_net} }}"


def train_recording(text, resume=None, stop=None):
    """solve() from scratch or a snapshot, recording the loss of every iteration. stop(solver) is called
    before each update and may send a signal."""
    s = make_solver(text)
    losses = {}

    def ready():
        losses[s.iter] = s.loss
        if stop:
            stop(s)
    s.add_callback(lambda: None, ready)
    s.solve(resume)
    return s, losses


def test_resume_after_sigint_equals_uninterrupted_run(tmp_path):
    full, full_losses = train_recording(resume_solver_text(tmp_path, "full"))
    assert sorted(full_losses) == list(range(10))
    for it in (4, 8, 10):
        assert (tmp_path / f"full_iter_{it}.solverstate").exists()

    def interrupt(s):
        if s.iter == 5:
            os.kill(os.getpid(), signal.SIGINT)
    previous = signal.getsignal(signal.SIGINT)
    part, part_losses = train_recording(resume_solver_text(tmp_path, "part"), stop=interrupt)
    assert signal.getsignal(signal.SIGINT) is previous  # handlers only inside solve()
    assert part.iter == 6 and sorted(part_losses) == list(range(6))
    assert (tmp_path / "part_iter_6.caffemodel").exists() and not (tmp_path / "part_iter_8.caffemodel").exists()
    rest, rest_losses = train_recording(resume_solver_text(tmp_path, "part"),
                                        resume=str(tmp_path / "part_iter_6.solverstate"))
    assert sorted(rest_losses) == list(range(6, 10))
    # Exact: the same weights, history, learning rate, data position and generator state.
    assert {**part_losses, **rest_losses} == full_losses
    for a, b in zip(full.net.learnable_params, rest.net.learnable_params):
        np.testing.assert_array_equal(a.data, b.data)
    state = read_solverstate(tmp_path / "part_iter_6.solverstate")
    assert state["iter"] == 6 and state["current_step"] == 1 and len(state["history"]) == 2
    assert state["learned_net"] == str(tmp_path / "part_iter_6.caffemodel")
    run = _read_run_state(str(tmp_path / "part_iter_6.runstate.json"))
    assert run["layers"]["train", "data"]["pos"] == (6 * 4) % 32


def test_sigint_effects_and_the_stop_line_names_the_snapshot(tmp_path, caplog):
    caplog.set_level("INFO", logger="lrcn_native")

    def interrupt(s):
        if s.iter == 5:
            os.kill(os.getpid(), signal.SIGINT)
    part, _ = train_recording(resume_solver_text(tmp_path, "part"), stop=interrupt)
    # The signal comes during iteration 5; the stop line and the snapshot both say 6.
    assert "Stopped at iteration 6" in caplog.text and "Snapshotting to binary proto file " + str(
        tmp_path / "part_iter_6.caffemodel") in caplog.text
    for effect, snapshots in (("snapshot", [4, 6, 8, 10]), ("none", [4, 8, 10])):
        s = make_solver(resume_solver_text(tmp_path, effect))
        s.sigint_effect = effect
        s.add_callback(lambda: None, lambda: interrupt(s))
        s.solve()
        assert s.iter == 10  # training went on
        assert sorted(int(p.name.split("_")[-1].split(".")[0]) for p in tmp_path.glob(f"{effect}_iter_*.solverstate")
                      ) == snapshots
    s = make_solver(resume_solver_text(tmp_path, "bad"))
    s.sighup_effect = "later"
    with pytest.raises(ValueError, match="sighup_effect 'later'"):
        s.solve()


def test_stop_inside_a_test_pass_resumes_exactly(tmp_path):
    full, full_losses = train_recording(resume_solver_text(tmp_path, "full", snapshot=0))
    calls = []

    def hook(layer):
        calls.append(layer.name)
        if layer.name == "tdata" and calls.count("tdata") == 3:  # first batch of the test at iteration 3
            os.kill(os.getpid(), signal.SIGINT)
    solver_layers.HOOK = hook
    try:
        part, part_losses = train_recording(resume_solver_text(tmp_path, "part", snapshot=0))
    finally:
        solver_layers.HOOK = None
    assert part.iter == 3 and sorted(part_losses) == [0, 1, 2]
    rest, rest_losses = train_recording(resume_solver_text(tmp_path, "part", snapshot=0),
                                        resume=str(tmp_path / "part_iter_3.solverstate"))
    assert {**part_losses, **rest_losses} == full_losses
    scores = [(it, k, {n: v.tolist() for n, v in r.items()}) for it, k, r in part.test_scores + rest.test_scores]
    assert scores == [(it, k, {n: v.tolist() for n, v in r.items()}) for it, k, r in full.test_scores]


def test_resume_with_hdf5data_shuffling_is_exact(tmp_path):
    """HDF5Data keeps its position and shuffle generator in data_state(): the run state restores them."""
    import h5py
    rng = np.random.default_rng(0)
    names = []
    for k, n in enumerate((7, 6)):
        with h5py.File(tmp_path / f"part{k}.h5", "w") as f:
            f["x"], f["label"] = rng.standard_normal((n, 6)).astype(np.float32), rng.standard_normal(n)
        names.append(str(tmp_path / f"part{k}.h5"))
    (tmp_path / "list.txt").write_text("\n".join(names) + "\n")
    data = (f'layer {{ name: "data" type: "HDF5Data" top: "x" top: "label" hdf5_data_param {{ '
            f'source: "{tmp_path / "list.txt"}" batch_size: 5 shuffle: true }} }}')
    text = solver_text(batches_net(5, data=data), base_lr=0.05, lr_policy="fixed", momentum=0.9, random_seed=2,
                       max_iter=8, snapshot_prefix=str(tmp_path / "p"))
    full, full_losses = train_recording(text)

    def interrupt(s):
        if s.iter == 3:
            os.kill(os.getpid(), signal.SIGINT)
    train_recording(text, stop=interrupt)
    _, rest_losses = train_recording(text, resume=str(tmp_path / "p_iter_4.solverstate"))
    assert sorted(rest_losses) == [4, 5, 6, 7]
    assert {k: full_losses[k] for k in rest_losses} == rest_losses


def test_hdf5_snapshot_and_restore(tmp_path):
    s = make_solver(resume_solver_text(tmp_path, "h5", snapshot_format="HDF5", max_iter=3, snapshot=0))
    s.step(3)
    s.snapshot()
    assert (tmp_path / "h5_iter_3.caffemodel.h5").exists()
    r = make_solver(resume_solver_text(tmp_path, "h5", snapshot_format="HDF5"))
    r.restore(str(tmp_path / "h5_iter_3.solverstate.h5"))
    assert r.iter == 3
    for a, b in zip(s.net.learnable_params + s.history, r.net.learnable_params + r.history):
        np.testing.assert_array_equal(a.data, b.data)
    other = make_solver(solver_text(batches_net(4), lr_policy="fixed", type="Adam"))
    with pytest.raises(ValueError, match="2 history blobs, but a Adam solver"):
        other.restore(str(tmp_path / "h5_iter_3.solverstate.h5"))


KILL_SCRIPT = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
import lrcn_native as caffe
from lrcn_native.proto.text import parse
s = caffe.get_solver(parse({text!r}, "s.prototxt"))
for i in range(1000):
    s.iter = i
    s.snapshot()
    if i == 0:
        print("ready", flush=True)
"""


def test_killed_writer_never_leaves_a_corrupt_snapshot(tmp_path):
    net = batches_net(2).replace('param_str: "1"', 'param_str: "400000"')  # W 400000×6: 9.6 MB per file
    text = solver_text(net, lr_policy="fixed", snapshot_prefix=str(tmp_path / "k"))
    # the child imports the same lrcn_native as this process (in place or installed)
    root = os.path.dirname(os.path.dirname(caffe.__file__))
    script = KILL_SCRIPT.format(root=root, tests=TESTS, text=text)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout.readline().strip() == b"ready"
    time.sleep(0.15)  # inside one of the next writes
    proc.kill()
    proc.wait()
    states = sorted(tmp_path.glob("k_iter_*.solverstate"))
    assert states
    for state in states:  # a solver state exists only when its whole snapshot does
        st = read_solverstate(state)
        weights = load_weights(st["learned_net"])
        assert weights["ip"].blobs[0].shape == (400000, 6)
        _read_run_state(str(state).replace(".solverstate", ".runstate.json"))
    for model in tmp_path.glob("k_iter_*.caffemodel"):
        load_weights(model)  # complete, or absent


TRAIN_SCRIPT = """
import sys
sys.path[:0] = [{root!r}, {tests!r}]
import lrcn_native as caffe
from lrcn_native.proto.text import parse
caffe.get_solver(parse({text!r}, "s.prototxt")).solve({resume!r})
"""


@pytest.mark.parametrize("delay", [0.05, 0.3, 0.6])
def test_sigkill_while_snapshotting_every_iteration_then_resume_is_exact(tmp_path, delay):
    """kill -9 a training run that snapshots every iteration, at three moments: every snapshot left is
    loadable, resuming from the newest removes the run's stale temporaries and ends with the weights of a
    run never killed."""
    max_iter = 600
    text = resume_solver_text(tmp_path, "k", max_iter=max_iter, snapshot=1, display=0, test_interval=1000)
    full, _ = train_recording(resume_solver_text(tmp_path, "full", max_iter=max_iter, snapshot=0, display=0,
                                                 test_interval=1000))
    root = os.path.dirname(os.path.dirname(caffe.__file__))
    proc = subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT.format(root=root, tests=TESTS, text=text, resume=None)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not list(tmp_path.glob("k_iter_*.solverstate")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    states = sorted(tmp_path.glob("k_iter_*.solverstate"), key=lambda p: int(re.search(r"_iter_(\d+)", p.name)[1]))
    assert states, "the run was killed before its first snapshot"
    for state in states:                                   # whole, or absent
        load_weights(read_solverstate(state)["learned_net"])
        _read_run_state(str(state).replace(".solverstate", ".runstate.json"))
    last = int(re.search(r"_iter_(\d+)", states[-1].name)[1])
    if last < max_iter:
        rest, _ = train_recording(text, resume=str(states[-1]))
        assert rest.iter == max_iter
    else:                                                  # the child finished before the kill
        rest = make_solver(text)
        rest.restore(str(states[-1]))
    assert not list(tmp_path.glob(".k_iter_*.tmp"))
    for a, b in zip(full.net.learnable_params, rest.net.learnable_params):
        np.testing.assert_array_equal(a.data, b.data)


def test_solve_removes_its_prefix_stale_snapshot_temporaries(tmp_path):
    """A kill -9 mid-snapshot leaves `.<prefix>_iter_N.*.tmp`; the next run with that prefix removes them,
    and only them."""
    stale = [tmp_path / ".k_iter_3.caffemodel.1a2b3c4d.tmp", tmp_path / ".k_iter_3.solverstate.0f0f0f0f.tmp"]
    other = tmp_path / ".kk_iter_3.caffemodel.1a2b3c4d.tmp"  # another run's prefix
    for path in stale + [other]:
        path.write_bytes(b"partial")
    make_solver(solver_text(batches_net(2), lr_policy="fixed", max_iter=1,
                            snapshot_prefix=str(tmp_path / "k"))).solve()
    assert not any(p.exists() for p in stale)
    assert other.exists() and (tmp_path / "k_iter_1.caffemodel").exists()


# --- NaN / Inf ------------------------------------------------------------------------------------------
def poisoned_net(where):
    poison = f"""
    layer {{ name: "ip1" type: "Python" bottom: "x" top: "h"
            python_param {{ module: "solver_layers" layer: "Linear" param_str: "3" }} }}
    layer {{ name: "poison" type: "Python" bottom: "h" top: "hp"
            python_param {{ module: "solver_layers" layer: "Poison" param_str: "{where}" }} }}
    """
    return batches_net(4).replace('bottom: "x" top: "y"', 'bottom: "hp" top: "y"').replace(
        '    layer { name: "ip"', poison + '    layer { name: "ip"', 1)


@pytest.mark.parametrize("where,message", [
    ("forward 2", "NaN or Inf in the loss at iteration 2, first in layer 'poison' (Python) forward: top blob 'hp'"),
    ("backward 1", "NaN or Inf in the gradient at iteration 1, first in layer 'poison' (Python) backward: bottom "
                   "blob 'h' diff"),
])
def test_nonfinite_names_first_layer_and_blob_and_keeps_weights(where, message):
    s = make_solver(solver_text(poisoned_net(where), base_lr=0.1, lr_policy="fixed", momentum=0.9))
    it = int(where.split()[1])
    s.step(it)
    before = [p.data.copy() for p in s.net.learnable_params]
    with pytest.raises(NonFiniteError, match=re.escape(message)), np.errstate(invalid="ignore"):
        s.step(3)
    assert s.iter == it
    for p, b in zip(s.net.learnable_params, before):
        np.testing.assert_array_equal(p.data, b)


# --- lrcn train / lrcn test -----------------------------------------------------------------------------
# The regular expressions of Caffe's tools/extra/parse_log.py.
PARSE_LOG = {"iteration": r"Iteration (\d+)", "train": r"Train net output #(\d+): (\S+) = ([\.\deE+-]+)",
             "test": r"Test net output #(\d+): (\S+) = ([\.\deE+-]+)",
             "lr": r"lr = ([-+]?[0-9]*\.?[0-9]+([eE]?[-+]?[0-9]+)?)"}


def write_files(tmp_path, net, **fields):
    (tmp_path / "net.prototxt").write_text(net)
    text = 'net: "net.prototxt" ' + " ".join(
        f"{k}: {json.dumps(v) if isinstance(v, str) and k not in ENUMS else v}" for k, v in fields.items())
    (tmp_path / "solver.prototxt").write_text(text)
    return str(tmp_path / "solver.prototxt")


def test_cli_train_logs_snapshots_sighup_and_test(tmp_path, caplog, monkeypatch):
    caplog.set_level("INFO", logger="lrcn_native")
    monkeypatch.chdir(tmp_path)
    net = batches_net(4, data=data_layer(4, include="include { phase: TRAIN }")
                      + data_layer(4, seed=9, name="tdata", include="include { phase: TEST }"))
    solver = write_files(tmp_path, net, base_lr=0.05, lr_policy="step", gamma=0.5, stepsize=4, momentum=0.9,
                         max_iter=6, display=2, test_iter=2, test_interval=3, snapshot=3, snapshot_prefix="snap",
                         random_seed=1, solver_mode="CPU")

    def hook(layer):
        if layer.name == "data" and layer.pos == 4:  # after the first training batch
            os.kill(os.getpid(), signal.SIGHUP)
    solver_layers.HOOK = hook
    try:
        assert cli.main(["train", "--solver", solver]) == 0
    finally:
        solver_layers.HOOK = None
    text = caplog.text
    for kind, regex in PARSE_LOG.items():
        assert re.search(regex, text), kind
    assert re.search(r"Iteration 2 \([\d.e+-]+ iter/s, [\d.e+-]+s/2 iters\), loss = [\d.]+", text)
    assert re.search(r"Test net output #0: loss = [\d.]+ \(\* 1 = [\d.]+ loss\)", text)
    assert "Optimization Done." in text
    # SIGHUP in iteration 0: a snapshot at 1, then the scheduled ones at 3 and 6 (the end).
    assert sorted(p.name for p in tmp_path.glob("snap_iter_*.solverstate")) == [
        "snap_iter_1.solverstate", "snap_iter_3.solverstate", "snap_iter_6.solverstate"]
    caplog.clear()
    assert cli.main(["test", "--model", "net.prototxt", "--weights", "snap_iter_6.caffemodel",
                     "--iterations", "3"]) == 0
    assert "Running for 3 iterations." in caplog.text and re.search(r"Batch 2, loss = [\d.]+", caplog.text)
    assert re.search(r"Loss: [\d.]+", caplog.text)
    assert any(re.fullmatch(r"loss = [\d.]+ \(\* 1 = [\d.]+ loss\)", m) for m in caplog.messages)
    # Fine-tuning from weights, and resuming: both, or neither.
    assert cli.main(["train", "--solver", solver, "--weights", "snap_iter_3.caffemodel",
                     "--snapshot", "snap_iter_3.solverstate"]) == 1


def test_cli_train_stops_on_nan_keeping_the_last_snapshot(tmp_path, caplog, monkeypatch):
    caplog.set_level("INFO", logger="lrcn_native")
    monkeypatch.chdir(tmp_path)
    solver = write_files(tmp_path, poisoned_net("forward 3"), base_lr=0.05, lr_policy="fixed", max_iter=6,
                         snapshot=2, snapshot_prefix="nan", solver_mode="CPU")
    with np.errstate(invalid="ignore"):
        assert cli.main(["train", "--solver", solver]) == 1
    assert "first in layer 'poison' (Python) forward: top blob 'hp'" in caplog.text
    assert sorted(p.name for p in tmp_path.glob("nan_iter_*")) == [
        "nan_iter_2.caffemodel", "nan_iter_2.runstate.json", "nan_iter_2.solverstate"]
    assert read_solverstate("nan_iter_2.solverstate")["iter"] == 2


# --- a pinned training run --------------------------------------------------------------------------------
PINNED_NET = """
    layer { name: "data" type: "Python" top: "x" top: "label"
            python_param { module: "solver_layers" layer: "Batches"
                           param_str: '{"n": 8, "d": 6, "total": 40, "seed": 3, "noise": 0.1, "classes": 3}' } }
    layer { name: "ip1" type: "Python" bottom: "x" top: "h"
            python_param { module: "solver_layers" layer: "Linear" param_str: "5" } }
    layer { name: "relu" type: "ReLU" bottom: "h" top: "h" }
    layer { name: "drop" type: "Dropout" bottom: "h" top: "h" dropout_param { dropout_ratio: 0.3 } }
    layer { name: "ip2" type: "Python" bottom: "h" top: "y" param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
            python_param { module: "solver_layers" layer: "Linear" param_str: "3" } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "y" bottom: "label" top: "loss" }
"""
# Losses of iterations 0..11 (float32, hex) produced by this implementation (clipping is active in every
# iteration); a change in any of them is a change in the training arithmetic: the update, the learning
# rate, clipping, iter_size, dropout masks and data noise from the seeded generator, the native layers.
PINNED_LOSSES = ["0x1.57f7960000000p+0", "0x1.3542740000000p+0", "0x1.1a6bc00000000p+0", "0x1.261bd00000000p+0",
                 "0x1.1bc9d40000000p+0", "0x1.0ea2280000000p+0", "0x1.2081900000000p+0", "0x1.1782880000000p+0",
                 "0x1.1193140000000p+0", "0x1.1bde5c0000000p+0", "0x1.e7fbac0000000p-1", "0x1.359b0c0000000p+0"]


def test_pinned_training_run():
    s = make_solver(solver_text(PINNED_NET, base_lr=0.2, lr_policy="step", gamma=0.5, stepsize=4, momentum=0.9,
                                weight_decay=0.005, clip_gradients=0.5, iter_size=2, random_seed=1701))
    losses = []
    s.add_callback(lambda: None, lambda: losses.append(float(s.loss).hex()))
    s.step(12)
    assert losses == PINNED_LOSSES  # exact on the CPU: the same operations in the same order
