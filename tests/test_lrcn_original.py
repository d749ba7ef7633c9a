"""Every original LRCN net builds (the released prototxt files in tests/util.py's ORIGINAL, see its SOURCES.md).

Each file parses (poolmean.prototxt's released syntax error is reported at its line and column, and the
corrected text builds). Each net is built as ``lrcn_native.Net(path, phase, level=, stages=)`` in every state
it declares: the train_state / test_state of the solver files beside it, the architecture variants those
solvers list in their comments ("(2) stage: 'unfactored' stage: '1-layer'": "to use a different variant,
modify the states"), TEST for deploy nets, and for an include rule that none of these meets, the same states
with the rule's phase and stages (e.g. the VGG nets' test states, which their solvers comment out).
Data layers read small real files written here: the prototxt text is copied with only its ``source:`` (and
``root_folder:``) paths rewritten; the activity nets' Python layer (sequence_input_layer) is built in as
SequenceData, its released paths given by python_param.param_str. Key blob
and parameter shapes are checked against the paper's numbers (CAFFE_FACTS.md §1); two small configurations
run forward and backward end to end.

Cost: parameters are filled at setup (a CaffeNet ~61M, VGG ~138M). The first state of each file fills them
for real; the file's other states build with a no-op filler, since they differ in wiring, not in fills.
Blob memory is only allocated when touched, so no activations are allocated for nets that never run.
"""
import math
import pathlib
import random
import re

import h5py
import numpy as np
import pytest
from PIL import Image

import lrcn_native as caffe
from lrcn_native import filler
from lrcn_native.layer import PHASES, TEST, TRAIN
from lrcn_native.proto.schema import validate_net, validate_solver
from lrcn_native.proto.text import PrototxtError, parse, parse_file
from util import ORIGINAL as ORIG
from util import needs_original, write_videos

pytestmark = needs_original

FILES = sorted(ORIG.glob("*/*.prototxt")) if ORIG.is_dir() else []
NETS = [p for p in FILES if "solver" not in p.name]

# The one released file with a syntax error: line 57 lost the opening quote of a string.
POOLMEAN = "youtube/poolmean.prototxt"
POOLMEAN_BROKEN, POOLMEAN_FIXED = 'source: ./hdf5/buffer_100', 'source: "./hdf5/buffer_100'


def rel(path):
    return path.relative_to(ORIG).as_posix()


def net_text(path):
    """The file's text; poolmean.prototxt with its one missing quote restored."""
    text = path.read_text()
    if rel(path) == POOLMEAN:
        assert text.count(POOLMEAN_BROKEN) == 1
        text = text.replace(POOLMEAN_BROKEN, POOLMEAN_FIXED)
    return text


# --- the states each net declares ------------------------------------------------------------------
# The solvers' comments: "# (2) stage: 'unfactored' stage: '1-layer'" (variants), "# (a) stage: 'dropFc7'" (add-ons).
VARIANT = re.compile(r"^#\s*\(\d+\)((?:\s*stage:\s*'[^']*')+)", re.MULTILINE)
ADDON = re.compile(r"^#\s*\([a-z]\)((?:\s*stage:\s*'[^']*')+)", re.MULTILINE)


def rule_met(rule, phase, level, stages):  # CAFFE_FACTS.md §2
    return (("phase" not in rule or rule.enum("phase", None, PHASES) == PHASES[phase])
            and level >= rule.int("min_level", level) and level <= rule.int("max_level", level)
            and all(s in stages for s in rule.strs("stage"))
            and not any(s in stages for s in rule.strs("not_stage")))


def solver_states(net):
    """(phase, level, stages) of every solver beside ``net`` that trains it, and of its other variants: each
    variant in place of the state's own (and without its add-ons, which may need the state's variant:
    dropLstm2 needs a second LSTM)."""
    states = set()
    for path in sorted(net.parent.glob("*solver*.prototxt")):
        sp = parse_file(path)
        if pathlib.PurePosixPath(sp.str("net")).name != net.name:
            continue
        comments = path.read_text()
        variants = [frozenset(re.findall(r"'([^']*)'", m.group(1))) for m in VARIANT.finditer(comments)]
        optional = frozenset().union(*variants, *(re.findall(r"'([^']*)'", m.group(1))
                                                  for m in ADDON.finditer(comments)))
        for phase, st in [(TRAIN, sp.msg("train_state"))] + [(TEST, m) for m in sp.msgs("test_state")]:
            stages, level = frozenset(st.strs("stage")), st.int("level", 0)
            states.add((phase, level, stages))
            states.update((phase, level, (stages - optional) | v) for v in variants)
    return states


