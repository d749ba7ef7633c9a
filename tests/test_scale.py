"""Scale and Bias (the channel-wise kernels of csrc/layers/scale.*): forward against float64 broadcasting,
every axis/num_axes/second-bottom form, gradients by finite differences, in place, errors, GPU parity."""
import numpy as np
import pytest

from lrcn_native.blob import Blob
from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

RNG = np.random.default_rng(14)
X = RNG.standard_normal((2, 3, 4, 5)).astype(np.float32)
GAUSS = 'filler { type: "gaussian" std: 1 }'
BIAS_GAUSS = 'bias_filler { type: "gaussian" std: 1 }'

# (layer text, operand shape, axis): learned operands of every axis/num_axes form, and bottom[1] ones.
LEARNED = [
    (f'type: "Scale" scale_param {{ {GAUSS} }}', (3,), 1),
    (f'type: "Scale" scale_param {{ axis: 0 num_axes: 2 {GAUSS} }}', (2, 3), 0),
    (f'type: "Scale" scale_param {{ axis: -2 num_axes: -1 {GAUSS} }}', (4, 5), 2),
    (f'type: "Scale" scale_param {{ num_axes: 0 {GAUSS} }}', (), 1),
    (f'type: "Bias" bias_param {{ {GAUSS} }}', (3,), 1),
    (f'type: "Bias" bias_param {{ axis: 2 num_axes: 2 {GAUSS} }}', (4, 5), 2),
]
SECOND_BOTTOM = [('type: "Scale" scale_param { axis: 1 }', (3, 4), 1),
                 ('type: "Scale"', (), 0),
                 ('type: "Bias" bias_param { axis: 0 }', (2,), 0)]


def reference(kind, x, operand, axis, bias=None):
    """float64 broadcasting of ``operand`` over x's axes [axis, axis + operand.ndim)."""
    shape = (1,) * axis + operand.shape + (1,) * (x.ndim - axis - operand.ndim)
    o = operand.astype(np.float64).reshape(shape)
    y = x.astype(np.float64) * o if kind == "Scale" else x.astype(np.float64) + o
    return y if bias is None else y + bias.astype(np.float64).reshape(shape)


@pytest.mark.parametrize("text, shape, axis", LEARNED)
def test_learned_operand_forward_and_gradient(text, shape, axis):
    layer = make_layer(text)
    bottom, top = setup_layer(layer, [X])
    assert layer.blobs[0].shape == shape
    y = forward(layer, bottom, top)[0]
    # float32 product (and sum): one rounding per element.
    np.testing.assert_allclose(y, reference(layer.type, X, layer.blobs[0].data, axis), rtol=1e-6, atol=1e-6)
    gradcheck(make_layer(text), [X])


@pytest.mark.parametrize("text, shape, axis", SECOND_BOTTOM)
def test_second_bottom_forward_and_gradient(text, shape, axis):
    operand = RNG.standard_normal(shape).astype(np.float32)
    layer = make_layer(text)
    bottom, top = setup_layer(layer, [X, operand])
    assert not layer.blobs
    y = forward(layer, bottom, top)[0]
    np.testing.assert_allclose(y, reference(layer.type, X, operand, axis), rtol=1e-6, atol=1e-6)
    gradcheck(make_layer(text), [X, operand])


def test_scale_bias_term_and_default_fillers():
    layer = make_layer(f'type: "Scale" scale_param {{ bias_term: true {GAUSS} {BIAS_GAUSS} }}')
    bottom, top = setup_layer(layer, [X])
    s, b = layer.blobs[0].data, layer.blobs[1].data
    np.testing.assert_allclose(forward(layer, bottom, top)[0], reference("Scale", X, s, 1, b), rtol=1e-6, atol=1e-6)
    gradcheck(make_layer(f'type: "Scale" scale_param {{ bias_term: true {GAUSS} {BIAS_GAUSS} }}'), [X])
    # Caffe's defaults: the scale starts at 1 and the bias at 0 (the identity).
    identity = make_layer('type: "Scale" scale_param { bias_term: true }')
    bottom, top = setup_layer(identity, [X])
    np.testing.assert_array_equal(forward(identity, bottom, top)[0], X)
    # With bottom[1] and bias_term the only parameter is the bias.
    two = make_layer('type: "Scale" scale_param { bias_term: true }')
    setup_layer(two, [X, np.ones(3, np.float32)])
    assert [b.shape for b in two.blobs] == [(3,)]


