"""Caffe's ``Datum`` (one image or feature vector in an LMDB) with our wire reader and writer, and the LMDB
reading and atomic writing that the Data layer and the convert-imageset / compute-image-mean /
extract-features tools share.

Datum (caffe.proto): channels 1, height 2, width 3 (int32), data 4 (bytes: C×H×W uint8, or an encoded
JPEG/PNG file when ``encoded``), label 5 (int32), float_data 6 (repeated float, unpacked as proto2 writes
it; packed accepted), encoded 7 (bool). Images are BGR in channel-major order, as OpenCV gives them to Caffe.

LMDB databases are folders (data.mdb, lock.mdb), as Caffe's db_lmdb makes them. ``lmdb`` is the `lmdb`
extra (pip install 'lrcn_native[lmdb]').
"""
import io
import os
import shutil
import weakref
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from ..proto import wire

LMDB_EXTRA = "pip install 'lrcn_native[lmdb]'"
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def import_lmdb():
    try:
        import lmdb
    except ImportError:
        raise RuntimeError(f"LMDB databases need the lmdb package: {LMDB_EXTRA}") from None
    return lmdb


@dataclass
class Datum:
    """A decoded Datum has protobuf's defaults for absent fields; when writing, None leaves a field out."""
    channels: int = 0
    height: int = 0
    width: int = 0
    data: bytes = b""
    label: int = 0
    float_data: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    encoded: bool = False


def decode_datum(buf):
    """A serialized Datum -> Datum (ValueError naming the byte offset when malformed)."""
    buf = memoryview(buf).cast("B")
    d, floats = Datum(), []
    it = wire.Fields(buf)
    for f, wt, v in it:
        if f in (1, 2, 3, 5) and wt == wire.VARINT:
            setattr(d, {1: "channels", 2: "height", 3: "width", 5: "label"}[f], wire.signed64(v))
        elif f == 4 and wt == wire.LEN:
            d.data = bytes(buf[v])
        elif f == 6 and wt == wire.LEN:
            floats.append(wire.packed_array(buf, v, "<f4", "float_data").astype(np.float32))
        elif f == 6 and wt == wire.FIXED32:
            view, it.pos = wire.fixed_run(buf, it.start, it.end, "<f4")
            floats.append(view.astype(np.float32))
        elif f == 7 and wt == wire.VARINT:
            d.encoded = bool(v)
        elif f in (1, 2, 3, 4, 5, 6, 7):
            raise ValueError(f"Datum field {f}: wire type {wt} at byte {it.start}")
    if floats:
        d.float_data = np.concatenate(floats)
    return d


def encode_datum(d):
    """Datum -> bytes as Caffe's tools write it (protobuf's field order; float_data unpacked, one field a value;
    channels/height/width and ``encoded`` only where the tool sets them: see raw_datum / encoded_datum)."""
    out = [wire.varint_field(f, int(v)) for f, v in ((1, d.channels), (2, d.height), (3, d.width)) if v is not None]
    if d.data is not None:
        out.append(wire.len_field(4, d.data))
    if d.label is not None:
        out.append(wire.varint_field(5, d.label))
    if len(d.float_data):
        recs = np.empty(len(d.float_data), [("key", "u1"), ("value", "<f4")])
        recs["key"], recs["value"] = 6 << 3 | wire.FIXED32, d.float_data
        out.append(recs.tobytes())
    if d.encoded is not None:
        out.append(wire.varint_field(7, int(d.encoded)))
    return b"".join(out)


def raw_datum(img, label):
    """An H×W×C uint8 BGR image -> the Datum Caffe's CVMatToDatum makes (C×H×W bytes, encoded false)."""
    h, w, c = img.shape
    return Datum(c, h, w, np.ascontiguousarray(img.transpose(2, 0, 1)).tobytes(), label, encoded=False)


def encoded_datum(data, label):
    """A JPEG/PNG file's bytes -> the Datum of Caffe's ReadFileToDatum / imencode path (no sizes)."""
    return Datum(None, None, None, data, label, encoded=True)


