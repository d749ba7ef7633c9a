"""Activity recognition (LRCN §4.1): nets scored over videos as the released classify_video.py (clips,
10 crops, its means and quirks), video scores, late fusion, accuracy / per-class / confusion, and the
Table-1-shaped results; per-video scores saved so fusion is re-scored without the nets."""
import os

import numpy as np

from lrcn_native import io
from lrcn_native.data.clips import released_clip_starts
from lrcn_native.fileio import atomic_write
from lrcn_native.metrics.classification import accuracy, confusion_matrix, per_class_accuracy

# The paper's fusion weights w on RGB: w*RGB + (1-w)*flow.
PAPER_FUSION_WEIGHTS = (1 / 2, 1 / 3)


def video_score(frame_probs):
    """Per-frame softmax of all clips' frames (... x C) -> the video's mean class probabilities (C,).

    As released: every frame of every test clip weighs the same (crops, if any, averaged first
    or included as extra rows: the mean is the same when each clip has as many crops).
    """
    p = np.asarray(frame_probs, np.float64)
    if p.ndim < 2 or p.size == 0:
        raise ValueError(f"frame probabilities must be ... x classes and non-empty, got shape {p.shape}")
    return p.reshape(-1, p.shape[-1]).mean(axis=0)


def frame_probs_lrcn(net, frames, clip_length=16, stride=8, clips_per_forward=1, transform=None, data="data",
                     cont="clip_markers", probs="probs"):
    """Scores a video with an LRCN net as the released classify_video.py does.

    frames: one entry per frame. Without ``transform`` it is F x K x C x H x W, each frame preprocessed as
    the net's input in K views (K = 10 for the 10 crops of io.oversample, 1 without); ``transform(clip)``
    instead makes a clip's entries into that T x K x C x H x W form (the released script transforms each
    clip on its own: see released_views). The video is cut into the released test clips (clip_length frames
    every stride frames, the last clip = the last clip_length frames: released_clip_starts); each forward
    takes clips_per_forward clips, time-major: row t*B + b holds frame t of stream b, streams clip-major
    (b = clip*K + view), so one clip of 10 crops is the released deploy net's 16 x 10. cont is 0 at t = 0,
    1 elsewhere: each clip starts the LSTM afresh. probs must be T x B x classes.
    Returns (clips * clip_length) x classes: each frame row's softmax averaged over its K views, clips in
    the released order (the rows video_score averages).
    """
    starts = released_clip_starts(len(frames), clip_length, stride)
    rows = []
    for i in range(0, len(starts), clips_per_forward):
        group = [_views(frames[s:s + clip_length], transform) for s in starts[i:i + clips_per_forward]]
        k = group[0].shape[1]
        batch = np.stack(group, axis=1)                              # T x clips x K x C x H x W
        _set_input(net, data, batch.reshape((-1,) + batch.shape[3:]))
        markers = np.ones((clip_length, len(group) * k), np.float32)
        markers[0] = 0
        ndim = net.blobs[cont].data.ndim      # T x B, or (T*B) x 1 x 1 x 1 as the released deploy net
        _set_input(net, cont, markers if ndim == 2 else markers.reshape((-1,) + (1,) * (ndim - 1)))
        net.forward()
        out = net.blobs[probs].data
        if out.shape[:2] != (clip_length, len(group) * k):
            raise ValueError(f"'{probs}' has shape {out.shape}; expected {clip_length} x {len(group) * k} x "
                             f"classes (time-major clips x views)")
        p = out.reshape(clip_length, len(group), k, -1).mean(axis=2)           # T x clips x classes
        rows.extend(np.swapaxes(p, 0, 1).reshape(-1, p.shape[-1]))
    return np.array(rows, np.float64)


def frame_probs_single_frame(net, frames, batch_frames=16, transform=None, data="data", probs="probs"):
    """Scores a video with a single-frame net as the released classify_video.py does.

    frames and transform as for frame_probs_lrcn (transform gets each batch of frames). Frames go
    batch_frames at a time, rows image-major (row f*K + k, the order of io.oversample); probs is
    (batch_frames*K) x classes. As released, a batch's probabilities are reshaped to K x batch_frames x
    classes and averaged over the first axis: with K > 1 a returned row mixes several frames' crops (every
    batch_frames-th row), but each batch's mean, and so video_score, is the mean over its frames and crops.
    Returns F x classes.
    """
    rows = []
    for i in range(0, len(frames), batch_frames):
        chunk = _views(frames[i:i + batch_frames], transform)
        _set_input(net, data, chunk.reshape((-1,) + chunk.shape[2:]))
        net.forward()
        rows.extend(net.blobs[probs].data.reshape(chunk.shape[1], len(chunk), -1).mean(axis=0))
    return np.array(rows, np.float64)


