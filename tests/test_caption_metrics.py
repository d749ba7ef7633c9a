"""Caption metrics (BLEU, CIDEr-D, ROUGE-L, PTB tokenising) against hand-computed values and, when installed,
the COCO-caption scorer itself (pycocoevalcap; its tokenizer also needs Java)."""
import math
import random
import shutil

import pytest

from lrcn_native.metrics import caption as M

REFS = {1: ["the cat sat on the mat", "a cat is on the mat"]}
HYPS = {1: "the cat on the mat"}


def test_bleu_by_hand():
    # hypothesis n-grams matched: 5/5 unigrams, 3/4 bigrams, 1/3 trigrams, 0/2 4-grams; both references
    # have 6 words, the hypothesis 5: brevity penalty exp(1 - 6/5), with the scorer's guards against 0
    bp = math.exp(1 - (6 + 1e-9) / (5 + 1e-15))
    p = [(5 + 1e-15) / (5 + 1e-9), (3 + 1e-15) / (4 + 1e-9), (1 + 1e-15) / (3 + 1e-9), 1e-15 / (2 + 1e-9)]
    want = [bp * math.prod(p[:k]) ** (1 / k) for k in range(1, 5)]
    assert M.bleu(REFS, HYPS) == pytest.approx(want, rel=1e-12)
    # clipping: "the the the" matches "the" at most twice (the most in one reference)
    assert M.bleu({1: ["the cat the", "the"]}, {1: "the the the"})[0] == pytest.approx(2 / 3, rel=1e-9)
    # closest reference length, ties to the shorter: hypothesis of 3 words vs references of 2 and 4 words
    b = M.bleu({1: ["a b", "a b c d"]}, {1: "a b c"})
    assert b[0] == pytest.approx(1.0 * 1.0, rel=1e-9)          # 3 >= 2: no penalty (the shorter wins the tie)


def test_cider_d_by_hand():
    refs = {"A": ["a b"], "B": ["c d"]}
    hyps = {"A": "a b", "B": "c"}
    # every n-gram appears in one of two images: all weights log 2, so cosines are of 0/1 vectors.
    # A: unigram and bigram cosines 1, no 3/4-grams -> (1+1+0+0)/4 x 10 = 5
    # B: unigram cosine 1/sqrt 2, no bigram; bigram counts 0 vs 1 -> penalty exp(-1/72)
    b = 10 * (1 / math.sqrt(2)) * math.exp(-1 / 72) / 4
    mean, per = M.cider_d(refs, hyps)
    assert per == pytest.approx([5.0, b], rel=1e-12)
    assert mean == pytest.approx((5 + b) / 2, rel=1e-12)


def test_rouge_l_by_hand():
    # LCS with reference 1 is 5 (the cat on the mat), with reference 2 it is 4 (cat on the mat)
    p, r = max(5 / 5, 4 / 5), max(5 / 6, 4 / 6)
    want = (1 + 1.44) * p * r / (r + 1.44 * p)
    assert M.rouge_l(REFS, HYPS)[0] == pytest.approx(want, rel=1e-12)
    assert M.rouge_l({1: ["x y"]}, {1: "a b"})[0] == 0.0


def test_mismatched_images_are_an_error():
    with pytest.raises(ValueError, match="different images"):
        M.bleu({1: ["a"], 2: ["b"]}, {1: "a"})
    with pytest.raises(ValueError, match="image 1 has no reference"):
        M.cider_d({1: []}, {1: "a"})


def test_ptb_tokenize_cases():
    assert M.ptb_tokenize("A man's dog, running (fast) on the St. John's road.") == \
        "a man 's dog running -lrb- fast -rrb- on the st. john 's road"
    assert M.ptb_tokenize("Two \"big\" dogs don't play -- they're at 5:30 & 10% off $5 t-shirts!") == \
        "two big dogs do n't play they 're at 5:30 & 10 % off $ 5 t-shirts"
    assert M.ptb_tokenize("The U.S.A. flag, 3.5 feet; 1,000 apples... cannot") == \
        "the u.s.a. flag 3.5 feet 1,000 apples can not"


def _random_captions(n, seed=0):
    rng = random.Random(seed)
    words = ["a", "man", "woman's", "dog", "isn't", "red", "(big)", "St.", "U.S.", "3.5", "1,000", "t-shirt",
             "they're", "I'm", "on", "the", "\"quoted\"", "cat,", "black/white", "&", "50%", "$5", "what?", "it's",
             "Mr.", "ice-cream", "hello!", "sitting;", "left:", "cannot", "skis", "'hat'"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) + rng.choice([".", "", " .", "!"])
            for _ in range(n)]


@pytest.mark.skipif(shutil.which("java") is None, reason="the reference PTBTokenizer needs Java")
def test_ptb_tokenize_matches_stanford():
    tok = pytest.importorskip("pycocoevalcap.tokenizer.ptbtokenizer",
                              reason="pip install pycocoevalcap (the 'eval' extra) for the reference tokenizer")
    caps = _random_captions(200)
    ref = tok.PTBTokenizer().tokenize({i: [{"caption": c}] for i, c in enumerate(caps)})
    for i, c in enumerate(caps):
        assert M.ptb_tokenize(c) == ref[i][0], c


def test_scores_agree_with_pycocoevalcap():
    bleu = pytest.importorskip("pycocoevalcap.bleu.bleu", reason="pip install pycocoevalcap (the 'eval' extra)")
    cider = pytest.importorskip("pycocoevalcap.cider.cider")
    rouge = pytest.importorskip("pycocoevalcap.rouge.rouge")
    caps = [M.ptb_tokenize(c) for c in _random_captions(300, seed=1)]
    refs = {i: caps[6 * i:6 * i + 5] for i in range(50)}
    hyps = {i: caps[6 * i + 5] for i in range(50)}
    res = {i: [h] for i, h in hyps.items()}
    want_bleu, _ = bleu.Bleu(4).compute_score(refs, res, verbose=0)
    assert M.bleu(refs, hyps) == pytest.approx(want_bleu, abs=1e-6)
    want, want_each = cider.Cider().compute_score(refs, res)
    got, got_each = M.cider_d(refs, hyps)
    assert got == pytest.approx(want, abs=1e-6) and got_each == pytest.approx(list(want_each), abs=1e-6)
    assert M.rouge_l(refs, hyps)[0] == pytest.approx(rouge.Rouge().compute_score(refs, res)[0], abs=1e-6)


@pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs Java")
def test_meteor_through_the_scorer_jar():
    pytest.importorskip("pycocoevalcap.meteor.meteor", reason="pip install pycocoevalcap (the 'eval' extra)")
    refs = {1: ["a red circle on the left", "there is a red circle"], 2: ["a blue square"]}
    same = M.meteor(refs, {1: "a red circle on the left", 2: "a blue square"})
    other = M.meteor(refs, {1: "green triangles everywhere", 2: "two dogs running"})
    assert 0.9 < same <= 1.0 and other < 0.1
