"""NetSpec (caffe.layers, caffe.params, caffe.NetSpec, caffe.to_proto): pycaffe's LeNet example and an LRCN
language model, written in Python, come out as prototxt that our parser reads back and Net builds and runs."""
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native import layers as L
from lrcn_native import params as P
from lrcn_native.proto import caffe_pb2, text_format
from lrcn_native.proto.text import parse


def lenet(data_layer, batch_size):
    """pycaffe's examples/01-learning-lenet net, with its data layer given."""
    n = caffe.NetSpec()
    n.data, n.label = data_layer(batch_size)
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20, weight_filler=dict(type="xavier"))
    n.pool1 = L.Pooling(n.conv1, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.conv2 = L.Convolution(n.pool1, kernel_size=5, num_output=50, weight_filler=dict(type="xavier"))
    n.pool2 = L.Pooling(n.conv2, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.fc1 = L.InnerProduct(n.pool2, num_output=500, weight_filler=dict(type="xavier"))
    n.relu1 = L.ReLU(n.fc1, in_place=True)
    n.score = L.InnerProduct(n.relu1, num_output=10, weight_filler=dict(type="xavier"))
    n.loss = L.SoftmaxWithLoss(n.score, n.label)
    return n.to_proto()


def test_lenet_as_pycaffe_writes_it():
    proto = lenet(lambda b: L.Data(batch_size=b, backend=P.Data.LMDB, source="mnist_train_lmdb",
                                   transform_param=dict(scale=1. / 255), ntop=2), 64)
    assert [(l.name, l.type, list(l.bottom), list(l.top)) for l in proto.layer] == [
        ("data", "Data", [], ["data", "label"]), ("conv1", "Convolution", ["data"], ["conv1"]),
        ("pool1", "Pooling", ["conv1"], ["pool1"]), ("conv2", "Convolution", ["pool1"], ["conv2"]),
        ("pool2", "Pooling", ["conv2"], ["pool2"]), ("fc1", "InnerProduct", ["pool2"], ["fc1"]),
        ("relu1", "ReLU", ["fc1"], ["fc1"]), ("score", "InnerProduct", ["fc1"], ["score"]),
        ("loss", "SoftmaxWithLoss", ["score", "label"], ["loss"])]
    text = str(proto)
    assert ('layer {\n  name: "data"\n  type: "Data"\n  top: "data"\n  top: "label"\n  transform_param {\n'
            '    scale: 0.00392156886\n  }\n  data_param {\n    source: "mnist_train_lmdb"\n    batch_size: 64\n'
            '    backend: LMDB\n  }\n}\n') in text
    assert ('  convolution_param {\n    num_output: 20\n    kernel_size: 5\n    weight_filler {\n'
            '      type: "xavier"\n    }\n  }\n') in text
    assert '  pooling_param {\n    pool: MAX\n    kernel_size: 2\n    stride: 2\n  }\n' in text
    assert text_format.Merge(text, caffe_pb2.NetParameter()) == proto


def test_lenet_builds_and_trains_a_step():
    def data(batch):
        return L.DummyData(shape=[dict(dim=[batch, 1, 28, 28]), dict(dim=[batch])],
                           data_filler=[dict(type="gaussian", std=1), dict(type="constant", value=3)], ntop=2)
    proto = lenet(data, 4)
    net = caffe.Net(proto, caffe.TRAIN)
    assert net.blobs["pool2"].data.shape == (4, 50, 4, 4) and net.params["fc1"][0].data.shape == (500, 800)
    loss = net.forward()["loss"]
    net.backward()
    assert np.isfinite(loss) and loss > 0
    assert np.abs(net.params["conv1"][0].diff).sum() > 0  # the gradient reached the first layer


def lrcn_language_model(T, N, V):
    """The captioning LRCN's language half: Embed, an LSTM with sequence-continuation input, a Slice and
    a Concat (swapping the halves of h), InnerProduct over axis 2 and the weighted, masked loss."""
    uniform = dict(type="uniform", min=-0.08, max=0.08)
    n = caffe.NetSpec()
    n.input_sentence, n.cont_sentence, n.target_sentence = L.Input(shape=[dict(dim=[T, N])] * 3, ntop=3)
    n.embedded = L.Embed(n.input_sentence, input_dim=V, num_output=8, bias_term=False, weight_filler=uniform)
    n.lstm1 = L.LSTM(n.embedded, n.cont_sentence, num_output=6, weight_filler=uniform,
                     bias_filler=dict(type="constant", value=0))
    n.h_a, n.h_b = L.Slice(n.lstm1, axis=2, slice_point=4, ntop=2)
    n.h = L.Concat(n.h_b, n.h_a, axis=2)
    n.predict = L.InnerProduct(n.h, num_output=V, axis=2, weight_filler=uniform,
                               param=[dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)])
    n.cross_entropy_loss = L.SoftmaxWithLoss(n.predict, n.target_sentence, loss_weight=20,
                                             loss_param=dict(ignore_label=-1), softmax_param=dict(axis=2))
    return n.to_proto()


def test_lrcn_net_round_trips_through_our_parser_and_runs(tmp_path):
    T, N, V = 5, 2, 11
    proto = lrcn_language_model(T, N, V)
    text = str(proto)
    lstm = proto.layer[2]
    assert (lstm.type, list(lstm.bottom), lstm.recurrent_param.num_output) == ("LSTM", ["embedded", "cont_sentence"], 6)
    assert '  recurrent_param {\n    num_output: 6\n' in text  # LSTM's fields go to the message our layer reads
    assert list(proto.layer[3].slice_param.slice_point) == [4]  # one value given to a repeated field
    assert '  loss_weight: 20\n' in text and '  param {\n    lr_mult: 2\n    decay_mult: 0\n  }\n' in text
    path = tmp_path / "lrcn.prototxt"
    path.write_text(text)
    assert text_format.Merge(text, caffe_pb2.NetParameter()) == proto
    for source in (proto, str(path), parse(text, str(path))):
        net = caffe.Net(source, caffe.TRAIN)
        rng = np.random.default_rng(0)
        net.blobs["input_sentence"].data[...] = rng.integers(0, V, (T, N))
        net.blobs["cont_sentence"].data[...] = (np.arange(T) > 0)[:, None]
        target = rng.integers(0, V, (T, N)).astype(np.float32)
        target[-1, 0] = -1  # ignored
        net.blobs["target_sentence"].data[...] = target
        loss = net.forward()["cross_entropy_loss"]
        net.backward()
        # the mean cross-entropy of the 9 counted words, each about log(11) for tiny uniform weights (the top
        # holds the unweighted loss; loss_weight 20 scales the gradient)
        assert abs(loss - np.log(V)) < 0.05
        assert net.blobs["lstm1"].data.shape == (T, N, 6) and net.blobs["h"].data.shape == (T, N, 6)
        np.testing.assert_array_equal(net.blobs["h"].data[..., :2], net.blobs["lstm1"].data[..., 4:])
        assert np.abs(net.params["embedded"][0].diff).sum() > 0


def test_names_tops_and_errors():
    x = L.Input(shape=dict(dim=[1, 2, 3, 3]))
    relu = L.ReLU(L.Convolution(x, num_output=2, kernel_size=1), in_place=True)
    proto = caffe.to_proto(relu, L.Silence(relu, ntop=0))
    assert [(l.name, list(l.top)) for l in proto.layer] == [
        ("Input1", ["Input1"]), ("Convolution1", ["Convolution1"]), ("ReLU1", ["Convolution1"]), ("Silence1", [])]
    assert relu.to_proto() == caffe.to_proto(relu)
    n = caffe.NetSpec()
    n.data = x
    n["conv"] = L.Convolution(n.data, num_output=2, kernel_size=3, name="c1", include=dict(phase=caffe.TEST))
    assert n.keys() == ["data", "conv"] and n["conv"] is n.conv
    layer = n.to_proto().layer[1]
    assert (layer.name, list(layer.top), layer.include[0].phase) == ("c1", ["conv"], caffe_pb2.TEST)
    with pytest.raises(ValueError, match=r"layer 'bad' \(Convolution\): 'num_outptu' is a field of neither "
                                         "convolution_param nor LayerParameter"):
        caffe.to_proto(L.Convolution(x, num_outptu=2, name="bad"))
    with pytest.raises(ValueError, match=r"layer 'Pooling1' \(Pooling\): .*expected an int"):
        caffe.to_proto(L.Pooling(x, kernel_size=2.5))
    with pytest.raises(TypeError, match="bottom 0 is 3"):
        L.ReLU(3)
    with pytest.raises(AttributeError, match="NetSpec has no top 'nope'"):
        n.nope
    assert P.Pooling.MAX == caffe_pb2.PoolingParameter.MAX and P.Eltwise.PROD == 0
    assert P.Pooling.PoolMethod.Name(1) == "AVE"
    with pytest.raises(AttributeError, match="no NopeParameter"):
        P.Nope
