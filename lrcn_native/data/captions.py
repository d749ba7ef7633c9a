"""Captions → the LRCN captioning data: tokenising, the vocabulary and the HDF5 sentence streams.

Semantics follow the released `coco_to_hdf5_data.py` / `hdf5_sequence_generator.py` (CAFFE_FACTS.md §1):

* Tokens: the caption split on runs of non-word characters (ASCII ``\\W+``, Python 2's default), the
  punctuation runs kept as tokens, lower-cased, empty pieces dropped, a final "." token removed, then each token
  stripped (the released code strips where it counts and encodes words).
* Vocabulary: the training words with count ≥ 5, sorted by count (descending) then alphabetically,
  after ``<unk>``. vocabulary.txt holds one word a line; word id = line index + 1, so 0 is EOS/BOS.
* Streams: one sequence per (image, caption) pair, in a shuffled order; with ``aligned`` (the default)
  every sequence is padded or truncated to T = 20 and the pairs are topped up (random repeats) to a
  multiple of the buffer size, so that row block k of every stream holds sentence k and the image list
  lines up with the ImageData layer's batches of 100. Each sequence has the fields
  ``cont_sentence`` (0, 1…1, 0-pad), ``input_sentence`` (0, ids…, −1 pad), ``target_sentence``
  (ids…, 0, −1 pad), ``stage_indicators`` (1 × (len+1), 0-pad), ``hashed_image_path``.
* Buffering: ``buffer_size`` streams side by side; a stream takes the next pair (in stream order at that
  time step) when its current one ends; cells after the data runs out hold the pad values. The rows are
  split into files of ``rows_per_file`` (T × buffer arrays, float64) with the datasets above plus
  ``cont`` (0 where a sequence starts) and ``buffer_size``. Beside them: hdf5_chunk_list.txt,
  image_list.txt, image_list.with_dummy_labels.txt ("path hash") and vocabulary.txt.

Differences from the released script, on purpose: the random order comes from Python 3's ``random``
(seed 3), so it is not the Python 2 order; a sequence that crosses the last file's end is kept (the
released writer stops once every pair was handed out and loses it); bad input is an error naming the file
and item instead of a warning or a crash.
"""
import hashlib
import heapq
import json
import os
import random
import re

import numpy as np

UNK = "<unk>"
MAX_WORDS = 20
BUFFER_SIZE = 100
ROWS_PER_FILE = 100000
MIN_COUNT = 5
MAX_HASH = 100000
_SPLIT = re.compile(r"(\W+)", re.ASCII)
# Field order of a sequence: sorted names, as the released generator iterates them.
FIELDS = ("cont_sentence", "hashed_image_path", "input_sentence", "stage_indicators", "target_sentence")
_PAD = {"input_sentence": -1, "target_sentence": -1}


class CaptionDataError(ValueError):
    """Bad caption data: names the file and the item."""


def tokenize(caption, where="caption"):
    """A caption → its lower-case tokens, words and punctuation runs, without a trailing '.'."""
    tokens = [s.lower() for s in _SPLIT.split(caption.strip()) if s.strip()]
    if tokens and tokens[-1] == ".":   # before stripping, as released: "a dog ." keeps its " ." token
        tokens = tokens[:-1]
    if not tokens:
        raise CaptionDataError(f"{where}: empty caption {caption!r}")
    return [t.strip() for t in tokens]


def build_vocabulary(sentences, min_count=MIN_COUNT):
    """Token lists → the vocabulary list: ``<unk>`` then the words seen ≥ min_count times, most frequent
    first, ties alphabetical. Word w has id ``vocab.index(w) + 1`` in the streams."""
    counts = {}
    for sentence in sentences:
        for word in sentence:
            counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))
    return [UNK] + [w for w in ranked if counts[w] >= min_count]


def encode(tokens, index):
    """Tokens → stream ids (vocabulary index + 1; unknown words → the id of ``<unk>``, 1).
    ``index`` maps word → vocabulary index (``{w: i for i, w in enumerate(vocab)}``)."""
    unk = index[UNK]
    return [index.get(w, unk) + 1 for w in tokens]


def decode(ids, vocab):
    """Stream ids → words (stops at EOS 0)."""
    words = []
    for i in ids:
        if i == 0:
            break
        words.append(vocab[i - 1])
    return words


