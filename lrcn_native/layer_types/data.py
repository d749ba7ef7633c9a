"""File-reading data layers: HDF5Data, ImageData and Data (LMDB) (with Caffe's transform_param).

Loading runs one batch ahead of compute in a background thread (image decoding in pillow and the numpy
work release the GIL; threads also avoid the OpenMP-after-fork hang of ECOSYSTEM.md). Each layer's reading
position is a small state (file/line permutation, cursor, generator state) that the prefetcher advances
batch by batch; ``data_state()`` returns the state after the last batch *consumed*, and
``set_data_state()`` restarts reading from one, so a resumed run reads exactly the batches an
uninterrupted one would have read.

In data-parallel training (lrcn_native/parallel.py) a TRAIN layer of rank r of P reads the global stream: for
each item of the P·batch_size of an iteration, ``parallel.strided`` says whether this rank keeps it (item i to
rank i mod P); a skipped item advances the state exactly as a kept one (the same random draws, taken without
decoding), so every rank's state is the global position and rank 0's snapshot resumes on any number of ranks.
"""
import atexit
import copy
import io
import logging
import os
import queue
import threading
import weakref

import h5py
import numpy as np
from PIL import Image

from .. import mode, parallel
from ..layer import TRAIN, Layer, register
from ..proto.schema import B, E, F, I, S, U

log = logging.getLogger("lrcn_native")


class _Prefetcher:
    """Runs ``produce(state) -> (arrays, next_state)`` in a thread, ``depth`` batches ahead, from the first
    ``next()`` on: a net that is built but not run (a solver's test net before its first test, a net being
    inspected) decodes nothing and holds no batches. The thread holds ``produce`` (a layer's method) weakly:
    a net its user drops is collected, and its layers' ``__del__`` stop their threads, instead of the
    threads keeping the layers and their batches alive forever.

    A ``produce`` error is raised by ``next()`` and ends the thread; the next ``next()`` starts reading again
    from the last consumed state (so it raises again, or succeeds once the input is fixed): never a wait on
    a queue no thread fills. At interpreter exit every live thread is stopped and joined (``atexit``), so
    none is frozen inside h5py or pillow while the interpreter finalises (a deadlock or SIGABRT at exit).
    A new data layer gets all this by building one with its own ``produce`` and state."""

    live = weakref.WeakSet()  # for the exit hook

    def __init__(self, produce, state, depth=2):
        self.produce, self.depth = weakref.WeakMethod(produce), depth
        self.consumed = state
        self.thread = None
        _Prefetcher.live.add(self)

    def _start(self, state):
        self.queue = queue.Queue(self.depth)
        self.stop = threading.Event()

        def run(state=copy.deepcopy(state), stop=self.stop, q=self.queue, produce_ref=self.produce):
            while not stop.is_set():
                produce = produce_ref()
                if produce is None:  # the layer is gone
                    return
                try:
                    item = produce(state)
                    state = copy.deepcopy(item[1])
                except BaseException as e:  # surfaced in next(): the file and line are in the message
                    item = e
                del produce
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        pass
                if isinstance(item, BaseException):
                    return
        self.thread = threading.Thread(target=run, daemon=True, name="lrcn-prefetch")
        self.thread.start()

    def next(self):
        if self.thread is None:
            self._start(self.consumed)
        while True:
            try:
                item = self.queue.get(timeout=0.1)
                break
            except queue.Empty:
                if not self.thread.is_alive() and self.queue.empty():  # died without a word: start again
                    self.thread = None
                    raise RuntimeError("data prefetch thread ended without producing a batch")
        if isinstance(item, BaseException):
            self.close()  # the thread has ended; the next call reads again from self.consumed
            raise item
        arrays, self.consumed = item
        return arrays

    def restart(self, state):
        self.close()
        self.consumed = state

    def close(self):
        if self.thread is None:
            return
        self.stop.set()
        if threading.current_thread() is not self.thread:  # the layer may die in its own thread
            self.thread.join()
        self.thread = None


@atexit.register
def _close_prefetchers():
    for p in list(_Prefetcher.live):
        p.close()


