"""Embed: lookup against numpy (exact), padding index −1, scatter-add gradients with repeated indices,
finite-difference gradients, bad indices and parameters, GPU parity. Caffe parity: tests/test_golden.py
(net `embed`)."""
import numpy as np
import pytest
from util import forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer

from lrcn_native.layer import LayerError

TEXT = ('type: "Embed" embed_param {{ input_dim: 6 num_output: 4 bias_term: {bias} '
        'weight_filler {{ type: "uniform" min: -1 max: 1 }} bias_filler {{ type: "gaussian" std: 1 }} }}')
WORDS = np.array([[0, 5, -1], [3, 3, 1]], np.float32)  # T × N word ids with a repeat and a padding −1


@pytest.mark.parametrize("bias", ["true", "false"])
def test_forward_is_a_lookup(bias):
    layer = make_layer(TEXT.format(bias=bias))
    bottom, top = setup_layer(layer, [WORDS])
    out = forward(layer, bottom, top)[0]
    W = layer.blobs[0].data
    b = layer.blobs[1].data if bias == "true" else np.zeros(4, np.float32)
    table = np.concatenate([W, np.zeros((1, 4), np.float32)])  # row −1: the zero vector
    expected = table[WORDS.astype(int)] + b  # the same single float32 addition: exact
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, expected)


def test_backward_scatter_adds_and_skips_padding():
    layer = make_layer(TEXT.format(bias="true"))
    bottom, top = setup_layer(layer, [WORDS])
    forward(layer, bottom, top)
    top_diff = np.random.default_rng(0).uniform(-1, 1, (2, 3, 4)).astype(np.float32)
    top[0].diff[...] = top_diff
    for p in layer.blobs:
        p.diff[...] = 0.5  # parameter diffs accumulate
    layer.backward(top, [False], bottom)
    rows = WORDS.reshape(-1).astype(int)
    expected = np.full((6, 4), 0.5)
    np.add.at(expected, rows[rows >= 0], top_diff.reshape(-1, 4)[rows >= 0])
    np.testing.assert_allclose(layer.blobs[0].diff, expected, rtol=1e-6)
    np.testing.assert_allclose(layer.blobs[1].diff, 0.5 + top_diff.reshape(-1, 4).sum(0), rtol=1e-6)
    assert np.all(layer.blobs[0].diff[[2, 4]] == 0.5)  # unused rows untouched


def test_gradient():
    layer = make_layer(TEXT.format(bias="true"))
    gradcheck(layer, [WORDS], check_bottoms=[])


@pytest.mark.parametrize("bad", [6, -2, 1.5, np.nan, 1e9])
def test_bad_index_is_an_error(bad):
    layer = make_layer(TEXT.format(bias="false"))
    words = WORDS.copy()
    words[1, 2] = bad
    bottom, top = setup_layer(layer, [words])
    with pytest.raises(LayerError, match="position 5"):
        forward(layer, bottom, top)


def test_errors():
    with pytest.raises(LayerError, match="input_dim"):
        setup_layer(make_layer('type: "Embed" embed_param { num_output: 3 }'), [WORDS])
    with pytest.raises(LayerError, match="num_output"):
        setup_layer(make_layer('type: "Embed" embed_param { input_dim: 3 }'), [WORDS])
    layer = make_layer(TEXT.format(bias="false"))
    bottom, top = setup_layer(layer, [WORDS])
    assert len(layer.blobs) == 1 and not layer.allow_force_backward(0)
    forward(layer, bottom, top)
    with pytest.raises(LayerError, match="indices"):
        layer.backward(top, [True], bottom)


@needs_gpu
def test_gpu_parity():
    words = np.random.default_rng(1).integers(-1, 6, (7, 5)).astype(np.float32)
    # Lookups and in-order sums on both devices: exact.
    gpu_parity(TEXT.format(bias="true"), [words], propagate=[False], rtol=0, atol=0)
