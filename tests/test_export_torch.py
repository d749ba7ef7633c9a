"""export-torch: a net's weights as a PyTorch state_dict and the torch module that runs them (TorchNet) give
the net's own outputs for a CNN, a ResNet block and two LRCNs (activity: CNN + LSTM over frames;
captioning: Embed + two LSTMs, one with the image as a static input). Skipped without torch.

Tolerance: both sides compute in float32 with different summation orders (oneDNN or PyTorch's GEMM vs our
im2col + OpenBLAS, our fused LSTM steps vs nn.LSTM), so each output carries a rounding error of about
sqrt(K)·2^-24 relative to the magnitudes summed (K ≤ 1000 here: ~2e-6); the nets are shallow, so their
outputs agree to 1e-5 of the output's largest magnitude. A wrong layout (a transposed weight, gates in the
wrong order, a missing scale factor) moves them by O(1)."""
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.cli import main
from lrcn_native.proto.text import parse
from util import run_python, zoo_net

torch = pytest.importorskip("torch", reason="export-torch needs torch (pip install torch)")
from lrcn_native.export_torch import TorchNet  # noqa: E402

CNN = '''
name: "cnn" input: "data" input_shape { dim: 2 dim: 3 dim: 23 dim: 23 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_size: 5 stride: 2 pad: 1 weight_filler { type: "gaussian" std: 0.2 }
                      bias_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" relu_param { negative_slope: 0.1 } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "norm1" type: "LRN" bottom: "pool1" top: "norm1" lrn_param { local_size: 5 alpha: 0.1 beta: 0.75 } }
layer { name: "conv2" type: "Convolution" bottom: "norm1" top: "conv2"
  convolution_param { num_output: 6 kernel_size: 3 pad: 1 group: 2 weight_filler { type: "gaussian" std: 0.2 }
                      bias_filler { type: "gaussian" std: 0.1 } } }
layer { name: "prelu2" type: "PReLU" bottom: "conv2" top: "conv2" prelu_param { filler { type: "uniform" min: 0 max: 0.5 } } }
layer { name: "norm2" type: "LRN" bottom: "conv2" top: "norm2"
  lrn_param { local_size: 3 alpha: 0.2 beta: 0.75 norm_region: WITHIN_CHANNEL } }
layer { name: "pool2" type: "Pooling" bottom: "norm2" top: "pool2" pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool2" top: "fc"
  inner_product_param { num_output: 10 weight_filler { type: "gaussian" std: 0.1 } bias_filler { type: "gaussian" std: 0.1 } } }
layer { name: "fc_t" type: "InnerProduct" bottom: "fc" top: "fc_t"
  inner_product_param { num_output: 7 transpose: true weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "prob" type: "Softmax" bottom: "fc_t" top: "prob" }
'''

# A ResNet bottleneck as the released files write it: convolutions without bias, BatchNorm with global
# statistics in place, Scale with a bias, the projection shortcut, Eltwise SUM, a global average pool.
RESNET_BLOCK = '''
name: "block" input: "data" input_shape { dim: 2 dim: 8 dim: 9 dim: 9 }
''' + "".join(f'''
layer {{ name: "{c}" type: "Convolution" bottom: "{b}" top: "{c}"
  convolution_param {{ num_output: {n} kernel_size: {k} pad: {k // 2} stride: {s} bias_term: false
                      weight_filler {{ type: "msra" }} }} }}
layer {{ name: "bn_{c}" type: "BatchNorm" bottom: "{c}" top: "{c}" batch_norm_param {{ use_global_stats: true }} }}
layer {{ name: "scale_{c}" type: "Scale" bottom: "{c}" top: "{c}" scale_param {{ bias_term: true }} }}
''' + (f'layer {{ name: "relu_{c}" type: "ReLU" bottom: "{c}" top: "{c}" }}' if relu else "")
    for c, b, n, k, s, relu in [("branch1", "data", 16, 1, 2, False), ("branch2a", "data", 4, 1, 2, True),
                                ("branch2b", "branch2a", 4, 3, 1, True), ("branch2c", "branch2b", 16, 1, 1, False)]) + '''
layer { name: "res" type: "Eltwise" bottom: "branch1" bottom: "branch2c" top: "res" }
layer { name: "res_relu" type: "ReLU" bottom: "res" top: "res" }
layer { name: "pool" type: "Pooling" bottom: "res" top: "pool" pooling_param { pool: AVE global_pooling: true } }
layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc" inner_product_param { num_output: 5 } }
'''

