"""LSTM and LSTMUnit: forward against a naive float64 reference of Caffe's semantics, the state carried
across forward calls (also when N changes), finite-difference gradients for every bottom and parameter,
errors, GPU parity, and the original LRCN prototxts' LSTM layers. Caffe parity: tests/test_golden.py
(net `lstm`)."""
import os

import numpy as np
import pytest
from util import (ORIGINAL, blobs_from, forward, gpu_parity, gradcheck, make_layer, needs_gpu, needs_original,
                  setup_layer)

from lrcn_native.blob import Blob
from lrcn_native.layer import REGISTRY, TRAIN, LayerError
from lrcn_native.proto.text import parse_file

FILLERS = ('weight_filler { type: "uniform" min: -0.5 max: 0.5 } '
           'bias_filler { type: "uniform" min: -0.5 max: 0.5 }')


def lstm_text(H, expose=False):
    return (f'type: "LSTM" recurrent_param {{ num_output: {H} {FILLERS} '
            f'expose_hidden: {"true" if expose else "false"} }}')


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def reference(x, cont, params, x_static=None, h=None, c=None):
    """Caffe's LSTM in float64, step by step: returns (h for all steps, h_T, c_T)."""
    T, N = cont.shape
    W_xc, b_c = params[0], params[1]
    W_static = params[2] if x_static is not None else None
    W_hc = params[-1]
    H = W_hc.shape[1]
    x = x.reshape(T, N, -1).astype(np.float64)
    h = np.zeros((N, H)) if h is None else h.reshape(N, H).astype(np.float64)
    c = np.zeros((N, H)) if c is None else c.reshape(N, H).astype(np.float64)
    static = 0 if x_static is None else x_static.reshape(N, -1) @ W_static.T
    out = []
    for t in range(T):
        gate = cont[t][:, None].astype(np.float64)
        z = x[t] @ W_xc.T + b_c + static + (gate * h) @ W_hc.T
        i, f, o, g = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), sigmoid(z[:, 2 * H:3 * H]), np.tanh(z[:, 3 * H:])
        c = gate * f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out), h, c


def data(T, N, D, seed=0, S=None):
    """x (T × N × D), cont with a fresh start at t = 0 and one in the middle of stream 0, optional static."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (T, N, D)).astype(np.float32)
    cont = np.ones((T, N), np.float32)
    cont[0] = 0
    cont[T // 2, 0] = 0
    if S is None:
        return x, cont
    return x, cont, rng.uniform(-1, 1, (N, S)).astype(np.float32)


def params_of(layer):
    return [p.data.astype(np.float64) for p in layer.blobs]


# Float32 against float64 over a few steps of O(1) values: rounding ~1e-7 per operation.
TOL = {"rtol": 1e-5, "atol": 1e-5}


def test_forward_matches_reference_with_static_input():
    T, N, H = 5, 3, 4
    x, cont, xs = data(T, N, 6, S=4)
    x, xs = x.reshape(T, N, 2, 3), xs.reshape(N, 2, 2)  # trailing axes are flattened (D = 6, S = 4)
    layer = make_layer(lstm_text(H))
    bottom, top = setup_layer(layer, [x, cont, xs])
    assert [p.shape for p in layer.blobs] == [(16, 6), (16,), (16, 4), (16, 4)]
    h = forward(layer, bottom, top)[0]
    expected, _, _ = reference(x, cont, params_of(layer), xs)
    assert h.shape == (T, N, H)
    np.testing.assert_allclose(h, expected, **TOL)


def test_second_forward_continues_from_the_first():
    """Caffe copies h_T, c_T into h_0, c_0 at the start of every forward: streams whose cont is 1 at t = 0
    continue, a 0 restarts them. Checked against one reference run over both halves."""
    T, N, H = 3, 3, 5
    x1, cont1 = data(T, N, 4, seed=1)
    x2, _ = data(T, N, 4, seed=2)
    cont2 = np.ones((T, N), np.float32)
    cont2[0, 1] = 0  # stream 1 starts a new sequence at the second call; 0 and 2 continue
    layer = make_layer(lstm_text(H))
    bottom, top = setup_layer(layer, [x1, cont1])
    first = forward(layer, bottom, top)[0]
    bottom[0].data[...], bottom[1].data[...] = x2, cont2
    second = forward(layer, bottom, top)[0]
    expected, _, _ = reference(np.concatenate([x1, x2]), np.concatenate([cont1, cont2]), params_of(layer))
    np.testing.assert_allclose(first, expected[:T], **TOL)
    np.testing.assert_allclose(second, expected[T:], **TOL)
    # The same layer started fresh would differ: the carried state matters.
    fresh, _, _ = reference(x2, cont2, params_of(layer))
    assert np.abs(second - fresh).max() > 1e-3


def test_captioning_shapes_static_input_and_carried_state():
    """lstm2 of the factored captioning net (coco_caption/lrcn.prototxt): T = 20 words × N = 100 sentences,
    1000 inputs, 1000 hidden, the static image feature (fc8, 1000), LRCN's uniform ±0.08 weights. Two
    forward calls, the second carrying the first's h_T, c_T, against one float64 run over both."""
    T, N, D, S, H = 20, 100, 1000, 1000, 1000
    x1, cont1, xs = data(T, N, D, seed=3, S=S)
    x2, _ = data(T, N, D, seed=4)
    cont2 = np.ones((T, N), np.float32)
    cont2[0, ::7] = 0  # every 7th sentence starts afresh at the second call; the others continue
    layer = make_layer(f'type: "LSTM" recurrent_param {{ num_output: {H} '
                       'weight_filler { type: "uniform" min: -0.08 max: 0.08 } }')
    bottom, top = setup_layer(layer, [x1, cont1, xs])
    first = forward(layer, bottom, top)[0]
    bottom[0].data[...], bottom[1].data[...] = x2, cont2
    second = forward(layer, bottom, top)[0]
    expected, _, _ = reference(np.concatenate([x1, x2]), np.concatenate([cont1, cont2]), params_of(layer), xs)
    # Each pre-activation sums 2000 float32 products plus the static term (|z| ~ 1), and errors pass through
    # 40 steps: float32 rounding reaches ~3e-6 here; 2e-5 is well above it and far below any semantic error
    # (a dropped static input, state or bias moves h by > 1e-2).
    np.testing.assert_allclose(first, expected[:T], rtol=0, atol=2e-5)
    np.testing.assert_allclose(second, expected[T:], rtol=0, atol=2e-5)
    fresh, _, _ = reference(x2[:, 1:2], cont2[:, 1:2], params_of(layer), xs[1:2])
    assert np.abs(second[:, 1:2] - fresh).max() > 1e-2  # stream 1 continued the first call's sentence


