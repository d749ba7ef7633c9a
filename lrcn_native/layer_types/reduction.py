import numpy as np

from ..layer import Layer, register
from ..proto.schema import E, F, I
from .scale import outer_inner

OPERATIONS = ("SUM", "ASUM", "SUMSQ", "MEAN")  # caffe.proto numbers them from 1


@register
class Reduction(Layer):
    """top[r] = coeff · op(bottom[r, :]) over all axes from ``axis`` on (Caffe's reduction_param; default axis
    0: one scalar), op SUM, ASUM (Σ|x|), SUMSQ (Σx²) or MEAN; top's shape is bottom's axes before ``axis``.
    Backward: dx = coeff·dy·(1, sign(x), 2x, 1/dim). No kernel of its own: array reductions on the mode's
    arrays (numpy or cupy)."""
    type = "Reduction"
    param_fields = {"reduction_param": {"operation": E, "axis": I, "coeff": F}}
    exact_bottoms = exact_tops = 1

    def setup(self, bottom, top):
        p = self.layer_param.msg("reduction_param")
        number = p.get("operation")
        if isinstance(number, int) and not isinstance(number, bool):
            if not 1 <= number <= len(OPERATIONS):
                raise self.error(f"operation {number} is not a ReductionOp (SUM = 1, ASUM, SUMSQ, MEAN = 4)",
                                 "reduction_param")
            self.op = OPERATIONS[number - 1]
        else:
            self.op = p.enum("operation", "SUM", OPERATIONS)
        self.coeff = np.float32(p.float("coeff", 1.0))
        self.axis_param = p.int("axis", 0)

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        self.axis = self.canonical_axis(self.axis_param, len(shape), "reduction_param") if shape else 0
        self.num, self.dim = outer_inner(shape, self.axis, 0)
        top[0].reshape(shape[:self.axis])

    def forward(self, bottom, top):
        x = bottom[0].rdata().reshape(self.num, self.dim)
        if self.op == "ASUM":
            x = abs(x)
        elif self.op == "SUMSQ":
            x = x * x
        y = x.sum(axis=1)
        scale = self.coeff / self.dim if self.op == "MEAN" else self.coeff
        top[0].wdata().reshape(self.num)[...] = y * scale

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        scale = self.coeff / self.dim if self.op == "MEAN" else self.coeff
        dy = top[0].rdiff().reshape(self.num, 1) * scale
        dx = bottom[0].wdiff().reshape(self.num, self.dim)
        x = bottom[0].rdata().reshape(self.num, self.dim)
        if self.op == "ASUM":
            dx[...] = np.sign(x) * dy
        elif self.op == "SUMSQ":
            dx[...] = 2 * x * dy
        else:
            dx[...] = dy
