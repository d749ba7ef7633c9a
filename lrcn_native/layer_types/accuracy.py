from ..backend import K
from ..layer import Layer, register
from ..proto.schema import I, U


@register
class Accuracy(Layer):
    """Fraction of non-ignored positions whose label is among the top_k scores along accuracy_param.axis.

    BVLC's rule: a position is correct when fewer than top_k other classes score >= its label's score,
    so ties count as errors. Optional second top: per-class accuracy (C values). No backward."""
    type = "Accuracy"
    param_fields = {"accuracy_param": {"top_k": U, "axis": I, "ignore_label": I}}
    exact_bottoms = 2
    min_tops, max_tops = 1, 2

    def setup(self, bottom, top):
        ap = self.layer_param.msg("accuracy_param")
        self.top_k = ap.int("top_k", 1)
        if self.top_k < 1:
            raise self.error(f"top_k must be at least 1, got {self.top_k}", "accuracy_param")
        self.axis_param = ap.int("axis", 1)
        self.ignore_label = ap.int("ignore_label") if "ignore_label" in ap else None

    def reshape(self, bottom, top):
        self.axis = self.canonical_axis(self.axis_param, bottom[0].num_axes, "accuracy_param")
        channels = bottom[0].shape[self.axis]
        if self.top_k > channels:
            raise self.error(f"top_k ({self.top_k}) must not exceed the number of classes ({channels})",
                             "accuracy_param")
        if bottom[1].count * channels != bottom[0].count:
            raise self.error(f"number of labels ({bottom[1].count}, shape {bottom[1].shape}) must match the number "
                             f"of predictions (prediction shape {bottom[0].shape} with the class axis {self.axis} "
                             f"removed)")
        top[0].reshape(())
        if len(top) > 1:
            top[1].reshape((channels,))

    def forward(self, bottom, top):
        per_class = top[1].wdata() if len(top) > 1 else None
        # The GPU's per-position flags (correct, wrong, ignored, bad), one float each.
        scratch = self.buffer("flags", bottom[1].count).wdata() if self.gpu() else None
        try:
            K.accuracy_forward(top[0].wdata(), per_class, bottom[0].rdata(), bottom[1].rdata(), self.axis, self.top_k,
                               self.ignore_label, scratch)
        except ValueError as e:
            raise self.error(str(e)) from None

    def allow_force_backward(self, bottom_index):
        return False  # Caffe aborts with force_backward here; the Net skips Accuracy instead
