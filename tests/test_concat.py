"""Concat and Slice: exact data movement on axes 0, 1, 2 and −1 against numpy, backward by finite
differences and exactly, legacy concat_dim/slice_dim, single-blob sharing, errors, GPU parity."""
import numpy as np
import pytest

from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

RNG = np.random.default_rng(5)


def bottoms_for(axis, sizes, shape=(2, 3, 4, 5)):
    out = []
    for s in sizes:
        sh = list(shape)
        sh[axis] = s
        out.append(RNG.uniform(-1, 1, sh).astype(np.float32))
    return out


CONCAT_CASES = [(0, [1, 3, 2]), (1, [3, 1, 2]), (2, [4, 2, 1]), (-1, [5, 1, 3])]


@pytest.mark.parametrize("axis, sizes", CONCAT_CASES)
def test_concat(axis, sizes):
    xs = bottoms_for(axis, sizes)
    layer = make_layer(f'type: "Concat" concat_param {{ axis: {axis} }}')
    bottom, top = setup_layer(layer, xs)
    y = forward(layer, bottom, top)[0]
    np.testing.assert_array_equal(y, np.concatenate(xs, axis))
    dy = RNG.uniform(-1, 1, y.shape).astype(np.float32)
    top[0].diff[...] = dy
    bottom[1].diff[...] = 9
    layer.backward(top, [True, False, True], bottom)
    parts = np.split(dy, np.cumsum(sizes)[:-1], axis)
    np.testing.assert_array_equal(bottom[0].diff, parts[0])
    np.testing.assert_array_equal(bottom[1].diff, 9)  # not propagated: untouched
    np.testing.assert_array_equal(bottom[2].diff, parts[2])


@pytest.mark.parametrize("axis, sizes", CONCAT_CASES)
def test_concat_gradient(axis, sizes):
    gradcheck(make_layer(f'type: "Concat" concat_param {{ axis: {axis} }}'), bottoms_for(axis, sizes))


SLICE_CASES = [(0, "slice_point: 1", [1, 3]), (1, "slice_point: 1 slice_point: 2", [1, 1, 1]),
               (2, "", [2, 2]), (-1, "slice_point: 2 slice_point: 3", [2, 1, 2]), (1, "", [1, 1, 1])]


@pytest.mark.parametrize("axis, points, sizes", SLICE_CASES)
def test_slice(axis, points, sizes):
    x = bottoms_for(axis, [sum(sizes)])[0]
    layer = make_layer(f'type: "Slice" slice_param {{ axis: {axis} {points} }}')
    bottom, top = setup_layer(layer, [x], n_tops=len(sizes))
    ys = forward(layer, bottom, top)
    expect = np.split(x, np.cumsum(sizes)[:-1], axis)
    for y, e in zip(ys, expect):
        np.testing.assert_array_equal(y, e)
    dys = [RNG.uniform(-1, 1, e.shape).astype(np.float32) for e in expect]
    for t, dy in zip(top, dys):
        t.diff[...] = dy
    layer.backward(top, [True], bottom)
    np.testing.assert_array_equal(bottom[0].diff, np.concatenate(dys, axis))


@pytest.mark.parametrize("axis, points, sizes", SLICE_CASES)
def test_slice_gradient(axis, points, sizes):
    x = bottoms_for(axis, [sum(sizes)])[0]
    gradcheck(make_layer(f'type: "Slice" slice_param {{ axis: {axis} {points} }}'), [x], n_tops=len(sizes))


def test_legacy_dims():
    xs = bottoms_for(0, [1, 2])
    layer = make_layer('type: "Concat" concat_param { concat_dim: 0 }')
    bottom, top = setup_layer(layer, xs)
    y = forward(layer, bottom, top)[0]
    np.testing.assert_array_equal(y, np.concatenate(xs, 0))
    layer = make_layer('type: "Slice" slice_param { slice_dim: 0 slice_point: 1 }')
    bottom, top = setup_layer(layer, [y], n_tops=2)
    for out, x in zip(forward(layer, bottom, top), xs):
        np.testing.assert_array_equal(out, x)


def test_single_blob_shares():
    x = RNG.uniform(-1, 1, (2, 3)).astype(np.float32)
    for text in ('type: "Concat"', 'type: "Slice"'):
        layer = make_layer(text)
        bottom, top = setup_layer(layer, [x])
        top[0].data[0, 0] = 42
        top[0].diff[1, 2] = 7
        assert bottom[0].data[0, 0] == 42 and bottom[0].diff[1, 2] == 7, text


@pytest.mark.parametrize("text, arrays, n_tops, match", [
    ('type: "Concat"', [np.zeros((2, 3, 4)), np.zeros((2, 3, 5))], 1,
     r"bottom 1 has shape \(2, 3, 5\) but bottom 0 has \(2, 3, 4\)"),
    ('type: "Concat"', [np.zeros((2, 3)), np.zeros((2, 3, 1))], 1, r"bottom 1 has shape \(2, 3, 1\)"),
    ('type: "Concat" concat_param { axis: 3 }', [np.zeros((2, 3, 4))] * 2, 1, "axis 3 is out of range"),
    ('type: "Concat" concat_param { axis: 1 concat_dim: 1 }', [np.zeros((2, 3))] * 2, 1, "not both"),
    ('type: "Concat" concat_param { concat_dim: 2 }', [np.zeros((2, 3))] * 2, 1, "concat_dim 2 out of range"),
    ('type: "Slice"', [np.zeros((2, 5))], 2, r"size 5\) does not divide evenly into 2 tops"),
    ('type: "Slice" slice_param { slice_point: 2 }', [np.zeros((2, 6))], 3, "1 slice_point"),
    ('type: "Slice" slice_param { slice_point: 3 slice_point: 2 }', [np.zeros((2, 6))], 3, "must increase"),
    ('type: "Slice" slice_param { slice_point: 6 }', [np.zeros((2, 6))], 2, "must increase"),
    ('type: "Slice" slice_param { axis: -3 }', [np.zeros((2, 6))], 2, "axis -3 is out of range"),
])
def test_errors(text, arrays, n_tops, match):
    with pytest.raises(LayerError, match=match):
        setup_layer(make_layer(text), [np.asarray(a, np.float32) for a in arrays], n_tops)


@needs_gpu
@pytest.mark.parametrize("axis, sizes", CONCAT_CASES)
def test_concat_gpu_parity(axis, sizes):
    # Pure copies: bit-exact on both devices.
    gpu_parity(f'type: "Concat" concat_param {{ axis: {axis} }}', bottoms_for(axis, sizes), rtol=0, atol=0)


@needs_gpu
@pytest.mark.parametrize("axis, points, sizes", SLICE_CASES)
def test_slice_gpu_parity(axis, points, sizes):
    x = bottoms_for(axis, [sum(sizes)])[0]
    gpu_parity(f'type: "Slice" slice_param {{ axis: {axis} {points} }}', [x], n_tops=len(sizes), rtol=0, atol=0)
