"""Captioning with a T = 1 "word to preds" deploy net (the released lrcn_word_to_preds.deploy.prototxt):
decoding (greedy, beam search, sampling), caption scoring and retrieval, batched over images.

The deploy net has inputs ``cont_sentence`` (1 × N), ``input_sentence`` (1 × N), ``image_features``
(N × F) and outputs ``predict`` (1 × N × V, logits) and ``probs`` (1 × N × V); its LSTMs carry their
state from one forward call to the next, and cont = 0 starts a new sentence. Every decoding step is one
forward call for all images and all beams; beam search moves each beam's carried LSTM state to the row
of the beam it extends (the released captioner instead re-runs the whole prefix for every beam).

Semantics follow the released captioner.py (CAFFE_FACTS.md §1):
* greedy = its batched ``sample_captions`` at temp = ∞: argmax (the first maximum), at most 50 words,
  a caption stops after EOS (0).
* beam search: each unfinished beam proposes its ``beam_size`` most probable words (``argsort()[-K:]``,
  ties as numpy orders them), finished beams (EOS or 50 words) propose themselves; all proposals are
  sorted by summed log-probability (stable, no length normalisation) and the best K kept; stop when the
  best K are all finished. The caption returned is the released choice among the final beams: the
  highest Σ log max(1e-12, p).
* sampling: per row and step one ``random.random()`` draw r, the word = the first index whose cumulative
  probability reaches r (1 if none); probabilities are ``probs`` at temp = 1, else softmax(temp × logits)
  (temp is an inverse temperature).
"""
import contextlib
import math
import os
import random

import numpy as np

MAX_LENGTH = 50


def _lstm_states(net):
    """The carried-state Blobs (h, c) of every recurrent layer of ``net`` (the engine keeps them on the
    layer as ``state``: name → Blob of 1 × N × H)."""
    return [blob for layer in net.layers if hasattr(layer, "states") and not getattr(layer, "expose", True)
            for blob in layer.state.values()]