def declared_states(net):
    """The solvers' states (TEST for a deploy net), then for each include rule none of them meets, those
    states (of the rule's phase; of the other phase, switched, if there are none) with the rule's stages
    added. States that select the same layers in the same phase are built once."""
    declared = solver_states(net) or {(TEST, 0, frozenset())}  # deploy nets run at TEST (pycaffe's habit)
    states = set(declared)
    layers = parse(net_text(net), str(net)).msgs("layer")
    for lp in layers:
        for rule in lp.msgs("include"):
            if any(rule_met(rule, *s) for s in states):
                continue
            phase = (TRAIN if rule.enum("phase", None, PHASES) == "TRAIN" else TEST) if "phase" in rule else None
            base = [s for s in declared if phase in (None, s[0])] or declared
            states |= {(s[0] if phase is None else phase, s[1],
                        (s[2] | set(rule.strs("stage"))) - set(rule.strs("not_stage"))) for s in base}
    distinct = {}
    for ph, lv, st in sorted(states, key=lambda s: (s[0], s[1], len(s[2]), sorted(s[2]))):
        chosen = tuple(i for i, lp in enumerate(layers) if included(lp, ph, lv, st))
        distinct.setdefault((ph, chosen), (ph, lv, tuple(sorted(st))))
    return sorted(distinct.values())


def included(lp, phase, level, stages):
    includes, excludes = lp.msgs("include"), lp.msgs("exclude")
    if includes:
        return any(rule_met(r, phase, level, stages) for r in includes)
    return not any(rule_met(r, phase, level, stages) for r in excludes)


def state_id(net, state):
    phase, level, stages = state
    parts = [rel(net), PHASES[phase]]
    if level:
        parts.append(f"level{level}")
    if stages:
        parts.append("+".join(stages))
    return "-".join(parts)


BUILDS = [pytest.param(net, state, id=state_id(net, state)) for net in NETS for state in declared_states(net)]


# --- data files ------------------------------------------------------------------------------------
RNG = np.random.default_rng(2015)


def sentences(seq_len, streams, vocab, frames=0):
    """One block of caption streams, seq_len × streams (the LRCN HDF5 layout, CAFFE_FACTS.md §1): cont is 0
    then 1…1 then 0-pad, input is 0 then word ids then −1 pad, target is the word ids then 0 (EOS) then −1.
    With ``frames`` (S2VT), each stream first shows that many video frames (stage 0) and the sentence
    follows (stage 1); the target is ignored (−1) over the frames."""
    out = {k: np.zeros((seq_len, streams), np.float32) for k in ("cont", "input", "target", "stage")}
    for s in range(streams):
        f = min(frames, seq_len - 2)
        n = int(RNG.integers(1, max(2, seq_len - f - 1)))  # words; EOS fits after them
        words = RNG.integers(1, vocab, n)
        out["cont"][1:f + n + 1, s] = 1
        out["input"][f + n + 1:, s] = -1
        out["input"][f + 1:f + n + 1, s] = words
        out["target"][:, s] = -1
        out["target"][f:f + n, s] = words
        out["target"][f + n, s] = 0
        out["stage"][f:, s] = 1
    return out


