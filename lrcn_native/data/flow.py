"""LRCN's flow-image recipe (CAFFE_FACTS §1) and its inverse.

A flow field H x W x 2 (x, y displacements in pixels) is stored as an 8-bit image with channels
[x*16 + 128, y*16 + 128, |flow|*16 + 128] clipped to [0, 255], so displacements up to ±127/16
(about 7.9 px) survive; the quantisation step is 1/16 px.

compute_flow gives the flow between two grey frames by TV-L1 (the default; OpenCV contrib, the `flow`
extra), Farneback (OpenCV, fast) or numpy's one-step Lucas-Kanade (no extra). The paper used Brox et al.
2004, which OpenCV has no CPU version of.
"""
import numpy as np

FLOW_METHODS = ("tvl1", "farneback", "lucas_kanade")

SCALE = 16.0
OFFSET = 128.0


def flow_to_image(flow):
    """Flow H x W x 2 float -> H x W x 3 uint8 in LRCN's recipe (rounded to the nearest level)."""
    flow = np.asarray(flow, np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must be H x W x 2, got shape {flow.shape}")
    mag = np.hypot(flow[..., 0], flow[..., 1])
    img = np.stack([flow[..., 0], flow[..., 1], mag], axis=2) * SCALE + OFFSET
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def image_to_flow(img):
    """Flow image H x W x 3 (uint8) -> flow H x W x 2 float32 from its x and y channels."""
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"flow image must be H x W x 3, got shape {img.shape}")
    return ((img[..., :2].astype(np.float32) - OFFSET) / SCALE).astype(np.float32)


def _box_sum(a, r):
    """Sum of a (H x W) over the (2r+1)^2 window around each pixel, edges padded by replication."""
    # Summed-area table of the padded array with a zero first row and column: (H + 2r + 1) x (W + 2r + 1).
    p = np.pad(np.pad(a, r, mode="edge").cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    k = 2 * r + 1
    return p[k:, k:] - p[:-k, k:] - p[k:, :-k] + p[:-k, :-k]


def lucas_kanade(prev, nxt, radius=3, eps=1e-6):
    """Dense flow prev -> nxt (grey H x W float) by one-step windowed Lucas-Kanade: H x W x 2 (x, y).

    numpy-only flow for when OpenCV (the `flow` extra: TV-L1, Farneback) is not installed. It is a
    single-scale linearisation, accurate for displacements well under a pixel on smooth images;
    where the window has no texture (structure tensor singular) the flow is 0.
    """
    prev, nxt = np.asarray(prev, np.float64), np.asarray(nxt, np.float64)
    if prev.shape != nxt.shape or prev.ndim != 2:
        raise ValueError(f"frames must be equal H x W grey images, got {prev.shape} and {nxt.shape}")
    mean = (prev + nxt) / 2                     # gradients of the mean frame: symmetric in time
    iy, ix = np.gradient(mean)
    it = nxt - prev
    sxx, syy, sxy = (_box_sum(a, radius) for a in (ix * ix, iy * iy, ix * iy))
    sxt, syt = _box_sum(ix * it, radius), _box_sum(iy * it, radius)
    det = sxx * syy - sxy * sxy
    ok = det > eps * (sxx + syy) ** 2 + eps     # well-conditioned windows only
    det = np.where(ok, det, 1.0)
    u = np.where(ok, (-syy * sxt + sxy * syt) / det, 0.0)
    v = np.where(ok, (sxy * sxt - sxx * syt) / det, 0.0)
    return np.stack([u, v], axis=2).astype(np.float32)


def check_flow_method(method):
    """Returns OpenCV when `method` needs it (None for lucas_kanade); a clear error for an unknown method or
    a missing extra."""
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown flow method '{method}': one of {', '.join(FLOW_METHODS)}")
    if method == "lucas_kanade":
        return None
    try:
        import cv2
    except ImportError:
        cv2 = None
    if cv2 is None or (method == "tvl1" and not hasattr(cv2, "optflow")):
        raise RuntimeError(f"flow method '{method}' needs OpenCV with its contrib modules: "
                           "pip install 'lrcn_native[flow]' (opencv-contrib-python-headless; uninstall other "
                           "opencv-python packages first, they overwrite each other)")
    return cv2


def compute_flow(prev_grey, next_grey, method="tvl1"):
    """Dense optical flow prev -> next: H x W x 2 float32 (x, y displacement in pixels).

    The frames are equal-sized grey images H x W with values in [0, 255] (uint8 or float; OpenCV's methods
    round them to uint8). method: "tvl1" (OpenCV's Dual TV-L1 with its defaults),
    "farneback" (OpenCV; the parameters of OpenCV's own example: pyramid 0.5 x 3 levels, window 15,
    3 iterations, polynomial 5 / sigma 1.2) or "lucas_kanade" (numpy, sub-pixel motion only).
    """
    cv2 = check_flow_method(method)
    prev_grey, next_grey = np.asarray(prev_grey), np.asarray(next_grey)
    if prev_grey.shape != next_grey.shape or prev_grey.ndim != 2:
        raise ValueError(f"frames must be equal H x W grey images, got {prev_grey.shape} and {next_grey.shape}")
    if cv2 is None:
        return lucas_kanade(prev_grey, next_grey)
    # OpenCV gets 8-bit frames (rounded, as its own RGB2GRAY gives): its TV-L1 reads float images as [0, 1].
    a, b = (x if x.dtype == np.uint8 else np.clip(np.rint(x), 0, 255).astype(np.uint8) for x in (prev_grey, next_grey))
    if method == "tvl1":
        flow = cv2.optflow.DualTVL1OpticalFlow_create().calc(a, b, None)
    else:
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    return np.asarray(flow, np.float32)


def to_grey(rgb):
    """RGB H x W x 3 -> grey H x W float32 in the input's range (ITU-R 601 luma, as MATLAB's rgb2gray and
    OpenCV's RGB2GRAY)."""
    rgb = np.asarray(rgb, np.float32)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"frame must be H x W x 3 RGB, got shape {rgb.shape}")
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def flow_images(frames, method="tvl1"):
    """Yields LRCN's flow image (H x W x 3 uint8) between each frame and the next of an iterable of RGB
    frames: one fewer than the frames, as released (no flow image for the first frame)."""
    prev = None
    for frame in frames:
        grey = to_grey(frame)
        if prev is not None:
            yield flow_to_image(compute_flow(prev, grey, method))
        prev = grey
