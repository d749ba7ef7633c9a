"""Pooling: forward against a naive float64 loop, backward by finite differences and against the
reference's routing, Caffe's size/divisor edge cases (tests/golden/README.md item 1), errors, GPU parity."""
import math

import numpy as np
import pytest

from lrcn_native.blob import Blob
from lrcn_native.layer import LayerError
from util import gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer


def out_size(size, k, s, p, ceil=True):
    out = (math.ceil if ceil else math.floor)((size + 2 * p - k) / s) + 1
    if p > 0 and (out - 1) * s >= size + p:  # the last window would start in the padding
        out -= 1
    return out


def ref_pool(x, method, kernel, stride=(1, 1), pad=(0, 0), ceil=True):
    """Top, argmax mask (h·W + w; first maximum in row-major order) and the window list, in float64."""
    N, C, H, W = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, pad
    PH, PW = out_size(H, kh, sh, ph, ceil), out_size(W, kw, sw, pw, ceil)
    x = x.astype(np.float64)
    top, mask = np.zeros((N, C, PH, PW)), np.zeros((N, C, PH, PW), np.int64)
    windows = {}
    for i in range(PH):
        for j in range(PW):
            h0, w0 = i * sh - ph, j * sw - pw
            h1, w1 = min(h0 + kh, H + ph), min(w0 + kw, W + pw)  # clipped to the padded extent
            hs, ws, he, we = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            area = (h1 - h0) * (w1 - w0)
            windows[i, j] = (hs, he, ws, we, area)
            win = x[:, :, hs:he, ws:we].reshape(N, C, -1)
            if method == "MAX":
                k = win.argmax(-1)  # numpy returns the first occurrence
                top[:, :, i, j] = win.max(-1)
                mask[:, :, i, j] = (hs + k // (we - ws)) * W + ws + k % (we - ws)
            else:
                top[:, :, i, j] = win.sum(-1) / area
    return top, mask, windows


def ref_pool_backward(dy, x_shape, method, mask, windows):
    N, C, H, W = x_shape
    dx = np.zeros((N, C, H * W))
    dy = dy.astype(np.float64)
    for (i, j), (hs, he, ws, we, area) in windows.items():
        if method == "MAX":
            for n in range(N):
                for c in range(C):
                    dx[n, c, mask[n, c, i, j]] += dy[n, c, i, j]
        else:
            dx.reshape(N, C, H, W)[:, :, hs:he, ws:we] += dy[:, :, i, j, None, None] / area
    return dx.reshape(x_shape)


def pool_text(method, extra):
    return f'type: "Pooling" pooling_param {{ pool: {method} {extra} }}'


def run(text, x, n_tops=1, top_diff=None):
    layer = make_layer(text)
    bottom, top = setup_layer(layer, [x], n_tops)
    layer.forward(bottom, top)
    outs = [t.data.copy() for t in top]
    if top_diff is not None:
        top[0].diff[...] = top_diff
        layer.backward(top, [True], bottom)
        outs.append(bottom[0].diff.copy())
    return outs


# (bottom shape, pooling_param fields, kernel, stride, pad, expected top H×W): the golden README's
# cases, a pad whose last window keeps padding cells, rectangular windows, a kernel wider than the input.
CASES = [
    ((2, 3, 8, 8), "kernel_size: 3 stride: 2", (3, 3), (2, 2), (0, 0), (4, 4)),  # ceil: 4, floor would be 3
    ((2, 3, 8, 8), "kernel_size: 3 stride: 2 pad: 1", (3, 3), (2, 2), (1, 1), (5, 5)),
    ((1, 2, 5, 5), "kernel_size: 3 stride: 3 pad: 1", (3, 3), (3, 3), (1, 1), (2, 2)),  # ceil 3, clipped to 2
    ((1, 2, 6, 6), "kernel_size: 2 stride: 2 pad: 1", (2, 2), (2, 2), (1, 1), (4, 4)),
    ((2, 2, 7, 6), "kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0", (3, 2), (2, 1), (1, 0),
     (4, 5)),
    ((1, 3, 5, 9), "kernel_h: 2 kernel_w: 4 stride_h: 1 stride_w: 3", (2, 4), (1, 3), (0, 0), (4, 3)),
    ((1, 2, 3, 4), "kernel_size: 5 pad: 1", (5, 5), (1, 1), (1, 1), (1, 2)),  # taller than the padded input
    # Wide rows: the CPU's MAX runs 8 and 4 windows side by side (strides 2, 1 and a run-time stride).
    ((1, 2, 5, 41), "kernel_size: 3 stride: 2 pad: 1", (3, 3), (2, 2), (1, 1), (3, 21)),
    ((1, 2, 4, 30), "kernel_h: 2 kernel_w: 3 stride: 1", (2, 3), (1, 1), (0, 0), (3, 28)),
    ((1, 1, 3, 50), "kernel_h: 3 kernel_w: 4 stride_h: 1 stride_w: 3", (3, 4), (1, 3), (0, 0), (1, 17)),
    ((2, 3, 8, 8), "kernel_size: 3 stride: 2 round_mode: FLOOR", (3, 3), (2, 2), (0, 0), (3, 3)),
    ((1, 2, 8, 7), "kernel_size: 3 stride: 2 pad: 1 round_mode: FLOOR", (3, 3), (2, 2), (1, 1), (4, 4)),
]


@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("shape,fields,kernel,stride,pad,out", CASES)
def test_forward_backward_vs_reference(method, shape, fields, kernel, stride, pad, out):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal((*shape[:2], *out)).astype(np.float32)
    top, dx = run(pool_text(method, fields), x, top_diff=dy)
    ref, mask, windows = ref_pool(x, method, kernel, stride, pad, "FLOOR" not in fields)
    assert top.shape == (*shape[:2], *out) == ref.shape
    ref_dx = ref_pool_backward(dy, shape, method, mask, windows)
    if method == "MAX":  # selection copies float32 values: exact; a cell that wins several
        np.testing.assert_array_equal(top, ref.astype(np.float32))  # windows sums ≤ 4 diffs in float32
        np.testing.assert_allclose(dx, ref_dx, rtol=1e-6, atol=1e-7)
    else:  # float32 sums of at most 25 terms (and ≤ 4 overlapping shares) vs float64
        np.testing.assert_allclose(top, ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dx, ref_dx, rtol=1e-5, atol=1e-6)


def test_ave_divisor_by_hand():
    # 4×4 ones, kernel 3, stride 2, pad 1 → 3×3. Along each axis the windows cover padded rows
    # [-1, 2) (2 of 3 in the image), [1, 4) (3 of 3), [3, 6) clipped to the padded end 5 → [3, 5)
    # (1 of 2): the padding cell counts, the ceil overhang does not.
    (top,) = run(pool_text("AVE", "kernel_size: 3 stride: 2 pad: 1"), np.ones((1, 1, 4, 4), np.float32))
    f = np.array([2 / 3, 1.0, 1 / 2])
    np.testing.assert_allclose(top[0, 0], np.outer(f, f), rtol=1e-6)  # float32 division


def test_max_ties_take_the_first_and_mask_top():
    # Integer values with many ties: the mask must point at the first maximum in row-major order
    # (rows of 11 windows: the CPU's vector path and its one-by-one path both run).
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, (2, 3, 7, 21)).astype(np.float32)
    text = pool_text("MAX", "kernel_size: 3 stride: 2 pad: 1")
    top, mask, dx = run(text, x, n_tops=2, top_diff=np.ones((2, 3, 4, 11), np.float32))
    ref, ref_mask, windows = ref_pool(x, "MAX", (3, 3), (2, 2), (1, 1))
    np.testing.assert_array_equal(top, ref)
    np.testing.assert_array_equal(mask, ref_mask.astype(np.float32))
    np.testing.assert_array_equal(dx, ref_pool_backward(np.ones_like(top), x.shape, "MAX", ref_mask, windows))
    # A one-top layer routes the gradient through its internal mask identically.
    (top1, dx1) = run(text, x, top_diff=np.ones((2, 3, 4, 11), np.float32))
    np.testing.assert_array_equal(top1, top)
    np.testing.assert_array_equal(dx1, dx)