def test_state_when_n_changes():
    """The carried states are reshaped as Caffe's unrolled-net blobs: shrinking N keeps the first streams'
    states, growing within the capacity exposes the last values held there, growing past it gives zeros."""
    T, H = 2, 3
    layer = make_layer(lstm_text(H))
    x, cont = data(T, 3, 2, seed=3)
    bottom, top = setup_layer(layer, [x, cont])
    forward(layer, bottom, top)
    P = params_of(layer)
    _, h3, c3 = reference(x, cont, P)

    def run(N, seed):
        xn = np.random.default_rng(seed).uniform(-1, 1, (T, N, 2)).astype(np.float32)
        cn = np.ones((T, N), np.float32)
        b = blobs_from([xn, cn])
        out = forward(layer, b, top)[0]
        return xn, cn, out

    xn, cn, out = run(2, 4)  # shrink: streams 0, 1 continue
    expected, h2, c2 = reference(xn, cn, P, h=h3[:2], c=c3[:2])
    np.testing.assert_allclose(out, expected, **TOL)
    xn, cn, out = run(3, 5)  # grow within the capacity: stream 2 sees its state from the N = 3 call
    h0, c0 = np.concatenate([h2, h3[2:]]), np.concatenate([c2, c3[2:]])
    expected, h3, c3 = reference(xn, cn, P, h=h0, c=c0)
    np.testing.assert_allclose(out, expected, **TOL)
    xn, cn, out = run(4, 6)  # grow past the capacity: every stream starts from zeros
    expected, _, _ = reference(xn, cn, P)
    np.testing.assert_allclose(out, expected, **TOL)


def test_expose_hidden_forward():
    T, N, H = 3, 2, 4
    rng = np.random.default_rng(7)
    x, cont = data(T, N, 3, seed=7)
    cont[0] = 1  # continue from the given states
    h0, c0 = rng.uniform(-1, 1, (2, 1, N, H)).astype(np.float32)
    layer = make_layer(lstm_text(H, expose=True))
    bottom, top = setup_layer(layer, [x, cont, h0, c0], n_tops=3)
    h, h_T, c_T = forward(layer, bottom, top)
    expected, eh, ec = reference(x, cont, params_of(layer), h=h0, c=c0)
    np.testing.assert_allclose(h, expected, **TOL)
    np.testing.assert_allclose(h_T.reshape(N, H), eh, **TOL)
    np.testing.assert_allclose(c_T.reshape(N, H), ec, **TOL)
    again = forward(layer, bottom, top)[0]  # exposed states are not carried: same inputs, same outputs
    np.testing.assert_array_equal(again, h)


