"""Crop: forward against slicing for each offset form, backward scatters into zeros, finite differences,
errors, GPU parity."""
import numpy as np
import pytest

from lrcn_native.layer import LayerError
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

X = np.random.default_rng(20).standard_normal((2, 3, 6, 7)).astype(np.float32)
LIKE = np.zeros((1, 2, 4, 3), np.float32)


@pytest.mark.parametrize("param, window", [
    ("", np.s_[:, :, 0:4, 0:3]),                                       # axis 2, offsets 0
    ("offset: 1", np.s_[:, :, 1:5, 1:4]),                              # one offset for every cropped axis
    ("axis: 1 offset: 1 offset: 2 offset: 4", np.s_[:, 1:3, 2:6, 4:7]),  # one per axis
    ("axis: -1 offset: 3", np.s_[:, :, :, 3:6]),
])
def test_forward_backward(param, window):
    text = f'type: "Crop" crop_param {{ {param} }}'
    layer = make_layer(text)
    bottom, top = setup_layer(layer, [X, LIKE])
    np.testing.assert_array_equal(forward(layer, bottom, top)[0], X[window])
    top[0].diff[...] = 1
    layer.backward(top, [True, False], bottom)
    expect = np.zeros_like(X)
    expect[window] = 1
    np.testing.assert_array_equal(bottom[0].diff, expect)
    gradcheck(make_layer(text), [X, LIKE], check_bottoms=[0])


@pytest.mark.parametrize("param, match", [("offset: 3", "exceeds"), ("offset: 1 offset: 1 offset: 1", "3 offsets")])
def test_errors(param, match):
    with pytest.raises(LayerError, match=match):
        setup_layer(make_layer(f'type: "Crop" crop_param {{ {param} }}'), [X, LIKE])


@needs_gpu
def test_gpu_parity():
    gpu_parity('type: "Crop" crop_param { offset: 1 }', [X, LIKE], propagate=[True, False], rtol=0, atol=0)
