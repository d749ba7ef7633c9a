"""BatchNorm: batch statistics and Caffe's running sums (three blobs, the scale factor), global statistics
(the TEST default), gradients by finite differences, in place, the lr_mult masking; and a ResNet-like net
(Convolution → BatchNorm → Scale → ReLU in place, identity shortcut) forward and backward."""
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.blob import Blob
from lrcn_native.layer import TEST, TRAIN, LayerError
from lrcn_native.proto.text import parse
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

RNG = np.random.default_rng(15)
X = (RNG.standard_normal((4, 3, 2, 5)) * 2 + 1).astype(np.float32)


def batch_stats(x):
    """float64 mean and biased variance per channel (axis 1), over every other axis."""
    axes = (0,) + tuple(range(2, x.ndim))
    x = x.astype(np.float64)
    return x.mean(axes), x.var(axes)


def channel(v, ndim):
    return v.reshape((1, -1) + (1,) * (ndim - 2))


@pytest.mark.parametrize("shape", [(4, 3, 2, 5), (6, 3)])
def test_batch_statistics_and_running_sums(shape):
    x = RNG.standard_normal(shape).astype(np.float32) * 3 + 2
    layer = make_layer('type: "BatchNorm" batch_norm_param { moving_average_fraction: 0.5 eps: 0.01 }', TRAIN)
    bottom, top = setup_layer(layer, [x])
    mean, var = batch_stats(x)
    y = forward(layer, bottom, top)[0]
    # float32 statistics of ≤ 40 terms, then one normalisation: well within 1e-5.
    np.testing.assert_allclose(y, (x - channel(mean, x.ndim)) / np.sqrt(channel(var, x.ndim) + 0.01),
                               rtol=1e-5, atol=1e-5)
    m = x.size // shape[1]
    np.testing.assert_allclose(layer.blobs[0].data, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.blobs[1].data, var * m / (m - 1), rtol=1e-5)
    assert layer.blobs[2].data.tolist() == [1.0]
    forward(layer, bottom, top)  # s ← 0.5·s + 1, sums ← 0.5·sums + batch value
    assert layer.blobs[2].data.tolist() == [1.5]
    np.testing.assert_allclose(layer.blobs[0].data, 1.5 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.blobs[1].data, 1.5 * var * m / (m - 1), rtol=1e-5)


def test_global_statistics_divide_by_the_scale_factor():
    """TEST phase default: statistics are blobs[0]/s and blobs[1]/s; s = 0 means zero statistics."""
    mean, var, s = np.float32([1, -2, 3]), np.float32([4, 0.5, 2]), np.float32(2.5)
    layer = make_layer('type: "BatchNorm"', TEST)
    bottom, top = setup_layer(layer, [X])
    np.testing.assert_allclose(forward(layer, bottom, top)[0], X / np.sqrt(np.float32(1e-5)), rtol=1e-6)
    layer.blobs[0].data[...], layer.blobs[1].data[...], layer.blobs[2].data[...] = mean, var, s
    y = forward(layer, bottom, top)[0]
    expect = (X - channel(mean / s, 4)) / np.sqrt(channel(var / s, 4) + 1e-5)
    np.testing.assert_allclose(y, expect, rtol=1e-5, atol=1e-5)
    assert layer.blobs[2].data.tolist() == [2.5]  # global statistics are not updated
    # use_global_stats overrides the phase either way.
    for text, phase, expect in [('type: "BatchNorm" batch_norm_param { use_global_stats: true }', TRAIN, True),
                                ('type: "BatchNorm" batch_norm_param { use_global_stats: false }', TEST, False)]:
        layer = make_layer(text, phase)
        setup_layer(layer, [X])
        assert layer.use_global_stats == expect


@pytest.mark.parametrize("phase", [TRAIN, TEST])
def test_gradient(phase):
    layer = make_layer('type: "BatchNorm"', phase)
    if phase == TEST:  # nontrivial global statistics
        setup_layer(layer, [X])
        layer.blobs[0].data[...], layer.blobs[1].data[...], layer.blobs[2].data[...] = [1, 2, 3], [1, 2, 3], 2
    gradcheck(layer, [X], check_params=False)


def test_in_place_matches():
    """In place, and followed by an in-place layer that overwrites the top before backward (ResNet's Scale)."""
    dy = RNG.standard_normal(X.shape).astype(np.float32)
    results = []
    for in_place in (False, True):
        layer = make_layer('type: "BatchNorm"', TRAIN)
        blob = Blob(*X.shape)
        blob.data[...] = X
        top = blob if in_place else Blob()
        layer.setup([blob], [top])
        layer.reshape([blob], [top])
        layer.forward([blob], [top])
        y = top.data.copy()
        if in_place:
            top.data[...] = 0  # what a following in-place layer (Scale, ReLU) may do before backward
        top.diff[...] = dy
        layer.backward([top], [True], [blob])
        results.append((y, blob.diff.copy()))
    np.testing.assert_array_equal(results[1][0], results[0][0])
    np.testing.assert_array_equal(results[1][1], results[0][1])


