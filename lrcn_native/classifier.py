"""pycaffe's caffe.Classifier: a deploy Net that classifies H x W x K images, scaling them to
``image_dims``, then taking the centre crop or the 10 oversampled crops (corners, centre, mirrors) of the
net's input size and averaging their predictions."""
import numpy as np

from . import io
from .layer import TEST
from .net import Net


def configured_transformer(net, mean, input_scale, raw_scale, channel_swap):
    """The Transformer for ``net``'s first input with pycaffe's settings: H x W x K -> K x H x W, then each
    preprocessing step that was given (Classifier and Detector share it)."""
    if not net.inputs:
        raise ValueError(f"net '{net.name}' has no input blob (an Input layer or net-level input) to feed images to")
    in_ = net.inputs[0]
    t = io.Transformer({in_: net.blobs[in_].shape})
    t.set_transpose(in_, (2, 0, 1))
    if mean is not None:
        t.set_mean(in_, mean)
    if input_scale is not None:
        t.set_input_scale(in_, input_scale)
    if raw_scale is not None:
        t.set_raw_scale(in_, raw_scale)
    if channel_swap is not None:
        t.set_channel_swap(in_, channel_swap)
    return t


class Classifier(Net):
    """``Classifier(model_file, pretrained_file, image_dims=None, mean=None, input_scale=None, raw_scale=None,
    channel_swap=None)``: the net in TEST phase with its weights; ``image_dims`` (height, width) the images
    are scaled to before cropping (default: the net's input size, i.e. one whole-image crop)."""

    def __init__(self, model_file, pretrained_file, image_dims=None, mean=None, input_scale=None, raw_scale=None,
                 channel_swap=None):
        super().__init__(model_file, TEST, weights=pretrained_file)
        self.transformer = configured_transformer(self, mean, input_scale, raw_scale, channel_swap)
        self.crop_dims = np.array(self.blobs[self.inputs[0]].shape[2:])
        self.image_dims = self.crop_dims if image_dims is None or not len(image_dims) else image_dims

    def predict(self, inputs, oversample=True):
        """(N, classes) predictions of the net's first output for N images (each H x W x K, any size): the mean
        over the 10 oversampled crops, or (oversample=False) the centre crop's."""
        if not len(inputs):
            raise ValueError("Classifier.predict: no images given")
        in_ = self.inputs[0]
        images = np.zeros((len(inputs), self.image_dims[0], self.image_dims[1], inputs[0].shape[2]), np.float32)
        for i, image in enumerate(inputs):
            if np.ndim(image) != 3 or image.shape[2] != images.shape[3]:
                raise ValueError(f"Classifier.predict: image {i} has shape {np.shape(image)}; expected H x W x "
                                 f"{images.shape[3]} like image 0")
            images[i] = io.resize_image(image, self.image_dims)
        if oversample:
            crops = io.oversample(images, self.crop_dims)
        else:  # the centre crop, its corners truncated to integers as pycaffe's
            centre = np.array(self.image_dims) / 2.0
            y0, x0, y1, x1 = (np.tile(centre, 2) + np.concatenate([-self.crop_dims / 2.0, self.crop_dims / 2.0])
                              ).astype(int)
            crops = images[:, y0:y1, x0:x1, :]
        caffe_in = np.stack([self.transformer.preprocess(in_, crop) for crop in crops])
        predictions = self.forward_all(**{in_: caffe_in})[self.outputs[0]]
        if oversample:
            predictions = predictions.reshape(len(predictions) // 10, 10, -1).mean(1)
        return predictions