class DataFiles:
    """Writes the HDF5 chunks and JPEG lists the data layers read, each kind once per test module."""

    def __init__(self, root):
        self.root, self.made = root, {}

    def _once(self, key, make):
        if key not in self.made:
            self.made[key] = make(self.root / f"d{len(self.made)}")
        return self.made[key]

    def hdf5(self, tops, rows, streams, vocab, seq_len):
        def make(d):
            d.mkdir()
            blocks = [sentences(seq_len, streams, vocab, frames=seq_len // 2 if "stage_indicator" in tops else 0)
                      for _ in range(rows // seq_len)]
            block = {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}
            with h5py.File(d / "chunk.h5", "w") as f:
                for name in tops:
                    if name.endswith("fc7"):  # ReLU'd fc7 features, 0 where the stream shows words
                        x = np.maximum(RNG.normal(0, 1, (rows, streams, 4096)), 0).astype(np.float32)
                        if name == "frame_fc7":
                            x *= (block["stage"] == 0)[..., None]
                        f[name] = x.squeeze(1) if name == "mean_fc7" else x
                    else:
                        key = {"cont_sentence": "cont", "input_sentence": "input", "target_sentence": "target",
                               "stage_indicator": "stage"}.get(name)
                        f[name] = 1 - block["stage"] if name == "inv_stage_indicator" else block[key]
            (d / "list.txt").write_text(f"{d / 'chunk.h5'}\n")
            return d / "list.txt"
        return self._once(("hdf5", tuple(tops), rows, streams, vocab, seq_len), make)

    def images(self, height, width, first=None, labels=101, absolute=True):
        """8 JPEGs of height × width (the first one ``first`` = (h, w) if given) and a `path label` list,
        paths absolute or relative to the images' folder (for a root_folder)."""
        def make(d):
            d.mkdir()
            lines = []
            for i in range(8):
                h, w = first if (first and i == 0) else (height, width)
                yy, xx = np.mgrid[0:h, 0:w]
                img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1),
                                np.full((h, w), 30 * i)], -1) + RNG.integers(0, 30, (h, w, 3))
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"frame{i}.jpg", quality=90)
                lines.append(f"{d / f'frame{i}.jpg' if absolute else f'frame{i}.jpg'} {(7 * i) % labels}")
            (d / "list.txt").write_text("\n".join(lines) + "\n")
            return d / "list.txt"
        return self._once(("images", height, width, first, labels, absolute), make)


    def videos(self, flow):
        """Three videos of 240 × 320 frames in the released layout: (their list, the frames root)."""
        return self._once(("videos", flow), lambda d: (write_videos(d, [17, 18, 20], flow=flow), d))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return DataFiles(tmp_path_factory.mktemp("lrcn_original_data"))


def with_files(text, files, name, streams=None):
    """``text`` with every data layer's source (and root_folder) pointing at files written for it. HDF5
    datasets are named like the layer's tops and shaped as the net reads them: ``streams`` parallel
    sequences (the `buffer_N` of the released source paths) of the Embed vocabulary."""
    netp = parse(text, name)
    layers = netp.msgs("layer")
    embed = [lp.msg("embed_param").int("input_dim") for lp in layers if lp.str("type") == "Embed"]
    slices = [len(lp.all("top")) for lp in layers if lp.str("type") == "Slice" and "cont_sentence" in lp.strs("bottom")]
    for lp in layers:
        if lp.str("type") == "HDF5Data":
            p = lp.msg("hdf5_data_param")
            src, rows = p.str("source"), p.int("batch_size")
            n = streams or int(re.search(r"buffer_(\d+)", src).group(1))
            seq_len = rows // slices[0] if slices else rows  # S2VT e2e: videos one after another in one stream
            new = files.hdf5(lp.strs("top"), rows, n, embed[0] if embed else 100, seq_len)
        elif lp.str("type") == "ImageData":
            p = lp.msg("image_data_param")
            src, root = p.str("source"), p.str("root_folder")
            size = (p.int("new_height"), p.int("new_width"))
            # Without new_height/new_width (the flow nets' min_height/min_width), the first image is smaller
            # than the crop and is resized up keeping its aspect ratio; the others are UCF-101's 240 × 320.
            new = files.images(*size, labels=1 if "dummy_labels" in src else 101, absolute=not root) if size[0] \
                else files.images(240, 320, first=(160, 200), absolute=not root)
            if root:
                text = text.replace(f'root_folder: "{root}"', f'root_folder: "{new.parent}/"')
        elif lp.str("type") == "Python":  # the released sequence_input_layer: paths by param_str
            cls = lp.msg("python_param").str("layer")
            listing, root = files.videos(flow="flow" in cls)
            text = text.replace(f'layer: "{cls}"', f'layer: "{cls}" param_str: "source: \'{listing}\' '
                                                   f'root_folder: \'{root}/\'"')
            continue
        else:
            continue
        text = text.replace(f'"{src}"', f'"{new}"')
    return text


def build(text, name, tmp_path, phase, level=0, stages=()):
    path = tmp_path / pathlib.Path(name).name
    path.write_text(text)
    return caffe.Net(str(path), phase, level=level, stages=stages)


# --- expected shapes (CAFFE_FACTS.md §1) -----------------------------------------------------------
def lstm_params(hidden, inp, static=None):
    """W_xc (4H×D), b_c (4H), [W_xc_static (4H×S)], W_hc (4H×H)."""
    return [(4 * hidden, inp), (4 * hidden,)] + ([(4 * hidden, static)] if static else []) + [(4 * hidden, hidden)]


