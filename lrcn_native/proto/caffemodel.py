"""Caffe's weight files: ``.caffemodel`` (binary NetParameter), ``.caffemodel.h5``, ``.solverstate``
(binary or HDF5) and BlobProto files (``mean.binaryproto``), read and written without protobuf.

Layers are read by name, type and blobs only (CAFFE_FACTS.md §3): the LRCN forks numbered their layer
parameters differently, and a loader matches blobs to layers by name as Caffe's CopyTrainedLayersFrom
does. Field numbers used here (caffe.proto):
  NetParameter     name 1, layers (V1) 2, input 3, input_dim 4, input_shape 8, layer (V2) 100
  LayerParameter   name 1, type 2 (string), blobs 7
  V1LayerParameter name 4, type 5 (enum, V1_LAYER_TYPES), blobs 6; field 1 holds a V0 layer
  BlobProto        num 1, channels 2, height 3, width 4 (legacy 4-D), data 5, diff 6, shape 7,
                   double_data 8, double_diff 9 (floats packed or not)
  BlobShape        dim 1 (int64, packed or not)
  SolverState      iter 1, learned_net 2, history 3 (BlobProto), current_step 4

Files are memory-mapped; float payloads are viewed with np.frombuffer and copied once into a 64-byte
aligned float32 array, in 16 MiB steps after which the mapped pages are dropped (MADV_DONTNEED), so
reading a 250 MB model needs about 250 MB. Writers go to a temporary file in the target's folder and
os.replace it, so a crash never leaves half a file under the real name.
"""
import contextlib
import logging
import math
import mmap
import os
from dataclasses import dataclass, field

import h5py
import numpy as np

from ..fileio import atomic_write
from . import wire

log = logging.getLogger("lrcn_native")

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

# V1LayerParameter.LayerType -> the V2 type string Caffe's upgrade (UpgradeV1LayerType) gives it.
V1_LAYER_TYPES = {
    0: "",  # NONE
    1: "Accuracy", 2: "BNLL", 3: "Concat", 4: "Convolution", 5: "Data", 6: "Dropout",
    7: "EuclideanLoss", 8: "Flatten", 9: "HDF5Data", 10: "HDF5Output", 11: "Im2col",
    12: "ImageData", 13: "InfogainLoss", 14: "InnerProduct", 15: "LRN", 16: "MultinomialLogisticLoss",
    17: "Pooling", 18: "ReLU", 19: "Sigmoid", 20: "Softmax", 21: "SoftmaxWithLoss", 22: "Split",
    23: "TanH", 24: "WindowData", 25: "Eltwise", 26: "Power", 27: "SigmoidCrossEntropyLoss",
    28: "HingeLoss", 29: "MemoryData", 30: "ArgMax", 31: "Threshold", 32: "DummyData", 33: "Slice",
    34: "MVN", 35: "AbsVal", 36: "Silence", 37: "ContrastiveLoss", 38: "Exp", 39: "Deconvolution",
}
_COPY_STEP = 1 << 22  # values copied per step before their mapped pages are dropped (16 MiB of float32)


@dataclass
class LayerWeights:
    """One layer's parameter blobs. legacy[i] is True when blob i's shape came from the deprecated
    num/channels/height/width fields (always 4-D); use ``fit`` to get it in a layer's own shape."""
    name: str
    type: str
    blobs: list = field(default_factory=list)   # float32 arrays
    legacy: list = field(default_factory=list)  # bool per blob

    def __post_init__(self):
        if not self.legacy:
            self.legacy = [False] * len(self.blobs)
        if len(self.legacy) != len(self.blobs):
            raise ValueError(f"layer '{self.name}': {len(self.legacy)} legacy flags for {len(self.blobs)} blobs")

    def fit(self, i, shape):
        """Blob i in `shape`, accepted as Caffe's Blob::ShapeEquals does: the same shape, or for a legacy
        blob a shape of at most 4 axes that, padded with leading 1s, is (num, channels, height, width)
        (so a legacy 1x1x4096x9216 fits an InnerProduct weight 4096x9216)."""
        arr, shape = self.blobs[i], tuple(int(d) for d in shape)
        if arr.shape == shape:
            return arr
        if self.legacy[i] and len(shape) <= 4 and (1,) * (4 - len(shape)) + shape == arr.shape:
            return arr.reshape(shape)
        kind = " (legacy 4-D)" if self.legacy[i] else ""
        raise ValueError(f"layer '{self.name}' blob {i}: shape {arr.shape}{kind} does not fit {shape}")


