from ..backend import K
from ..layer import Layer, register
from ..proto.schema import E, F


@register
class ReLU(Layer):
    """top = max(x, 0) + negative_slope·min(x, 0); in place allowed."""
    type = "ReLU"
    param_fields = {"relu_param": {"negative_slope": F, "engine": E}}
    exact_bottoms = exact_tops = 1

    def setup(self, bottom, top):
        self.negative_slope = self.layer_param.msg("relu_param").float("negative_slope", 0.0)

    def reshape(self, bottom, top):
        top[0].reshape_like(bottom[0])

    def forward(self, bottom, top):
        K.relu_forward(top[0].wdata(), bottom[0].rdata(), self.negative_slope)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            K.relu_backward(bottom[0].wdiff(), top[0].rdiff(), bottom[0].rdata(), self.negative_slope)
