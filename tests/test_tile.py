"""Tile: forward against np.repeat of blocks (np.tile semantics on one axis), backward sums the tiles,
finite differences, errors, GPU parity."""
import numpy as np
import pytest

from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

X = np.random.default_rng(19).standard_normal((2, 3, 4)).astype(np.float32)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_forward_backward(axis):
    layer = make_layer(f'type: "Tile" tile_param {{ axis: {axis} tiles: 3 }}')
    bottom, top = setup_layer(layer, [X])
    reps = [1, 1, 1]
    reps[axis] = 3
    np.testing.assert_array_equal(forward(layer, bottom, top)[0], np.tile(X, reps))  # exact copies
    dy = np.random.default_rng(1).standard_normal(top[0].shape).astype(np.float32)
    top[0].diff[...] = dy
    layer.backward(top, [True], bottom)
    chunks = np.split(dy.astype(np.float64), 3, axis=axis)
    np.testing.assert_allclose(bottom[0].diff, sum(chunks), rtol=1e-6, atol=1e-7)
    gradcheck(make_layer(f'type: "Tile" tile_param {{ axis: {axis} tiles: 3 }}'), [X])


@pytest.mark.parametrize("text, match", [('type: "Tile" tile_param { tiles: 0 }', "tiles must be positive"),
                                         ('type: "Tile" tile_param { tiles: 2 axis: 3 }', "out of range")])
def test_errors(text, match):
    with pytest.raises(LayerError, match=match):
        setup_layer(make_layer(text), [X])


@needs_gpu
def test_gpu_parity():
    gpu_parity('type: "Tile" tile_param { tiles: 3 }', [X], rtol=1e-6, atol=1e-7)
