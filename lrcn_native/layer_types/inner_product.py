"""InnerProduct (Caffe's inner_product_param): GEMMs on 2-D views, the bias as Caffe adds it (a rank-1
GEMM with a vector of ones), so no kernel of its own is needed."""
import numpy as np

from ..backend import K
from ..blob import Blob
from ..layer import Layer, register
from ..proto.schema import B, FILLER, I, U


@register
class InnerProduct(Layer):
    """top (M × N) = bottom (M × K) · Wᵀ + 1·biasᵀ, where M = product of the axes before ``axis``,
    K = product of the axes from ``axis`` on, N = num_output; top's shape is bottom's axes before ``axis``
    followed by N. W is N × K (K × N with ``transpose: true``), bias N."""
    type = "InnerProduct"
    param_fields = {"inner_product_param": {"num_output": U, "bias_term": B, "weight_filler": FILLER,
                                            "bias_filler": FILLER, "axis": I, "transpose": B}}
    exact_bottoms = exact_tops = 1

    def setup(self, bottom, top):
        p = self.layer_param.msg("inner_product_param")
        self.num_output = p.int("num_output", 0)
        if self.num_output <= 0:
            raise self.error("num_output must be positive", "inner_product_param")
        self.bias_term = p.bool("bias_term", True)
        self.transpose = p.bool("transpose", False)
        shape = bottom[0].shape
        axis = p.int("axis", 1)
        self.axis = self.canonical_axis(axis, len(shape), "inner_product_param")
        self.K = int(np.prod(shape[self.axis:], dtype=np.int64))
        wshape = (self.K, self.num_output) if self.transpose else (self.num_output, self.K)
        self.add_param(wshape, p.msg("weight_filler"))
        if self.bias_term:
            self.add_param((self.num_output,), p.msg("bias_filler"))
        self.ones = Blob()

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        k = int(np.prod(shape[self.axis:], dtype=np.int64)) if len(shape) > self.axis else -1
        if k != self.K:
            raise self.error(f"bottom shape {shape} flattens from axis {self.axis} to {k} inputs, but the layer "
                             f"was set up with {self.K}")
        self.M = int(np.prod(shape[:self.axis], dtype=np.int64))
        top[0].reshape(shape[:self.axis] + (self.num_output,))
        if self.bias_term and self.ones.shape != (self.M, 1):
            self.ones = Blob(self.M, 1)
            K.set(self.ones.wdata(), 1.0)

    def forward(self, bottom, top):
        x = bottom[0].rdata().reshape(self.M, self.K)
        y = top[0].wdata().reshape(self.M, self.num_output)
        K.gemm(False, not self.transpose, 1.0, x, self.blobs[0].rdata(), 0.0, y)
        if self.bias_term:
            K.gemm(False, False, 1.0, self.ones.rdata(), self.blobs[1].rdata().reshape(1, -1), 1.0, y)

    def backward(self, top, propagate_down, bottom):
        dy = top[0].rdiff().reshape(self.M, self.num_output)
        x = bottom[0].rdata().reshape(self.M, self.K)
        if self.param_propagate_down[0]:
            # W (N × K) += dyᵀ · x, or Wᵀ (K × N) += xᵀ · dy.
            a, b = (x, dy) if self.transpose else (dy, x)
            K.gemm(True, False, 1.0, a, b, 1.0, self.blobs[0].wdiff())
        if self.bias_term and self.param_propagate_down[1]:
            K.gemm(True, False, 1.0, self.ones.rdata(), dy, 1.0, self.blobs[1].wdiff().reshape(1, -1))
        if propagate_down[0]:
            K.gemm(False, self.transpose, 1.0, dy, self.blobs[0].rdata(), 0.0,
                   bottom[0].wdiff().reshape(self.M, self.K))
