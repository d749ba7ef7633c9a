"""The shipped activity models (lrcn_native/models/lrcn_activity*.prototxt and their solvers): every NetState
builds with the paper's shapes and transforms, the solvers carry the released numbers, a forward/backward
runs on generated frames, and `lrcn train --solver` fine-tunes from V1 and V2 ImageNet caffemodels.

Builds after a file's first use fill nothing (the filler is a no-op): they differ in wiring, not in fills,
and a CaffeNet-size fill takes a second or two. Frames are written in the released layout (util.write_videos)
in a folder the tests run in, as training does."""
import math
import os
import re

import numpy as np
import pytest
from test_caffemodel import legacy_blob, v1_layer

import lrcn_native as caffe
from lrcn_native import filler
from lrcn_native.cli import main
from lrcn_native.layer import TEST, TRAIN
from lrcn_native.proto import wire
from lrcn_native.proto.caffemodel import load_weights, write_caffemodel
from lrcn_native.proto.text import parse_file
from util import write_videos

MODELS = os.path.join(os.path.dirname(caffe.__file__), "models")
LRCN, SINGLE = os.path.join(MODELS, "lrcn_activity.prototxt"), os.path.join(MODELS, "lrcn_activity_single_frame.prototxt")


def layout(root, size=(24, 32)):
    """frames/, flow_images/ and ucf101_split1_{train,test}Videos.txt in ``root`` (three videos)."""
    for folder, flow in (("frames", False), ("flow_images", True)):
        listing = write_videos(root / folder, [17, 18, 20], size=size, flow=flow)
    for split in ("train", "test"):
        (root / f"ucf101_split1_{split}Videos.txt").write_text(listing.read_text())


@pytest.fixture
def in_layout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    layout(tmp_path)
    return tmp_path


STATES = [(f, phase, stages) for f in (LRCN, SINGLE) for phase, stages in
          [(TRAIN, ()), (TEST, ()), (TRAIN, ("flow",)), (TEST, ("flow",)), (TEST, ("deploy",)), (TRAIN, ("input",))]]
STATES += [(LRCN, TRAIN, ("fc7",)), (LRCN, TEST, ("fc7", "flow")), (LRCN, TEST, ("deploy", "fc7"))]
FILLED = set()


@pytest.mark.parametrize("path, phase, stages", STATES,
                         ids=[f"{os.path.basename(p)[:-9]}-{'TRAIN' if ph == TRAIN else 'TEST'}-{'+'.join(s)}"
                              for p, ph, s in STATES])
def test_every_state_builds_with_the_papers_shapes(in_layout, monkeypatch, path, phase, stages):
    if path in FILLED:
        monkeypatch.setattr(filler, "fill", lambda array, msg: None)
    FILLED.add(path)
    net = caffe.Net(path, phase, stages=stages)
    lstm, flow = path == LRCN, "flow" in stages
    n = {"deploy": 10, "input": 2}.get(stages[0] if stages else "", 24 if phase == TRAIN else 3)
    frames = 16 * n if lstm else {"deploy": 160}.get(stages[0] if stages else "", 128)
    assert net.blobs["data"].shape == (frames, 3, 227, 227)
    assert [b.shape for b in net.params["conv1"]] == [(96, 3, 7, 7), (96,)]
    assert [b.shape for b in net.params["fc6"]] == [(4096, 384 * 36), (4096,)]
    fc7 = not lstm or "fc7" in stages
    assert ("fc7" in net.params) == fc7
    if lstm:
        feature = "fc7-reshape" if fc7 else "fc6-reshape"
        assert net.blobs[feature].shape == (16, n, 4096) and net.blobs["fc8-final"].shape == (16, n, 101)
        assert [b.shape for b in net.params["lstm1"]] == [(1024, 4096), (1024,), (1024, 256)]
        dropout = {lp.name: lp.layer_param.msg("dropout_param").float("dropout_ratio") for lp in net.layers
                   if lp.type == "Dropout"}
        assert dropout == ({"drop6": 0.5, "drop7": 0.9} if fc7 else {"drop6": 0.9}) | {"lstm1-drop": 0.5}
    else:
        assert net.blobs["fc8-ucf"].shape == (frames, 101)
    assert net.outputs == (["probs"] if "deploy" in stages else ["accuracy", "loss"] if phase == TEST else ["loss"])
    data = net.layers[0]
    if data.type == "SequenceData":  # the released transforms: mean (R 128.68 for the LSTM nets), crops, flow
        assert (data.T, data.N) == ((16, n) if lstm else (1, 128))
        mean = data.transformer.mean["data"].ravel()
        np.testing.assert_array_equal(mean, [128] * 3 if flow else [103.939, 116.779, 128.68 if lstm else 123.68])
        assert (data.negate_x, data.crop_only_when_mirrored) == (flow, lstm)
        assert data.videos[0][3].folder == os.path.join("flow_images" if flow else "frames", "v0")


