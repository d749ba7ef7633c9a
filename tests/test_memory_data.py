"""MemoryData and pycaffe's net.set_input_arrays: consecutive batches of the user's arrays, wrapping around,
read in place; the checks pycaffe makes, with errors naming the layer."""
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.layer import LayerError
from lrcn_native.net import NetError
from lrcn_native.proto.text import parse

NET = """layer { name: "mem" type: "MemoryData" top: "data" top: "label"
                 memory_data_param { batch_size: 2 channels: 3 height: 1 width: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 2 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
"""


def net_from(text=NET):
    return caffe.Net(parse(text, "mem.prototxt"), caffe.TRAIN)


def test_batches_in_order_wrapping_around_and_read_in_place():
    net = net_from()
    assert net.blobs["data"].shape == (2, 3, 1, 2) and net.blobs["label"].shape == (2,)
    data = np.arange(4 * 6, dtype=np.float32).reshape(4, 3, 1, 2)
    labels = np.array([1, 0, 0, 1], np.float32)
    net.set_input_arrays(data, labels)  # 1-D labels become (4, 1, 1, 1), as pycaffe's
    for batch in (0, 1, 0):
        net.forward()
        np.testing.assert_array_equal(net.blobs["data"].data, data[2 * batch:2 * batch + 2])
        np.testing.assert_array_equal(net.blobs["label"].data, labels[2 * batch:2 * batch + 2])
    data[2:] = -1  # not copied: the next batch (items 2, 3) shows the change
    net.forward()
    assert np.all(net.blobs["data"].data == -1)
    net.set_input_arrays(data, labels.reshape(4, 1, 1, 1))  # starts again at item 0
    net.forward()
    np.testing.assert_array_equal(net.blobs["data"].data, data[:2])


def test_checks_name_the_layer_and_the_problem():
    net = net_from()
    with pytest.raises(LayerError, match=r"mem.prototxt:1: layer 'mem' \(MemoryData\): no arrays to read"):
        net.forward()
    good = np.zeros((4, 3, 1, 2), np.float32)
    cases = [(good.astype(np.float64), np.zeros(4, np.float32), "data array must be a C-contiguous float32"),
             (good[:, :, :, ::-1], np.zeros(4, np.float32), "data array must be a C-contiguous float32"),
             (good.reshape(4, 1, 3, 2), np.zeros(4, np.float32), r"data array has shape \(4, 1, 3, 2\); expected "
                                                                  r"\(n, 3, 1, 2\)"),
             (good, np.zeros(3, np.float32), r"same first dimension \(4 vs 3\)"),
             (good[:3], np.zeros(3, np.float32), r"\(3\) must be a positive multiple of the batch size 2")]
    for data, labels, message in cases:
        with pytest.raises(LayerError, match=message):
            net.set_input_arrays(data, labels)
    with pytest.raises(NetError, match="first layer is a MemoryData layer .* starts with Input"):
        caffe.Net(parse('input: "x" input_shape { dim: 1 }', "in.prototxt"), caffe.TEST).set_input_arrays(good, good)
    with pytest.raises(LayerError, match="needs batch_size, channels, height and width"):
        net_from(NET.replace("height: 1 ", ""))
