"""SequenceData (the released LRCN sequence_input_layer): clip choice, time-major tops, the transforms and
their released quirks, seeding, exact resume, errors, and the released Python layer names resolving to it.

Frames are small (24 × 32, crop 20) flat or noisy JPEGs written by util.write_videos; a flat frame's G
channel tells which frame was read."""
import json
import os
import random

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native import io
from lrcn_native.proto.text import PrototxtError, parse
from util import write_videos

SMALL = "new_height: 24 new_width: 32 crop_size: 20"


def _net(source, root, extra="", phase=caffe.TRAIN, tops=3, sizes=SMALL):
    names = "".join(f' top: "{t}"' for t in ("data", "label", "clip_markers")[:tops])
    return caffe.Net(parse(f'layer {{ name: "clips" type: "SequenceData"{names} sequence_data_param {{ '
                           f'source: "{source}" root_folder: "{root}/" {sizes} {extra} }} }}', "seq.prototxt"), phase)


def released_draws(seed, counts, T, N, batches, size=(24, 32), crop=20):
    """Per batch, per clip: (video, r0, r1, flip, start) as the released sequenceGeneratorVideo drew them from
    Python's random (randint(0, 1) of Python 2 is int(random() * 2)), videos in list order."""
    r, video, out = random.Random(seed), 0, []
    for _ in range(batches):
        clips = []
        for n in range(N):
            v = (video + n) % len(counts)
            r0, r1 = int(r.random() * (size[0] - crop)), int(r.random() * (size[1] - crop))
            flip = int(r.random() * 2)
            clips.append((v, r0, r1, flip, int(r.random() * (counts[v] - T) + 1 + 1)))
        video = (video + N) % len(counts)
        out.append(clips)
    return out


def frames_read(net, T, N):
    """(frame number, video index) of every row, from a flat frame's G (8·k) and R (40 + 20·i) channels."""
    d = net.blobs["data"].data.reshape(T, N, 3, -1).mean(-1)
    return np.rint((d[..., 1] + 116.779) / 8).astype(int), np.rint((d[..., 2] + 128.68 - 40) / 20).astype(int)


def test_clips_follow_the_released_sampler_time_major(tmp_path):
    counts, T, N = [9, 12, 7, 20, 10], 4, 2
    listing = write_videos(tmp_path / "frames", counts, size=(24, 32), label=lambda i: 3 * i)
    net = _net(listing, tmp_path / "frames", f"frames: {T} buffer_size: {N} seed: 10")
    assert net.blobs["data"].shape == (T * N, 3, 20, 20) and net.blobs["label"].shape == (T * N,)
    for batch in released_draws(10, counts, T, N, 4):  # 4 batches of 2 wrap around the 5 videos
        net.forward()
        number, video = frames_read(net, T, N)
        for n, (v, _, _, _, start) in enumerate(batch):
            assert 2 <= start <= counts[v] - T + 1
            np.testing.assert_array_equal(number[:, n], np.arange(start, start + T))  # row t·N + n: frame t
            assert (video[:, n] == v).all()
        labels = net.blobs["label"].data.reshape(T, N)
        np.testing.assert_array_equal(labels, np.tile([3 * v for v, *_ in batch], (T, 1)))
        np.testing.assert_array_equal(net.blobs["clip_markers"].data.reshape(T, N), [[0] * N] + [[1] * N] * (T - 1))


def noisy_video(root, size, n=18, flow=False):
    """One video of noise frames (every pixel differs, so crops, flips and resizes show) and its list."""
    rng = np.random.default_rng(0)
    from PIL import Image
    (root / "v0").mkdir(parents=True)
    for k in range(2 if flow else 1, n + 1):
        Image.fromarray(rng.integers(0, 256, size + (3,), np.uint8)).save(
            root / "v0" / f"{'flow_image_' if flow else ''}v0.{k:04d}.jpg")
    listing = root.parent / "list.txt"
    listing.write_text("Class/v0 7\n")
    return listing


