from ..backend import K
from ..layer import Layer, register
from ..proto.schema import E, I


@register
class Softmax(Layer):
    """top = exp(x − max) / Σ exp(x − max) along softmax_param.axis (default 1, negative allowed)."""
    type = "Softmax"
    param_fields = {"softmax_param": {"engine": E, "axis": I}}
    exact_bottoms = exact_tops = 1

    def setup(self, bottom, top):
        self.axis_param = self.layer_param.msg("softmax_param").int("axis", 1)

    def reshape(self, bottom, top):
        self.axis = self.canonical_axis(self.axis_param, bottom[0].num_axes, "softmax_param")
        top[0].reshape_like(bottom[0])

    def forward(self, bottom, top):
        K.softmax_forward(top[0].wdata(), bottom[0].rdata(), self.axis)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            K.softmax_backward(bottom[0].wdiff(), top[0].rdiff(), top[0].rdata(), self.axis)
