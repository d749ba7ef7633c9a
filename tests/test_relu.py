"""ReLU: forward with and without negative_slope, backward at the kink and by finite differences, in-place
use (Caffe's LRCN nets run it in place), GPU parity (skipped without a GPU)."""
import numpy as np
import pytest

from lrcn_native.blob import Blob
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

RNG = np.random.default_rng(11)
X = RNG.uniform(-3, 3, (2, 3, 4, 5)).astype(np.float32)
X.flat[::7] = 0.0  # exact zeros: the kink, where Caffe's gradient is negative_slope (x > 0 is false)
LEAKY = 'type: "ReLU" relu_param { negative_slope: 0.25 }'


def run(text, x, dy):
    layer = make_layer(text)
    bottom, top = setup_layer(layer, [x])
    y = forward(layer, bottom, top)[0]
    top[0].diff[...] = dy
    layer.backward(top, [True], bottom)
    return y, bottom[0].diff.copy()


@pytest.mark.parametrize("text, slope", [('type: "ReLU"', 0.0), (LEAKY, 0.25)])
def test_forward_and_backward_exact(text, slope):
    dy = RNG.uniform(-1, 1, X.shape).astype(np.float32)
    y, dx = run(text, X, dy)
    # Exact: one multiply by a power of two (or zero) per element, no rounding.
    np.testing.assert_array_equal(y, np.where(X > 0, X, X * np.float32(slope)))
    np.testing.assert_array_equal(dx, np.where(X > 0, dy, dy * np.float32(slope)))
    assert (dx[X == 0] == dy[X == 0] * np.float32(slope)).all() and (X == 0).sum() > 10


@pytest.mark.parametrize("text", ['type: "ReLU"', LEAKY])
def test_gradient_away_from_the_kink(text):
    # Finite differences are meaningless within a step of 0; keep |x| >= 0.1 > step.
    x = np.where(np.abs(X) < 0.1, 0.5, X).astype(np.float32)
    gradcheck(make_layer(text), [x])


@pytest.mark.parametrize("text", ['type: "ReLU"', LEAKY])
def test_in_place_matches(text):
    """In place the backward sees the top as its bottom; the sign (hence the gradient) is the same."""
    dy = RNG.uniform(-1, 1, X.shape).astype(np.float32)
    y, dx = run(text, X, dy)
    blob = Blob(*X.shape)
    blob.data[...] = X
    layer = make_layer(text)
    layer.setup([blob], [blob])
    layer.reshape([blob], [blob])
    layer.forward([blob], [blob])
    np.testing.assert_array_equal(blob.data, y)
    blob.diff[...] = dy
    layer.backward([blob], [True], [blob])
    np.testing.assert_array_equal(blob.diff, dx)


@needs_gpu
@pytest.mark.parametrize("text", ['type: "ReLU"', LEAKY])
def test_gpu_parity(text):
    # Bit-exact on both devices: no rounding happens (see test_forward_and_backward_exact).
    gpu_parity(text, [X], rtol=0, atol=0)
