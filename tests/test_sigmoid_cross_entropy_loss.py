"""SigmoidCrossEntropyLoss: loss against float64 cross-entropy for each normalisation and ignore_label,
stability at large |x|, gradient by finite differences and scaled by the loss weight, errors, GPU parity."""
import numpy as np
import pytest

from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

RNG = np.random.default_rng(23)
X = RNG.uniform(-4, 4, (4, 6)).astype(np.float32)
T = RNG.uniform(0, 1, (4, 6)).astype(np.float32)
T_IGNORE = np.where(RNG.random((4, 6)) < 0.3, -1, (T > 0.5)).astype(np.float32)


def cross_entropy(x, t):
    x, t = x.astype(np.float64), t.astype(np.float64)
    return -(t * -np.logaddexp(0, -x) + (1 - t) * -np.logaddexp(0, x))


@pytest.mark.parametrize("param, normaliser", [("", 4), ("normalization: FULL", 24), ("normalization: NONE", 1),
                                               ("normalize: false", 4)])
def test_loss_and_gradient(param, normaliser):
    text = f'type: "SigmoidCrossEntropyLoss" loss_param {{ {param} }}'
    layer = make_layer(text)
    bottom, top = setup_layer(layer, [X, T])
    np.testing.assert_allclose(forward(layer, bottom, top)[0], cross_entropy(X, T).sum() / normaliser, rtol=1e-5)
    top[0].diff[...] = 2.0  # loss weight
    layer.backward(top, [True, False], bottom)
    sigmoid = 1 / (1 + np.exp(-X.astype(np.float64)))
    np.testing.assert_allclose(bottom[0].diff, 2 * (sigmoid - T) / normaliser, rtol=1e-5, atol=1e-7)
    gradcheck(make_layer(text), [X, T], check_bottoms=[0])


def test_ignore_label_and_valid_normalisation():
    text = 'type: "SigmoidCrossEntropyLoss" loss_param { ignore_label: -1 normalization: VALID }'
    layer = make_layer(text)
    bottom, top = setup_layer(layer, [X, T_IGNORE])
    keep = T_IGNORE != -1
    expect = cross_entropy(X[keep], T_IGNORE[keep]).sum() / keep.sum()
    np.testing.assert_allclose(forward(layer, bottom, top)[0], expect, rtol=1e-5)
    top[0].diff[...] = 1
    layer.backward(top, [True, False], bottom)
    assert (bottom[0].diff[~keep] == 0).all() and (bottom[0].diff[keep] != 0).all()
    gradcheck(make_layer(text), [X, T_IGNORE], check_bottoms=[0])


def test_stable_at_large_scores():
    layer = make_layer('type: "SigmoidCrossEntropyLoss"')
    bottom, top = setup_layer(layer, [np.float32([[200, -200]]), np.float32([[0, 1]])])
    np.testing.assert_allclose(forward(layer, bottom, top)[0], 400, rtol=1e-6)


def test_errors():
    with pytest.raises(LayerError, match="same first dimension and count"):
        setup_layer(make_layer('type: "SigmoidCrossEntropyLoss"'), [X, T[:3]])
    layer = make_layer('type: "SigmoidCrossEntropyLoss"')
    bottom, top = setup_layer(layer, [X, T])
    forward(layer, bottom, top)
    with pytest.raises(LayerError, match="targets"):
        layer.backward(top, [True, True], bottom)


@needs_gpu
def test_gpu_parity():
    gpu_parity('type: "SigmoidCrossEntropyLoss" loss_param { ignore_label: -1 }', [X, T_IGNORE],
               propagate=[True, False], rtol=1e-5, atol=1e-6)