def sentence(ids, vocab):
    """The released captioner's sentence: words joined, first letter upper-cased, '.' when the ids end in
    EOS, '...' when they were cut at the length limit."""
    text = " ".join(decode(ids, vocab))
    ended = 0 in list(ids)
    if not text:
        return "." if ended else ""
    return text[0].upper() + text[1:] + ("." if ended else "...")


def write_vocabulary(path, vocab):
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(w + "\n" for w in vocab)


def read_vocabulary(path):
    """vocabulary.txt → the word list (``<unk>`` first). Errors name the file and line."""
    words = _read_text(path).splitlines()
    vocab = [w.strip() for w in words]
    for i, w in enumerate(vocab):
        if not w:
            raise CaptionDataError(f"{path}:{i + 1}: empty vocabulary line")
    if not vocab or vocab[0] != UNK:
        raise CaptionDataError(f"{path}: the first word must be {UNK}, as the released vocabulary files have it")
    if len(set(vocab)) != len(vocab):
        raise CaptionDataError(f"{path}: repeated words")
    return vocab


def _read_text(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise CaptionDataError(f"{path}:{line}: not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 1]!r})") from None


# --- datasets: a list of (image_id, image path, [caption strings]) ---------------------------------------

class CaptionSet:
    """Images with their reference captions. ``items``: [(image_id, path, [raw captions])]; ``source``
    names the file the captions came from (for errors)."""

    def __init__(self, items, source):
        self.items, self.source = items, source

    def tokenized(self):
        """[(image_id, path, [token lists])], errors naming the file and the image."""
        out = []
        for image_id, path, captions in self.items:
            where = f"{self.source}: image {image_id}"
            if not captions:
                raise CaptionDataError(f"{where} ({path}) has no captions")
            out.append((image_id, path, [tokenize(c, f"{where}, caption {k}") for k, c in enumerate(captions)]))
        return out

    def check_images(self, skip_missing=False):
        """Missing image files are an error listing them, or with ``skip_missing`` a returned list (the
        released script's behaviour, but counted, never silent) with those images removed."""
        missing = [(i, p) for i, p, _ in self.items if not os.path.isfile(p)]
        if missing and not skip_missing:
            shown = ", ".join(f"image {i}: {p}" for i, p in missing[:5])
            raise CaptionDataError(f"{self.source}: {len(missing)} of {len(self.items)} images not found "
                                   f"({shown}{', ...' if len(missing) > 5 else ''})")
        gone = {i for i, _ in missing}
        self.items = [it for it in self.items if it[0] not in gone]
        return missing


def _load_json(path):
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise CaptionDataError(f"{path}:{e.lineno}:{e.colno}: bad JSON: {e.msg}") from None


def read_coco(path, image_root, image_ids=None):
    """A COCO ``captions_*.json`` → CaptionSet (images in file order, or in the order of ``image_ids``,
    the released split lists)."""
    doc = _load_json(path)
    try:
        images = {im["id"]: im["file_name"] for im in doc["images"]}
        captions = {i: [] for i in images}
        for k, ann in enumerate(doc["annotations"]):
            if ann["image_id"] not in captions:
                raise CaptionDataError(f"{path}: annotation {k} refers to unknown image {ann['image_id']}")
            captions[ann["image_id"]].append(ann["caption"])
    except (KeyError, TypeError) as e:
        raise CaptionDataError(f"{path}: not a COCO captions file (missing {e})") from None
    ids = list(images) if image_ids is None else list(image_ids)
    for i in ids:
        if i not in images:
            raise CaptionDataError(f"{path}: split image id {i} is not in the file")
    return CaptionSet([(i, os.path.join(image_root, images[i]), captions[i]) for i in ids], path)


def read_karpathy(path, image_root, split):
    """A Karpathy-split ``dataset_*.json`` (Flickr30k, Flickr8k, COCO) → the CaptionSet of one split
    ('train', 'val', 'test'; 'restval' counts as train in that split's convention only if asked)."""
    doc = _load_json(path)
    items = []
    try:
        for im in doc["images"]:
            if im["split"] == split:
                folder = im.get("filepath", "")
                image_id = im.get("cocoid", im.get("imgid"))
                items.append((image_id, os.path.join(image_root, folder, im["filename"]),
                              [s["raw"] for s in im["sentences"]]))
    except (KeyError, TypeError) as e:
        raise CaptionDataError(f"{path}: not a Karpathy-split file (missing {e})") from None
    return CaptionSet(items, path)


def read_flickr_tokens(path, image_root, filenames=None):
    """Flickr30k's original token file (``<file>.jpg#<k>\\t<caption>`` per line) → CaptionSet, image ids
    = file names; ``filenames`` restricts and orders the images."""
    captions = {}
    for n, line in enumerate(_read_text(path).splitlines()):
        if not line.strip():
            continue
        key, tab, text = line.partition("\t")
        name, hashmark, _ = key.partition("#")
        if not tab or not hashmark:
            raise CaptionDataError(f"{path}:{n + 1}: expected '<image>#<k>\\t<caption>', got {line[:60]!r}")
        captions.setdefault(name, []).append(text)
    names = list(captions) if filenames is None else list(filenames)
    for name in names:
        if name not in captions:
            raise CaptionDataError(f"{path}: image {name} has no captions in the file")
    return CaptionSet([(name, os.path.join(image_root, name), captions[name]) for name in names], path)


# --- streams -------------------------------------------------------------------------------------------

def image_hash(path):
    """The released 'hashed_image_path': sha1 of the path string, mod 100000."""
    return int(hashlib.sha1(path.encode("utf-8")).hexdigest(), 16) % MAX_HASH


def sequence_fields(ids, image_path, max_words=MAX_WORDS, pad=True, truncate=True):
    """One caption's stream ids → {field: list}, padded and truncated to ``max_words`` as released."""
    n = max_words - (len(ids) + 1) if pad else 0
    n = max(n, 0)
    out = {"stage_indicators": [1] * (len(ids) + 1) + [0] * n,
           "cont_sentence": [0] + [1] * len(ids) + [0] * n,
           "input_sentence": [0] + list(ids) + [-1] * n,
           "target_sentence": list(ids) + [0] + [-1] * n}
    if truncate:
        out = {k: v[:max_words] for k, v in out.items()}
    out["hashed_image_path"] = [image_hash(image_path)] * len(out["input_sentence"])
    return out


def pair_order(num_pairs, buffer_size=BUFFER_SIZE, aligned=True, shuffle=True, seed=3):
    """The order in which (image, caption) pairs enter the streams: with ``aligned`` the count is topped
    up to a multiple of ``buffer_size`` by random repeats; then shuffled."""
    rng = random.Random(seed)
    order = list(range(num_pairs))
    if aligned and num_pairs % buffer_size:
        order += [rng.randint(0, num_pairs - 1) for _ in range(buffer_size - num_pairs % buffer_size)]
    if shuffle:
        rng.shuffle(order)
    return order


def interleave(sequences, buffer_size):
    """Sequence lengths' placement over ``buffer_size`` side-by-side streams → ([(start row, stream)] per
    sequence, total rows). Stream s takes the next sequence at the step its previous one ends; ties go
    to the lower stream, as the released generator's time-then-stream loop does."""
    heap = [(0, s) for s in range(buffer_size)]
    starts = []
    for seq in sequences:
        t, s = heapq.heappop(heap)
        starts.append((t, s))
        heapq.heappush(heap, (t + len(seq), s))
    return starts, max(t for t, _ in heap) if sequences else 0


def write_sequences(out_dir, seqs, fields, pads, buffer_size=BUFFER_SIZE, rows_per_file=ROWS_PER_FILE):
    """Sequences (each L × F, columns in ``fields`` order) interleaved over ``buffer_size`` streams into
    ``out_dir``/batch_<k>.h5 files of ``rows_per_file`` rows (T × buffer float64 datasets named by
    ``fields``, plus ``cont`` and ``buffer_size``; cells no sequence covers hold ``pads.get(field, 0)``) and
    hdf5_chunk_list.txt. → (file paths, total rows)."""
    import h5py
    starts, rows = interleave(seqs, buffer_size)
    files = []
    for f0 in range(0, rows, rows_per_file):
        n = min(rows_per_file, rows - f0)
        block = np.empty((n, buffer_size, len(fields)), np.float64)
        block[...] = [pads.get(f, 0) for f in fields]
        cont = np.zeros((n, buffer_size), np.float64)
        for seq, (t, s) in zip(seqs, starts):
            lo, hi = max(t, f0), min(t + len(seq), f0 + n)
            if lo < hi:
                block[lo - f0:hi - f0, s] = seq[lo - t:hi - t]
                cont[lo - f0:hi - f0, s] = 1
                if t >= f0:
                    cont[t - f0, s] = 0
        name = os.path.join(out_dir, f"batch_{len(files)}.h5")
        with h5py.File(name, "w") as h5:
            h5.create_dataset("cont", data=cont)
            h5.create_dataset("buffer_size", data=np.array([buffer_size], np.int64))
            for i, field in enumerate(fields):
                h5.create_dataset(field, data=np.ascontiguousarray(block[:, :, i]))
        files.append(name)
    with open(os.path.join(out_dir, "hdf5_chunk_list.txt"), "w") as f:
        f.writelines(name + "\n" for name in files)
    return files, rows


def write_streams(out_dir, caption_set, vocab, max_words=MAX_WORDS, buffer_size=BUFFER_SIZE,
                  aligned=True, shuffle=True, seed=3, rows_per_file=ROWS_PER_FILE):
    """Writes the HDF5 stream files and lists of one split into ``out_dir`` (which must not exist, as
    released). Returns a summary dict (pairs, padded, truncated, files, rows)."""
    if os.path.exists(out_dir):
        raise CaptionDataError(f"output directory already exists: {out_dir}")
    index = {w: i for i, w in enumerate(vocab)}
    pairs = [(path, encode(tokens, index)) for _, path, captions in caption_set.tokenized() for tokens in captions]
    if not pairs:
        raise CaptionDataError(f"{caption_set.source}: no captions to write")
    order = pair_order(len(pairs), buffer_size, aligned, shuffle, seed)
    seqs, padded, truncated = [], 0, 0
    for k in order:
        path, ids = pairs[k]
        fields = sequence_fields(ids, path, max_words, pad=aligned, truncate=aligned)
        padded += max_words - (len(ids) + 1) > 0 and aligned
        truncated += aligned and len(ids) + 1 > max_words
        seqs.append(np.array([fields[f] for f in FIELDS], np.float64).T)   # (L, F)
    os.makedirs(out_dir)
    files, rows = write_sequences(out_dir, seqs, FIELDS, _PAD, buffer_size, rows_per_file)
    image_paths = [pairs[k][0] for k in order]
    with open(os.path.join(out_dir, "image_list.txt"), "w", encoding="utf-8") as f:
        f.writelines(p + "\n" for p in image_paths)
    with open(os.path.join(out_dir, "image_list.with_dummy_labels.txt"), "w", encoding="utf-8") as f:
        f.writelines(f"{p} {image_hash(p)}\n" for p in image_paths)
    return {"pairs": len(pairs), "sequences": len(seqs), "padded": int(padded), "truncated": int(truncated),
            "files": files, "rows": rows}


def prepare(caption_sets, out_dir, vocab=None, min_count=MIN_COUNT, skip_missing=False, **stream_args):
    """The released process_coco: ``caption_sets`` = [(split name, CaptionSet)], the first being the
    training split the vocabulary comes from (unless ``vocab`` is given). Writes
    ``out_dir/vocabulary.txt`` and, per split, ``out_dir/<split>_aligned_20_batches/`` (or
    ``_unaligned_batches`` with aligned=False). Returns {split: summary} plus 'vocabulary'."""
    aligned = stream_args.get("aligned", True)
    max_words = stream_args.get("max_words", MAX_WORDS)
    os.makedirs(out_dir, exist_ok=True)
    summary = {}
    for split, cs in caption_sets:
        summary.setdefault("missing", {})[split] = [p for _, p in cs.check_images(skip_missing)]
        if vocab is None:
            vocab = build_vocabulary((t for _, _, caps in cs.tokenized() for t in caps), min_count)
            write_vocabulary(os.path.join(out_dir, "vocabulary.txt"), vocab)
        tag = f"{split}_aligned_{max_words}" if aligned else f"{split}_unaligned"
        summary[split] = write_streams(os.path.join(out_dir, f"{tag}_batches"), cs, vocab, **stream_args)
    summary["vocabulary"] = vocab
    return summary
