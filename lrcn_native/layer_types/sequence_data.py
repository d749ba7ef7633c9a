"""SequenceData: 16-frame video clips for LRCN activity recognition, as the released Python data layer
(LisaAnne/lisa-caffe-public@49b8643d, examples/LRCN_activity_recognition/sequence_input_layer.py) made them,
prefetched and resumable like HDF5Data (layer_types/data.py).

    layer { name: "data" type: "SequenceData" top: "data" top: "label" top: "clip_markers"
      sequence_data_param { source: "ucf101_split1_trainVideos.txt" root_folder: "frames/"
                            frames: 16 buffer_size: 24 } }

``source`` lists ``<Class>/<video> <label>`` (0-based labels); video v's frames are
``<root_folder>/<v>/<name>.%04d.jpg`` (data/video_frames.py). Each batch holds ``buffer_size`` clips of
``frames`` frames, T = frames, N = buffer_size; tops, time-major (frame t of clip n at row t·N + n):
  data          T·N × 3 × crop_size × crop_size, BGR, ×255, minus the mean (caffe.io.Transformer's steps)
  label         T·N, the clip's label on each of its frames
  clip_markers  T·N, 0 on each clip's first frame, 1 elsewhere (optional top)

How clips are chosen (the same at TRAIN and TEST, as released): the videos in list order, N consecutive ones
per batch, wrapping around the list (no shuffling; the released lists are shuffled once on disk). Per clip
the released layer drew, from Python's ``random`` seeded with 10: crop offsets r0 = int(u·(new_height −
crop_size)), r1 = int(u·(new_width − crop_size)), mirror = int(u·2) (Python 2's randint(0, 1)), start frame
int(u·(count − frames) + 1 + 1) — so frames start..start+frames−1 with start in 2..count−frames+1: frame 1
is never read, and a folder numbered from 1 needs frames + 1 frames. We draw the same numbers in the same
order from a Mersenne Twister seeded as Python's ``random.seed(seed)``: ``seed`` (the released classes: 10),
else one drawn from the generator the solver's random_seed seeds. The released layer shared Python's global
generator between its train and test instances; here each layer has its own.

Per frame (caffe.io, lrcn_native/io.py): load as RGB in [0, 1]; a frame smaller than new_height × new_width
(240 × 320) in either side is resized to it; a mirrored clip is flipped and cropped at (r0, r1); then every
frame that is not crop_size² is resized to it, and transposed, swapped to BGR, ×255, minus the mean.

The released quirks, each an option defaulting to the released behaviour:
  mean_value               default 103.939 116.779 128.68 (B, G, R; flow: 128): 128.68 is a typo for 123.68
                           that the released LSTM weights were trained with; give 123.68 for the correct mean
  crop_only_when_mirrored  true: the random crop is taken only when the clip is mirrored, otherwise the whole
                           frame is resized to crop_size² (false: every clip is cropped at (r0, r1))
  mirror_negates_flow_x    true (flow only): mirroring turns the x-flow channel (R) into 1 − x in [0, 1],
                           i.e. 255 − x, as the fork's caffe.io.flip_image(im, 1, is_flow) did in training.
                           (The released classify_video.py has this commented out for the LRCN nets' 10-crop
                           evaluation but active for the single-frame nets; that is the evaluation's quirk.)
  mirror                   true: mirror with probability ½ (the draw is made either way)
The released clip markers were cm[0::16] = 0, right only for 16-frame clips; ours mark each clip's first
frame whatever ``frames`` is.

The activity fork's original prototxts name the Python layer (module ``sequence_input_layer``, classes
videoReadTrain_RGB, videoReadTest_RGB, videoReadTrain_flow, videoReadTest_flow); Net builds those as this
layer (never importing a module of that name) with the released settings (``released``), read relative to
the working directory as released:
``frames/`` or ``flow_images/``, ``ucf101_split1_{train,test}Videos.txt``, 24 clips at TRAIN and 3 at TEST.
python_param.param_str overrides any of them with sequence_data_param fields in prototxt syntax, e.g.
``param_str: "source: 'lists/train.txt' root_folder: '/data/ucf101/frames/'"``.
"""
import os
import random

import numpy as np
from PIL import Image

from .. import io, mode, parallel
from ..data.clips import repeat_labels
from ..data.video_frames import VideoFrames
from ..layer import register
from ..proto.schema import B, F, Rep, S, U, validate
from ..proto.text import Ident, Message, parse
from .data import _DataLayer, _Prefetcher, _read_list

