"""Retrieval ranks and recall as the released retrieval_experiment.py reports them.

Candidates are ranked by descending score with a stable sort (ties keep the candidates' order); a query's
rank is the 0-indexed position of its first correct candidate. R@K is the fraction of queries with
rank < K; median and mean ranks are reported 1-indexed (the paper's Medr).
"""
import numpy as np


def first_correct_rank(scores, correct):
    """scores (Q, C) float, correct (Q, C) bool with ≥ 1 True per row → (Q,) int 0-indexed ranks.
    The first correct candidate in the stable descending order is the correct one with the highest score
    (the earliest among equals); its rank counts the higher scores and the equal ones before it."""
    scores = np.asarray(scores)
    correct = np.asarray(correct, bool)
    if scores.shape != correct.shape or scores.ndim != 2:
        raise ValueError(f"scores {scores.shape} and correct {correct.shape} must be the same (Q, C) shape")
    if not correct.any(axis=1).all():
        raise ValueError(f"query {int(np.argmin(correct.any(axis=1)))} has no correct candidate")
    best = np.where(correct, scores, -np.inf).max(axis=1, keepdims=True)
    first = np.argmax(correct & (scores == best), axis=1)          # the earliest correct one at that score
    before = np.arange(scores.shape[1])[None, :] < first[:, None]
    return (scores > best).sum(axis=1) + ((scores == best) & before).sum(axis=1)


def recall_summary(ranks, ks=(1, 5, 10, 50)):
    """0-indexed ranks → {'R@K': fraction, 'median rank', 'mean rank'} (ranks reported 1-indexed)."""
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("no queries to summarise")
    out = {f"R@{k}": float(np.mean(ranks < k)) for k in ks}
    out["median rank"] = float(np.median(ranks)) + 1
    out["mean rank"] = float(np.mean(ranks)) + 1
    return out


def retrieval_ranks(log_p, caption_image, block=1024):
    """The released normalised score: log_p (I, C) = log p(caption c | image i) → (caption→image ranks (C,),
    image→caption ranks (I,)). Score = log_p − log mean over images of p(caption | image) (computed as a
    log-sum-exp, so long captions do not underflow to −inf as exp() in the released script can).
    ``caption_image`` (C,) gives each caption's image. Works in blocks of ``block`` rows/columns, so the
    temporaries stay small next to log_p itself (which may be a np.memmap)."""
    n_img, n_cap = log_p.shape
    caption_image = np.asarray(caption_image)
    if caption_image.shape != (n_cap,) or caption_image.min() < 0 or caption_image.max() >= n_img:
        raise ValueError(f"caption_image must give an image index in [0, {n_img}) for each of {n_cap} captions")
    norm = np.empty(n_cap)
    for c0 in range(0, n_cap, block):
        cols = np.asarray(log_p[:, c0:c0 + block], np.float64)
        top = cols.max(axis=0)
        norm[c0:c0 + block] = top + np.log(np.mean(np.exp(cols - top), axis=0))
    c2i = np.empty(n_cap, np.int64)
    for c0 in range(0, n_cap, block):
        s = np.asarray(log_p[:, c0:c0 + block], np.float64).T - norm[c0:c0 + block, None]    # (c, I)
        correct = np.arange(n_img)[None, :] == caption_image[c0:c0 + block, None]
        c2i[c0:c0 + block] = first_correct_rank(s, correct)
    i2c = np.empty(n_img, np.int64)
    for i0 in range(0, n_img, block):
        s = np.asarray(log_p[i0:i0 + block], np.float64) - norm[None, :]                       # (i, C)
        correct = caption_image[None, :] == np.arange(i0, min(i0 + block, n_img))[:, None]
        i2c[i0:i0 + block] = first_correct_rank(s, correct)
    return c2i, i2c
