"""Eltwise PROD / SUM / MAX: forward against float64 references, backward by finite differences and
against the closed forms (MAX routing with ties, PROD with a zero factor), parameter and shape errors,
GPU parity (skipped without a GPU)."""
import numpy as np
import pytest

from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

RNG = np.random.default_rng(3)
SHAPE = (2, 3, 4)
A, B, C = (RNG.uniform(-2, 2, SHAPE).astype(np.float32) for _ in range(3))
# Distinct values at least 0.05 apart across the three bottoms: the checker's ±0.01 steps never change
# which bottom wins, so MAX is differentiable at every checked point.
A_, B_, C_ = (RNG.permutation(3 * A.size).reshape(3, *SHAPE) * 0.05 - 1.8).astype(np.float32)


def run(text, bottoms):
    layer = make_layer(f'type: "Eltwise" eltwise_param {{ {text} }}')
    bottom, top = setup_layer(layer, bottoms)
    return layer, bottom, top, forward(layer, bottom, top)[0]


def backward(layer, bottom, top, dy, propagate=None):
    top[0].diff[...] = dy
    layer.backward(top, propagate or [True] * len(bottom), bottom)
    return [b.diff.copy() for b in bottom]


def f64(*xs):
    return [x.astype(np.float64) for x in xs]


def test_sum():
    a, b = f64(A, B)
    # Each element is one float32 rounding of a·1 + b·1 (products exact): half an ulp of the result.
    np.testing.assert_allclose(run("operation: SUM", [A, B])[3], a + b, rtol=6e-8, atol=1e-7)


def test_sum_is_the_default_and_coeff():
    a, b, c = f64(A, B, C)
    y = run("coeff: 1 coeff: -0.5 coeff: 2", [A, B, C])[3]
    # Two float32 roundings of sums of exact products (±0.5·b, 2·c are exact): ≤ 1 ulp of |terms|.
    np.testing.assert_allclose(y, a - 0.5 * b + 2 * c, rtol=0, atol=1e-6)


def test_prod():
    a, b, c = f64(A, B, C)
    # Two float32 roundings: ≤ 2 half-ulps relative.
    np.testing.assert_allclose(run("operation: PROD", [A, B, C])[3], a * b * c, rtol=1.2e-7, atol=0)


def test_max_with_ties():
    a, b, c = A.copy(), B.copy(), C.copy()
    b.flat[:5] = a.flat[:5]                   # b_0 ties b_1: Caffe gives it to bottom 1
    c.flat[:3] = -10                          # ... and c loses there
    c.flat[3:8] = np.maximum(a, b).flat[3:8]  # c ties the running max: the earlier winner keeps it
    c.flat[10] = 10                           # c wins outright
    layer, bottom, top, y = run("operation: MAX", [a, b, c])
    np.testing.assert_array_equal(y, np.maximum(np.maximum(a, b), c))
    winner = np.where(a > b, 0, 1)
    winner = np.where(c > np.maximum(a, b), 2, winner)
    assert winner.flat[10] == 2 and (winner.flat[:5] == 1).all()
    dy = RNG.uniform(-1, 1, SHAPE).astype(np.float32)
    for i, dx in enumerate(backward(layer, bottom, top, dy)):
        np.testing.assert_array_equal(dx, np.where(winner == i, dy, 0), err_msg=f"bottom {i}")


@pytest.mark.parametrize("text, bottoms", [
    ("operation: SUM", [A, B]),
    ("operation: SUM coeff: 0.5 coeff: -2 coeff: 3", [A, B, C]),
    ("operation: PROD", [A, B, C]),
    ("operation: PROD stable_prod_grad: false", [A, B, C]),
    ("operation: MAX", [A_, B_, C_]),
])
def test_gradient(text, bottoms):
    gradcheck(make_layer(f'type: "Eltwise" eltwise_param {{ {text} }}'), bottoms)


def test_prod_gradient_with_a_zero_factor():
    """stable_prod_grad multiplies the other bottoms, so a zero in b_i still gives the right dx_i;
    top / b_i would give 0/0."""
    a, b, c = A.copy(), B.copy(), C.copy()
    a.flat[0] = 0
    dy = RNG.uniform(-1, 1, SHAPE).astype(np.float32)
    layer, bottom, top, _ = run("operation: PROD", [a, b, c])
    dx = backward(layer, bottom, top, dy)
    np.testing.assert_array_equal(dx[0], dy * (b * c))
    np.testing.assert_array_equal(dx[1], dy * (a * c))
    layer, bottom, top, _ = run("operation: PROD stable_prod_grad: false", [a, b, c])
    assert np.isnan(backward(layer, bottom, top, dy)[0].flat[0])


def test_propagate_down_subset():
    layer, bottom, top, _ = run("operation: SUM coeff: 2 coeff: 3", [A, B])
    bottom[0].diff[...] = 7
    dy = np.ones(SHAPE, np.float32)
    dx = backward(layer, bottom, top, dy, [False, True])
    np.testing.assert_array_equal(dx[0], 7)  # untouched
    np.testing.assert_array_equal(dx[1], 3)


@pytest.mark.parametrize("text, bottoms, match", [
    ("coeff: 1 coeff: 2", [A, B, C], "one coeff per bottom: 2 coeff"),
    ("operation: PROD coeff: 1 coeff: 2", [A, B], "only for operation SUM"),
    ("operation: SUM", [A, B[:, :2]], r"bottom 1 has shape \(2, 2, 4\) but bottom 0 has \(2, 3, 4\)"),
    ("operation: MAX", [A, B, C.reshape(6, 4)], r"bottom 2 has shape \(6, 4\)"),
    ("operation: SUM", [A], "at least 2 bottom"),
])
def test_errors(text, bottoms, match):
    layer = make_layer(f'type: "Eltwise" eltwise_param {{ {text} }}')
    with pytest.raises(LayerError, match=match):
        setup_layer(layer, bottoms)


@needs_gpu
@pytest.mark.parametrize("text, bottoms", [
    ("operation: SUM coeff: 0.5 coeff: -2 coeff: 3", [A, B, C]),
    ("operation: PROD", [A, B, C]),
    ("operation: PROD stable_prod_grad: false", [A, B, C]),
    ("operation: MAX", [A, B, C]),
])
def test_gpu_parity(text, bottoms):
    # Same float operations in the same order on both devices: equal up to FMA contraction choices.
    gpu_parity(f'type: "Eltwise" eltwise_param {{ {text} }}', bottoms, rtol=1e-6, atol=1e-7)