# Gradients (Caffe's checker). Without expose_hidden every stream restarts at t = 0 (cont 0), so the state
# carried between the checker's many forward calls does not enter the objective.
def test_gradient():
    layer = make_layer(lstm_text(4))
    gradcheck(layer, list(data(4, 2, 3)), check_bottoms=[0])


def test_gradient_static_input():
    layer = make_layer(lstm_text(3))
    gradcheck(layer, list(data(3, 2, 3, S=2)), check_bottoms=[0, 2])


def test_gradient_expose_hidden_with_static_input():
    T, N, H = 3, 2, 3
    x, cont, xs = data(T, N, 2, S=2, seed=1)
    cont[0] = 1
    h0, c0 = np.random.default_rng(2).uniform(-1, 1, (2, 1, N, H)).astype(np.float32)
    layer = make_layer(lstm_text(H, expose=True))
    gradcheck(layer, [x, cont, xs, h0, c0], n_tops=3, check_bottoms=[0, 2, 3, 4])


def test_gradient_after_n_changes():
    layer = make_layer(lstm_text(3))
    bottom, top = setup_layer(layer, list(data(3, 4, 2)))
    forward(layer, bottom, top)
    layer.setup = lambda bottom, top: None  # keep the N = 4 setup and state; the checker reshapes to N = 2
    gradcheck(layer, list(data(3, 2, 2, seed=5)), check_bottoms=[0])


def test_parameter_diffs_accumulate():
    layer = make_layer(lstm_text(3))
    bottom, top = setup_layer(layer, list(data(3, 2, 2)))
    forward(layer, bottom, top)
    top[0].diff[...] = 1
    layer.backward(top, [True, False], bottom)
    once = [p.diff.copy() for p in layer.blobs]
    layer.backward(top, [True, False], bottom)
    for p, d in zip(layer.blobs, once):
        np.testing.assert_allclose(p.diff, 2 * d, rtol=1e-6)


def test_errors():
    x, cont = data(3, 2, 2)
    with pytest.raises(LayerError, match="num_output"):
        setup_layer(make_layer('type: "LSTM" recurrent_param { }'), [x, cont])
    layer = make_layer(lstm_text(3))
    bottom, top = setup_layer(layer, [x, cont])
    with pytest.raises(LayerError, match="timesteps"):
        layer.reshape(blobs_from(data(4, 2, 2)), top)
    with pytest.raises(LayerError, match="cont"):
        layer.reshape(blobs_from([x, cont[:, :1]]), top)
    forward(layer, bottom, top)
    with pytest.raises(LayerError, match="continuation"):
        layer.backward(top, [True, True], bottom)
    assert not layer.allow_force_backward(1) and layer.allow_force_backward(0)
    with pytest.raises(LayerError, match="bottom"):  # expose_hidden needs h_0 and c_0
        setup_layer(make_layer(lstm_text(3, expose=True)), [x, cont], n_tops=3)


@needs_gpu
def test_gpu_parity():
    T, N, H = 4, 3, 5
    x, cont, xs = data(T, N, 6, S=3)
    h0, c0 = np.random.default_rng(3).uniform(-1, 1, (2, 1, N, H)).astype(np.float32)
    # Different GEMM summation orders on the GPU, compounded over 4 recurrent steps.
    gpu_parity(lstm_text(H, expose=True), [x, cont, xs, h0, c0], n_tops=3,
               propagate=[True, False, True, True, True], rtol=1e-4, atol=1e-5)
    gpu_parity(lstm_text(H), [x, cont], propagate=[True, False], rtol=1e-4, atol=1e-5)


# --- LSTMUnit ----------------------------------------------------------------------------------------
def unit_data(N=3, H=4, seed=0):
    rng = np.random.default_rng(seed)
    c_prev = rng.uniform(-1, 1, (1, N, H)).astype(np.float32)
    x = rng.uniform(-2, 2, (1, N, 4 * H)).astype(np.float32)
    cont = np.array([[1, 0, 1]], np.float32)[:, :N]
    return [c_prev, x, cont]