def expected(name, phase, stages):
    """{blob: shape} and {layer: [param shapes]} a net built in this state must have."""
    blobs, params = {}, {}
    if name.startswith("LRCN_activity_recognition/train_test_lstm") or name.endswith("deploy_lstm.prototxt"):
        T, N = 16, (10 if "deploy" in name else 24 if phase == TRAIN else 3)  # 24 clips × 16 frames = 384
        blobs = {"data": (T * N, 3, 227, 227), "conv1": (T * N, 96, 111, 111), "pool5": (T * N, 384, 6, 6),
                 "fc6": (T * N, 4096), "fc6-reshape": (T, N, 4096), "lstm1": (T, N, 256), "fc8-final": (T, N, 101)}
        params = {"conv1": [(96, 3, 7, 7), (96,)], "conv2": [(384, 48, 5, 5), (384,)], "fc6": [(4096, 384 * 36), (4096,)],
                  "lstm1": lstm_params(256, 4096), "fc8-final": [(101, 256), (101,)]}
    elif "singleFrame" in name:
        N = 160 if "deploy" in name else 128
        blobs = {"data": (N, 3, 227, 227), "pool5": (N, 384, 6, 6), "fc7": (N, 4096), "fc8-ucf": (N, 101)}
        params = {"fc6": [(4096, 384 * 36), (4096,)], "fc8-ucf": [(101, 4096), (101,)]}
    elif name == "LRCN_evaluate/deploy_lstm_im.prototxt":
        blobs = {"data": (160, 3, 227, 227), "pool5": (160, 384, 6, 6), "fc6": (160, 4096)}
    elif name.startswith("LRCN_evaluate/deploy_lstm_lstm"):
        N = 1 if "check" in name else 500
        blobs = {"fc6-reshape": (16, N, 4096), "lstm1": (16, N, 256), "probs": (16, N, 101)}
        params = {"lstm1": lstm_params(256, 4096)}
    elif name == "caffenet_reference/deploy.prototxt":
        blobs = {"data": (10, 3, 227, 227), "pool5": (10, 256, 6, 6), "fc7": (10, 4096), "prob": (10, 1000)}
        params = {"fc6": [(4096, 9216), (4096,)], "fc8": [(1000, 4096), (1000,)]}
    elif name.startswith("coco_caption/lrcn"):
        if "deploy" in name:  # one step of 1000 streams (the captioner's beam/batch), image features given
            T, N, crop = 1, 1000, None
        else:  # T = 20 steps × N = 100 images (50 in the buffer_50 VGG net)
            T, N, crop = 20, (50 if "buffer_50" in name else 100), (224 if "vgg" in name else 227)
        blobs = {"embedded_input_sentence": (T, N, 1000), "lstm1": (T, N, 1000), "lstm2": (T, N, 1000),
                 "predict": (T, N, 8801)}
        if crop:
            blobs.update({"data": (N, 3, crop, crop), "fc8": (N, 1000), "cont_sentence": (T, N)})
        factored = "factored" in stages or "deploy" in name
        params = {"embedding": [(8801, 1000)], "predict": [(8801, 1000), (8801,)],
                  "lstm1": lstm_params(1000, 1000, None if factored else 1000),
                  "lstm2": lstm_params(1000, 1000, 1000 if factored else None)}
    elif name.startswith("coco_caption/lstm"):
        T, N = (1, 1) if "deploy" in name else (20, 100)
        blobs = {"embedded_input_sentence": (T, N, 1000), "lstm1": (T, N, 1000), "predict": (T, N, 8801)}
        params = {"embedding": [(8801, 1000)], "lstm1": lstm_params(1000, 1000), "predict": [(8801, 1000), (8801,)]}
    elif name == "s2vt/s2vt.prototxt":  # 80 steps × 32 streams, frames then words; vocabulary 46168
        T, N = 80, 32
        blobs = {"frame_fc7": (T, N, 4096), "embedded_input_frames": (T, N, 500), "lstm1": (T, N, 1000),
                 "lstm2": (T, N, 1000), "predict": (T, N, 46168)}
        lstm1_in = 500 if "factored" in stages else 500 + 500 + 1
        params = {"embedding": [(46168, 500)], "predict": [(46168, 1000), (46168,)],
                  "lstm1": lstm_params(1000, lstm1_in),
                  "lstm2": lstm_params(1000, 1000 + 500 + 1 if "factored" in stages else 1000)}
    elif name == "s2vt/s2vt.words_to_preds.deploy.prototxt":
        blobs = {"lstm1": (1, 1, 1000), "lstm2": (1, 1, 1000), "predict": (1, 1, 46168)}
        params = {"lstm2": lstm_params(1000, 1000 + 500 + 1)}
    elif name == "s2vt/s2vt_e2e.prototxt":  # built with 32 frames (4 steps × 8 videos) instead of 640
        T, N = 4, 8
        blobs = {"data": (32, 3, 227, 227), "fc7": (32, 4096), "fc7_padded_input": (32, 4096),
                 "embedded_input_video_frames": (T, N, 500), "cont_sequence": (T, N), "lstm1": (T, N, 1000),
                 "lstm2": (T, N, 1000), "predict": (T, N, 12594)}
        params = {"embedding": [(12594, 500)], "predict": [(12594, 1000), (12594,)]}
    elif name == POOLMEAN:  # 20 steps × 100 streams, the video's mean fc7 as a static input
        blobs = {"mean_fc7": (100, 4096), "lstm1": (20, 100, 1000), "lstm2": (20, 100, 1000),
                 "predict": (20, 100, 12594)}
        static = {"lstm1": None, "lstm2": 4096} if "factored" in stages else {"lstm1": 4096, "lstm2": None}
        params = {"embedding": [(12594, 1000)], "predict": [(12594, 1000), (12594,)],
                  "lstm1": lstm_params(1000, 1000, static["lstm1"]), "lstm2": lstm_params(1000, 1000, static["lstm2"])}
    if "1-layer" in stages:  # the variant without a second LSTM
        blobs.pop("lstm2", None)
        params.pop("lstm2", None)
    return blobs, params


