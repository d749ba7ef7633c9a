from ..backend import K
from ..blob import Blob
from ..layer import Layer, register
from ..proto.schema import E, F, U


@register
class LRN(Layer):
    """Local response normalisation, top = x·scale^−β (csrc/layers/lrn.h): ACROSS_CHANNELS
    scale = k + (α/n)·Σ x² over n neighbouring channels; WITHIN_CHANNEL scale = 1 + (α/n²)·Σ x² over an
    n×n zero-padded spatial window (Caffe ignores k there)."""
    type = "LRN"
    param_fields = {"lrn_param": {"local_size": U, "alpha": F, "beta": F, "norm_region": E, "k": F, "engine": E}}
    exact_bottoms = exact_tops = 1

    def setup(self, bottom, top):
        p = self.layer_param.msg("lrn_param")
        self.local_size = p.int("local_size", 5)
        if self.local_size <= 0 or self.local_size % 2 == 0:
            raise self.error(f"local_size must be odd and positive, got {self.local_size}", "lrn_param")
        self.alpha = p.float("alpha", 1.0)
        self.beta = p.float("beta", 0.75)
        self.k = p.float("k", 1.0)
        self.region = p.enum("norm_region", "ACROSS_CHANNELS", ("ACROSS_CHANNELS", "WITHIN_CHANNEL"))
        if top[0] is bottom[0]:
            raise self.error("cannot run in place: backward needs both the input and the output")
        self.scale = Blob()  # the denominator base, kept for backward

    def reshape(self, bottom, top):
        if bottom[0].num_axes != 4:
            raise self.error(f"needs a 4-axis (N, C, H, W) input, got shape {bottom[0].shape}")
        top[0].reshape_like(bottom[0])
        self.scale.reshape_like(bottom[0])

    def _params(self):
        return (self.local_size, self.alpha, self.beta, self.k, self.region)

    def forward(self, bottom, top):
        K.lrn_forward(top[0].wdata(), self.scale.wdata(), bottom[0].rdata(), *self._params())

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            K.lrn_backward(bottom[0].wdiff(), top[0].rdiff(), top[0].rdata(), self.scale.rdata(),
                           bottom[0].rdata(), *self._params())