def test_solvers_carry_the_released_numbers():
    want = {"fc6_rgb": (10000, 30000, 5), "fc6_flow": (20000, 70000, 15), "fc7_rgb": (10000, 30000, 5),
            "fc7_flow": (20000, 70000, 15), "single_frame_rgb": (3000, 5000, -1), "single_frame_flow": (20000, 50000, -1)}
    for name, (step, iters, clip) in want.items():
        sp = parse_file(os.path.join(MODELS, f"lrcn_activity_{name}_solver.prototxt"))
        assert sp.str("net") == ("lrcn_activity_single_frame.prototxt" if "single" in name else "lrcn_activity.prototxt")
        assert (sp.float("base_lr"), sp.str("lr_policy"), sp.float("gamma"), sp.float("momentum"),
                sp.float("weight_decay"), sp.int("random_seed")) == (0.001, "step", 0.1, 0.9, 0.005, 1701)
        assert (sp.int("stepsize"), sp.int("max_iter"), sp.float("clip_gradients", -1)) == (step, iters, clip)
        stages = {s for s in ("fc7", "flow") if s in name}
        assert set(sp.msg("train_state").strs("stage")) == stages
        assert set(sp.msg("test_state").strs("stage")) == stages and sp.ints("test_iter")


def small(path, tmp_path, clips=1):
    """The model with ``clips`` clips per batch (LRCN: 16 frames each) or 4 frames (single frame), beside
    a copy of its solvers; returns the copy's path."""
    text = open(path).read()
    text, k = re.subn(r"buffer_size: (24|3|128)\b", f"buffer_size: {clips if path == LRCN else 4}", text)
    assert k == 4
    out = tmp_path / os.path.basename(path)
    out.write_text(text)
    return out


@pytest.mark.parametrize("path, stages", [(LRCN, ("fc7", "flow")), (SINGLE, ("flow",))],
                         ids=["fc7-flow", "single-frame-flow"])
def test_forward_backward_on_generated_frames(tmp_path, monkeypatch, path, stages):
    """(LRCN-fc6 on RGB trains in the `lrcn train` test below.)"""
    monkeypatch.chdir(tmp_path)
    layout(tmp_path, size=(240, 320))
    caffe.set_random_seed(1701)
    net = caffe.Net(str(small(path, tmp_path)), TRAIN, stages=stages)
    loss = float(net.forward()["loss"])
    # 101-way logits from N(0, 0.01²) weights on 256 LSTM outputs (|h| < 1) or 4096 fc7 values of order 1
    # are ≲ 0.1 and ~0.5 in size: the loss is ln(101) to within 0.5.
    assert abs(loss - math.log(101)) < 0.5
    labels = net.blobs["label"].data.reshape(16, 1) if path == LRCN else net.blobs["label"].data
    np.testing.assert_array_equal(np.unique(labels), [0] if path == LRCN else [0, 1, 2])
    net.backward()
    for layer in ("conv1", "fc6") + (("fc7", "lstm1", "fc8-final") if path == LRCN else ("fc7", "fc8-ucf")):
        if layer in net.params:
            w = net.params[layer][0].diff
            assert np.isfinite(w).all() and w.any(), f"no gradient reached {layer}"


