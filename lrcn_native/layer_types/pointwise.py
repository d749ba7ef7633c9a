"""Caffe's stateless neuron layers with a formula each: AbsVal, BNLL, ELU, Exp, Log, Power, Threshold.
One kernel pair serves them all (csrc/layers/pointwise.h, where each formula and its derivative are
written once); a layer only turns its prototxt fields into the kernel's three constants, in float32 as
Caffe computes them. In place is allowed: where the backward needs the bottom, a copy is kept."""
import math

import numpy as np

from ..backend import K
from ..layer import Layer, register
from ..proto.schema import F

ABSVAL, BNLL, ELU, EXP, LOG, POWER, THRESHOLD = range(7)  # csrc/layers/pointwise.h
f32 = np.float32


class _Pointwise(Layer):
    exact_bottoms = exact_tops = 1
    op = None

    def setup(self, bottom, top):
        consts = tuple(float(f32(c)) for c in self.constants())
        self.consts = consts + (0.0,) * (3 - len(consts))

    def constants(self):
        return ()

    def reshape(self, bottom, top):
        top[0].reshape_like(bottom[0])

    def forward(self, bottom, top):
        self.x = self.input_for_backward(bottom[0], top[0])
        K.pointwise_forward(top[0].wdata(), bottom[0].rdata(), self.op, *self.consts)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            K.pointwise_backward(bottom[0].wdiff(), top[0].rdiff(), self.x.rdata(), top[0].rdata(), self.op,
                                 *self.consts)

    def base_log(self, p):
        """ln(base) of an exp_param/log_param (base −1: e), refusing a base Caffe refuses."""
        base = p.float("base", -1.0)
        if base == -1.0:
            return f32(1.0)
        if not base > 0:
            raise self.error(f"base must be positive (or -1 for e), got {base}", self.param_name)
        return f32(math.log(f32(base)))


@register
class AbsVal(_Pointwise):
    """y = |x|; dx = dy·sign(x), 0 at 0."""
    type, op = "AbsVal", ABSVAL


@register
class BNLL(_Pointwise):
    """y = log(1 + eˣ) (the binomial normal log-likelihood), computed stably; dx = dy·σ(x)."""
    type, op = "BNLL", BNLL


@register
class ELU(_Pointwise):
    """y = x for x > 0, else alpha·(eˣ − 1) (alpha default 1)."""
    type, op = "ELU", ELU
    param_fields = {"elu_param": {"alpha": F}}

    def constants(self):
        return (self.layer_param.msg("elu_param").float("alpha", 1.0),)


@register
class Exp(_Pointwise):
    """y = base^(shift + scale·x) (base −1 means e): computed as base^shift · e^(scale·ln(base)·x)."""
    type, op, param_name = "Exp", EXP, "exp_param"
    param_fields = {"exp_param": {"base": F, "scale": F, "shift": F}}

    def constants(self):
        p = self.layer_param.msg(self.param_name)
        log_base, shift = self.base_log(p), f32(p.float("shift", 0.0))
        base = p.float("base", -1.0)
        outer = 1.0 if shift == 0 else math.exp(shift) if base == -1.0 else math.pow(f32(base), shift)
        return log_base * f32(p.float("scale", 1.0)), outer


@register
class Log(_Pointwise):
    """y = log_base(shift + scale·x) (base −1 means e)."""
    type, op, param_name = "Log", LOG, "log_param"
    param_fields = {"log_param": {"base": F, "scale": F, "shift": F}}

    def constants(self):
        p = self.layer_param.msg(self.param_name)
        return p.float("scale", 1.0), p.float("shift", 0.0), f32(1.0) / self.base_log(p)


@register
class Power(_Pointwise):
    """y = (shift + scale·x)^power; the derivative in Caffe's special cases (csrc/layers/pointwise.h)."""
    type, op = "Power", POWER
    param_fields = {"power_param": {"power": F, "scale": F, "shift": F}}

    def constants(self):
        p = self.layer_param.msg("power_param")
        return p.float("power", 1.0), p.float("scale", 1.0), p.float("shift", 0.0)


@register
class Threshold(_Pointwise):
    """y = 1 if x > threshold else 0 (threshold default 0); no backward, as in Caffe."""
    type, op = "Threshold", THRESHOLD
    param_fields = {"threshold_param": {"threshold": F}}

    def constants(self):
        return (self.layer_param.msg("threshold_param").float("threshold", 0.0),)

    def backward(self, top, propagate_down, bottom):
        Layer.backward(self, top, propagate_down, bottom)