class _DataLayer(Layer):
    exact_bottoms = 0

    def reshape(self, bottom, top):
        pass  # tops are shaped at setup; each batch has the same shape

    def forward(self, bottom, top):
        for blob, values in zip(top, self.prefetcher.next()):
            blob.data[...] = values

    def backward(self, top, propagate_down, bottom):
        pass

    def declared_shapes(self, n_tops):
        """Each top's shape as far as the parameters alone tell it (None where only the data does), without
        reading any file: what `lrcn time` gives synthetic inputs when the data files are missing."""
        return [None] * n_tops

    def data_state(self):
        return copy.deepcopy(self.prefetcher.consumed)

    def set_data_state(self, state):
        self.prefetcher.restart(copy.deepcopy(state))

    def __del__(self):
        if getattr(self, "prefetcher", None) is not None:
            self.prefetcher.close()

    def _child_rng_state(self):
        return np.random.default_rng(int(mode.rng().integers(2 ** 63))).bit_generator.state


def _read_list(layer, source, parse, with_lines=False):
    """The parsed non-blank lines of list file ``source`` (with their 1-based line numbers when
    ``with_lines``); a line ``parse`` rejects with ValueError is an error naming the file and line."""
    try:
        with open(source) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise layer.error(f"cannot read source list '{source}': {e.strerror}", "source") from None
    entries = []
    for i, line in enumerate(lines, 1):
        if line.strip():
            try:
                entries.append((i, parse(line)) if with_lines else parse(line))
            except ValueError as e:
                raise layer.error(f"{source}:{i}: {e}: {line!r}") from None
    if not entries:
        raise layer.error(f"source list '{source}' is empty", "source")
    return entries


@register
class HDF5Data(_DataLayer):
    """Tops are the datasets named like the tops in the files listed by ``source``, batch_size rows at a
    time, file after file (Caffe's order; with shuffle, files and rows are permuted every pass)."""
    type = "HDF5Data"
    param_fields = {"hdf5_data_param": {"source": S, "batch_size": U, "shuffle": B}}
    min_tops = 1

    def setup(self, bottom, top):
        p = self.layer_param.msg("hdf5_data_param")
        self.batch_size = p.int("batch_size", 0)
        if self.batch_size <= 0:
            raise self.error("hdf5_data_param.batch_size must be positive", "hdf5_data_param")
        self.shuffle = p.bool("shuffle", False)
        source = p.str("source")
        self.files = _read_list(self, source, lambda line: line.strip())
        self.names = self.layer_param.strs("top")
        self._cache = (None, None)
        rng = np.random.default_rng()
        rng.bit_generator.state = self._child_rng_state()
        order = list(range(len(self.files)))
        if self.shuffle:
            rng.shuffle(order)
        first = self._load(order[0])
        rows = np.arange(len(first[0]))
        if self.shuffle:
            rng.shuffle(rows)
        for blob, arr in zip(top, first):
            blob.reshape((self.batch_size,) + arr.shape[1:])
        state = {"order": order, "file": 0, "rows": rows.tolist(), "row": 0, "rng": rng.bit_generator.state}
        self.prefetcher = _Prefetcher(self._produce, state)

    def _load(self, index):
        if self._cache[0] == index:
            return self._cache[1]
        path = self.files[index]
        try:
            with h5py.File(path, "r") as f:
                arrays = []
                for name in self.names:
                    if name not in f:
                        raise self.error(f"HDF5 file '{path}' has no dataset '{name}'")
                    ds = f[name]
                    if not isinstance(ds, h5py.Dataset):
                        raise self.error(f"'{name}' in HDF5 file '{path}' is a {type(ds).__name__}, not a dataset")
                    if ds.dtype.kind != "f":
                        raise self.error(f"dataset '{name}' in '{path}' is {ds.dtype}; Caffe expects float data")
                    arrays.append(np.asarray(ds, np.float32))
        except OSError as e:
            raise self.error(f"cannot read HDF5 file '{path}' (listed in the source list): {e}") from None
        n = {len(a) for a in arrays}
        if len(n) != 1 or 0 in n:
            raise self.error(f"datasets in '{path}' have different or zero row counts: "
                             f"{[a.shape for a in arrays]}")
        self._cache = (index, arrays)
        return arrays

    def _produce(self, st):
        rng = np.random.default_rng()
        rng.bit_generator.state = st["rng"]
        out, i = None, 0
        for keep in parallel.strided(self.phase, self.batch_size):
            arrays = self._load(st["order"][st["file"]])
            if out is None:
                out = [np.empty((self.batch_size,) + a.shape[1:], np.float32) for a in arrays]
            for o, a in zip(out, arrays):
                if a.shape[1:] != o.shape[1:]:
                    raise self.error(f"dataset shapes change between files: {a.shape[1:]} vs {o.shape[1:]}")
                if keep:
                    o[i] = a[st["rows"][st["row"]]]
            i += keep
            st["row"] += 1
            if st["row"] == len(arrays[0]):  # next file; a new pass when all are read
                st["row"] = 0
                st["file"] += 1
                if st["file"] == len(st["order"]):
                    st["file"] = 0
                    if self.shuffle:
                        rng.shuffle(st["order"])
                rows = np.arange(len(self._load(st["order"][st["file"]])[0]))
                if self.shuffle:
                    rng.shuffle(rows)
                st["rows"] = rows.tolist()
        st["rng"] = rng.bit_generator.state
        return out, st


