"""Caffe's Datum (lrcn_native/data/datum.py), the LMDB Data layer, the convert-imageset and compute-image-mean
verbs (lrcn_native/data/imageset.py) and the V1 data-layer upgrade, on images and databases the tests write.
protobuf (a test dependency) decodes and encodes the Datums and the mean as an independent implementation."""
import json

import numpy as np
import pytest
from PIL import Image

import lrcn_native as caffe
from lrcn_native.cli import main
from lrcn_native.data import datum as D
from lrcn_native.proto.caffemodel import read_blobproto_file
from lrcn_native.proto.text import parse
from test_caffemodel import PB, needs_protobuf

lmdb = pytest.importorskip("lmdb", reason="the LMDB tests need the lmdb package: pip install 'lrcn_native[lmdb]'")


def _images(tmp_path, n=5, size=(12, 10), folder="sub dir"):
    """n random PNG images (lossless, so decoded values are exact) and their `path label` list, label = 3·i."""
    rng = np.random.default_rng(0)
    (tmp_path / "img" / folder).mkdir(parents=True)
    pixels, lines = [], []
    for i in range(n):
        rgb = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        Image.fromarray(rgb).save(tmp_path / "img" / folder / f"im{i}.png")
        pixels.append(rgb[:, :, ::-1])  # BGR, as Caffe reads it
        lines.append(f"{folder}/im{i}.png {3 * i}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    return pixels, lines


def _convert(tmp_path, db="db", *flags):
    assert main(["convert-imageset", str(tmp_path / "img"), str(tmp_path / "list.txt"), str(tmp_path / db),
                 *flags]) == 0
    return str(tmp_path / db)


def _records(db):
    with lmdb.open(db, readonly=True, lock=False) as env, env.begin() as txn:
        return [(k.decode(), bytes(v)) for k, v in txn.cursor()]


def _data_net(db, batch, phase=caffe.TEST, transform="", extra=""):
    return caffe.Net(parse(f'layer {{ name: "d" type: "Data" top: "data" top: "label" data_param {{ source: "{db}" '
                           f'batch_size: {batch} backend: LMDB {extra} }} transform_param {{ {transform} }} }}',
                           "data.prototxt"), phase)


@needs_protobuf
def test_datums_agree_with_protobuf_both_ways():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    feats = rng.standard_normal((7, 2, 3)).astype(np.float32)
    for d in (D.raw_datum(img, -3), D.encoded_datum(b"\xff\xd8 not really a jpeg", 12), D.feature_datum(feats)):
        ours = D.encode_datum(d)
        pb = PB["Datum"].FromString(ours)
        assert pb.SerializeToString() == ours  # byte for byte what protobuf writes for the same fields
        back = D.decode_datum(ours)
        assert (back.channels, back.height, back.width, back.label) == (pb.channels, pb.height, pb.width, pb.label)
        assert back.data == pb.data and back.encoded == pb.encoded
        np.testing.assert_array_equal(back.float_data, np.array(pb.float_data, np.float32))
    raw = D.decode_datum(D.encode_datum(D.raw_datum(img, 0)))
    np.testing.assert_array_equal(D.datum_image(raw), img)  # C×H×W bytes back to H×W×C
    # packed float_data (another writer's choice) reads the same as proto2's unpacked form
    pb = PB["Datum"](channels=2, height=1, width=1)
    packed = pb.SerializeToString() + b"\x32\x08" + np.array([1.5, -2], "<f4").tobytes()
    np.testing.assert_array_equal(D.datum_image(D.decode_datum(packed)).ravel(), [1.5, -2])


def test_convert_imageset_writes_caffes_keys_and_raw_datums(tmp_path):
    pixels, lines = _images(tmp_path)
    records = _records(_convert(tmp_path))
    assert [k for k, _ in records] == [f"{i:08d}_{line.rsplit(' ', 1)[0]}" for i, line in enumerate(lines)]
    for (_, value), img, i in zip(records, pixels, range(5)):
        d = D.decode_datum(value)
        assert (d.channels, d.height, d.width, d.label, d.encoded) == (3, 12, 10, 3 * i, False)
        np.testing.assert_array_equal(D.datum_image(d), img)


def test_convert_imageset_encoded_resized_gray_and_shuffled(tmp_path):
    pixels, lines = _images(tmp_path)
    # encoded, file type matching, no resize: the file's own bytes
    for (_, value), line in zip(_records(_convert(tmp_path, "enc", "-encoded")), lines):
        d = D.decode_datum(value)
        assert d.encoded and d.data == (tmp_path / "img" / line.rsplit(" ", 1)[0]).read_bytes()
    # resized and grey, re-encoded as PNG (lossless): our bilinear resize of the grey image
    from lrcn_native.layer_types.data import _resize_bilinear, read_image
    records = _records(_convert(tmp_path, "small", "--resize_height", "6", "-resize_width=4", "--gray",
                                "--encode_type", "png"))
    for (_, value), line in zip(records, lines):
        got = D.datum_image(D.decode_datum(value))
        want = _resize_bilinear(read_image(tmp_path / "img" / line.rsplit(" ", 1)[0], False), 6, 4)
        assert got.shape == (6, 4, 1)
        np.testing.assert_array_equal(got, want)
    keys = [k for k, _ in _records(_convert(tmp_path, "shuffled", "--shuffle"))]
    assert sorted(k.split("_", 1)[1] for k in keys) == sorted(line.rsplit(" ", 1)[0] for line in lines)
    assert [k.split("_", 1)[0] for k in keys] == [f"{i:08d}" for i in range(5)]  # keys number the new order
    assert [k.split("_", 1)[1] for k in keys] != [line.rsplit(" ", 1)[0] for line in lines]
    assert keys == [k for k, _ in _records(_convert(tmp_path, "shuffled2", "--shuffle"))]  # seeded


def test_convert_imageset_errors_skips_and_atomicity(tmp_path, capsys):
    _images(tmp_path, n=3)
    db = _convert(tmp_path)
    assert main(["convert-imageset", str(tmp_path / "img"), str(tmp_path / "list.txt"), db]) == 1
    assert "exists already" in capsys.readouterr().err
    Image.new("RGB", (5, 5)).save(tmp_path / "img" / "odd.png")
    (tmp_path / "img" / "broken.png").write_bytes(b"not an image")
    with open(tmp_path / "list.txt", "a") as f:
        f.write("broken.png 1\nodd.png 2\n")
    # an unreadable image is skipped (Caffe logs it and goes on), with a warning
    assert main(["convert-imageset", str(tmp_path / "img"), str(tmp_path / "list.txt"), str(tmp_path / "b")]) == 0
    assert "1 unreadable images skipped (first: broken.png)" in capsys.readouterr().err
    assert len(_records(str(tmp_path / "b"))) == 4
    # --check_size: a different size fails naming the list line; nothing is left behind
    assert main(["convert-imageset", str(tmp_path / "img"), str(tmp_path / "list.txt"), str(tmp_path / "c"),
                 "--check_size"]) == 1
    assert "list.txt:5: 'odd.png' gives 3×5×5" in capsys.readouterr().err
    assert not any(p.name.startswith("c") for p in tmp_path.iterdir())
    assert main(["convert-imageset", str(tmp_path / "img"), str(tmp_path / "list.txt"), str(tmp_path / "e"),
                 "--encode_type", "tif", "--resize_height", "4", "--resize_width", "4"]) == 1
    assert "encode_type 'tif' is not one of jpg" in capsys.readouterr().err
    Image.new("RGB", (5, 5)).save(tmp_path / "img" / "x.gif")
    (tmp_path / "gif.txt").write_text("x.gif 0\n")  # resized, so re-encoded as its own type: one we cannot write
    assert main(["convert-imageset", str(tmp_path / "img"), str(tmp_path / "gif.txt"), str(tmp_path / "f"),
                 "--encoded", "--resize_height", "4", "--resize_width", "4"]) == 1
    assert "gif.txt:1: cannot encode 'x.gif' as 'gif': give --encode_type" in capsys.readouterr().err
    (tmp_path / "bad.txt").write_text("im0.png\n")
    assert main(["convert-imageset", str(tmp_path / "img"), str(tmp_path / "bad.txt"), str(tmp_path / "d")]) == 1
    assert "bad.txt:1: expected '<path> <integer label>'" in capsys.readouterr().err


@needs_protobuf
def test_compute_image_mean_of_lmdb_and_list(tmp_path):
    pixels, _ = _images(tmp_path)
    db = _convert(tmp_path)
    assert main(["compute-image-mean", db, str(tmp_path / "mean.binaryproto")]) == 0
    data = (tmp_path / "mean.binaryproto").read_bytes()
    pb = PB["BlobProto"].FromString(data)  # Caffe's form: legacy dims, packed data, no shape
    assert (pb.num, pb.channels, pb.height, pb.width) == (1, 3, 12, 10) and not pb.HasField("shape")
    want = np.mean([p.transpose(2, 0, 1) for p in pixels], axis=0, dtype=np.float64)
    # float32 sums of 5 values < 2^11 are exact; the division is one float32 rounding
    np.testing.assert_allclose(np.array(pb.data).reshape(3, 12, 10), want, rtol=1e-7)
    np.testing.assert_array_equal(caffe.io.blobproto_to_array(data), read_blobproto_file(tmp_path / "mean.binaryproto"))
    assert read_blobproto_file(tmp_path / "mean.binaryproto").shape == (1, 3, 12, 10)
    # from the list: the same mean; resized: the mean of the resized images
    assert main(["compute-image-mean", str(tmp_path / "list.txt"), str(tmp_path / "m2.binaryproto"), "--root",
                 str(tmp_path / "img")]) == 0
    assert (tmp_path / "m2.binaryproto").read_bytes() == data
    assert main(["compute-image-mean", str(tmp_path / "list.txt"), str(tmp_path / "m3.binaryproto"), "--root",
                 str(tmp_path / "img"), "--resize_height", "4", "--resize_width", "8"]) == 0
    assert read_blobproto_file(tmp_path / "m3.binaryproto").shape == (1, 3, 4, 8)


def test_compute_image_mean_refuses_mixed_sizes(tmp_path, capsys):
    _images(tmp_path, n=2)
    Image.new("RGB", (5, 5)).save(tmp_path / "img" / "odd.png")
    with open(tmp_path / "list.txt", "a") as f:
        f.write("odd.png 0\n")
    assert main(["compute-image-mean", str(tmp_path / "list.txt"), str(tmp_path / "m"), "--root",
                 str(tmp_path / "img")]) == 1
    err = capsys.readouterr().err
    assert "list.txt:3 ('odd.png'): size 3×5×5 differs from the first item's 3×12×10" in err
    assert "--resize_height" in err and not (tmp_path / "m").exists()


def test_data_layer_reads_transforms_and_wraps(tmp_path):
    pixels, _ = _images(tmp_path)
    db = _convert(tmp_path)
    assert main(["compute-image-mean", db, str(tmp_path / "mean.binaryproto")]) == 0
    mean = read_blobproto_file(tmp_path / "mean.binaryproto")[0]
    enc = _convert(tmp_path, "enc", "--encoded")
    for source in (db, enc):  # raw pixels, and PNG files decoded by the layer: the same values
        net = _data_net(source, 3, transform=f'scale: 0.5 crop_size: 8 mean_file: "{tmp_path / "mean.binaryproto"}"')
        assert net.blobs["data"].shape == (3, 3, 8, 8) and net.blobs["label"].shape == (3,)
        order = [0, 1, 2, 3, 4, 0, 1, 2, 3]  # wraps around to the first key
        for b in range(3):
            net.forward()
            for j, i in enumerate(order[3 * b:3 * b + 3]):
                want = (pixels[i].transpose(2, 0, 1).astype(np.float32) - mean)[:, 2:10, 1:9] * 0.5  # TEST: centre
                np.testing.assert_array_equal(net.blobs["data"].data[j], want)
                assert net.blobs["label"].data[j] == 3 * i


def test_data_layer_float_datums_and_one_top(tmp_path):
    feats = np.random.default_rng(2).standard_normal((4, 2, 3, 1)).astype(np.float32)
    with D.LMDBWriter(tmp_path / "f") as w:
        for i, x in enumerate(feats):
            w.put(f"{i:010d}", D.encode_datum(D.feature_datum(x)))
    text = f'layer {{ name: "d" type: "Data" top: "data" data_param {{ source: "{tmp_path / "f"}" batch_size: 4 }} }}'
    nets = [caffe.Net(parse(text, "f.prototxt"), caffe.TEST) for _ in range(2)]  # two readers of one database
    for net in nets:
        net.forward()
        np.testing.assert_array_equal(net.blobs["data"].data, feats)


def test_data_layer_state_resumes_the_same_stream(tmp_path):
    _images(tmp_path)
    db = _convert(tmp_path)
    caffe.set_random_seed(5)
    net = _data_net(db, 2, caffe.TRAIN, "crop_size: 7 mirror: true", "rand_skip: 4")
    for _ in range(2):
        net.forward()
    layer = net.layers[0]
    state = json.loads(json.dumps(layer.data_state()))  # the solver stores it as JSON
    expected = [(net.forward()["data"].copy(), net.blobs["label"].data.copy()) for _ in range(3)]
    layer.set_data_state(state)
    for data, label in expected:
        net.forward()
        np.testing.assert_array_equal(net.blobs["data"].data, data)  # same items, crops and mirrors
        np.testing.assert_array_equal(net.blobs["label"].data, label)
    assert state["offset"] == 4


def test_data_layer_errors_name_the_layer_and_source(tmp_path):
    def error(source, extra="backend: LMDB"):
        with pytest.raises(ValueError) as e:
            caffe.Net(parse(f'layer {{ name: "d" type: "Data" top: "data" data_param {{ source: "{source}" '
                            f'batch_size: 2 {extra} }} }}', "e.prototxt"), caffe.TEST)
        return str(e.value)
    assert "e.prototxt:1: layer 'd' (Data)" in error(tmp_path / "missing")
    assert "is not an LMDB database" in error(tmp_path / "missing")
    (tmp_path / "ldb").mkdir()
    (tmp_path / "ldb" / "CURRENT").write_text("MANIFEST-000001\n")
    assert "LevelDB database (data_param.backend unset: LEVELDB by default)" in error(tmp_path / "ldb", "")
    assert "lrcn_native reads LMDB only" in error(tmp_path / "ldb", "backend: LEVELDB")
    with D.LMDBWriter(tmp_path / "empty"):
        pass
    assert "is empty" in error(tmp_path / "empty")
    with D.LMDBWriter(tmp_path / "junk") as w:
        w.put("a", b"\x0b")
    assert "datum 'a' of LMDB" in error(tmp_path / "junk") and "wire type 3" in error(tmp_path / "junk")


def test_v1_zoo_train_val_moves_transform_fields_and_trains_from_lmdb(tmp_path):
    """A data layer in the zoo's V1 train_val format (transform fields inside data_param): after Caffe's
    upgrade they act (crop 8, mirror, mean file) and the net runs; the parsed file is left unchanged."""
    _images(tmp_path)
    db = _convert(tmp_path)
    assert main(["compute-image-mean", db, str(tmp_path / "mean.binaryproto")]) == 0
    text = f'''name: "CaffeNet"
layers {{
  name: "data"
  type: DATA
  top: "data"
  top: "label"
  data_param {{
    source: "{db}"
    backend: LMDB
    batch_size: 4
    mean_file: "{tmp_path / 'mean.binaryproto'}"
    crop_size: 8
    mirror: true
    scale: 0.25
  }}
  include: {{ phase: TRAIN }}
}}
layers {{
  name: "fc"
  type: INNER_PRODUCT
  bottom: "data"
  top: "fc"
  blobs_lr: 1
  blobs_lr: 2
  weight_decay: 1
  weight_decay: 0
  inner_product_param {{ num_output: 15 weight_filler {{ type: "gaussian" std: 0.01 }} }}
}}
layers {{ name: "loss" type: SOFTMAX_LOSS bottom: "fc" bottom: "label" top: "loss" }}
'''
    from lrcn_native.proto.upgrade import to_text, upgrade_net
    netp = parse(text, "train_val.prototxt")
    before = to_text(netp)
    up = upgrade_net(netp)
    assert to_text(netp) == before
    layer = up.msgs("layer")[0]
    assert sorted(layer.msg("data_param").fields) == ["backend", "batch_size", "source"]
    assert layer.msg("transform_param").int("crop_size") == 8 and layer.msg("transform_param").bool("mirror")
    assert layer.msg("transform_param").float("scale") == 0.25
    net = caffe.Net(netp, caffe.TRAIN)
    assert net.blobs["data"].shape == (4, 3, 8, 8)
    assert np.isfinite(net.forward()["loss"]) and np.abs(net.blobs["data"].data).max() <= 255 * 0.25
    path = tmp_path / "v1.prototxt"
    path.write_text(text)
    assert main(["upgrade-net", str(path), str(tmp_path / "v2.prototxt")]) == 0
    assert "transform_param {\n    mean_file" in (tmp_path / "v2.prototxt").read_text()