@pytest.mark.parametrize("flow, extra, frame_size", [
    (False, "", (24, 32)),                                                   # the released settings
    (True, "", (24, 32)),
    (False, "crop_only_when_mirrored: false mean_value: 103.939 mean_value: 116.779 mean_value: 123.68", (24, 32)),
    (True, "mirror_negates_flow_x: false", (24, 32)),
    (False, "", (20, 30)),                                                   # smaller frames: resized up first
])
def test_transform_and_its_quirk_options(tmp_path, flow, extra, frame_size):
    T, N, seed = 3, 6, 4
    listing = noisy_video(tmp_path / "frames", frame_size, flow=flow)
    net = _net(listing, tmp_path / "frames", f"frames: {T} buffer_size: {N} seed: {seed} flow: {str(flow).lower()} "
               + extra)
    net.forward()
    out = net.blobs["data"].data.reshape(T, N, 3, 20, 20)
    mean = np.array([128.0] * 3 if flow else [103.939, 116.779, 123.68 if "123.68" in extra else 128.68])
    draws = released_draws(seed, [18 - flow], T, N, 1)[0]
    assert {d[3] for d in draws} == {0, 1}, "the seed should give mirrored and unmirrored clips"
    for n, (_, r0, r1, flip, start) in enumerate(draws):
        for t in range(T):
            img = io.load_image(tmp_path / "frames" / "v0" / f"{'flow_image_' if flow else ''}v0.{start + t:04d}.jpg")
            if img.shape[:2] != (24, 32):
                img = io.resize_image(img, (24, 32))
            if flip:
                img = img[:, ::-1].copy()
                if flow and "negates_flow_x: false" not in extra:
                    img[..., 0] = 1 - img[..., 0]  # x flow changes sign: 255 − x once scaled
            if flip or "crop_only_when_mirrored: false" in extra:
                img = img[r0:r0 + 20, r1:r1 + 20]
            else:
                img = io.resize_image(img, (20, 20))  # the released quirk: no crop without a mirror
            expected = img[..., ::-1].transpose(2, 0, 1) * np.float32(255) - mean[:, None, None]
            # float32 ×255 then −mean as caffe.io does: the same operations, so ≤ 1 ulp of 255 apart
            np.testing.assert_allclose(out[t, n], expected, rtol=0, atol=1e-4, err_msg=f"clip {n} frame {t}")


def test_two_tops_and_seeding_from_the_solver_seed(tmp_path):
    listing = write_videos(tmp_path / "frames", [10, 11, 12], size=(24, 32))

    def batches(seed, tops=2):
        caffe.set_random_seed(seed)
        net = _net(listing, tmp_path / "frames", "frames: 3 buffer_size: 3", tops=tops)
        return [net.forward()["data"].copy() for _ in range(2)]
    a, b, c = batches(1), batches(1), batches(2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, z) for x, z in zip(a, c))  # 6 clips' start frames all equal: ~1e-4


def test_resume_reads_the_same_clips_as_an_uninterrupted_run(tmp_path):
    listing = write_videos(tmp_path / "frames", [10, 14, 9], size=(24, 32))
    extra = "frames: 3 buffer_size: 2 seed: 3"
    full = _net(listing, tmp_path / "frames", extra)
    expected = [full.forward()["data"].copy() for _ in range(5)]
    first = _net(listing, tmp_path / "frames", extra)
    first.forward()
    first.forward()
    state = json.loads(json.dumps(first.layers[0].data_state()))  # as the solver's run state keeps it
    resumed = _net(listing, tmp_path / "frames", "frames: 3 buffer_size: 2 seed: 99")
    resumed.layers[0].set_data_state(state)
    for want in expected[2:]:
        np.testing.assert_array_equal(resumed.forward()["data"], want)


def test_solver_snapshot_resume_matches_the_uninterrupted_run(tmp_path):
    listing = write_videos(tmp_path / "frames", [10, 14, 9, 12], size=(24, 32), label=lambda i: i % 2)
    net = (f'layer {{ name: "clips" type: "SequenceData" top: "data" top: "label" sequence_data_param {{ '
           f'source: "{listing}" root_folder: "{tmp_path}/frames/" {SMALL} frames: 2 buffer_size: 3 }} }} '
           'layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 2 '
           'weight_filler { type: "gaussian" std: 0.001 } } } '
           'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }')

    def solver(prefix):
        return caffe.SGDSolver(parse(f'net_param {{ {net} }} base_lr: 0.01 lr_policy: "fixed" momentum: 0.9 '
                                     f'max_iter: 4 snapshot: 2 snapshot_prefix: "{tmp_path}/{prefix}" random_seed: 5',
                                     "solver.prototxt"))
    full = solver("full")
    full.step(4)
    part = solver("part")
    part.step(2)
    resumed = solver("resumed")
    resumed.restore(f"{tmp_path}/part_iter_2.solverstate")
    resumed.step(2)
    np.testing.assert_array_equal(resumed.net.params["ip"][0].data, full.net.params["ip"][0].data)


