from ..backend import K
from ..layer import Layer, register
from .softmax_loss import loss_settings


@register
class SigmoidCrossEntropyLoss(Layer):
    """loss = Σ_i −(t_i·log σ(x_i) + (1 − t_i)·log(1 − σ(x_i))) / normaliser, in Caffe's stable form
    (csrc/layers/sigmoid_cross_entropy.h); backward dx = w·(σ(x) − t)/normaliser (w: the loss weight).
    Bottoms: scores and targets of equal count and first dimension N. loss_param: ignore_label (targets
    equal to it after an int cast count nothing), normalization (default BATCH_SIZE, i.e. N; VALID counts the
    non-ignored elements, FULL all, NONE 1; the normaliser is at least 1), or the older normalize (true =
    VALID, false = BATCH_SIZE). No gradient to the targets."""
    type = "SigmoidCrossEntropyLoss"
    exact_bottoms, exact_tops = 2, 1
    is_loss = True

    def setup(self, bottom, top):
        self.ignore_label, self.normalization = loss_settings(self.layer_param, "BATCH_SIZE")
        self.normalizer = 1.0

    def reshape(self, bottom, top):
        a, b = bottom[0].shape, bottom[1].shape
        if not a or not b or a[0] != b[0] or bottom[0].count != bottom[1].count:
            raise self.error(f"scores {a} and targets {b} must have the same first dimension and count")
        top[0].reshape(())

    def forward(self, bottom, top):
        n = bottom[0].count
        terms, valid = self.buffer("loss_terms", n).wdata(), self.buffer("valid", n).wdata()
        K.sigmoid_cross_entropy_forward(terms, valid, bottom[0].rdata().reshape(-1), bottom[1].rdata().reshape(-1),
                                        self.ignore_label)
        sums = self.buffer("sums", 2).wdata()
        K.channel_sum(sums[:1], terms, None, 1, 1, n, 0.0)
        K.channel_sum(sums[1:], valid, None, 1, 1, n, 0.0)
        loss, count = (float(v) for v in sums)
        self.normalizer = max(1.0, {"FULL": n, "VALID": count, "BATCH_SIZE": bottom[0].shape[0],
                                    "NONE": 1}[self.normalization])
        top[0].wdata()[...] = loss / self.normalizer

    def backward(self, top, propagate_down, bottom):
        if propagate_down[1]:
            raise self.error("cannot backpropagate to the targets (bottom 1)")
        if propagate_down[0]:
            scale = float(top[0].rdiff().reshape(-1)[0]) / self.normalizer
            K.sigmoid_cross_entropy_backward(bottom[0].wdiff().reshape(-1), bottom[0].rdata().reshape(-1),
                                             bottom[1].rdata().reshape(-1), scale, self.ignore_label)

    def allow_force_backward(self, bottom_index):
        return bottom_index != 1  # never into the targets
