from ..backend import K
from ..layer import Layer, register


@register
class EuclideanLoss(Layer):
    """loss = Σ (a − b)² / (2N), N = the bottoms' first dimension; backward ±w/N·(a − b) to each bottom
    asked for (w: the loss weight in the top's diff; both bottoms may receive a gradient, as in Caffe).
    No kernel of its own: axpby and dot."""
    type = "EuclideanLoss"
    exact_bottoms, exact_tops = 2, 1
    is_loss = True

    def reshape(self, bottom, top):
        a, b = bottom[0].shape, bottom[1].shape
        if not a or not b or a[0] != b[0] or bottom[0].count != bottom[1].count:
            raise self.error(f"bottoms must have the same first dimension and count, got shapes {a} and {b}")
        self.diff = self.buffer("diff", *a)
        top[0].reshape(())

    def forward(self, bottom, top):
        diff = self.diff.wdata()
        K.axpby(diff, bottom[0].rdata(), 1.0, 0.0)
        K.axpby(diff, bottom[1].rdata(), -1.0, 1.0)
        top[0].wdata()[...] = K.dot(diff, diff) / bottom[0].shape[0] / 2

    def backward(self, top, propagate_down, bottom):
        if not any(propagate_down):
            return
        weight = float(top[0].rdiff().reshape(-1)[0]) / bottom[0].shape[0]
        for i, sign in ((0, 1.0), (1, -1.0)):
            if propagate_down[i]:
                K.axpby(bottom[i].wdiff(), self.diff.rdata(), sign * weight, 0.0)
