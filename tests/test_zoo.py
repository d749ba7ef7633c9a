"""Acceptance for the encoders people swap in: the model zoo's released deploy nets (tests/zoo/, sources and
licenses in its README) build from the files as published, have the published parameter counts, and run
forward and backward at batch 1 on random weights; VGG16's V1-syntax file loads through Net's in-memory
upgrade and through `lrcn upgrade-net`; GoogLeNet and ResNet-50 give the same answers on the GPU (skipped
without one)."""
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.cli import main
from util import ZOO, needs_gpu, zoo_net

# file, learnable parameters (BatchNorm's statistics are not learnable), first convolution.
# Published counts: AlexNet/CaffeNet 60,965,224 (the count quoted for Caffe's AlexNet), VGG16 138,357,544
# (Simonyan & Zisserman's 138M, the count quoted for the released model); ResNet-50/101/152 25,557,032 /
# 44,549,160 / 60,192,808 as torchvision's ports of these nets publish them, plus the 64 biases of conv1
# that only the released ResNet-50 has (its conv1 leaves bias_term at its default, true). GoogLeNet's paper
# gives no exact count: 6,998,552 is this file's (5,973,552 in the convolutions, the 1024 → 1000 classifier).
NETS = {
    "AlexNet": ("bvlc_alexnet.deploy.prototxt", 60_965_224, "conv1"),
    "CaffeNet": ("bvlc_reference_caffenet.deploy.prototxt", 60_965_224, "conv1"),
    "VGG16": ("VGG_ILSVRC_16_layers_deploy.prototxt", 138_357_544, "conv1_1"),
    "GoogLeNet": ("bvlc_googlenet.deploy.prototxt", 6_998_552, "conv1/7x7_s2"),
    "ResNet-50": ("ResNet-50-deploy.prototxt", 25_557_032 + 64, "conv1"),
    "ResNet-101": ("ResNet-101-deploy.prototxt", 44_549_160, "conv1"),
    "ResNet-152": ("ResNet-152-deploy.prototxt", 60_192_808, "conv1"),
}


def learnable_count(net):
    return sum(b.count for layer in net.layers if layer.type != "BatchNorm" for b in layer.blobs)


@pytest.mark.parametrize("model", list(NETS))
def test_zoo_net_forward_backward(model):
    file, params, conv1 = NETS[model]
    net = zoo_net(file)
    assert learnable_count(net) == params
    prob = net.forward()["prob"].copy()
    assert prob.shape == (1, 1000) and np.isfinite(prob).all()
    np.testing.assert_allclose(prob.sum(), 1, rtol=1e-5)  # float32 sum of 1000 terms: ~1e-7 each
    # The classifier's logits reach the softmax unchanged: prob is softmax of the last InnerProduct's top.
    fc = [n for n, layer in zip(net._layer_names, net.layers) if layer.type == "InnerProduct"][-1]
    logits = net.blobs[net.top_names[fc][0]].data.astype(np.float64)
    e = np.exp(logits - logits.max())
    np.testing.assert_allclose(prob, e / e.sum(), rtol=1e-5, atol=1e-9)  # float32 softmax vs float64
    dy = np.random.default_rng(1).standard_normal((1, 1000)).astype(np.float32)
    grad = net.backward(prob=dy)["data"]
    assert grad.shape == net.blobs["data"].data.shape and np.isfinite(grad).all() and np.abs(grad).max() > 0
    assert np.isfinite(net.params[conv1][0].diff).all() and np.abs(net.params[conv1][0].diff).max() > 0
    for layer in net.layers:  # BatchNorm's statistics get no gradient; Scale's factors and biases do
        if layer.type in ("BatchNorm", "Scale"):
            assert all(np.abs(b.diff).any() == (layer.type == "Scale") for b in layer.blobs), layer.name


@needs_gpu
@pytest.mark.parametrize("model", ["GoogLeNet", "ResNet-50"])
def test_zoo_net_gpu_matches_cpu(model):
    """The same net and weights on the GPU. Its kernels sum in other orders (GEMM tiles, tree reductions):
    over 22 / 50 layers of float32 the probabilities differ by ~1e-5 of the largest (what the CPU and PyTorch
    differ by in test_export_torch), and the backward, summing as many terms, alike; 1e-4 and 1e-3 (relative
    norm of the data gradient) leave room for ReLU and max-pooling ties that rounding flips, and still catch
    a wrong or missing term."""
    net = zoo_net(NETS[model][0])
    dy = np.random.default_rng(1).standard_normal((1, 1000)).astype(np.float32)
    prob = net.forward()["prob"].copy()
    grad = net.backward(prob=dy)["data"].copy()
    caffe.set_mode_gpu()
    try:
        gpu_prob = net.forward()["prob"].copy()
        gpu_grad = net.backward(prob=dy)["data"].copy()
    finally:
        caffe.set_mode_cpu()
    np.testing.assert_allclose(gpu_prob, prob, rtol=0, atol=1e-4 * prob.max())
    assert np.linalg.norm(gpu_grad - grad) <= 1e-3 * np.linalg.norm(grad)


def test_resnet50_batch_norm_and_scale_layout():
    """The released ResNet-50's BatchNorm (global statistics, in place) and Scale layers in Caffe's blob
    layouts (their gradients are checked by the forward/backward test above)."""
    net = caffe.Net(str(ZOO / "ResNet-50-deploy.prototxt"), caffe.TEST)
    assert sum(layer.type == "BatchNorm" for layer in net.layers) == 53
    assert sum(layer.type == "Scale" for layer in net.layers) == 53
    assert [b.shape for b in net.params["bn_conv1"]] == [(64,), (64,), (1,)]
    assert [b.shape for b in net.params["scale_conv1"]] == [(64,), (64,)]
    assert net.blobs["res5c"].data.shape == (1, 2048, 7, 7)


def test_vgg16_v1_file_upgraded_in_memory_and_by_upgrade_net(tmp_path, capsys, caplog):
    caplog.set_level("INFO", logger="lrcn_native")
    v1 = ZOO / "VGG_ILSVRC_16_layers_deploy.prototxt"
    assert "layers {" in v1.read_text() and "type: CONVOLUTION" in v1.read_text()  # the zoo's V1 syntax
    net = caffe.Net(str(v1), caffe.TEST)
    assert "V1 prototxt ('layers' blocks) upgraded to V2 in memory" in caplog.text
    v2 = tmp_path / "vgg16_v2.prototxt"
    assert main(["upgrade-net", str(v1), str(v2)]) == 0
    assert "upgraded from V1 to V2" in capsys.readouterr().out
    text = v2.read_text()
    assert "layers {" not in text and text.count('type: "Convolution"') == 13 and 'type: "Softmax"' in text
    upgraded = caffe.Net(str(v2), caffe.TEST)
    assert [(n, l.type) for n, l in zip(upgraded._layer_names, upgraded.layers)] == \
        [(n, l.type) for n, l in zip(net._layer_names, net.layers)]
    assert {n: [b.shape for b in bs] for n, bs in upgraded.params.items()} == \
        {n: [b.shape for b in bs] for n, bs in net.params.items()}
    assert net.params["fc6"][0].shape == (4096, 512 * 7 * 7) and net.blobs["prob"].data.shape == (10, 1000)
