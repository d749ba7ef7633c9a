"""Net wiring against Caffe's rules: NetState filtering, splits, in-place, sharing, loss weights,
propagate_down, force_backward, pycaffe's forward/backward API and construction errors."""
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.proto.text import parse

INPUT = 'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }\n'


def net_from(text, phase=caffe.TEST, **kw):
    return caffe.Net(parse(text, "net.prototxt"), phase, **kw)


def affine(name, bottom, top, extra=""):
    return (f'layer {{ name: "{name}" type: "Python" bottom: "{bottom}" top: "{top}" {extra}\n'
            f'  python_param {{ module: "pylayers" layer: "Affine" param_str: "2" }} }}\n')


def loss(name, bottom, top, extra=""):
    return (f'layer {{ name: "{name}" type: "Python" bottom: "{bottom}" top: "{top}" loss_weight: 1 {extra}\n'
            f'  python_param {{ module: "pylayers" layer: "SquareLoss" }} }}\n')


def test_netstate_filtering():
    text = INPUT + """
    layer { name: "train_only" type: "ReLU" bottom: "x" top: "a" include { phase: TRAIN } }
    layer { name: "test_only" type: "ReLU" bottom: "x" top: "a" include { phase: TEST } }
    layer { name: "staged" type: "ReLU" bottom: "a" top: "b" include { stage: "s1" stage: "s2" } }
    layer { name: "not_s1" type: "ReLU" bottom: "a" top: "c" include { not_stage: "s1" } }
    layer { name: "leveled" type: "ReLU" bottom: "a" top: "d" include { min_level: 1 max_level: 2 } }
    layer { name: "excluded" type: "ReLU" bottom: "a" top: "e" exclude { stage: "s2" } }
    """
    def names(**kw):
        return [n for n in net_from(text, **kw)._layer_names if "split" not in n]
    assert names() == ["in", "test_only", "not_s1", "excluded"]
    assert names(phase=caffe.TRAIN) == ["in", "train_only", "not_s1", "excluded"]
    assert names(stages=["s1", "s2"]) == ["in", "test_only", "staged"]
    assert names(stages=["s1"], level=2) == ["in", "test_only", "leveled", "excluded"]
    assert names(level=3) == ["in", "test_only", "not_s1", "excluded"]


def test_split_inserted_and_backward_sums():
    net = net_from(INPUT + affine("a1", "x", "y1") + affine("a2", "x", "y2") + loss("l1", "y1", "o1")
                   + loss("l2", "y2", "o2") + "force_backward: true")
    assert net._layer_names[:2] == ["in", "x_in_0_split"]
    assert net.bottom_names["a1"] == ["x_in_0_split_0"] and net.bottom_names["a2"] == ["x_in_0_split_1"]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    net.forward(x=x)
    d = net.backward()["x"]
    # y = 2x + 0.5 on both paths; dL/dx = Σ_paths 2·y
    np.testing.assert_allclose(d, 2 * 2 * (2 * x + 0.5))


def test_loss_blob_also_consumed_gets_split_with_loss_on_copy_0():
    text = INPUT + affine("a", "x", "y") + loss("l", "y", "o") + \
        'layer { name: "r" type: "ReLU" bottom: "o" top: "z" }\n'
    net = net_from(text)
    assert "o_l_0_split" in net._layer_names
    assert net.blob_loss_weights["o_l_0_split_0"] == 1 and net.blob_loss_weights["o_l_0_split_1"] == 0
    assert net.bottom_names["r"] == ["o_l_0_split_1"]


def test_in_place_shares_blob():
    net = net_from(INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "x" }')
    assert net._tops[1][0] is net._bottoms[1][0] is net.blobs["x"]
    out = net.forward(x=np.array([[-1, 2, -3], [4, -5, 6]], np.float32))
    np.testing.assert_array_equal(out["x"], [[0, 2, 0], [4, 0, 6]])


