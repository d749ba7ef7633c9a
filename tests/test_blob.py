"""Blob: shapes, Caffe's capacity rule, shared memory, and SyncedMemory's host/device head."""
import os

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.blob import Blob
from util import needs_gpu, run_python


def test_shape_count_and_legacy_accessors():
    b = Blob(2, 3, 4, 5)
    assert b.shape == (2, 3, 4, 5) and b.count == 120 and b.num_axes == 4
    assert (b.num, b.channels, b.height, b.width) == (2, 3, 4, 5)
    b.reshape(7, 8)
    assert (b.num, b.channels, b.height, b.width) == (1, 1, 7, 8)
    b.reshape((3,))
    assert b.shape == (3,) and b.data.shape == (3,) and b.diff.shape == (3,)
    with pytest.raises(ValueError, match="negative"):
        b.reshape(2, -1)
    with pytest.raises(ValueError, match="int32"):
        b.reshape(2 ** 16, 2 ** 16)
    with pytest.raises(ValueError, match="legacy"):
        Blob(1, 1, 1, 1, 1).num


def test_fresh_memory_is_zero_and_capacity_keeps_data_when_shrinking():
    b = Blob(4, 5)
    assert not b.data.any() and not b.diff.any()
    b.data[...] = np.arange(20).reshape(4, 5)
    b.reshape(2, 5)  # fits the capacity: same memory, as Caffe's Reshape
    np.testing.assert_array_equal(b.data, np.arange(10).reshape(2, 5))
    b.reshape(4, 5)
    np.testing.assert_array_equal(b.data.ravel(), np.arange(20))
    b.reshape(5, 5)  # grows: new (zeroed) memory
    assert not b.data.any()


def test_share_data_and_diff():
    a, b = Blob(2, 3), Blob(3, 2)
    b.share_data(a)
    b.data[...] = 1
    assert (a.data == 1).all() and not a.diff.any()
    b.share_diff(a)
    b.diff[...] = 2
    assert (a.diff == 2).all()
    with pytest.raises(ValueError, match="counts differ"):
        Blob(5).share_data(a)


def test_host_views_are_writable_views():
    b = Blob(3)
    view = b.data
    view[1] = 5
    assert b.data[1] == 5 and b.rdata()[1] == 5


@needs_gpu
def test_synced_memory_moves_the_head_between_host_and_device():
    import cupy
    b = Blob(4)
    b.data[...] = [1, 2, 3, 4]
    np.testing.assert_array_equal(cupy.asnumpy(b.gpu_data), [1, 2, 3, 4])  # host → device
    b.gpu_data[...] = cupy.asarray([5, 6, 7, 8], dtype=cupy.float32)       # device is now the head
    np.testing.assert_array_equal(b.data, [5, 6, 7, 8])                     # device → host
    caffe.set_mode_gpu()
    try:
        assert isinstance(b.rdata(), cupy.ndarray)
    finally:
        caffe.set_mode_cpu()




@pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer cannot map its shadow memory under an address-space limit")
def test_failed_allocation_says_how_many_bytes():
    """Allocation is deferred to first access; under a 1 GiB address-space limit a 4 GB blob must fail with a
    MemoryError giving the size (in a subprocess: the limit would hold for the rest of the suite)."""
    code = ("import resource; import lrcn_native as caffe\n"
            "b = caffe.Blob((1000, 1000, 1000))\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "try:\n    b.data\nexcept MemoryError as e:\n    print(e)\n")
    r = run_python(code, timeout=60)
    assert "cannot allocate 4000000000 bytes (1000000000 floats) for a blob" in r.stdout, r.stderr