@dataclass
class WeightFile:
    """A weight file's contents: layers in file order, the format ("V2", "V1" or "HDF5"), the net name
    and the deprecated net-level inputs (input names, input_dim: 4 per input, input_shape)."""
    layers: list
    format: str
    name: str = ""
    input: list = field(default_factory=list)
    input_dim: list = field(default_factory=list)
    input_shape: list = field(default_factory=list)

    def __getitem__(self, name):
        """The layer called `name`; with duplicates the last one, which is the one Caffe's copy keeps."""
        for layer in reversed(self.layers):
            if layer.name == name:
                return layer
        raise KeyError(name)

    def __contains__(self, name):
        return any(layer.name == name for layer in self.layers)


# ---------------------------------------------------------------------------------------------------
# Reading the binary formats

class _Source:
    """A byte buffer to parse: a read-only mmap of a file, or any bytes-like object."""

    def __init__(self, src):
        self.mm = None
        if isinstance(src, (str, os.PathLike)):
            self.label = os.fspath(src)
            with open(src, "rb") as f:
                if os.fstat(f.fileno()).st_size:
                    self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            self.buf = memoryview(self.mm if self.mm is not None else b"")
        else:
            self.label = "<bytes>"
            self.buf = memoryview(src).cast("B")

    def drop(self, a, b):
        """Unmap the pages of bytes [a, b) that were copied out (they stay in the page cache)."""
        if self.mm is not None and hasattr(mmap, "MADV_DONTNEED"):
            a -= a % mmap.PAGESIZE
            self.mm.madvise(mmap.MADV_DONTNEED, a, max(b - a, 0))


def _string(buf, s):
    try:
        return bytes(buf[s]).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"string at byte {s.start} is not UTF-8") from None


def _varints(buf, wire_type, value):
    """The int64 values of one occurrence of a repeated integer field, packed (LEN) or not."""
    if wire_type == wire.VARINT:
        return [wire.signed64(value)]
    if wire_type != wire.LEN:
        raise ValueError(f"wire type {wire_type} where integers are expected")
    out, pos = [], value.start
    while pos < value.stop:
        v, pos = wire.read_varint(buf, pos, value.stop)
        out.append(wire.signed64(v))
    return out


def _shape(buf, s):
    """BlobShape in buf[s] -> tuple of dims."""
    dims = []
    for f, wt, v in wire.Fields(buf, s.start, s.stop):
        if f == 1:
            dims += _varints(buf, wt, v)
    return tuple(dims)


def _aligned_empty(n, align=64):
    raw = np.empty(n * 4 + align, np.uint8)
    offset = -raw.ctypes.data % align
    return raw[offset:offset + n * 4].view(np.float32)


def _gather(src, chunks, shape):
    """Copy the (view, byte offset) chunks of one repeated float field into a new aligned float32
    array of `shape` (doubles are rounded to float, as Caffe's Blob<float>::FromProto does)."""
    out = _aligned_empty(sum(len(view) for view, _ in chunks))
    i = 0
    for view, offset in chunks:
        stride = view.strides[0]
        for j in range(0, len(view), _COPY_STEP):
            part = view[j:j + _COPY_STEP]
            with np.errstate(over="ignore"):  # a double beyond float's range becomes inf, as a C cast
                out[i:i + len(part)] = part
            i += len(part)
            src.drop(offset + j * stride, offset + (j + len(part)) * stride)
    return out.reshape(shape)


