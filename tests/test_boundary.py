"""The native boundary (csrc/bind/): arrays arrive through the buffer protocol and are checked once, with
messages naming the function and the argument; entry points take named arguments; Blob hands out one
cached view per shape and memory."""
import numpy as np
import pytest

from lrcn_native.backend import K
from lrcn_native.blob import Blob


def f32(*shape):
    return np.zeros(shape, np.float32)


@pytest.mark.parametrize("bad, message", [
    (np.zeros(4, np.float64), r"set: y must be <f4, got host array <f8 \(4\)"),
    (np.zeros(4, ">f4"), r"set: y must be <f4, got host array >f4 \(4\)"),
    (np.zeros(4, np.int32), r"set: y must be <f4, got host array <i4 \(4\)"),
    (f32(4, 2)[:, :1], r"set: y must be C-contiguous, got host array <f4 \(4x1\)"),
    (f32(8)[::2], r"set: y must be C-contiguous"),
])
def test_checked_arrays_name_function_and_argument(bad, message):
    with pytest.raises(ValueError, match=message):
        K.set(bad, 1.0)


def test_read_only_arrays_are_rejected_where_written_and_read_where_read():
    x = np.arange(3, dtype=np.float32)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="axpby: y is read-only"):
        K.axpby(x, f32(3), 1.0, 0.0)
    y = f32(3)
    K.axpby(y, x, 2.0, 0.0)  # x is only read
    np.testing.assert_array_equal(y, 2 * x)
    assert K.dot(x, x) == 5.0


def test_non_arrays_and_mixed_counts():
    with pytest.raises(TypeError):
        K.set([0.0, 1.0], 1.0)  # a list has no buffer: no implicit copy that the kernel would write into
    with pytest.raises(ValueError, match="axpby: y must have 4 elements, got host array <f4 \\(3\\)"):
        K.axpby(f32(3), f32(4), 1.0, 0.0)


def test_writes_reach_the_callers_memory_through_views():
    base = f32(2, 6)
    view = base[1]  # contiguous view with an offset
    K.set(view, 7.0)
    assert (base[0] == 0).all() and (base[1] == 7).all()


def test_named_arguments():
    """Entry points take their header's argument names, so calls can name every array."""
    N, H = 2, 3
    rng = np.random.default_rng(0)
    c_prev, x = rng.standard_normal((N, H), np.float32), rng.standard_normal((N, 4 * H), np.float32)
    cont = np.ones(N, np.float32)
    by_position, by_name = (f32(N, H), f32(N, H)), (f32(N, H), f32(N, H))
    K.lstm_unit_forward(*by_position, c_prev, x, cont)
    K.lstm_unit_forward(cont=cont, x=x, c_prev=c_prev, h=by_name[1], c=by_name[0])
    np.testing.assert_array_equal(by_position[0], by_name[0])
    np.testing.assert_array_equal(by_position[1], by_name[1])
    assert "c_prev: ndarray" in K.lstm_unit_forward.__doc__
    with pytest.raises(TypeError):
        K.lstm_unit_forward(c=f32(N, H), h=f32(N, H), c_before=c_prev, x=x, cont=cont)


def test_blob_views_are_cached_per_shape_and_memory():
    b = Blob(2, 3)
    assert b.data is b.data and b.rdiff() is b.diff  # one view per (memory, device) and shape
    first = b.data
    b.reshape(2, 3)  # unchanged: nothing happens
    assert b.data is first
    b.reshape(3, 2)  # same memory, new shape: a new view
    assert b.data.shape == (3, 2) and b.data is not first and np.shares_memory(b.data, first)
    other = Blob(3, 2)
    other.data[...] = 5
    b.share_data(other)  # the memory changed: the cached view must not outlive it
    assert (b.data == 5).all() and np.shares_memory(b.data, other.data)


def test_blob_scalar_shape():
    """A new Blob has shape () and no element; reshaping it to () makes Caffe's one-element scalar."""
    b = Blob()
    assert b.count == 0
    b.reshape(())
    assert b.count == 1 and b.data.shape == ()
