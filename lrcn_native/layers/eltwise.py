"""Eltwise: elementwise PROD, SUM (with per-bottom coefficients) or MAX of two or more equal-shaped bottoms."""
from ..backend import K
from ..blob import Blob
from ..layer import Layer, register

OPS = ("PROD", "SUM", "MAX")  # caffe.proto's EltwiseOp numbering, as the kernels take it


@register
class Eltwise(Layer):
    """SUM: top = Σ coeff_i·b_i (coeff defaults to 1); PROD: top = Π b_i, backward with the product of the
    other bottoms (stable_prod_grad, the default) or top / b_i; MAX: top = max_i b_i, backward routes dy
    to the bottom that won (ties: see csrc/layers/eltwise.h)."""
    type = "Eltwise"
    min_bottoms = 2
    exact_tops = 1

    def setup(self, bottom, top):
        p = self.layer_param.msg("eltwise_param")
        self.op = OPS.index(p.enum("operation", "SUM", OPS))
        coeff = p.floats("coeff")
        if coeff and len(coeff) != len(bottom):
            raise self.error(f"takes one coeff per bottom: {len(coeff)} coeff(s) for {len(bottom)} bottoms", "eltwise_param")
        if coeff and OPS[self.op] == "PROD":
            raise self.error("coeff is only for operation SUM, not PROD", "eltwise_param")
        self.coeff = coeff or [1.0] * len(bottom)
        self.stable_prod_grad = p.bool("stable_prod_grad", True)
        # MAX's argmax per element, as float (Caffe's Blob<int> max_idx_); a Blob, so it follows the mode.
        self.mask = Blob() if OPS[self.op] == "MAX" else None

    def reshape(self, bottom, top):
        for i, b in enumerate(bottom[1:], 1):
            if b.shape != bottom[0].shape:
                raise self.error(f"bottom {i} has shape {b.shape} but bottom 0 has {bottom[0].shape}; all bottoms "
                                 "must have the same shape")
        top[0].reshape_like(bottom[0])
        if self.mask is not None:
            self.mask.reshape_like(bottom[0])

    def forward(self, bottom, top):
        mask = self.mask.wdata() if self.mask is not None else None
        K.eltwise_forward(top[0].wdata(), mask, [b.rdata() for b in bottom], self.op, self.coeff)

    def backward(self, top, propagate_down, bottom):
        mask = self.mask.rdata() if self.mask is not None else None
        datas = [b.rdata() for b in bottom]
        for i, b in enumerate(bottom):
            if propagate_down[i]:
                K.eltwise_backward(b.wdiff(), top[0].rdiff(), top[0].rdata(), datas, mask, i, self.op, self.coeff,
                                   self.stable_prod_grad)