# The e2e S2VT net reads 640 frames per batch (80 steps × 8 videos): 640 decoded 227² images are ~400 MB
# per batch, so it is built with 32 (4 steps × 8 videos), rewriting only its batch sizes and Reshape dims.
SHRINK = {"s2vt/s2vt_e2e.prototxt": [("batch_size: 640", "batch_size: 32"), ("dim: 640", "dim: 32"),
                                     ("dim: 80", "dim: 4")]}


def shrink(text, name):
    for old, new in SHRINK.get(name, []):
        assert old in text, (name, old)
        text = text.replace(old, new)
    return text


# --- tests -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [p for p in FILES if rel(p) != POOLMEAN], ids=rel)
def test_file_parses_with_fork_fields(path):
    msg = parse_file(path)
    (validate_solver if "solver" in path.name else validate_net)(msg)


def test_poolmean_syntax_error_is_reported_at_its_line_and_column(tmp_path):
    path = ORIG / POOLMEAN
    with pytest.raises(PrototxtError) as e:
        parse_file(path)
    assert (e.value.filename, e.value.line, e.value.col) == (str(path), 57, 13)
    assert str(e.value).startswith(f"{path}:57:13: unexpected character '.'")
    assert "missing its opening quote" in str(e.value)
    with pytest.raises(PrototxtError, match=r"poolmean.prototxt:57:13"):
        caffe.Net(str(path), caffe.TRAIN, stages=["factored", "2-layer"])
    fixed = net_text(path)  # one character added; the rest is the released file
    assert len(fixed) == len(path.read_text()) + 1
    validate_net(parse(fixed, "fixed"))


FILLED = set()  # files whose first state was built with real fills


@pytest.mark.parametrize("net, state", BUILDS)
def test_net_builds_in_declared_state(net, state, files, tmp_path, monkeypatch):
    name = rel(net)
    phase, level, stages = state
    if name in FILLED:  # see the module docstring: fills are exercised by the file's first state
        monkeypatch.setattr(filler, "fill", lambda array, msg: None)
    FILLED.add(name)
    text = with_files(shrink(net_text(net), name), files, name)
    n = build(text, name, tmp_path, phase, level, stages)
    assert n.layers and n.phase == phase
    blobs, params = expected(name, phase, stages)
    assert blobs, f"no expected shapes for {name}"
    for k, shape in blobs.items():
        assert k in n.blobs and n.blobs[k].shape == shape, \
            f"{name} {state}: blob '{k}' is {n.blobs[k].shape if k in n.blobs else 'missing'}, expected {shape}"
    for layer, shapes in params.items():
        got = [b.shape for b in n.params.get(layer, [])]
        assert got == shapes, f"{name} {state}: params of '{layer}' are {got}, expected {shapes}"
    for layer in n.layers:  # every layer built is one the state includes
        assert included(layer.layer_param, phase, level, stages), layer.name


