"""Scale (Caffe's scale_param): top = bottom · scale (+ bias), the scale broadcast over bottom's axes
[axis, axis + its own axes), and the channel-wise view (outer, C, inner) that Bias and BatchNorm share."""
import numpy as np

from ..backend import K
from ..layer import Layer, register
from ..proto.schema import FILLER, B, I
from ..proto.text import Message


def outer_inner(shape, axis, covered):
    """(outer, inner): the counts of ``shape``'s axes before ``axis`` and after ``axis + covered``."""
    return int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis + covered:], dtype=np.int64))


class Broadcast(Layer):
    """What Scale and Bias share (Caffe's ScaleLayer/BiasLayer set-up): the operand is bottom[1] when
    given, else a learned blob of shape bottom[0].shape[axis : axis + num_axes] (num_axes −1: to the end).
    With bottom[1], axis is ignored for a scalar (0-axis) operand and num_axes is bottom[1]'s."""
    min_bottoms, max_bottoms, exact_tops = 1, 2, 1
    field = ""  # "scale_param" / "bias_param"

    def operand_setup(self, bottom, default_filler):
        p = self.layer_param.msg(self.field)
        shape = bottom[0].shape
        if len(bottom) == 2:
            operand = bottom[1].shape
            self.axis = 0 if not operand else self.canonical_axis(p.int("axis", 1), len(shape), self.field)
        else:
            num_axes = p.int("num_axes", 1)
            if num_axes < -1:
                raise self.error(f"num_axes must be non-negative or -1 (to the last axis), got {num_axes}",
                                 self.field)
            self.axis = self.canonical_axis(p.int("axis", 1), len(shape), self.field)
            if num_axes == -1:
                num_axes = len(shape) - self.axis
            if self.axis + num_axes > len(shape):
                raise self.error(f"axis {self.axis} + num_axes {num_axes} exceeds bottom's {len(shape)} axes "
                                 f"(shape {shape})", self.field)
            operand = shape[self.axis:self.axis + num_axes]
            filler = p.msg("filler") if "filler" in p else default_filler
            self.add_param(operand, filler)
        self.operand_shape = tuple(operand)

    def reshape(self, bottom, top):
        shape, n = bottom[0].shape, len(self.operand_shape)
        if len(bottom) == 2 and bottom[1].shape != self.operand_shape:
            raise self.error(f"bottom[1] changed shape from {self.operand_shape} to {bottom[1].shape}")
        if shape[self.axis:self.axis + n] != self.operand_shape:
            raise self.error(f"bottom[0] shape {shape} does not match the {self.field[:-6]} shape "
                             f"{self.operand_shape} at axis {self.axis}")
        self.outer, self.inner = outer_inner(shape, self.axis, n)
        self.channels = int(np.prod(self.operand_shape, dtype=np.int64))
        top[0].reshape_like(bottom[0])

    def operand(self, bottom):
        """The operand blob: bottom[1], or the first parameter blob."""
        return bottom[1] if len(bottom) == 2 else self.blobs[0]

    def operand_sum(self, blob, a, b, accumulate):
        """blob.diff (C) = Σ over (outer, inner) of a·b; a learned blob accumulates, bottom[1] is overwritten
        (Caffe)."""
        K.channel_sum(blob.wdiff().reshape(-1), a, b, self.outer, self.channels, self.inner,
                      1.0 if accumulate else 0.0)


@register
class Scale(Broadcast):
    """top = bottom[0] · s + b, s from bottom[1] or learned (filler default constant 1), b learned when
    bias_term (bias_filler default constant 0; same shape as s). In place allowed: the bottom is kept for
    the scale's gradient, as Caffe keeps it."""
    type = "Scale"
    param_fields = {"scale_param": {"axis": I, "num_axes": I, "filler": FILLER, "bias_term": B,
                                    "bias_filler": FILLER}}
    field = "scale_param"

    def setup(self, bottom, top):
        one = Message()
        one.add("value", 1.0)
        self.operand_setup(bottom, one)
        p = self.layer_param.msg(self.field)
        self.bias_term = p.bool("bias_term", False)
        if self.bias_term:
            self.add_param(self.operand_shape, p.msg("bias_filler"))
        self.bias_index = len(self.blobs) - 1

    def forward(self, bottom, top):
        self.x = self.input_for_backward(bottom[0], top[0])
        bias = self.blobs[self.bias_index].rdata().reshape(-1) if self.bias_term else None
        K.scale_forward(top[0].wdata(), bottom[0].rdata(), self.operand(bottom).rdata().reshape(-1), bias,
                        self.outer, self.channels, self.inner)

    def backward(self, top, propagate_down, bottom):
        dy = top[0].rdiff()
        if self.bias_term and self.param_propagate_down[self.bias_index]:
            self.operand_sum(self.blobs[self.bias_index], dy, None, True)
        learned = len(bottom) == 1
        if (self.param_propagate_down[0] if learned else propagate_down[1]):
            self.operand_sum(self.operand(bottom), dy, self.x.rdata(), learned)
        if propagate_down[0]:
            K.scale_forward(bottom[0].wdiff(), dy, self.operand(bottom).rdata().reshape(-1), None, self.outer,
                            self.channels, self.inner)
