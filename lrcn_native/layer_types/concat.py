"""Concat and Slice: joining blobs along an axis and cutting one apart again. Both move data with one
strided block copy (K.concat_forward: part → whole, K.concat_backward: whole → part)."""
from ..backend import K
from ..layer import Layer, register
from ..proto.schema import I, Rep, U


def _axis(layer, bottom, param_name, legacy):
    """The axis from <param_name> { axis } (default 1) or its legacy <legacy> field (non-negative)."""
    p = layer.layer_param.msg(param_name)
    if legacy in p:
        if "axis" in p:
            raise layer.error(f"give either axis or {legacy}, not both", param_name)
        axis = p.int(legacy)
        if not 0 <= axis < bottom.num_axes:
            raise layer.error(f"{legacy} {axis} out of range for a {bottom.num_axes}-axis blob of shape "
                              f"{bottom.shape}", param_name)
        return axis
    return layer.canonical_axis(p.int("axis", 1), bottom.num_axes, param_name)


@register
class Concat(Layer):
    """Joins its bottoms along concat_param.axis (default 1; legacy concat_dim); all other dims must agree.
    A single bottom is passed through by sharing its data and diff."""
    type = "Concat"
    param_fields = {"concat_param": {"axis": I, "concat_dim": U}}
    min_bottoms = 1
    exact_tops = 1

    def reshape(self, bottom, top):
        self.axis = axis = _axis(self, bottom[0], "concat_param", "concat_dim")
        shape = list(bottom[0].shape)
        for i, b in enumerate(bottom[1:], 1):
            if len(b.shape) != len(shape) or any(d != e for j, (d, e) in enumerate(zip(b.shape, shape)) if j != axis):
                raise self.error(f"bottom {i} has shape {b.shape} but bottom 0 has {bottom[0].shape}; all bottoms "
                                 f"must have the same shape except at the concat axis {axis}")
            shape[axis] += b.shape[axis]
        top[0].reshape(shape)
        if len(bottom) == 1:
            top[0].share_data(bottom[0])
            top[0].share_diff(bottom[0])

    def forward(self, bottom, top):
        if len(bottom) == 1:
            return
        offset = 0
        for b in bottom:
            K.concat_forward(top[0].wdata(), b.rdata(), self.axis, offset)
            offset += b.shape[self.axis]

    def backward(self, top, propagate_down, bottom):
        if len(bottom) == 1:
            return
        offset = 0
        for b, down in zip(bottom, propagate_down):
            if down:
                K.concat_backward(b.wdiff(), top[0].rdiff(), self.axis, offset)
            offset += b.shape[self.axis]


@register
class Slice(Layer):
    """Cuts its bottom along slice_param.axis (default 1; legacy slice_dim) at the increasing slice_point
    positions (one fewer than the tops), or into equal parts without slice_point. A single top is passed
    through by sharing its data and diff."""
    type = "Slice"
    param_fields = {"slice_param": {"axis": I, "slice_point": Rep(U), "slice_dim": U}}
    exact_bottoms = 1
    min_tops = 1

    def reshape(self, bottom, top):
        self.axis = axis = _axis(self, bottom[0], "slice_param", "slice_dim")
        size = bottom[0].shape[axis]
        points = self.layer_param.msg("slice_param").ints("slice_point")
        if points:
            if len(points) != len(top) - 1:
                raise self.error(f"{len(points)} slice_point(s) for {len(top)} tops (need {len(top) - 1})",
                                 "slice_param")
            bounds = [0] + points + [size]
            if any(a >= b for a, b in zip(bounds, bounds[1:])):
                raise self.error(f"slice_point {points} must increase strictly within (0, {size}) on axis {axis} "
                                 f"of shape {bottom[0].shape}", "slice_param")
        else:
            if size % len(top):
                raise self.error(f"axis {axis} of shape {bottom[0].shape} (size {size}) does not divide evenly "
                                 f"into {len(top)} tops", "slice_param")
            bounds = [size // len(top) * i for i in range(len(top) + 1)]
        self.offsets = bounds[:-1]
        for t, a, b in zip(top, bounds, bounds[1:]):
            shape = list(bottom[0].shape)
            shape[axis] = b - a
            t.reshape(shape)
        if len(top) == 1:
            top[0].share_data(bottom[0])
            top[0].share_diff(bottom[0])

    def forward(self, bottom, top):
        if len(top) == 1:
            return
        for t, offset in zip(top, self.offsets):
            K.concat_backward(t.wdata(), bottom[0].rdata(), self.axis, offset)  # top = bottom's block

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0] or len(top) == 1:
            return
        for t, offset in zip(top, self.offsets):
            K.concat_forward(bottom[0].wdiff(), t.rdiff(), self.axis, offset)  # bottom's block = top diff
