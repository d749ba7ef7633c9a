from ..backend import K
from ..blob import Blob
from ..layer import Layer, register
from ..proto.schema import B, E, U


@register
class Pooling(Layer):
    """MAX or AVE pooling over the spatial axes of an N×C×H×W blob, Caffe's geometry (ceil rounding
    unless round_mode: FLOOR, the last window never starts in the padding; AVE divides by the window
    clipped to the padded extent). MAX may take a second top: the argmax index h·W + w in the bottom
    plane, as float."""
    type = "Pooling"
    param_fields = {"pooling_param": {"pool": E, "pad": U, "pad_h": U, "pad_w": U, "kernel_size": U, "kernel_h": U,
                                      "kernel_w": U, "stride": U, "stride_h": U, "stride_w": U, "engine": E,
                                      "global_pooling": B, "round_mode": E}}
    exact_bottoms = 1
    min_tops, max_tops = 1, 2

    def setup(self, bottom, top):
        p = self.layer_param.msg("pooling_param")
        self.method = p.enum("pool", "MAX", ("MAX", "AVE", "STOCHASTIC"))
        if self.method == "STOCHASTIC":
            raise self.error("STOCHASTIC pooling is not supported (only MAX and AVE)", "pooling_param")
        if len(top) == 2 and self.method != "MAX":
            raise self.error("only MAX pooling has a second (mask) top")
        if top[0] is bottom[0]:
            raise self.error("cannot pool in place (top and bottom are the same blob)")
        self.ceil_mode = p.enum("round_mode", "CEIL", ("CEIL", "FLOOR")) == "CEIL"
        self.global_pooling = p.bool("global_pooling", False)
        kernel = self._pair(p, "kernel_size", "kernel_h", "kernel_w", None)
        if self.global_pooling:
            if kernel is not None:
                raise self.error("global_pooling takes its kernel from the input: give no kernel size",
                                 "pooling_param")
        elif kernel is None:
            raise self.error("needs kernel_size, or both kernel_h and kernel_w", "pooling_param")
        elif min(kernel) <= 0:
            raise self.error(f"kernel size must be positive, got {kernel}", "pooling_param")
        self.kernel = kernel
        self.pad = self._pair(p, "pad", "pad_h", "pad_w", (0, 0))
        self.stride = self._pair(p, "stride", "stride_h", "stride_w", (1, 1))
        if min(self.stride) <= 0 or min(self.pad) < 0:
            raise self.error(f"needs stride > 0 and pad >= 0, got stride {self.stride}, pad {self.pad}",
                             "pooling_param")
        if self.global_pooling and (self.pad != (0, 0) or self.stride != (1, 1)):
            raise self.error("global_pooling needs pad 0 and stride 1", "pooling_param")
        if kernel is not None and (self.pad[0] >= kernel[0] or self.pad[1] >= kernel[1]):
            raise self.error(f"pad {self.pad} must be smaller than the kernel {kernel}", "pooling_param")
        self.mask = Blob()  # argmax of each window for MAX's backward when there is no mask top

    def _pair(self, p, both, h, w, default):
        """(h, w) from `both` or from the pair `h` and `w` (Caffe accepts one form, not both)."""
        if both in p:
            if h in p or w in p:
                raise self.error(f"give {both} or {h} and {w}, not both", "pooling_param")
            v = p.int(both)
            return (v, v)
        if h in p or w in p:
            if not (h in p and w in p):
                raise self.error(f"{h} and {w} must be given together", "pooling_param")
            return (p.int(h), p.int(w))
        return default

    def reshape(self, bottom, top):
        if bottom[0].num_axes != 4:
            raise self.error(f"needs a 4-axis (N, C, H, W) input, got shape {bottom[0].shape}")
        n, c, h, w = bottom[0].shape
        if self.global_pooling:
            self.kernel = (h, w)
        out = [K.pooling_output_size(size, k, s, p, self.ceil_mode)
               for size, k, s, p in zip((h, w), self.kernel, self.stride, self.pad)]
        if min(out) <= 0:
            raise self.error(f"kernel {self.kernel} with pad {self.pad} does not fit the {h}x{w} input")
        for t in top:
            t.reshape(n, c, *out)
        if self.method == "MAX" and len(top) == 1:
            self.mask.reshape(n, c, *out)

    def _geometry(self):
        return (self.method, *self.kernel, *self.stride, *self.pad)

    def _mask(self, top, write):
        if self.method != "MAX":
            return None
        blob = top[1] if len(top) == 2 else self.mask
        return blob.wdata() if write else blob.rdata()

    def forward(self, bottom, top):
        K.pooling_forward(top[0].wdata(), self._mask(top, True), bottom[0].rdata(), *self._geometry())

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            K.pooling_backward(bottom[0].wdiff(), top[0].rdiff(), self._mask(top, False), *self._geometry())
