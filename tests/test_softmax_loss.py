"""SoftmaxWithLoss: forward vs a float64 reference for every normalization (and the old `normalize`),
ignore_label, the FLT_MIN floor, finite-difference gradients w.r.t. the predictions, the loss weight
scaling the gradient inside a Net, the optional probability top, bad labels and shapes, GPU parity."""
import numpy as np
import pytest

import lrcn_native
from lrcn_native.layer import TRAIN, LayerError
from lrcn_native.proto.text import PrototxtError, parse
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

FLT_MIN = np.finfo(np.float32).tiny


def ref_loss(x, label, axis, ignore=None, normalization="VALID"):
    """(loss, d loss / d x) in float64, Caffe's semantics."""
    x = np.moveaxis(x.astype(np.float64), axis, -1)          # positions... × C
    p = np.exp(x - x.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    lab = label.reshape(p.shape[:-1])
    valid = np.ones(lab.shape, bool) if ignore is None else lab != ignore
    cls = np.where(valid, lab, 0).astype(int)
    picked = np.take_along_axis(p, cls[..., None], -1)[..., 0]
    total = -np.log(np.maximum(picked, FLT_MIN))[valid].sum()
    n = {"FULL": lab.size, "VALID": valid.sum(), "BATCH_SIZE": int(np.prod(x.shape[:axis])), "NONE": 1}[normalization]
    n = max(1, n)
    grad = p.copy()
    np.put_along_axis(grad, cls[..., None], np.take_along_axis(grad, cls[..., None], -1) - 1, -1)
    grad *= valid[..., None] / n
    return total / n, np.moveaxis(grad, -1, axis)


def data(shape, axis, label_shape, ignore=None, n_ignored=0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, shape).astype(np.float32)
    label = rng.integers(0, shape[axis], label_shape).astype(np.float32)
    if n_ignored:
        label.reshape(-1)[rng.choice(label.size, n_ignored, replace=False)] = ignore
    return x, label


def layer_text(axis=1, ignore=None, extra=""):
    loss_param = ("" if ignore is None else f"ignore_label: {ignore} ") + extra
    return f'type: "SoftmaxWithLoss" softmax_param {{ axis: {axis} }} loss_param {{ {loss_param} }}'


def run(text, x, label, n_tops=1, loss_weight=1.0):
    layer = make_layer(text, TRAIN)
    bottom, top = setup_layer(layer, [x, label], n_tops)
    outs = forward(layer, bottom, top)
    top[0].diff[...] = loss_weight
    layer.backward(top, [True, False], bottom)
    return outs, bottom[0].diff.copy()


CASES = {  # name: (prediction shape, axis, label shape)
    "2d": ((6, 5), 1, (6,)),
    "seq": ((5, 3, 7), 2, (5, 3)),
    "4d": ((2, 4, 2, 3), 1, (2, 1, 2, 3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("normalization", ["FULL", "VALID", "BATCH_SIZE", "NONE"])
def test_normalizations(case, normalization):
    shape, axis, label_shape = CASES[case]
    x, label = data(shape, axis, label_shape, ignore=-1, n_ignored=3)
    text = layer_text(axis, -1, f"normalization: {normalization}")
    (loss,), dx = run(text, x, label, loss_weight=1.5)
    ref, grad = ref_loss(x, label, axis, -1, normalization)
    assert loss.shape == ()
    np.testing.assert_allclose(loss, ref, rtol=1e-6)  # float32 logs, summed in double
    np.testing.assert_allclose(dx, 1.5 * grad, rtol=1e-5, atol=1e-7)  # float32 softmax: a few ulps


@pytest.mark.parametrize("normalize,expect", [("true", "VALID"), ("false", "BATCH_SIZE")])
def test_old_normalize_flag(normalize, expect):
    x, label = data((4, 3, 6), 2, (4, 3), ignore=-1, n_ignored=5, seed=1)
    (loss,), _ = run(layer_text(2, -1, f"normalize: {normalize}"), x, label)
    np.testing.assert_allclose(loss, ref_loss(x, label, 2, -1, expect)[0], rtol=1e-6)  # as above
    # normalization, when present, wins over normalize
    (loss,), _ = run(layer_text(2, -1, f"normalize: {normalize} normalization: FULL"), x, label)
    np.testing.assert_allclose(loss, ref_loss(x, label, 2, -1, "FULL")[0], rtol=1e-6)


def test_default_is_valid_without_ignore_label():
    x, label = data((6, 5), 1, (6,), seed=2)
    (loss,), dx = run('type: "SoftmaxWithLoss"', x, label)
    ref, grad = ref_loss(x, label, 1)
    np.testing.assert_allclose(loss, ref, rtol=1e-6)  # as above
    np.testing.assert_allclose(dx, grad, rtol=1e-5, atol=1e-7)


def test_all_ignored_gives_zero_not_nan():
    x, _ = data((3, 4), 1, (3,))
    (loss,), dx = run(layer_text(1, 7), x, np.full(3, 7, np.float32))
    assert loss == 0 and not dx.any()  # VALID's max(1, 0) guard


def test_log_floor():
    x = np.array([[0, -200, 0], [50, 0, 0]], np.float32)  # p(class 1) underflows to 0 in float32
    (loss,), _ = run('type: "SoftmaxWithLoss"', x, np.array([1, 2], np.float32))
    expect = (-np.log(np.float64(FLT_MIN)) + 50) / 2
    np.testing.assert_allclose(loss, expect, rtol=1e-6)  # float32 logs


@pytest.mark.parametrize("case,normalization", [("2d", "VALID"), ("seq", "BATCH_SIZE"), ("4d", "FULL"),
                                                ("seq", "NONE")])
def test_gradient(case, normalization):
    shape, axis, label_shape = CASES[case]
    x, label = data(shape, axis, label_shape, ignore=-1, n_ignored=2, seed=3)
    layer = make_layer(layer_text(axis, -1, f"normalization: {normalization}"), TRAIN)
    gradcheck(layer, [x, label], check_bottoms=[0])


@pytest.mark.parametrize("bad", [5, -2, 1.5, np.nan, 1e10])
def test_bad_labels_raise(bad):
    x, label = data((6, 5), 1, (6,))
    label[3] = bad
    layer = make_layer(layer_text(1, -1), TRAIN)
    bottom, top = setup_layer(layer, [x, label])
    with pytest.raises(LayerError, match=r"layer 'test' \(SoftmaxWithLoss\).*1 label\(s\) are not integers in \[0, 5\)"):
        layer.forward(bottom, top)


def test_negative_label_without_ignore_label_raises():
    x, label = data((6, 5), 1, (6,))
    label[0] = -1
    layer = make_layer('type: "SoftmaxWithLoss"', TRAIN)
    bottom, top = setup_layer(layer, [x, label])
    with pytest.raises(LayerError, match="the first is -1.0"):
        layer.forward(bottom, top)


def test_shape_errors():
    with pytest.raises(LayerError, match="number of labels"):
        setup_layer(make_layer('type: "SoftmaxWithLoss"', TRAIN), [np.zeros((4, 3), np.float32),
                                                                    np.zeros(3, np.float32)])
    with pytest.raises(LayerError, match="axis 3 is out of range"):
        setup_layer(make_layer(layer_text(3), TRAIN), [np.zeros((4, 3), np.float32), np.zeros(4, np.float32)])


def test_unknown_normalization():
    with pytest.raises(PrototxtError, match="normalization"):
        setup_layer(make_layer(layer_text(1, None, "normalization: MEAN"), TRAIN),
                    [np.zeros((4, 3), np.float32), np.zeros(4, np.float32)])


def test_no_gradient_to_labels():
    x, label = data((6, 5), 1, (6,))
    layer = make_layer('type: "SoftmaxWithLoss"', TRAIN)
    bottom, top = setup_layer(layer, [x, label])
    forward(layer, bottom, top)
    with pytest.raises(LayerError, match="label"):
        layer.backward(top, [True, True], bottom)


NET = """
force_backward: true
layer { name: "in" type: "Input" top: "x" top: "y" input_param { shape { dim: 5 dim: 3 dim: 7 } shape { dim: 5 dim: 3 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "y" %s
  softmax_param { axis: 2 } loss_param { ignore_label: -1 } }
"""


def make_net(tops):
    net = lrcn_native.Net(parse(NET % tops), TRAIN)
    x, label = data((5, 3, 7), 2, (5, 3), ignore=-1, n_ignored=4, seed=4)
    net.blobs["x"].data[...] = x
    net.blobs["y"].data[...] = label
    return net, x, label


def test_loss_weight_scales_gradient_in_net():
    net, x, label = make_net('top: "loss" loss_weight: 20')
    total = net.forward_backward()
    ref, grad = ref_loss(x, label, 2, -1)
    np.testing.assert_allclose(net.blobs["loss"].data, ref, rtol=1e-6)  # the top holds the unweighted loss
    np.testing.assert_allclose(total, 20 * ref, rtol=1e-6)
    np.testing.assert_allclose(net.blobs["x"].diff, 20 * grad, rtol=1e-5, atol=1e-6)  # float32 softmax
    assert not net.blobs["y"].diff.any()  # force_backward never reaches the labels


def test_probability_top():
    net, x, label = make_net('top: "loss" top: "prob"')  # default weights: 1 for the loss, 0 for prob
    total = net.forward_backward()
    ref, grad = ref_loss(x, label, 2, -1)
    np.testing.assert_allclose(total, ref, rtol=1e-6)  # prob adds nothing to the net's loss
    p = np.exp(x - x.max(2, keepdims=True))
    np.testing.assert_allclose(net.blobs["prob"].data, p / p.sum(2, keepdims=True), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(net.blobs["x"].diff, grad, rtol=1e-5, atol=1e-7)
    net, x, label = make_net('top: "loss" top: "prob" loss_weight: 2 loss_weight: 0')
    np.testing.assert_allclose(net.forward_backward(), 2 * ref, rtol=1e-6)
    np.testing.assert_allclose(net.blobs["x"].diff, 2 * grad, rtol=1e-5, atol=1e-7)


def test_propagate_down_to_labels_raises_in_net():
    net, _, _ = make_net('top: "loss" propagate_down: true propagate_down: true')
    net.forward()
    with pytest.raises(LayerError, match="label"):
        net.backward()


@needs_gpu
@pytest.mark.parametrize("case,normalization", [("2d", "VALID"), ("seq", "BATCH_SIZE"), ("4d", "FULL")])
def test_gpu_parity(case, normalization):
    shape, axis, label_shape = CASES[case]
    x, label = data(shape, axis, label_shape, ignore=-1, n_ignored=2, seed=5)
    # expf/logf and the reduction order differ from the CPU's by a few ulps.
    gpu_parity(layer_text(axis, -1, f"normalization: {normalization}"), [x, label], propagate=[True, False],
               rtol=1e-5, atol=1e-7)


@needs_gpu
def test_gpu_deterministic_and_bad_labels():
    x, label = data((20, 100, 50), 2, (20, 100), ignore=-1, n_ignored=300, seed=6)
    lrcn_native.set_mode_gpu()
    try:
        layer = make_layer(layer_text(2, -1), TRAIN)
        bottom, top = setup_layer(layer, [x, label])
        losses = {float(forward(layer, bottom, top)[0]) for _ in range(5)}
        assert len(losses) == 1  # fixed-order reduction: bit-identical repeats
        bottom[1].data.reshape(-1)[1234] = 50
        with pytest.raises(LayerError, match="the first is 50.0"):
            layer.forward(bottom, top)
    finally:
        lrcn_native.set_mode_cpu()
