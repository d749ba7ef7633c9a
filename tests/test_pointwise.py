"""AbsVal, BNLL, ELU, Exp, Log, Power, Threshold (csrc/layers/pointwise.*): forward and backward against float64
formulas, gradients by finite differences, in place, Caffe's special cases and errors, GPU parity."""
import numpy as np
import pytest

from lrcn_native.blob import Blob
from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

RNG = np.random.default_rng(16)
X = RNG.uniform(-3, 3, (2, 3, 4, 5)).astype(np.float32)
X = np.where(np.abs(X) < 0.1, 0.5, X).astype(np.float32)  # away from kinks (AbsVal, ELU) by more than a step
POS = RNG.uniform(0.5, 3, (2, 3, 4, 5)).astype(np.float32)  # Log's and fractional Power's domain

# (layer text, input, float64 forward, float64 derivative dy/dx)
CASES = [
    ('type: "AbsVal"', X, np.abs, np.sign),
    ('type: "BNLL"', X * 10, lambda x: np.logaddexp(0, x), lambda x: 1 / (1 + np.exp(-x))),
    ('type: "ELU"', X, lambda x: np.where(x > 0, x, np.expm1(x)), lambda x: np.where(x > 0, 1, np.exp(x))),
    ('type: "ELU" elu_param { alpha: 0.3 }', X, lambda x: np.where(x > 0, x, 0.3 * np.expm1(x)),
     lambda x: np.where(x > 0, 1, 0.3 * np.exp(x))),
    ('type: "Exp"', X, np.exp, np.exp),
    ('type: "Exp" exp_param { base: 2 scale: 0.5 shift: 1 }', X, lambda x: 2 ** (1 + 0.5 * x),
     lambda x: 2 ** (1 + 0.5 * x) * 0.5 * np.log(2)),
    ('type: "Log"', POS, np.log, lambda x: 1 / x),
    ('type: "Log" log_param { base: 10 scale: 2 shift: 0.5 }', POS, lambda x: np.log10(0.5 + 2 * x),
     lambda x: 2 / ((0.5 + 2 * x) * np.log(10))),
    ('type: "Power"', X, lambda x: x, lambda x: np.ones_like(x)),
    ('type: "Power" power_param { power: 2 scale: 0.5 shift: -1 }', X, lambda x: (0.5 * x - 1) ** 2,
     lambda x: 2 * 0.5 * (0.5 * x - 1)),
    ('type: "Power" power_param { power: 0.5 scale: 2 }', POS, lambda x: np.sqrt(2 * x),
     lambda x: 0.5 * 2 / np.sqrt(2 * x)),
    ('type: "Power" power_param { power: -1.5 scale: 1.5 shift: 0.5 }', POS, lambda x: (0.5 + 1.5 * x) ** -1.5,
     lambda x: -1.5 * 1.5 * (0.5 + 1.5 * x) ** -2.5),
    ('type: "Power" power_param { power: 3 scale: 0 shift: 2 }', X, lambda x: np.full_like(x, 8.0),
     np.zeros_like),
]
IDS = [c[0] for c in CASES]


def run(text, x, dy, in_place=False):
    layer = make_layer(text)
    blob = Blob(*x.shape)
    blob.data[...] = x
    top = blob if in_place else Blob()
    layer.setup([blob], [top])
    layer.reshape([blob], [top])
    layer.forward([blob], [top])
    y = top.data.copy()
    top.diff[...] = dy
    layer.backward([top], [True], [blob])
    return y, blob.diff.copy()


@pytest.mark.parametrize("text, x, f, df", CASES, ids=IDS)
def test_forward_backward_against_float64(text, x, f, df):
    dy = RNG.uniform(-1, 1, x.shape).astype(np.float32)
    y, dx = run(text, x, dy)
    x64 = x.astype(np.float64)
    # float32 libm functions (≤ a few ulp) and a handful of roundings: 1e-5 relative.
    np.testing.assert_allclose(y, f(x64), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, dy * df(x64), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("text, x, f, df", CASES, ids=IDS)
def test_gradient(text, x, f, df):
    gradcheck(make_layer(text), [x])


@pytest.mark.parametrize("text, x, f, df", CASES, ids=IDS)
def test_in_place_matches(text, x, f, df):
    """Backward needs the bottom for most of these: in place, the layer keeps a copy."""
    dy = RNG.uniform(-1, 1, x.shape).astype(np.float32)
    y, dx = run(text, x, dy)
    y1, dx1 = run(text, x, dy, in_place=True)
    np.testing.assert_array_equal(y1, y)
    np.testing.assert_array_equal(dx1, dx)


def test_threshold_and_its_missing_backward():
    layer = make_layer('type: "Threshold" threshold_param { threshold: 0.5 }')
    x = np.float32([[0.4, 0.5, 0.6, -1]])
    bottom, top = setup_layer(layer, [x])
    np.testing.assert_array_equal(forward(layer, bottom, top)[0], [[0, 0, 1, 0]])
    with pytest.raises(LayerError, match="cannot backpropagate"):
        layer.backward(top, [True], bottom)
    layer.backward(top, [False], bottom)  # nothing asked: fine


def test_caffe_special_cases():
    # BNLL stays finite where the naive log(1 + eˣ) overflows; its derivative clamps x at 50.
    y, dx = run('type: "BNLL"', np.float32([[-200, 200]]), np.float32([[1, 1]]))
    np.testing.assert_allclose(y, [[0, 200]], atol=1e-30)
    np.testing.assert_allclose(dx, [[0, 1]])
    # AbsVal's gradient at exactly 0 is 0; Power with power 0 is the constant 1.
    assert run('type: "AbsVal"', np.float32([[0.0]]), np.float32([[1.0]]))[1].tolist() == [[0.0]]
    y, dx = run('type: "Power" power_param { power: 0 }', X, X)
    assert (y == 1).all() and (dx == 0).all()


@pytest.mark.parametrize("text, match", [('type: "Exp" exp_param { base: -2 }', "base must be positive"),
                                         ('type: "Log" log_param { base: 0 }', "base must be positive")])
def test_errors(text, match):
    with pytest.raises(LayerError, match=match):
        setup_layer(make_layer(text), [X])


@needs_gpu
@pytest.mark.parametrize("text, x, f, df", CASES, ids=IDS)
def test_gpu_parity(text, x, f, df):
    # The same formula on both devices, but CUDA's expf/logf/powf differ from glibc's by an ulp or two.
    gpu_parity(text, [x], rtol=1e-5, atol=1e-6)
