"""Reshape, Flatten and Silence: shape inference and its errors, memory shared with the bottom (data and
diff), gradients, Silence's zeroed diffs."""
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.blob import Blob
from lrcn_native.layer import LayerError
from util import forward, gradcheck, make_layer, setup_layer

RNG = np.random.default_rng(9)
X = RNG.uniform(-1, 1, (2, 3, 4, 5)).astype(np.float32)


def top_shape(text, shape=X.shape):
    layer = make_layer(text)
    return setup_layer(layer, [np.zeros(shape, np.float32)])[1][0].shape


@pytest.mark.parametrize("param, expect", [
    ("shape { dim: 0 dim: -1 dim: 5 }", (2, 12, 5)),              # golden reshape_a
    ("shape { dim: 2 dim: 2 } axis: 2 num_axes: 1", (2, 3, 2, 2, 5)),  # golden reshape_b
    ("shape { dim: 2 dim: 1 dim: -1 }", (2, 1, 60)),              # golden reshape_c
    ("shape { dim: -1 }", (120,)),
    ("shape { dim: 0 dim: 0 dim: 0 dim: 0 }", (2, 3, 4, 5)),
    ("shape { dim: 1 } axis: 0 num_axes: 0", (1, 2, 3, 4, 5)),    # insert a leading axis
    ("shape { dim: 1 } axis: -1", (2, 3, 4, 5, 1)),               # −1: after the last axis
    ("shape { dim: -1 } axis: 1", (2, 60)),
    ("shape { dim: 0 dim: -1 } axis: 1 num_axes: 2", (2, 3, 4, 5)),
    ("shape { dim: 10 dim: 2 } axis: -3 num_axes: 2", (2, 3, 10, 2)),  # −3: start at axis 4 − 3 + 1 = 2
])
def test_reshape_inference(param, expect):
    assert top_shape(f'type: "Reshape" reshape_param {{ {param} }}') == expect


@pytest.mark.parametrize("param, match", [
    ("shape { dim: -1 dim: -1 }", "more than one -1"),
    ("shape { dim: 7 dim: -1 }", r"not divisible by the product 7"),
    ("shape { dim: 2 dim: 3 }", r"top shape \(2, 3\) has 6 elements but the bottom \(2, 3, 4, 5\) has 120"),
    ("shape { dim: 0 dim: 0 } axis: 3", "no axis 4 to copy"),
    ("shape { dim: 2 } axis: 5", "axis 5 out of range"),
    ("shape { dim: 2 } axis: 3 num_axes: 2", "exceeds bottom shape"),
    ("shape { dim: -2 }", "below -1"),
])
def test_reshape_errors(param, match):
    with pytest.raises(LayerError, match=match):
        top_shape(f'type: "Reshape" reshape_param {{ {param} }}')


@pytest.mark.parametrize("kind", ["Reshape", "Flatten"])
def test_no_in_place(kind):
    blob = Blob(*X.shape)
    with pytest.raises(LayerError, match="in place"):
        make_layer(f'type: "{kind}" reshape_param {{ shape {{ dim: -1 }} }}').setup([blob], [blob])


@pytest.mark.parametrize("text", ['type: "Reshape" reshape_param { shape { dim: 0 dim: -1 } }', 'type: "Flatten"'])
def test_shares_memory(text):
    layer = make_layer(text)
    bottom, top = setup_layer(layer, [X])
    y = forward(layer, bottom, top)[0]
    np.testing.assert_array_equal(y, X.reshape(2, 60))
    top[0].data[1, 7] = 42          # writing the top writes the bottom: no copy
    assert bottom[0].data.reshape(2, 60)[1, 7] == 42
    top[0].diff[...] = 3            # backward has nothing to do: the diffs are the same memory
    layer.backward(top, [True], bottom)
    np.testing.assert_array_equal(bottom[0].diff, 3)


def test_sharing_survives_a_bigger_bottom():
    """Re-sharing on every reshape keeps the top on the bottom's memory when the bottom grows."""
    layer = make_layer('type: "Reshape" reshape_param { shape { dim: -1 } }')
    bottom, top = setup_layer(layer, [X])
    bottom[0].reshape(4, 3, 4, 5)
    bottom[0].data[...] = 1
    layer.reshape(bottom, top)
    assert top[0].shape == (240,)
    top[0].data[-1] = 5
    assert bottom[0].data[-1, -1, -1, -1] == 5


@pytest.mark.parametrize("param, expect", [
    ("", (2, 60)), ("axis: 0", (120,)), ("axis: 1 end_axis: 2", (2, 12, 5)), ("axis: -2", (2, 3, 20)),
    ("axis: 2 end_axis: 2", (2, 3, 4, 5)),
])
def test_flatten(param, expect):
    assert top_shape(f'type: "Flatten" flatten_param {{ {param} }}') == expect


@pytest.mark.parametrize("param, match", [("axis: 4", "axis 4 is out of range"), ("axis: 2 end_axis: 1", "before axis")])
def test_flatten_errors(param, match):
    with pytest.raises(LayerError, match=match):
        top_shape(f'type: "Flatten" flatten_param {{ {param} }}')


@pytest.mark.parametrize("text", ['type: "Reshape" reshape_param { shape { dim: 6 dim: -1 } }', 'type: "Flatten"'])
def test_gradient(text):
    gradcheck(make_layer(text), [X])


def test_silence():
    layer = make_layer('type: "Silence"')
    bottom, top = setup_layer(layer, [X, X[0]], n_tops=0)
    forward(layer, bottom, top)
    for b in bottom:
        b.diff[...] = 5
    layer.backward(top, [True, False], bottom)
    np.testing.assert_array_equal(bottom[0].diff, 0)
    np.testing.assert_array_equal(bottom[1].diff, 5)  # not asked for: untouched


def test_silence_in_a_net(tmp_path):
    net_file = tmp_path / "net.prototxt"
    net_file.write_text('force_backward: true\n'
                        'layer { name: "in" type: "Input" top: "x" top: "y" input_param { shape { dim: 3 } } }\n'
                        'layer { name: "f" type: "Flatten" bottom: "x" top: "fx" flatten_param { axis: 0 } }\n'
                        'layer { name: "s" type: "Silence" bottom: "y" }\n')
    net = caffe.Net(str(net_file), caffe.TEST)
    assert net.outputs == ["fx"]
