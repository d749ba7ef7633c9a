from ..backend import K
from ..blob import Blob
from ..layer import Layer, register

NORMALIZATIONS = ("FULL", "VALID", "BATCH_SIZE", "NONE")


def loss_settings(layer_param, default_normalization):
    """(ignore_label or None, normalization) from a loss layer's loss_param; the older ``normalize`` (true =
    VALID, false = BATCH_SIZE) applies when ``normalization`` is absent, as in Caffe."""
    lp = layer_param.msg("loss_param")
    ignore_label = lp.int("ignore_label") if "ignore_label" in lp else None
    if "normalize" in lp and "normalization" not in lp:
        return ignore_label, "VALID" if lp.bool("normalize") else "BATCH_SIZE"
    return ignore_label, lp.enum("normalization", default_normalization, NORMALIZATIONS)


@register
class SoftmaxWithLoss(Layer):
    """loss = −Σ log(max(softmax(x)[label], FLT_MIN)) / normaliser over the non-ignored positions.

    Bottoms: predictions (outer × C × inner around softmax_param.axis) and labels (outer·inner values,
    e.g. N, N×1×H×W or T×N). Tops: the loss (a scalar, unweighted: the Net's loss weight lives in its
    diff and scales the gradient) and optionally the probabilities (loss weight 0 unless given).
    loss_param: ignore_label, normalization (VALID by default), or the older normalize (true = VALID,
    false = BATCH_SIZE) when normalization is absent."""
    type = "SoftmaxWithLoss"
    exact_bottoms = 2
    min_tops, max_tops = 1, 2
    is_loss = True

    def setup(self, bottom, top):
        self.ignore_label, self.normalization = loss_settings(self.layer_param, "VALID")
        self.axis_param = self.layer_param.msg("softmax_param").int("axis", 1)
        self.prob = top[1] if len(top) > 1 else Blob()

    def reshape(self, bottom, top):
        self.axis = self.canonical_axis(self.axis_param, bottom[0].num_axes, "softmax_param")
        shape = bottom[0].shape
        outer_inner = bottom[0].count // shape[self.axis] if shape[self.axis] else 0
        if bottom[1].count != outer_inner:
            raise self.error(f"number of labels ({bottom[1].count}, shape {bottom[1].shape}) must match the number "
                             f"of predictions ({outer_inner}: prediction shape {shape} with the class axis "
                             f"{self.axis} removed)")
        if bottom[1].num_axes == 0 or shape[0] != bottom[1].shape[0]:  # Caffe's LossLayer check
            raise self.error(f"predictions {shape} and labels {bottom[1].shape} must have the same first dimension")
        top[0].reshape(())
        self.prob.reshape_like(bottom[0])

    def forward(self, bottom, top):
        K.softmax_forward(self.prob.wdata(), bottom[0].rdata(), self.axis)
        # The normaliser stays where the loss is: the GPU backward reads it there, no copy to the host.
        normalizer = self.buffer("normalizer", 1)
        try:
            K.softmax_loss_forward(top[0].wdata(), normalizer.wdata(), self.prob.rdata(), bottom[1].rdata(),
                                   self.axis, self.ignore_label, self.normalization)
        except ValueError as e:
            raise self.error(str(e)) from None

    def backward(self, top, propagate_down, bottom):
        if propagate_down[1]:
            raise self.error("cannot backpropagate to the label input (bottom 1)")
        if propagate_down[0]:
            K.softmax_loss_backward(bottom[0].wdiff(), self.prob.rdata(), bottom[1].rdata(), top[0].rdiff(),
                                    self.buffer("normalizer", 1).rdata(), self.axis, self.ignore_label)

    def allow_force_backward(self, bottom_index):
        return bottom_index != 1  # never into the labels
