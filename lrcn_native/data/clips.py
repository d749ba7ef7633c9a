"""Clip sampling for LRCN activity recognition: the released test protocol and time-major batches.

Test protocol of the released classify_video.py (CAFFE_FACTS §1): for every start i in
range(0, n, stride), the clip is frames [i, i + length) when i + length < n, otherwise the last
`length` frames. The last clip can therefore appear more than once (n = 32, stride 8: starts
0, 8, then the last 16 frames twice); that repetition is kept because it weights the released
average over frames.
"""
import numpy as np


def released_clip_starts(n_frames, length=16, stride=8):
    """Start frame of each test clip of a video of n_frames frames, in the released order."""
    if length < 1 or stride < 1:
        raise ValueError(f"clip length {length} and stride {stride} must be positive")
    if n_frames < length:
        raise ValueError(f"a video of {n_frames} frames is shorter than one clip of {length}")
    return [i if i + length < n_frames else n_frames - length for i in range(0, n_frames, stride)]


def time_major(clips):
    """Clips N x T x ... -> (frames T*N x ..., cont T x N): frame index t*N + n, as the LSTM nets read.

    cont is 0 on each clip's first frame and 1 elsewhere (Caffe's clip markers).
    """
    clips = np.asarray(clips)
    if clips.ndim < 2:
        raise ValueError(f"clips must be N x T x ..., got shape {clips.shape}")
    n, t = clips.shape[:2]
    frames = np.ascontiguousarray(np.swapaxes(clips, 0, 1)).reshape((t * n,) + clips.shape[2:])
    cont = np.ones((t, n), np.float32)
    cont[0] = 0
    return frames, cont


def repeat_labels(labels, length):
    """Per-clip labels (N,) -> per-frame labels T x N (the label repeats on every frame)."""
    return np.tile(np.asarray(labels, np.float32), (length, 1))
