"""RNN: forward against a naive float64 reference of Caffe's semantics (with the carried state), finite-
difference gradients for every bottom and parameter, GPU parity. The machinery it shares with the LSTM
(carried state, N changes, errors) is tested in test_lstm.py."""
import numpy as np
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer
from test_lstm import data  # x, cont (fresh starts at t = 0 and mid-stream) and the static input

FILLERS = ('weight_filler { type: "uniform" min: -0.5 max: 0.5 } '
           'bias_filler { type: "uniform" min: -0.5 max: 0.5 }')


def rnn_text(H, expose=False):
    return (f'type: "RNN" recurrent_param {{ num_output: {H} {FILLERS} '
            f'expose_hidden: {"true" if expose else "false"} }}')


def reference(x, cont, params, x_static=None, h=None):
    """Caffe's RNN in float64: returns (o for all steps, h_T)."""
    T, N = cont.shape
    W_xh, b_h = params[0], params[1]
    W_static = params[2] if x_static is not None else None
    W_hh, W_ho, b_o = params[-3:]
    H = W_hh.shape[0]
    x = x.reshape(T, N, -1).astype(np.float64)
    h = np.zeros((N, H)) if h is None else h.reshape(N, H).astype(np.float64)
    static = 0 if x_static is None else x_static.reshape(N, -1) @ W_static.T
    out = []
    for t in range(T):
        h = np.tanh(x[t] @ W_xh.T + b_h + static + (cont[t][:, None] * h) @ W_hh.T)
        out.append(np.tanh(h @ W_ho.T + b_o))
    return np.stack(out), h


TOL = {"rtol": 1e-5, "atol": 1e-5}  # float32 against float64 over a few steps of O(1) values


def test_forward_matches_reference_and_carries_state():
    T, N, H = 4, 3, 5
    x, cont, xs = data(T, N, 3, S=2)
    layer = make_layer(rnn_text(H))
    bottom, top = setup_layer(layer, [x, cont, xs])
    assert [p.shape for p in layer.blobs] == [(5, 3), (5,), (5, 2), (5, 5), (5, 5), (5,)]
    params = [p.data.astype(np.float64) for p in layer.blobs]
    first = forward(layer, bottom, top)[0]
    expected, h_T = reference(x, cont, params, xs)
    np.testing.assert_allclose(first, expected, **TOL)
    bottom[1].data[...] = 1  # every stream continues from the first call's h_T
    second = forward(layer, bottom, top)[0]
    np.testing.assert_allclose(second, reference(x, np.ones_like(cont), params, xs, h=h_T)[0], **TOL)


def test_gradient_static_input():
    gradcheck(make_layer(rnn_text(3)), data(3, 2, 3, S=2), check_bottoms=[0, 2])


def test_gradient_expose_hidden():
    T, N, H = 3, 2, 3
    x, cont = data(T, N, 2, seed=1)
    cont[0] = 1
    h0 = np.random.default_rng(2).uniform(-1, 1, (1, N, H)).astype(np.float32)
    gradcheck(make_layer(rnn_text(H, expose=True)), [x, cont, h0], n_tops=2, check_bottoms=[0, 2])


@needs_gpu
def test_gpu_parity():
    T, N, H = 4, 3, 5
    x, cont, xs = data(T, N, 6, S=3)
    h0 = np.random.default_rng(3).uniform(-1, 1, (1, N, H)).astype(np.float32)
    # Different GEMM summation orders on the GPU, compounded over 4 recurrent steps.
    gpu_parity(rnn_text(H, expose=True), [x, cont, xs, h0], n_tops=2, propagate=[True, False, True, True],
               rtol=1e-4, atol=1e-5)
