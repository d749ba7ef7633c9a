"""Acceptance for the encoders people swap in: the ResNet-50 deploy net of the model zoo (He et al. 2015, the
layer names, order and parameters of ResNet-50-deploy.prototxt, generated here since the zoo file is not
shipped) builds, and runs forward and backward on random weights."""

import numpy as np

import lrcn_native as caffe
from lrcn_native.proto.text import parse


def resnet50_deploy(size=224):
    """The zoo's ResNet-50-deploy.prototxt: conv1 + 3, 4, 6, 3 bottleneck blocks (BatchNorm with global
    statistics and Scale with a bias after every convolution, run in place), AVE pool5, fc1000, prob."""
    lines = [f'name: "ResNet-50" input: "data" input_dim: 1 input_dim: 3 input_dim: {size} input_dim: {size}',
             "force_backward: true"]

    def conv(name, bottom, n, k, stride=1, pad=0, bias=False, relu=True, bn=None):
        lines.append(f'layer {{ bottom: "{bottom}" top: "{name}" name: "{name}" type: "Convolution" '
                     f'convolution_param {{ num_output: {n} kernel_size: {k} pad: {pad} stride: {stride} '
                     f'bias_term: {"true" if bias else "false"} }} }}')
        bn = bn or name
        lines.append(f'layer {{ bottom: "{name}" top: "{name}" name: "bn{bn}" type: "BatchNorm" '
                     "batch_norm_param { use_global_stats: true } }")
        lines.append(f'layer {{ bottom: "{name}" top: "{name}" name: "scale{bn}" type: "Scale" '
                     "scale_param { bias_term: true } }")
        if relu:
            lines.append(f'layer {{ bottom: "{name}" top: "{name}" name: "{name}_relu" type: "ReLU" }}')
        return name

    x = conv("conv1", "data", 64, 7, 2, 3, bias=True, bn="_conv1")
    lines.append('layer { bottom: "conv1" top: "pool1" name: "pool1" type: "Pooling" '
                 "pooling_param { kernel_size: 3 stride: 2 pool: MAX } }")
    x = "pool1"
    for stage, (blocks, width) in enumerate([(3, 64), (4, 128), (6, 256), (3, 512)], start=2):
        for b in "abcdef"[:blocks]:
            res, stride = f"res{stage}{b}", 2 if b == "a" and stage > 2 else 1
            shortcut = conv(f"{res}_branch1", x, 4 * width, 1, stride, relu=False,
                            bn=f"{stage}{b}_branch1") if b == "a" else x
            y = conv(f"{res}_branch2a", x, width, 1, stride, bn=f"{stage}{b}_branch2a")
            y = conv(f"{res}_branch2b", y, width, 3, 1, 1, bn=f"{stage}{b}_branch2b")
            y = conv(f"{res}_branch2c", y, 4 * width, 1, relu=False, bn=f"{stage}{b}_branch2c")
            lines.append(f'layer {{ bottom: "{shortcut}" bottom: "{y}" top: "{res}" name: "{res}" type: "Eltwise" }}')
            lines.append(f'layer {{ bottom: "{res}" top: "{res}" name: "{res}_relu" type: "ReLU" }}')
            x = res
    lines.append(f'layer {{ bottom: "{x}" top: "pool5" name: "pool5" type: "Pooling" '
                 "pooling_param { kernel_size: 7 stride: 1 pool: AVE } }")
    lines.append('layer { bottom: "pool5" top: "fc1000" name: "fc1000" type: "InnerProduct" '
                 "inner_product_param { num_output: 1000 } }")
    lines.append('layer { bottom: "fc1000" top: "prob" name: "prob" type: "Softmax" }')
    return "\n".join(lines)


def test_resnet50_deploy_forward_backward():
    caffe.set_random_seed(0)
    net = caffe.Net(parse(resnet50_deploy(), "ResNet-50-deploy.prototxt"), caffe.TEST)
    assert sum(t == "BatchNorm" for t in (l.type for l in net.layers)) == 53
    assert [b.shape for b in net.params["bn_conv1"]] == [(64,), (64,), (1,)]
    assert [b.shape for b in net.params["scale_conv1"]] == [(64,), (64,)]
    rng = np.random.default_rng(0)
    for name, blobs in net.params.items():  # random weights, scaled so activations stay O(1)
        for b in blobs:
            fan_in = b.count / b.shape[0] if b.data.ndim > 1 else 1
            b.data[...] = rng.standard_normal(b.shape).astype(np.float32) / np.sqrt(fan_in)
        if name.startswith("bn"):  # running sums and their factor: positive variances, s = 1
            blobs[1].data[...] = rng.uniform(0.5, 2, blobs[1].shape)
            blobs[2].data[...] = 1
    net.blobs["data"].data[...] = rng.standard_normal((1, 3, 224, 224))
    prob = net.forward()["prob"]
    assert prob.shape == (1, 1000) and np.isfinite(prob).all()
    np.testing.assert_allclose(prob.sum(), 1, rtol=1e-5)
    dy = rng.standard_normal((1, 1000)).astype(np.float32)
    grad = net.backward(prob=dy)["data"]
    assert grad.shape == (1, 3, 224, 224) and np.isfinite(grad).all() and np.abs(grad).max() > 0
    assert np.abs(net.params["scale_conv1"][0].diff).max() > 0
    assert not np.abs(net.params["bn_conv1"][0].diff).any()  # statistics get no gradient
