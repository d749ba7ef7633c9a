"""InnerProduct: forward against float64 numpy for axis 1/2/−1 and transpose, gradients by finite
differences, parameter errors, and CPU/GPU parity (skipped without a GPU)."""
import numpy as np
import pytest

from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer


def text(body, bias=True):
    fillers = 'weight_filler { type: "gaussian" std: 0.5 }'
    if bias:
        fillers += ' bias_filler { type: "uniform" min: -1 max: 1 }'
    return f'type: "InnerProduct" inner_product_param {{ {body} {fillers} }}'


# (inner_product_param body, bottom shape, canonical axis, top shape)
CASES = [
    ("num_output: 5", (3, 2, 3, 3), 1, (3, 5)),
    ("num_output: 4 axis: 2", (4, 3, 6), 2, (4, 3, 4)),
    ("num_output: 4 axis: -1 transpose: true", (4, 3, 6), 2, (4, 3, 4)),
    ("num_output: 3 axis: 2 bias_term: false", (2, 3, 4, 5), 2, (2, 3, 3)),
    ("num_output: 2 transpose: true bias_term: false", (3, 7), 1, (3, 2)),
    ("num_output: 3 axis: 0", (2, 5), 0, (3,)),
]


@pytest.mark.parametrize("body,shape,axis,top_shape", CASES, ids=[c[0] for c in CASES])
def test_forward(body, shape, axis, top_shape):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    bias = "bias_term: false" not in body
    layer = make_layer(text(body, bias))
    bottom, top = setup_layer(layer, [x])
    y = forward(layer, bottom, top)[0]
    k = int(np.prod(shape[axis:]))
    n = top_shape[-1]
    w = layer.blobs[0].data.astype(np.float64)
    assert w.shape == ((k, n) if "transpose" in body else (n, k))
    if "transpose" in body:
        w = w.T
    expected = x.reshape(-1, k).astype(np.float64) @ w.T
    if bias:
        expected += layer.blobs[1].data
    assert y.shape == top_shape
    # float32 dot products of ≤ 60 O(1) terms: ulps of the result.
    np.testing.assert_allclose(y.reshape(expected.shape), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("body,shape", [("num_output: 3 axis: 2", (3, 2, 4)),
                                        ("num_output: 4 transpose: true", (2, 3, 2, 2))])
def test_gradients(body, shape):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    gradcheck(make_layer(text(body)), [x])  # bottom, weight and bias; Caffe's step and threshold


def test_param_diffs_accumulate():
    x = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    layer = make_layer(text("num_output: 2"))
    bottom, top = setup_layer(layer, [x])
    forward(layer, bottom, top)
    top[0].diff[...] = 1
    layer.backward(top, [False], bottom)
    np.testing.assert_array_equal(layer.blobs[1].diff, [4, 4])  # Σ of four ones: exact
    np.testing.assert_allclose(layer.blobs[0].diff, np.tile(x.sum(0), (2, 1)), rtol=1e-6)  # 4-term sums
    layer.backward(top, [False], bottom)
    np.testing.assert_array_equal(layer.blobs[1].diff, [8, 8])


@pytest.mark.parametrize("body,shape,message", [
    ("axis: 1", (2, 3), "num_output must be positive"),
    ("num_output: 2 axis: 2", (2, 3), "axis 2 is out of range"),
    ("num_output: 2 axis: -3", (2, 3), "axis -3 is out of range"),
])
def test_bad_parameters(body, shape, message):
    with pytest.raises(LayerError, match=message):
        setup_layer(make_layer(text(body)), [np.zeros(shape, np.float32)])


def test_reshape_checks_input_size():
    layer = make_layer(text("num_output: 2"))
    bottom, top = setup_layer(layer, [np.zeros((2, 3, 4), np.float32)])
    bottom[0].reshape(5, 3, 4)  # a new batch size is fine
    layer.reshape(bottom, top)
    assert top[0].shape == (5, 2)
    bottom[0].reshape(2, 3, 5)
    with pytest.raises(LayerError, match="flattens from axis 1 to 15 inputs, but the layer was set up with 12"):
        layer.reshape(bottom, top)


@needs_gpu
@pytest.mark.parametrize("body,shape,axis,top_shape", CASES, ids=[c[0] for c in CASES])
def test_gpu_parity(body, shape, axis, top_shape):
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    gpu_parity(text(body, "bias_term: false" not in body), [x], rtol=1e-5, atol=1e-5)  # short float32 sums
