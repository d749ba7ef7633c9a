"""LRN: forward against a naive float64 loop (both regions, non-default k and β, windows wider than the
channel axis), backward by finite differences, errors, GPU parity. Caffe parity: tests/golden/lrn."""
import numpy as np
import pytest

from lrcn_native.blob import Blob
from lrcn_native.layer import LayerError
from util import gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer


def ref_lrn(x, n, alpha, beta, k, region):
    x = x.astype(np.float64)
    N, C, H, W = x.shape
    half = n // 2
    scale = np.empty_like(x)
    if region == "ACROSS_CHANNELS":
        for c in range(C):
            lo, hi = max(c - half, 0), min(c + half + 1, C)
            scale[:, c] = k + alpha / n * (x[:, lo:hi] ** 2).sum(1)
    else:  # zero-padded n×n window, divisor n² everywhere, k ignored (Caffe)
        for h in range(H):
            for w in range(W):
                win = x[:, :, max(h - half, 0):h + half + 1, max(w - half, 0):w + half + 1]
                scale[:, :, h, w] = 1 + alpha / n**2 * (win ** 2).sum((2, 3))
    return x * scale ** -beta


def lrn_text(region, n, alpha, beta, k):
    return (f'type: "LRN" lrn_param {{ norm_region: {region} local_size: {n} alpha: {alpha} beta: {beta} '
            f'k: {k} }}')


# (region, local_size, alpha, beta, k, bottom shape): CaffeNet's parameters, strong normalisation
# (α = 1), β ≠ 0.75 (the generic power path), k ≠ 1, a window wider than the channel axis, local_size 1.
PARAMS = [
    ("ACROSS_CHANNELS", 5, 1e-4, 0.75, 1.0, (2, 7, 5, 5)),
    ("ACROSS_CHANNELS", 5, 1.0, 0.75, 2.0, (2, 7, 3, 4)),
    ("ACROSS_CHANNELS", 3, 0.5, 0.6, 0.5, (2, 6, 3, 3)),
    ("ACROSS_CHANNELS", 9, 2.0, 0.75, 1.5, (1, 4, 3, 5)),
    ("ACROSS_CHANNELS", 1, 1.0, 1.0, 1.0, (1, 3, 2, 3)),
    ("WITHIN_CHANNEL", 3, 1e-3, 0.75, 1.0, (2, 7, 5, 5)),
    ("WITHIN_CHANNEL", 3, 1.0, 0.75, 5.0, (2, 3, 4, 6)),
    ("WITHIN_CHANNEL", 5, 2.0, 0.4, 1.0, (1, 2, 3, 7)),
]


@pytest.mark.parametrize("region,n,alpha,beta,k,shape", PARAMS)
def test_forward_vs_reference(region, n, alpha, beta, k, shape):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32) * 2
    layer = make_layer(lrn_text(region, n, alpha, beta, k))
    bottom, top = setup_layer(layer, [x])
    layer.forward(bottom, top)
    # float32 scale and power (a few ulp) vs float64
    np.testing.assert_allclose(top[0].data, ref_lrn(x, n, alpha, beta, k, region), rtol=2e-6, atol=1e-7)


def test_defaults():
    # local_size 5, alpha 1, beta 0.75, k 1, ACROSS_CHANNELS.
    x = np.random.default_rng(2).standard_normal((1, 8, 3, 3)).astype(np.float32)
    layer = make_layer('type: "LRN"')
    bottom, top = setup_layer(layer, [x])
    layer.forward(bottom, top)
    np.testing.assert_allclose(top[0].data, ref_lrn(x, 5, 1.0, 0.75, 1.0, "ACROSS_CHANNELS"), rtol=2e-6, atol=1e-7)


def test_many_channels_no_drift():
    # 256 channels whose magnitudes jump by 10^3: a float sliding sum would keep the rounding error of
    # the large squares after they leave the window; accumulating in double keeps float32 accuracy.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 256, 2, 3)).astype(np.float32)
    x[:, ::16] *= 1000
    layer = make_layer(lrn_text("ACROSS_CHANNELS", 5, 1.0, 0.75, 1e-3))
    bottom, top = setup_layer(layer, [x])
    layer.forward(bottom, top)
    np.testing.assert_allclose(top[0].data, ref_lrn(x, 5, 1.0, 0.75, 1e-3, "ACROSS_CHANNELS"), rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("region,n,alpha,beta,k,shape", PARAMS[1:5] + PARAMS[6:])
def test_gradcheck(region, n, alpha, beta, k, shape):
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    gradcheck(make_layer(lrn_text(region, n, alpha, beta, k)), [x])


@pytest.mark.parametrize("text,match", [
    ('type: "LRN" lrn_param { local_size: 4 }', "odd"),
    ('type: "LRN" lrn_param { local_size: 0 }', "odd"),
    ('type: "LRN" lrn_param { norm_region: ACROSS }', "ACROSS_CHANNELS, WITHIN_CHANNEL"),
])
def test_bad_parameters(text, match):
    with pytest.raises(Exception, match=match):
        setup_layer(make_layer(text), [np.zeros((1, 3, 2, 2), np.float32)])


def test_bad_shapes():
    with pytest.raises(LayerError, match="4-axis"):
        setup_layer(make_layer('type: "LRN"'), [np.zeros((3, 2, 2), np.float32)])
    b = Blob(1, 3, 2, 2)
    with pytest.raises(LayerError, match="in place"):
        make_layer('type: "LRN"').setup([b], [b])


@needs_gpu
@pytest.mark.parametrize("region,n,alpha,beta,k,shape", PARAMS)
def test_gpu_parity(region, n, alpha, beta, k, shape):
    x = np.random.default_rng(5).standard_normal(shape).astype(np.float32) * 2
    # Same double window sums; CUDA's powf may differ from glibc's by an ulp (β ≠ 0.75).
    gpu_parity(lrn_text(region, n, alpha, beta, k), [x], rtol=1e-6, atol=1e-7)
