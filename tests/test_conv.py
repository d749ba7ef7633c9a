"""Convolution: forward against a naive float64 convolution, gradients by finite differences, frames in
parallel against one at a time, parameter and binding errors, accumulation of parameter diffs, and CPU/GPU
parity (skipped without a GPU)."""
import numpy as np
import pytest

from lrcn_native.backend import K
from lrcn_native.blob import Blob
from lrcn_native.layer import LayerError
from lrcn_native.layer_types import conv as conv_module
from util import blobs_from, forward, gpu_parity, gradcheck, make_layer, needs_gpu, setup_layer


def conv_reference(x, w, b, kernel, pad, stride, dilation, group):
    """float64 Caffe convolution of x (N×C×H×W) by w (M×C/group×kh×kw): a loop over outputs and taps."""
    (kh, kw), (ph, pw), (sh, sw), (dh, dw) = kernel, pad, stride, dilation
    x = x.astype(np.float64)
    N, C, H, W = x.shape
    M = w.shape[0]
    Ho = (H + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    Wo = (W + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cg, mg = C // group, M // group
    out = np.zeros((N, M, Ho, Wo))
    for m in range(M):
        channels = slice(m // mg * cg, (m // mg + 1) * cg)
        for i in range(kh):
            for j in range(kw):
                taps = xp[:, channels, i * dh:i * dh + sh * (Ho - 1) + 1:sh, j * dw:j * dw + sw * (Wo - 1) + 1:sw]
                out[:, m] += np.einsum("nchw,c->nhw", taps, w[m, :, i, j].astype(np.float64))
        if b is not None:
            out[:, m] += b[m]
    return out


def text(body, bias=True):
    fillers = 'weight_filler { type: "gaussian" std: 0.5 }'
    if bias:
        fillers += ' bias_filler { type: "uniform" min: -1 max: 1 }'
    return f'type: "Convolution" convolution_param {{ {body} {fillers} }}'


# (convolution_param body, bottom shape, kernel, pad, stride, dilation, group, bias)
CASES = [
    ("num_output: 5 kernel_size: 3 pad: 1", (2, 3, 7, 6), (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
    ("num_output: 6 kernel_size: 3 pad: 1 stride: 2 group: 2", (2, 4, 9, 9), (3, 3), (1, 1), (2, 2), (1, 1), 2, True),
    ("num_output: 3 kernel_h: 3 kernel_w: 2 pad_h: 1 pad_w: 0 stride_h: 1 stride_w: 2 bias_term: false",
     (2, 4, 9, 9), (3, 2), (1, 0), (1, 2), (1, 1), 1, False),
    ("num_output: 4 kernel_size: 3 kernel_size: 2 pad: 2 pad: 1 stride: 3 stride: 1 dilation: 2 dilation: 3",
     (1, 2, 11, 10), (3, 2), (2, 1), (3, 1), (2, 3), 1, True),
    ("num_output: 4 kernel_size: 11 stride: 4", (2, 3, 27, 27), (11, 11), (0, 0), (4, 4), (1, 1), 1, True),
    ("num_output: 6 kernel_size: 1 group: 3", (2, 6, 4, 5), (1, 1), (0, 0), (1, 1), (1, 1), 3, True),
    ("num_output: 2 kernel_size: 5 pad: 4 dilation: 2", (1, 2, 3, 3), (5, 5), (4, 4), (1, 1), (2, 2), 1, True),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_forward_matches_naive_convolution(case):
    body, shape, kernel, pad, stride, dilation, group, bias = case
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    layer = make_layer(text(body, bias))
    bottom, top = setup_layer(layer, [x])
    y = forward(layer, bottom, top)[0]
    b = layer.blobs[1].data if bias else None
    assert len(layer.blobs) == (2 if bias else 1)
    expected = conv_reference(x, layer.blobs[0].data, b, kernel, pad, stride, dilation, group)
    assert y.shape == expected.shape
    # float32 sums of at most C·kh·kw = 363 products of O(1) terms: ~1e-6 relative to the largest value.
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_outer_axes_fold_into_frames():
    # axis 2 on a 5-D blob: T×N frames of C×H×W, as a time-major clip batch would be.
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 5, 5)).astype(np.float32)
    layer = make_layer(text("axis: 2 num_output: 3 kernel_size: 2"))
    bottom, top = setup_layer(layer, [x])
    y = forward(layer, bottom, top)[0]
    assert y.shape == (2, 3, 3, 4, 4)
    expected = conv_reference(x.reshape(6, 4, 5, 5), layer.blobs[0].data, layer.blobs[1].data, (2, 2), (0, 0),
                              (1, 1), (1, 1), 1)
    np.testing.assert_allclose(y.reshape(6, 3, 4, 4), expected, rtol=1e-5, atol=1e-5)  # short sums: float32 ulps


def test_several_bottoms_share_the_weights():
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((2, 3, 5, 5)).astype(np.float32) for _ in range(2)]
    layer = make_layer(text("num_output: 2 kernel_size: 3"))
    bottom, top = setup_layer(layer, xs, n_tops=2)
    ys = forward(layer, bottom, top)
    for x, y in zip(xs, ys):
        expected = conv_reference(x, layer.blobs[0].data, layer.blobs[1].data, (3, 3), (0, 0), (1, 1), (1, 1), 1)
        np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)  # 27-term float32 sums


GRAD_CASES = [
    ("num_output: 4 kernel_size: 3 pad: 1 stride: 2 group: 2", (2, 4, 6, 5)),
    ("num_output: 3 kernel_h: 3 kernel_w: 2 pad_h: 1 pad_w: 2 stride_h: 2 stride_w: 1 dilation: 2", (2, 2, 7, 6)),
]


@pytest.mark.parametrize("body,shape", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradients(body, shape):
    x = np.random.default_rng(4).standard_normal(shape).astype(np.float32)
    gradcheck(make_layer(text(body)), [x])  # bottom, weight and bias; Caffe's step and threshold


def test_param_diffs_accumulate_and_respect_propagate_down():
    x = np.random.default_rng(5).standard_normal((2, 2, 5, 5)).astype(np.float32)
    layer = make_layer(text("num_output: 3 kernel_size: 3"))
    bottom, top = setup_layer(layer, [x])
    forward(layer, bottom, top)
    top[0].diff[...] = 1
    layer.backward(top, [False], bottom)
    once = [p.diff.copy() for p in layer.blobs]
    layer.backward(top, [False], bottom)
    twice = [p.diff.copy() for p in layer.blobs]
    for d2, d in zip(twice, once):
        # The second pass adds image by image onto the first's result: float32 roundings of ~1e-7.
        np.testing.assert_allclose(d2, 2 * d, rtol=1e-6, atol=1e-6 * np.abs(d).max())
    np.testing.assert_array_equal(once[1], np.full(3, 2 * 3 * 3))  # Σ of ones over N·Ho·Wo: exact
    layer.param_propagate_down = [False, False]
    bottom[0].diff[...] = 7
    layer.backward(top, [True], bottom)
    for p, d2 in zip(layer.blobs, twice):
        np.testing.assert_array_equal(p.diff, d2)
    assert not np.any(bottom[0].diff == 7)


def test_frames_in_parallel_match_one_frame_at_a_time():
    # ≥ 2^20 multiply-adds per frame: the CPU kernel spreads the 3 frames over its threads (private weight
    # diffs, reduced at the end); each frame alone runs serially. Results must agree.
    body = "num_output: 64 kernel_size: 3 pad: 1 group: 2"
    x = np.random.default_rng(8).standard_normal((3, 16, 16, 16)).astype(np.float32)
    dy = np.random.default_rng(9).standard_normal((3, 64, 16, 16)).astype(np.float32)
    layer = make_layer(text(body))
    bottom, top = setup_layer(layer, [x])
    y = forward(layer, bottom, top)[0]
    expected = conv_reference(x, layer.blobs[0].data, layer.blobs[1].data, (3, 3), (1, 1), (1, 1), (1, 1), 2)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())  # 72-term sums
    top[0].diff[...] = dy
    for p in layer.blobs:
        p.diff[...] = 0
    layer.backward(top, [True], bottom)
    together = [bottom[0].diff.copy()] + [p.diff.copy() for p in layer.blobs]
    for p in layer.blobs:
        p.diff[...] = 0
    frames = []
    for n in range(3):
        b1, t1 = blobs_from([x[n:n + 1]]), [Blob()]
        forward(layer, b1, t1)
        t1[0].diff[...] = dy[n:n + 1]
        layer.backward(t1, [True], b1)
        frames.append(b1[0].diff.copy())
    # Same terms per frame, but a lone frame's GEMMs run on OpenBLAS's threads, which may block them
    # differently: float32 roundings of 288-term sums.
    alone = np.concatenate(frames)
    np.testing.assert_allclose(together[0], alone, rtol=1e-5, atol=1e-5 * np.abs(alone).max())
    for got, p in zip(together[1:], layer.blobs):
        # Frames summed in another grouping (per thread, then across threads): float32 roundings.
        np.testing.assert_allclose(got, p.diff, rtol=1e-5, atol=1e-5 * np.abs(p.diff).max())


@pytest.mark.parametrize("body,shape,message", [
    ("num_output: 4 kernel_size: 3 group: 2", (1, 3, 5, 5), "group 2 must divide"),
    ("num_output: 3 kernel_size: 3 group: 2", (1, 4, 5, 5), "group 2 must divide"),
    ("num_output: 2 kernel_size: 5 pad: 1", (1, 1, 2, 6), "larger than the padded input"),
    ("num_output: 2 kernel_size: 3 dilation: 3", (1, 1, 6, 6), "larger than the padded input"),
    ("num_output: 2 kernel_size: 2 axis: 2", (1, 1, 4, 6), "only 2-D spatial convolution"),
    ("num_output: 2 kernel_size: 2", (3, 4, 6), "only 2-D spatial convolution"),
    ("num_output: 2", (1, 1, 4, 4), "kernel_size (or kernel_h and kernel_w) is required"),
    ("num_output: 2 kernel_h: 3", (1, 1, 4, 4), "kernel_h and kernel_w must be given together"),
    ("num_output: 2 kernel_size: 3 kernel_h: 3 kernel_w: 3", (1, 1, 4, 4), "not both"),
    ("num_output: 2 kernel_size: 3 pad: 1 pad: 1 pad: 1", (1, 1, 4, 4), "takes 1 or 2 values"),
    ("num_output: 2 kernel_size: 3 stride: 0", (1, 1, 4, 4), "must be positive"),
    ("kernel_size: 3", (1, 1, 4, 4), "num_output must be positive"),
])
def test_bad_parameters(body, shape, message):
    with pytest.raises(LayerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        setup_layer(make_layer(text(body)), [np.zeros(shape, np.float32)])


def test_reshape_checks_channels():
    layer = make_layer(text("num_output: 2 kernel_size: 3"))
    bottom, top = setup_layer(layer, [np.zeros((1, 3, 5, 5), np.float32)])
    bottom[0].reshape(1, 4, 5, 5)
    with pytest.raises(LayerError, match="does not match the 3 channels"):
        layer.reshape(bottom, top)


def test_binding_checks_shapes():
    geom = [3, 3, 0, 0, 1, 1, 1, 1, 1]  # kh kw ph pw sh sw dh dw group
    x, w = np.zeros((1, 1, 5, 5), np.float32), np.zeros((2, 1, 3, 3), np.float32)
    K.conv_forward(np.zeros((1, 2, 3, 3), np.float32), x, w, None, None, geom)
    with pytest.raises(ValueError, match=r"top host array <f4 \(1x2x4x3\) must be 1x2x3x3"):
        K.conv_forward(np.zeros((1, 2, 4, 3), np.float32), x, w, None, None, geom)
    with pytest.raises(ValueError, match="bias must have 2 elements"):
        K.conv_forward(np.zeros((1, 2, 3, 3), np.float32), x, w, np.zeros(3, np.float32), None, geom)
    with pytest.raises(ValueError, match="does not match the channels, group and kernel"):
        K.conv_forward(np.zeros((1, 2, 3, 3), np.float32), x, w, None, None, [3, 2] + geom[2:])
    with pytest.raises(ValueError, match="scratch is for the GPU only"):
        K.conv_forward(np.zeros((1, 2, 3, 3), np.float32), x, w, None, np.zeros(99, np.float32), geom)
    with pytest.raises(ValueError, match="weight_diff must have 18 elements"):
        K.conv_backward(None, np.zeros(17, np.float32), None, np.zeros((1, 2, 3, 3), np.float32), x, w, None, geom)


@needs_gpu
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gpu_parity(case):
    body, shape, _, _, _, _, _, bias = case
    x = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    # Same taps per output; the GEMMs' internal orders and the weight-diff sums (all frames at once on the
    # GPU) differ: float32 rounding of sums of up to a few thousand terms.
    gpu_parity(text(body, bias), [x], rtol=1e-4, atol=1e-4)


@needs_gpu
def test_gpu_parity_in_chunks(monkeypatch):
    # A scratch that holds 2 of the 5 frames: chunks of 2, 2 and 1 frames.
    body, shape = "num_output: 6 kernel_size: 3 pad: 1 stride: 2 group: 2", (5, 4, 9, 9)
    per_frame = (4 * 3 * 3 + 6) * 5 * 5
    monkeypatch.setattr(conv_module, "GPU_SCRATCH_BYTES", 4 * (2 * per_frame + 1))
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    gpu_parity(text(body), [x], rtol=1e-4, atol=1e-4)  # as above
