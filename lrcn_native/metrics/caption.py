"""Caption metrics as the COCO-caption scorer (tylin/coco-caption) computes them: its PTB-style tokenising,
BLEU-1..4, CIDEr-D and ROUGE-L. Every metric takes ``refs`` {image id: [tokenised reference strings]} and
``hyps`` {image id: tokenised hypothesis string} (tokens separated by single spaces).

* BLEU (Papineni et al.): corpus-level, n-gram counts clipped by the maximum count in any one reference;
  the brevity penalty uses, per sentence, the reference length closest to the hypothesis (ties to the
  shorter) summed over the corpus; the scorer's smoothing (correct + 1e-15) / (guess + 1e-9).
* CIDEr-D (Vedantam et al.): TF-IDF n-gram vectors (n = 1..4) with document frequencies over the
  references, hypothesis counts clipped by the reference's, a Gaussian length penalty (σ = 6) and ×10;
  like the scorer, the "length" in that penalty counts bigrams.
* METEOR: only through the scorer's own Java jar (``meteor``), when pycocoevalcap and Java are installed.
* ROUGE-L: the longest common subsequence against each reference, F-measure with β = 1.2 from the best
  precision and the best recall, averaged over images.
"""
import math
import re
from collections import Counter

import numpy as np

# Tokens the scorer removes after Stanford's PTBTokenizer (-lowerCase leaves -lrb- etc., which stay).
PUNCTUATIONS = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--",
                "...", ";"}
# PTB escapes: brackets become -lrb- etc. (kept), double quotes `` / '' (removed)
_ESCAPES = {"(": "-lrb-", ")": "-rrb-", "{": "-lcb-", "}": "-rcb-", "[": "-lsb-", "]": "-rsb-", '"': "''"}
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "co", "corp", "etc", "vs", "ft", "inc", "ltd",
                  "mt", "ave", "prof", "gen", "sgt", "capt", "lt", "col", "rev", "jan", "feb", "aug", "sept",
                  "oct", "nov", "dec"}
_SPLIT_WORDS = {"cannot": ("can", "not"), "gonna": ("gon", "na"), "wanna": ("wan", "na"), "gotta": ("got", "ta")}
_CLITIC = re.compile(r"(?i)^(.+?)(n't|'s|'re|'ll|'ve|'d|'m)$")
_INITIALS = re.compile(r"[A-Za-z](?:\.[A-Za-z])*")     # "a", "u.s", "e.g" (before their final '.')
_SYMBOLS = re.compile(r"([&+=;#$%*<>|~^])")
_LEAD = "\"'`([{-"
_TRAIL = "\"'`)]},;:!?-"


def _word(tok):
    """One whitespace-free piece without outer punctuation → PTB tokens (clitics split, final '.')."""
    out = []
    for piece in _SYMBOLS.split(tok):
        if not piece:
            continue
        if _SYMBOLS.fullmatch(piece):
            out.append(piece)
            continue
        low = piece.lower()
        if low in _SPLIT_WORDS:
            out += _SPLIT_WORDS[low]
            continue
        m = _CLITIC.match(piece)
        out += [m.group(1), m.group(2)] if m and m.group(1).isalpha() else [piece]
    return out


def ptb_tokenize(caption):
    """A caption → the scorer's tokenised string: lower-case PTB tokens, punctuation tokens removed.
    Covers what captions contain (clitics, abbreviations, numbers, brackets, quotes, symbols); exotic
    input (URLs, emoticons) may tokenise differently from Stanford's PTBTokenizer."""
    tokens = []
    for chunk in caption.replace("\n", " ").split():
        lead, trail = [], []
        while chunk and chunk[0] in _LEAD:
            lead.append(chunk[0])
            chunk = chunk[1:]
        while chunk:
            if chunk[-1] in _TRAIL:
                j = len(chunk) - 1
                while j > 0 and chunk[j - 1] in "!?" and chunk[-1] in "!?":   # "?!" is one token
                    j -= 1
                trail.insert(0, chunk[j:])
                chunk = chunk[:j]
            elif chunk.endswith("."):
                stem = chunk.rstrip(".")
                dots = len(chunk) - len(stem)
                abbreviation = _INITIALS.fullmatch(stem) or stem.lower() in _ABBREVIATIONS
                if abbreviation and dots == 1:
                    break
                if abbreviation and dots == 2:      # "Mr.." is "mr." then "."
                    stem, dots = stem + ".", 1
                trail.insert(0, "." * dots)
                chunk = stem
            else:
                break
        words = _word(chunk) if chunk else []
        tokens += [_ESCAPES.get(c, c) for c in lead] + words + [_ESCAPES.get(c, c) for c in trail]
    return " ".join(t.lower() for t in tokens if t and t not in PUNCTUATIONS and set(t) != {"."})


def _ngrams(words, n=4):
    counts = Counter()
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def _check(refs, hyps):
    if set(refs) != set(hyps):
        missing = sorted(set(refs) ^ set(hyps), key=str)[:5]
        raise ValueError(f"references and results cover different images (e.g. {missing})")
    for k, r in refs.items():
        if not r:
            raise ValueError(f"image {k} has no reference captions")
    return list(refs)


