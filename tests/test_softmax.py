"""Softmax: forward vs a float64 reference along several axes, numerical stability with large logits,
in-place use, finite-difference gradients, bad axes, GPU parity."""
import numpy as np
import pytest

from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer


def ref_softmax(x, axis):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def run(x, axis=None):
    param = "" if axis is None else f"softmax_param {{ axis: {axis} }}"
    layer = make_layer(f'type: "Softmax" {param}')
    bottom, top = setup_layer(layer, [x])
    return forward(layer, bottom, top)[0]


@pytest.mark.parametrize("axis", [0, 1, 2, -1, None])
def test_forward_matches_reference(axis):
    x = np.random.default_rng(1).normal(0, 3, (3, 4, 5, 2)).astype(np.float32)
    y = run(x, axis)
    # float32 exp and sum over ≤ 5 terms vs float64: a few ulps of values ≤ 1.
    np.testing.assert_allclose(y, ref_softmax(x, 1 if axis is None else axis), rtol=1e-5, atol=1e-7)


def test_many_channels():
    x = np.random.default_rng(2).normal(0, 2, (7, 1000)).astype(np.float32)
    # float32 sum of 1000 terms: relative error ≲ 1000·6e-8 in the worst case, far less in practice.
    np.testing.assert_allclose(run(x), ref_softmax(x, 1), rtol=1e-5, atol=1e-9)


def test_large_logits_are_stable():
    x = np.zeros((4, 3, 6), np.float32)
    x[0, 0] = [100, 90, -50, 0, 1, 2]  # the golden net's row: exp(100) overflows float32 without the max shift
    x[1, 2] = [1e30, -1e30, 0, 5, 5, 5]
    y = run(x, 2)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, ref_softmax(x, 2), rtol=1e-5, atol=1e-30)  # float32 ulps, tiny values kept
    assert y[1, 2, 0] == 1.0 and y[1, 2, 1] == 0.0


def test_in_place():
    x = np.random.default_rng(3).normal(size=(2, 5, 3)).astype(np.float32)
    layer = make_layer('type: "Softmax"')
    (b,), _ = setup_layer(layer, [x])
    layer.forward([b], [b])
    expect = ref_softmax(x, 1)
    np.testing.assert_allclose(b.data, expect, rtol=1e-5, atol=1e-7)  # as above
    dy = np.random.default_rng(4).normal(size=x.shape).astype(np.float32)
    b.diff[...] = dy
    layer.backward([b], [True], [b])
    dx = expect * (dy - (dy * expect).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(b.diff, dx, rtol=1e-4, atol=1e-6)  # float32 dot products of 5 terms


@pytest.mark.parametrize("axis", [1, 2, -3])
def test_gradient(axis):
    x = np.random.default_rng(5).normal(0, 2, (3, 4, 5)).astype(np.float32)
    gradcheck(make_layer(f'type: "Softmax" softmax_param {{ axis: {axis} }}'), [x])


@pytest.mark.parametrize("axis", [3, -4])
def test_bad_axis(axis):
    layer = make_layer(f'type: "Softmax" softmax_param {{ axis: {axis} }}')
    with pytest.raises(LayerError, match="axis"):
        setup_layer(layer, [np.zeros((2, 3, 4), np.float32)])


@needs_gpu
@pytest.mark.parametrize("shape,axis", [((3, 4, 5, 2), 1), ((6, 2, 1000), 2), ((5, 37), -1)])
def test_gpu_parity(shape, axis):
    x = np.random.default_rng(6).normal(0, 3, shape).astype(np.float32)
    # expf and the warp's summation order differ from the CPU's by a few ulps.
    gpu_parity(f'type: "Softmax" softmax_param {{ axis: {axis} }}', [x], rtol=1e-5, atol=1e-7)
