"""Acceptance for the encoders people swap in: the model zoo's released deploy nets (tests/zoo/, sources and
licenses in its README) build from the files as published, have the published parameter counts, and run
forward and backward at batch 1 on random weights; VGG16's V1-syntax file loads through Net's in-memory
upgrade and through `lrcn upgrade-net`."""
import pathlib

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.cli import main
from lrcn_native.proto.text import Ident, parse_file

ZOO = pathlib.Path(__file__).with_name("zoo")

# file, learnable parameters (BatchNorm's statistics are not learnable), first convolution.
# Published counts: AlexNet/CaffeNet 60,965,224 and GoogLeNet 6,998,552 (Caffe's own nets, which keep
# GoogLeNet's 1000-way classifier but not its auxiliary heads), VGG16 138,357,544 (Simonyan & Zisserman);
# ResNet-50/101/152 25,557,032 / 44,549,160 / 60,192,808 as in torchvision's ports of these nets, plus the
# 64 biases of conv1 that only the released ResNet-50 has (bias_term defaults to true there).
NETS = {
    "AlexNet": ("bvlc_alexnet.deploy.prototxt", 60_965_224, "conv1"),
    "CaffeNet": ("bvlc_reference_caffenet.deploy.prototxt", 60_965_224, "conv1"),
    "VGG16": ("VGG_ILSVRC_16_layers_deploy.prototxt", 138_357_544, "conv1_1"),
    "GoogLeNet": ("bvlc_googlenet.deploy.prototxt", 6_998_552, "conv1/7x7_s2"),
    "ResNet-50": ("ResNet-50-deploy.prototxt", 25_557_032 + 64, "conv1"),
    "ResNet-101": ("ResNet-101-deploy.prototxt", 44_549_160, "conv1"),
    "ResNet-152": ("ResNet-152-deploy.prototxt", 60_192_808, "conv1"),
}


def zoo_net(file, force_backward=True):
    """The released net at batch 1 (the files say 10, or 1 for the ResNets), force_backward set as a user
    who wants input gradients would, with random weights (He-scaled) and each BatchNorm's statistics set
    to those of the input it sees, so activations stay O(1) through the depth and the softmax does not
    saturate (a saturated one would send no gradient back)."""
    netp = parse_file(str(ZOO / file))
    if force_backward:
        netp.add("force_backward", Ident("true"))
    caffe.set_random_seed(0)
    net = caffe.Net(netp, caffe.TEST)
    shape = net.blobs["data"].data.shape
    net.blobs["data"].reshape(1, *shape[1:])
    net.reshape()
    rng = np.random.default_rng(0)
    net.blobs["data"].data[...] = rng.standard_normal(net.blobs["data"].data.shape)
    calibrate = any(layer.type == "BatchNorm" for layer in net.layers)  # statistics need a forward
    for i, layer in enumerate(net.layers):
        for b in layer.blobs:  # weights N(0, 2/fan_in), biases and Scale's factors N(0, 1)
            std = np.sqrt(2 / (b.count / b.shape[0])) if b.data.ndim > 1 else 1
            b.data[...] = rng.standard_normal(b.shape).astype(np.float32) * std
        if layer.type == "BatchNorm":  # (N, C, H, W) bottom: per-channel mean and variance, factor 1
            x = net.layer_io(i)[0][0].data
            layer.blobs[0].data[...] = x.mean(axis=(0, 2, 3))
            layer.blobs[1].data[...] = x.var(axis=(0, 2, 3))
            layer.blobs[2].data[...] = 1
        if calibrate:
            net.forward_from_to(i, i)
    return net


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


def test_resnet50_batch_norm_and_scale_layout():
    """The released ResNet-50's BatchNorm (global statistics, in place) and Scale layers: Caffe's blob
    layouts, statistics that receive no gradient, Scale parameters that do."""
    net = zoo_net("ResNet-50-deploy.prototxt")
    assert sum(layer.type == "BatchNorm" for layer in net.layers) == 53
    assert [b.shape for b in net.params["bn_conv1"]] == [(64,), (64,), (1,)]
    assert [b.shape for b in net.params["scale_conv1"]] == [(64,), (64,)]
    net.forward()
    net.backward(prob=np.ones((1, 1000), np.float32))
    assert np.abs(net.params["scale_conv1"][0].diff).max() > 0
    assert not np.abs(net.params["bn_conv1"][0].diff).any()


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