def test_max_ignores_padding():
    # All values negative: a max over zero padding would return 0.
    x = -np.arange(1, 26, dtype=np.float32).reshape(1, 1, 5, 5)
    (top,) = run(pool_text("MAX", "kernel_size: 3 stride: 3 pad: 1"), x)
    np.testing.assert_array_equal(top[0, 0], [[-1, -3], [-11, -13]])


@pytest.mark.parametrize("method", ["MAX", "AVE"])
def test_global_pooling(method):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    (top,) = run(pool_text(method, "global_pooling: true"), x)
    ref = x.astype(np.float64).max((2, 3)) if method == "MAX" else x.astype(np.float64).mean((2, 3))
    np.testing.assert_allclose(top[:, :, 0, 0], ref, rtol=1e-6, atol=1e-6)  # 30-term float32 sum
    # The kernel follows the input when it is reshaped.
    layer = make_layer(pool_text(method, "global_pooling: true"))
    bottom, top = setup_layer(layer, [x])
    bottom[0].reshape(1, 3, 2, 2)
    layer.reshape(bottom, top)
    assert top[0].shape == (1, 3, 1, 1)


@pytest.mark.parametrize("fields,n_tops", [("kernel_size: 3 stride: 2", 1), ("kernel_size: 3 stride: 2 pad: 1", 2),
                                           ("kernel_h: 2 kernel_w: 3 stride_h: 1 stride_w: 2 pad_w: 1 pad_h: 0", 1)])
