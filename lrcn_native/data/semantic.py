"""A video's semantic representation (the CRF's slots: subject, verb, object, tool, …) with its reference
sentences → the HDF5 streams of the paper's video description nets (CAFFE_FACTS.md §1, Table 5).

Input format (ours; JSON, UTF-8)::

    {"slots": [["verb", ["cut", "take", ...]], ["object", ["cucumber", ...]], ...],   # slot order, labels
     "videos": [{"id": "s13-d21/3",
                 "labels": {"verb": "cut", "object": "cucumber", ...},    # the CRF-max (MAP) tuple
                 "probs": {"verb": [0.7, 0.2, ...], ...},                 # optional: per slot, one probability
                                                                          # per label of that slot, in order
                 "sentences": ["The person cuts the cucumber.", ...]}]}

A video's representation lives in the label space of all slots side by side: slot s's labels take
L_s consecutive positions starting at ``offsets[s]`` (L = Σ L_s). The three inputs of Table 5 are:
(a) the MAP labels as a word sequence (position ids, one a step), (b) their one-hot vectors concatenated
(L, one 1 per slot), (c) the marginal probabilities concatenated (L, each slot summing to 1).

Streams (the captioning layout, data/captions.py: aligned, padded to T, ``buffer_size`` side by side):
* decoder nets (b), (c): ``<split>_sentences/`` holds cont_sentence / input_sentence / target_sentence
  exactly as captioning writes them (T = max_words), and ``<split>_semantic/`` one row per sequence in the
  same order, datasets ``crf_max`` and (when every video has probabilities) ``crf_prob`` (rows × L),
  read by a second HDF5Data layer with batch_size = buffer_size (the layout of the mean-pool net's
  mean_fc7, lrcn_original/youtube/poolmean.prototxt).
* encoder-decoder (a): ``<split>_encdec/``, sequences of S + T steps (S = slots): the S encoder steps
  read the MAP labels (``input_labels``: position ids; −1 elsewhere), then the decoder writes the
  sentence (``input_sentence`` 0 then the word ids, −1 on encoder steps and padding; ``target_sentence``
  −1 on encoder steps, then the word ids and EOS 0). ``cont_sentence`` is 0 only at the first encoder
  step, so the decoder starts from the encoder's final state; ``stage_indicators`` is 0 while encoding, 1
  while decoding (S2VT's layout, lrcn_original/s2vt; an Embed turns −1 into a zero vector, which is
  the padding gate).
"""
import json
import os
import re

import numpy as np

from ..fileio import atomic_write_text
from . import captions as C

# Per-slot probabilities must sum to 1 within this: CRF marginals printed with 4 decimals are each off by
# ≤ 5e-5, so a slot of 100 labels sums to 1 ± 0.005; a dropped label with mass ≥ 0.01 is still caught.
PROB_TOLERANCE = 1e-2
ENCDEC_FIELDS = ("cont_sentence", "input_labels", "input_sentence", "stage_indicators", "target_sentence")
_ENCDEC_PAD = {"input_labels": -1, "input_sentence": -1, "target_sentence": -1}


class SemanticDataError(ValueError):
    """Bad semantic-representation data: names the file, the video and the slot."""


class Video:
    """One video (segment): ``labels`` the MAP label index per slot, ``probs`` a probability vector per
    slot (float64) or None, ``sentences`` its reference sentences (raw text)."""

    def __init__(self, vid, labels, probs, sentences):
        self.id, self.labels, self.probs, self.sentences = vid, tuple(labels), probs, list(sentences)


class SemanticSet:
    """Videos over named slots. ``slots``: [(name, [labels])]; ``source`` names the file (for errors)."""

    def __init__(self, slots, videos, source):
        self.slots, self.videos, self.source = [(n, list(ls)) for n, ls in slots], videos, source
        self.offsets = np.cumsum([0] + [len(ls) for _, ls in self.slots])[:-1].tolist()
        self.dim = sum(len(ls) for _, ls in self.slots)

    def label_positions(self):
        """(a)'s encoder input: N × S position ids of the MAP labels in the L-wide label space."""
        return np.array([[o + k for o, k in zip(self.offsets, v.labels)] for v in self.videos], np.int64)

    def crf_max(self):
        """(b)'s static input: N × L, one-hot per slot (float32)."""
        out = np.zeros((len(self.videos), self.dim), np.float32)
        np.put_along_axis(out, self.label_positions(), 1.0, axis=1)
        return out

    def has_probs(self):
        return bool(self.videos) and all(v.probs is not None for v in self.videos)

    def crf_prob(self):
        """(c)'s static input: N × L, each slot's marginal probabilities (float32)."""
        missing = [v.id for v in self.videos if v.probs is None]
        if missing:
            raise SemanticDataError(f"{self.source}: {len(missing)} videos have no probabilities "
                                    f"(first: video {missing[0]}); the CRF-prob input needs them for every video")
        return np.array([np.concatenate(v.probs) for v in self.videos], np.float32)

    def tuple_words(self, video):
        """A video's MAP labels as words, in slot order."""
        return [ls[k] for (_, ls), k in zip(self.slots, video.labels)]


