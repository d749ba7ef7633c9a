"""Neuron layers: Sigmoid, TanH and Dropout (one bottom, one top of the same shape; in place allowed)."""
import numpy as np

from .. import mode, parallel
from ..backend import K
from ..layer import TRAIN, Layer, register
from ..proto.schema import E, F


class _Neuron(Layer):
    exact_bottoms = exact_tops = 1

    def reshape(self, bottom, top):
        top[0].reshape_like(bottom[0])


@register
class Sigmoid(_Neuron):
    """y = 1/(1 + e^(−x)); backward dy·y·(1 − y) from the top, so in place works."""
    type = "Sigmoid"
    param_fields = {"sigmoid_param": {"engine": E}}

    def forward(self, bottom, top):
        K.sigmoid_forward(top[0].wdata(), bottom[0].rdata())

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            K.sigmoid_backward(bottom[0].wdiff(), top[0].rdiff(), top[0].rdata())


@register
class TanH(_Neuron):
    """y = tanh(x); backward dy·(1 − y²) from the top, so in place works."""
    type = "TanH"
    param_fields = {"tanh_param": {"engine": E}}

    def forward(self, bottom, top):
        K.tanh_forward(top[0].wdata(), bottom[0].rdata())

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            K.tanh_backward(bottom[0].wdiff(), top[0].rdiff(), top[0].rdata())


@register
class Dropout(_Neuron):
    """Inverted dropout. TRAIN: each element is kept with probability 1 − p and scaled by 1/(1 − p), else
    zeroed; TEST: the identity (a copy, nothing in place).

    The mask is never stored: each forward draws a 64-bit seed from lrcn_native.mode.rng() and the kernel
    derives element i's keep bit from (seed, i) with a counter-based hash (csrc/layers/neuron.h), which
    backward recomputes. So a given set_random_seed gives the same mask on the CPU and the GPU, bit for bit.
    Setting ``freeze_mask = True`` keeps the current mask across forwards (for gradient checks)."""
    type = "Dropout"
    param_fields = {"dropout_param": {"dropout_ratio": F}}
    freeze_mask = False

    def setup(self, bottom, top):
        p = self.layer_param.msg("dropout_param").float("dropout_ratio", 0.5)
        p = float(np.float32(p))  # Caffe holds the ratio as a float
        if not 0.0 <= p < 1.0:
            raise self.error(f"dropout_ratio must be in [0, 1), got {p}", "dropout_param")
        self.ratio = p
        self.threshold = int(p * 2.0**32)  # keep element i iff its 32 random bits are ≥ threshold
        self.scale = float(np.float32(1.0 / (1.0 - p)))
        self.seed = None

    def forward(self, bottom, top):
        if self.phase != TRAIN:
            if top[0] is not bottom[0]:
                K.axpby(top[0].wdata(), bottom[0].rdata(), 1.0, 0.0)
            return
        if self.seed is None or not self.freeze_mask:
            seed = int(mode.rng().integers(0, 2**64, dtype=np.uint64))
            # Data-parallel ranks share the generator's state (lrcn_native/parallel.py): their masks must differ.
            self.seed = (seed + parallel.solver_rank() * 0x9E3779B97F4A7C15) % 2**64
        K.dropout_forward(top[0].wdata(), bottom[0].rdata(), self.seed, self.threshold, self.scale)

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        if self.phase != TRAIN:
            if top[0] is not bottom[0]:
                K.axpby(bottom[0].wdiff(), top[0].rdiff(), 1.0, 0.0)
            return
        K.dropout_backward(bottom[0].wdiff(), top[0].rdiff(), self.seed, self.threshold, self.scale)