def _views(frames, transform):
    views = np.asarray(frames if transform is None else transform(frames), np.float32)
    if views.ndim != 5:
        raise ValueError(f"frame views must be frames x views x C x H x W, got shape {views.shape}")
    return views


# The released classify_video.py (LisaAnne/lisa-caffe-public@49b8643d, examples/LRCN_activity_recognition):
# frames loaded in [0, 1] RGB, 10 crops of 227 x 227, then * 255, RGB -> BGR, minus a per-channel mean: the
# training means, (B, G, R) = (103.939, 116.779, 128.68) for RGB and 128 for flow. (The script's first commit,
# 25e18139, had them swapped; its next, 9857c660 "Corrected mean values", set these.)
RELEASED_MEAN = {"rgb": (103.939, 116.779, 128.68), "flow": (128.0, 128.0, 128.0)}
RELEASED_CROP = (227, 227)
RELEASED_MIN_HEIGHT = (240, 320)    # frames shorter than 240 px are resized to 240 x 320 first


def load_video_frames(path, flow_method=None):
    """A video's frames as the released script reads them: H x W x 3 RGB in [0, 1] (io.load_image), resized to
    240 x 320 when under 240 px high.

    path: a folder of frame images, read in name order (the released script globbed *.jpg unsorted, which is
    the file system's order; sorting gives the temporal order of its %04d names), or a video file, decoded
    with PyAV (the `video` extra) — every frame, as prepare-ucf101 extracts them, without its JPEG round trip.
    flow_method: for a video file only, turn its frames into LRCN's flow images first (data.flow.flow_images:
    "tvl1", "farneback" or "lucas_kanade"; one fewer than the frames, as released).
    """
    if os.path.isfile(path):
        from ..data.flow import flow_images
        from ..data.video import read_frames
        frames = read_frames(path)                       # RGB uint8; VideoError names a bad file
        images = list(flow_images(frames, flow_method) if flow_method else frames)
        frames = [im.astype(np.float32) / 255 for im in images]
    elif flow_method:
        raise ValueError(f"{path}: flow is computed from a video file; a folder should hold flow images already")
    elif not os.path.isdir(path):
        raise ValueError(f"{path}: neither a folder of frames nor a video file")
    else:
        names = sorted(n for n in os.listdir(path) if n.lower().endswith((".jpg", ".jpeg", ".png")))
        if not names:
            raise ValueError(f"{path}: no .jpg or .png frames")
        frames = []
        for name in names:
            try:
                frames.append(io.load_image(os.path.join(path, name)))
            except OSError as e:
                raise ValueError(f"{os.path.join(path, name)}: unreadable frame ({e})") from e
    frames = [io.resize_image(im, RELEASED_MIN_HEIGHT) if im.shape[0] < RELEASED_MIN_HEIGHT[0] else im
              for im in frames]
    if any(f.shape != frames[0].shape for f in frames):
        raise ValueError(f"{path}: frames differ in size")
    return frames


def read_class_names(path):
    """Class names by 0-based label from UCF-101's classInd.txt ("1 ApplyEyeMakeup": 1-based indices, in
    order) or a file of one name a line."""
    with open(path) as f:
        lines = [line.split() for line in f if line.strip()]
    if all(len(p) == 2 and p[0].isdigit() for p in lines):
        if [int(p[0]) for p in lines] != list(range(1, len(lines) + 1)):
            raise ValueError(f"{path}: class indices must run 1, 2, ... in order (classInd.txt)")
        return [p[1] for p in lines]
    bad = next((n for n, p in enumerate(lines, 1) if len(p) != 1), None)
    if bad:
        raise ValueError(f"{path}:{bad}: expected one class name a line or 'index name' on every line")
    return [p[0] for p in lines]