def test_gradcheck_max(fields, n_tops):
    # Distinct values 0.1 apart: a ±1e-2 step never changes an argmax.
    rng = np.random.default_rng(4)
    x = (rng.permutation(2 * 3 * 7 * 7) * 0.1 - 10).astype(np.float32).reshape(2, 3, 7, 7)
    gradcheck(make_layer(pool_text("MAX", fields)), [x], n_tops=n_tops)


@pytest.mark.parametrize("fields", ["kernel_size: 3 stride: 2 pad: 1", "global_pooling: true",
                                    "kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0"])
def test_gradcheck_ave(fields):
    x = np.random.default_rng(5).standard_normal((2, 2, 6, 7)).astype(np.float32)
    gradcheck(make_layer(pool_text("AVE", fields)), [x])


@pytest.mark.parametrize("text,n_tops,match", [
    (pool_text("MAX", "kernel_size: 3 pad: 3"), 1, "smaller than the kernel"),
    (pool_text("AVE", "kernel_h: 2 kernel_w: 3 pad_w: 3 pad_h: 0"), 1, "smaller than the kernel"),
    (pool_text("AVE", "global_pooling: true pad: 1"), 1, "pad 0 and stride 1"),
    (pool_text("MAX", "global_pooling: true stride: 2"), 1, "pad 0 and stride 1"),
    (pool_text("MAX", "global_pooling: true kernel_size: 2"), 1, "no kernel size"),
    (pool_text("STOCHASTIC", "kernel_size: 2"), 1, "STOCHASTIC pooling is not supported"),
    (pool_text("MAX", "stride: 2"), 1, "needs kernel_size"),
    (pool_text("MAX", "kernel_size: 2 kernel_h: 2 kernel_w: 2"), 1, "not both"),
    (pool_text("MAX", "kernel_h: 2"), 1, "together"),
    (pool_text("MAX", "kernel_size: 0"), 1, "positive"),
    (pool_text("MAX", "kernel_size: 2 stride: 0"), 1, "stride > 0"),
    (pool_text("AVE", "kernel_size: 2"), 2, "second"),
    (pool_text("MAX", "kernel_size: 9"), 1, "does not fit"),
])
def test_bad_parameters(text, n_tops, match):
    with pytest.raises(LayerError, match=match):
        setup_layer(make_layer(text), [np.zeros((1, 1, 4, 4), np.float32)], n_tops)


def test_bad_shapes():
    with pytest.raises(LayerError, match="4-axis"):
        setup_layer(make_layer(pool_text("MAX", "kernel_size: 2")), [np.zeros((2, 4, 4), np.float32)])
    layer = make_layer(pool_text("MAX", "kernel_size: 2"))
    b = Blob(1, 1, 4, 4)
    with pytest.raises(LayerError, match="in place"):
        layer.setup([b], [b])


def test_kernel_checks_geometry():
    # The binding refuses tops with windows outside the image, and MAX without a mask.
    from lrcn_native.backend import K
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="windows outside"):
        K.pooling_forward(np.zeros((1, 1, 3, 3), np.float32), None, x, "AVE", 2, 2, 2, 2, 0, 0)
    with pytest.raises(ValueError, match="mask"):
        K.pooling_forward(np.zeros((1, 1, 2, 2), np.float32), None, x, "MAX", 2, 2, 2, 2, 0, 0)


@needs_gpu
@pytest.mark.parametrize("method", ["MAX", "AVE"])
@pytest.mark.parametrize("fields", ["kernel_size: 3 stride: 2", "kernel_size: 3 stride: 2 pad: 1",
                                    "kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0",
                                    "global_pooling: true"])
def test_gpu_parity(method, fields):
    x = np.random.default_rng(6).standard_normal((2, 3, 9, 8)).astype(np.float32)
    # Same summation order on both devices (the GPU gathers in the CPU's scatter order): exact.
    gpu_parity(pool_text(method, fields), [x], rtol=0, atol=0)
    if method == "MAX":
        gpu_parity(pool_text(method, fields), [x], n_tops=2, rtol=0, atol=0)