def test_param_sharing_and_accumulation():
    share = 'param { name: "w" } param { name: "b" }'
    net = net_from(INPUT + affine("a1", "x", "y1", share) + affine("a2", "x", "y2", share)
                   + loss("l1", "y1", "o1") + loss("l2", "y2", "o2"), caffe.TRAIN)
    assert net.params["a1"][0] is net.params["a2"][0]
    assert len(net.learnable_params) == 2
    x = np.ones((2, 3), np.float32)
    net.forward(x=x)
    net.clear_param_diffs()
    net.backward()
    # each path contributes Σ_n y·x = 2 · 2.5 per element
    np.testing.assert_allclose(net.params["a1"][0].diff, 2 * 2 * 2.5)


def test_param_sharing_shape_mismatch_names_param():
    text = ('layer { name: "in" type: "Input" top: "x" top: "z" input_param { shape { dim: 2 dim: 3 } '
            'shape { dim: 2 dim: 4 } } }\n' + affine("a1", "x", "y1", 'param { name: "w" }')
            + affine("a2", "z", "y2", 'param { name: "w" }'))
    with pytest.raises(ValueError, match="shared parameter 'w' has shape"):
        net_from(text)


def test_loss_weight_scales_loss_and_gradient():
    net = net_from(INPUT + affine("a", "x", "y") + loss("l", "y", "o").replace("loss_weight: 1", "loss_weight: 3")
                   + "force_backward: true")
    x = np.ones((2, 3), np.float32)
    net.forward(x=x)
    assert net._last_loss == pytest.approx(3 * 0.5 * 6 * 2.5 ** 2)
    assert net.blobs["o"].diff == 3
    np.testing.assert_allclose(net.backward()["x"], 3 * 2 * 2.5)


def test_propagate_down_false_skips_bottom_gradient():
    net = net_from(INPUT + affine("a", "x", "y") + affine("b", "y", "z", "propagate_down: false")
                   + loss("l", "z", "o"), caffe.TRAIN)
    assert net._bottom_need_backward[net._layer_names.index("b")] == [False]
    net.forward(x=np.ones((2, 3), np.float32))
    net.blobs["y"].diff[...] = 7
    net.backward()
    assert (net.blobs["y"].diff == 7).all()  # untouched: b did not write its bottom diff


def test_layers_not_under_a_loss_skip_backward():
    net = net_from(INPUT + affine("a", "x", "y") + affine("b", "x", "z") + loss("l", "y", "o"), caffe.TRAIN)
    assert not net._layer_need_backward[net._layer_names.index("b")]
    assert net._layer_need_backward[net._layer_names.index("a")]


def test_lr_mult_zero_freezes_and_no_backward():
    net = net_from(INPUT + affine("a", "x", "y", "param { lr_mult: 0 } param { lr_mult: 0 }")
                   + loss("l", "y", "o"), caffe.TRAIN)
    assert not net._layer_need_backward[net._layer_names.index("a")]


def test_net_level_input_dim_and_outputs_sorted():
    net = net_from('input: "b" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 4\n'
                   'layer { name: "r2" type: "ReLU" bottom: "b" top: "zz" }\n'
                   'layer { name: "r1" type: "ReLU" bottom: "zz" top: "aa" }')
    assert net.inputs == ["b"] and net.blobs["b"].shape == (1, 2, 3, 4)
    assert net.outputs == ["aa"]
    net2 = net_from(INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "zz" }\n'
                    'layer { name: "q" type: "ReLU" bottom: "x" top: "aa" }')
    assert net2.outputs == ["aa", "zz"]  # Caffe keeps output names in a std::set