def released_views(images, mean, flow=False, crops=True, crop=RELEASED_CROP):
    """A clip's (or a single-frame batch's) H x W x 3 images -> len x 10 x 3 x h x w net inputs as released:
    io.oversample's 10 crops (4 corners, centre, their mirrors; image-major), then io.Transformer's steps as
    the script set them: to C x H x W, RGB -> BGR, * 255 and minus ``mean`` (BGR order), each step rounded
    to float32 as pycaffe's in-place steps (done here on all crops at once).

    flow: (single-frame nets only, as released) before the transform, the released script sets channel 0 (x-flow) to 1 - x on every crop row from
    the 6th on, i.e. on the mirrors of the first image but on all 10 crops of the others (a quirk of its
    batch indexing that its numbers include; io.oversample(flow=True) is the intended version).
    crops=False: one view per image, the whole frame resized to ``crop`` (what io.Transformer does with a
    frame larger than the input), no mirror and so no flow quirk: len x 1 x 3 x h x w.
    """
    if crops:
        views = io.oversample(list(images), crop)
        if flow:
            views[5:, :, :, 0] = 1 - views[5:, :, :, 0]
    else:
        views = np.stack([io.resize_image(np.asarray(im, np.float32), crop) for im in images])
    x = views.transpose(0, 3, 1, 2)[:, ::-1] * np.float32(255)
    x -= np.asarray(mean, np.float64)[:, None, None]
    return x.reshape((len(images), -1) + x.shape[1:])


def classify_video(net, frames, flow=False, mean=None, crops=True):
    """One video (frames from load_video_frames) through a released deploy net, as classify_video.py:
    an LSTM net (it has a "clip_markers" input) scores 16-frame clips every 8 frames, a single-frame net
    batches of 16 frames, each with 10 crops (or, crops=False, the whole frame resized). Returns (class, rows): rows are the per-frame-row softmax
    averaged over crops, in clip order (frame_probs_lrcn / frame_probs_single_frame), class the argmax of
    their mean."""
    mean = RELEASED_MEAN["flow" if flow else "rgb"] if mean is None else mean
    lstm = "clip_markers" in net.inputs
    # The x-flow quirk is the single-frame path's only: the script has it commented out for the LSTM nets.
    views = lambda images: released_views(images, mean, flow and not lstm, crops)
    if lstm:
        rows = frame_probs_lrcn(net, frames, transform=views)
    else:
        rows = frame_probs_single_frame(net, frames, transform=views)
    return int(np.argmax(video_score(rows))), rows


def read_video_list(path):
    """[(video, label)] from a list of '<Class>/<video> <label>' lines (0-based labels), as the released
    ucf101_split1_testVideos.txt."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise ValueError(f"{path}:{n}: expected '<video> <label>', got {line.strip()!r}")
            out.append((parts[0], int(parts[1])))
    if not out:
        raise ValueError(f"{path}: no videos")
    return out


def video_folder(root, video):
    """The frame folder of list entry ``video`` ('Class/v_Class_g01_c01'): root/v_Class_g01_c01 as the
    released script's layout, else root/Class/v_Class_g01_c01."""
    candidates = [os.path.join(root, os.path.basename(video)), os.path.join(root, video)]
    for path in candidates:
        if os.path.isdir(path):
            return path
    raise ValueError(f"{video}: no frame folder ({' or '.join(candidates)})")


def evaluate_videos(net, root, videos, flow=False, mean=None, crops=True, progress=None):
    """Video scores (V x classes) of the (video, label) list under frame root ``root`` with classify_video;
    ``progress(i, n)`` is called after each video."""
    scores = []
    for i, (video, _) in enumerate(videos):
        folder = video_folder(root, video)
        try:
            _, rows = classify_video(net, load_video_frames(folder), flow, mean, crops)
        except ValueError as e:          # e.g. a video shorter than a clip: say which
            raise ValueError(f"{folder}: {e}") from e
        scores.append(video_score(rows))
        if progress:
            progress(i + 1, len(videos))
    return np.array(scores)


def summary(labels, scores):
    """Video accuracy (%), per-class accuracy (%, None for a class without videos) and the confusion matrix
    of video scores V x classes, as a JSON-ready dict."""
    predictions = np.argmax(scores, axis=1)
    per_class = per_class_accuracy(labels, predictions, scores.shape[1])
    return {"videos": len(labels), "accuracy": 100 * accuracy(labels, predictions),
            "per_class_accuracy": [None if np.isnan(a) else 100 * a for a in per_class],
            "confusion": confusion_matrix(labels, predictions, scores.shape[1]).tolist()}