def imagenet_layers(seed=0):
    """An ImageNet initialiser's first layers (the hybrid CNN's conv1, conv2) with values far from our fills
    (gaussian std 0.01), and a 1000-way fc8 that the activity nets do not have (ignored when copied)."""
    rng = np.random.default_rng(seed)
    return [("conv1", "Convolution", [rng.uniform(-0.5, 0.5, (96, 3, 7, 7)), rng.uniform(-0.5, 0.5, 96)]),
            ("conv2", "Convolution", [rng.uniform(-0.5, 0.5, (384, 48, 5, 5)), rng.uniform(-0.5, 0.5, 384)]),
            ("fc8", "InnerProduct", [rng.uniform(-0.5, 0.5, (1000, 4096)), rng.uniform(-0.5, 0.5, 1000)])]


def write_v1(path, layers):
    """A V1 caffemodel (`layers`, enum types, legacy 4-D dims) as bvlc_reference_caffenet.caffemodel."""
    data = wire.string_field(1, "ImageNet")
    for name, _, blobs in layers:
        legacy = [legacy_blob((1,) * (4 - b.ndim) + b.shape, b.ravel(), "packed") for b in blobs]
        data += v1_layer(name, 4 if name.startswith("conv") else 14, legacy)
    path.write_bytes(data)


def test_lrcn_train_fine_tunes_from_v1_weights_and_v2_loads(in_layout, tmp_path):
    """`lrcn train --solver <shipped solver> --weights imagenet.caffemodel` (V1) on a small copy of the net,
    one iteration: the snapshot starts from the file's conv1/conv2. The same layers in a V2 file load into
    the deploy net."""
    layers = imagenet_layers()
    write_v1(tmp_path / "imagenet_v1.caffemodel", layers)
    small(LRCN, tmp_path)
    solver = (open(os.path.join(MODELS, "lrcn_activity_fc6_rgb_solver.prototxt")).read()
              .replace("max_iter: 30000", "max_iter: 1").replace("snapshot: 5000", "snapshot: 0"))
    solver = re.sub(r"(?m)^test_(iter|state):.*$", "", solver)  # no test net (a second CaffeNet-size fill)
    (tmp_path / "solver.prototxt").write_text(solver)
    assert main(["train", "--solver", str(tmp_path / "solver.prototxt"),
                 "--weights", str(tmp_path / "imagenet_v1.caffemodel")]) == 0
    trained = load_weights(str(tmp_path / "lrcn_activity_fc6_rgb_iter_1.caffemodel"))
    for name, _, blobs in layers[:2]:
        for got, want in zip(trained[name].blobs, blobs):
            # one step of lr 0.001 (×2 for biases) moves weights of ~0.25 by ≲ 1e-3; a fresh fill would be ~0.01
            np.testing.assert_allclose(got.reshape(want.shape), want, atol=2e-3)
            assert not np.array_equal(got.reshape(want.shape), want.astype(np.float32))  # and it did train
    write_caffemodel(str(tmp_path / "imagenet_v2.caffemodel"), "ImageNet", layers)
    deploy = caffe.Net(LRCN, TEST, stages=["deploy"], weights=str(tmp_path / "imagenet_v2.caffemodel"))
    np.testing.assert_array_equal(deploy.params["conv2"][0].data, layers[1][2][0].astype(np.float32))


def test_train_activity_script_runs_the_released_two_stages(tmp_path, monkeypatch):
    """python/train_activity.py: single frame from ImageNet weights, then LRCN from its last snapshot, in
    --data (the calls to `lrcn train` are recorded, not run)."""
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "python"))
    import train_activity
    calls = []
    monkeypatch.setattr(train_activity, "main", lambda argv: calls.append((os.getcwd(), argv)) or 0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ucf101").mkdir()
    assert train_activity.run(["--weights", "w.caffemodel", "--data", "ucf101", "--input", "flow", "--model", "fc7",
                               "--gpu", "0"]) == 0
    assert [c[0] for c in calls] == [str(tmp_path / "ucf101")] * 2
    (_, first), (_, second) = calls
    assert first[:2] == ["train", "--solver"] and first[2].endswith("lrcn_activity_single_frame_flow_solver.prototxt")
    assert first[3:] == ["--weights", str(tmp_path / "w.caffemodel"), "--gpu", "0"]
    assert second[2].endswith("lrcn_activity_fc7_flow_solver.prototxt") and os.path.exists(second[2])
    assert second[3:5] == ["--weights", "lrcn_activity_single_frame_flow_iter_50000.caffemodel"]
