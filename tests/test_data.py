"""HDF5Data and ImageData on files the tests write: order, shuffling, transforms, resumable state, errors."""
import gc
import threading
import time

import h5py
import numpy as np
import pytest
from PIL import Image

import lrcn_native as caffe
from lrcn_native.proto.text import parse
from util import run_python


def _net(text, phase=caffe.TRAIN):
    return caffe.Net(parse(text, "data.prototxt"), phase)


def _h5_files(tmp_path, sizes):
    names, start = [], 0
    for k, n in enumerate(sizes):
        path = tmp_path / f"part{k}.h5"
        with h5py.File(path, "w") as f:
            f["x"] = np.arange(start, start + n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
            f["y"] = np.arange(start, start + n, dtype=np.float64)
        names.append(str(path))
        start += n
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(names) + "\n")
    return listing


def _h5_net(listing, batch, shuffle=False):
    return _net(f'layer {{ name: "d" type: "HDF5Data" top: "x" top: "y" hdf5_data_param {{ source: "{listing}" '
                f'batch_size: {batch} shuffle: {"true" if shuffle else "false"} }} }}')


def test_hdf5_reads_rows_in_order_across_files_and_wraps(tmp_path):
    net = _h5_net(_h5_files(tmp_path, [3, 4]), 5)
    assert net.blobs["x"].shape == (5, 3) and net.blobs["y"].shape == (5,)
    seen = []
    for _ in range(3):
        net.forward()
        seen.extend(net.blobs["y"].data.tolist())
        np.testing.assert_array_equal(net.blobs["x"].data[:, 0], net.blobs["y"].data)
    assert seen == [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0]


def test_hdf5_shuffle_permutes_each_pass_reproducibly(tmp_path):
    listing = _h5_files(tmp_path, [4, 3])

    def run():
        caffe.set_random_seed(7)
        net = _h5_net(listing, 7, shuffle=True)
        return [net.forward()["y"].copy() for _ in range(3)]
    a, b = run(), run()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    for batch in a:  # each batch is exactly one pass here
        assert sorted(batch.tolist()) == list(range(7))
    assert any(not np.array_equal(batch, np.arange(7)) for batch in a)


def test_hdf5_state_resume_continues_the_same_stream(tmp_path):
    listing = _h5_files(tmp_path, [5, 6])
    caffe.set_random_seed(3)
    net = _h5_net(listing, 4, shuffle=True)
    for _ in range(2):
        net.forward()
    layer = net.layers[0]
    state = layer.data_state()
    expected = [net.forward()["y"].copy() for _ in range(4)]
    layer.set_data_state(state)
    got = [net.forward()["y"].copy() for _ in range(4)]
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)


def test_prefetch_threads_start_at_the_first_forward_and_stop_with_their_net(tmp_path):
    """A net that is only built reads nothing ahead; a net its user drops takes its data layers' threads
    (and their prefetched batches) with it."""
    listing = _h5_files(tmp_path, [3])

    def prefetchers():
        return {t for t in threading.enumerate() if t.name == "lrcn-prefetch"}
    mine = set()
    for _ in range(3):
        before = prefetchers()
        net = _h5_net(listing, 2)
        assert not prefetchers() - before  # none started (threads of dropped nets may still be ending)
        net.forward()
        new = prefetchers() - before
        assert len(new) == 1
        mine |= new
        del net
    gc.collect()
    deadline = time.monotonic() + 5
    while any(t.is_alive() for t in mine) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.is_alive() for t in mine)


def test_hdf5_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read source list"):
        _h5_net(tmp_path / "missing.txt", 2)
    listing = tmp_path / "l.txt"
    listing.write_text(str(tmp_path / "nope.h5") + "\n")
    with pytest.raises(ValueError, match="nope.h5"):
        _h5_net(listing, 2)
    with h5py.File(tmp_path / "int.h5", "w") as f:
        f["x"] = np.arange(3)
        f["y"] = np.arange(3.0)
    listing.write_text(str(tmp_path / "int.h5"))
    with pytest.raises(ValueError, match="expects float data"):
        _h5_net(listing, 2)


def _images(tmp_path, n=4, size=(6, 8)):
    rng = np.random.default_rng(0)
    lines, arrays = [], []
    for k in range(n):
        rgb = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        Image.fromarray(rgb).save(tmp_path / f"im{k}.png")
        lines.append(f"im{k}.png {k % 3}")
        arrays.append(rgb)
    listing = tmp_path / "images.txt"
    listing.write_text("\n".join(lines) + "\n")
    return listing, arrays


def _image_net(tmp_path, listing, extra="", transform="", phase=caffe.TEST, batch=2):
    return _net(f'layer {{ name: "d" type: "ImageData" top: "data" top: "label" '
                f'transform_param {{ {transform} }} image_data_param {{ source: "{listing}" '
                f'root_folder: "{tmp_path}/" batch_size: {batch} {extra} }} }}', phase)


def test_image_data_bgr_mean_scale_center_crop_and_labels(tmp_path):
    listing, arrays = _images(tmp_path)
    net = _image_net(tmp_path, listing, transform="crop_size: 4 mean_value: 10 mean_value: 20 mean_value: 30 "
                                                  "scale: 0.5")
    out = net.forward()
    assert out["data"].shape == (2, 3, 4, 4)
    np.testing.assert_array_equal(out["label"], [0, 1])
    for i in range(2):
        bgr = arrays[i][1:5, 2:6, ::-1].transpose(2, 0, 1).astype(np.float32)  # centre crop of 6×8
        expected = (bgr - np.array([10, 20, 30], np.float32)[:, None, None]) * 0.5
        np.testing.assert_array_equal(out["data"][i], expected)


