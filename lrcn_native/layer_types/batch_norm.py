"""BatchNorm (Caffe's batch_norm_param): per-channel normalisation of a bottom (N, C, ...), without the
affine part (a Scale layer follows in Caffe nets)."""
import numpy as np

from ..backend import K
from ..layer import TEST, Layer, register
from ..proto.schema import B, F
from ..proto.text import Message


@register
class BatchNorm(Layer):
    """top = (x − μ_c) / sqrt(σ²_c + eps) over channel axis 1 (a 1-axis bottom is one channel).

    Caffe's three blobs: blobs[0] (C) and blobs[1] (C) are running sums of means and bias-corrected
    variances, blobs[2] (1) their scale factor s; the statistics in use are blobs[0]/s and blobs[1]/s (0
    when s is 0). With use_global_stats (default: in the TEST phase) those are used; otherwise the batch's
    own μ and (biased) σ² over N and the spatial axes are, and each forward updates
    s ← maf·s + 1, blobs[0] ← maf·blobs[0] + μ, blobs[1] ← maf·blobs[1] + m/(m−1)·σ² (m = N·spatial,
    maf = moving_average_fraction). The blobs are never learned: as Caffe, the layer appends param specs
    with lr_mult 0 and refuses a nonzero one. Backward (batch statistics):
    dx = (dy − mean(dy) − y·mean(dy·y)) / sqrt(σ² + eps), means per channel; with global statistics
    dx = dy / sqrt(σ² + eps). In place allowed (the normalised top is kept for backward)."""
    type = "BatchNorm"
    param_fields = {"batch_norm_param": {"use_global_stats": B, "moving_average_fraction": F, "eps": F}}
    exact_bottoms = exact_tops = 1

    def setup(self, bottom, top):
        p = self.layer_param.msg("batch_norm_param")
        self.use_global_stats = p.bool("use_global_stats", self.phase == TEST)
        self.maf = np.float32(p.float("moving_average_fraction", 0.999))
        self.eps = np.float32(p.float("eps", 1e-5))
        shape = bottom[0].shape
        if not shape:
            raise self.error("needs a bottom with at least one axis (N, C, ...), got a scalar")
        self.channels = 1 if len(shape) == 1 else shape[1]
        for size in (self.channels, self.channels, 1):
            self.blobs.add_blob(size)  # zeros
        for i in range(3):
            specs = self.layer_param.msgs("param")
            if i == len(specs):
                fixed = Message()
                fixed.add("lr_mult", 0.0)
                self.layer_param.add("param", fixed)
            elif i < len(specs) and specs[i].float("lr_mult", 1.0) != 0:
                raise self.error(f"param {i} has lr_mult {specs[i].float('lr_mult', 1.0)}: batch normalization "
                                 "statistics cannot be learned (give lr_mult: 0 or no param)", "param")

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        if not shape or (len(shape) > 1 and shape[1] != self.channels):
            raise self.error(f"bottom shape {shape} has not the {self.channels} channels (axis 1) the layer was "
                             "set up with")
        self.outer = shape[0]
        self.inner = bottom[0].count // max(self.outer * self.channels, 1)
        top[0].reshape_like(bottom[0])

    def _dims(self):
        return self.outer, self.channels, self.inner

    def forward(self, bottom, top):
        c = self.channels
        mean, inv_std = self.buffer("mean", c).wdata(), self.buffer("inv_std", c).wdata()
        m = self.outer * self.inner
        if self.use_global_stats:
            s = float(self.blobs[2].data[0])
            factor = np.float32(0.0 if s == 0 else 1.0 / np.float32(s))
            mean[...] = self.blobs[0].rdata() * factor
            var = self.blobs[1].rdata() * factor
        else:
            K.channel_sum(mean, bottom[0].rdata(), None, *self._dims(), 0.0)
            mean *= np.float32(1.0 / m)
        # top = x − μ (in place allowed), then the batch variance from it.
        K.scale_forward(top[0].wdata(), bottom[0].rdata(), None, -mean, *self._dims())
        if not self.use_global_stats:
            var = self.buffer("var", c).wdata()
            K.channel_sum(var, top[0].rdata(), top[0].rdata(), *self._dims(), 0.0)
            var *= np.float32(1.0 / m)
            self._update_running_stats(mean, var, m)
        inv_std[...] = 1.0 / np.sqrt(var + self.eps)
        K.scale_forward(top[0].wdata(), top[0].rdata(), inv_std, None, *self._dims())
        if not self.use_global_stats:  # backward needs y, which a following in-place layer may overwrite
            y = self.buffer("x_norm", *bottom[0].shape)
            K.axpby(y.wdata(), top[0].rdata(), 1.0, 0.0)

    def _update_running_stats(self, mean, var, m):
        correction = np.float32(m / (m - 1) if m > 1 else 1.0)
        running_mean, running_var, s = (b.wdata() for b in self.blobs)
        s *= self.maf
        s += np.float32(1.0)
        running_mean *= self.maf
        running_mean += mean
        running_var *= self.maf
        running_var += correction * var

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        inv_std = self.buffer("inv_std", self.channels).rdata()
        dy = top[0].rdiff()
        if not self.use_global_stats:
            # dy − mean(dy) − y·mean(dy·y), per channel, into a scratch blob (dy may be bottom's diff in place).
            c, m = self.channels, self.outer * self.inner
            y = self.buffer("x_norm", *bottom[0].shape).rdata()
            mean_dy, mean_dy_y = self.buffer("mean_dy", c).wdata(), self.buffer("mean_dy_y", c).wdata()
            K.channel_sum(mean_dy, dy, None, *self._dims(), 0.0)
            K.channel_sum(mean_dy_y, dy, y, *self._dims(), 0.0)
            mean_dy *= np.float32(1.0 / m)
            mean_dy_y *= np.float32(1.0 / m)
            centred = self.buffer("centred", *bottom[0].shape).wdata()
            K.scale_forward(centred, y, mean_dy_y, mean_dy, *self._dims())
            K.axpby(centred, dy, 1.0, -1.0)
            dy = centred
        K.scale_forward(bottom[0].wdiff(), dy, inv_std, None, *self._dims())