def test_declared_states_cover_every_include_rule_and_the_solver_variants():
    for net in NETS:
        states = declared_states(net)
        for lp in parse(net_text(net), str(net)).msgs("layer"):
            for rule in lp.msgs("include"):
                assert any(rule_met(rule, *s) for s in states), (rel(net), lp.str("name"))
    lrcn = declared_states(ORIG / "coco_caption/lrcn.prototxt")
    for variant in (("factored", "2-layer"), ("1-layer", "unfactored"), ("2-layer", "unfactored")):
        for extra in ((), ("test-on-train",), ("test-on-val",)):
            phase = TEST if extra else TRAIN
            assert (phase, 0, tuple(sorted(("freeze-convnet",) + variant + extra))) in lrcn
    assert (TRAIN, 0, ("2-layer", "factored", "trainval")) in lrcn
    assert declared_states(ORIG / "LRCN_activity_recognition/train_test_lstm_RGB.prototxt") == [
        (TRAIN, 0, ()), (TEST, 0, ("test-on-test",))]
    assert declared_states(ORIG / "LRCN_activity_recognition/deploy_lstm.prototxt") == [(TEST, 0, ())]
    vgg = declared_states(ORIG / "coco_caption/lrcn.vgg.prototxt")  # its solver's test states are commented out
    assert (TEST, 0, ("2-layer", "factored", "freeze-convnet", "test-on-val")) in vgg


def test_the_fork_only_features_are_in_the_built_files():
    """What the LRCN forks added and BVLC master lacks (or dropped), each in a file built above."""
    text = {rel(p): net_text(p) for p in NETS}
    for feature, pattern in [("transform_param flow", r"\bflow: (true|false)"), ("image_data_param min_height",
                             r"\bmin_height: \d+"), ("eltwise_param coeff_blob", r"\bcoeff_blob: true"),
                             ("Python sequence layer", r'module: "sequence_input_layer"'),
                             ("net-level input_dim", r"(?m)^input_dim: \d+"), ("DummyData", r'type: "DummyData"'),
                             ("concat_dim / slice_dim", r"\b(concat|slice)_dim: \d+")]:
        assert any(re.search(pattern, t) for t in text.values()), feature


def test_unknown_fields_are_reported_by_name_and_line(tmp_path):
    for name, old, new, field, known in [
            ("coco_caption/lrcn.prototxt", "num_output: 8801", "num_outputs: 8801", "num_outputs", "num_output"),
            ("LRCN_activity_recognition/train_test_singleFrame_flow.prototxt", "flow: true", "flo: true", "flo",
             "flow"),
            ("s2vt/s2vt_e2e.prototxt", "coeff_blob: true", "coef_blob: true", "coef_blob", "coeff_blob")]:
        text = (ORIG / name).read_text()
        line = text[:text.index(old)].count("\n") + 1
        path = tmp_path / pathlib.Path(name).name
        path.write_text(text.replace(old, new, 1))
        with pytest.raises(PrototxtError, match=rf"^{re.escape(str(path))}:{line}:\d+: unknown field '{field}' in "
                                                rf"layer '[^']+' \w+_param \(known: .*\b{known}\b.*\)$"):
            caffe.Net(str(path), caffe.TEST)


def test_language_model_trains_end_to_end(files, tmp_path):
    """lstm_language_model.prototxt at TRAIN with its solver's stages (embed-drop, lstm-drop) on 4 streams
    of 20 steps: forward gives ln(8801) (near-uniform predictions from ±0.08 weights), backward reaches
    the embedding rows of the words read, and only those."""
    name = "coco_caption/lstm_language_model.prototxt"
    caffe.set_random_seed(1701)
    text = with_files(net_text(ORIG / name), files, name, streams=4)
    n = build(text, name, tmp_path, caffe.TRAIN, stages=["embed-drop", "lstm-drop"])
    out = n.forward()
    assert n.blobs["predict"].shape == (20, 4, 8801)
    # Logits are ≲ 0.1 in size (W_hc, W_xc, W_predict uniform ±0.08 on 1000 inputs): the loss is ln(8801)
    # to within ~0.01.
    assert abs(float(out["cross_entropy_loss"]) - math.log(8801)) < 0.05
    n.backward()
    words = n.blobs["input_sentence"].data
    emb = n.params["embedding"][0].diff
    used = np.unique(words[words >= 0]).astype(int)
    assert np.abs(emb[used]).sum(1).min() > 0           # every word read gets a gradient...
    unused = np.setdiff1d(np.arange(8801), used)
    assert not emb[unused].any()                        # ... and nothing else (−1 pads included)
    for layer in ("lstm1", "predict"):
        for b in n.params[layer]:
            assert np.isfinite(b.diff).all() and b.diff.any(), layer


