"""caffe.draw: the graph of a net (nodes, edges, labels, phase filter) always; the PNG only where Graphviz's
dot is installed; without dot a clear error."""
import shutil

import pytest

from lrcn_native.proto import caffe_pb2, text_format

pydot = pytest.importorskip("pydot", reason="pydot (the draw extra) is not installed")
from lrcn_native import draw
from lrcn_native.cli import main

NET = '''
name: "small"
layer { name: "data" type: "Data" top: "data" top: "label" data_param { batch_size: 32 source: "db" }
        include { phase: TRAIN } }
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } }
        include { phase: TEST } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        param { lr_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
        convolution_param { num_output: 16 kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: AVE kernel_size: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "pool1" top: "ip" inner_product_param { num_output: 10 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" exclude { phase: TEST } }
'''


def _graph(**kwargs):
    graph = draw.get_pydot_graph(text_format.Merge(NET, caffe_pb2.NetParameter()), "TB", **kwargs)
    nodes = {n.get_name().strip('"'): n.get("label") for n in graph.get_nodes()}
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"')): e.get("label") for e in graph.get_edges()}
    return graph, nodes, edges


def test_graph_has_a_node_per_layer_and_blob_and_labelled_edges():
    graph, nodes, edges = _graph()
    assert graph.get_name() == "small" and graph.get("rankdir") == "TB"
    assert set(nodes) == {"data_Data", "input_Input", "conv1_Convolution", "relu1_ReLU", "pool1_Pooling",
                          "ip_InnerProduct", "loss_SoftmaxWithLoss", "data_blob", "label_blob", "conv1_blob",
                          "pool1_blob", "ip_blob", "loss_blob"}
    assert nodes["conv1_Convolution"] == '"conv1\\n(Convolution)\\nkernel size: 3\\nstride: 2\\npad: 1"'
    assert nodes["pool1_Pooling"] == '"pool1\\n(Pooling AVE)\\nkernel size: 2\\nstride: 1\\npad: 0"'
    assert graph.get_node("relu1_ReLU")[0].get("fillcolor") != graph.get_node("ip_InnerProduct")[0].get("fillcolor")
    assert edges[("data_Data", "data_blob")] == '"Batch 32"' and edges[("data_Data", "label_blob")] == '"Batch 32"'
    assert edges[("conv1_Convolution", "conv1_blob")] == '"16"' and edges[("ip_InnerProduct", "ip_blob")] == '"10"'
    assert edges[("relu1_ReLU", "conv1_blob")] == '""' and ("conv1_blob", "relu1_ReLU") in edges
    assert ("label_blob", "loss_SoftmaxWithLoss") in edges and len(edges) == 14
    assert "digraph small {" in graph.to_string()


def test_phase_filter_and_learning_rate_labels():
    _, train, _ = _graph(phase=caffe_pb2.TRAIN)
    _, test, _ = _graph(phase=caffe_pb2.TEST, display_lrm=True)
    assert "data_Data" in train and "input_Input" not in train and "loss_SoftmaxWithLoss" in train
    assert "data_Data" not in test and "input_Input" in test and "loss_SoftmaxWithLoss" not in test
    assert "lr mult: 1, 2\\ndecay mult: 1, 0" in test["conv1_Convolution"]
    layer = caffe_pb2.LayerParameter(name="x", include=[{}], exclude=[{}])
    with pytest.raises(ValueError, match="layer 'x' specifies both include and exclude"):
        draw.get_pydot_graph(caffe_pb2.NetParameter(layer=[layer]), "LR", phase=caffe_pb2.TRAIN)


def test_png_when_graphviz_is_installed(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")
    (tmp_path / "net.prototxt").write_text(NET)
    assert main(["draw-net", str(tmp_path / "net.prototxt"), str(tmp_path / "net.png"), "--phase", "TRAIN"]) == 0
    assert (tmp_path / "net.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_graphviz_the_error_names_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="Graphviz's `dot` program"):
        draw.draw_net_to_file(text_format.Merge(NET, caffe_pb2.NetParameter()), str(tmp_path / "n.png"))
    (tmp_path / "net.prototxt").write_text(NET)
    assert main(["draw-net", str(tmp_path / "net.prototxt"), str(tmp_path / "n.png")]) != 0
    assert "apt-get install graphviz" in capsys.readouterr().err
    assert not (tmp_path / "n.png").exists()
