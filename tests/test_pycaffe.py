"""pycaffe's Net runtime beyond forward/backward: hooks (Caffe's Net::Callback), share_with, stages=None,
the lower-level names, repr; caffe.layer_type_list and caffe.Timer."""
import logging

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native import timer
from lrcn_native.layer import REGISTRY
from lrcn_native.net import NetError
from lrcn_native.proto.text import parse

NET = """name: "tiny"
layer { name: "x" type: "Input" top: "x" top: "label" input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y"
        inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "relu" type: "ReLU" bottom: "y" top: "y" }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "y" bottom: "label" top: "loss" }
"""


def net_from(text=NET, phase=caffe.TRAIN, **kw):
    return caffe.Net(parse(text, "net.prototxt"), phase, **kw)


def record(net):
    calls = []
    for when in ("before_forward", "after_forward", "before_backward", "after_backward"):
        getattr(net, when)(lambda i, when=when: calls.append((when, i)))
    return calls


def test_hooks_fire_per_layer_in_caffes_order():
    net = net_from()
    calls = record(net)
    net.forward()
    assert calls == [(w, i) for i in range(4) for w in ("before_forward", "after_forward")]
    calls.clear()
    net.backward()
    # every layer of the range, the Input layer (no backward) included, as Caffe's BackwardFromTo
    assert calls == [(w, i) for i in (3, 2, 1, 0) for w in ("before_backward", "after_backward")]
    calls.clear()
    net.forward(start="ip", end="relu")
    assert calls == [("before_forward", 1), ("after_forward", 1), ("before_forward", 2), ("after_forward", 2)]
    with pytest.raises(TypeError, match="before_forward: expects a function"):
        net.before_forward(3)


def test_hooks_see_the_layer_run_between_them():
    net = net_from()
    seen = {}
    net.before_forward(lambda i: seen.setdefault(i, net.blobs["y"].data.copy()) if i == 1 else None)
    net.after_forward(lambda i: seen.setdefault(-i, net.blobs["y"].data.copy()) if i == 1 else None)
    net.blobs["x"].data[...] = 1
    net.forward()
    assert np.all(seen[1] == 0)  # before ip: y is untouched
    np.testing.assert_allclose(seen[-1], np.ones((2, 3)) @ net.params["ip"][0].data.T + net.params["ip"][1].data,
                               rtol=1e-6)


def test_hooks_fire_in_solver_steps(tmp_path):
    (tmp_path / "net.prototxt").write_text(NET)
    (tmp_path / "solver.prototxt").write_text(f'net: "{tmp_path / "net.prototxt"}" base_lr: 0.1 lr_policy: "fixed"')
    solver = caffe.SGDSolver(str(tmp_path / "solver.prototxt"))
    calls = record(solver.net)
    solver.step(2)
    one = [(w, i) for i in range(4) for w in ("before_forward", "after_forward")] + \
          [(w, i) for i in (3, 2, 1, 0) for w in ("before_backward", "after_backward")]
    assert calls == one * 2


def test_share_with_shares_data_not_diffs(caplog):
    source = net_from()
    target = net_from(NET.replace('name: "relu"', 'name: "relu2"') + 'layer { name: "extra" type: "ReLU" '
                      'bottom: "loss" top: "z" }', phase=caffe.TEST)
    caplog.set_level(logging.INFO, logger="lrcn_native")
    target.share_with(source)
    assert "Ignoring source layer relu" in caplog.messages
    source.params["ip"][0].data[...] = 7
    assert np.all(target.params["ip"][0].data == 7)
    target.params["ip"][0].diff[...] = 3
    assert np.all(source.params["ip"][0].diff == 0)
    wider = net_from(NET.replace("num_output: 4", "num_output: 5"))
    with pytest.raises(NetError, match=r"cannot share param 0 weights from layer 'ip'.*\(5, 3\).*\(4, 3\)"):
        target.share_with(wider)


def test_stages_none_and_a_string_by_mistake():
    text = NET + 'layer { name: "staged" type: "ReLU" bottom: "loss" top: "z" include { stage: "s" } }'
    assert net_from(text, stages=None)._layer_names == net_from(text)._layer_names == ["x", "ip", "relu", "loss"]
    assert net_from(text, stages=["s"])._layer_names[-1] == "staged"
    with pytest.raises(TypeError, match=r"stages is a list of names, e.g. \['s'\]"):
        net_from(text, stages="s")


def test_lower_level_names_agree_with_the_dicts():
    net = net_from()
    assert net._blob_names == list(net.blobs) == ["x", "label", "y", "loss"]
    assert [net._blob_names[i] for i in net._inputs] == net.inputs == ["x", "label"]
    assert [net._blob_names[i] for i in net._outputs] == net.outputs == ["loss"]
    assert net._top_ids(2) == net._bottom_ids(2) == [2]  # relu runs in place on y
    assert net._bottom_ids(3) == [2, 1] and net._blob_loss_weights == [0, 0, 0, 1]
    assert net._blobs[2] is net.blobs["y"]
    net.blobs["x"].data[...] = 1
    assert net._forward(0, 3) == pytest.approx(float(net.blobs["loss"].data))


def test_repr_lists_layers_shapes_and_parameter_counts():
    shared = NET.replace('name: "ip" type: "InnerProduct" bottom: "x" top: "y"',
                         'name: "ip" type: "InnerProduct" bottom: "x" top: "y" param { name: "w" }').replace(
        'layer { name: "relu"', 'layer { name: "ip2" type: "InnerProduct" bottom: "x" top: "y2" param { name: "w" } '
        'inner_product_param { num_output: 4 bias_term: false } }\nlayer { name: "relu"')
    net = net_from(shared)
    lines = repr(net).splitlines()
    assert lines[0] == "Net 'tiny' (TRAIN): 6 layers, inputs [x, label], outputs [loss, y2]"
    assert lines[1].split() == ["layer", "type", "tops", "parameters"]
    assert lines[2].split() == ["x", "Input", "x", "2x3,", "label", "2"]
    assert lines[3].split() == ["x_x_0_split", "Split", "x_x_0_split_0", "2x3,", "x_x_0_split_1", "2x3"]
    assert lines[4].split() == ["ip", "InnerProduct", "y", "2x4", "16", "(4x3,", "4)"]
    assert lines[5].split() == ["ip2", "InnerProduct", "y2", "2x4", "12", "(4x3)"]
    assert lines[7].split() == ["loss", "SoftmaxWithLoss", "loss", "scalar"]
    assert lines[8] == "  total: 16 learnable parameters in 2 blobs (0.0 MiB)"  # the shared weight once
    assert str(net) == repr(net)


def test_layer_type_list():
    types = caffe.layer_type_list()
    assert types == sorted(types) and set(types) == set(REGISTRY) | {"Python"}
    assert {"LSTM", "Convolution", "SoftmaxWithLoss", "Python"} <= set(types)


def test_timer_as_caffes(monkeypatch, caplog):
    clock = iter([10.0, 10.25, 20.0, 21.0])
    monkeypatch.setattr(timer, "_now", lambda: next(clock))
    t = caffe.Timer()
    assert t.ms == 0.0 and "Timer has never been run before reading time." in caplog.text
    t.start()       # 10.0
    t.start()       # running: ignored
    t.stop()        # 10.25
    t.stop()        # stopped: ignored
    assert t.ms == pytest.approx(250) and t.seconds == pytest.approx(0.25)
    t.start()       # 20.0
    assert t.running and t.ms == pytest.approx(1000) and not t.running  # reading a running timer stops it (21.0)