def released_layout(root, counts=(17, 18, 20)):
    """The folder the released activity scripts run in: frames/ and flow_images/ (flat 240 × 320 JPEGs,
    util.write_videos), ucf101_split1_{train,test}Videos.txt (the same videos, labels 0, 1, 2) and the
    single-frame lists ucf101_singleFrame_{RGB,flow}_{train,test}_split1.txt (`<video>/<frame>.jpg label`,
    relative to those roots)."""
    for folder, flow in (("frames", False), ("flow_images", True)):
        listing = write_videos(root / folder, counts, flow=flow)
        for split in ("train", "test"):
            (root / f"ucf101_split1_{split}Videos.txt").write_text(listing.read_text())
            frames = [f"v{i}/{'flow_image_' if flow else ''}v{i}.{k:04d}.jpg {i}"
                      for i, n in enumerate(counts) for k in range(2, n + 1)]
            (root / f"ucf101_singleFrame_{'flow' if flow else 'RGB'}_{split}_split1.txt").write_text("\n".join(frames))


@pytest.mark.parametrize("flow", [False, True], ids=["RGB", "flow"])
def test_activity_lstm_original_file_runs_unchanged(tmp_path, monkeypatch, flow):
    """train_test_lstm_{RGB,flow}.prototxt, the released file itself, at TEST (3 clips of 16 frames) in a
    folder laid out as the released scripts expect: its Python layer reads the released paths with the
    released sampler (seed 10) and feeds the Reshape layers. (The CNN is not run: fills are off; the
    training test below runs every layer.)"""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(filler, "fill", lambda array, msg: None)
    released_layout(tmp_path)
    n = caffe.Net(str(ORIG / f"LRCN_activity_recognition/train_test_lstm_{'flow' if flow else 'RGB'}.prototxt"),
                  caffe.TEST, stages=["test-on-test"])
    assert n.layers[0].type == "SequenceData" and n.blobs["fc8-final"].shape == (16, 3, 101)
    names = list(n._layer_names)
    n.forward_from_to(0, 0)
    n.forward_from_to(names.index("reshape-label"), names.index("reshape-cm"))
    assert n.blobs["data"].shape == (48, 3, 227, 227)
    np.testing.assert_array_equal(n.blobs["reshape-label"].data, np.tile([0, 1, 2], (16, 1)))
    np.testing.assert_array_equal(n.blobs["reshape-cm"].data, [[0] * 3] + [[1] * 3] * 15)
    # Which frames were read (the G channel of a flat frame is 8·k): 16 consecutive ones from the start the
    # released sampler draws with Python's random.seed(10), crop offsets and mirror drawn first.
    r = random.Random(10)
    green = n.blobs["data"].data.reshape(16, 3, 3, -1)[:, :, 1].mean(-1) + (128 if flow else 116.779)
    for clip, count in enumerate((17, 18, 20)):
        [r.random() for _ in range(3)]
        start = int(r.random() * (count - 16) + 1 + 1)
        np.testing.assert_array_equal(np.rint(green[:, clip] / 8), np.arange(start, start + 16))


# Each original train/test net shrunk to a small batch (its Reshape dims and the released layer's sizes, or
# ImageData's batch_size): at the released 384 frames (LSTM) or 128 (single frame) an iteration of the
# hybrid CNN takes ~10 s and gigabytes on this machine's 2 cores.
SMALL_BATCH = {"lstm": [("dim: 16\n      dim: 24", "dim: 4\n      dim: 2"), ("dim: 16\n      dim: 3", "dim: 4\n      dim: 2")],
               "singleFrame": [("batch_size: 128", "batch_size: 4")]}