def _check_slot(where, name, labels, label, probs):
    """A video's slot → (label index, probability vector or None), errors naming the video and slot."""
    if label not in labels:
        shown = ", ".join(labels[:10]) + (", ..." if len(labels) > 10 else "")
        raise SemanticDataError(f"{where}, slot '{name}': unknown label {label!r} (labels: {shown})")
    if probs is None:
        return labels.index(label), None
    try:
        p = np.asarray(probs, np.float64)
    except (TypeError, ValueError):
        raise SemanticDataError(f"{where}, slot '{name}': probabilities must be numbers") from None
    if p.shape != (len(labels),):
        raise SemanticDataError(f"{where}, slot '{name}': {p.size if p.ndim == 1 else p.shape} probabilities "
                                f"for {len(labels)} labels")
    if not np.isfinite(p).all() or (p < 0).any():
        raise SemanticDataError(f"{where}, slot '{name}': probabilities must be finite and non-negative")
    if abs(p.sum() - 1) > PROB_TOLERANCE:
        raise SemanticDataError(f"{where}, slot '{name}': probabilities sum to {p.sum():.6g}, not 1 "
                                f"(tolerance {PROB_TOLERANCE})")
    return labels.index(label), p


def make_video(source, slots, vid, labels, probs, sentences):
    """A Video from label names (slot name → label) and optional probabilities (slot name → vector),
    checked against ``slots``."""
    where = f"{source}: video {vid}"
    names = [n for n, _ in slots]
    for extra in [s for s in list(labels) + list(probs or {}) if s not in names]:
        raise SemanticDataError(f"{where}: unknown slot '{extra}' (slots: {', '.join(names)})")
    idx, ps = [], []
    for name, ls in slots:
        if name not in labels:
            raise SemanticDataError(f"{where}, slot '{name}': no label")
        k, p = _check_slot(where, name, ls, labels[name], None if probs is None else probs.get(name))
        if probs is not None and p is None:
            raise SemanticDataError(f"{where}, slot '{name}': no probabilities (the video has them for other slots)")
        idx.append(k)
        ps.append(p)
    if not sentences:
        raise SemanticDataError(f"{where}: no reference sentences")
    return Video(vid, idx, None if probs is None else ps, sentences)


def read_semantic(path):
    """Our JSON format (module docstring) → SemanticSet; every error names the file, the video and the slot."""
    try:
        doc = json.loads(C._read_text(path))
    except json.JSONDecodeError as e:
        raise SemanticDataError(f"{path}:{e.lineno}:{e.colno}: bad JSON: {e.msg}") from None
    if not isinstance(doc, dict) or "slots" not in doc or "videos" not in doc:
        raise SemanticDataError(f"{path}: expected an object with 'slots' and 'videos'")
    slots = []
    for k, s in enumerate(doc["slots"]):
        if (not isinstance(s, list) or len(s) != 2 or not isinstance(s[0], str) or not isinstance(s[1], list)
                or not s[1] or not all(isinstance(x, str) for x in s[1])):
            raise SemanticDataError(f"{path}: slot {k} must be [name, [labels...]], got {str(s)[:60]}")
        if len(set(s[1])) != len(s[1]):
            raise SemanticDataError(f"{path}: slot '{s[0]}' lists a label twice")
        slots.append((s[0], s[1]))
    videos, seen = [], set()
    for k, v in enumerate(doc["videos"]):
        if not isinstance(v, dict) or not isinstance(v.get("labels"), dict):
            raise SemanticDataError(f"{path}: video {k} needs an object 'labels' (slot → label)")
        vid = v.get("id", k)
        if vid in seen:
            raise SemanticDataError(f"{path}: video {vid} appears twice")
        seen.add(vid)
        videos.append(make_video(path, slots, vid, v["labels"], v.get("probs"), v.get("sentences", [])))
    return SemanticSet(slots, videos, path)


def write_semantic(path, sset):
    """A SemanticSet → our JSON format (atomically)."""
    videos = []
    for v in sset.videos:
        item = {"id": v.id, "labels": {n: ls[k] for (n, ls), k in zip(sset.slots, v.labels)}}
        if v.probs is not None:
            item["probs"] = {n: [round(float(x), 6) for x in p] for (n, _), p in zip(sset.slots, v.probs)}
        item["sentences"] = v.sentences
        videos.append(item)
    atomic_write_text(path, json.dumps({"slots": [[n, ls] for n, ls in sset.slots], "videos": videos}, indent=1))


