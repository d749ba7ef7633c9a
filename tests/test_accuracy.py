"""Accuracy: top_k accuracy vs a float64 reference (BVLC's tie rule), ties, ignore_label, the per-class
second top, parameter and label errors, no backward under force_backward, GPU parity."""
import numpy as np
import pytest

import lrcn_native
from lrcn_native.layer import LayerError
from lrcn_native.proto.text import parse
from util import forward, gpu_parity, make_layer, needs_gpu, setup_layer


def ref_accuracy(x, label, axis=1, top_k=1, ignore=None):
    """(accuracy, per-class accuracy): correct when fewer than top_k other classes score >= the label's."""
    x = np.moveaxis(x.astype(np.float64), axis, -1).reshape(-1, x.shape[axis])
    lab = label.reshape(-1)
    n_classes = x.shape[1]
    valid = np.zeros(n_classes)
    correct = np.zeros(n_classes)
    for scores, l in zip(x, lab):
        if ignore is not None and l == ignore:
            continue
        l = int(l)
        ahead = sum(1 for c in range(n_classes) if c != l and scores[c] >= scores[l])
        valid[l] += 1
        correct[l] += ahead < top_k
    total = correct.sum() / valid.sum() if valid.sum() else 0.0
    return total, np.divide(correct, valid, out=np.zeros(n_classes), where=valid > 0)


def run(x, label, axis=1, top_k=1, ignore=None, n_tops=1):
    ignore_text = "" if ignore is None else f"ignore_label: {ignore}"
    layer = make_layer(f'type: "Accuracy" accuracy_param {{ axis: {axis} top_k: {top_k} {ignore_text} }}')
    bottom, top = setup_layer(layer, [x, label], n_tops)
    return forward(layer, bottom, top)


def data(shape, axis, label_shape, ignore=None, n_ignored=0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float32)
    label = rng.integers(0, shape[axis], label_shape).astype(np.float32)
    if n_ignored:
        label.reshape(-1)[rng.choice(label.size, n_ignored, replace=False)] = ignore
    return x, label


@pytest.mark.parametrize("top_k", [1, 2, 5])
@pytest.mark.parametrize("shape,axis,label_shape", [((30, 6), 1, (30,)), ((5, 4, 6), 2, (5, 4)),
                                                    ((3, 6, 2, 4), 1, (3, 1, 2, 4)), ((6, 3, 4), 0, (3, 4))])
def test_matches_reference(shape, axis, label_shape, top_k):
    x, label = data(shape, axis, label_shape, ignore=-1, n_ignored=4)
    acc, per_class = run(x, label, axis, top_k, -1, n_tops=2)
    ref, ref_per_class = ref_accuracy(x, label, axis, top_k, -1)
    assert acc.shape == () and per_class.shape == (shape[axis],)
    # correct/valid as a float32 division of exact counts, like Caffe
    assert acc == np.float32(ref)
    np.testing.assert_array_equal(per_class, ref_per_class.astype(np.float32))


def test_ties_count_against_the_label():
    x = np.array([[1, 1, 0], [0, 2, 2], [3, 2, 2], [5, 5, 5]], np.float32)
    label = np.array([0, 2, 1, 1], np.float32)
    assert run(x, label)[0] == 0           # BVLC: every tie with the label is an error
    assert run(x, label, top_k=2)[0] == 0.5  # rows 0 and 1: one class ahead (< 2); rows 2, 3: two ahead
    assert run(x, label, top_k=3)[0] == 1


def test_ignore_label():
    x = np.eye(4, dtype=np.float32)
    # row r scores class r highest
    assert run(x, np.array([0, 2, 1, 7], np.float32), ignore=7)[0] == np.float32(1 / 3)
    # an ignore_label inside [0, C) is ignored too
    assert run(x, np.array([0, 2, 1, 3], np.float32), ignore=2)[0] == np.float32(2 / 3)
    assert run(x, np.full(4, 7, np.float32), ignore=7)[0] == 0  # nothing valid: 0, not NaN


@pytest.mark.parametrize("bad", [4, -1, 0.5, np.nan])
def test_bad_labels_raise(bad):
    x, label = data((6, 4), 1, (6,))
    label[2] = bad
    with pytest.raises(LayerError, match=r"\(Accuracy\).*1 label\(s\) are not integers in \[0, 4\)"):
        run(x, label)


def test_parameter_errors():
    x, label = data((6, 4), 1, (6,))
    with pytest.raises(LayerError, match="top_k"):
        run(x, label, top_k=5)
    with pytest.raises(LayerError, match="top_k"):
        run(x, label, top_k=0)
    with pytest.raises(LayerError, match="number of labels"):
        run(x, label[:5])
    with pytest.raises(LayerError, match="axis"):
        run(x, label, axis=2)


def test_no_backward_under_force_backward():
    net = lrcn_native.Net(parse("""
        force_backward: true
        layer { name: "in" type: "Input" top: "x" top: "y" input_param { shape { dim: 6 dim: 4 } shape { dim: 6 } } }
        layer { name: "acc" type: "Accuracy" bottom: "x" bottom: "y" top: "acc" }"""), lrcn_native.TEST)
    x, label = data((6, 4), 1, (6,))
    net.blobs["x"].data[...] = x
    net.blobs["y"].data[...] = label
    net.forward()
    net.backward()  # Accuracy's bottoms are excluded from force_backward
    np.testing.assert_array_equal(net.blobs["acc"].data, np.float32(ref_accuracy(x, label)[0]))


@needs_gpu
@pytest.mark.parametrize("shape,axis,label_shape,top_k", [((30, 6), 1, (30,), 1), ((20, 100, 101), 2, (20, 100), 5),
                                                          ((3, 6, 2, 4), 1, (3, 1, 2, 4), 2)])
def test_gpu_parity(shape, axis, label_shape, top_k):
    x, label = data(shape, axis, label_shape, ignore=-1, n_ignored=4, seed=1)
    x[0, 1] = x[0, 0]  # a tie
    text = f'type: "Accuracy" accuracy_param {{ axis: {axis} top_k: {top_k} ignore_label: -1 }}'
    gpu_parity(text, [x, label], n_tops=2, propagate=[False, False], rtol=0, atol=0)  # exact counts


@needs_gpu
def test_gpu_bad_label():
    x, label = data((30, 6), 1, (30,))
    label[7] = 6
    lrcn_native.set_mode_gpu()
    try:
        with pytest.raises(LayerError, match="the first is 6.0"):
            run(x, label)
    finally:
        lrcn_native.set_mode_cpu()
