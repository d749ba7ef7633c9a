"""Caffe's convert_imageset and compute_image_mean tools (their behaviour; our code).

convert_imageset: a list of ``path label`` lines (the path may hold spaces: the label follows the last one)
-> an LMDB of Datums keyed ``%08d_<path>`` by line index, images read as cv::imread does (BGR, or grey with
``gray``), resized with bilinear interpolation when both sizes are given, stored raw (C×H×W bytes) or
``encoded``: the file's own bytes when its extension is the encoding and nothing was resized, else
re-encoded (JPEG quality 95, OpenCV's default). An unreadable image is skipped with a logged error, as Caffe.

compute_image_mean: the mean Datum of an LMDB (or of the images of such a list), summed in float32 in
key order and divided by the count in float32 as Caffe's tool does, written as a legacy 1×C×H×W BlobProto.
"""
import logging
import os

import numpy as np
from PIL import Image

from . import datum as D

log = logging.getLogger("lrcn_native")

# encode_type -> Pillow's format name and save options (OpenCV's imencode defaults: JPEG quality 95)
ENCODINGS = {"jpg": ("JPEG", {"quality": 95}), "jpeg": ("JPEG", {"quality": 95}), "png": ("PNG", {}),
             "bmp": ("BMP", {})}


def read_list(path, labels=True):
    """(line number, image path, label) per non-blank line of an image list: ``path label`` lines, or with
    labels=False also bare ``path`` lines (label 0)."""
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ValueError(f"cannot read image list '{path}': {e.strerror}") from None
    out = []
    for i, line in enumerate(lines, 1):
        text = line.rstrip()
        if not text.strip():
            continue
        name, _, label = text.rpartition(" ")
        if name and label.lstrip("-").isdigit():
            out.append((i, name, int(label)))
        elif labels:
            raise ValueError(f"{path}:{i}: expected '<path> <integer label>': {line!r}")
        else:
            out.append((i, text, 0))
    if not out:
        raise ValueError(f"image list '{path}' is empty")
    return out


def _matches(name, encoding):
    ext = os.path.splitext(name)[1][1:].lower()
    return ext == encoding or (encoding == "jpg" and ext == "jpeg")


def _load(full, resize, gray):
    from ..layer_types.data import _resize_bilinear, read_image
    img = read_image(full, not gray)
    return _resize_bilinear(img, *resize) if all(resize) else img


def convert_imageset(root, list_file, db, resize=(0, 0), shuffle=False, gray=False, encoded=False, encode_type="",
                     check_size=False, seed=0):
    """Writes the LMDB ``db`` (atomically) from the images of ``list_file`` under ``root`` -> summary dict."""
    if (resize[0] > 0) != (resize[1] > 0):
        raise ValueError("give both resize_height and resize_width, or neither")
    entries = read_list(list_file)
    if shuffle:  # Caffe shuffles with its own generator; ours is seeded, so a run is repeatable
        order = np.random.default_rng(seed).permutation(len(entries))
        entries = [entries[i] for i in order]
    if encode_type and not encoded:
        log.info("encode_type specified, assuming encoded=true.")
        encoded = True
    encode_type = encode_type.lower()
    if encode_type and encode_type not in ENCODINGS:
        raise ValueError(f"encode_type {encode_type!r} is not one of {', '.join(ENCODINGS)}")
    log.info("A total of %d images.", len(entries))
    size, written, skipped = None, 0, []
    with D.LMDBWriter(db) as out:
        for index, (line, name, label) in enumerate(entries):
            full = os.path.join(root, name)
            enc = encode_type or os.path.splitext(name)[1][1:].lower()  # Caffe guesses from the file name
            as_file = encoded and not all(resize) and _matches(name, enc)
            if encoded and not as_file and enc not in ENCODINGS:
                raise ValueError(f"{list_file}:{line}: cannot encode '{name}' as {enc!r}: give --encode_type "
                                 f"({', '.join(ENCODINGS)})")
            try:
                if as_file:
                    with open(full, "rb") as f:
                        datum = D.encoded_datum(f.read(), label)
                    with Image.open(full) as im:  # Caffe decodes it first: an unreadable file is skipped
                        im.verify()
                else:
                    img = _load(full, resize, gray)
                    datum = (D.encoded_datum(_encode(img, *ENCODINGS[enc]), label) if encoded
                             else D.raw_datum(img, label))
            except (OSError, ValueError, Image.DecompressionBombError) as e:
                log.error("Could not open or find file %s (%s:%d): %s", full, list_file, line, e)
                skipped.append(name)
                continue
            if check_size and not datum.encoded:
                if size is None:
                    size = len(datum.data)
                elif len(datum.data) != size:
                    raise ValueError(f"{list_file}:{line}: '{name}' gives {datum.channels}×{datum.height}×"
                                     f"{datum.width} = {len(datum.data)} bytes, the first image {size} "
                                     "(--check_size; resize with --resize_height/--resize_width)")
            out.put(f"{index:08d}_{name}", D.encode_datum(datum))
            written += 1
            if written % 1000 == 0:
                log.info("Processed %d files.", written)
    if written % 1000:
        log.info("Processed %d files.", written)
    return {"images": len(entries), "written": written, "skipped": skipped}


def _encode(img, fmt, options):
    import io
    rgb = img[:, :, ::-1] if img.shape[2] == 3 else img[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, fmt, **options)
    return buf.getvalue()


def _lmdb_items(path):
    """(label for errors, C×H×W array) per Datum of an LMDB, in key order."""
    with D.open_lmdb(path).begin() as txn:
        for key, value in txn.cursor():
            where = f"datum '{key.decode(errors='replace')}' of LMDB '{path}'"
            try:
                datum = D.decode_datum(value)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            yield where, D.datum_image(datum, None, where).transpose(2, 0, 1)


def _list_items(list_file, root, resize, gray):
    for line, name, _ in read_list(list_file, labels=False):
        full = os.path.join(root, name)
        try:
            img = _load(full, resize, gray)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise ValueError(f"{list_file}:{line}: cannot read image '{full}': {e}") from None
        yield f"{list_file}:{line} ('{name}')", img.transpose(2, 0, 1)


def compute_image_mean(source, root="", resize=(0, 0), gray=False):
    """The mean image (1×C×H×W float32) of an LMDB folder, or of the images of a list file (resized to
    ``resize`` when both sizes are given), as Caffe's compute_image_mean computes it."""
    if (resize[0] > 0) != (resize[1] > 0):
        raise ValueError("give both resize_height and resize_width, or neither")
    items = _lmdb_items(source) if os.path.isdir(source) else _list_items(source, root, resize, gray)
    total, count = None, 0
    for where, arr in items:
        if total is None:
            total = np.zeros(arr.shape, np.float32)
        elif arr.shape != total.shape:
            raise ValueError(f"{where}: size {'×'.join(map(str, arr.shape))} differs from the first item's "
                             f"{'×'.join(map(str, total.shape))} (C×H×W); a mean needs one size"
                             + ("" if os.path.isdir(source) else ": give --resize_height/--resize_width"))
        total += arr  # float32 accumulation in order, as Caffe's float sum_blob
        count += 1
        if count % 10000 == 0:
            log.info("Processed %d files.", count)
    if total is None:
        raise ValueError(f"'{source}' holds no images")
    log.info("Processed %d files.", count)
    mean = total / np.float32(count)
    log.info("Number of channels: %d", mean.shape[0])
    for c in range(mean.shape[0]):
        log.info("mean_value channel [%d]: %g", c, float(mean[c].astype(np.float64).sum() / mean[c].size))
    return mean[None]
