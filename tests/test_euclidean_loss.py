"""EuclideanLoss: loss against float64, both bottoms' gradients by finite differences and scaled by the
loss weight, shape errors, GPU parity."""
import numpy as np
import pytest

from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

RNG = np.random.default_rng(18)
A = RNG.standard_normal((4, 3, 2)).astype(np.float32)
B = RNG.standard_normal((4, 6)).astype(np.float32)  # same count per item: Caffe compares counts


def test_loss_and_weighted_gradient():
    layer = make_layer('type: "EuclideanLoss"')
    bottom, top = setup_layer(layer, [A, B])
    d = A.reshape(4, 6).astype(np.float64) - B
    np.testing.assert_allclose(forward(layer, bottom, top)[0], (d ** 2).sum() / 4 / 2, rtol=1e-6)
    top[0].diff[...] = 3.0  # a loss weight of 3
    layer.backward(top, [True, True], bottom)
    np.testing.assert_allclose(bottom[0].diff.reshape(4, 6), 3 * d / 4, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(bottom[1].diff, -3 * d / 4, rtol=1e-6, atol=1e-7)


def test_gradient():
    gradcheck(make_layer('type: "EuclideanLoss"'), [A, B])


@pytest.mark.parametrize("b", [np.zeros((3, 6), np.float32), np.zeros((4, 5), np.float32)])
def test_shape_errors(b):
    with pytest.raises(LayerError, match="same first dimension and count"):
        setup_layer(make_layer('type: "EuclideanLoss"'), [A, b])


@needs_gpu
def test_gpu_parity():
    gpu_parity('type: "EuclideanLoss"', [A, B], rtol=1e-5, atol=1e-6)