RGB_MEAN = (103.939, 116.779, 128.68)  # B, G, R as released (128.68: the typo for 123.68)
FLOW_MEAN = (128.0, 128.0, 128.0)


@register
class SequenceData(_DataLayer):
    type = "SequenceData"
    param_fields = {"sequence_data_param": {
        "source": S, "root_folder": S, "frames": U, "buffer_size": U, "flow": B, "new_height": U,
        "new_width": U, "crop_size": U, "mean_value": Rep(F), "mirror": B, "crop_only_when_mirrored": B,
        "mirror_negates_flow_x": B, "seed": U}}
    min_tops, max_tops = 2, 3

    def setup(self, bottom, top):
        p = self.layer_param.msg("sequence_data_param")
        self.T, self.N = p.int("frames", 16), p.int("buffer_size", 24)
        self.size = (p.int("new_height", 240), p.int("new_width", 320))
        self.crop = p.int("crop_size", 227)
        if min(self.T, self.N, self.crop) <= 0:
            raise self.error("frames, buffer_size and crop_size must be positive", "sequence_data_param")
        if self.crop > min(self.size):
            raise self.error(f"crop_size {self.crop} is larger than new_height × new_width {self.size}",
                             "sequence_data_param")
        flow = p.bool("flow", False)
        mean = p.floats("mean_value") or (FLOW_MEAN if flow else RGB_MEAN)
        if len(mean) not in (1, 3):
            raise self.error(f"give 1 mean_value or 3 (B, G, R), got {len(mean)}", "sequence_data_param")
        self.mirror = p.bool("mirror", True)
        self.crop_only_when_mirrored = p.bool("crop_only_when_mirrored", True)
        self.negate_x = flow and p.bool("mirror_negates_flow_x", True)
        # caffe.io.Transformer set up as released: ×255, the mean as a float64 per channel, RGB -> BGR, HWC -> CHW.
        self.transformer = io.Transformer({"data": (self.T * self.N, 3, self.crop, self.crop)})
        self.transformer.set_raw_scale("data", 255)
        self.transformer.set_mean("data", np.broadcast_to(np.array(mean, np.float64), (3,)).copy())
        self.transformer.set_channel_swap("data", (2, 1, 0))
        self.transformer.set_transpose("data", (2, 0, 1))
        self.source = p.str("source")
        if not self.source:
            raise self.error("sequence_data_param.source (the video list) is required", "sequence_data_param")
        self.videos = [self._video(line, entry, p.str("root_folder", ""))
                       for line, entry in _read_list(self, self.source, _parse_line, with_lines=True)]
        top[0].reshape(self.T * self.N, 3, self.crop, self.crop)
        for blob in top[1:]:
            blob.reshape(self.T * self.N)
        seed = p.int("seed") if "seed" in p else int(mode.rng().integers(2 ** 32))
        state = {"video": 0, "rng": _jsonable(random.Random(seed).getstate())}
        self.prefetcher = _Prefetcher(self._produce, state)

    def declared_shapes(self, n_tops):
        p = self.layer_param.msg("sequence_data_param")
        rows, crop = p.int("frames", 16) * p.int("buffer_size", 24), p.int("crop_size", 227)
        return [(rows, 3, crop, crop)] + [(rows,)] * (n_tops - 1)

    def _video(self, line, entry, root):
        """(line, name, label, VideoFrames) of one list entry, checked for enough frames."""
        name, label = entry
        try:
            frames = VideoFrames(os.path.join(root, name))
        except ValueError as e:
            raise self.error(f"{self.source}:{line}: video '{name}': {e}") from None
        # Clips start at frame 2 .. count − T + 1 (the released sampler), so frames 2 .. that + T − 1 must exist.
        needed = max(frames.count - self.T + 1, 2) + self.T - 1
        if frames.count < self.T or frames.first > 2 or frames.last < needed:
            raise self.error(f"{self.source}:{line}: video '{name}' has {frames.count} frames numbered "
                             f"{frames.first}..{frames.last} in '{frames.folder}'; clips of {self.T} frames start "
                             f"at frame 2 as released, which needs frames 2..{needed}")
        return line, name, label, frames

    def _produce(self, st):
        rng = random.Random()
        rng.setstate(_rng_state(st["rng"]))
        (h, w), c, T, N = self.size, self.crop, self.T, self.N
        data = np.empty((T, N, 3, c, c), np.float32)  # time-major: frame t of clip n is row t·N + n
        labels = np.empty(N, np.float32)
        n = 0
        # Clip j of the P·N of a data-parallel iteration goes to rank j mod P (parallel.strided); a skipped
        # clip makes its four draws too.
        keeps = parallel.strided(self.phase, N)
        for j, keep in enumerate(keeps):
            line, name, label, frames = self.videos[(st["video"] + j) % len(self.videos)]
            # The released draws, in its order (see the module docstring).
            r0, r1 = int(rng.random() * (h - c)), int(rng.random() * (w - c))
            flip = int(rng.random() * 2) == 1 and self.mirror
            start = int(rng.random() * (frames.count - T) + 1 + 1)
            if keep:
                labels[n] = label
                for t in range(T):
                    data[t, n] = self._frame(frames.path(start + t), line, flip, r0, r1)
                n += 1
        st["video"] = (st["video"] + len(keeps)) % len(self.videos)
        st["rng"] = _jsonable(rng.getstate())
        cont = np.ones((T, N), np.float32)
        cont[0] = 0
        tops = [data.reshape(T * N, 3, c, c), repeat_labels(labels, T).reshape(-1), cont.reshape(-1)]
        return tops[:len(self.layer_param.all("top"))], st

    def _frame(self, path, line, flip, r0, r1):
        try:
            img = io.load_image(path)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise self.error(f"cannot read frame '{path}' (video of {self.source}:{line}): {e}") from None
        if img.shape[0] < self.size[0] or img.shape[1] < self.size[1]:
            img = io.resize_image(img, self.size)
        if flip:
            img = io.flip_image(img, 1, self.negate_x)
        if flip or not self.crop_only_when_mirrored:
            img = img[r0:r0 + self.crop, r1:r1 + self.crop]
        return self.transformer.preprocess("data", img)