def test_forward_backward_api():
    net = net_from(INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n'
                   'layer { name: "s" type: "ReLU" bottom: "y" top: "z" relu_param { negative_slope: 0.5 } }\n'
                   'force_backward: true')
    x = np.array([[-2, 1, 3], [0, -1, 2]], np.float32)
    out = net.forward(x=x)
    assert set(out) == {"z"}
    out = net.forward(end="r", x=x)
    assert set(out) == {"y"}
    np.testing.assert_array_equal(net.forward(start="s", blobs=["y"])["y"], np.maximum(x, 0))
    grads = net.backward(z=np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(grads["x"], (x > 0).astype(np.float32))
    with pytest.raises(ValueError, match="do not match"):
        net.forward(q=x)
    with pytest.raises(ValueError, match="batch sized"):
        net.forward(x=np.ones((3, 3), np.float32))
    with pytest.raises(KeyError, match="no layer named"):
        net.forward(end="nope")


def test_forward_all_batches_and_trims():
    net = net_from(INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }')
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    out = net.forward_all(x=x)
    np.testing.assert_array_equal(out["y"], np.maximum(x, 0))


@pytest.mark.parametrize("text, match", [
    (INPUT + 'layer { name: "r" type: "ReLU" bottom: "nope" top: "y" }', "unknown bottom blob 'nope'"),
    (INPUT + 'layer { name: "r" type: "Bogus" bottom: "x" top: "y" }', "unknown layer type 'Bogus'.*ReLU"),
    (INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n'
             'layer { name: "q" type: "ReLU" bottom: "z" top: "y" }', "unknown bottom blob 'z'"),
    (INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n'
             'layer { name: "q" type: "ReLU" bottom: "x" top: "y" }', "produced by an earlier layer"),
    (INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" top: "z" }', "exactly 1 top"),
    (INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" relu_param { slope: 1 } }', "unknown field 'slope'"),
    (INPUT + 'layer { name: "p" type: "Python" bottom: "x" top: "y" python_param { module: "no_such_mod" '
             'layer: "X" } }', "cannot import module 'no_such_mod'"),
    ('input: "x" input_dim: 1 input_dim: 2', "need 4 input_dim"),
])
def test_construction_errors(text, match):
    with pytest.raises(ValueError, match=match):
        net_from(text)


def test_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.prototxt"
    path.write_text(INPUT + '\n\nlayer { name: "r" type: "Bogus" bottom: "x" top: "y" }\n')
    with pytest.raises(ValueError, match=r"bad.prototxt:4.*'r'.*Bogus"):
        caffe.Net(str(path), caffe.TEST)


def test_old_pycaffe_signature(tmp_path):
    path = tmp_path / "n.prototxt"
    path.write_text(INPUT)
    with pytest.raises(ValueError, match="phase"):
        caffe.Net(str(path), 5)
    assert caffe.Net(str(path), caffe.TEST).phase == caffe.TEST


def test_gpu_mode_without_cuda_is_an_error():
    from lrcn_native.backend import K
    if K.has_cuda and K.device_count() > 0:
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="set_mode_gpu"):
        caffe.set_mode_gpu()


def test_dummy_data_shapes_and_fillers():
    net = net_from('layer { name: "d" type: "DummyData" top: "a" top: "b" dummy_data_param { '
                   'shape { dim: 2 dim: 3 } shape { dim: 4 } data_filler { type: "constant" value: 7 } '
                   'data_filler { type: "uniform" min: 1 max: 2 } } }\n'
                   'layer { name: "l" type: "DummyData" top: "c" dummy_data_param { num: 1 channels: 2 height: 3 '
                   'width: 4 } }')
    out = net.forward()
    assert out["a"].shape == (2, 3) and (out["a"] == 7).all()
    assert out["b"].shape == (4,) and ((out["b"] >= 1) & (out["b"] <= 2)).all()
    assert out["c"].shape == (1, 2, 3, 4) and not out["c"].any()
    with pytest.raises(ValueError, match="data_filler"):
        net_from('layer { name: "d" type: "DummyData" top: "a" top: "b" top: "c" dummy_data_param { '
                 'shape { dim: 1 } data_filler { } data_filler { } } }')


def test_a_layer_error_in_forward_or_backward_names_the_layer(tmp_path, monkeypatch):
    from lrcn_native.layer import LayerError
    path = tmp_path / "n.prototxt"
    path.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }\n'
                    'layer { name: "act" type: "ReLU" bottom: "x" top: "y" }\n'
                    'force_backward: true\n', encoding="utf-8")
    net = caffe.Net(str(path), caffe.TEST)
    layer = net.layers[1]
    for phase, exc in (("forward", MemoryError("out of memory")), ("backward", ValueError("kernel says no"))):
        def boom(*args, exc=exc):
            raise exc
        monkeypatch.setattr(layer, phase, boom)
        with pytest.raises(LayerError, match=rf"n.prototxt:2: layer 'act' \(ReLU\): {phase} failed: "
                                             rf"{type(exc).__name__}") as e:
            getattr(net, phase)()
        assert e.value.__cause__ is exc
        monkeypatch.undo()