def test_statistics_are_never_learned():
    layer = make_layer('type: "BatchNorm"')
    setup_layer(layer, [X])
    assert [s.float("lr_mult", 1.0) for s in layer.layer_param.msgs("param")] == [0.0, 0.0, 0.0]
    kept = make_layer('type: "BatchNorm" param { lr_mult: 0 decay_mult: 0 }')
    setup_layer(kept, [X])
    assert [s.float("decay_mult", 1.0) for s in kept.layer_param.msgs("param")] == [0.0, 1.0, 1.0]
    with pytest.raises(LayerError, match="param 1 has lr_mult 1.0.*cannot be learned"):
        setup_layer(make_layer('type: "BatchNorm" param { lr_mult: 0 } param { }'), [X])
    with pytest.raises(LayerError, match="channels"):
        layer.reshape([Blob(4, 5, 2)], [Blob()])


RESNET = """
name: "TinyResNet"
force_backward: true
layer { name: "data" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 4 dim: 3 dim: 6 dim: 6 } shape { dim: 4 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 bias_term: false
                            weight_filler { type: "msra" } } }
layer { name: "bn_conv1" type: "BatchNorm" bottom: "conv1" top: "conv1" }
layer { name: "scale_conv1" type: "Scale" bottom: "conv1" top: "conv1"
        scale_param { bias_term: true filler { type: "uniform" min: 0.5 max: 1.5 }
                      bias_filler { type: "uniform" min: -0.5 max: 0.5 } } }
layer { name: "conv1_relu" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "res2a_branch2a" type: "Convolution" bottom: "conv1" top: "res2a_branch2a"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 bias_term: false
                            weight_filler { type: "msra" } } }
layer { name: "bn2a_branch2a" type: "BatchNorm" bottom: "res2a_branch2a" top: "res2a_branch2a" }
layer { name: "scale2a_branch2a" type: "Scale" bottom: "res2a_branch2a" top: "res2a_branch2a"
        scale_param { bias_term: true filler { type: "uniform" min: 0.5 max: 1.5 }
                      bias_filler { type: "uniform" min: -0.5 max: 0.5 } } }
layer { name: "res2a" type: "Eltwise" bottom: "conv1" bottom: "res2a_branch2a" top: "res2a" }
layer { name: "res2a_relu" type: "ReLU" bottom: "res2a" top: "res2a" }
layer { name: "pool" type: "Pooling" bottom: "res2a" top: "pool" pooling_param { pool: AVE global_pooling: true } }
layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc"
        inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" loss_weight: 10 }
"""


@pytest.mark.parametrize("phase", [TRAIN, TEST])
def test_resnet_like_net_forward_backward(phase):
    """The ResNet pattern: BatchNorm, Scale and ReLU in place on one blob, an identity shortcut. The data
    gradient by finite differences (loss_weight 10 lifts the gradients above float32 noise)."""
    caffe.set_random_seed(3)
    net = caffe.Net(parse(RESNET, "resnet.prototxt"), phase)
    assert [len(net.params[n]) for n in ("bn_conv1", "scale_conv1")] == [3, 2]
    if phase == TEST:  # nontrivial running statistics
        for name in ("bn_conv1", "bn2a_branch2a"):
            net.params[name][0].data[...] = RNG.uniform(-0.5, 0.5, 4)
            net.params[name][1].data[...] = RNG.uniform(0.5, 2, 4)
            net.params[name][2].data[...] = 1.0
    bn = net.layer_dict["bn_conv1"]
    assert bn.use_global_stats == (phase == TEST)
    assert [s.float("lr_mult", 1.0) for s in bn.layer_param.msgs("param")] == [0.0, 0.0, 0.0]
    x = RNG.standard_normal((4, 3, 6, 6)).astype(np.float32)
    net.blobs["data"].data[...] = x
    net.blobs["label"].data[...] = [0, 1, 2, 1]

    def loss(x):
        net.blobs["data"].data[...] = x
        return float(net.forward()["loss"])

    loss(x)
    net.backward()
    grad = net.blobs["data"].diff.copy()
    assert not any(p.diff.any() for p in net.params["bn_conv1"])  # statistics get no gradient
    assert net.params["scale_conv1"][0].diff.any()
    assert np.abs(grad).max() > 1e-2
    for k in RNG.choice(x.size, 12, replace=False):
        idx = np.unravel_index(k, x.shape)
        plus, minus = x.copy(), x.copy()
        plus[idx] += 1e-2
        minus[idx] -= 1e-2
        numeric = 10 * (loss(plus) - loss(minus)) / 2e-2  # the top holds the loss before its loss_weight
        # Caffe's checker threshold; ReLU kinks within the step are rare at this scale (12 random samples).
        assert abs(grad[idx] - numeric) <= 2e-3 * max(abs(numeric), abs(grad[idx]), 1.0), (idx, grad[idx], numeric)


@needs_gpu
@pytest.mark.parametrize("phase", [TRAIN, TEST])
def test_gpu_parity(phase):
    # Channel sums run in double on both devices; the normalisation is one multiply-add per element.
    gpu_parity('type: "BatchNorm"', [X], phase=phase, rtol=1e-5, atol=1e-5)
