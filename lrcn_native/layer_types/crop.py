from ..layer import Layer, register
from ..proto.schema import I, U, Rep


@register
class Crop(Layer):
    """top = bottom[0] cropped to bottom[1]'s shape on the axes from ``axis`` on (Caffe's crop_param,
    default axis 2: the spatial axes of N×C×H×W), starting at ``offset`` (none: 0 everywhere; one: for every
    cropped axis; else one per cropped axis). Axes before ``axis`` keep bottom[0]'s size. bottom[1] only
    gives the shape and never receives a gradient. No kernel of its own: strided copies of the mode's
    arrays (numpy or cupy)."""
    type = "Crop"
    param_fields = {"crop_param": {"axis": I, "offset": Rep(U)}}
    exact_bottoms, exact_tops = 2, 1

    def reshape(self, bottom, top):
        p = self.layer_param.msg("crop_param")
        shape, like = bottom[0].shape, bottom[1].shape
        if len(shape) != len(like):
            raise self.error(f"bottoms must have the same number of axes, got {shape} and {like}")
        axis = self.canonical_axis(p.int("axis", 2), len(shape), "crop_param")
        offsets = [int(o) for o in p.all("offset")]
        cropped = len(shape) - axis
        if len(offsets) == 1:
            offsets *= cropped
        elif not offsets:
            offsets = [0] * cropped
        elif len(offsets) != cropped:
            raise self.error(f"{len(offsets)} offsets given for the {cropped} axes cropped from axis {axis}: give "
                             "none, one, or one per axis", "crop_param")
        out = list(shape)
        for k, o in zip(range(axis, len(shape)), offsets):
            if o + like[k] > shape[k]:
                raise self.error(f"axis {k}: offset {o} + crop {like[k]} exceeds bottom[0]'s size {shape[k]} "
                                 f"(shapes {shape}, {like})", "crop_param")
            out[k] = like[k]
        self.window = tuple(slice(0, s) for s in shape[:axis]) + tuple(
            slice(o, o + like[k]) for k, o in zip(range(axis, len(shape)), offsets))
        top[0].reshape(tuple(out))

    def forward(self, bottom, top):
        top[0].wdata()[...] = bottom[0].rdata()[self.window]

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            dx = bottom[0].wdiff()
            dx[...] = 0
            dx[self.window] = top[0].rdiff()

    def allow_force_backward(self, bottom_index):
        return bottom_index == 0