@pytest.mark.parametrize("text, layer", [
    ('input: "x" input_shape { dim: 4294967296 dim: 4294967296 }', "input"),  # 2**64: 0 in int64
    ('input: "x" input_shape { dim: 1 dim: 1 dim: 3 dim: 3 } layer { name: "c" type: "Convolution" bottom: "x" '
     'top: "y" convolution_param { num_output: 1 kernel_size: 1 pad: 2000000000 } }', "c"),
])
def test_counts_past_int32_are_refused_at_build_naming_the_layer(text, layer):
    with pytest.raises(ValueError, match=f"layer '{layer}'.*more than Caffe's int32 limit"):
        caffe.Net(parse(text, "n.prototxt"), caffe.TEST)


def test_memory_bytes_counts_each_blob_and_parameter_once():
    net = caffe.Net(parse('input: "x" input_shape { dim: 2 dim: 3 } layer { name: "ip" type: "InnerProduct" '
                          'bottom: "x" top: "y" inner_product_param { num_output: 4 } } '
                          'layer { name: "r" type: "ReLU" bottom: "y" top: "y" }', "n.prototxt"), caffe.TEST)
    # x 2×3, y 2×4 (ReLU in place), W 4×3, b 4: data and diff, float32
    assert net.memory_bytes() == 2 * 4 * (6 + 8 + 12 + 4)


def test_layer_buffer_is_one_blob_per_name_kept_between_calls():
    from lrcn_native.layer import Layer
    layer = Layer()
    a = layer.buffer("a", 2, 3)
    a.data[...] = 7
    assert layer.buffer("a", 2, 3) is a and (a.data == 7).all()    # forward's scratch reaches backward
    assert (layer.buffer("a", 3).data == 7).all()                   # shrinking keeps the memory, as Blob does
    assert layer.buffer("b", 4) is not a and layer.buffers.keys() == {"a", "b"}


def test_layer_loop_callbacks_see_every_layer_in_order():
    """forward_from_to / backward_from_to call back after each layer (what debug_info, `lrcn time` and the
    NaN report build on): forward in order with the layer's tops computed; backward in reverse, with
    propagate_down None for a layer that needs no backward."""
    net = caffe.Net(parse('input: "x" input_shape { dim: 2 dim: 3 } input: "label" input_shape { dim: 2 } '
                          'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { '
                          'num_output: 4 weight_filler { type: "gaussian" std: 1 } } } '
                          'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "y" bottom: "label" top: "l" }',
                          "n.prototxt"), caffe.TRAIN)
    net.blobs["x"].data[...] = 1
    seen = []
    loss = net.forward_from_to(0, len(net.layers) - 1,
                               after=lambda i, layer, bottom, top: seen.append((i, layer.name, float(top[0].data.sum()))))
    assert [s[:2] for s in seen] == [(0, "input"), (1, "ip"), (2, "loss")] and seen[2][2] == pytest.approx(loss)
    back = []
    net.backward_from_to(2, 0, after=lambda i, layer, top, need, bottom: back.append((layer.name, need)))
    assert back == [("loss", [True, False]), ("ip", [False]), ("input", None)]
    net2 = caffe.Net(parse('input: "x" input_shape { dim: 2 } layer { name: "r" type: "ReLU" bottom: "x" top: "y" }',
                           "m.prototxt"), caffe.TEST)
    back = []
    net2.backward_from_to(0, 0, after=lambda i, layer, top, need, bottom: back.append(need))
    assert back == [None]                                    # nothing reaches a loss: no backward ran
