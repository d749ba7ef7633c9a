"""Video in, frames out: decoding with PyAV (the `video` extra) and the released frame layout.

The released LRCN code extracted frames with the ffmpeg CLI (extract_frames.sh: `ffmpeg -i V -r FPS`),
so the video `v_X.avi` becomes a folder `v_X/` of JPEGs `v_X.0001.jpg`, `v_X.0002.jpg`, … (1-based, four
digits) that its data layer reads back as `<folder>/<video>.%04d.jpg`. Frames are counted by decoding,
never from the container's header or index (those can be off with B-frames or broken indexes).
A folder of frame images is accepted wherever a video file is.
"""
import itertools
import logging
import os
import re

import numpy as np

log = logging.getLogger("lrcn_native")

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm")
# JPEG quality of every frame and flow image written: MATLAB imwrite's default, which wrote the released
# flow images (ffmpeg's own default depends on its bitrate target, so there is no single faithful value).
JPEG_QUALITY = 75


class VideoError(RuntimeError):
    """A video that cannot be read: missing, corrupt, empty or in an unknown format (the message names it)."""


def require_av():
    try:
        import av
    except ImportError:
        raise RuntimeError("decoding video files needs PyAV: pip install 'lrcn_native[video]'") from None
    return av


def write_video(path, frames, fps=25, codec="mpeg4"):
    """Encodes RGB uint8 frames (H x W x 3, H and W even for yuv420p) as a video file; the container comes
    from the extension (.avi, .mp4, …). For generated data and tests."""
    av = require_av()
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    with av.open(os.fspath(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in itertools.chain([first], frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())


def frame_name(video, k):
    """The released file name of frame k (1-based) of `video`: `v_X.0001.jpg`."""
    return f"{video}.{k:04d}.jpg"


def _natural_key(name):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def frame_files(folder):
    """The image files of a folder of frames in frame order (numbers in names compared as numbers)."""
    names = [n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")]
    return [os.path.join(folder, n) for n in sorted(names, key=_natural_key)]


def read_frames(path, fps=None, size=None):
    """Yields the frames of a video file or of a folder of frame images in order, as RGB uint8 H x W x 3.

    fps: None keeps every decoded frame (as released); a number resamples to that rate (video files only).
    size: (width, height) to resize each frame to (bicubic, as ffmpeg's scale filter), None keeps it.
    Raises VideoError naming the file when it cannot be opened or decoded, or holds no frame.
    """
    if os.path.isdir(path):
        if fps is not None:
            raise ValueError(f"{path}: a folder of frames has no frame rate; fps applies to video files only")
        yield from _read_folder(path, size)
    else:
        yield from _decode(path, fps, size)


def count_frames(path):
    """Number of frames of a video file (by decoding every one) or of a folder of frames."""
    return sum(1 for _ in read_frames(path))


def _read_folder(folder, size):
    from PIL import Image
    files = frame_files(folder)
    if not files:
        raise VideoError(f"{folder}: no frame images ({', '.join(IMAGE_EXTENSIONS)})")
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("RGB")
                if size is not None and im.size != tuple(size):
                    im = im.resize(tuple(size), Image.BICUBIC)
                yield np.asarray(im)
        except OSError as e:
            raise VideoError(f"{f}: unreadable frame ({e})") from None


def _decode(path, fps, size):
    av = require_av()
    try:
        container = av.open(os.fspath(path))
    except (av.FFmpegError, OSError) as e:
        raise VideoError(f"{path}: cannot open as a video ({_reason(e)})") from None
    n = 0
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = size if size is not None else (None, None)
        try:
            frames = container.decode(stream)
            if fps is not None:
                frames = _at_rate(path, frames, float(fps), stream.average_rate or stream.guessed_rate)
            for frame in frames:
                rgb = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="BICUBIC")
                n += 1
                yield rgb
        except av.FFmpegError as e:
            raise VideoError(f"{path}: decoding failed after {n} frames ({_reason(e)})") from None
    if n == 0:
        raise VideoError(f"{path}: no frame could be decoded (empty or corrupt video)")
    if fps is None and n < (stream.frames or 0):  # kept, as the ffmpeg CLI keeps what it can decode
        log.warning("%s: decoded %d frames but its header declares %d: truncated or corrupt?", path, n, stream.frames)


def _reason(error):
    """FFmpeg's message without the file name PyAV appends (the caller names the file)."""
    return getattr(error, "strerror", None) or error


def _at_rate(path, frames, fps, rate):
    """Decoded frames resampled to `fps`: output frame k shows the decoded frame nearest in time to
    t0 + k/fps (the later one on a tie), for times up to the last decoded frame's, dropping and duplicating
    frames as ffmpeg's -r does. A frame without a timestamp gets index / the stream's rate."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    k, prev, prev_t, t0 = 0, None, 0.0, 0.0
    for i, frame in enumerate(frames):
        t = frame.time
        if t is None:
            if not rate:
                raise VideoError(f"{path}: frames have neither timestamps nor a frame rate; cannot resample")
            t = i / float(rate)
        if prev is None:
            t0 = t
        else:
            while t0 + k / fps < (prev_t + t) / 2:   # output time k is nearer the previous frame
                yield prev
                k += 1
        prev, prev_t = frame, t
    if prev is not None:
        while t0 + k / fps <= prev_t + 1e-6:         # 1e-6 s: rounding of float timestamps
            yield prev
            k += 1
