"""Sigmoid, TanH and Dropout: forward against float64 references, backward by finite differences, in-place
use, Dropout's mask statistics and reproducibility, GPU parity (skipped without a GPU)."""
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.blob import Blob
from lrcn_native.layer import TRAIN, LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

RNG = np.random.default_rng(7)
X = RNG.uniform(-5, 5, (2, 3, 4, 5)).astype(np.float32)


def run(text, x, phase=caffe.TEST):
    layer = make_layer(text, phase)
    bottom, top = setup_layer(layer, [x])
    return layer, bottom, top, forward(layer, bottom, top)[0]


def test_sigmoid_forward():
    y = run('type: "Sigmoid"', X)[3]
    ref = 1 / (1 + np.exp(-X.astype(np.float64)))
    # One float32 ulp: the kernel evaluates 0.5·tanh(0.5x) + 0.5 in double (as Caffe) and rounds once.
    np.testing.assert_allclose(y, ref, rtol=1.2e-7, atol=0)


def test_tanh_forward():
    y = run('type: "TanH"', X)[3]
    # Two float32 ulps: float tanh (glibc tanhf, CUDA tanhf) is accurate to ~1–2 ulp.
    np.testing.assert_allclose(y, np.tanh(X.astype(np.float64)), rtol=2.4e-7, atol=1e-12)


@pytest.mark.parametrize("kind", ["Sigmoid", "TanH"])
def test_gradient(kind):
    gradcheck(make_layer(f'type: "{kind}"'), [X * 0.5])


@pytest.mark.parametrize("kind", ["Sigmoid", "TanH"])
def test_in_place_matches(kind):
    """Backward reads the top, so an in-place layer (top is bottom) gives the same gradient."""
    dy = RNG.uniform(-1, 1, X.shape).astype(np.float32)
    layer, bottom, top, y = run(f'type: "{kind}"', X)
    top[0].diff[...] = dy
    layer.backward(top, [True], bottom)
    blob = Blob(*X.shape)
    blob.data[...] = X
    inplace = make_layer(f'type: "{kind}"')
    inplace.setup([blob], [blob])
    inplace.reshape([blob], [blob])
    inplace.forward([blob], [blob])
    np.testing.assert_array_equal(blob.data, y)
    blob.diff[...] = dy
    inplace.backward([blob], [True], [blob])
    np.testing.assert_array_equal(blob.diff, bottom[0].diff)


DROP = 'type: "Dropout" dropout_param { dropout_ratio: 0.3 }'


def test_dropout_test_phase_is_identity():
    layer, bottom, top, y = run(DROP, X)
    np.testing.assert_array_equal(y, X)
    dy = RNG.uniform(-1, 1, X.shape).astype(np.float32)
    top[0].diff[...] = dy
    layer.backward(top, [True], bottom)
    np.testing.assert_array_equal(bottom[0].diff, dy)


def test_dropout_train_mask_statistics_and_scale():
    caffe.set_random_seed(1)
    x = RNG.uniform(0.5, 2, 200_000).astype(np.float32)  # no zeros: kept ⇔ top ≠ 0
    layer, bottom, top, y = run(DROP, x, TRAIN)
    kept = y != 0
    scale = np.float32(1 / (1 - np.float32(0.3)))
    np.testing.assert_array_equal(y[kept], x[kept] * scale)
    # Binomial(n, 0.7): 5 standard deviations (≈ 0.005 here) bound the kept fraction.
    n = x.size
    assert abs(kept.mean() - 0.7) < 5 * np.sqrt(0.7 * 0.3 / n)
    # Backward uses the same mask: dx = dy·scale where kept, else 0.
    dy = RNG.uniform(-1, 1, n).astype(np.float32)
    top[0].diff[...] = dy
    layer.backward(top, [True], bottom)
    np.testing.assert_array_equal(bottom[0].diff, np.where(kept, dy * scale, 0))


def test_dropout_seeded_and_redrawn():
    caffe.set_random_seed(5)
    layer, bottom, top, y1 = run(DROP, X, TRAIN)
    y2 = forward(layer, bottom, top)[0]
    assert not np.array_equal(y1 != 0, y2 != 0), "each forward draws a new mask"
    caffe.set_random_seed(5)
    np.testing.assert_array_equal(run(DROP, X, TRAIN)[3], y1)  # same seed, same mask
    layer.freeze_mask = True
    y3 = forward(layer, bottom, top)[0]
    np.testing.assert_array_equal(forward(layer, bottom, top)[0], y3)


def test_dropout_gradient_train():
    layer = make_layer(DROP, TRAIN)
    layer.freeze_mask = True  # the checker's repeated forwards must see one mask
    gradcheck(layer, [X])


def test_dropout_in_place_train():
    caffe.set_random_seed(3)
    y = run(DROP, X, TRAIN)[3]
    caffe.set_random_seed(3)
    blob = Blob(*X.shape)
    blob.data[...] = X
    layer = make_layer(DROP, TRAIN)
    layer.setup([blob], [blob])
    layer.reshape([blob], [blob])
    layer.forward([blob], [blob])
    np.testing.assert_array_equal(blob.data, y)


def test_dropout_in_a_train_net(tmp_path):
    net_file = tmp_path / "net.prototxt"
    net_file.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1000 } } }\n'
                        'layer { name: "drop" type: "Dropout" bottom: "x" top: "x" }\n')
    net = caffe.Net(str(net_file), caffe.TRAIN)
    net.blobs["x"].data[...] = 1
    out = net.forward()["x"]
    assert set(np.unique(out)) == {0, 2}


@pytest.mark.parametrize("ratio", ["1", "-0.1", "1.5"])
def test_dropout_bad_ratio(ratio):
    with pytest.raises(LayerError, match="dropout_ratio"):
        setup_layer(make_layer(f'type: "Dropout" dropout_param {{ dropout_ratio: {ratio} }}'), [X])


@needs_gpu
@pytest.mark.parametrize("kind", ["Sigmoid", "TanH"])
def test_gpu_parity(kind):
    # Sigmoid: both devices compute in double and round; TanH: tanhf on each side, ≤ 2 ulp apart.
    gpu_parity(f'type: "{kind}"', [X], rtol=3e-7, atol=1e-7)


@needs_gpu
def test_dropout_gpu_parity_bit_exact():
    """The mask comes from (seed, index), so one seed gives one mask on both devices."""
    results = []
    for gpu in (False, True):
        caffe.set_random_seed(11)
        (caffe.set_mode_gpu if gpu else caffe.set_mode_cpu)()
        try:
            layer, bottom, top, y = run(DROP, X, TRAIN)
            top[0].diff[...] = X
            layer.backward(top, [True], bottom)
            results.append((y, bottom[0].diff.copy()))
        finally:
            caffe.set_mode_cpu()
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
