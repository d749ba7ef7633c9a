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
