"""ArgMax: indices and values with and without axis, top_k, Caffe's tie order (larger index first), the
output shapes, errors."""
import numpy as np
import pytest

from lrcn_native.layer import LayerError
from util import forward, make_layer, setup_layer

X = np.random.default_rng(22).permutation(24).astype(np.float32).reshape(2, 3, 4)  # distinct values


def run(param, x=X):
    layer = make_layer(f'type: "ArgMax" argmax_param {{ {param} }}')
    bottom, top = setup_layer(layer, [x])
    return forward(layer, bottom, top)[0]


def test_without_axis_ranks_each_item_flattened():
    flat = X.reshape(2, -1)
    order = np.argsort(-flat, axis=1)[:, :3]
    y = run("top_k: 3")
    assert y.shape == (2, 1, 3)
    np.testing.assert_array_equal(y[:, 0, :], order)
    y = run("top_k: 3 out_max_val: true")
    assert y.shape == (2, 2, 3)
    np.testing.assert_array_equal(y[:, 0, :], order)
    np.testing.assert_array_equal(y[:, 1, :], np.take_along_axis(flat, order, 1))
    assert run("", np.zeros((5, 2), np.float32)).shape == (5, 1, 1)  # at least 3 axes


@pytest.mark.parametrize("axis", [0, 1, 2, -2])
def test_with_axis(axis):
    order = np.argsort(-X, axis=axis, kind="stable").take(range(2), axis=axis)
    np.testing.assert_array_equal(run(f"axis: {axis} top_k: 2"), order)
    np.testing.assert_array_equal(run(f"axis: {axis} top_k: 2 out_max_val: true"),
                                  np.take_along_axis(X, order, axis))


def test_ties_rank_the_larger_index_first():
    x = np.float32([[1, 5, 5, 2, 5]])
    np.testing.assert_array_equal(run("top_k: 4", x)[0, 0], [4, 2, 1, 3])


def test_errors_and_no_backward():
    with pytest.raises(LayerError, match="top_k must be in"):
        run("axis: 1 top_k: 4")
    with pytest.raises(LayerError, match="top_k must be in"):
        run("top_k: 13")
    layer = make_layer('type: "ArgMax"')
    bottom, top = setup_layer(layer, [X])
    with pytest.raises(LayerError, match="cannot backpropagate"):
        layer.backward(top, [True], bottom)