def _parse_line(line):
    """'<Class>/<video> <label>' -> (video, label); the class folder is not part of the frames' path."""
    parts = line.split()
    if len(parts) != 2:
        raise ValueError("expected '<Class>/<video> <label>'")
    try:
        label = int(parts[1])
    except ValueError:
        raise ValueError(f"label '{parts[1]}' is not an integer") from None
    return parts[0].rstrip("/").split("/")[-1], label


def _jsonable(state):
    """random.Random's state as JSON can hold it (the solver's run state): lists for its tuples."""
    version, key, gauss = state
    return [version, list(key), gauss]


def _rng_state(state):
    version, key, gauss = state
    return version, tuple(key), gauss


# --- the released Python layer's classes -------------------------------------------------------------
# class name -> (train, flow): its list, frames root and buffer (24 clips at TRAIN, 3 at TEST), 16 frames.
RELEASED = {"videoReadTrain_RGB": (True, False), "videoReadTest_RGB": (False, False),
            "videoReadTrain_flow": (True, True), "videoReadTest_flow": (False, True)}
RELEASED_MODULE = "sequence_input_layer"


def released(lp, phase):
    """The SequenceData layer a released ``type: "Python"`` layer (module sequence_input_layer, a class of
    RELEASED) stands for: its hard-coded settings, overridden by python_param.param_str's fields."""
    pp = lp.msg("python_param")
    train, flow = RELEASED[pp.str("layer")]
    where = lp.where["python_param"][-1] if "python_param" in lp.where else (lp.line, lp.col)
    given = parse(pp.str("param_str"), f"{lp.filename}:{where[0]} python_param.param_str")  # errors name both
    validate(given, SequenceData.param_fields["sequence_data_param"],
             f"layer '{lp.str('name')}' python_param.param_str (sequence_data_param fields)")
    param = Message(lp.filename, *where)
    defaults = {"source": f"ucf101_split1_{'train' if train else 'test'}Videos.txt",
                "root_folder": "flow_images/" if flow else "frames/", "frames": 16,
                "buffer_size": 24 if train else 3, "flow": Ident("true" if flow else "false"), "seed": 10}
    for name, value in defaults.items():
        if name not in given:
            param.add(name, value, *where)
    for name in given:
        for value, pos in zip(given.all(name), given.where[name]):
            param.add(name, value, *pos)
    layer_param = Message(lp.filename, lp.line, lp.col)
    for name in lp:
        for value, pos in zip(lp.all(name), lp.where[name]):
            layer_param.add(name, "SequenceData" if name == "type" else value, *pos)
    layer_param.add("sequence_data_param", param, *where)
    return SequenceData(layer_param, phase)
