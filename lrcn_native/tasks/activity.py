"""Activity recognition (LRCN §4.1): video scores, late fusion and the Table-1-shaped results."""
import numpy as np

from lrcn_native.fileio import atomic_write
from lrcn_native.metrics.classification import accuracy

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