# --- the TACoS multilevel / SMT-baseline files --------------------------------------------------------
_CRF_ITEM = re.compile(r"^(\S+):([-+0-9.eE]+)$")


def read_tacos_smt(sr_path, en_path, slot_names, ids_path=None, crf_path=None, slots=None):
    """The SMT baseline's parallel text (Rohrbach et al. 2013; TACoS multilevel's descriptions aligned with
    semantic representations) → SemanticSet.

    * ``sr_path``: one line per sentence, the segment's labels separated by spaces in the order of
      ``slot_names`` (labels themselves hold no spaces, as the release writes them: ``cutting-board``);
    * ``en_path``: the sentence on the same line;
    * ``ids_path`` (optional): the segment id on the same line: lines sharing an id are one video with
      several references (they must carry the same labels); without it every line is its own video;
    * ``crf_path`` (optional): the CRF's marginals, one line per video in first-appearance order,
      slots separated by `` | ``, each ``label:prob`` pairs separated by spaces (labels not listed have
      probability 0).
    Each slot's labels are those seen in the files, sorted, unless ``slots`` ([(name, labels)], e.g. the
    training split's) gives them. Errors name the file and line, or the video and slot."""
    sr = C._read_text(sr_path).splitlines()
    en = C._read_text(en_path).splitlines()
    ids = C._read_text(ids_path).splitlines() if ids_path else [str(i + 1) for i in range(len(sr))]
    for path, lines in ((en_path, en), (ids_path, ids)):
        if len(lines) != len(sr):
            raise SemanticDataError(f"{path}: {len(lines)} lines, but {sr_path} has {len(sr)}")
    rows = {}
    for n, (line, sentence, vid) in enumerate(zip(sr, en, ids)):
        labels = line.split()
        if len(labels) != len(slot_names):
            raise SemanticDataError(f"{sr_path}:{n + 1}: {len(labels)} labels for the {len(slot_names)} slots "
                                    f"{' '.join(slot_names)}")
        vid = vid.strip()
        if vid in rows and rows[vid][0] != labels:
            raise SemanticDataError(f"{sr_path}:{n + 1}: segment {vid} has labels {' '.join(labels)} here and "
                                    f"{' '.join(rows[vid][0])} on an earlier line")
        rows.setdefault(vid, (labels, []))[1].append(sentence)
    crf = _read_crf(crf_path, slot_names, len(rows)) if crf_path else None
    if slots is None:
        label_sets = [set() for _ in slot_names]
        for labels, _ in rows.values():
            for s, lab in zip(label_sets, labels):
                s.add(lab)
        for video in crf or []:
            for s, dist in zip(label_sets, video):
                s.update(dist)
        slots = [(name, sorted(s)) for name, s in zip(slot_names, label_sets)]
    elif [n for n, _ in slots] != list(slot_names):
        raise SemanticDataError(f"{sr_path}: slots {' '.join(slot_names)} differ from the given "
                                f"{' '.join(n for n, _ in slots)}")
    videos = []
    for k, (vid, (labels, sentences)) in enumerate(rows.items()):
        probs = None
        if crf is not None:
            for s, (name, ls) in enumerate(slots):
                for lab in set(crf[k][s]) - set(ls):
                    raise SemanticDataError(f"{crf_path}: video {vid}, slot '{name}': unknown label {lab!r}")
            probs = {name: [crf[k][s].get(lab, 0.0) for lab in ls] for s, (name, ls) in enumerate(slots)}
        videos.append(make_video(crf_path or sr_path, slots, vid, dict(zip(slot_names, labels)), probs, sentences))
    return SemanticSet(slots, videos, sr_path)


def _read_crf(path, slot_names, n_videos):
    lines = [(n, x) for n, x in enumerate(C._read_text(path).splitlines()) if x.strip()]
    if len(lines) != n_videos:
        raise SemanticDataError(f"{path}: {len(lines)} lines of marginals for {n_videos} videos")
    out = []
    for n, line in lines:
        parts = line.split(" | ")
        if len(parts) != len(slot_names):
            raise SemanticDataError(f"{path}:{n + 1}: {len(parts)} slots, expected {len(slot_names)} "
                                    f"({' | '.join(slot_names)})")
        video = []
        for name, part in zip(slot_names, parts):
            dist = {}
            for item in part.split():
                m = _CRF_ITEM.match(item)
                if not m:
                    raise SemanticDataError(f"{path}:{n + 1}, slot '{name}': expected label:prob, got {item!r}")
                dist[m.group(1)] = float(m.group(2))
            video.append(dist)
        out.append(video)
    return out


