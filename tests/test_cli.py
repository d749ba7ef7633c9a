"""The `lrcn` command (inspect, convert, time) and loading weight files into nets by Caffe's rules."""
import os

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.proto.text import parse
from lrcn_native.cli import main
from lrcn_native.proto.caffemodel import LayerWeights, load_weights, write_caffemodel

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")
CONV = os.path.join(GOLDEN, "conv")


def test_inspect_and_convert_roundtrip(tmp_path, capsys):
    src = os.path.join(CONV, "weights.caffemodel")
    assert main(["inspect", src]) == 0
    out = capsys.readouterr().out
    assert "format V2" in out and "conv_k11s4" in out and "4x3x11x11" in out and "2,046 parameters" in out
    h5 = str(tmp_path / "w.caffemodel.h5")
    back = str(tmp_path / "w.caffemodel")
    assert main(["convert", src, h5]) == 0 and main(["convert", h5, back]) == 0
    a, b = load_weights(src), load_weights(back)
    assert [l.name for l in a.layers] == [l.name for l in b.layers]
    for la, lb in zip(a.layers, b.layers):
        for x, y in zip(la.blobs, lb.blobs):
            np.testing.assert_array_equal(x, y)


def test_inspect_bad_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "junk.caffemodel"
    bad.write_bytes(b"\xff" * 64)
    assert main(["inspect", str(bad)]) == 1
    assert "junk.caffemodel" in capsys.readouterr().err


def test_time_prints_caffe_style_summary(tmp_path, capsys):
    net = tmp_path / "n.prototxt"
    net.write_text('name: "tiny" force_backward: true\n'
                   'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 4 dim: 8 } } }\n'
                   'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n')
    assert main(["time", "--model", str(net), "--iterations", "2"]) == 0
    out = capsys.readouterr().out
    for line in ("Average time per layer", "r\tforward:", "r\tbackward:", "Average Forward pass",
                 "Average Backward pass", "Total Time"):
        assert line in out


def _conv_net():
    return caffe.Net(os.path.join(CONV, "net.prototxt"), caffe.TEST)


def test_copy_from_reports_missing_and_ignores_unknown(tmp_path):
    net = _conv_net()
    wf = load_weights(os.path.join(CONV, "weights.caffemodel"))
    keep = [l for l in wf.layers if l.name != "conv_k5"] + [LayerWeights("not_in_net", "ReLU", [])]
    path = tmp_path / "partial.caffemodel"
    write_caffemodel(str(path), "conv", keep)
    before = net.params["conv_k5"][0].data.copy()
    assert net.copy_from(str(path)) == ["conv_k5"]
    np.testing.assert_array_equal(net.params["conv_k5"][0].data, before)
    np.testing.assert_array_equal(net.params["conv_g2"][0].data, wf["conv_g2"].blobs[0])


def test_copy_from_shape_mismatch_names_layer_blob_and_shapes(tmp_path):
    net = _conv_net()
    path = tmp_path / "bad.caffemodel"
    write_caffemodel(str(path), "conv", [LayerWeights("conv_g2", "Convolution",
                                                      [np.zeros((6, 2, 3, 4), np.float32), np.zeros(6, np.float32)])])
    with pytest.raises(ValueError, match=r"blob 0 of layer 'conv_g2': shape \(6, 2, 3, 4\) in the file, "
                                         r"\(6, 2, 3, 3\) in the net"):
        net.copy_from(str(path))
    write_caffemodel(str(path), "conv", [LayerWeights("conv_g2", "Convolution", [np.zeros((6, 2, 3, 3), np.float32)])])
    with pytest.raises(ValueError, match="'conv_g2' has 1 blobs in the file but 2 in the net"):
        net.copy_from(str(path))


def test_legacy_v1_file_loads_into_v2_net(tmp_path):
    """A V1 file (`layers`, V1 type enums, 4-D num/channels/height/width blobs, net-level input_dim, double
    data) loads into a V2 net whose blobs have fewer axes, as Caffe matches legacy shapes."""
    from test_caffemodel import v1_file
    data, want = v1_file()
    path = tmp_path / "v1.caffemodel"
    path.write_bytes(data)
    net = caffe.Net(parse(
        'layer { name: "data" type: "Input" top: "data" top: "feat" '
        '  input_param { shape { dim: 1 dim: 3 dim: 5 dim: 5 } shape { dim: 1 dim: 12 } } }\n'
        'layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" '
        '  convolution_param { num_output: 4 kernel_size: 5 } }\n'
        'layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }\n'
        'layer { name: "fc6" type: "InnerProduct" bottom: "feat" top: "fc6" inner_product_param { num_output: 8 } }',
        "v2.prototxt"), caffe.TEST, weights=str(path))
    by_name = {w.name: w for w in want}
    np.testing.assert_array_equal(net.params["conv1"][0].data, by_name["conv1"].blobs[0])
    np.testing.assert_array_equal(net.params["conv1"][1].data, by_name["conv1"].blobs[1].reshape(4))
    np.testing.assert_array_equal(net.params["fc6"][0].data, by_name["fc6"].blobs[0].reshape(8, 12))
    np.testing.assert_array_equal(net.params["fc6"][1].data, by_name["fc6"].blobs[1].reshape(8))


def test_save_and_reload_roundtrip_both_formats(tmp_path):
    net = _conv_net()
    rng = np.random.default_rng(0)
    for blobs in net.params.values():
        for b in blobs:
            b.data[...] = rng.standard_normal(b.shape)
    for name in ("n.caffemodel", "n.caffemodel.h5"):
        path = str(tmp_path / name)
        (net.save_hdf5 if name.endswith("h5") else net.save)(path)
        other = _conv_net()
        assert other.copy_from(path) == []
        for layer, blobs in net.params.items():
            for a, b in zip(blobs, other.params[layer]):
                np.testing.assert_array_equal(a.data, b.data)