def test_errors_name_the_list_file_and_line(tmp_path):
    listing = write_videos(tmp_path / "frames", [10, 16, 10], size=(24, 32))
    root = tmp_path / "frames"
    lines = listing.read_text().splitlines()

    def error(text, extra="frames: 3 buffer_size: 1"):
        bad = tmp_path / "bad.txt"
        bad.write_text(text)
        with pytest.raises(ValueError) as e:
            _net(bad, root, extra).forward()
        return str(e.value)
    assert "bad.txt:2: expected '<Class>/<video> <label>'" in error(f"{lines[0]}\nClass1/v1\n")
    assert "bad.txt:1: label 'x' is not an integer" in error("Class1/v1 x\n")
    msg = error(f"{lines[0]}\nClass9/v9 3\n")
    assert "bad.txt:2: video 'v9': cannot list the frames folder" in msg and "layer 'clips'" in msg
    msg = error(f"{lines[1]}\n", "frames: 16")  # 16 frames numbered from 1: a 16-frame clip would need frame 17
    assert "bad.txt:1: video 'v1' has 16 frames numbered 1..16" in msg and "needs frames 2..17" in msg
    for k in range(1, 11):  # an unreadable JPEG, reported when read
        (root / "v2" / f"v2.{k:04d}.jpg").write_bytes(b"not a jpeg")
    msg = error(f"{lines[2]}\n")
    assert "cannot read frame" in msg and "v2.00" in msg and "(video of" in msg and "bad.txt:1)" in msg
    with pytest.raises(ValueError, match="crop_size 30 is larger"):
        _net(listing, root, sizes="new_height: 24 new_width: 32 crop_size: 30")


def released_net(layer, param_str=""):
    return ('layer { name: "data" type: "Python" top: "data" top: "label" top: "clip_markers" python_param { '
            f'module: "sequence_input_layer" layer: "{layer}" param_str: "{param_str}" }} }}')


def test_released_python_layer_names_resolve_to_sequence_data(tmp_path, monkeypatch):
    """The released classes read their hard-coded files relative to the working directory, seeded with 10;
    param_str overrides fields (here the sizes, so that the test is small)."""
    monkeypatch.chdir(tmp_path)
    counts = [12, 15, 13, 11]
    for name, flow in (("frames", False), ("flow_images", True)):
        listing = write_videos(tmp_path / name, counts, size=(24, 32), flow=flow)
    os.replace(listing, "ucf101_split1_testVideos.txt")  # the same videos serve both lists here
    os.replace(tmp_path / "frames_list.txt", "ucf101_split1_trainVideos.txt")
    small = f"{SMALL} frames: 3".replace('"', "'")
    train = caffe.Net(parse(released_net("videoReadTrain_RGB", small), "train.prototxt"), caffe.TRAIN)
    layer = train.layers[0]
    assert layer.type == "SequenceData" and (layer.T, layer.N) == (3, 24) and not layer.negate_x
    assert train.blobs["data"].shape == (72, 3, 20, 20)
    test = caffe.Net(parse(released_net("videoReadTest_flow", small), "test.prototxt"), caffe.TEST)
    assert (test.layers[0].N, test.layers[0].negate_x) == (3, True)
    test.forward()
    d = test.blobs["data"].data.reshape(3, 3, 3, -1).mean(-1)
    number = np.rint((d[..., 1] + 128) / 8).astype(int)
    for n, (v, _, _, _, start) in enumerate(released_draws(10, counts, 3, 3, 1)[0]):
        np.testing.assert_array_equal(number[:, n], np.arange(start, start + 3))  # flow frames 2.., seed 10
    with pytest.raises(PrototxtError, match=r"bad\.prototxt:1 python_param\.param_str:1:1: unknown field 'buffer'"):
        caffe.Net(parse(released_net("videoReadTest_RGB", "buffer: 2"), "bad.prototxt"), caffe.TEST)