def bleu(refs, hyps, n=4):
    """Corpus BLEU-1..n as the COCO-caption scorer computes it (closest reference length)."""
    ids = _check(refs, hyps)
    tiny, small = 1e-15, 1e-9
    correct, guess = [0] * n, [0] * n
    test_len = ref_len = 0
    for k in ids:
        words = hyps[k].split()
        ref_words = [r.split() for r in refs[k]]
        max_ref = Counter()
        for rw in ref_words:
            for g, c in _ngrams(rw, n).items():
                max_ref[g] = max(max_ref[g], c)
        for g, c in _ngrams(words, n).items():
            correct[len(g) - 1] += min(max_ref[g], c)
        for j in range(n):
            guess[j] += max(0, len(words) - j)
        test_len += len(words)
        ref_len += min((abs(len(rw) - len(words)), len(rw)) for rw in ref_words)[1]
    scores, prod = [], 1.0
    for j in range(n):
        prod *= (correct[j] + tiny) / (guess[j] + small)
        scores.append(prod ** (1.0 / (j + 1)))
    ratio = (test_len + tiny) / (ref_len + small)
    if ratio < 1:
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores


def cider_d(refs, hyps, n=4, sigma=6.0):
    """CIDEr-D as the COCO-caption scorer computes it: (mean, per-image scores in the order of refs)."""
    ids = _check(refs, hyps)
    ref_counts = {k: [_ngrams(r.split(), n) for r in refs[k]] for k in ids}
    df = Counter()
    for k in ids:
        df.update({g for c in ref_counts[k] for g in c})
    log_n = math.log(float(len(ids)))

    def vec(counts):
        v = [dict() for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for g, tf in counts.items():
            j = len(g) - 1
            v[j][g] = w = float(tf) * (log_n - math.log(max(1.0, df[g])))
            norm[j] += w * w
            if j == 1:      # the scorer's "length" counts bigrams
                length += tf
        return v, [math.sqrt(x) for x in norm], length

    scores = []
    for k in ids:
        hv, hn, hl = vec(_ngrams(hyps[k].split(), n))
        total = np.zeros(n)
        for rc in ref_counts[k]:
            rv, rn, rl = vec(rc)
            penalty = math.exp(-float(hl - rl) ** 2 / (2 * sigma ** 2))
            for j in range(n):
                val = sum(min(w, rv[j].get(g, 0.0)) * rv[j].get(g, 0.0) for g, w in hv[j].items())
                if hn[j] != 0 and rn[j] != 0:
                    val /= hn[j] * rn[j]
                total[j] += val * penalty
        scores.append(float(np.mean(total)) / len(ref_counts[k]) * 10.0)
    return float(np.mean(scores)), scores


def _lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(refs, hyps, beta=1.2):
    """ROUGE-L as the COCO-caption scorer computes it: (mean, per-image scores in the order of refs)."""
    ids = _check(refs, hyps)
    scores = []
    for k in ids:
        cand = hyps[k].split(" ")
        lcs = [(_lcs(r.split(" "), cand), len(r.split(" "))) for r in refs[k]]
        p = max(l / len(cand) for l, _ in lcs)
        r = max(l / n for l, n in lcs)
        scores.append((1 + beta ** 2) * p * r / (r + beta ** 2 * p) if p and r else 0.0)
    return float(np.mean(scores)), scores


def meteor(refs, hyps):
    """METEOR 1.5 as the COCO-caption scorer runs it: its Java jar, through pycocoevalcap (the ``eval``
    extra) and a ``java`` command; a clear error names whichever is missing."""
    import shutil
    if shutil.which("java") is None:
        raise RuntimeError("METEOR needs Java: no 'java' command on PATH")
    try:
        from pycocoevalcap.meteor.meteor import Meteor
    except ImportError:
        raise RuntimeError("METEOR needs pycocoevalcap: pip install 'lrcn_native[eval]'") from None
    ids = _check(refs, hyps)
    score, _ = Meteor().compute_score({k: refs[k] for k in ids}, {k: [hyps[k]] for k in ids})
    return float(score)


def score_captions(refs, hyps, tokenize=True, with_meteor=False):
    """{image: [reference captions]}, {image: caption} → {'BLEU-1'..'BLEU-4', 'CIDEr-D', 'ROUGE-L'} (and
    'METEOR' with ``with_meteor``), fractions as the scorer reports them. ``tokenize``: apply ptb_tokenize
    to both first."""
    if tokenize:
        refs = {k: [ptb_tokenize(c) for c in v] for k, v in refs.items()}
        hyps = {k: ptb_tokenize(v) for k, v in hyps.items()}
    out = {f"BLEU-{j + 1}": s for j, s in enumerate(bleu(refs, hyps))}
    out["CIDEr-D"] = cider_d(refs, hyps)[0]
    out["ROUGE-L"] = rouge_l(refs, hyps)[0]
    if with_meteor:
        out["METEOR"] = meteor(refs, hyps)
    return out
