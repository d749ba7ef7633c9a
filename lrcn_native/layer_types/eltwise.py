"""Eltwise: elementwise PROD, SUM (with per-bottom coefficients) or MAX of two or more equal-shaped bottoms."""
from ..backend import K
from ..blob import Blob
from ..layer import Layer, register
from ..proto.schema import B, E, F, Rep

OPS = ("PROD", "SUM", "MAX")  # caffe.proto's EltwiseOp numbering, as the kernels take it


@register
class Eltwise(Layer):
    """SUM: top = Σ coeff_i·b_i (coeff defaults to 1); PROD: top = Π b_i, backward with the product of the
    other bottoms (stable_prod_grad, the default) or top / b_i; MAX: top = max_i b_i, backward routes dy
    to the bottom that won (ties: see csrc/layers/eltwise.h).

    ``coeff_blob: true`` (the LRCN recurrent fork; S2VT's padding gate, SUM only): the last bottom C is
    not summed but scales the others per leading index. With k summed bottoms, C has shape k × d_0 × … ×
    d_{m−1}, (d_0 … d_{m−1}) being the bottoms' leading axes: top[r, …] = Σ_i coeff_i·C[i, r]·b_i[r, …] for
    each leading index r. No gradient reaches C."""
    type = "Eltwise"
    # coeff_blob: fork
    param_fields = {"eltwise_param": {"operation": E, "coeff": Rep(F), "stable_prod_grad": B, "coeff_blob": B}}
    min_bottoms = 2
    exact_tops = 1

    def setup(self, bottom, top):
        p = self.layer_param.msg("eltwise_param")
        self.op = OPS.index(p.enum("operation", "SUM", OPS))
        self.coeff_blob = p.bool("coeff_blob", False)
        if self.coeff_blob and OPS[self.op] != "SUM":
            raise self.error("coeff_blob is only for operation SUM", "eltwise_param")
        n = len(bottom) - self.coeff_blob  # the bottoms that are summed
        coeff = p.floats("coeff")
        if coeff and len(coeff) != n:
            extra = " (the coeff_blob bottom takes none)" if self.coeff_blob else ""
            raise self.error(f"takes one coeff per bottom: {len(coeff)} coeff(s) for {n} bottoms{extra}",
                             "eltwise_param")
        if coeff and OPS[self.op] == "PROD":
            raise self.error("coeff is only for operation SUM, not PROD", "eltwise_param")
        self.coeff = coeff or [1.0] * n
        self.stable_prod_grad = p.bool("stable_prod_grad", True)
        # MAX's argmax per element, as float (Caffe's Blob<int> max_idx_); a Blob, so it follows the mode.
        self.mask = Blob() if OPS[self.op] == "MAX" else None

    def reshape(self, bottom, top):
        inputs = bottom[:-1] if self.coeff_blob else bottom
        for i, b in enumerate(inputs[1:], 1):
            if b.shape != bottom[0].shape:
                raise self.error(f"bottom {i} has shape {b.shape} but bottom 0 has {bottom[0].shape}; all bottoms "
                                 "must have the same shape")
        if self.coeff_blob:
            c, lead = bottom[-1].shape, bottom[0].shape
            if not c or c[0] != len(inputs) or len(c) - 1 > len(lead) or c[1:] != lead[:len(c) - 1]:
                raise self.error(f"the coeff_blob bottom has shape {c}; it must be ({len(inputs)}, …) with one row "
                                 f"per summed bottom followed by leading axes of the bottoms' {lead}")
        top[0].reshape_like(bottom[0])
        if self.mask is not None:
            self.mask.reshape_like(bottom[0])

    def forward(self, bottom, top):
        if self.coeff_blob:
            K.eltwise_coeff_blob_forward(top[0].wdata(), [b.rdata() for b in bottom[:-1]], self.coeff,
                                         bottom[-1].rdata())
            return
        mask = self.mask.wdata() if self.mask is not None else None
        K.eltwise_forward(top[0].wdata(), mask, [b.rdata() for b in bottom], self.op, self.coeff)

    def backward(self, top, propagate_down, bottom):
        if self.coeff_blob:
            for i, b in enumerate(bottom[:-1]):
                if propagate_down[i]:
                    K.eltwise_coeff_blob_backward(b.wdiff(), top[0].rdiff(), self.coeff, bottom[-1].rdata(), i)
            if propagate_down[-1]:  # the fork computes no gradient for the coefficients: say so with zeros
                K.set(bottom[-1].wdiff(), 0.0)
            return
        mask = self.mask.rdata() if self.mask is not None else None
        datas = [b.rdata() for b in bottom]
        for i, b in enumerate(bottom):
            if propagate_down[i]:
                K.eltwise_backward(b.wdiff(), top[0].rdiff(), top[0].rdata(), datas, mask, i, self.op, self.coeff,
                                   self.stable_prod_grad)

    def allow_force_backward(self, bottom_index):
        return not (self.coeff_blob and bottom_index == len(self.layer_param.all("bottom")) - 1)
