"""UCF-101 for LRCN activity recognition: videos -> frames and flow images in the released layout, and the
split lists in the released format (CAFFE_FACTS §1). `lrcn prepare-ucf101` drives `prepare`.

Under OUT, as the released data layer (sequence_input_layer.py) and classify_video.py read them:
  frames/<video>/<video>.0001.jpg …                  every decoded frame (or a chosen fps)
  flow_images/<video>/flow_image_<video>.0002.jpg …  flow from frame k-1 to frame k, k >= 2 (none for frame 1)
  ucf101_split<N>_{train,test}Videos.txt             `<Class>/<video> <label>`, labels 0-based
  prepare_ucf101.json                                the settings OUT was prepared with
A video's folder is written as a hidden `.<video>.partial` folder and renamed into place once complete: a
folder under its real name is finished and skipped by the next run; a killed run leaves only partial
folders, which the next run redoes. Videos are prepared in parallel by spawned processes (never forked:
ECOSYSTEM's OpenMP pitfall), and split across machines with shards (--shard K/N) or across the ranks of an
MPI launch (mpiexec -n P), or both.
"""
import json
import logging
import multiprocessing
import os
import random
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

from .. import distributed
from ..fileio import atomic_write_text
from .flow import check_flow_method, flow_images
from .video import IMAGE_EXTENSIONS, JPEG_QUALITY, VIDEO_EXTENSIONS, frame_name, read_frames, require_av

log = logging.getLogger("lrcn_native")

SETTINGS = "prepare_ucf101.json"


# ---- split lists -------------------------------------------------------------------------------------------

def _lines(path):
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                yield lineno, line.split()


def read_video_list(path):
    """A released list `<Class>/<video> <label>` (0-based labels) -> [(class, video, label)]."""
    entries = []
    for lineno, words in _lines(path):
        if len(words) != 2 or words[0].count("/") != 1 or not words[1].isdigit():
            raise ValueError(f"{path}:{lineno}: expected '<Class>/<video> <label>', got {' '.join(words)!r}")
        cls, video = words[0].split("/")
        entries.append((cls, video, int(words[1])))
    return entries


def read_class_index(path):
    """The official classInd.txt (`1 ApplyEyeMakeup`, 1-based) -> {class: 0-based label}."""
    classes = {}
    for lineno, words in _lines(path):
        if len(words) != 2 or not words[0].isdigit() or int(words[0]) < 1 or words[1] in classes:
            raise ValueError(f"{path}:{lineno}: expected '<id from 1> <new class name>', got {' '.join(words)!r}")
        classes[words[1]] = int(words[0]) - 1
    return classes


def read_official_list(path, classes):
    """An official trainlist0N.txt (`Class/v_X.avi 1`, 1-based) or testlist0N.txt (`Class/v_X.avi`) ->
    [(class, video, 0-based label)]; the label comes from the class folder and must agree with a given one."""
    entries = []
    for lineno, words in _lines(path):
        if len(words) not in (1, 2) or words[0].count("/") != 1:
            raise ValueError(f"{path}:{lineno}: expected '<Class>/<video file> [label]', got {' '.join(words)!r}")
        cls, file = words[0].split("/")
        if cls not in classes:
            raise ValueError(f"{path}:{lineno}: class {cls!r} is not in classInd.txt")
        if len(words) == 2 and (not words[1].isdigit() or int(words[1]) - 1 != classes[cls]):
            raise ValueError(f"{path}:{lineno}: label {words[1]} disagrees with classInd.txt's "
                             f"{classes[cls] + 1} for {cls}")
        entries.append((cls, os.path.splitext(file)[0], classes[cls]))
    return entries


def write_video_list(path, entries):
    atomic_write_text(path, "".join(f"{cls}/{video} {label}\n" for cls, video, label in entries))