def _blob(src, s, which="data"):
    """BlobProto in buf[s] -> (float32 array of its data or diff, legacy flag).

    Shape as Caffe's Blob::FromProto: the legacy (num, channels, height, width) if any of them is
    present (missing ones 0), else shape.dim; values from double_data (double_diff) when it is not
    empty, else data (diff); their count must equal the shape's.
    """
    buf = src.buf
    legacy, dims = {}, ()
    floats = {5: [], 6: [], 8: [], 9: []}  # field -> [(view, byte offset)]
    it = wire.Fields(buf, s.start, s.stop)
    for f, wt, v in it:
        if f in (1, 2, 3, 4) and wt == wire.VARINT:
            legacy[f] = wire.signed64(v)
        elif f == 7 and wt == wire.LEN:
            dims = _shape(buf, v)
        elif f in floats:
            dtype, fixed = ("<f4", wire.FIXED32) if f in (5, 6) else ("<f8", wire.FIXED64)
            if wt == wire.LEN:
                floats[f].append((wire.packed_array(buf, v, dtype, f"field {f}"), v.start))
            elif wt == fixed:
                start = it.start
                view, it.pos = wire.fixed_run(buf, start, it.end, dtype)
                floats[f].append((view, start))
            else:
                raise ValueError(f"field {f}: wire type {wt} at byte {it.start} where floats are expected")
    if legacy:
        dims = tuple(legacy.get(f, 0) for f in (1, 2, 3, 4))
    if len(dims) > 32 or not all(0 <= d < 2**31 for d in dims):  # Caffe's kMaxBlobAxes, int dims
        raise ValueError(f"invalid shape {dims}")
    single, double = (5, 8) if which == "data" else (6, 9)
    chunks = floats[double] if floats[double] else floats[single]
    n, count = sum(len(view) for view, _ in chunks), math.prod(dims)
    if n != count:
        raise ValueError(f"{n} {which} values for shape {dims} ({count} expected)")
    return _gather(src, chunks, dims), bool(legacy)


def _layer(src, s, v1):
    buf = src.buf
    name_f, type_f, blobs_f = (4, 5, 6) if v1 else (1, 2, 7)
    layer = LayerWeights("", "")
    try:
        for f, wt, v in wire.Fields(buf, s.start, s.stop):
            if f == name_f and wt == wire.LEN:
                layer.name = _string(buf, v)
            elif f == type_f and wt == (wire.VARINT if v1 else wire.LEN):
                # An enum value this table lacks is an unknown field to protobuf: the type stays NONE.
                layer.type = V1_LAYER_TYPES.get(v, "") if v1 else _string(buf, v)
            elif f == blobs_f and wt == wire.LEN:
                try:
                    arr, legacy = _blob(src, v)
                except ValueError as e:
                    raise ValueError(f"blob {len(layer.blobs)}: {e}") from None
                layer.blobs.append(arr)
                layer.legacy.append(legacy)
            elif v1 and f == 1 and wt == wire.LEN:
                raise ValueError("a V0 layer (V1LayerParameter field 1): upgrade the file with Caffe's "
                                 "upgrade_net_proto_binary")
    except ValueError as e:
        raise ValueError(f"'{layer.name}': {e}") from None
    return layer


def _net(src):
    buf = src.buf
    net = WeightFile([], "V2")
    entries = {2: [], 100: []}  # V1 `layers`, V2 `layer`
    for f, wt, v in wire.Fields(buf):
        if f == 1 and wt == wire.LEN:
            net.name = _string(buf, v)
        elif f == 3 and wt == wire.LEN:
            net.input.append(_string(buf, v))
        elif f == 4:
            net.input_dim += _varints(buf, wt, v)
        elif f == 8 and wt == wire.LEN:
            net.input_shape.append(_shape(buf, v))
        elif f in entries and wt == wire.LEN:
            entries[f].append(v)
    if entries[2] and entries[100]:
        raise ValueError("both V1 'layers' (field 2) and V2 'layer' (field 100) entries")
    v1 = bool(entries[2])
    net.format = "V1" if v1 else "V2"
    for i, s in enumerate(entries[2] or entries[100]):
        try:
            net.layers.append(_layer(src, s, v1))
        except ValueError as e:
            raise ValueError(f"layer {i} {e}") from None
    return net


def _parse(src, parse, kind):
    """parse(src), with a wire-level error said first as what the file is not ("not a Caffe .caffemodel")."""
    try:
        return parse(src)
    except ValueError as e:
        raise ValueError(f"{src.label}: not a Caffe {kind}: {e}") from None


