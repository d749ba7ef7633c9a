"""caffe.io: load_image, resize_image, oversample, flip_image and Transformer against float64
references written here (naive loops over output pixels)."""
import math

import numpy as np
import pytest
from PIL import Image

import lrcn_native as caffe

EPS32 = np.finfo(np.float32).eps


# ---- naive float64 references ----

def ref_warp(std, h, w, order):
    """skimage-era resize of a [0, 1] image: output pixel (y, x) samples the source at its pixel
    centre r = H/h (y + 0.5) - 0.5, c = W/w (x + 0.5) - 0.5; pixels outside the image are 0."""
    H, W, K = std.shape

    def px(r, c):
        return std[r, c] if 0 <= r < H and 0 <= c < W else np.zeros(K)

    out = np.zeros((h, w, K))
    for y in range(h):
        r = H / h * (y + 0.5) - 0.5
        for x in range(w):
            c = W / w * (x + 0.5) - 0.5
            if order == 0:
                out[y, x] = px(math.floor(r + 0.5), math.floor(c + 0.5))
                continue
            r0, c0 = math.floor(r), math.floor(c)
            dr, dc = r - r0, c - c0
            top = (1 - dc) * px(r0, c0) + dc * px(r0, c0 + 1)
            bottom = (1 - dc) * px(r0 + 1, c0) + dc * px(r0 + 1, c0 + 1)
            out[y, x] = (1 - dr) * top + dr * bottom
    return out


def ref_resize(im, dims, order=1):
    """pycaffe's resize_image for 1 or 3 channels: rescale to [0, 1], warp, scale back."""
    im = im.astype(np.float64)
    lo, hi = im.min(), im.max()
    return ref_warp((im - lo) / (hi - lo), dims[0], dims[1], order) * (hi - lo) + lo


def ref_zoom(im, dims, order=1):
    """Corners aligned (old scipy.ndimage.zoom): src = x (n_in - 1) / (n_out - 1)."""
    H, W, K = im.shape
    h, w = dims
    out = np.zeros((h, w, K))
    for y in range(h):
        r = y * (H - 1) / (h - 1) if h > 1 else 0.0
        for x in range(w):
            c = x * (W - 1) / (w - 1) if w > 1 else 0.0
            if order == 0:
                out[y, x] = im[math.floor(r + 0.5), math.floor(c + 0.5)]
                continue
            r0, c0 = min(math.floor(r), H - 1), min(math.floor(c), W - 1)
            r1, c1 = min(r0 + 1, H - 1), min(c0 + 1, W - 1)
            dr, dc = r - r0, c - c0
            out[y, x] = ((1 - dr) * ((1 - dc) * im[r0, c0] + dc * im[r0, c1])
                         + dr * ((1 - dc) * im[r1, c0] + dc * im[r1, c1]))
    return out


def resize_tol(im):
    # pycaffe rescales to [0, 1] in float32 (as we do) and returns float32: a few float32 ulps
    # of the largest magnitude; the reference is float64 throughout.
    return 8 * EPS32 * max(1.0, float(np.abs(im).max()))


# ---- resize_image ----

def test_bilinear_identity_size():
    rng = np.random.default_rng(0)
    im = rng.random((5, 7, 3)).astype(np.float32)
    im[0, 0, 0], im[1, 1, 1] = 0, 1          # min 0, max 1: the [0, 1] rescaling is exact
    np.testing.assert_array_equal(caffe.io.resize_image(im, (5, 7)), im)
    im2 = im * 3 - 1
    np.testing.assert_allclose(caffe.io.resize_image(im2, (5, 7)), im2,
                               rtol=0, atol=resize_tol(im2))


def test_bilinear_upsample_2x_by_hand():
    # 1-D, 2 -> 4 pixels: src = 0.5 (x + 0.5) - 0.5 = -0.25, 0.25, 0.75, 1.25, so with a, b the
    # pixels and 0 outside: 0.75 a, 0.75 a + 0.25 b, 0.25 a + 0.75 b, 0.75 b.
    # Ramp [0, 1] along x: 0, 0.25, 0.75, 0.75; constant 1 along y: 0.75, 1, 1, 0.75.
    im = np.array([[0, 1], [0, 1]], np.float32)[:, :, None]
    expected = np.outer([0.75, 1, 1, 0.75], [0, 0.25, 0.75, 0.75])
    np.testing.assert_array_equal(caffe.io.resize_image(im, (4, 4))[:, :, 0], expected)
    # The outside 0 is 0 of the image rescaled to [0, 1]: the border blends towards the minimum.
    out = caffe.io.resize_image(2 * im + 10, (4, 4))[:, :, 0]
    np.testing.assert_allclose(out, 2 * expected + 10, rtol=0, atol=resize_tol(out))