def convert_splits(folder, out, seed=0):
    """Writes out/ucf101_split<N>_{train,test}Videos.txt from the split files in folder: the official
    classInd.txt + trainlist0N.txt + testlist0N.txt, or released-format lists (checked and copied).
    Official training lists are shuffled (random.Random(seed)): the released data layer reads videos in list
    order, 24 per batch, and the released lists are shuffled; test lists keep their order (it does not
    change accuracy). Returns {list file name: entries}."""
    lists = {}
    for name in sorted(os.listdir(folder)):
        m = re.fullmatch(r"ucf101_split(\d+)_(train|test)Videos\.txt", name)
        if m:
            lists[name] = read_video_list(os.path.join(folder, name))
    official = sorted(n for n in os.listdir(folder) if re.fullmatch(r"(train|test)list\d+\.txt", n))
    if official:
        index = os.path.join(folder, "classInd.txt")
        if not os.path.isfile(index):
            raise ValueError(f"{folder}: {official[0]} needs classInd.txt beside it")
        classes = read_class_index(index)
        for name in official:
            kind, number = re.fullmatch(r"(train|test)list(\d+)\.txt", name).groups()
            entries = read_official_list(os.path.join(folder, name), classes)
            if kind == "train":
                random.Random(seed).shuffle(entries)
            lists[f"ucf101_split{int(number)}_{kind}Videos.txt"] = entries
    if not lists:
        raise ValueError(f"{folder}: no split files (classInd.txt with trainlist0N.txt / testlist0N.txt, "
                         "or ucf101_splitN_{train,test}Videos.txt)")
    for name, entries in lists.items():
        write_video_list(os.path.join(out, name), entries)
    return lists


# ---- one video ---------------------------------------------------------------------------------------------

def flow_image_name(video, k):
    """The released name of the flow image into frame k (k >= 2): `flow_image_v_X.0002.jpg`."""
    return "flow_image_" + frame_name(video, k)


def _build_folder(final, fill):
    """Runs fill(tmp) on an empty hidden folder beside `final`, then renames it to `final`. Returns False
    (doing nothing) when `final` exists: a folder under its real name is complete. A stale partial folder
    left by a killed run is removed first; on any error the partial folder is removed."""
    if os.path.isdir(final):
        return False
    parent, base = os.path.split(final)
    tmp = os.path.join(parent, f".{base}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        fill(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


def _save_jpegs(folder, named_images, quality):
    """Writes (file name, H x W x 3 uint8) pairs as JPEGs into folder."""
    from PIL import Image
    for name, image in named_images:
        Image.fromarray(image).save(os.path.join(folder, name), "JPEG", quality=quality)


def prepare_video(video, source, out, fps=None, size=None, flow="tvl1", quality=JPEG_QUALITY):
    """Frames, then flow images (unless flow is "none"), of one video (a video file or a folder of frames)
    under out; each stage is skipped when its folder is already complete. The flow comes from the written
    JPEG frames, as released. Returns which stages this call did: {"frames": bool, "flow": bool}."""
    frames_dir = os.path.join(out, "frames", video)

    def write_frames(tmp):
        frames = enumerate(read_frames(source, fps, size), 1)
        _save_jpegs(tmp, ((frame_name(video, k), frame) for k, frame in frames), quality)

    def write_flow(tmp):  # image k is the flow from frame k - 1 to frame k
        images = enumerate(flow_images(read_frames(frames_dir), flow), 2)
        _save_jpegs(tmp, ((flow_image_name(video, k), image) for k, image in images), quality)
    did = {"frames": _build_folder(frames_dir, write_frames)}
    did["flow"] = flow != "none" and _build_folder(os.path.join(out, "flow_images", video), write_flow)
    return did


def _job(video, source, out, options):
    """A worker's task: (video, what was done, None) or (video, None, the reason it failed)."""
    try:
        return video, prepare_video(video, source, out, **options), None
    except Exception as e:  # noqa: BLE001 -- any failure of one video is reported by name, the run goes on
        return video, None, f"{type(e).__name__}: {e}"


def _single_thread_workers():
    """Each worker process uses one thread in OpenCV: the processes already fill the cores."""
    try:
        import cv2
        cv2.setNumThreads(1)
    except ImportError:
        pass


# ---- the whole set -----------------------------------------------------------------------------------------

def find_videos(root, exclude=None):
    """{video name: source} of every video under root: video files (searched recursively; the name is the
    file name without extension) and folders of frame images (the folder's name). root may itself be one
    video file or one folder of frames. Hidden entries and the folder `exclude` (OUT) are skipped."""
    if os.path.isfile(root):
        return {os.path.splitext(os.path.basename(root))[0]: root}
    if not os.path.isdir(root):
        raise ValueError(f"{root}: no such video file or folder")
    exclude = os.path.abspath(exclude) if exclude else None
    found = {}

    def add(name, source):
        if name in found:
            raise ValueError(f"two videos named {name!r}: {found[name]} and {source}")
        found[name] = source
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs
                         if not d.startswith(".") and os.path.abspath(os.path.join(folder, d)) != exclude)
        files = [f for f in files if not f.startswith(".")]
        if any(f.lower().endswith(IMAGE_EXTENSIONS) for f in files):
            add(os.path.basename(os.path.abspath(folder)), folder)
            dirs[:] = []
            continue
        for f in sorted(files):
            if f.lower().endswith(VIDEO_EXTENSIONS):
                add(os.path.splitext(f)[0], os.path.join(folder, f))
    return dict(sorted(found.items()))


