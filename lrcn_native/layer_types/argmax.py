import numpy as np

from ..layer import Layer, register
from ..proto.schema import B, I, U
from .scale import outer_inner


@register
class ArgMax(Layer):
    """The top_k largest values' indices (or, with out_max_val, values) along ``axis`` (Caffe's argmax_param).
    Without ``axis`` each item's flattened values (all axes after the first) are ranked and top is
    N × (1, or 2 with out_max_val: indices then values) × top_k × 1; with ``axis`` top is bottom's shape with
    that axis top_k long, holding indices, or values with out_max_val. Equal values rank the larger index
    first (Caffe sorts (value, index) pairs in descending order). No backward. Runs on the host (as Caffe's,
    which has no GPU version): a sort per item."""
    type = "ArgMax"
    param_fields = {"argmax_param": {"out_max_val": B, "top_k": U, "axis": I}}
    exact_bottoms = exact_tops = 1

    def setup(self, bottom, top):
        p = self.layer_param.msg("argmax_param")
        self.out_max_val = p.bool("out_max_val", False)
        self.top_k = p.int("top_k", 1)
        shape = bottom[0].shape
        self.axis = self.canonical_axis(p.int("axis"), len(shape), "argmax_param") if "axis" in p else None
        dim = shape[self.axis] if self.axis is not None else bottom[0].count // max(shape[0], 1) if shape else 0
        if not 1 <= self.top_k <= dim:
            raise self.error(f"top_k must be in [1, {dim}] (the size ranked), got {self.top_k}", "argmax_param")

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        if self.axis is not None:
            top[0].reshape(shape[:self.axis] + (self.top_k,) + shape[self.axis + 1:])
        else:
            out = [1] * max(len(shape), 3)
            out[0], out[1], out[2] = shape[0], 2 if self.out_max_val else 1, self.top_k
            top[0].reshape(tuple(out))

    def forward(self, bottom, top):
        shape = bottom[0].shape
        if self.axis is not None:
            outer, inner = outer_inner(shape, self.axis, 1)
            x = bottom[0].data.reshape(outer, shape[self.axis], inner)
        else:
            x = bottom[0].data.reshape(shape[0], -1, 1)
        # Descending by value, larger index first among equals: a stable sort of the reversed axis.
        order = np.argsort(-x[:, ::-1, :], axis=1, kind="stable")[:, :self.top_k, :]
        index = x.shape[1] - 1 - order
        value = np.take_along_axis(x, index, axis=1)
        if self.axis is not None:
            result = value if self.out_max_val else index
        else:
            result = np.concatenate([index, value], axis=1) if self.out_max_val else index
        top[0].data[...] = result.reshape(top[0].shape)
