"""Blob: a shaped data + diff pair with a host (numpy) and a device (cupy) copy of each.

Each of data and diff follows Caffe's SyncedMemory: the copy written last is the head, the other is
brought up to date when read. ``blob.data`` / ``blob.diff`` (pycaffe's) are host views that mark the host
copy as the newest; ``blob.gpu_data`` / ``blob.gpu_diff`` are device views that mark the device copy.
Layers use ``rdata()``/``wdata()``/``rdiff()``/``wdiff()``: the copy on the current mode's device, for
reading or for writing. Memory grows but never shrinks on reshape (Caffe's capacity), and fresh memory
reads as zeros.
"""
import math

import numpy as np

from . import mode

_UNINIT, _HOST, _DEVICE, _SYNCED = range(4)


def _host_array(alloc, size):
    """``alloc(size, float32)``; a failed allocation says how much it asked (allocation is deferred to the
    first access, so this is where a net too big for the machine is found)."""
    try:
        return alloc(size, np.float32)
    except MemoryError:
        raise MemoryError(f"cannot allocate {size * 4} bytes ({size} floats) for a blob") from None


class _Synced:
    __slots__ = ("size", "host", "dev", "head")

    def __init__(self, size):
        self.size, self.host, self.dev, self.head = size, None, None, _UNINIT

    def cpu(self, write):
        if self.head == _UNINIT:
            self.host = _host_array(np.zeros, self.size)
            self.head = _HOST
        elif self.head == _DEVICE:
            if self.host is None:
                self.host = _host_array(np.empty, self.size)
            self.dev.get(out=self.host)
            self.head = _SYNCED
        if write:
            self.head = _HOST
        return self.host

    def gpu(self, write):
        import cupy
        if self.head == _UNINIT:
            self.dev = cupy.zeros(self.size, cupy.float32)
            self.head = _DEVICE
        elif self.head == _HOST:
            if self.dev is None:
                self.dev = cupy.empty(self.size, cupy.float32)
            self.dev.set(self.host)
            self.head = _SYNCED
        if write:
            self.head = _DEVICE
        return self.dev


class Blob:
    def __init__(self, *shape):
        self._shape, self._count = (), 0
        self._data, self._diff = _Synced(0), _Synced(0)
        self._views = {}  # (memory, on the device) → (its buffer, the shaped view of it): one view per shape
        if shape:
            self.reshape(*shape)

    # --- shape ----------------------------------------------------------------------------------
    def reshape(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        # Every layer reshapes its tops before each forward, mostly to the same shape. (A new Blob() has
        # shape () but no element; reshaping it to () makes the one-element scalar blob.)
        if shape == self._shape and (shape or self._count):
            return
        shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ValueError(f"blob shape {shape} has a negative dimension")
        count = math.prod(shape)  # exact: an int64 product wraps (2**32 × 2**32 gives 0)
        if count > np.iinfo(np.int32).max:
            raise ValueError(f"blob shape {shape} has {count} elements, more than Caffe's int32 limit")
        self._shape, self._count = shape, count
        self._views.clear()
        if count > self._data.size:
            self._data, self._diff = _Synced(count), _Synced(count)

    def reshape_like(self, other):
        self.reshape(other.shape)

    def share_data(self, other):
        """Uses ``other``'s data memory (Caffe's ShareData); shapes' counts must agree."""
        if other.count != self._count:
            raise ValueError(f"share_data: counts differ ({self._count} vs {other.count})")
        self._data = other._data
        self._views.clear()

    def share_diff(self, other):
        if other.count != self._count:
            raise ValueError(f"share_diff: counts differ ({self._count} vs {other.count})")
        self._diff = other._diff
        self._views.clear()

    @property
    def shape(self):
        return self._shape

    @property
    def count(self):
        return self._count

    @property
    def num_axes(self):
        return len(self._shape)

    def _legacy(self, axis):
        if len(self._shape) > 4:
            raise ValueError(f"legacy accessor on a {len(self._shape)}-axis blob")
        axis += len(self._shape) - 4  # Caffe's LegacyShape: missing leading axes are 1
        return self._shape[axis] if axis >= 0 else 1

    num = property(lambda self: self._legacy(0))
    channels = property(lambda self: self._legacy(1))
    height = property(lambda self: self._legacy(2))
    width = property(lambda self: self._legacy(3))

    def __repr__(self):
        return f"Blob{self._shape}"

    # --- views ----------------------------------------------------------------------------------
    def _view(self, mem, gpu, write):
        buf = mem.gpu(write) if gpu else mem.cpu(write)
        cached = self._views.get((mem, gpu))
        if cached is not None and cached[0] is buf:
            return cached[1]
        view = buf[: self._count].reshape(self._shape)
        self._views[(mem, gpu)] = (buf, view)
        return view

    data = property(lambda self: self._view(self._data, False, True), doc="host data, marked newest")
    diff = property(lambda self: self._view(self._diff, False, True), doc="host diff, marked newest")
    gpu_data = property(lambda self: self._view(self._data, True, True), doc="device data, marked newest")
    gpu_diff = property(lambda self: self._view(self._diff, True, True), doc="device diff, marked newest")

    def rdata(self):
        return self._view(self._data, mode.gpu(), False)

    def wdata(self):
        return self._view(self._data, mode.gpu(), True)

    def rdiff(self):
        return self._view(self._diff, mode.gpu(), False)

    def wdiff(self):
        return self._view(self._diff, mode.gpu(), True)

    def data_at(self, gpu):
        """Read view of the data on the host (False) or the device (True), whatever the mode."""
        return self._view(self._data, gpu, False)

    def diff_at(self, gpu):
        return self._view(self._diff, gpu, False)
