"""MemoryData: batches from arrays held in memory, given by pycaffe's ``net.set_input_arrays(data, labels)``."""
import numpy as np

from ..layer import Layer, register
from ..proto.schema import U


@register
class MemoryData(Layer):
    """Tops data (batch_size, channels, height, width) and label (batch_size,): consecutive batches of the
    arrays given to ``reset``, wrapping around at their end, as Caffe's MemoryDataLayer. As there, the arrays
    are read in place, not copied (later changes to them show in later batches)."""
    type = "MemoryData"
    param_fields = {"memory_data_param": {"batch_size": U, "channels": U, "height": U, "width": U}}
    exact_bottoms = 0
    exact_tops = 2

    def setup(self, bottom, top):
        p = self.layer_param.msg("memory_data_param")
        self.shape = tuple(p.int(k, 0) for k in ("batch_size", "channels", "height", "width"))
        if not all(self.shape):
            raise self.error("memory_data_param needs batch_size, channels, height and width, all > 0",
                             "memory_data_param")
        self.data = self.labels = None
        self.pos = 0
        top[0].reshape(self.shape)
        top[1].reshape(self.shape[0])

    def reset(self, data, labels):
        """data (n, channels, height, width) and labels (n, 1, 1, 1), float32 and C-contiguous; n a multiple of
        batch_size. Reading starts again at item 0."""
        for name, arr, dims in (("data", data, self.shape[1:]), ("labels", labels, (1, 1, 1))):
            if not isinstance(arr, np.ndarray) or arr.dtype != np.float32 or not arr.flags.c_contiguous:
                raise self.error(f"set_input_arrays: the {name} array must be a C-contiguous float32 numpy array")
            if arr.ndim != 4 or arr.shape[1:] != dims:
                raise self.error(f"set_input_arrays: the {name} array has shape {arr.shape}; expected (n, "
                                 f"{', '.join(map(str, dims))})")
        if len(data) != len(labels):
            raise self.error(f"set_input_arrays: data and labels must have the same first dimension "
                             f"({len(data)} vs {len(labels)})")
        if not len(data) or len(data) % self.shape[0]:
            raise self.error(f"set_input_arrays: the first dimension of the arrays ({len(data)}) must be a "
                             f"positive multiple of the batch size {self.shape[0]}")
        self.data, self.labels, self.pos = data, labels.reshape(-1), 0

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        if self.data is None:
            raise self.error("no arrays to read: call net.set_input_arrays(data, labels) first")
        n = self.shape[0]
        top[0].data[...] = self.data[self.pos:self.pos + n]
        top[1].data[...] = self.labels[self.pos:self.pos + n]
        self.pos = (self.pos + n) % len(self.data)

    def backward(self, top, propagate_down, bottom):
        pass
