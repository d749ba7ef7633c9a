from ..layer import Layer, register
from ..proto.schema import I
from .scale import outer_inner


@register
class Tile(Layer):
    """top = bottom repeated ``tiles`` times along ``axis`` (Caffe's tile_param): viewing bottom as
    (outer, 1, inner) with inner = count from ``axis`` on, top is (outer, tiles, inner). Backward sums the
    tiles. No kernel of its own: a broadcast copy and a sum on the mode's arrays (numpy or cupy)."""
    type = "Tile"
    param_fields = {"tile_param": {"axis": I, "tiles": I}}
    exact_bottoms = exact_tops = 1

    def setup(self, bottom, top):
        p = self.layer_param.msg("tile_param")
        self.tiles = p.int("tiles", 0)
        if self.tiles < 1:
            raise self.error(f"tiles must be positive, got {self.tiles}", "tile_param")
        self.axis_param = p.int("axis", 1)

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        self.axis = self.canonical_axis(self.axis_param, len(shape), "tile_param")
        self.outer, self.inner = outer_inner(shape, self.axis, 0)
        top[0].reshape(shape[:self.axis] + (shape[self.axis] * self.tiles,) + shape[self.axis + 1:])

    def forward(self, bottom, top):
        x = bottom[0].rdata().reshape(self.outer, 1, self.inner)
        top[0].wdata().reshape(self.outer, self.tiles, self.inner)[...] = x

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            dx = bottom[0].wdiff().reshape(self.outer, self.inner)
            dx[...] = top[0].rdiff().reshape(self.outer, self.tiles, self.inner).sum(axis=1)