def feature_datum(item):
    """One item of a blob (the blob without its first axis, at most 3 axes) -> extract_features' Datum:
    the blob's legacy channels/height/width (1 where the blob has fewer axes) and float_data; no data,
    label or encoded field."""
    if item.ndim > 3:
        raise ValueError(f"a blob of {item.ndim + 1} axes has no Datum form (at most 4 axes)")
    c, h, w = tuple(item.shape) + (1,) * (3 - item.ndim)
    return Datum(c, h, w, None, None, np.ascontiguousarray(item, np.float32).ravel(), None)


def decode_image(data, is_color=None):
    """Encoded image bytes -> H×W×C uint8 BGR. is_color True/False forces 3 or 1 channels (Caffe's
    DecodeDatumToCVMat); None keeps the file's own (DecodeDatumToCVMatNative, IMREAD_ANYCOLOR)."""
    with Image.open(io.BytesIO(data)) as im:
        color = im.mode not in GRAY_MODES if is_color is None else is_color
        img = np.asarray(im.convert("RGB" if color else "L"))
    return img[:, :, ::-1] if color else img[:, :, None]


def datum_image(d, is_color=None, where="datum"):
    """A Datum -> its H×W×C image (uint8 BGR from data or encoded data, float32 from float_data)."""
    if d.encoded:
        try:
            return decode_image(d.data, is_color)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise ValueError(f"{where}: cannot decode its encoded image: {e}") from None
    c, h, w = d.channels, d.height, d.width
    values = np.frombuffer(d.data, np.uint8) if d.data else d.float_data
    if min(c, h, w) <= 0 or len(values) != c * h * w:
        raise ValueError(f"{where}: {len(values)} values for channels {c} × height {h} × width {w}")
    return values.reshape(c, h, w).transpose(1, 2, 0)


_open_envs = weakref.WeakValueDictionary()  # real path -> Environment: lmdb opens a folder once per process


def open_lmdb(path):
    """An LMDB folder opened read-only without locking (Caffe's MDB_RDONLY | MDB_NOTLS), shared by every
    reader in the process (the train and test nets' Data layers may read one database)."""
    lmdb = import_lmdb()
    path = os.fspath(path)
    if not os.path.isdir(path) or not os.path.exists(os.path.join(path, "data.mdb")):
        raise ValueError(f"'{path}' is not an LMDB database (a folder holding data.mdb)")
    key = os.path.realpath(path)
    env = _open_envs.get(key)
    if env is None:
        env = _open_envs[key] = lmdb.open(path, readonly=True, lock=False, readahead=False, max_readers=126)
    return env


class LMDBWriter:
    """Writes key/value pairs to a new LMDB folder ``path`` atomically: into ``path.partial``, committed every
    1000 puts (Caffe's tools), renamed to ``path`` by ``close()``. An existing ``path`` is an error (Caffe's
    tools refuse it too); an exception inside ``with`` removes the partial folder."""

    def __init__(self, path):
        self.lmdb = import_lmdb()
        self.path, self.partial = os.fspath(path), os.fspath(path) + ".partial"
        if os.path.exists(self.path):
            raise ValueError(f"'{self.path}' exists already: give a new database name")
        shutil.rmtree(self.partial, ignore_errors=True)  # left by a killed run
        self.env = self.lmdb.open(self.partial, map_size=1 << 30, subdir=True)
        self.pending, self.count = [], 0

    def put(self, key, value):
        self.pending.append((key.encode() if isinstance(key, str) else key, value))
        self.count += 1
        if len(self.pending) == 1000:
            self._commit()

    def _commit(self):
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for k, v in self.pending:
                        txn.put(k, v)
                break
            except self.lmdb.MapFullError:  # grow the map and redo the transaction (it was aborted)
                self.env.set_mapsize(self.env.info()["map_size"] * 2)
        self.pending = []

    def close(self):
        self._commit()
        self.env.close()
        os.replace(self.partial, self.path)

    def __enter__(self):
        return self

    def abort(self):
        """Drops what was written: the partial folder goes, ``path`` is never created."""
        self.env.close()
        shutil.rmtree(self.partial, ignore_errors=True)

    def __exit__(self, kind, *_):
        if kind is None:
            self.close()
        else:
            self.abort()