@pytest.mark.parametrize("net", ["lstm_RGB", "lstm_flow", "singleFrame_RGB", "singleFrame_flow"])
def test_activity_original_nets_train_with_their_solvers(tmp_path, monkeypatch, net):
    """One iteration of each released activity solver on its net, in the released folder layout; only the
    batch is shrunk (SMALL_BATCH; the LSTM nets' Python layer gets param_str "frames: 4 buffer_size: 2") and
    the solver's test net dropped (its test_iter and test_state lines: it would fill a second CaffeNet-size
    net). The loss starts near ln(101) and the first and last layers learn."""
    monkeypatch.chdir(tmp_path)
    released_layout(tmp_path)
    folder = ORIG / "LRCN_activity_recognition"
    text = (folder / f"train_test_{net}.prototxt").read_text()
    for old, new in SMALL_BATCH[net.split("_")[0]]:
        assert text.count(old) >= 2
        text = text.replace(old, new)
    for cls in re.findall(r'layer: "(videoRead\w+)"', text):
        text = text.replace(f'layer: "{cls}"', f'layer: "{cls}" param_str: "frames: 4 buffer_size: 2"')
    (tmp_path / f"train_test_{net}.prototxt").write_text(text)  # the solver's net, found in the working folder
    solver_text = (folder / f"{net.replace('_', '_solver_')}.prototxt").read_text()  # lstm_solver_RGB...
    testing = re.compile(r"^test_(iter|state):.*$", re.MULTILINE)
    assert len(testing.findall(solver_text)) == 2
    (tmp_path / "solver.prototxt").write_text(testing.sub("", solver_text))
    solver = caffe.SGDSolver(str(tmp_path / "solver.prototxt"))
    first, last = ("conv1", "fc8-final") if "lstm" in net else ("conv1", "fc8-ucf")
    before = {k: solver.net.params[k][0].data.copy() for k in (first, last)}
    solver.step(1)
    assert solver.iter == 1 and solver.net.blobs["data"].shape[0] == (8 if "lstm" in net else 4)
    # Logits from N(0, 0.01²) weights on the 256 LSTM outputs (|h| < 1) or 4096 fc7 values of order 1 are
    # ≲ 0.1 and ~0.5 in size: the first loss is ln(101) to within 0.5.
    assert abs(float(solver.loss) - math.log(101)) < 0.5
    for k, w in before.items():
        assert not np.array_equal(solver.net.params[k][0].data, w), f"{net}: '{k}' did not change"


def test_s2vt_e2e_gates_frames_and_regroups_videos(files, tmp_path):
    """s2vt_e2e.prototxt (shrunk to 4 steps × 8 videos) past its CNN: the padding gate (Eltwise SUM with
    coeff_blob) keeps fc7 on video frames and zeroes it on word steps, and the Slice/Concat pairs turn the
    videos, stored one after another, into time-major T × N sequences for the LSTMs."""
    name = "s2vt/s2vt_e2e.prototxt"
    text = with_files(shrink(net_text(ORIG / name), name), files, name)
    n = build(text, name, tmp_path, caffe.TEST, stages=["factored", "2-layer", "test-on-val"])
    names = list(n._layer_names)
    start = names.index("reshape_inv_stage_ind")
    assert [lp.type for lp in n.layers[:2]] == ["ImageData", "HDF5Data"]
    n.forward_from_to(0, 1)  # the data layers; the CNN is skipped: fc7 is set instead
    fc7 = np.maximum(RNG.normal(0, 1, (32, 4096)), 0).astype(np.float32)
    n.blobs["fc7"].data[...] = fc7
    loss = n.forward_from_to(start, len(names) - 1)
    inv = n.blobs["inv_stage_indicator"].data.reshape(32)
    assert 0 < inv.sum() < 32  # both frame steps and word steps
    np.testing.assert_array_equal(n.blobs["fc7_padded_input"].data, fc7 * inv[:, None])
    frames, seq = n.blobs["embedded_input_frames"].data, n.blobs["embedded_input_video_frames"].data
    cont, cont_seq = n.blobs["cont_sentence"].data.reshape(8, 4), n.blobs["cont_sequence"].data
    for v in range(8):
        for t in range(4):  # video v's step t, stored at row 4·v + t, is at [t, v]
            np.testing.assert_array_equal(seq[t, v], frames[4 * v + t, 0])
            assert cont_seq[t, v] == cont[v, t]
    assert n.blobs["predict"].shape == (4, 8, 12594)
    # The loss (weight 20) over these ~16 words is near ln(12594): the logits have std ≲ 1 here (fc7 ~
    # ReLU(N(0, 1)) through xavier and ±0.08 weights), which moves it by well under 1.
    assert abs(loss / 20 - math.log(12594)) < 1