def parse_shard(text):
    """'K/N' -> (K, N), 1 <= K <= N: this machine prepares the videos i (in name order) with i mod N = K - 1."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not 1 <= int(m[1]) <= int(m[2]):
        raise ValueError(f"shard must be K/N with 1 <= K <= N (e.g. 2/4), got {text!r}")
    return int(m[1]), int(m[2])


def parse_size(text):
    """'WIDTHxHEIGHT' -> (width, height)."""
    m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", text or "")
    if not m or not int(m[1]) > 0 < int(m[2]):
        raise ValueError(f"size must be WIDTHxHEIGHT (e.g. 320x240), got {text!r}")
    return int(m[1]), int(m[2])


def _check_settings(out, settings):
    """Refuses to mix settings in one OUT; records them (a flow method is added when first given)."""
    path = os.path.join(out, SETTINGS)
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        both_flow = old["flow"] != "none" and settings["flow"] != "none"
        for key in ("fps", "size", "quality") + (("flow",) if both_flow else ()):
            if old[key] != settings[key]:
                raise ValueError(f"{path}: {out} was prepared with {key} {old[key]}, this run asks for "
                                 f"{settings[key]}: keep the settings or use another output folder")
        settings = dict(settings, flow=old["flow"] if settings["flow"] == "none" else settings["flow"])
    atomic_write_text(path, json.dumps(settings, indent=1) + "\n")


def prepare(videos, out, fps=None, size=None, flow="tvl1", quality=JPEG_QUALITY, jobs=1, shard=None,
            splits=None, seed=0, progress=True, ranks=None):
    """Prepares every video under `videos` (see find_videos) into `out` (see the module's docstring).

    jobs: worker processes (1: in this process). shard: (K, N) prepares only the K-th of N interleaved
    parts. splits: a folder of split files to write the lists from (see convert_splits). A video that cannot
    be read is reported by name and skipped; nothing already prepared is touched.

    Several processes (an MPI launch: `ranks`, default distributed.world()) share the work: rank 0 alone
    finds the videos, checks and writes the settings and the lists; rank r of P prepares the videos i (of this
    shard, in name order) with i mod P = r, so machines (shards) x ranks split the set without overlap and
    any later run, on any number of ranks, resumes it. Every rank returns the totals of all ranks:
    {"videos", "prepared", "skipped", "failed": {video: reason}, "seconds" (the slowest rank's),
    "ranks": [each rank's own counts, "failed" and "seconds"], "lists": {file: missing videos}}.
    """
    ranks = ranks or distributed.world()
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    options = {"fps": fps, "size": list(size) if size else None, "flow": flow, "quality": quality}

    def setup():      # on rank 0 alone; a rank whose machine lacks an extra then fails video by video, reported
        if flow != "none":
            check_flow_method(flow)                  # an unknown method or a missing extra fails now, once
        items = list(find_videos(videos, exclude=out).items())
        if shard is not None:
            k, n = shard
            items = items[k - 1::n]
        if any(os.path.isfile(src) for _, src in items):
            require_av()
        os.makedirs(out, exist_ok=True)
        _check_settings(out, options)
        return items, convert_splits(splits, out, seed) if splits else {}
    items, lists = distributed.on_root(setup, ranks)
    items = items[ranks.rank::ranks.size]

    summary = {"rank": ranks.rank, "videos": len(items), "prepared": 0, "skipped": 0, "failed": {}}
    bar = _progress(len(items), ranks) if progress else None
    where = f"rank {ranks.rank}/{ranks.size}: " if ranks.size > 1 else ""
    t0 = time.monotonic()

    def record(video, did, error):
        if error:
            summary["failed"][video] = error
            (bar.write if bar is not None else log.error)(f"{where}{video}: skipped: {error}")
        elif any(did.values()):
            summary["prepared"] += 1
        else:
            summary["skipped"] += 1
        if bar is not None:
            bar.set_postfix(failed=len(summary["failed"]), refresh=False)
            bar.update(1)
    with distributed.abort_on_error(ranks, "prepare-ucf101"):
        try:
            if jobs == 1:
                if ranks.size > 1:       # each rank is one core's worker, as the pool's processes are
                    _single_thread_workers()
                for video, source in items:
                    record(*_job(video, source, out, options))
            else:
                with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_single_thread_workers) as pool:
                    for done in as_completed([pool.submit(_job, v, s, out, options) for v, s in items]):
                        record(*done.result())
        finally:
            if bar is not None:
                bar.close()
    summary["seconds"] = time.monotonic() - t0
    parts = ranks.comm.allgather(summary) if ranks.size > 1 else [summary]
    total = {key: sum(p[key] for p in parts) for key in ("videos", "prepared", "skipped")}
    total.update(failed={v: e for p in parts for v, e in p["failed"].items()},
                 seconds=max(p["seconds"] for p in parts), ranks=parts)
    total["lists"] = distributed.on_root(lambda: {name: [v for _, v, _ in entries if not _complete(out, v, flow)]
                                                  for name, entries in lists.items()}, ranks)
    return total


def _complete(out, video, flow):
    return os.path.isdir(os.path.join(out, "frames", video)) and (
        flow == "none" or os.path.isdir(os.path.join(out, "flow_images", video)))


def _progress(total, ranks):
    """A tqdm bar for one process; under several ranks, whole lines naming the rank (P processes' carriage
    returns would garble the launcher's merged output)."""
    if ranks.size > 1:
        return _RankLines(total, ranks)
    try:
        from tqdm import tqdm
    except ImportError:
        log.warning("no progress bar: tqdm is not installed (pip install 'lrcn_native[video]')")
        return None
    return tqdm(total=total, unit="video", desc="prepare-ucf101", dynamic_ncols=True)


class _RankLines:
    """tqdm's write / set_postfix / update / close as progress lines of one rank on stderr: one at most every
    `every` seconds, and the last: `prepare-ucf101 rank 1/4: 120/3330 videos, 2 failed, 0.8 videos/s`."""

    def __init__(self, total, ranks, every=30.0):
        self.total, self.every, self.done, self.failed = total, every, 0, 0
        self.name = f"prepare-ucf101 rank {ranks.rank}/{ranks.size}"
        self.t0 = self.shown = time.monotonic()

    def write(self, text):
        print(text, file=sys.stderr, flush=True)

    def set_postfix(self, failed, refresh=False):
        self.failed = failed

    def update(self, n):
        self.done += n
        now = time.monotonic()
        if now - self.shown >= self.every or self.done == self.total:
            self.shown = now
            self.write(f"{self.name}: {self.done}/{self.total} videos, {self.failed} failed, "
                       f"{self.done / max(now - self.t0, 1e-9):.2f} videos/s")

    def close(self):
        pass
