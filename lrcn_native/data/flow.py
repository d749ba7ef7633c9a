"""LRCN's flow-image recipe (CAFFE_FACTS §1) and its inverse.

A flow field H x W x 2 (x, y displacements in pixels) is stored as an 8-bit image with channels
[x*16 + 128, y*16 + 128, |flow|*16 + 128] clipped to [0, 255], so displacements up to ±127/16
(about 7.9 px) survive; the quantisation step is 1/16 px.
"""
import numpy as np

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
    k = 2 * r + 1
    p = np.zeros((a.shape[0] + k, a.shape[1] + k))       # p[i, j] = sum of padded[:i, :j]
    p[1:, 1:] = np.pad(a, r, mode="edge").cumsum(0).cumsum(1)
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