# LRCN for activity recognition: a CNN on T·N frames (time-major), fc6 reshaped to T × N × 32, the LSTM
# with clip markers, a per-step classifier.
LRCN_ACTIVITY = '''
name: "lrcn_activity" input: "data" input_shape { dim: 12 dim: 3 dim: 11 dim: 11 }
input: "cont" input_shape { dim: 4 dim: 3 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_size: 3 stride: 2 weight_filler { type: "gaussian" std: 0.2 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc6" type: "InnerProduct" bottom: "pool1" top: "fc6"
  inner_product_param { num_output: 32 weight_filler { type: "gaussian" std: 0.2 } } }
layer { name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }
layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6" dropout_param { dropout_ratio: 0.9 } }
layer { name: "reshape" type: "Reshape" bottom: "fc6" top: "fc6_seq" reshape_param { shape { dim: 4 dim: 3 dim: 32 } } }
layer { name: "lstm1" type: "LSTM" bottom: "fc6_seq" bottom: "cont" top: "lstm1"
  recurrent_param { num_output: 16 weight_filler { type: "uniform" min: -0.3 max: 0.3 }
                    bias_filler { type: "uniform" min: -0.3 max: 0.3 } } }
layer { name: "fc8" type: "InnerProduct" bottom: "lstm1" top: "fc8"
  inner_product_param { num_output: 5 axis: 2 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "probs" type: "Softmax" bottom: "fc8" top: "probs" softmax_param { axis: 2 } }
'''

# LRCN for captioning (factored, as the released lrcn.prototxt): words through Embed into LSTM1, LSTM2 on
# LSTM1's output with the image feature as a static input; −1 marks padding.
LRCN_CAPTION = '''
name: "lrcn_caption" input: "image" input_shape { dim: 3 dim: 3 dim: 9 dim: 9 }
input: "words" input_shape { dim: 5 dim: 3 } input: "cont" input_shape { dim: 5 dim: 3 }
layer { name: "conv" type: "Convolution" bottom: "image" top: "conv"
  convolution_param { num_output: 6 kernel_size: 3 stride: 2 weight_filler { type: "gaussian" std: 0.2 } } }
layer { name: "fc8" type: "InnerProduct" bottom: "conv" top: "fc8"
  inner_product_param { num_output: 12 weight_filler { type: "gaussian" std: 0.2 } } }
layer { name: "embed" type: "Embed" bottom: "words" top: "embedded"
  embed_param { input_dim: 20 num_output: 10 weight_filler { type: "uniform" min: -0.5 max: 0.5 }
                bias_filler { type: "uniform" min: -0.5 max: 0.5 } } }
layer { name: "lstm1" type: "LSTM" bottom: "embedded" bottom: "cont" top: "lstm1"
  recurrent_param { num_output: 8 weight_filler { type: "uniform" min: -0.4 max: 0.4 }
                    bias_filler { type: "uniform" min: -0.4 max: 0.4 } } }
layer { name: "lstm2" type: "LSTM" bottom: "lstm1" bottom: "cont" bottom: "fc8" top: "lstm2"
  recurrent_param { num_output: 8 weight_filler { type: "uniform" min: -0.4 max: 0.4 }
                    bias_filler { type: "uniform" min: -0.4 max: 0.4 } } }
layer { name: "predict" type: "InnerProduct" bottom: "lstm2" top: "predict"
  inner_product_param { num_output: 20 axis: 2 weight_filler { type: "uniform" min: -0.5 max: 0.5 } } }
layer { name: "probs" type: "Softmax" bottom: "predict" top: "probs" softmax_param { axis: 2 } }
'''


def build(text, seed=0):
    caffe.set_random_seed(seed)
    net = caffe.Net(parse(text, "<export test>"), caffe.TEST)
    rng = np.random.default_rng(seed)
    for layer in net.layers:
        if layer.type == "BatchNorm":  # running sums with a factor s ≠ 1: the export must divide it out
            c = layer.blobs[0].shape
            layer.blobs[2].data[...] = 0.5
            layer.blobs[0].data[...] = 0.5 * rng.standard_normal(c)
            layer.blobs[1].data[...] = 0.5 * rng.uniform(0.5, 2, c)
        if layer.type == "Scale":
            layer.blobs[0].data[...] = rng.uniform(0.5, 1.5, layer.blobs[0].shape)
            layer.blobs[1].data[...] = 0.1 * rng.standard_normal(layer.blobs[1].shape)
    return net


def inputs_for(net, rng):
    """Images N(0, 1); clip/sentence markers 0 at t = 0 then 1; word ids with −1 padding at the end."""
    out = {}
    for name in net.inputs:
        shape = net.blobs[name].data.shape
        if name == "cont":
            out[name] = np.ones(shape, np.float32)
            out[name][0] = 0
        elif name == "words":
            out[name] = rng.integers(0, 20, shape).astype(np.float32)
            out[name][-1, 1:] = -1
        else:
            out[name] = rng.standard_normal(shape).astype(np.float32)
    return out


def assert_agree(net, module, inputs):
    """Every blob of the net (inputs, splits, in-place results) as TorchNet computes it."""
    net.forward(**inputs)
    with torch.no_grad():
        theirs = module(**{n: torch.from_numpy(x) for n, x in inputs.items()})
    for name, blob in net.blobs.items():
        ref, got = blob.data, theirs[name].numpy()
        assert got.shape == ref.shape, name
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * np.abs(ref).max(), err_msg=name)