def test_image_data_resize_and_mirror_at_train(tmp_path):
    listing, arrays = _images(tmp_path, n=2)
    caffe.set_random_seed(1)
    net = _image_net(tmp_path, listing, extra="new_height: 12 new_width: 16", transform="mirror: true",
                     phase=caffe.TRAIN, batch=2)
    seen_mirrored = seen_plain = False
    for _ in range(6):
        out = net.forward()
        assert out["data"].shape == (2, 3, 12, 16)
        for i in range(2):
            # a 2× upsampling by half-pixel bilinear keeps the mean of each channel nearly unchanged
            img = out["data"][i]
            plain = img[:, :, :].copy()
            ref = arrays[i].astype(np.float32)[:, :, ::-1].transpose(2, 0, 1)
            col_means = plain.mean(axis=1)
            ref_cols = np.repeat(ref.mean(axis=1), 2, axis=1)
            if np.abs(col_means - ref_cols).mean() < np.abs(col_means[:, ::-1] - ref_cols).mean():
                seen_plain = True
            else:
                seen_mirrored = True
    assert seen_plain and seen_mirrored


@pytest.mark.parametrize("flow", [False, True])
def test_image_data_mirror_of_a_flow_image_negates_x(tmp_path, flow):
    """The activity fork's transform_param flow: a mirrored image's x channel (R, BGR channel 2) is 255 − x,
    before the mean; y and |f| are only mirrored. Without flow, a mirror is only a mirror."""
    listing, arrays = _images(tmp_path, n=2)
    caffe.set_random_seed(3)
    net = _image_net(tmp_path, listing, transform=f"mirror: true mean_value: 128 flow: {str(flow).lower()}")
    seen = set()
    for _ in range(4):
        out = net.forward()["data"]
        for i in range(2):
            bgr = arrays[i][:, :, ::-1].transpose(2, 0, 1).astype(np.float32)
            mirrored = not np.array_equal(out[i], bgr - 128)
            if mirrored:
                bgr = bgr[:, :, ::-1].copy()
                if flow:
                    bgr[2] = 255 - bgr[2]
            np.testing.assert_array_equal(out[i], bgr - 128)
            seen.add(mirrored)
    assert seen == {False, True}


def test_image_data_errors(tmp_path):
    listing, _ = _images(tmp_path, n=2)
    bad = tmp_path / "bad.txt"
    bad.write_text("im0.png 0\nmissing.png 1\n")
    net = _image_net(tmp_path, bad, batch=2)
    with pytest.raises(ValueError, match="missing.png.*line 2"):
        net.forward()
    bad.write_text("im0.png zero\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        _image_net(tmp_path, bad)
    with pytest.raises(ValueError, match="smaller than crop_size"):
        _image_net(tmp_path, listing, transform="crop_size: 50").forward()


def test_forward_after_a_data_error_raises_again_and_reads_once_fixed(tmp_path):
    """The prefetch thread ends at an error; the next forward() reads again instead of waiting forever."""
    listing = _h5_files(tmp_path, [2, 2])
    (tmp_path / "part1.h5").rename(tmp_path / "away.h5")
    net = _h5_net(listing, 2)  # setup reads only the first file; the first batch moves on to the second
    for _ in range(2):
        with pytest.raises(ValueError, match="part1.h5"):
            net.forward()
    (tmp_path / "away.h5").rename(tmp_path / "part1.h5")
    net.forward()
    np.testing.assert_array_equal(net.blobs["y"].data, [0, 1])

    img_listing, _ = _images(tmp_path, n=2)
    (tmp_path / "im1.png").rename(tmp_path / "gone.png")
    net = _image_net(tmp_path, img_listing)
    for _ in range(2):
        with pytest.raises(ValueError, match="im1.png.*line 2"):
            net.forward()


def test_hdf5_group_and_decompression_bomb_are_named(tmp_path):
    with h5py.File(tmp_path / "g.h5", "w") as f:
        f.create_group("x")
        f["y"] = np.arange(3.0)
    listing = tmp_path / "l.txt"
    listing.write_text(str(tmp_path / "g.h5"))
    with pytest.raises(ValueError, match="'x' in HDF5 file .*g.h5.* is a Group"):
        _h5_net(listing, 2)
    listing, _ = _images(tmp_path, n=1)
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = 10  # the 6x8 image is then over twice the limit: pillow's bomb error
    try:
        with pytest.raises(ValueError, match="im0.png"):
            _image_net(tmp_path, listing, batch=1).forward()
    finally:
        Image.MAX_IMAGE_PIXELS = limit


_EXIT_AFTER_FORWARD = """
import sys, lrcn_native as caffe
from lrcn_native.proto.text import parse
net = caffe.Net(parse('layer {{ name: "d" type: "HDF5Data" top: "x" top: "y" '
                      'hdf5_data_param {{ source: "{listing}" batch_size: 2 }} }}', "p"), caffe.TRAIN)
net.forward()
print("done")
"""


def test_exit_right_after_a_forward_never_hangs(tmp_path):
    """The prefetch thread is inside h5py at exit; the exit hook stops and joins it (a hang or SIGABRT
    before). Repeated because the race is timing-dependent; 30 s bounds each run."""
    listing = _h5_files(tmp_path, [64, 64, 64])
    code = _EXIT_AFTER_FORWARD.format(listing=listing)
    for _ in range(5):
        r = run_python(code, timeout=30)
        assert r.returncode == 0 and r.stdout.strip() == "done", r.stderr
