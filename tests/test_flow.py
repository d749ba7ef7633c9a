"""compute_flow for each method and LRCN's flow-image recipe: a synthetic pair with a known displacement goes
through the flow, the 8-bit recipe and a JPEG file, and the decoded image's channels give it back."""
import io
import sys

import numpy as np
import pytest
from PIL import Image

from lrcn_native.data.flow import check_flow_method, compute_flow, flow_images, image_to_flow, to_grey
from lrcn_native.data.video import JPEG_QUALITY

try:
    import cv2
    HAS_TVL1 = hasattr(cv2, "optflow")
except ImportError:
    cv2, HAS_TVL1 = None, False
needs_cv2 = pytest.mark.skipif(cv2 is None, reason="OpenCV not installed: pip install 'lrcn_native[flow]'")
needs_tvl1 = pytest.mark.skipif(not HAS_TVL1, reason="OpenCV contrib (cv2.optflow) not installed: "
                                                     "pip install 'lrcn_native[flow]'")


def texture(x, y):
    """A smooth texture in [0, 255], defined everywhere: sampled at x - dx, y - dy it moves by (dx, dy)."""
    t = np.sin(0.3 * x + 0.1 * y) + np.cos(0.2 * y - 0.15 * x) + 0.5 * np.sin(0.25 * (x + y))
    return (t + 2.5) / 5 * 255


def through_jpeg(img):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=JPEG_QUALITY)
    return np.asarray(Image.open(buf))


# Lucas-Kanade is a one-step linearisation (sub-pixel motion only); TV-L1 and Farneback work on pyramids.
@pytest.mark.parametrize("method, dx, dy", [
    ("lucas_kanade", 0.5, -0.3),
    pytest.param("farneback", 2.0, -1.5, marks=needs_cv2),
    pytest.param("tvl1", 2.0, -1.5, marks=needs_tvl1),
])
def test_flow_image_gives_back_a_known_displacement(method, dx, dy):
    yy, xx = np.mgrid[0:48, 0:64].astype(float)
    prev, nxt = (np.rint(texture(xx - s * dx, yy - s * dy)).astype(np.uint8) for s in (0, 1))
    flow = compute_flow(prev, nxt, method)
    assert flow.shape == (48, 64, 2) and flow.dtype == np.float32
    [img] = flow_images([np.stack([prev] * 3, 2), np.stack([nxt] * 3, 2)], method)
    back = through_jpeg(img)[8:-8, 8:-8].astype(np.float64)   # away from the borders
    xy = image_to_flow(back)
    # Tolerance 0.1 px (mean over pixels): the recipe rounds to 1/32 px, JPEG at quality 75 moves a smooth
    # flow image by a level or two (1/16-1/8 px) here and there, and each method errs by <= 0.05 px mean on
    # this pair (measured: 0.006-0.045 after the JPEG).
    assert np.abs(xy[..., 0] - dx).mean() < 0.1 and np.abs(xy[..., 1] - dy).mean() < 0.1
    mag = (back[..., 2] - 128) / 16                            # the third channel: |flow|
    assert abs(np.median(mag) - np.hypot(dx, dy)) < 0.1


def test_flow_images_skip_the_first_frame_and_grey_is_luma():
    frames = [np.full((8, 10, 3), v, np.uint8) for v in (10, 20, 30, 40)]
    out = list(flow_images(frames, "lucas_kanade"))
    assert len(out) == 3 and all(o.shape == (8, 10, 3) and o.dtype == np.uint8 for o in out)
    assert (np.stack(out) == 128).all()                       # flat frames: no motion
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    np.testing.assert_allclose(to_grey(rgb), [[76.245, 149.685, 29.07]], rtol=1e-6)


def test_unknown_method_and_missing_extra(monkeypatch):
    with pytest.raises(ValueError, match="unknown flow method 'brox'.*tvl1, farneback, lucas_kanade"):
        compute_flow(np.zeros((4, 4)), np.zeros((4, 4)), "brox")
    with pytest.raises(ValueError, match="equal H x W"):
        compute_flow(np.zeros((4, 4)), np.zeros((4, 5)), "lucas_kanade")
    monkeypatch.setitem(sys.modules, "cv2", None)             # import cv2 now fails, as without the extra
    for method in ("tvl1", "farneback"):
        with pytest.raises(RuntimeError, match=r"pip install 'lrcn_native\[flow\]'"):
            compute_flow(np.zeros((4, 4)), np.zeros((4, 4)), method)
    assert check_flow_method("lucas_kanade") is None