@pytest.mark.parametrize("text", [f'type: "Scale" scale_param {{ bias_term: true {GAUSS} {BIAS_GAUSS} }}',
                                  f'type: "Bias" bias_param {{ {GAUSS} }}'])
def test_in_place_matches(text):
    """ResNet runs Scale in place after BatchNorm: the scale's gradient needs the overwritten bottom."""
    dy = RNG.standard_normal(X.shape).astype(np.float32)
    results = []
    for in_place in (False, True):
        layer = make_layer(text)
        blob = Blob(*X.shape)
        blob.data[...] = X
        top = blob if in_place else Blob()
        layer.setup([blob], [top])
        layer.param_propagate_down = [True] * len(layer.blobs)
        for p in layer.blobs:
            p.data[...] = np.linspace(-1, 1, p.count).reshape(p.shape)
        layer.reshape([blob], [top])
        layer.forward([blob], [top])
        y = top.data.copy()
        top.diff[...] = dy
        layer.backward([top], [True], [blob])
        results.append((y, blob.diff.copy(), [p.diff.copy() for p in layer.blobs]))
    (y0, dx0, dp0), (y1, dx1, dp1) = results
    np.testing.assert_array_equal(y1, y0)
    np.testing.assert_array_equal(dx1, dx0)
    for a, b in zip(dp1, dp0):
        np.testing.assert_array_equal(a, b)


def test_param_diff_accumulates_and_bottom_diff_is_overwritten():
    """Caffe: a learned operand's diff accumulates over backward calls; bottom[1]'s diff is overwritten."""
    dy = RNG.standard_normal(X.shape).astype(np.float32)
    for bottoms in ([X], [X, np.full(3, 2.0, np.float32)]):
        layer = make_layer('type: "Scale"')
        bottom, top = setup_layer(layer, bottoms)
        forward(layer, bottom, top)
        top[0].diff[...] = dy
        target = layer.blobs[0] if len(bottoms) == 1 else bottom[1]
        target.diff[...] = 0
        layer.backward(top, [True] * len(bottoms), bottom)
        once = target.diff.copy()
        layer.backward(top, [True] * len(bottoms), bottom)
        expect = 2 * once if len(bottoms) == 1 else once
        np.testing.assert_allclose(target.diff, expect, rtol=1e-6)
        np.testing.assert_allclose(once, (dy.astype(np.float64) * X).sum((0, 2, 3)), rtol=1e-5)


@pytest.mark.parametrize("text, bottoms, match", [
    ('type: "Scale" scale_param { axis: 3 num_axes: 2 }', [X], "exceeds"),
    ('type: "Scale" scale_param { num_axes: -2 }', [X], "num_axes"),
    ('type: "Bias" bias_param { axis: 4 }', [X], "out of range"),
    ('type: "Scale"', [X, np.ones(4, np.float32)], "does not match"),
    ('type: "Bias"', [X, np.ones(3, np.float32), X], "at most 2 bottom"),
])
def test_errors_name_the_layer(text, bottoms, match):
    layer = make_layer(text)
    with pytest.raises(LayerError, match=match) as e:
        setup_layer(layer, bottoms)
    assert "layer 'test'" in str(e.value)


@needs_gpu
@pytest.mark.parametrize("text, shape, axis", LEARNED + SECOND_BOTTOM)
def test_gpu_parity(text, shape, axis):
    bottoms = [X] if (text, shape, axis) in LEARNED else [X, RNG.standard_normal(shape).astype(np.float32)]
    # Forward is one multiply-add per element on both devices; the sums run in double on both.
    gpu_parity(text, bottoms, rtol=1e-5, atol=1e-6)