def _resize_bilinear(img, height, width):
    """OpenCV's INTER_LINEAR on uint8 H×W×C: half-pixel centres, edge pixels replicated. OpenCV blends
    with 11-bit fixed-point weights; this float version can differ from it by one grey level."""
    h, w = img.shape[:2]
    if (h, w) == (height, width):
        return img

    def axis(n_in, n_out):
        x = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
        x = np.clip(x, 0, n_in - 1)
        i0 = np.minimum(np.floor(x).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, (x - i0).astype(np.float32)

    y0, y1, wy = axis(h, height)
    x0, x1, wx = axis(w, width)
    f = img.astype(np.float32)
    rows = f[y0] * (1 - wy)[:, None, None] + f[y1] * wy[:, None, None]
    out = rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def read_image(path, is_color=True):
    """An image file -> H×W×C uint8 in OpenCV's BGR order (C = 3, or 1 when not is_color), as cv::imread."""
    with Image.open(path) as im:
        img = np.asarray(im.convert("RGB" if is_color else "L"))
    return img[:, :, ::-1] if is_color else img[:, :, None]


class Transformer:
    """Caffe's DataTransformer for one uint8 H×W×C (BGR) image: crop (random at TRAIN, centre at TEST),
    mirror with probability ½ when ``mirror`` (in both phases, as Caffe), subtract mean_value(s) or the
    mean_file's image, multiply by scale. Output C×h×w float32. The activity fork's ``flow: true`` (its
    single-frame flow net): a mirrored flow image's x channel (channel 2, R of [x, y, |f|] read as BGR)
    becomes 255 − x before the mean, since mirroring reverses horizontal motion."""

    def __init__(self, layer, param, phase):
        self.layer = layer
        self.crop = param.int("crop_size", 0)
        self.scale = param.float("scale", 1.0)
        self.mirror = param.bool("mirror", False)
        self.flow = param.bool("flow", False)
        self.phase = phase
        self.mean_values = np.array(param.floats("mean_value"), np.float32)
        self.mean = None
        if "mean_file" in param:
            if len(self.mean_values):
                raise layer.error("transform_param: cannot specify mean_file and mean_value at the same time")
            from ..proto.caffemodel import read_blobproto_file
            mean = read_blobproto_file(param.str("mean_file"))
            self.mean = mean.reshape(mean.shape[-3:]).astype(np.float32)  # C×H×W

    def draw(self, h, w, rng):
        """The crop's corner and the mirror flag of an h×w image: what ``__call__`` draws from ``rng``."""
        if self.crop:
            if h < self.crop or w < self.crop:
                raise self.layer.error(f"image of {h}×{w} is smaller than crop_size {self.crop}")
            if self.phase == TRAIN:
                y, x = int(rng.integers(h - self.crop + 1)), int(rng.integers(w - self.crop + 1))
            else:
                y, x = (h - self.crop) // 2, (w - self.crop) // 2
        else:
            y, x = 0, 0
        return y, x, self.mirror and rng.integers(2)

    def __call__(self, img, rng):
        h, w, c = img.shape
        if len(self.mean_values) not in (0, 1, c):
            raise self.layer.error(f"transform_param: give 1 mean_value or one per channel ({c})")
        y, x, flip = self.draw(h, w, rng)
        ch, cw = (self.crop, self.crop) if self.crop else (h, w)
        out = img[y:y + ch, x:x + cw].astype(np.float32).transpose(2, 0, 1)
        if flip and self.flow and c == 3:
            out[2] = 255 - out[2]
        if self.mean is not None:
            if self.mean.shape != (c, h, w):
                raise self.layer.error(f"mean_file is {self.mean.shape}, images are {(c, h, w)}")
            out = out - self.mean[:, y:y + ch, x:x + cw]
        elif len(self.mean_values):
            out = out - self.mean_values.reshape(-1, 1, 1)
        if flip:
            out = out[:, :, ::-1]
        return np.ascontiguousarray(out * self.scale if self.scale != 1 else out)


@register
class ImageData(_DataLayer):
    """Images from a list of ``path label`` lines, resized (new_height/new_width, or up to min_height/
    min_width keeping the aspect ratio, as the activity fork), transformed, batch_size at a time."""
    type = "ImageData"
    # min_*: fork
    param_fields = {"image_data_param": {"source": S, "batch_size": U, "rand_skip": U, "shuffle": B, "new_height": U,
                                         "new_width": U, "is_color": B, "scale": F, "mean_file": S, "crop_size": U,
                                         "mirror": B, "root_folder": S, "min_height": I, "min_width": I}}
    exact_tops = 2

    def setup(self, bottom, top):
        p = self.layer_param.msg("image_data_param")
        self.batch_size = p.int("batch_size", 1)
        self.new_hw = (p.int("new_height", 0), p.int("new_width", 0))
        self.min_hw = (p.int("min_height", 0), p.int("min_width", 0))
        for pair, what in ((self.new_hw, "new_height and new_width"), (self.min_hw, "min_height and min_width")):
            if (pair[0] > 0) != (pair[1] > 0):
                raise self.error(f"{what} must be set together", "image_data_param")
        self.is_color = p.bool("is_color", True)
        self.root = p.str("root_folder", "")
        self.shuffle = p.bool("shuffle", False)
        source = p.str("source")

        def parse(line):
            path, _, label = line.strip().rpartition(" ")
            if not path:
                raise ValueError("expected '<path> <label>'")
            return path, int(label)
        self.lines = _read_list(self, source, parse)
        self.transform = Transformer(self, self.layer_param.msg("transform_param"), self.phase)
        rng = np.random.default_rng()
        rng.bit_generator.state = self._child_rng_state()
        order = np.arange(len(self.lines))
        if self.shuffle:
            rng.shuffle(order)
        cursor = 0
        skip = p.int("rand_skip", 0)
        if skip:
            cursor = int(rng.integers(skip))
            if cursor >= len(self.lines):
                raise self.error(f"rand_skip {skip} skips past the {len(self.lines)} images")
        first = self._read(int(order[cursor]))
        c = first.shape[2]
        hw = (self.transform.crop,) * 2 if self.transform.crop else first.shape[:2]
        top[0].reshape(self.batch_size, c, *hw)
        top[1].reshape(self.batch_size)
        state = {"order": order.tolist(), "cursor": cursor, "rng": rng.bit_generator.state}
        self.prefetcher = _Prefetcher(self._produce, state)

    def declared_shapes(self, n_tops):
        p, crop = self.layer_param.msg("image_data_param"), self.layer_param.msg("transform_param").int("crop_size", 0)
        hw = (crop, crop) if crop else (p.int("new_height", 0), p.int("new_width", 0))
        batch = p.int("batch_size", 1)
        return [(batch, 3 if p.bool("is_color", True) else 1) + hw if all(hw) else None, (batch,)]

    def _read(self, index, header_only=False):
        """Image ``index`` as uint8 H×W×C, resized; with ``header_only`` just its (H, W) after the resize,
        from the file's header (what a skipped item needs for the transformer's draws)."""
        path, _ = self.lines[index]
        full = os.path.join(self.root, path) if self.root else path
        try:
            if header_only:
                with Image.open(full) as im:
                    return self._resized_hw(im.height, im.width)
            img = read_image(full, self.is_color)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise self.error(f"cannot read image '{full}' (line {index + 1} of the source list): {e}") from None
        hw = self._resized_hw(*img.shape[:2])
        return img if hw == img.shape[:2] else _resize_bilinear(img, *hw)

    def _resized_hw(self, h, w):
        """new_height × new_width, or up to min_height × min_width keeping the aspect ratio (the fork's)."""
        if all(self.new_hw):
            return self.new_hw
        if all(self.min_hw) and (h < self.min_hw[0] or w < self.min_hw[1]):
            mh, mw = self.min_hw
            return (int(mw * (h / w) + 0.5), mw) if mw - w > mh - h else (mh, int(mh * (w / h) + 0.5))
        return h, w

    def _produce(self, st):
        rng = np.random.default_rng()
        rng.bit_generator.state = st["rng"]
        data, labels, i = None, np.empty(self.batch_size, np.float32), 0
        for keep in parallel.strided(self.phase, self.batch_size):
            index = st["order"][st["cursor"]]
            if keep:
                x = self.transform(self._read(index), rng)
                if data is None:
                    data = np.empty((self.batch_size,) + x.shape, np.float32)
                if x.shape != data.shape[1:]:
                    raise self.error(f"image '{self.lines[index][0]}' gives {x.shape}, the batch has "
                                     f"{data.shape[1:]}; set new_height/new_width or crop_size")
                data[i] = x
                labels[i] = self.lines[index][1]
                i += 1
            elif self.transform.crop or self.transform.mirror:  # its draws, so the generator stays global
                self.transform.draw(*self._read(index, header_only=True), rng)
            st["cursor"] += 1
            if st["cursor"] == len(st["order"]):
                st["cursor"] = 0
                if self.shuffle:
                    rng.shuffle(st["order"])
        st["rng"] = rng.bit_generator.state
        return [data, labels], st


@register
class Data(_DataLayer):
    """Caffe's Data layer: Datums from an LMDB (data_param.source, a folder), batch_size at a time in key
    order, back to the first key after the last, each transformed by transform_param (encoded JPEG/PNG
    decoded first). Top 0 is batch×C×H×W from the first datum (crop_size² when cropping); top 1, if given,
    the labels. The reading state is the next key and the count of datums read (Caffe 1.0's offset).

    ``backend`` defaults to LEVELDB in caffe.proto: left unset, a folder holding an LMDB is read as one;
    LevelDB itself is not supported (convert with Caffe's convert_imageset -backend lmdb)."""
    type = "Data"
    # scale, mean_file, crop_size, mirror: deprecated (V1), moved to transform_param by the V1 upgrade
    param_fields = {"data_param": {"source": S, "batch_size": U, "rand_skip": U, "backend": E, "scale": F,
                                   "mean_file": S, "crop_size": U, "mirror": B, "force_encoded_color": B,
                                   "prefetch": U}}
    min_tops, max_tops = 1, 2

    def setup(self, bottom, top):
        from ..data.datum import open_lmdb
        p = self.layer_param.msg("data_param")
        self.batch_size = p.int("batch_size", 0)
        if self.batch_size <= 0:
            raise self.error("data_param.batch_size must be positive", "data_param")
        for old in ("scale", "mean_file", "crop_size", "mirror"):
            if old in p:
                log.warning("%s: data_param.%s is deprecated and ignored in a V2 net (Caffe ignores it too): "
                            "put it in transform_param", self.name, old)
        source = p.str("source")
        backend = p.enum("backend", None, ("LEVELDB", "LMDB"))
        is_lmdb = os.path.exists(os.path.join(source, "data.mdb"))
        if backend == "LEVELDB" or (backend is None and not is_lmdb and os.path.isdir(source)):
            raise self.error(f"'{source}' is a LevelDB database (data_param.backend "
                             f"{'LEVELDB' if backend else 'unset: LEVELDB by default'}): lrcn_native reads LMDB "
                             "only; convert it (Caffe's convert_imageset -backend lmdb, or lrcn convert-imageset)",
                             "data_param")
        try:
            self.env = open_lmdb(source)
        except Exception as e:  # not a folder, not an LMDB, lmdb missing, or damaged
            raise self.error(f"cannot open data_param.source: {e}", "data_param") from None
        tp = self.layer_param.msg("transform_param")
        self.transform = Transformer(self, tp, self.phase)
        force = (tp.bool("force_color", False) or p.bool("force_encoded_color", False), tp.bool("force_gray", False))
        if all(force):
            raise self.error("transform_param: force_color and force_gray cannot both be set", "transform_param")
        self.is_color = True if force[0] else (False if force[1] else None)
        with self.env.begin() as txn:
            cursor = txn.cursor()
            if not cursor.first():
                raise self.error(f"LMDB '{source}' is empty", "data_param")
            skip = p.int("rand_skip", 0)
            rng = np.random.default_rng()
            rng.bit_generator.state = self._child_rng_state()
            for _ in range(int(rng.integers(skip)) if skip else 0):  # wrapping around, as Caffe's skip
                if not cursor.next():
                    cursor.first()
            start = cursor.key()
            img, _ = self._image(start, cursor.value())
        c = img.shape[2]
        hw = (self.transform.crop,) * 2 if self.transform.crop else img.shape[:2]
        top[0].reshape(self.batch_size, c, *hw)
        if len(top) > 1:
            top[1].reshape(self.batch_size)
        state = {"key": start.hex(), "offset": 0, "rng": rng.bit_generator.state}
        self.prefetcher = _Prefetcher(self._produce, state, depth=max(1, p.int("prefetch", 4)))

    def declared_shapes(self, n_tops):
        tp, batch = self.layer_param.msg("transform_param"), self.layer_param.msg("data_param").int("batch_size", 0)
        crop = tp.int("crop_size", 0)
        channels = 3 if tp.bool("force_color", False) else 1 if tp.bool("force_gray", False) else 0
        return [(batch, channels, crop, crop) if crop and channels else None, (batch,)][:n_tops]

    def _image(self, key, value):
        from ..data.datum import datum_image, decode_datum
        where = f"datum '{key.decode(errors='replace')}' of LMDB '{self.env.path()}'"
        try:
            datum = decode_datum(value)
            return datum_image(datum, self.is_color, where), datum.label
        except ValueError as e:
            raise self.error(str(e) if str(e).startswith(where) else f"{where}: {e}") from None

    def _image_hw(self, key, value):
        """A datum's image height and width, from its fields or the encoded file's header (no decoding)."""
        from ..data.datum import decode_datum
        try:
            datum = decode_datum(value)
            if not datum.encoded:
                return datum.height, datum.width
            with Image.open(io.BytesIO(datum.data)) as im:
                return im.height, im.width
        except (OSError, ValueError) as e:
            raise self.error(f"datum '{key.decode(errors='replace')}' of LMDB '{self.env.path()}': {e}") from None

    def _produce(self, st):
        rng = np.random.default_rng()
        rng.bit_generator.state = st["rng"]
        data, labels = None, np.empty(self.batch_size, np.float32)
        with self.env.begin() as txn:
            cursor = txn.cursor()
            if not cursor.set_key(bytes.fromhex(st["key"])):
                raise self.error(f"LMDB '{self.env.path()}' changed while being read: key {st['key']} is gone")
            i = 0
            for keep in parallel.strided(self.phase, self.batch_size):
                if keep:
                    img, labels[i] = self._image(cursor.key(), cursor.value())
                    x = self.transform(img, rng)
                    if data is None:
                        data = np.empty((self.batch_size,) + x.shape, np.float32)
                    if x.shape != data.shape[1:]:
                        raise self.error(f"datum '{cursor.key().decode(errors='replace')}' gives {x.shape}, the "
                                         f"batch has {data.shape[1:]}: set transform_param.crop_size")
                    data[i] = x
                    i += 1
                elif self.transform.crop or self.transform.mirror:  # its draws, so the generator stays global
                    self.transform.draw(*self._image_hw(cursor.key(), cursor.value()), rng)
                st["offset"] += 1
                if not cursor.next():  # Caffe: "Restarting data prefetching from start."
                    cursor.first()
            st["key"] = cursor.key().hex()
        st["rng"] = rng.bit_generator.state
        return [data, labels], st
