from ..backend import K
from ..layer import Layer, register


@register
class Split(Layer):
    """Copies its bottom to every top (sharing the data memory); backward sums the tops' diffs."""
    type = "Split"
    exact_bottoms = 1
    min_tops = 1

    def reshape(self, bottom, top):
        for t in top:
            t.reshape_like(bottom[0])
            t.share_data(bottom[0])

    def forward(self, bottom, top):
        pass  # data is shared

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        diff = bottom[0].wdiff()
        K.axpby(diff, top[0].rdiff(), 1.0, 0.0)
        for t in top[1:]:
            K.axpby(diff, t.rdiff(), 1.0, 1.0)
