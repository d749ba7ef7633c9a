"""Retrieval ranks, recall and the released normalised score on hand-made score matrices."""
import numpy as np
import pytest

from lrcn_native.metrics.retrieval import first_correct_rank, recall_summary, retrieval_ranks


def _released_rank(scores, correct):
    """The released eval_recall: a stable sort on −score, the index of the first correct entry."""
    order = sorted(range(len(scores)), key=lambda j: -scores[j])
    return next(k for k, j in enumerate(order) if correct[j])


def test_first_correct_rank_by_hand_and_ties():
    scores = np.array([[0.9, 0.5, 0.7, 0.1],
                       [0.2, 0.2, 0.2, 0.2],      # all tied: the correct one's position decides
                       [0.3, 0.8, 0.8, 0.1]])     # two correct, tied with each other and a wrong one
    correct = np.array([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]], bool)
    assert first_correct_rank(scores, correct).tolist() == [2, 2, 1]
    rng = np.random.default_rng(0)
    s = rng.integers(0, 4, size=(50, 12)).astype(float)    # many ties
    c = rng.random((50, 12)) < 0.2
    c[np.arange(50), rng.integers(0, 12, 50)] = True
    assert first_correct_rank(s, c).tolist() == [_released_rank(s[q], c[q]) for q in range(50)]


def test_recall_summary():
    r = recall_summary([0, 0, 3, 7, 60], ks=(1, 5, 10))
    assert r == {"R@1": 0.4, "R@5": 0.6, "R@10": 0.8, "median rank": 4.0, "mean rank": 15.0}
    assert recall_summary([0, 1])["median rank"] == 1.5


def test_retrieval_ranks_normalised_score():
    # 3 images, 4 captions (caption 3 belongs to image 2). Caption 0 is likely under every image: the
    # normalisation (minus log mean over images) removes that, so image 0 ranks its own caption first.
    p = np.array([[0.50, 0.30, 0.01, 0.02],
                  [0.60, 0.05, 0.01, 0.01],
                  [0.55, 0.01, 0.30, 0.20]])
    log_p = np.log(p)
    owner = np.array([1, 0, 2, 2])
    c2i, i2c = retrieval_ranks(log_p, owner, block=2)
    norm = log_p - np.log(p.mean(axis=0))
    want_c2i = [_released_rank(norm[:, c], np.arange(3) == owner[c]) for c in range(4)]
    want_i2c = [_released_rank(norm[i], owner == i) for i in range(3)]
    assert c2i.tolist() == want_c2i == [0, 0, 0, 0]
    assert i2c.tolist() == want_i2c
    assert i2c[0] == 0          # without normalisation caption 0 (image 1's) would outrank caption 1
    with pytest.raises(ValueError, match="caption_image"):
        retrieval_ranks(log_p, np.array([0, 1, 2, 3]))