def read_caffemodel(path_or_bytes):
    """Read a binary NetParameter (.caffemodel, V2 or V1) from a path or a bytes-like object."""
    return _parse(_Source(path_or_bytes), _net, ".caffemodel (binary NetParameter)")


def blobproto_to_array(blob_bytes, return_diff=False):
    """A serialized BlobProto -> float32 array, shaped as pycaffe's caffe.io.blobproto_to_array does:
    (num, channels, height, width) for a legacy blob, else its shape."""
    src = _Source(blob_bytes)
    return _parse(src, lambda src: _blob(src, slice(0, len(src.buf)), "diff" if return_diff else "data")[0],
                  "BlobProto")


def read_blobproto_file(path):
    """The array of a BlobProto file such as a mean.binaryproto."""
    return _parse(_Source(path), lambda src: _blob(src, slice(0, len(src.buf)))[0], "BlobProto (.binaryproto)")


# ---------------------------------------------------------------------------------------------------
# Writing the binary formats

def _blob_pieces(arr, diff=None):
    """BlobProto as Caffe's Blob::ToProto writes it (data packed, shape.dim; no legacy dims), fields in
    number order as protobuf serializes them: data 5, diff 6, shape 7. Large payloads stay arrays."""
    arr = np.asarray(arr)
    pieces = []
    for f, values in ((5, arr), (6, diff)):
        if values is None:
            continue
        flat = np.ascontiguousarray(values, dtype="<f4").reshape(-1)
        if flat.size != arr.size:
            raise ValueError(f"diff has {flat.size} values, data {arr.size}")
        if flat.size:  # protobuf omits an empty packed field
            pieces += [wire.len_header(f, flat.nbytes), flat.view(np.uint8)]
    if arr.ndim:  # a 0-axis blob never touches shape, so Caffe writes none
        pieces.append(wire.len_field(7, wire.packed_varints(1, arr.shape)))
    return pieces


def _message(f, pieces):
    """A LEN field `f` around `pieces` (bytes and uint8 arrays)."""
    return [wire.len_header(f, sum(len(p) for p in pieces))] + pieces



def _write_pieces(path, pieces):
    def write(tmp):
        with open(tmp, "xb") as f:
            f.writelines(pieces)
            f.flush()
            os.fsync(f.fileno())
    atomic_write(path, write)


def _as_layer(layer):
    return layer if isinstance(layer, LayerWeights) else LayerWeights(*layer)


def write_caffemodel(path, name, layers):
    """Write a V2 NetParameter: net `name` (None: no name field) and one LayerParameter (name, type,
    blobs) per entry of `layers` (LayerWeights or (name, type, blobs) tuples), atomically."""
    def pieces():
        if name is not None:
            yield wire.string_field(1, name)
        for layer in map(_as_layer, layers):
            body = [wire.string_field(1, layer.name), wire.string_field(2, layer.type)]
            for arr in layer.blobs:
                body += _message(7, _blob_pieces(arr))
            yield from _message(100, body)
    _write_pieces(path, pieces())


def array_to_blobproto(arr, diff=None):
    """A serialized BlobProto of `arr` (and `diff`), as pycaffe's caffe.io.array_to_blobproto."""
    return b"".join(bytes(p) for p in _blob_pieces(arr, diff))


def write_legacy_blobproto(path, arr):
    """A 4-D array as a BlobProto with the legacy num, channels, height, width (fields 1-4) and packed data,
    as Caffe's compute_image_mean writes a mean.binaryproto; atomically."""
    arr = np.asarray(arr, np.float32)
    if arr.ndim != 4:
        raise ValueError(f"a legacy BlobProto is 4-D (num, channels, height, width), got shape {arr.shape}")
    flat = np.ascontiguousarray(arr, "<f4").reshape(-1)
    _write_pieces(path, [wire.varint_field(f, d) for f, d in zip((1, 2, 3, 4), arr.shape)]
                  + [wire.len_header(5, flat.nbytes), flat.view(np.uint8)])


# ---------------------------------------------------------------------------------------------------
# HDF5 forms, and choosing a format by content

def _is_hdf5(path):
    with open(path, "rb") as f:
        return f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


