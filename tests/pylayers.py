"""Python layers (pycaffe style) used by the net tests: they exercise the Python-layer path and give the
wiring tests a learnable layer and a loss without depending on the native layers."""
import numpy as np

import lrcn_native as caffe


class Affine(caffe.Layer):
    """top = w·bottom + b elementwise, with w, b of the bottom's trailing shape; param_str = initial w."""

    def setup(self, bottom, top):
        shape = bottom[0].shape[1:]
        self.blobs.add_blob(*shape)
        self.blobs.add_blob(*shape)
        self.blobs[0].data[...] = float(self.param_str or 1.0)
        self.blobs[1].data[...] = 0.5

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].shape)

    def forward(self, bottom, top):
        top[0].data[...] = bottom[0].data * self.blobs[0].data + self.blobs[1].data

    def backward(self, top, propagate_down, bottom):
        self.blobs[0].diff[...] += (top[0].diff * bottom[0].data).sum(0)
        self.blobs[1].diff[...] += top[0].diff.sum(0)
        if propagate_down[0]:
            bottom[0].diff[...] = top[0].diff * self.blobs[0].data


class SquareLoss(caffe.Layer):
    """top = ½·Σ bottom² (scalar); loss weight in top[0].diff, as Caffe passes it."""

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        top[0].reshape()

    def forward(self, bottom, top):
        top[0].data[...] = 0.5 * float((bottom[0].data.astype(np.float64) ** 2).sum())

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            bottom[0].diff[...] = bottom[0].data * top[0].diff.reshape(-1)[0]
