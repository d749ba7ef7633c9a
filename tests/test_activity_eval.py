"""Activity evaluation as released: classify_video.py's protocol (clips, 10 crops, means, the flow quirk,
clip markers, averaging) on the original deploy nets, clip scoring with a tiny net, class-name files."""
import importlib.util
import json
import re

import numpy as np
import pytest
from PIL import Image

import lrcn_native as caffe
from lrcn_native import io
from lrcn_native.cli import main
from lrcn_native.tasks import activity as A
from util import ORIGINAL, needs_original

DEPLOY = ORIGINAL / "LRCN_activity_recognition"
# Narrower layers, the released structure otherwise (kernels, strides, groups, pools, LRN, Reshape 16 x 10, the
# clip_markers input): the full widths would take minutes for 480 crops of 227 x 227 on 2 cores.
WIDTHS = {"96": "6", "384": "4", "512": "4", "4096": "8", "256": "6", "101": "5"}


def _narrow_deploy(name, tmp_path, seed):
    text = (DEPLOY / name).read_text()
    text = re.sub(r"(num_output|dim):\s*(96|384|512|4096|256|101)\b", lambda m: f"{m[1]}: {WIDTHS[m[2]]}", text)
    path = tmp_path / name
    path.write_text(text)
    net = caffe.Net(str(path), caffe.TEST)
    rng = np.random.default_rng(seed)
    for blobs in net.params.values():   # weights large enough that the classes' probabilities differ
        for b in blobs:
            fan_in = np.prod(b.data.shape[1:]) if b.data.ndim > 1 else 1
            b.data[...] = rng.normal(0, 1.5 / np.sqrt(fan_in), b.data.shape)
    weights = tmp_path / (name + ".caffemodel")
    net.save(str(weights))
    return path, weights


def _frames(tmp_path, n, seed):
    """n smooth colour frames of 120 x 160 (under 240 px: the released resize to 240 x 320 applies)."""
    rng = np.random.default_rng(seed)
    folder = tmp_path / "frames"
    folder.mkdir()
    base = rng.uniform(0, 255, (6, 8, 3))
    for i in range(n):
        img = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).resize((160, 120), Image.BILINEAR).save(folder / f"v.{i + 1:04d}.png")
    return folder