@contextlib.contextmanager
def _hdf5(path):
    """Open an HDF5 file for reading. Damage h5py finds on opening (OSError) or while reading groups and
    datasets (RuntimeError, KeyError: found by tests/test_fuzz.py) becomes a ValueError naming the file."""
    try:
        with h5py.File(path, "r") as f:
            yield f
    except FileNotFoundError:
        raise
    except (OSError, RuntimeError, KeyError) as e:
        raise ValueError(f"{os.fspath(path)}: not a Caffe HDF5 file: unreadable HDF5 ({e})") from None


def _hdf5_blobs(group, where):
    """Datasets "0", "1", ... of `group` -> float32 arrays in their stored shapes."""
    n = len(group)
    if sorted(group) != sorted(map(str, range(n))):
        raise ValueError(f"{where}: members {sorted(group)} are not datasets named 0..{n - 1}")
    blobs = []
    for i in range(n):
        ds = group[str(i)]
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "fiu":
            raise ValueError(f"{where}/{i}: not a numeric dataset")
        if ds.compression is None and ds.size * ds.dtype.itemsize > os.path.getsize(group.file.filename):
            # a damaged header can claim any shape: refuse before allocating it (found under ASan)
            raise ValueError(f"{where}/{i}: a {ds.shape} dataset needs {ds.size * ds.dtype.itemsize} bytes, "
                             "more than the whole file holds")
        out = _aligned_empty(ds.size).reshape(ds.shape)
        if ds.size:
            ds.read_direct(out)
        blobs.append(out)
    return blobs


def _write_hdf5_blobs(group, blobs):
    for i, arr in enumerate(blobs):
        group.create_dataset(str(i), data=np.asarray(arr, np.float32))


def read_hdf5_weights(path, layer_order=None):
    """Read a .caffemodel.h5 (/data/<layer>/<i>). HDF5 keeps no order for Caffe's groups (h5py lists
    them alphabetically; our writer records creation order), so the layers named in `layer_order`
    (e.g. the net's layer names) come first in that order, the rest after in the file's order."""
    with _hdf5(path) as f:
        data = f.get("data")
        if not isinstance(data, h5py.Group):
            raise ValueError(f"{os.fspath(path)}: not a Caffe .caffemodel.h5: no /data group")
        names = list(data)
        if layer_order is not None:
            present, first = set(names), set(layer_order)
            names = [n for n in layer_order if n in present] + [n for n in names if n not in first]
        layers = [LayerWeights(n, "", _hdf5_blobs(data[n], f"{os.fspath(path)}: /data/{n}")) for n in names]
    return WeightFile(layers, "HDF5")


def write_hdf5_weights(path, layers):
    """Write a .caffemodel.h5: a group /data/<layer> for every layer given (empty for layers without
    blobs), datasets "0", "1", ... float32 in blob shape; atomically."""
    layers = [_as_layer(layer) for layer in layers]
    names = [layer.name for layer in layers]
    bad = [n for n in names if "/" in n or not n or names.count(n) > 1]
    if bad:
        raise ValueError(f"{os.fspath(path)}: layer names {bad} cannot be HDF5 groups (empty, '/' or repeated)")

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            data = f.create_group("data", track_order=True)
            for layer in layers:
                _write_hdf5_blobs(data.create_group(layer.name), layer.blobs)
    atomic_write(path, write)


def load_weights(path, layer_order=None):
    """Read weights from a .caffemodel or .caffemodel.h5, telling them apart by content."""
    if _is_hdf5(path):
        return read_hdf5_weights(path, layer_order)
    return read_caffemodel(path)


# ---------------------------------------------------------------------------------------------------
# Solver state

def _solverstate(src):
    buf = src.buf
    state = {"iter": 0, "learned_net": "", "current_step": 0, "history": []}
    for f, wt, v in wire.Fields(buf):
        if f in (1, 4) and wt == wire.VARINT:
            state["iter" if f == 1 else "current_step"] = wire.signed64(v)
        elif f == 2 and wt == wire.LEN:
            state["learned_net"] = _string(buf, v)
        elif f == 3 and wt == wire.LEN:
            try:
                state["history"].append(_blob(src, v)[0])
            except ValueError as e:
                raise ValueError(f"history blob {len(state['history'])}: {e}") from None
    return state