def test_lstm_unit_forward():
    c_prev, x, cont = unit_data()
    layer = make_layer('type: "LSTMUnit"')
    bottom, top = setup_layer(layer, [c_prev, x, cont], n_tops=2)
    c, h = forward(layer, bottom, top)
    H = c_prev.shape[2]
    z = x[0].astype(np.float64)
    i, f, o, g = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), sigmoid(z[:, 2 * H:3 * H]), np.tanh(z[:, 3 * H:])
    ec = cont[0][:, None] * f * c_prev[0] + i * g
    np.testing.assert_allclose(c[0], ec, **TOL)
    np.testing.assert_allclose(h[0], o * np.tanh(ec), **TOL)


def test_lstm_unit_gradient_and_errors():
    layer = make_layer('type: "LSTMUnit"')
    gradcheck(layer, unit_data(), n_tops=2, check_bottoms=[0, 1])
    bottom, top = setup_layer(layer, unit_data(), n_tops=2)
    with pytest.raises(LayerError, match="continuation"):
        layer.backward(top, [True, True, True], bottom)
    c_prev, x, cont = unit_data()
    with pytest.raises(LayerError, match="4H"):
        setup_layer(make_layer('type: "LSTMUnit"'), [c_prev, x[:, :, :-1], cont], n_tops=2)


@needs_gpu
def test_lstm_unit_gpu_parity():
    gpu_parity('type: "LSTMUnit"', unit_data(), n_tops=2, propagate=[True, True, False])


# --- the original LRCN prototxts -----------------------------------------------------------------------
# Bottom shapes as those nets feed them: activity T = 16 clips' frames × N clips × fc6 (4096);
# captioning T = 20 words × N = 100 (50 for buffer_50) sentences × 1000 (embedding, LSTM), fc8 N × 1000;
# the deploy nets run one step (T = 1) over N streams.
ACTIVITY = {"fc6-reshape": (16, 24, 4096), "reshape-cm": (16, 24)}
CAPTION = {"embedded_input_sentence": (20, 100, 1000), "cont_sentence": (20, 100), "lstm1": (20, 100, 1000),
           "fc8": (100, 1000)}
SHAPES = {
    "LRCN_activity_recognition/train_test_lstm_RGB.prototxt": ACTIVITY,
    "LRCN_activity_recognition/train_test_lstm_flow.prototxt": ACTIVITY,
    "LRCN_activity_recognition/deploy_lstm.prototxt": {"fc6-reshape": (16, 10, 4096), "reshape-cm": (16, 10)},
    "LRCN_evaluate/deploy_lstm_lstm.prototxt": {"fc6-reshape": (16, 500, 4096), "reshape-cm": (16, 500)},
    "LRCN_evaluate/deploy_lstm_lstm_check.prototxt": {"fc6-reshape": (16, 500, 4096), "reshape-cm": (16, 500)},
    "coco_caption/lrcn.prototxt": CAPTION,
    "coco_caption/lrcn.vgg.prototxt": CAPTION,
    "coco_caption/lrcn.vgg.buffer_50.prototxt": {"embedded_input_sentence": (20, 50, 1000), "cont_sentence": (20, 50),
                                                 "lstm1": (20, 50, 1000), "fc8": (50, 1000)},
    "coco_caption/lstm_language_model.prototxt": CAPTION,
    "coco_caption/lrcn_word_to_preds.deploy.prototxt": {"embedded_input_sentence": (1, 1000, 1000),
                                                        "cont_sentence": (1, 1000), "lstm1": (1, 1000, 1000),
                                                        "image_features": (1000, 1000)},
    "coco_caption/lstm_lm.deploy.prototxt": {"embedded_input_sentence": (1, 1, 1000), "cont_sentence": (1, 1)},
}


@needs_original
@pytest.mark.parametrize("path", sorted(SHAPES))
def test_original_prototxt_lstm_layers(path):
    shapes = SHAPES[path]
    layers = [lp for lp in parse_file(os.path.join(ORIGINAL, path)).msgs("layer") if lp.str("type") == "LSTM"]
    assert layers
    for lp in layers:
        bottom = [Blob(*shapes[b]) for b in lp.strs("bottom")]  # shapes only: nothing is allocated
        top = [Blob()]
        layer = REGISTRY["LSTM"](lp, TRAIN)
        layer.check_counts(bottom, top)
        layer.setup(bottom, top)
        layer.reshape(bottom, top)
        T, N, D = bottom[0].shape
        H = lp.msg("recurrent_param").int("num_output")
        expected = [(4 * H, D), (4 * H,)] + ([(4 * H, bottom[2].shape[1])] if len(bottom) == 3 else []) + [(4 * H, H)]
        assert [p.shape for p in layer.blobs] == expected, lp.str("name")
        assert top[0].shape == (T, N, H)