class Captioner:
    """Decoding over a word-to-preds deploy net (a ``Net`` in TEST phase).

    ``image_net`` (optional): the image CNN whose ``descriptor`` blob (fc8) gives image features.
    The inputs a sentence is conditioned on generalise the image: ``static`` names the inputs given once per
    sentence (N × F; None for none), ``sequence`` those read step by step by an encoder stage before
    decoding (S2VT's frames, the encoder-decoder's tuple labels), ``encode_fill`` / ``decode_fill`` hold
    other inputs at a value during encoding / decoding (S2VT's stage indicator; −1 or 0 where a stream
    shows nothing: the padding gate). ``features`` is then an N × F array (the one static input) or a dict
    {input: array}: static inputs N × F, sequence inputs N × S (one id per step) or N × S × F. After an
    encoder stage, decoding continues its state (cont = 1 at the first word)."""

    def __init__(self, lstm_net, image_net=None, descriptor="fc8", static="image_features", sequence=(),
                 encode_fill=None, decode_fill=None):
        self.static = [] if static is None else [static] if isinstance(static, str) else list(static)
        self.sequence, self.encode_fill, self.decode_fill = list(sequence), encode_fill or {}, decode_fill or {}
        self.inputs = list(dict.fromkeys(["cont_sentence", "input_sentence"] + self.static + self.sequence
                                         + list(self.encode_fill) + list(self.decode_fill)))
        for name in self.inputs:
            if name not in lstm_net.inputs:
                raise ValueError(f"net '{lstm_net.name}' has no input '{name}' (inputs: {lstm_net.inputs}); "
                                 "expected a word-to-preds deploy net")
        for name in ("predict", "probs"):
            if name not in lstm_net.blobs:
                raise ValueError(f"net '{lstm_net.name}' has no blob '{name}'")
        self.net, self.image_net, self.descriptor = lstm_net, image_net, descriptor
        self.shapes = {name: tuple(lstm_net.blobs[name].shape[1:]) for name in self.static}
        self.vocab_size = lstm_net.blobs["probs"].shape[2]
        self.first_cont = 0.0

    # --- one step ----------------------------------------------------------------------------------
    def features(self, features):
        """``features`` as the dict {input: array}, checked against the net's static input shapes."""
        if not isinstance(features, dict):
            if len(self.static) != 1 or self.sequence:
                raise ValueError(f"features must be a dict over the inputs {self.static + self.sequence}")
            features = {self.static[0]: features}
        out = {}
        for name in self.static + self.sequence:
            if name not in features:
                raise ValueError(f"no features for the net's input '{name}'")
            out[name] = x = np.asarray(features[name], np.float32)
            if name in self.shapes and x.shape[1:] != self.shapes[name]:
                raise ValueError(f"{name} features must be N x {' x '.join(map(str, self.shapes[name]))}, "
                                 f"got {x.shape}")
        if len({len(x) for x in out.values()}) > 1:
            raise ValueError(f"features disagree on N: { {k: x.shape for k, x in out.items()} }")
        return out

    def _batch(self, feats, n):
        """Reshapes every input for N rows: words, cont, ids and fills 1 × N; static and per-step feature
        inputs N × F."""
        net, changed = self.net, False
        for name in self.inputs:
            x = feats.get(name)
            if name in self.static:
                shape = (n,) + x.shape[1:]
            elif x is not None and x.ndim > 2:     # per-step features N × S × F: N × F a step
                shape = (n,) + x.shape[2:]
            else:                                  # words, cont, ids, fills
                shape = (1, n)
            if net.blobs[name].shape != shape:
                net.blobs[name].reshape(*shape)
                changed = True
        if changed:
            net.reshape()

    def _set(self, name, value):
        blob = self.net.blobs[name]
        blob.data[...] = np.reshape(value, blob.shape) if np.ndim(value) else value

    def start(self, features):
        """Sets the static inputs (N × F) of the next sentences and runs the encoder stage, if any."""
        feats = self.features(features)
        n = len(next(iter(feats.values())))
        self._batch(feats, n)
        for name in self.static:
            self._set(name, feats[name])
        steps = {feats[name].shape[1] for name in self.sequence}
        if len(steps) > 1:
            raise ValueError(f"sequence inputs disagree on the number of steps: {sorted(steps)}")
        for s in range(steps.pop() if steps else 0):
            for name, value in self.encode_fill.items():
                self._set(name, value)
            for name in self.sequence:
                self._set(name, feats[name][:, s])
            self._set("cont_sentence", 0.0 if s == 0 else 1.0)
            self.net.forward()
        for name, value in self.decode_fill.items():
            self._set(name, value)
        self.first_cont = 1.0 if self.sequence else 0.0

    def cont(self, t, n):
        """cont (N,) of decoding step t: 0 starts a sentence, 1 at t = 0 after an encoder stage."""
        return np.full(n, self.first_cont if t == 0 else 1.0, np.float32)

    def step(self, words, cont):
        """One forward: previous words (N,) and cont (N,) → the net's ``probs`` blob view (N × V)."""
        net = self.net
        net.blobs["input_sentence"].data[0] = words
        net.blobs["cont_sentence"].data[0] = cont
        net.forward()
        return net.blobs["probs"].data[0]

    def reorder(self, rows):
        """Row r of every carried LSTM state becomes the old row ``rows[r]`` (beams follow their prefix)."""
        for blob in _lstm_states(self.net):
            blob.data[...] = blob.data[:, rows]

    # --- decoding ----------------------------------------------------------------------------------
    def sample(self, features, temp=float("inf"), max_length=MAX_LENGTH, rng=None):
        """Greedy (temp = ∞) or sampled captions for N images → list of N word-id lists (each ends in 0
        unless cut at max_length)."""
        rng = rng or random.Random(0)
        n = count(features)
        self.start(features)
        captions = [[] for _ in range(n)]
        words = np.zeros(n, np.float32)
        done = np.zeros(n, bool)
        for t in range(max_length):
            if done.all():
                break
            probs = self.step(words, self.cont(t, n))
            if temp == float("inf"):
                picks = probs.argmax(axis=1)
            else:
                if temp != 1.0:
                    probs = _softmax(self.net.blobs["predict"].data[0], temp)
                picks = np.array([_draw(p, rng.random()) for p in probs])
            for i in np.flatnonzero(~done):
                captions[i].append(int(picks[i]))
            done |= picks == 0
            words = np.where(done, 0, picks).astype(np.float32)
        return captions

    def beam_search(self, features, beam_size=3, max_length=MAX_LENGTH):
        """Beam search for N images at once → (best caption per image, [all final beams per image, best
        first, each (word ids, word probabilities)])."""
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        n, K = count(features), beam_size
        self.start(take(features, np.repeat(np.arange(n), K)))   # row i·K + b: beam b of image i
        beams = [[([], [], 0.0)] for _ in range(n)]                  # (words, probs, log p) per beam
        words = np.zeros(n * K, np.float32)
        cont = self.cont(0, n * K)
        while not all(_finished(b, max_length) for img in beams for b in img):
            probs = self.step(words, cont).astype(np.float64)
            top = top_k_ascending(self.net.blobs["probs"].data[0], K)
            rows = np.arange(n * K)
            for i, img in enumerate(beams):
                if all(_finished(b, max_length) for b in img):
                    continue
                proposals = []
                for b, (ws, ps, lp) in enumerate(img):
                    if _finished((ws, ps, lp), max_length):
                        proposals.append((lp, b, None))
                        continue
                    for w in top[i * K + b]:
                        proposals.append((lp + math.log(probs[i * K + b, w]), b, int(w)))
                proposals.sort(key=lambda e: -e[0])
                new = []
                for j, (lp, b, w) in enumerate(proposals[:K]):
                    ws, ps, _ = img[b]
                    new.append((ws, ps, lp) if w is None else (ws + [w], ps + [float(probs[i * K + b, w])], lp))
                    rows[i * K + j] = i * K + b
                    words[i * K + j] = new[-1][0][-1]
                beams[i] = new
            self.reorder(rows)
            cont[:] = 1
        finals = [[(ws, ps) for ws, ps, _ in img] for img in beams]
        best = [max(img, key=lambda b: _released_log_p(b[1]))[0] for img in finals]
        return best, finals

    def caption(self, features, beam_size=1, temp=None, rng=None, max_length=MAX_LENGTH):
        """Captions for N images: beam_size 1 is greedy (as the released generation does), K > 1 beam
        search, ``temp`` sampling."""
        if temp is not None:
            return self.sample(features, temp, max_length, rng)
        if beam_size == 1:
            return self.sample(features, float("inf"), max_length)
        return self.beam_search(features, beam_size, max_length)[0]

    # --- scoring -----------------------------------------------------------------------------------
    def log_probs(self, features, captions, batch=1000, out=None):
        """log p(caption | image) for every image × caption pair → (I, C) float64: Σ over the caption's
        words (not EOS, as released) of log max(1e-12, p(word | prefix, image)). Pairs run ``batch`` at a
        time, captions sorted by length so rows finish together; pairs are enumerated lazily, so memory is
        ``out`` (I × C, e.g. a np.memmap for COCO's 5,000 × 25,000) plus one batch."""
        n_img = count(features)
        order = np.array(sorted(range(len(captions)), key=lambda c: len(captions[c])), np.int64)
        if out is None:
            out = np.zeros((n_img, len(captions)))
        elif out.shape != (n_img, len(captions)):
            raise ValueError(f"out must be {n_img} x {len(captions)} (images x captions), got {out.shape}")
        for p0 in range(0, n_img * len(captions), batch):
            k = np.arange(p0, min(p0 + batch, n_img * len(captions)))     # pair k: caption order[k // I], image k % I
            img, cap = k % n_img, order[k // n_img]
            caps = [captions[c] for c in cap]
            length = max(len(c) for c in caps)
            ids = np.zeros((len(k), length + 1), np.int64)     # column t+1 = word t; 0 pads
            for r, c in enumerate(caps):
                ids[r, 1:len(c) + 1] = c
            self.start(take(features, img))
            total = np.zeros(len(k))
            for t in range(length):
                probs = self.step(ids[:, t], self.cont(t, len(k)))
                live = np.array([t < len(c) for c in caps])
                p = probs[np.arange(len(k)), ids[:, t + 1]]
                total += np.where(live, np.log(np.maximum(p, np.float32(1e-12))), 0.0)
            out[img, cap] = total
        return out


def count(features):
    """N of an N × F array or of a dict of such arrays."""
    return len(next(iter(features.values())) if isinstance(features, dict) else features)


def take(features, rows):
    """Rows of an array or of every array of a dict."""
    if isinstance(features, dict):
        return {k: np.asarray(v)[rows] for k, v in features.items()}
    return np.asarray(features, np.float32)[rows]


def top_k_ascending(probs, k):
    """Per row, exactly ``np.argsort(row)[-k:]`` (the released beam proposals, ties included) without
    sorting all V entries: the k+1 largest by argpartition, ordered; rows where any two of those tie fall
    back to the full argsort, whose order among equal values the partition cannot reproduce."""
    n, v = probs.shape
    if v <= k + 1:
        return np.argsort(probs, axis=1)[:, -k:]
    part = np.argpartition(probs, v - k - 1, axis=1)[:, -(k + 1):]
    vals = np.take_along_axis(probs, part, 1)
    order = np.argsort(vals, axis=1)
    part, vals = np.take_along_axis(part, order, 1), np.take_along_axis(vals, order, 1)
    top = part[:, 1:]
    for r in np.flatnonzero((np.diff(vals, axis=1) == 0).any(axis=1)):
        top[r] = np.argsort(probs[r])[-k:]
    return top


def _finished(beam, max_length):
    words = beam[0]
    return bool(words) and (words[-1] == 0 or len(words) >= max_length)


def _released_log_p(probs):
    """The released gen_stats log_p: Σ log max(1e-12, p), each log in float32 as numpy does there."""
    return float(sum(np.log(np.float32(max(1e-12, p))) for p in probs))


def _softmax(logits, temp):
    """softmax(temp × logits) per row, as the released helper (shift by the max first)."""
    z = np.exp(temp * (logits - logits.max(axis=1, keepdims=True)))
    return z / np.maximum(z.sum(axis=1, keepdims=True), 1e-20)


def _draw(probs, r):
    """The first index whose cumulative probability reaches r; 1 (<unk>) if rounding leaves none."""
    i = int(np.searchsorted(np.cumsum(probs, dtype=np.float64), r, side="left"))
    return i if i < len(probs) else 1


def load_image_255(path):
    """An image file → H × W × 3 float32 RGB in [0, 255] (what matplotlib's imread gives the released
    captioner for a JPEG); grey images are tiled to three channels."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), np.float32)
    except OSError as e:
        raise ValueError(f"cannot read image '{path}': {e}") from None


def image_descriptors(image_net, paths, output="fc8", batch=None):
    """The released captioner's descriptors: cut (256 − 227)/512 of each side (the centre crop of a 256
    image), then caffe.io.Transformer: resize to the net's input, H×W×C → C×H×W, RGB → BGR, minus the
    mean 104 / 117 / 123. Runs ``batch`` images per forward (default: the net's batch) → (N, D) float32."""
    from ..io import Transformer
    data = image_net.blobs["data"]
    batch = batch or data.shape[0]
    shape = (batch,) + tuple(data.shape[1:])
    tf = Transformer({"data": shape})
    tf.set_transpose("data", (2, 0, 1))
    tf.set_channel_swap("data", (2, 1, 0))
    tf.set_mean("data", np.array([104.0, 117.0, 123.0], np.float32))
    ratio = (256.0 - 227.0) / 256.0 / 2
    out = []
    for b0 in range(0, len(paths), batch):
        chunk = paths[b0:b0 + batch]
        x = np.zeros(shape, np.float32)
        for k, path in enumerate(chunk):
            im = load_image_255(path)
            ch, cw = int(im.shape[0] * ratio + 0.5), int(im.shape[1] * ratio + 0.5)
            x[k] = tf.preprocess("data", im[ch:im.shape[0] - ch, cw:im.shape[1] - cw])
        if data.shape != shape:
            data.reshape(*shape)
        image_net.forward(data=x)
        out.append(image_net.blobs[output].data[:len(chunk)].copy())
    return np.concatenate(out) if out else np.zeros((0,) + image_net.blobs[output].shape[1:], np.float32)


def read_features(path):
    """Precomputed image descriptors (N × D, e.g. fc8) from .npy, .npz (the released cache's
    'descriptors') or .h5 (a 'descriptors' dataset, or the file's only dataset)."""
    try:
        if path.endswith(".npy"):
            x = np.load(path)
        elif path.endswith(".npz"):
            with np.load(path) as z:
                x = z["descriptors"] if "descriptors" in z else z[z.files[0]]
        elif path.endswith((".h5", ".hdf5")):
            import h5py
            with h5py.File(path, "r") as f:
                names = list(f)
                name = "descriptors" if "descriptors" in f else names[0] if len(names) == 1 else None
                if name is None:
                    raise ValueError(f"{path}: several datasets ({names}) and none named 'descriptors'")
                x = f[name][()]
        else:
            raise ValueError(f"{path}: features must be .npy, .npz or .h5")
    except (OSError, KeyError) as e:
        raise ValueError(f"cannot read features from '{path}': {e}") from None
    if x.ndim != 2:
        raise ValueError(f"{path}: features must be N x D, got shape {x.shape}")
    return x.astype(np.float32)


def coco_results(image_ids, captions, vocab):
    """The COCO results format, plus the word ids: [{'image_id', 'caption', 'word_ids'}]."""
    from ..data.captions import sentence
    return [{"image_id": i, "caption": sentence(c, vocab), "word_ids": [int(w) for w in c]}
            for i, c in zip(image_ids, captions)]


def read_references(path):
    """A COCO captions file → {image id: [captions]}."""
    from ..data.captions import read_coco
    return {i: caps for i, _, caps in read_coco(path, "").items}


def read_results(path, refs):
    """A COCO results file → {image id: caption}; every image of ``refs`` needs exactly one result."""
    import json
    with open(path) as f:
        items = json.load(f)
    hyps = {}
    for k, r in enumerate(items):
        if not isinstance(r, dict) or "image_id" not in r or "caption" not in r:
            raise ValueError(f"{path}: result {k} lacks 'image_id' or 'caption'")
        if r["image_id"] in hyps:
            raise ValueError(f"{path}: image {r['image_id']} has two results (result {k})")
        hyps[r["image_id"]] = r["caption"]
    missing = [i for i in refs if i not in hyps]
    extra = [i for i in hyps if i not in refs]
    if missing or extra:
        raise ValueError(f"{path}: {len(missing)} reference images without a result (e.g. {missing[:3]}), "
                         f"{len(extra)} results for unknown images (e.g. {extra[:3]})")
    return hyps


def nearest_neighbours(train_features, test_features, block=1024):
    """The 1-NN caption baseline's lookup: for each test image the training image nearest in feature
    space (Euclidean), computed in blocks of test images → (N_test,) indices."""
    sq = (train_features.astype(np.float64) ** 2).sum(1)
    out = []
    for b0 in range(0, len(test_features), block):
        f = test_features[b0:b0 + block].astype(np.float64)
        out.append(np.argmin(sq[None, :] - 2 * f @ train_features.T.astype(np.float64), axis=1))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def retrieval(captioner, features, captions, caption_image, batch=1000, scratch_dir=None):
    """Both retrieval directions with the released score: features (I × D), captions (word-id lists),
    caption_image (C,) → {'caption to image': summary, 'image to caption': summary} (R@1/5/10/50,
    median and mean rank, 1-indexed). The I × C log-probability matrix is the only large array: with
    ``scratch_dir`` it lives in a temporary file there (np.memmap; ranks are computed in blocks), so
    COCO's test split (5,000 images × 25,000 captions, 1 GB) needs no more than a batch in memory."""
    import tempfile
    from ..metrics.retrieval import recall_summary, retrieval_ranks
    with tempfile.TemporaryDirectory(dir=scratch_dir) if scratch_dir else _no_dir() as folder:
        out = None if folder is None else np.memmap(os.path.join(folder, "log_p.f64"), np.float64, "w+",
                                                    shape=(len(features), len(captions)))
        c2i, i2c = retrieval_ranks(captioner.log_probs(features, captions, batch, out=out), caption_image)
        del out
    return {"caption to image": recall_summary(c2i), "image to caption": recall_summary(i2c)}


@contextlib.contextmanager
def _no_dir():
    yield None


def evaluate(captioner, features, references, vocab, beam_size=1, with_retrieval=False, batch=100,
             baseline=None):
    """Generation (and retrieval) on a test set: ``references`` [(image id, [captions])] aligned with
    ``features``; ``baseline`` optional {name: {image id: caption}} scored beside the model.
    → {'captioning': {name: scores}, 'retrieval': {...}, 'results': COCO results}."""
    from ..data.captions import encode, tokenize
    from ..metrics.caption import score_captions
    ids = [i for i, _ in references]
    words = []
    for b0 in range(0, len(features), batch):
        words += captioner.caption(features[b0:b0 + batch], beam_size=beam_size)
    results = coco_results(ids, words, vocab)
    refs = dict(references)
    name = "LRCN greedy" if beam_size == 1 else f"LRCN beam {beam_size}"
    out = {"captioning": {name: score_captions(refs, {r["image_id"]: r["caption"] for r in results})}}
    for other, hyps in (baseline or {}).items():
        out["captioning"][other] = score_captions(refs, hyps)
    if with_retrieval:
        index = {w: k for k, w in enumerate(vocab)}
        caps = [(k, encode(tokenize(c), index)) for k, (_, cs) in enumerate(references) for c in cs]
        out["retrieval"] = retrieval(captioner, features, [c for _, c in caps], np.array([k for k, _ in caps]))
    out["results"] = results
    return out


def format_tables(results):
    """The generation and retrieval tables (shaped like the paper's Tables 2–4) as text."""
    metrics = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D", "ROUGE-L")
    lines = ["", "Generation (%)".ljust(12) + "".join(m.rjust(9) for m in metrics)]
    for name, r in results["captioning"].items():
        lines.append(name.ljust(12) + "".join(f"{100 * r[m]:9.2f}" for m in metrics))
    if "retrieval" not in results:
        return "\n".join(lines)
    lines += ["", "Retrieval".ljust(20) + "".join(k.rjust(9) for k in ("R@1", "R@5", "R@10", "Medr"))]
    for name, r in results["retrieval"].items():
        lines.append(name.ljust(20) + "".join(f"{100 * r[k]:9.1f}" for k in ("R@1", "R@5", "R@10"))
                     + f"{r['median rank']:9.1f}")
    return "\n".join(lines)
