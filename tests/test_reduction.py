"""Reduction: each operation and axis against float64, backward formulas by finite differences, errors,
GPU parity."""
import numpy as np
import pytest

from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

X = np.random.default_rng(21).standard_normal((2, 3, 4)).astype(np.float32)
X = np.where(np.abs(X) < 0.1, 0.5, X).astype(np.float32)  # ASUM's kink at 0, more than a step away
OPS = {"SUM": lambda x: x.sum(-1), "ASUM": lambda x: np.abs(x).sum(-1), "SUMSQ": lambda x: (x * x).sum(-1),
       "MEAN": lambda x: x.mean(-1)}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_forward_and_gradient(op, axis):
    text = f'type: "Reduction" reduction_param {{ operation: {op} axis: {axis} coeff: -1.5 }}'
    layer = make_layer(text)
    bottom, top = setup_layer(layer, [X])
    a = axis % 3
    expect = -1.5 * OPS[op](X.astype(np.float64).reshape(X.shape[:a] + (-1,)))
    y = forward(layer, bottom, top)[0]
    assert y.shape == X.shape[:a]
    np.testing.assert_allclose(y, expect, rtol=1e-5, atol=1e-6)  # float32 sums of ≤ 24 terms
    gradcheck(make_layer(text), [X])


def test_default_is_a_scalar_sum_and_numbered_operations():
    layer = make_layer('type: "Reduction" reduction_param { operation: 3 }')  # SUMSQ by number
    bottom, top = setup_layer(layer, [X])
    assert top[0].shape == ()
    np.testing.assert_allclose(forward(layer, bottom, top)[0], (X.astype(np.float64) ** 2).sum(), rtol=1e-5)
    with pytest.raises(LayerError, match="operation 0"):
        setup_layer(make_layer('type: "Reduction" reduction_param { operation: 0 }'), [X])


@needs_gpu
@pytest.mark.parametrize("op", OPS)
def test_gpu_parity(op):
    gpu_parity(f'type: "Reduction" reduction_param {{ operation: {op} axis: 1 }}', [X], rtol=1e-5, atol=1e-6)
