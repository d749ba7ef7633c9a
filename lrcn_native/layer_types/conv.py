"""Convolution (Caffe's convolution_param), 2-D spatial, through the native im2col + GEMM drivers."""
import numpy as np

from ..backend import K
from ..layer import Layer, register
from ..proto.schema import B, E, FILLER, I, Rep, U

# Bound on the GPU scratch (columns of several frames lowered side by side), per layer.
GPU_SCRATCH_BYTES = 256 << 20


@register
class Convolution(Layer):
    """top = W ∗ bottom + b per bottom/top pair (all pairs share W and b).

    bottom (outer…) × C × H × W with the channel axis at ``axis``, top (outer…) × num_output × Ho × Wo,
    Ho = (H + 2·pad_h − (dilation_h·(kernel_h − 1) + 1)) / stride_h + 1. Weight num_output × C/group ×
    kernel_h × kernel_w, bias num_output."""
    type = "Convolution"
    param_fields = {"convolution_param": {"num_output": U, "bias_term": B, "pad": Rep(U), "kernel_size": Rep(U),
                                          "stride": Rep(U), "dilation": Rep(U), "pad_h": U, "pad_w": U, "kernel_h": U,
                                          "kernel_w": U, "stride_h": U, "stride_w": U, "group": U,
                                          "weight_filler": FILLER, "bias_filler": FILLER, "engine": E, "axis": I,
                                          "force_nd_im2col": B}}
    min_bottoms = min_tops = 1

    def setup(self, bottom, top):
        if len(bottom) != len(top):
            raise self.error(f"needs as many tops as bottoms, got {len(bottom)} bottoms and {len(top)} tops")
        p = self.layer_param.msg("convolution_param")
        self.num_output = p.int("num_output", 0)
        if self.num_output <= 0:
            raise self.error("num_output must be positive", "convolution_param")
        self.bias_term = p.bool("bias_term", True)
        self.group = p.int("group", 1)
        shape = bottom[0].shape
        axis = p.int("axis", 1)
        self.axis = self.canonical_axis(axis, len(shape), "convolution_param")
        spatial = len(shape) - self.axis - 1
        if spatial != 2:
            raise self.error(f"only 2-D spatial convolution is supported: bottom {shape} with axis {axis} has "
                             f"{spatial} spatial axes", "convolution_param")
        kh, kw = self._pair(p, "kernel", None)
        ph, pw = self._pair(p, "pad", 0)
        sh, sw = self._pair(p, "stride", 1)
        dh, dw = self._pair(p, "dilation", 1)
        if min(kh, kw, sh, sw, dh, dw) <= 0 or min(ph, pw) < 0:
            raise self.error("kernel, stride and dilation must be positive and pad non-negative",
                             "convolution_param")
        self.channels = shape[self.axis]
        if self.group <= 0 or self.channels % self.group or self.num_output % self.group:
            raise self.error(f"group {self.group} must divide the {self.channels} input channels and "
                             f"num_output {self.num_output}", "convolution_param")
        self.geom = [kh, kw, ph, pw, sh, sw, dh, dw, self.group]
        self.add_param((self.num_output, self.channels // self.group, kh, kw), p.msg("weight_filler"))
        if self.bias_term:
            self.add_param((self.num_output,), p.msg("bias_filler"))

    def _pair(self, p, name, default):
        """(h, w) from ``name_h`` and ``name_w`` (both), or ``name`` given 0 (default), 1 or 2 times.
        (Caffe has no dilation_h/w; the field names simply never occur.)"""
        h, w = name + "_h", name + "_w"
        field = name if name != "kernel" else "kernel_size"
        if h in p or w in p:
            if h not in p or w not in p:
                raise self.error(f"{h} and {w} must be given together", "convolution_param")
            if field in p:
                raise self.error(f"give either {field} or {h} and {w}, not both", "convolution_param")
            return p.int(h), p.int(w)
        values = p.ints(field)
        if not values:
            if default is None:
                raise self.error(f"{field} (or {h} and {w}) is required", "convolution_param")
            return default, default
        if len(values) > 2:
            raise self.error(f"{field} takes 1 or 2 values (one per spatial axis), got {len(values)}",
                             "convolution_param")
        return (values[0], values[0]) if len(values) == 1 else tuple(values)

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        if len(shape) != self.axis + 3 or shape[self.axis] != self.channels:
            raise self.error(f"bottom shape {shape} does not match the {self.channels} channels (axis {self.axis}) "
                             "the layer was set up with")
        kh, kw, ph, pw, sh, sw, dh, dw, _ = self.geom
        H, W = shape[-2:]
        eh, ew = H + 2 * ph - (dh * (kh - 1) + 1), W + 2 * pw - (dw * (kw - 1) + 1)
        if eh < 0 or ew < 0:
            raise self.error(f"the kernel {kh}x{kw} (dilation {dh}x{dw}) is larger than the padded input "
                             f"{H + 2 * ph}x{W + 2 * pw}")
        self.out_hw = (eh // sh + 1, ew // sw + 1)
        outer = int(np.prod(shape[:self.axis], dtype=np.int64))
        self.bottom4 = (outer, self.channels, H, W)
        self.top4 = (outer, self.num_output) + self.out_hw
        for b, t in zip(bottom, top):
            if b.shape != shape:
                raise self.error(f"all bottoms must have one shape: {b.shape} vs {shape}")
            if b is t:
                raise self.error("cannot run in place (top == bottom)")
            t.reshape(shape[:self.axis] + (self.num_output,) + self.out_hw)

    def scratch(self):
        """None on the CPU (the kernel's threads lower one frame each into their own columns); on the GPU a
        buffer for as many frames' columns (C·kh·kw × Ho·Wo) and outputs (num_output × Ho·Wo) as fit in
        GPU_SCRATCH_BYTES, frames being lowered side by side."""
        if not self.gpu():
            return None
        kh, kw = self.geom[:2]
        per_frame = (self.channels * kh * kw + self.num_output) * self.out_hw[0] * self.out_hw[1]
        need = max(1, min(self.bottom4[0], GPU_SCRATCH_BYTES // (4 * per_frame))) * per_frame
        return self.buffer("columns", need).wdata()

    def forward(self, bottom, top):
        weight = self.blobs[0].rdata()
        bias = self.blobs[1].rdata() if self.bias_term else None
        scratch = self.scratch()
        for b, t in zip(bottom, top):
            K.conv_forward(t.wdata().reshape(self.top4), b.rdata().reshape(self.bottom4), weight, bias, scratch,
                           self.geom)

    def backward(self, top, propagate_down, bottom):
        weight = self.blobs[0].rdata()
        weight_diff = self.blobs[0].wdiff() if self.param_propagate_down[0] else None
        bias_diff = self.blobs[1].wdiff() if self.bias_term and self.param_propagate_down[1] else None
        scratch = self.scratch()
        for t, down, b in zip(top, propagate_down, bottom):
            if weight_diff is None and bias_diff is None and not down:
                continue
            K.conv_backward(b.wdiff().reshape(self.bottom4) if down else None, weight_diff, bias_diff,
                            t.rdiff().reshape(self.top4), b.rdata().reshape(self.bottom4), weight, scratch,
                            self.geom)