def _set_input(net, name, array):
    blob = net.blobs[name]
    if blob.data.shape != array.shape:
        blob.reshape(*array.shape)
    blob.data[...] = array


def fuse(rgb_scores, flow_scores, w):
    """Late fusion of video scores (V x C each): w*RGB + (1-w)*flow, 0 <= w <= 1."""
    rgb, flow = np.asarray(rgb_scores, np.float64), np.asarray(flow_scores, np.float64)
    if rgb.shape != flow.shape:
        raise ValueError(f"RGB scores {rgb.shape} and flow scores {flow.shape} differ in shape")
    if not 0 <= w <= 1:
        raise ValueError(f"fusion weight {w} outside [0, 1]")
    return w * rgb + (1 - w) * flow


def table_row(labels, rgb_scores, flow_scores, weights=PAPER_FUSION_WEIGHTS):
    """One Table-1 row: accuracy (%) of RGB, flow and each fusion weight, keyed as the paper's columns."""
    acc = lambda s: 100 * accuracy(labels, np.argmax(s, axis=1))
    row = {"RGB": acc(rgb_scores), "Flow": acc(flow_scores)}
    for w in weights:
        row[_weight_name(w)] = acc(fuse(rgb_scores, flow_scores, w))
    return row


def _weight_name(w):
    """Column name of fusion weight w: 1/2 -> '1/2 RGB', 1/3 -> '1/3 RGB', 0.25 -> '0.25 RGB'."""
    for d in range(2, 11):
        if abs(w * d - round(w * d)) < 1e-9:
            return f"{round(w * d)}/{d} RGB"
    return f"{w:g} RGB"


def format_table(rows):
    """Rows {model: row} -> the table as text, accuracies in % with two decimals."""
    cols = list(next(iter(rows.values())))
    width = max(len(m) for m in rows)
    lines = [" | ".join([" " * width] + [f"{c:>9}" for c in cols])]
    for model, row in rows.items():
        lines.append(" | ".join([model.ljust(width)] + [f"{row[c]:9.2f}" for c in cols]))
    return "\n".join(lines)


def save_scores(path, videos, labels, scores):
    """Per-video scores to an .npz (videos: names, labels: (V,), scores: V x C), written to a temporary
    file and renamed over `path` (atomic_write), so fusion can be re-scored without re-running the nets."""
    videos, labels, scores = np.asarray(videos, str), np.asarray(labels, np.int64), np.asarray(scores)
    if not (len(videos) == len(labels) == len(scores)) or scores.ndim != 2:
        raise ValueError(f"{path}: {len(videos)} videos, {len(labels)} labels and scores "
                         f"{scores.shape} must agree (scores V x C)")
    if not path.endswith(".npz"):
        raise ValueError(f"{path}: scores are saved as .npz")

    def write(tmp):
        with open(tmp, "xb") as f:  # a file object: np.savez would append .npz to a path
            np.savez(f, videos=videos, labels=labels, scores=scores)
    atomic_write(path, write)


def load_scores(path):
    """(videos, labels, scores) as saved by save_scores."""
    with np.load(path) as f:
        missing = {"videos", "labels", "scores"} - set(f.files)
        if missing:
            raise ValueError(f"{path}: not a scores file (missing {sorted(missing)})")
        return f["videos"], f["labels"], f["scores"]


def plot_confusion(path, matrices, class_names):
    """A PNG (matplotlib Agg) of confusion matrices {title: C x C counts, row = true class}, side by side,
    each row normalised to the fraction of that class's videos. Needs matplotlib (the `plot` extra)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = len(matrices)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols + 1, 3.2 * rows + 0.5), squeeze=False)
    for ax, (title, cm) in zip(axes.flat, matrices.items()):
        cm = np.asarray(cm, np.float64)
        frac = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(frac, vmin=0, vmax=1, cmap="Blues")
        ax.set_title(title, fontsize=9)
        ticks = range(len(class_names))
        ax.set_xticks(ticks, class_names if len(class_names) <= 12 else [], rotation=90, fontsize=6)
        ax.set_yticks(ticks, class_names if len(class_names) <= 12 else [], fontsize=6)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        for (i, j), v in np.ndenumerate(cm) if len(class_names) <= 12 else ():
            ax.text(j, i, int(v), ha="center", va="center", fontsize=7, color="white" if frac[i, j] > 0.5 else "black")
    for ax in axes.flat[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