def _released_reference(net, folder, flow, lstm):
    """classify_video.py's steps, transcribed in float64 numpy around net.forward_all."""
    images = [io.resize_image(io.load_image(str(p)), (240, 320)) for p in sorted(folder.iterdir())]
    mean = np.array([128.0] * 3 if flow else [103.939, 116.779, 128.68])

    def caffe_in(batch):
        crops = io.oversample(batch, [227, 227]).astype(np.float64)
        if flow and not lstm:   # commented out in the script's LSTM path
            crops[5:, :, :, 0] = 1 - crops[5:, :, :, 0]
        return (crops.transpose(0, 3, 1, 2)[:, ::-1] * 255 - mean[:, None, None]).astype(np.float32)
    rows = []
    if lstm:
        data = []
        for i in range(0, len(images), 8):
            data.extend(images[i:i + 16] if i + 16 < len(images) else images[-16:])
        for i in range(0, len(data), 16):
            markers = np.ones((160, 1, 1, 1))
            markers[:10] = 0
            out = net.forward_all(data=caffe_in(data[i:i + 16]), clip_markers=markers)["probs"]
            rows.extend(np.mean(out.astype(np.float64), 1))
    else:
        for i in range(0, len(images), 16):
            x = caffe_in(images[i:i + 16])
            net.blobs["data"].reshape(*x.shape)
            out = net.forward_all(data=x)["probs"].astype(np.float64)
            rows.extend(out.reshape(10, len(x) // 10, -1).mean(0))
    return np.array(rows)


@needs_original
@pytest.mark.parametrize("model,flow", [("deploy_lstm.prototxt", True), ("deploy_singleFrame.prototxt", False),
                                        ("deploy_singleFrame.prototxt", True)])
def test_classify_video_matches_the_released_protocol(tmp_path, capsys, model, flow):
    prototxt, weights = _narrow_deploy(model, tmp_path, seed=1)
    n = 16 if "lstm" in model else 17    # LSTM: clips at 0, 0 (starts are tested below); single frame: 16 + 1
    folder = _frames(tmp_path, n, seed=2)
    out = tmp_path / "out.json"
    args = ["classify-video", str(folder), "--model", str(prototxt), "--weights", str(weights), "--json", str(out)]
    assert main(args + ["--flow"] * flow) == 0
    result = json.load(open(out))
    ref = _released_reference(caffe.Net(str(prototxt), caffe.TEST, weights=str(weights)), folder, flow,
                              lstm="lstm" in model)
    rows = np.array(result["rows"])
    assert rows.shape == ((32 if "lstm" in model else 17), 5)
    # The transform rounds to float32 after each step (as pycaffe) where the reference works in float64:
    # ~1e-7 relative on inputs of ~100, so ~1e-6 on the probabilities; 1e-5 leaves margin.
    np.testing.assert_allclose(rows, ref, atol=1e-5)
    assert np.ptp(ref.mean(0)) > 1e-3          # the weights separate the classes: the check has teeth
    assert result["class"] == int(np.argmax(ref.mean(0)))
    assert f"class {result['class']}" in capsys.readouterr().out


def test_released_views_are_the_transformer_on_oversampled_crops():
    # The vectorised transform equals pycaffe's Transformer (as the script set it) crop by crop, bit for bit.
    rng = np.random.default_rng(0)
    images = [rng.random((240, 320, 3)).astype(np.float32) for _ in range(2)]
    mean = A.RELEASED_MEAN["rgb"]
    t = io.Transformer({"data": (1, 3, 227, 227)})
    t.set_transpose("data", (2, 0, 1))
    t.set_channel_swap("data", (2, 1, 0))
    t.set_raw_scale("data", 255)
    t.set_mean("data", np.array(mean))
    crops = io.oversample(images, (227, 227))
    expect = np.stack([t.preprocess("data", c) for c in crops]).reshape(2, 10, 3, 227, 227)
    np.testing.assert_array_equal(A.released_views(images, mean), expect)
    # Flow: x-flow (RGB channel 0, BGR channel 2) is 1 - x on crop rows 5.. of the pair, as released.
    crops[5:, :, :, 0] = 1 - crops[5:, :, :, 0]
    flipped = np.stack([t.preprocess("data", c) for c in crops]).reshape(2, 10, 3, 227, 227)
    np.testing.assert_array_equal(A.released_views(images, mean, flow=True), flipped)
    assert (flipped[0, :5] == expect[0, :5]).all() and (flipped[1, :5, 2] != expect[1, :5, 2]).all()
    # Without crops: the Transformer's own resize of the whole frame, one view.
    whole = np.stack([t.preprocess("data", im) for im in images])[:, None]
    np.testing.assert_array_equal(A.released_views(images, mean, flow=True, crops=False), whole)


def test_lrcn_clip_scoring_with_a_tiny_net(tmp_path):
    # A net whose per-frame "probabilities" are the running mean of the inputs so far in the clip (an LSTM
    # would be opaque): one scalar per frame, T = 4 frames a clip. Checks clip starts, time-major rows,
    # cont resets, the mean over views, and the clip order of the rows.
    T, B = 4, 3
    text = f'''input: "data" input_shape {{ dim: {T * B} dim: 1 dim: 1 dim: 1 }}
input: "clip_markers" input_shape {{ dim: {T} dim: {B} }}
layer {{ name: "r" type: "Reshape" bottom: "data" top: "x" reshape_param {{ shape {{ dim: {T} dim: -1 dim: 1 }} }} }}
layer {{ name: "c" type: "Concat" bottom: "x" bottom: "x" top: "probs" concat_param {{ axis: 2 }} }}
'''
    path = tmp_path / "tiny.prototxt"
    path.write_text(text)
    net = caffe.Net(str(path), caffe.TEST)
    frames = (np.arange(10.0)[:, None] * [1, 3]).reshape(10, 2, 1, 1, 1)   # F = 10 x K = 2 views: f and 3f
    rows = A.frame_probs_lrcn(net, frames, clip_length=T, stride=2, clips_per_forward=2)
    # Starts for 10 frames, length 4, stride 2: 0, 2, 4, then 6 (6 + 4 < 10 fails: last 4 frames), 6.
    starts = [0, 2, 4, 6, 6]
    expect = np.concatenate([np.arange(s, s + T) * 2.0 for s in starts])   # mean of views f and 3f
    np.testing.assert_array_equal(rows[:, 0], expect)
    assert rows.shape == (len(starts) * T, 2)


def test_single_frame_rows_as_released():
    # 3 frames, K = 2 views, probs = the inputs: released rows reshape (K, frames) and average axis 0.
    class Net:
        blobs = {"data": caffe.Blob(6, 1), "probs": None}
        def forward(self):
            self.blobs["probs"] = self.blobs["data"]
    frames = np.arange(1, 7, dtype=np.float32).reshape(3, 2, 1, 1, 1)    # 3 frames x 2 views x 1 x 1 x 1
    rows = A.frame_probs_single_frame(Net(), frames, batch_frames=3)
    # Rows image-major: [1, 2, 3, 4, 5, 6] -> reshape (2, 3): [[1, 2, 3], [4, 5, 6]] -> mean [2.5, 3.5, 4.5].
    np.testing.assert_array_equal(rows.ravel(), [2.5, 3.5, 4.5])
    assert rows.mean() == frames.mean()        # the video mean is the mean over frames and crops


def test_read_class_names(tmp_path):
    p = tmp_path / "classInd.txt"
    p.write_text("1 ApplyEyeMakeup\n2 ApplyLipstick\n")
    assert A.read_class_names(str(p)) == ["ApplyEyeMakeup", "ApplyLipstick"]
    p.write_text("1 A\n3 B\n")
    with pytest.raises(ValueError, match="run 1, 2"):
        A.read_class_names(str(p))
    p.write_text("walk\nrun\n")
    assert A.read_class_names(str(p)) == ["walk", "run"]
    p.write_text("walk\nrun fast now\n")
    with pytest.raises(ValueError, match="classInd.txt:2"):
        A.read_class_names(str(p))


def test_classify_video_refuses_a_missing_or_empty_folder(tmp_path, capsys):
    assert main(["classify-video", str(tmp_path / "nope"), "--model", "m", "--weights", "w"]) == 1
    assert "neither a folder of frames nor a video file" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no .jpg or .png frames"):
        A.load_video_frames(str(tmp_path))


@needs_original
def test_evaluate_activity_scores_then_fuses(tmp_path, capsys):
    prototxt, weights = _narrow_deploy("deploy_singleFrame.prototxt", tmp_path, seed=3)
    root = tmp_path / "frames_root"
    root.mkdir()
    videos = ["Walk/v_Walk_g01_c01", "Run/v_Run_g01_c01", "Walk/v_Walk_g02_c01"]
    for k, v in enumerate(videos):   # 2 frames each, the released layout root/<video>/
        _frames(tmp_path, 2, seed=10 + k).rename(root / v.split("/")[1])
    listing = tmp_path / "test.txt"
    listing.write_text("".join(f"{v} {k % 2}\n" for k, v in enumerate(videos)))
    common = ["evaluate-activity", "--list", str(listing), "--frames", str(root), "--model", str(prototxt),
              "--weights", str(weights)]
    assert main(common + ["--scores", str(tmp_path / "rgb.npz"), "--json", str(tmp_path / "rgb.json")]) == 0
    assert main(common + ["--flow", "--scores", str(tmp_path / "flow.npz")]) == 0
    names, labels, rgb = A.load_scores(str(tmp_path / "rgb.npz"))
    assert names.tolist() == videos and labels.tolist() == [0, 1, 0]
    # Each video's score is classify_video's mean row.
    net = caffe.Net(str(prototxt), caffe.TEST, weights=str(weights))
    _, rows = A.classify_video(net, A.load_video_frames(str(root / "v_Run_g01_c01")))
    np.testing.assert_allclose(rgb[1], rows.mean(0), rtol=1e-12)
    # One resized view per frame instead of 10 crops.
    assert main(common + ["--no-crops", "--scores", str(tmp_path / "whole.npz")]) == 0
    _, rows = A.classify_video(net, A.load_video_frames(str(root / "v_Run_g01_c01")), crops=False)
    whole = A.load_scores(str(tmp_path / "whole.npz"))[2]
    np.testing.assert_allclose(whole[1], rows.mean(0), rtol=1e-12)
    assert np.abs(whole - rgb).max() > 1e-6
    report = json.load(open(tmp_path / "rgb.json"))
    assert report["accuracy"] == pytest.approx(100 * np.mean(rgb.argmax(1) == labels))
    assert report["per_class_accuracy"][2:] == [None] * 3 and np.sum(report["confusion"]) == 3
    # Fusion re-scored from the saved scores alone, with any weight.
    capsys.readouterr()
    assert main(["evaluate-activity", "--rgb-scores", str(tmp_path / "rgb.npz"), "--flow-scores",
                 str(tmp_path / "flow.npz"), "--fusion", "0.5", "0.37", "--json", str(tmp_path / "t.json")]) == 0
    _, _, flow = A.load_scores(str(tmp_path / "flow.npz"))
    assert json.load(open(tmp_path / "t.json"))["table"] == pytest.approx(A.table_row(labels, rgb, flow, (0.5, 0.37)))
    assert "0.37 RGB" in capsys.readouterr().out
    # A missing frame folder is named before any video is scored.
    listing.write_text("Walk/v_Walk_g09_c01 0\n")
    assert main(common + ["--scores", str(tmp_path / "x.npz")]) == 1
    assert "v_Walk_g09_c01: no frame folder" in capsys.readouterr().err
    # A video too short for one clip of the LSTM net is named.
    lstm_prototxt, lstm_weights = _narrow_deploy("deploy_lstm.prototxt", tmp_path, seed=4)
    net = caffe.Net(str(lstm_prototxt), caffe.TEST, weights=str(lstm_weights))
    with pytest.raises(ValueError, match="v_Run_g01_c01: a video of 2 frames is shorter than one clip of 16"):
        A.evaluate_videos(net, str(root), [("Run/v_Run_g01_c01", 1)])
    listing.write_text("Walk/v_Walk_g01_c01\n")
    with pytest.raises(ValueError, match="test.txt:1: expected"):
        A.read_video_list(str(listing))


@needs_original
@pytest.mark.skipif(importlib.util.find_spec("av") is None, reason="PyAV not installed: pip install 'lrcn_native[video]'")
@pytest.mark.parametrize("flow", [False, True])
def test_classify_video_reads_a_video_file_as_its_frames(tmp_path, flow):
    """A video file gives the rows of the folder of its decoded frames (or, with --flow, of their LRCN flow
    images written losslessly), through the same deploy net: decoding and flow happen before the protocol."""
    from lrcn_native.data.flow import flow_images
    from lrcn_native.data.video import read_frames, write_video
    prototxt, weights = _narrow_deploy("deploy_singleFrame.prototxt", tmp_path, seed=3)
    yy, xx = np.mgrid[0:48, 0:64]
    frames = [np.stack([np.uint8(128 + 60 * np.sin(0.2 * (xx - 0.4 * t)) * np.cos(0.15 * yy + c)) for c in range(3)], 2)
              for t in range(18)]
    video = tmp_path / "v.avi"
    write_video(video, frames)
    decoded = list(read_frames(video))
    images = list(flow_images(decoded, "lucas_kanade")) if flow else decoded
    folder = tmp_path / "as_frames"
    folder.mkdir()
    for i, im in enumerate(images):
        Image.fromarray(im).save(folder / f"v.{i + 1:04d}.png")   # PNG: lossless, the same pixels
    out = {}
    for name, src in (("file", video), ("folder", folder)):
        out[name] = tmp_path / f"{name}.json"
        args = ["classify-video", str(src), "--model", str(prototxt), "--weights", str(weights), "--json", str(out[name])]
        assert main(args + (["--flow"] + (["--flow-method", "lucas_kanade"] if name == "file" else [])) * flow) == 0
    file_rows, folder_rows = (np.array(json.load(open(out[k]))["rows"]) for k in ("file", "folder"))
    assert file_rows.shape == (17 if flow else 18, 5)
    np.testing.assert_array_equal(file_rows, folder_rows)
    with pytest.raises(SystemExit, match="give --flow and a video file"):
        main(["classify-video", str(folder), "--model", str(prototxt), "--weights", str(weights), "--flow",
              "--flow-method", "tvl1"])
