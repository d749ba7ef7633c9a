"""pycaffe's caffe.Detector: classifies windows of images (R-CNN's warped regions), each window cropped,
optionally with ``context_pad`` pixels of surrounding context (padded with the mean where the context leaves
the image), warped to the net's input size and run through the net."""
import os

import numpy as np

from . import io
from .classifier import configured_transformer
from .layer import TEST
from .net import Net


class Detector(Net):
    """``Detector(model_file, pretrained_file, mean=None, input_scale=None, raw_scale=None, channel_swap=None,
    context_pad=None)``: the net in TEST phase with its weights."""

    def __init__(self, model_file, pretrained_file, mean=None, input_scale=None, raw_scale=None,
                 channel_swap=None, context_pad=None):
        super().__init__(model_file, TEST, weights=pretrained_file)
        self.transformer = configured_transformer(self, mean, input_scale, raw_scale, channel_swap)
        self.configure_crop(context_pad)

    def detect_windows(self, images_windows):
        """[{'window', 'prediction', 'filename'}] for every window of every (image file, windows) pair; a window
        is (ymin, xmin, ymax, xmax) in pixels."""
        images_windows = [(name, [np.asarray(w) for w in windows]) for name, windows in images_windows]
        crops = []
        for name, windows in images_windows:
            image = io.load_image(name).astype(np.float32)
            crops += [self.crop(image, w) for w in windows]
        if not crops:
            raise ValueError("Detector.detect_windows: no windows given")
        in_ = self.inputs[0]
        caffe_in = np.stack([self.transformer.preprocess(in_, crop) for crop in crops])
        predictions = iter(self.forward_all(**{in_: caffe_in})[self.outputs[0]])
        return [{"window": w, "prediction": next(predictions), "filename": name}
                for name, windows in images_windows for w in windows]

    def detect_selective_search(self, image_fnames):
        """detect_windows over Selective Search proposals, from the external selective_search_ijcv_with_python
        package (which runs MATLAB), as pycaffe."""
        try:
            import selective_search_ijcv_with_python as selective_search
        except ImportError:
            raise ImportError("Detector.detect_selective_search needs the selective_search_ijcv_with_python package "
                              "(https://github.com/sergeyk/selective_search_ijcv_with_python, with MATLAB) on "
                              "PYTHONPATH; or compute windows yourself and call detect_windows") from None
        image_fnames = [os.path.abspath(f) for f in image_fnames]  # absolute, for MATLAB
        windows = selective_search.get_windows(image_fnames, cmd="selective_search_rcnn")
        return self.detect_windows(zip(image_fnames, windows))

    def crop(self, im, window):
        """Window (ymin, xmin, ymax, xmax) of the H x W x K image ``im``. With context_pad, pycaffe's R-CNN
        crop: the box is grown about its centre so that after warping to the input size a border of context_pad
        pixels is context; what lies outside the image is filled with the mean (in image space)."""
        window = np.asarray(window)
        if not self.context_pad:
            crop = im[window[0]:window[2], window[1]:window[3]]
            if not crop.size:
                raise ValueError(f"Detector.crop: window {window.tolist()} holds no pixel of the {im.shape[0]}x"
                                 f"{im.shape[1]} image")
            return crop
        crop_size = self.blobs[self.inputs[0]].width  # square inputs, as pycaffe assumes
        scale = crop_size / (1.0 * crop_size - self.context_pad * 2)
        half_h, half_w = (window[2] - window[0] + 1) / 2.0, (window[3] - window[1] + 1) / 2.0
        centre = (window[0] + half_h, window[1] + half_w)
        box = np.round(np.tile(centre, 2) + scale * np.array((-half_h, -half_w, half_h, half_w)))
        scale_h, scale_w = crop_size / (box[2] - box[0] + 1), crop_size / (box[3] - box[1] + 1)
        pad_y, pad_x = round(max(0, -box[0]) * scale_h), round(max(0, -box[1]) * scale_w)  # out-of-image part
        im_h, im_w = im.shape[:2]
        box = np.clip(box, 0.0, [im_h, im_w, im_h, im_w]).astype(int)
        clip_h, clip_w = box[2] - box[0] + 1, box[3] - box[1] + 1
        if box[2] <= box[0] or box[3] <= box[1]:
            raise ValueError(f"Detector.crop: window {window.tolist()} lies outside the {im_h}x{im_w} image")
        crop_h = min(round(clip_h * scale_h), crop_size - pad_y)
        crop_w = min(round(clip_w * scale_w), crop_size - pad_x)
        context = io.resize_image(im[box[0]:box[2], box[1]:box[3]], (crop_h, crop_w))
        crop = np.ones(self.crop_dims, np.float32) * self.crop_mean
        crop[pad_y:pad_y + crop_h, pad_x:pad_x + crop_w] = context
        return crop

    def configure_crop(self, context_pad):
        """crop_dims (the input's H, W, K) and, with context_pad, crop_mean: the mean taken back to image space
        (transpose, channel order and raw scale undone) that fills context outside the image."""
        in_ = self.inputs[0]
        inverse = np.argsort(self.transformer.transpose[in_])
        self.crop_dims = np.array(self.blobs[in_].shape[1:])[inverse]
        self.context_pad = context_pad
        if not context_pad:
            return
        mean = self.transformer.mean.get(in_)
        if mean is None:
            self.crop_mean = np.zeros(self.crop_dims, np.float32)
            return
        crop_mean = mean.copy().transpose(inverse)
        order = self.transformer.channel_swap.get(in_)
        if order is not None:
            crop_mean = crop_mean[:, :, np.argsort(order)]
        raw_scale = self.transformer.raw_scale.get(in_)
        if raw_scale is not None:
            crop_mean = crop_mean / raw_scale
        self.crop_mean = crop_mean