def read_solverstate(path):
    """Read a .solverstate (binary SolverState or Caffe's HDF5 form) ->
    dict(iter, learned_net, current_step, history=[float32 arrays])."""
    if not _is_hdf5(path):
        return _parse(_Source(path), _solverstate, ".solverstate")
    label = os.fspath(path)
    with _hdf5(path) as f:
        try:
            history = f["history"]
            return {"iter": int(f["iter"][()]), "learned_net": bytes(f["learned_net"][()]).decode(),
                    "current_step": int(f["current_step"][()]),
                    "history": _hdf5_blobs(history, f"{label}: /history")}
        except (KeyError, TypeError) as e:
            raise ValueError(f"{label}: not a Caffe HDF5 solver state ({e})") from None


def write_solverstate(path, state, hdf5=False):
    """Write a solver state (dict with iter, learned_net, current_step, history) atomically, as
    Caffe's binaryproto SolverState or, with hdf5=True, as its HDF5 form (scalar datasets iter,
    learned_net, current_step and group history with datasets "0", "1", ...)."""
    it, net = int(state["iter"]), state.get("learned_net", "")
    step, history = int(state.get("current_step", 0)), state.get("history", [])
    if not hdf5:
        pieces = [wire.varint_field(1, it), wire.string_field(2, net)]
        for arr in history:
            pieces += _message(3, _blob_pieces(arr))
        _write_pieces(path, pieces + [wire.varint_field(4, step)])
        return

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.create_dataset("iter", data=np.int32(it))
            b = net.encode()  # a NUL-terminated fixed-length string, which Caffe's reader expects
            f.create_dataset("learned_net", data=np.array(b, dtype=f"S{len(b) + 1}"))
            f.create_dataset("current_step", data=np.int32(step))
            _write_hdf5_blobs(f.create_group("history", track_order=True), history)
    atomic_write(path, write)


# ---------------------------------------------------------------------------------------------------
# Nets: Caffe's CopyTrainedLayersFrom and ToProto / ToHDF5

def load_into_net(net, path):
    """Copies a weight file's blobs into ``net`` by layer name (Caffe's rules): file layers the net lacks
    are ignored, net layers the file lacks keep their initialisation; both are logged, and the names of
    the net's parameter layers the file did not cover are returned. A blob count or shape that does not
    fit is an error naming the layer, the blob index and both shapes."""
    path = os.fspath(path)
    weights = load_weights(path, layer_order=list(net.layer_dict))
    covered = set()
    for source in weights.layers:
        layer = net.layer_dict.get(source.name)
        if layer is None:
            log.info("Ignoring source layer %s", source.name)
            continue
        if len(layer.blobs) != len(source.blobs):
            raise ValueError(f"{path}: layer '{source.name}' has {len(source.blobs)} blobs in the file but "
                             f"{len(layer.blobs)} in the net")
        for i, blob in enumerate(layer.blobs):
            try:
                values = source.fit(i, blob.shape)
            except ValueError:
                raise ValueError(f"{path}: cannot copy blob {i} of layer '{source.name}': shape "
                                 f"{source.blobs[i].shape} in the file, {blob.shape} in the net") from None
            blob.data[...] = values
        covered.add(source.name)
    missing = [name for name, layer in net.layer_dict.items() if layer.blobs and name not in covered]
    for name in missing:
        log.info("Layer %s not in %s: keeps its initialisation", name, path)
    if not covered:  # a warning reaches stderr even when the user configured no logging
        names = [l.name for l in weights.layers]
        log.warning("%s: none of its %d layers (%s%s) is a layer of net '%s': nothing was copied", path, len(names),
                    ", ".join(names[:8]), ", ..." if len(names) > 8 else "", net.name)
    return missing


def save_net(net, path, hdf5=False):
    """Writes every layer of ``net`` (param-less and Split layers too, as Caffe's ToProto) with its blobs."""
    layers = [LayerWeights(name, layer.type, [b.data.copy() for b in layer.blobs])
              for name, layer in zip(net._layer_names, net.layers)]
    if hdf5:
        write_hdf5_weights(path, layers)
    else:
        write_caffemodel(path, net.name, layers)
