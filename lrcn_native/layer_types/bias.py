from ..backend import K
from ..layer import register
from ..proto.schema import FILLER, I
from ..proto.text import Message
from .scale import Broadcast


@register
class Bias(Broadcast):
    """top = bottom[0] + b, b from bottom[1] or learned (filler default constant 0), broadcast over bottom's
    axes [axis, axis + b's axes) (Caffe's bias_param). In place allowed."""
    type = "Bias"
    param_fields = {"bias_param": {"axis": I, "num_axes": I, "filler": FILLER}}
    field = "bias_param"

    def setup(self, bottom, top):
        self.operand_setup(bottom, Message())

    def forward(self, bottom, top):
        K.scale_forward(top[0].wdata(), bottom[0].rdata(), None, self.operand(bottom).rdata().reshape(-1),
                        self.outer, self.channels, self.inner)

    def backward(self, top, propagate_down, bottom):
        dy = top[0].rdiff()
        learned = len(bottom) == 1
        if (self.param_propagate_down[0] if learned else propagate_down[1]):
            self.operand_sum(self.operand(bottom), dy, None, learned)
        if propagate_down[0] and top[0] is not bottom[0]:
            K.axpby(bottom[0].wdiff(), dy, 1.0, 0.0)