@pytest.mark.parametrize("text", [CNN, RESNET_BLOCK, LRCN_ACTIVITY, LRCN_CAPTION],
                         ids=["cnn", "resnet_block", "lrcn_activity", "lrcn_caption"])
def test_torch_module_matches_net(text):
    net = build(text)
    assert_agree(net, TorchNet(net), inputs_for(net, np.random.default_rng(1)))


@pytest.mark.parametrize("file", ["bvlc_googlenet.deploy.prototxt", "ResNet-50-deploy.prototxt"])
def test_zoo_nets_match_torch(file):
    """The released GoogLeNet (Concat, LRN, ceil-rounded pooling) and ResNet-50 (53 BatchNorm + Scale):
    the class probabilities agree to 1e-5 (measured ~4e-6 of the largest; these nets are 22 and 50 layers
    deep, so rounding accumulates more than in the small nets above)."""
    net = zoo_net(file, force_backward=False)
    x = net.blobs["data"].data.copy()
    prob = net.forward()["prob"]
    with torch.no_grad():
        got = TorchNet(net)(data=torch.from_numpy(x))["prob"].numpy()
    np.testing.assert_allclose(got, prob, rtol=0, atol=1e-5 * prob.max())


def test_state_dict_layouts():
    net = build(LRCN_CAPTION)
    state = TorchNet(net).state_dict()
    w_xc, b_c, w_static, w_hc = (b.data for b in net.params["lstm2"])
    H = 8
    i, f, o, g = (slice(k * H, (k + 1) * H) for k in range(4))  # Caffe's gate blocks
    torch_order = np.concatenate([w_xc[i], w_xc[f], w_xc[g], w_xc[o]])
    np.testing.assert_array_equal(state["lstm2.weight_ih_l0"][:, :8].numpy(), torch_order)
    np.testing.assert_array_equal(state["lstm2.weight_ih_l0"][:, 8:].numpy()[2 * H:3 * H], w_static[g])
    np.testing.assert_array_equal(state["lstm2.weight_hh_l0"].numpy()[3 * H:], w_hc[o])
    np.testing.assert_array_equal(state["lstm2.bias_ih_l0"].numpy()[2 * H:3 * H], b_c[g])
    assert not state["lstm2.bias_hh_l0"].any()
    np.testing.assert_array_equal(state["embed.weight"].numpy(), net.params["embed"][0].data)
    block = TorchNet(build(RESNET_BLOCK)).state_dict()
    bn = build(RESNET_BLOCK).params["bn_branch2a"]
    np.testing.assert_allclose(block["bn_branch2a.running_var"].numpy(), bn[1].data / 0.5, rtol=1e-7)
    assert set(block) >= {"branch1.weight", "scale_branch1.weight", "scale_branch1.bias", "fc.weight", "fc.bias"}
    assert "branch1.bias" not in block  # bias_term: false


def test_export_cli_state_dict_loads_into_a_fresh_module(tmp_path, capsys):
    """The user's path: export the weights, then build the module from the prototxt alone (other random
    weights) and load the .pt; it computes what the net with the weights computes."""
    model = tmp_path / "lrcn.prototxt"
    model.write_text(LRCN_ACTIVITY)
    net = build(LRCN_ACTIVITY, seed=3)
    weights = tmp_path / "w.caffemodel"
    net.save(str(weights))
    out = tmp_path / "lrcn.pt"
    assert main(["export-torch", str(weights), "--model", str(model), str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    module = TorchNet(build(LRCN_ACTIVITY, seed=4))
    module.load_state_dict(torch.load(out))
    assert_agree(net, module, inputs_for(net, np.random.default_rng(2)))


def test_what_torch_cannot_express_is_refused():
    net = build(LRCN_ACTIVITY)
    module = TorchNet(net)
    x = inputs_for(net, np.random.default_rng(0))
    x["cont"][2, 1] = 0  # clip 1 restarts at step 2
    with pytest.raises(ValueError, match="'lstm1': cont is 0 at step 2 .* nn.LSTM cannot express"):
        module(**{n: torch.from_numpy(a) for n, a in x.items()})
    lossy = caffe.Net(parse(LRCN_ACTIVITY.replace('name: "probs" type: "Softmax" bottom: "fc8"',
                                                  'name: "probs" type: "Sigmoid" bottom: "fc8"') +
                            'input: "label" input_shape { dim: 4 dim: 3 dim: 5 }\n'
                            'layer { name: "loss" type: "EuclideanLoss" bottom: "probs" bottom: "label" top: "loss" }'),
                      caffe.TEST)
    with pytest.raises(ValueError, match="layer 'loss' of type EuclideanLoss has no PyTorch counterpart"):
        TorchNet(lossy)


def test_without_torch_the_message_names_the_install():
    result = run_python("import sys; sys.modules['torch'] = None\n"
                        "from lrcn_native.cli import main\n"
                        "sys.exit(main(['export-torch', 'w.caffemodel', '--model', 'm.prototxt', 'o.pt']))", 120)
    assert result.returncode == 1
    assert "exporting to PyTorch needs torch, which is not installed: pip install torch" in result.stderr
