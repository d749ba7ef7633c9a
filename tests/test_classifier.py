"""caffe.Classifier against a float64 numpy transcription of pycaffe's pipeline (scale to image_dims, centre
crop or 10 oversampled crops, H x W x K -> K x H x W, channel swap, raw scale, mean, input scale, the net,
the mean over crops) on a small net with random weights."""
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native import io

# batch 4, so that 2 images x 10 crops take 5 batches and 2 centre crops one padded batch
DEPLOY = """name: "small"
input: "data" input_shape { dim: 4 dim: 3 dim: 6 dim: 6 }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" inner_product_param { num_output: 5 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""
MEAN = np.array([0.3, 0.5, 0.1]) * 255      # per channel, in the net's (BGR) order
SETTINGS = {"mean": MEAN, "raw_scale": 255.0, "input_scale": 0.02, "channel_swap": (2, 1, 0)}


def small_net(tmp_path, seed=0):
    """(deploy path, weights path, (W, b) in float64): the net with random weights saved as a .caffemodel."""
    model = tmp_path / "deploy.prototxt"
    model.write_text(DEPLOY)
    net = caffe.Net(str(model), caffe.TEST)
    rng = np.random.default_rng(seed)
    for blob in net.params["fc"]:
        blob.data[...] = rng.standard_normal(blob.shape)
    weights = tmp_path / "small.caffemodel"
    net.save(str(weights))
    return str(model), str(weights), [b.data.astype(np.float64) for b in net.params["fc"]]


def reference_forward(crops, params, mean=MEAN, raw_scale=255.0, input_scale=0.02, swap=(2, 1, 0)):
    """float64: each H x W x K crop preprocessed as pycaffe's Transformer, then fc and softmax; (n, 5)."""
    w, b = params
    x = np.stack([np.asarray(c, np.float64).transpose(2, 0, 1)[list(swap)] for c in crops])
    x = (x * raw_scale - mean[:, None, None]) * input_scale
    z = x.reshape(len(x), -1) @ w.T + b
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def images(seed=1):
    rng = np.random.default_rng(seed)
    return [rng.random((12, 9, 3)).astype(np.float32), rng.random((7, 11, 3)).astype(np.float32)]


def test_predict_oversampled_and_centre_crop(tmp_path):
    model, weights, params = small_net(tmp_path)
    net = caffe.Classifier(model, weights, image_dims=(8, 10), **SETTINGS)
    ims = images()
    scaled = [io.resize_image(im, (8, 10)) for im in ims]  # resize_image itself is checked in test_io
    # 10 crops of 6x6 from 8x10: corners, centre (row 1, column 2), then the mirrors of the five
    starts = [(0, 0), (0, 4), (2, 0), (2, 4), (1, 2)]
    expected = []
    for im in scaled:
        crops = [im[y:y + 6, x:x + 6] for y, x in starts]
        crops += [c[:, ::-1] for c in crops]
        expected.append(reference_forward(crops, params).mean(0))
    # float32 through the net vs float64: inputs ~1e1, 108 products summed; 1e-5 relative is float32's room
    np.testing.assert_allclose(net.predict(ims), np.array(expected), rtol=1e-5, atol=1e-7)
    centre = reference_forward([im[1:7, 2:8] for im in scaled], params)
    np.testing.assert_allclose(net.predict(ims, oversample=False), centre, rtol=1e-5, atol=1e-7)


def test_default_image_dims_is_the_input_size(tmp_path):
    model, weights, params = small_net(tmp_path)
    net = caffe.Classifier(model, weights, **SETTINGS)
    assert tuple(net.image_dims) == (6, 6) and tuple(net.crop_dims) == (6, 6)
    ims = images()
    expected = reference_forward([io.resize_image(im, (6, 6)) for im in ims], params)
    np.testing.assert_allclose(net.predict(ims, oversample=False), expected, rtol=1e-5, atol=1e-7)


def test_bad_inputs_are_named(tmp_path):
    model, weights, _ = small_net(tmp_path)
    net = caffe.Classifier(model, weights)
    with pytest.raises(ValueError, match="no images given"):
        net.predict([])
    with pytest.raises(ValueError, match=r"image 1 has shape \(5, 5, 1\); expected H x W x 3"):
        net.predict([np.zeros((5, 5, 3)), np.zeros((5, 5, 1))])