# --- streams -------------------------------------------------------------------------------------------

def encdec_fields(positions, ids, max_words=C.MAX_WORDS):
    """(a)'s sequence of one (video, sentence): S encoder steps then the decoder's ``max_words`` steps
    (padded or truncated as captioning does) → {field: list of S + max_words}."""
    dec = C.sequence_fields(ids, "", max_words)
    S = len(positions)
    return {"cont_sentence": [0] + [1] * S + dec["cont_sentence"][1:],
            "input_labels": list(positions) + [-1] * max_words,
            "input_sentence": [-1] * S + dec["input_sentence"],
            "stage_indicators": [0] * S + dec["stage_indicators"],
            "target_sentence": [-1] * S + dec["target_sentence"]}


def write_streams(out_dir, split, sset, vocab, max_words=C.MAX_WORDS, buffer_size=C.BUFFER_SIZE, seed=3):
    """Writes one split's streams under ``out_dir`` (module docstring): ``<split>_sentences/``,
    ``<split>_semantic/`` and ``<split>_encdec/`` (none may exist). → summary dict."""
    import h5py
    dirs = {k: os.path.join(out_dir, f"{split}_{k}") for k in ("sentences", "semantic", "encdec")}
    for d in dirs.values():
        if os.path.exists(d):
            raise SemanticDataError(f"output directory already exists: {d}")
    index = {w: i for i, w in enumerate(vocab)}
    pairs = [(k, C.encode(C.tokenize(s, f"{sset.source}: video {v.id}, sentence {j}"), index))
             for k, v in enumerate(sset.videos) for j, s in enumerate(v.sentences)]
    order = C.pair_order(len(pairs), buffer_size, True, True, seed)
    positions = sset.label_positions()
    sentences, encdec = [], []
    for p in order:
        k, ids = pairs[p]
        f = C.sequence_fields(ids, "", max_words)
        sentences.append(np.array([f[name] for name in C.FIELDS], np.float64).T)
        f = encdec_fields(positions[k], ids, max_words)
        encdec.append(np.array([f[name] for name in ENCDEC_FIELDS], np.float64).T)
    for d in dirs.values():
        os.makedirs(d)
    files, rows = C.write_sequences(dirs["sentences"], sentences, C.FIELDS, C._PAD, buffer_size)
    C.write_sequences(dirs["encdec"], encdec, ENCDEC_FIELDS, _ENCDEC_PAD, buffer_size)
    videos = np.array([pairs[p][0] for p in order])
    # Aligned sequences: sentence block b (rows b·T … b·T + T − 1) holds sequences b·B … b·B + B − 1, so
    # semantic row j belongs to the sequence in stream j mod B of block j div B.
    with h5py.File(os.path.join(dirs["semantic"], "batch_0.h5"), "w") as h5:
        h5.create_dataset("crf_max", data=sset.crf_max()[videos].astype(np.float64))
        if sset.has_probs():
            h5.create_dataset("crf_prob", data=sset.crf_prob()[videos].astype(np.float64))
        h5.create_dataset("video", data=videos)
    atomic_write_text(os.path.join(dirs["semantic"], "hdf5_chunk_list.txt"),
                      os.path.join(dirs["semantic"], "batch_0.h5") + "\n")
    return {"videos": len(sset.videos), "sequences": len(order), "rows": rows, "files": files,
            "probs": sset.has_probs()}


def prepare(splits, out_dir, min_count=C.MIN_COUNT, **stream_args):
    """``splits`` = [(name, SemanticSet)], the first the training split (its sentences give the
    vocabulary, its slots the label space every split must share). Writes vocabulary.txt, slots.json and
    each split's streams under ``out_dir``. → {split: summary, 'vocabulary': [...], 'slots': [...]}."""
    train = splits[0][1]
    for name, s in splits[1:]:
        if s.slots != train.slots:
            raise SemanticDataError(f"{s.source}: its slots/labels differ from the training split's "
                                    f"({train.source}); convert both with the same label lists")
    vocab = C.build_vocabulary((C.tokenize(x, f"{train.source}: video {v.id}") for v in train.videos
                                for x in v.sentences), min_count)
    os.makedirs(out_dir, exist_ok=True)
    C.write_vocabulary(os.path.join(out_dir, "vocabulary.txt"), vocab)
    atomic_write_text(os.path.join(out_dir, "slots.json"), json.dumps([[n, ls] for n, ls in train.slots]))
    out = {name: write_streams(out_dir, name, s, vocab, **stream_args) for name, s in splits}
    out.update(vocabulary=vocab, slots=train.slots)
    return out