def test_bilinear_downsample_2x_is_block_mean():
    # src = 2 x + 0.5: halfway between pixels 2x and 2x + 1 in both axes.
    rng = np.random.default_rng(1)
    im = rng.random((8, 6, 3)).astype(np.float32)
    blocks = im.astype(np.float64).reshape(4, 2, 3, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(caffe.io.resize_image(im, (4, 3)), blocks,
                               rtol=0, atol=resize_tol(im))


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("K", [1, 3])
@pytest.mark.parametrize("shape,dims", [((5, 7), (13, 11)),    # up, non-square
                                        ((24, 32), (17, 19)),  # down, non-integer factors
                                        ((7, 5), (2, 9)),      # down in y, up in x
                                        ((6, 4), (6, 10)),     # one axis unchanged
                                        ((3, 3), (1, 1))])
def test_resize_vs_reference(shape, dims, K, order):
    rng = np.random.default_rng(2)
    im = (rng.random(shape + (K,)) * 200 - 50).astype(np.float32)
    out = caffe.io.resize_image(im, dims, order)
    assert out.dtype == np.float32 and out.shape == dims + (K,)
    np.testing.assert_allclose(out, ref_resize(im, dims, order), rtol=0, atol=resize_tol(im))


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("K", [2, 4])
def test_resize_other_channel_counts_corner_aligned(K, order):
    rng = np.random.default_rng(3)
    im = (rng.random((6, 9, K)) * 10).astype(np.float32)
    for dims in [(11, 4), (3, 13), (1, 5)]:
        out = caffe.io.resize_image(im, dims, order)
        assert out.dtype == np.float32 and out.shape == dims + (K,)
        # float32 output of a float64 computation: 1 ulp of the largest value (10).
        np.testing.assert_allclose(out, ref_zoom(im.astype(np.float64), dims, order),
                                   rtol=0, atol=10 * EPS32)


def test_resize_constant_image():
    out = caffe.io.resize_image(np.full((4, 5, 3), 0.25, np.float32), (7, 2))
    assert out.dtype == np.float32 and out.shape == (7, 2, 3)
    assert (out == 0.25).all()


def test_resize_errors():
    with pytest.raises(ValueError, match="H x W x K"):
        caffe.io.resize_image(np.zeros((4, 4), np.float32), (2, 2))
    with pytest.raises(ValueError, match="interp_order"):
        caffe.io.resize_image(np.zeros((4, 4, 3), np.float32), (2, 2), interp_order=3)


@pytest.mark.parametrize("order", [0, 1])
def test_resize_matches_scipy_grid_constant(order):
    # Independent oracle: scipy's zoom with pixel-centre (grid) coordinates and constant-0
    # extension is the same interpolation; on the [0, 1] image it must agree to the last bit.
    ndi = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(4)
    im = rng.random((24, 32, 3)).astype(np.float32) * 3 + 2
    lo, hi = im.min(), im.max()
    for dims in [(17, 19), (50, 70), (227, 227)]:
        std = ((im - lo) / (hi - lo)).astype(np.float64)
        z = ndi.zoom(std, (dims[0] / 24, dims[1] / 32, 1), order=order, mode="grid-constant",
                     grid_mode=True, cval=0)
        np.testing.assert_array_equal(caffe.io.resize_image(im, dims, order),
                                      (z * (hi - lo) + lo).astype(np.float32))


@pytest.mark.parametrize("order", [0, 1])
def test_resize_matches_skimage(order):
    # pycaffe's own call, where scikit-image is installed. skimage of the LRCN era converted the
    # float32 input to float64 (img_as_float) and had no anti-aliasing: pass both explicitly.
    transform = pytest.importorskip("skimage.transform")
    rng = np.random.default_rng(5)
    im = rng.random((24, 32, 3)).astype(np.float32) * 3 + 2
    lo, hi = im.min(), im.max()
    for dims in [(17, 19), (50, 70)]:
        std = ((im - lo) / (hi - lo)).astype(np.float64)
        r = transform.resize(std, dims, order=order, mode="constant", anti_aliasing=False)
        np.testing.assert_array_equal(caffe.io.resize_image(im, dims, order),
                                      (r * (hi - lo) + lo).astype(np.float32))


# ---- load_image ----

def test_load_png_colour_grey_alpha(tmp_path):
    rng = np.random.default_rng(6)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    alpha = rng.integers(0, 256, (5, 7, 1), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(np.concatenate([rgb, alpha], 2)).save(tmp_path / "rgba.png")
    ref_rgb = (rgb / 255.0).astype(np.float32)           # lossless: exact
    ref_grey = (grey / 255.0).astype(np.float32)[:, :, None]

    for name, ref in [("rgb", ref_rgb), ("rgba", ref_rgb)]:
        for color in (True, False):    # colour images stay 3-channel whatever color says
            img = caffe.io.load_image(str(tmp_path / f"{name}.png"), color)
            assert img.dtype == np.float32
            np.testing.assert_array_equal(img, ref)
    grey_path = str(tmp_path / "grey.png")
    np.testing.assert_array_equal(caffe.io.load_image(grey_path, color=False), ref_grey)
    np.testing.assert_array_equal(caffe.io.load_image(grey_path), np.tile(ref_grey, 3))


def test_load_png_16bit(tmp_path):
    a = np.array([[0, 1000], [40000, 65535]], np.uint16)
    Image.fromarray(a).save(tmp_path / "g16.png")
    img = caffe.io.load_image(str(tmp_path / "g16.png"), color=False)
    np.testing.assert_array_equal(img[:, :, 0], (a / 65535.0).astype(np.float32))


def test_load_jpeg(tmp_path):
    y, x = np.mgrid[0:16, 0:24]
    rgb = np.stack([x * 10, y * 15, 255 - x * 10], 2).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.jpg", quality=95, subsampling=0)  # no chroma 4:2:0
    Image.fromarray(rgb[:, :, 1]).save(tmp_path / "g.jpg", quality=95)
    img = caffe.io.load_image(str(tmp_path / "c.jpg"))
    decoded = np.asarray(Image.open(tmp_path / "c.jpg"))
    assert img.shape == (16, 24, 3) and img.dtype == np.float32
    np.testing.assert_array_equal(img, (decoded / 255.0).astype(np.float32))
    # JPEG is lossy: the smooth test image comes back within a few grey levels.
    assert np.abs(img - rgb / 255.0).max() < 8 / 255
    g = caffe.io.load_image(str(tmp_path / "g.jpg"), color=False)
    assert g.shape == (16, 24, 1)
    np.testing.assert_array_equal(caffe.io.load_image(str(tmp_path / "g.jpg")), np.tile(g, 3))


# ---- oversample and flip_image ----

def test_oversample_positions_and_mirrors():
    H, W, K, h, w = 7, 9, 2, 4, 5
    images = [np.arange(H * W * K, dtype=np.float32).reshape(H, W, K) + 1000 * n for n in range(2)]
    crops = caffe.io.oversample(images, (h, w))
    assert crops.shape == (20, h, w, K) and crops.dtype == np.float32
    # corners, then the centre: int(7/2 - 4/2) = 1, int(9/2 - 5/2) = 2
    starts = [(0, 0), (0, 4), (3, 0), (3, 4), (1, 2)]
    for n, im in enumerate(images):
        for k, (y, x) in enumerate(starts):
            np.testing.assert_array_equal(crops[10 * n + k], im[y:y + h, x:x + w])
            np.testing.assert_array_equal(crops[10 * n + 5 + k], im[y:y + h, x:x + w][:, ::-1])


def test_oversample_flow_negates_x_in_mirrors():
    rng = np.random.default_rng(7)
    im = rng.random((6, 8, 3)).astype(np.float32)
    plain = caffe.io.oversample([im], (4, 4))
    flow = caffe.io.oversample([im], (4, 4), flow=True)
    np.testing.assert_array_equal(flow[:5], plain[:5])
    np.testing.assert_array_equal(flow[5:, ..., 1:], plain[5:, ..., 1:])
    np.testing.assert_array_equal(flow[5:, ..., 0], 1 - plain[5:, ..., 0])


def test_flip_image():
    rng = np.random.default_rng(8)
    im = rng.random((3, 4, 3)).astype(np.float32)
    kept = im.copy()
    np.testing.assert_array_equal(caffe.io.flip_image(im), im[:, ::-1])
    f = caffe.io.flip_image(im, 1, True)
    np.testing.assert_array_equal(f[:, :, 0], 1 - im[:, ::-1, 0])
    np.testing.assert_array_equal(f[:, :, 1:], im[:, ::-1, 1:])
    np.testing.assert_array_equal(im, kept)


# ---- Transformer ----

BGR_MEAN = np.array([103.939, 116.779, 128.68])


def lrcn_transformer(shape=(2, 3, 6, 5), mean=BGR_MEAN, input_scale=None):
    """The LRCN activity recognition set-up: RGB [0, 1] H x W x 3 -> BGR x 255 - mean."""
    t = caffe.io.Transformer({"data": shape})
    t.set_transpose("data", (2, 0, 1))
    t.set_channel_swap("data", (2, 1, 0))
    t.set_raw_scale("data", 255)
    t.set_mean("data", mean)
    if input_scale is not None:
        t.set_input_scale("data", input_scale)
    return t


def ref_preprocess(im, mean, input_scale=1.0):
    chw = im.astype(np.float64).transpose(2, 0, 1)[[2, 1, 0]]
    mean = mean.reshape(3, 1, 1) if mean.ndim == 1 else mean
    return (chw * 255 - mean) * input_scale


def test_preprocess_vs_reference():
    rng = np.random.default_rng(9)
    im = rng.random((6, 5, 3)).astype(np.float32)
    full_mean = rng.random((3, 6, 5)) * 255
    for mean, scale in [(BGR_MEAN, None), (full_mean, 0.017)]:
        out = lrcn_transformer(mean=mean, input_scale=scale).preprocess("data", im)
        assert out.dtype == np.float32 and out.shape == (3, 6, 5)
        # Each step rounds to float32 as in pycaffe: a few ulps of 255.
        np.testing.assert_allclose(out, ref_preprocess(im, mean, scale or 1.0),
                                   rtol=0, atol=4 * 255 * EPS32)


def test_preprocess_resizes_to_input_dims_first():
    rng = np.random.default_rng(10)
    im = rng.random((9, 7, 3)).astype(np.float32)
    out = lrcn_transformer().preprocess("data", im)
    expected = ref_preprocess(ref_resize(im, (6, 5)), BGR_MEAN)
    np.testing.assert_allclose(out, expected, rtol=0, atol=8 * 255 * EPS32)


def test_preprocess_leaves_data_alone():
    im = np.full((6, 5, 3), 0.5, np.float32)
    lrcn_transformer().preprocess("data", im)   # pycaffe could scale a float32 input in place
    assert (im == 0.5).all()


def test_deprocess_round_trip():
    rng = np.random.default_rng(11)
    im = rng.random((6, 5, 3)).astype(np.float32)
    t = lrcn_transformer(mean=rng.random((3, 6, 5)) * 255, input_scale=0.5)
    blob = t.preprocess("data", im)
    back = t.deprocess("data", blob[np.newaxis])           # 1 x C x H x W is squeezed
    assert back.shape == (6, 5, 3)
    # float32 rounding at 255 scale, divided back by 255.
    np.testing.assert_allclose(back, im, rtol=0, atol=8 * EPS32)


def test_deprocess_inverts_any_permutation():
    rng = np.random.default_rng(12)
    im = rng.random((6, 5, 3)).astype(np.float32)
    t = caffe.io.Transformer({"data": (1, 3, 6, 5)})
    t.set_transpose("data", (2, 0, 1))
    t.set_channel_swap("data", (1, 2, 0))                  # a 3-cycle: not its own inverse
    np.testing.assert_array_equal(t.deprocess("data", t.preprocess("data", im)), im)


def test_set_mean_shapes_and_errors():
    t = caffe.io.Transformer({"data": (2, 3, 6, 5), "grey": (2, 1, 6, 5)})
    t.set_mean("data", np.zeros((3, 6, 5)))
    t.set_mean("grey", np.zeros((6, 5)))                   # H x W means a 1-channel input
    with pytest.raises(ValueError, match="^Mean channels incompatible with input.$"):
        t.set_mean("data", np.zeros(4))
    with pytest.raises(ValueError, match="^Mean shape invalid$"):
        t.set_mean("data", np.zeros((1, 3, 6, 5)))
    with pytest.raises(ValueError, match="^Mean shape incompatible with input shape.$"):
        t.set_mean("data", np.zeros((3, 1, 1)))
    with pytest.raises(ValueError, match="^Mean shape incompatible with input shape.$"):
        t.set_mean("data", np.zeros((6, 5)))


def test_transformer_argument_errors():
    t = caffe.io.Transformer({"data": (2, 3, 6, 5)})
    with pytest.raises(ValueError, match="label is not one of the net inputs"):
        t.set_raw_scale("label", 255)
    with pytest.raises(ValueError, match="Transpose order needs to have the same number"):
        t.set_transpose("data", (1, 0))
    with pytest.raises(ValueError, match="Channel swap needs to have the same number"):
        t.set_channel_swap("data", (1, 0))


def test_is_flow_is_recorded_only():
    # The LRCN fork records the flag; flow differs in mirroring (flip_image, oversample).
    rng = np.random.default_rng(13)
    im = rng.random((6, 5, 3)).astype(np.float32)
    rgb = lrcn_transformer(mean=np.full(3, 128.0))
    flow = lrcn_transformer(mean=np.full(3, 128.0))
    rgb.set_is_flow("data", False)
    flow.set_is_flow("data", True)
    assert flow.is_flow == {"data": True}
    np.testing.assert_array_equal(flow.preprocess("data", im), rgb.preprocess("data", im))
