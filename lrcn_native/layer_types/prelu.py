from ..backend import K
from ..layer import Layer, register
from ..proto.schema import FILLER, B
from ..proto.text import Message


@register
class PReLU(Layer):
    """top = max(x, 0) + a_c·min(x, 0) over channel axis 1 (He et al. 2015; Caffe's prelu_param): one
    learned slope per channel, or one for all with channel_shared; filler default constant 0.25.
    Backward: dx = dy·(x > 0 ? 1 : a_c), da_c += Σ dy·x·(x ≤ 0). In place allowed (the bottom is kept)."""
    type = "PReLU"
    param_fields = {"prelu_param": {"filler": FILLER, "channel_shared": B}}
    exact_bottoms = exact_tops = 1

    def setup(self, bottom, top):
        p = self.layer_param.msg("prelu_param")
        if len(bottom[0].shape) < 2:
            raise self.error(f"needs a bottom with at least 2 axes (N, C, ...), got shape {bottom[0].shape}")
        self.shared = p.bool("channel_shared", False)
        if "filler" in p:
            filler = p.msg("filler")
        else:
            filler = Message()
            filler.add("value", 0.25)
        self.add_param((1,) if self.shared else (bottom[0].shape[1],), filler)

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        if len(shape) < 2 or (not self.shared and shape[1] != self.blobs[0].count):
            raise self.error(f"bottom shape {shape} has not the {self.blobs[0].count} channels (axis 1) the layer "
                             "was set up with")
        self.dims = (shape[0], 1, bottom[0].count // shape[0]) if self.shared else \
            (shape[0], shape[1], bottom[0].count // (shape[0] * shape[1]))
        top[0].reshape_like(bottom[0])

    def forward(self, bottom, top):
        self.x = self.input_for_backward(bottom[0], top[0])
        K.prelu_forward(top[0].wdata(), bottom[0].rdata(), self.blobs[0].rdata(), *self.dims)

    def backward(self, top, propagate_down, bottom):
        slope = self.param_propagate_down[0]
        if not (slope or propagate_down[0]):
            return
        terms = self.buffer("slope_terms", *bottom[0].shape) if slope else None
        K.prelu_backward(bottom[0].wdiff() if propagate_down[0] else None, terms.wdata() if slope else None,
                         top[0].rdiff(), self.x.rdata(), self.blobs[0].rdata(), *self.dims)
        if slope:
            K.channel_sum(self.blobs[0].wdiff(), terms.rdata(), None, *self.dims, 1.0)
