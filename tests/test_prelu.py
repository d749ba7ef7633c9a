"""PReLU: forward and backward against float64 per-channel slopes (and channel_shared), gradients of the
bottom and the slopes by finite differences, accumulation of the slope diff, in place, GPU parity."""
import numpy as np
import pytest

from lrcn_native.blob import Blob
from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

RNG = np.random.default_rng(17)
X = RNG.uniform(-3, 3, (2, 3, 4, 5)).astype(np.float32)
X = np.where(np.abs(X) < 0.1, 0.5, X).astype(np.float32)  # away from the kink by more than a step
SLOPES = 'filler { type: "uniform" min: -0.5 max: 0.8 }'
TEXTS = [f'type: "PReLU" prelu_param {{ {SLOPES} }}', f'type: "PReLU" prelu_param {{ channel_shared: true {SLOPES} }}']


@pytest.mark.parametrize("text", TEXTS)
def test_forward_backward_against_float64(text):
    layer = make_layer(text)
    bottom, top = setup_layer(layer, [X])
    a = layer.blobs[0].data.astype(np.float64)
    a = a.reshape(1, -1, 1, 1) if a.size == 3 else a.reshape(1, 1, 1, 1)
    y = forward(layer, bottom, top)[0]
    x = X.astype(np.float64)
    np.testing.assert_allclose(y, np.where(x > 0, x, a * x), rtol=1e-6)  # one rounding
    dy = RNG.uniform(-1, 1, X.shape).astype(np.float32)
    top[0].diff[...] = dy
    layer.blobs[0].diff[...] = 0
    layer.backward(top, [True], bottom)
    np.testing.assert_allclose(bottom[0].diff, np.where(x > 0, dy, a * dy), rtol=1e-6)
    da = (dy * np.minimum(x, 0)).sum((0, 2, 3) if layer.blobs[0].count == 3 else None)
    np.testing.assert_allclose(layer.blobs[0].diff.ravel(), np.ravel(da), rtol=1e-5)
    layer.backward(top, [True], bottom)  # parameter diffs accumulate, as in Caffe
    np.testing.assert_allclose(layer.blobs[0].diff.ravel(), 2 * np.ravel(da), rtol=1e-5)


@pytest.mark.parametrize("text", TEXTS)
def test_gradient(text):
    gradcheck(make_layer(text), [X])


def test_default_slope_in_place_and_errors():
    layer = make_layer('type: "PReLU"')
    bottom, top = setup_layer(layer, [X])
    assert layer.blobs[0].shape == (3,) and (layer.blobs[0].data == np.float32(0.25)).all()
    y = forward(layer, bottom, top)[0]
    top[0].diff[...] = 1
    layer.backward(top, [True], bottom)
    blob = Blob(*X.shape)
    blob.data[...] = X
    same = make_layer('type: "PReLU"')
    same.setup([blob], [blob])
    same.param_propagate_down = [True]
    same.reshape([blob], [blob])
    same.forward([blob], [blob])
    np.testing.assert_array_equal(blob.data, y)
    blob.diff[...] = 1
    same.backward([blob], [True], [blob])
    np.testing.assert_array_equal(blob.diff, bottom[0].diff)
    np.testing.assert_array_equal(same.blobs[0].diff, layer.blobs[0].diff)
    with pytest.raises(LayerError, match="at least 2 axes"):
        setup_layer(make_layer('type: "PReLU"'), [np.zeros(4, np.float32)])
    with pytest.raises(LayerError, match="channels"):
        layer.reshape([Blob(2, 4, 5)], [Blob()])


@needs_gpu
@pytest.mark.parametrize("text", TEXTS)
def test_gpu_parity(text):
    # Elementwise products are exact matches; the slope sums run in double on both devices.
    gpu_parity(text, [X], rtol=1e-5, atol=1e-6)
