"""Reshape, Flatten (new shapes over the same memory: the top shares its bottom's data and diff, so
forward and backward move nothing) and Silence (swallows its bottoms)."""
import math

from ..backend import K
from ..layer import Layer, register
from ..proto.schema import BLOB_SHAPE, I


class _View(Layer):
    """A top that is the bottom under another shape; subclasses give the shape."""
    exact_bottoms = exact_tops = 1

    def setup(self, bottom, top):
        if top[0] is bottom[0]:
            raise self.error(f"{self.type} cannot run in place (give the top another name)", "top")

    def top_shape(self, bottom):
        raise NotImplementedError

    def reshape(self, bottom, top):
        shape = self.top_shape(bottom[0])
        if math.prod(shape) != bottom[0].count:
            raise self.error(f"top shape {tuple(shape)} has {math.prod(shape)} elements but the bottom "
                             f"{bottom[0].shape} has {bottom[0].count}")
        top[0].reshape(shape)
        top[0].share_data(bottom[0])
        top[0].share_diff(bottom[0])

    def forward(self, bottom, top):
        pass  # shared memory

    def backward(self, top, propagate_down, bottom):
        pass  # shared memory


@register
class Reshape(_View):
    """reshape_param { shape { dim } axis num_axes }: the bottom's axes [axis, axis + num_axes) (all from
    axis when num_axes is −1, the default; axis defaults to 0, and a negative axis counts from the end, −1
    meaning after the last axis) are replaced by shape's dims, where 0 copies the bottom's dim at that
    position and one −1 is inferred from the count."""
    type = "Reshape"
    param_fields = {"reshape_param": {"shape": BLOB_SHAPE, "axis": I, "num_axes": I}}

    def setup(self, bottom, top):
        super().setup(bottom, top)
        p = self.layer_param.msg("reshape_param")
        self.dims = p.msg("shape").ints("dim")
        self.axis = p.int("axis", 0)
        self.num_axes = p.int("num_axes", -1)
        if self.dims.count(-1) > 1:
            raise self.error(f"shape {self.dims} has more than one -1 (only one dim can be inferred)", "reshape_param")
        if any(d < -1 for d in self.dims):
            raise self.error(f"shape {self.dims} has a dim below -1", "reshape_param")
        if self.num_axes < -1:
            raise self.error(f"num_axes must be -1 (all) or non-negative, got {self.num_axes}", "reshape_param")

    def top_shape(self, bottom):
        n = bottom.num_axes
        start = self.axis if self.axis >= 0 else n + self.axis + 1
        if not 0 <= start <= n:
            raise self.error(f"axis {self.axis} out of range for bottom shape {bottom.shape}", "reshape_param")
        end = n if self.num_axes == -1 else start + self.num_axes
        if end > n:
            raise self.error(f"axis {self.axis} with num_axes {self.num_axes} exceeds bottom shape {bottom.shape}",
                             "reshape_param")
        middle = []
        for i, d in enumerate(self.dims):
            if d == 0:
                if start + i >= n:
                    raise self.error(f"shape dim {i} is 0 but bottom shape {bottom.shape} has no axis {start + i} "
                                     "to copy", "reshape_param")
                d = bottom.shape[start + i]
            middle.append(d)
        shape = list(bottom.shape[:start]) + middle + list(bottom.shape[end:])
        if -1 in middle:
            known = -math.prod(shape)
            if known == 0 or bottom.count % known:
                raise self.error(f"bottom shape {bottom.shape} ({bottom.count} elements) is not divisible by the "
                                 f"product {known} of the other dims of {shape}", "reshape_param")
            shape[start + middle.index(-1)] = bottom.count // known
        return shape


@register
class Flatten(_View):
    """flatten_param { axis (1) end_axis (−1) }: the axes axis..end_axis become one."""
    type = "Flatten"
    param_fields = {"flatten_param": {"axis": I, "end_axis": I}}

    def top_shape(self, bottom):
        p = self.layer_param.msg("flatten_param")
        start = self.canonical_axis(p.int("axis", 1), bottom.num_axes, "flatten_param")
        end = self.canonical_axis(p.int("end_axis", -1), bottom.num_axes, "flatten_param")
        if end < start:
            raise self.error(f"end_axis {end} comes before axis {start} in bottom shape {bottom.shape}",
                             "flatten_param")
        s = bottom.shape
        return list(s[:start]) + [math.prod(s[start:end + 1])] + list(s[end + 1:])


@register
class Silence(Layer):
    """No tops: consumes blobs nobody else uses; backward writes zero diffs where asked."""
    type = "Silence"
    min_bottoms = 1
    exact_tops = 0

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        pass

    def backward(self, top, propagate_down, bottom):
        for b, down in zip(bottom, propagate_down):
            if down:
                K.set(b.wdiff(), 0.0)
