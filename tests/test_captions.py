"""lrcn_native.data.captions: tokenising, the vocabulary and the HDF5 stream layout, cell by cell."""
import json
import os
import re

import h5py
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.data import captions as C
from util import ORIGINAL


def test_tokenize_as_released():
    assert C.tokenize("A man's dog, running.") == ["a", "man", "'", "s", "dog", ",", "running"]
    assert C.tokenize("  Two cats on a mat  ") == ["two", "cats", "on", "a", "mat"]
    # only one trailing '.' token is removed; '...' is one punctuation token and stays
    assert C.tokenize("Wait...") == ["wait", "..."]
    assert C.tokenize("A dog . .") == ["a", "dog", ". ."]
    assert C.tokenize("A dog .") == ["a", "dog", "."]     # the run is " .", not ".", so it stays
    # ASCII \W as in Python 2: a non-ASCII letter is a separator token, not part of a word
    assert C.tokenize("café au lait") == ["caf", "é", "au", "lait"]
    with pytest.raises(C.CaptionDataError, match="item 7: empty caption"):
        C.tokenize(" . ", "item 7")


def test_vocabulary_counts_sorting_and_ids():
    sents = [["b", "a", "c"], ["a", "b"], ["a", "d"], ["b"], ["c"]]
    # counts a 3, b 3, c 2, d 1: ties alphabetical, cut below min_count
    assert C.build_vocabulary(sents, min_count=2) == ["<unk>", "a", "b", "c"]
    vocab = C.build_vocabulary(sents, min_count=1)
    assert vocab == ["<unk>", "a", "b", "c", "d"]
    index = {w: i for i, w in enumerate(["<unk>", "a", "b"])}
    assert C.encode(["a", "z", "b"], index) == [2, 1, 3]      # 0 is EOS, <unk> is 1
    assert C.decode([2, 1, 3, 0, 2], ["<unk>", "a", "b"]) == ["a", "<unk>", "b"]
    assert C.sentence([2, 3, 0], ["<unk>", "a", "b"]) == "A b."
    assert C.sentence([2, 3], ["<unk>", "a", "b"]) == "A b..."


def test_vocabulary_file_roundtrip_and_errors(tmp_path):
    p = tmp_path / "vocabulary.txt"
    C.write_vocabulary(p, ["<unk>", "a", "dog"])
    assert C.read_vocabulary(p) == ["<unk>", "a", "dog"]
    p.write_bytes(b"<unk>\na\n\xff\xfe\n")
    with pytest.raises(C.CaptionDataError, match=r"vocabulary.txt:3: not UTF-8"):
        C.read_vocabulary(p)
    p.write_text("a\n<unk>\n")
    with pytest.raises(C.CaptionDataError, match="first word must be <unk>"):
        C.read_vocabulary(p)


def test_sequence_fields_pad_and_truncate():
    f = C.sequence_fields([5, 6], "x.jpg", max_words=5)
    assert f["cont_sentence"] == [0, 1, 1, 0, 0]
    assert f["input_sentence"] == [0, 5, 6, -1, -1]
    assert f["target_sentence"] == [5, 6, 0, -1, -1]
    assert f["stage_indicators"] == [1, 1, 1, 0, 0]
    assert f["hashed_image_path"] == [C.image_hash("x.jpg")] * 5
    long = C.sequence_fields([1, 2, 3, 4, 5, 6], "x.jpg", max_words=5)
    assert long["input_sentence"] == [0, 1, 2, 3, 4] and long["target_sentence"] == [1, 2, 3, 4, 5]  # no EOS
    free = C.sequence_fields([7], "x.jpg", max_words=5, pad=False, truncate=False)
    assert free["input_sentence"] == [0, 7] and free["target_sentence"] == [7, 0]


def test_interleave_follows_the_released_buffering():
    # lengths 3, 2, 4, 1, 2 over 2 streams: stream 0 takes seq 0 (rows 0-2), stream 1 seq 1 (0-1);
    # at row 2 stream 1 is free first -> seq 2 (2-5); row 3 stream 0 -> seq 3 (3); row 4 stream 0 -> seq 4
    seqs = [np.zeros((n, 1)) for n in (3, 2, 4, 1, 2)]
    starts, rows = C.interleave(seqs, 2)
    assert starts == [(0, 0), (0, 1), (2, 1), (3, 0), (4, 0)]
    assert rows == 6


def _coco_fixture(tmp_path, captions, make_images=True):
    root = tmp_path / "images"
    root.mkdir()
    images, anns = [], []
    for i, caps in enumerate(captions):
        name = f"im{i}.jpg"
        if make_images:
            (root / name).write_bytes(b"")
        images.append({"id": 100 + i, "file_name": name})
        anns += [{"image_id": 100 + i, "id": len(anns) + k, "caption": c} for k, c in enumerate(caps)]
    path = tmp_path / "captions_train.json"
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    return str(path), str(root)


def test_hdf5_layout_cell_by_cell(tmp_path):
    caps = [["A red ball.", "The ball is red"], ["A blue cube on the left.", "blue cube"], ["A ball"]]
    path, root = _coco_fixture(tmp_path, caps)
    cs = C.read_coco(path, root)
    vocab = C.build_vocabulary((t for _, _, c in cs.tokenized() for t in c), min_count=1)
    out = str(tmp_path / "h5")
    s = C.write_streams(out, cs, vocab, max_words=4, buffer_size=2, rows_per_file=6)
    # 5 pairs topped up to 6 (a multiple of 2 streams); 3 sentences per stream x 4 rows = 12 rows, 2 files
    assert s["pairs"] == 5 and s["sequences"] == 6 and s["rows"] == 12 and len(s["files"]) == 2
    order = C.pair_order(5, 2)
    pairs = [(os.path.join(root, f"im{i}.jpg"), c) for i, cc in enumerate(caps) for c in cc]
    index = {w: i for i, w in enumerate(vocab)}
    images = open(os.path.join(out, "image_list.txt")).read().split("\n")[:-1]
    assert images == [pairs[k][0] for k in order]
    dummy = open(os.path.join(out, "image_list.with_dummy_labels.txt")).read().split("\n")[:-1]
    assert dummy == [f"{p} {C.image_hash(p)}" for p in images]
    assert open(os.path.join(out, "hdf5_chunk_list.txt")).read().split() == s["files"]
    rows = {k: [] for k in C.FIELDS + ("cont",)}
    for name in s["files"]:
        with h5py.File(name, "r") as h5:
            assert sorted(h5) == sorted(C.FIELDS + ("cont", "buffer_size"))
            assert h5["buffer_size"][()].tolist() == [2] and h5["buffer_size"].dtype == np.int64
            for k in rows:
                assert h5[k].dtype == np.float64 and h5[k].shape == (6, 2)
                rows[k].append(h5[k][()])
    got = {k: np.concatenate(v) for k, v in rows.items()}
    for j, k in enumerate(order):          # sequence j is in stream j % 2, rows 4*(j//2) ... +4
        ids = C.encode(C.tokenize(pairs[k][1]), index)
        want = C.sequence_fields(ids, pairs[k][0], max_words=4)
        r, s_ = 4 * (j // 2), j % 2
        for field in C.FIELDS:
            assert got[field][r:r + 4, s_].tolist() == want[field], (field, j)
        assert got["cont"][r:r + 4, s_].tolist() == [0, 1, 1, 1]


def test_the_original_lrcn_prototxt_reads_the_streams(tmp_path):
    """The HDF5Data layer of lrcn.prototxt (batch_size 20) reads 20 x 100 blocks that line up with the
    image list's batches of 100."""
    caps = [[f"a thing number {i} here"] for i in range(150)]
    path, root = _coco_fixture(tmp_path, caps)
    cs = C.read_coco(path, root)
    vocab = C.build_vocabulary((t for _, _, c in cs.tokenized() for t in c), min_count=1)
    out = str(tmp_path / "h5")
    C.write_streams(out, cs, vocab)
    net = tmp_path / "net.prototxt"
    net.write_text('layer { name: "data" type: "HDF5Data" top: "cont_sentence" top: "input_sentence" '
                   f'top: "target_sentence" hdf5_data_param {{ source: "{out}/hdf5_chunk_list.txt" batch_size: 20 }} }}')
    n = caffe.Net(str(net), caffe.TRAIN)
    images = open(os.path.join(out, "image_list.txt")).read().split()
    index = {w: i for i, w in enumerate(vocab)}
    for batch in range(2):
        n.forward()
        assert n.blobs["input_sentence"].data.shape == (20, 100)
        for stream in (0, 57, 99):
            image = images[100 * batch + stream]
            ids = C.encode(C.tokenize(caps[int(os.path.basename(image)[2:-4])][0]), index)
            assert n.blobs["target_sentence"].data[:len(ids) + 1, stream].tolist() == ids + [0]
            assert n.blobs["cont_sentence"].data[0, stream] == 0


def test_bad_input_names_file_and_item(tmp_path):
    path, root = _coco_fixture(tmp_path, [["a dog"], ["  "]])
    with pytest.raises(C.CaptionDataError, match=r"captions_train.json: image 101, caption 0: empty caption"):
        C.read_coco(path, root).tokenized()
    (tmp_path / "b").mkdir()
    path, root = _coco_fixture(tmp_path / "b", [["a dog"], ["a cat"]], make_images=False)
    with pytest.raises(C.CaptionDataError, match=r"2 of 2 images not found \(image 100: .*im0.jpg"):
        C.read_coco(path, root).check_images()
    cs = C.read_coco(path, root)
    assert len(cs.check_images(skip_missing=True)) == 2 and cs.items == []
    bad = tmp_path / "tok.txt"
    bad.write_bytes(b"1.jpg#0\tA dog.\n2.jpg#0\tA caf\xe9.\n")
    with pytest.raises(C.CaptionDataError, match=r"tok.txt:2: not UTF-8"):
        C.read_flickr_tokens(str(bad), root)
    bad.write_text("1.jpg#0\tA dog.\n2.jpg A cat\n")
    with pytest.raises(C.CaptionDataError, match=r"tok.txt:2: expected"):
        C.read_flickr_tokens(str(bad), root)


def test_flickr_token_file_and_karpathy_json(tmp_path):
    tok = tmp_path / "results.token"
    tok.write_text("1.jpg#0\tA dog runs.\n1.jpg#1\tDog running\n2.jpg#0\tA cat.\n")
    cs = C.read_flickr_tokens(str(tok), "/im")
    assert cs.items == [("1.jpg", "/im/1.jpg", ["A dog runs.", "Dog running"]), ("2.jpg", "/im/2.jpg", ["A cat."])]
    kj = tmp_path / "dataset_flickr30k.json"
    kj.write_text(json.dumps({"images": [
        {"filename": "1.jpg", "imgid": 0, "split": "train", "sentences": [{"raw": "A dog.", "tokens": ["a", "dog"]}]},
        {"filename": "2.jpg", "imgid": 1, "split": "test", "sentences": [{"raw": "A cat.", "tokens": ["a", "cat"]}]}]}))
    cs = C.read_karpathy(str(kj), "/im", "test")
    assert cs.items == [(1, "/im/2.jpg", ["A cat."])]


ORIG = str(ORIGINAL / "coco_caption")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """60 synthetic images (2 captions each) as PNG files and a COCO file, prepared into train and val streams."""
    from PIL import Image

    from lrcn_native.tasks.captioning_demo import synthetic_set
    tmp_path = tmp_path_factory.mktemp("prepared")
    images, refs = synthetic_set(60, seed=9)
    root = tmp_path / "images"
    root.mkdir()
    coco = {"images": [], "annotations": []}
    for i, (img, caps) in enumerate(zip(images, refs)):
        Image.fromarray(img).save(root / f"{i}.png")
        coco["images"].append({"id": i, "file_name": f"{i}.png"})
        coco["annotations"] += [{"image_id": i, "id": 5 * i + k, "caption": c} for k, c in enumerate(caps[:2])]
    (tmp_path / "captions_train.json").write_text(json.dumps(coco))
    out = tmp_path / "h5_data"
    cs = C.read_coco(str(tmp_path / "captions_train.json"), str(root))
    summary = C.prepare([("train", cs), ("val", cs)], str(out))
    return out, refs, summary


@pytest.mark.skipif(not os.path.isdir(ORIG), reason=f"{ORIG} (the original LRCN files) is absent")
def test_original_lrcn_prototxt_trains_from_prepared_data(tmp_path, prepared):
    """lrcn.prototxt, unchanged apart from its data paths, trains from prepare()'s output: the HDF5 and
    image batches line up, the first loss is 20 × ln 8801 (uniform predictions), the frozen CNN stays put."""
    out, refs, summary = prepared
    split = out / "train_aligned_20_batches"
    assert summary["train"]["sequences"] == 200 and (out / "vocabulary.txt").is_file()
    text = open(os.path.join(ORIG, "lrcn.prototxt")).read().replace(
        "./examples/coco_caption/h5_data/buffer_100/train_aligned_20_batches", str(split))
    (tmp_path / "lrcn.prototxt").write_text(text)
    (tmp_path / "solver.prototxt").write_text(
        f'net: "{tmp_path / "lrcn.prototxt"}"\n'
        "train_state: { stage: 'freeze-convnet' stage: 'factored' stage: '2-layer' }\n"  # as lrcn_solver.prototxt
        'base_lr: 0.01 lr_policy: "fixed" momentum: 0.9 weight_decay: 0 clip_gradients: 10 display: 0\n'
        "random_seed: 1701 max_iter: 2\n")
    solver = caffe.get_solver(str(tmp_path / "solver.prototxt"))
    net = solver.net
    conv1, lstm2 = net.params["conv1"][0].data.copy(), net.params["lstm2"][0].data.copy()
    solver.step(1)
    assert solver.loss == pytest.approx(20 * np.log(8801), rel=2e-3)   # ±0.08 weights: near-uniform outputs
    images_list = open(split / "image_list.txt").read().split()
    vocab = C.read_vocabulary(out / "vocabulary.txt")
    index = {w: i for i, w in enumerate(vocab)}
    for stream in (0, 42, 99):       # the image of stream s is line s of the image list, its caption's ids
        i = int(os.path.basename(images_list[stream])[:-4])
        want = [C.encode(C.tokenize(c), index) + [0] for c in refs[i][:2]]
        got = net.blobs["target_sentence"].data[:, stream]
        assert got[:len(got[got >= 0])].tolist() in want
    solver.step(1)
    assert np.isfinite(solver.loss)
    np.testing.assert_array_equal(net.params["conv1"][0].data, conv1)          # freeze-convnet: lr_mult 0
    assert not np.array_equal(net.params["lstm2"][0].data, lstm2)


@pytest.mark.skipif(not os.path.isdir(ORIG), reason=f"{ORIG} (the original LRCN files) is absent")
@pytest.mark.parametrize("stages", [("freeze-convnet", "factored", "2-layer"), ("factored", "2-layer"),
                                    ("unfactored", "1-layer"), ("unfactored", "2-layer")])
def test_shipped_caption_net_matches_the_original(prepared, tmp_path, monkeypatch, stages):
    """Our lrcn_caption.prototxt has the original's parameters (names, shapes, lr_mult) in every variant,
    so weights move between the two; fills are skipped (wiring, not values, is compared)."""
    from lrcn_native import filler
    monkeypatch.setattr(filler, "fill", lambda array, msg: None)
    out = prepared[0]
    models = os.path.join(os.path.dirname(caffe.__file__), "models")
    ours = open(os.path.join(models, "lrcn_caption.prototxt")).read().replace("./h5_data", str(out))
    theirs = open(os.path.join(ORIG, "lrcn.prototxt")).read().replace(
        "./examples/coco_caption/h5_data/buffer_100", str(out))
    nets = []
    for name, text in (("ours", ours), ("theirs", theirs)):
        (tmp_path / f"{name}.prototxt").write_text(text)
        nets.append(caffe.Net(str(tmp_path / f"{name}.prototxt"), caffe.TRAIN, stages=stages))
    a, b = nets
    assert list(a.params) == list(b.params)
    for name in a.params:
        assert [p.shape for p in a.params[name]] == [p.shape for p in b.params[name]], name
    assert a._lr_mult == b._lr_mult
    assert a.blobs["predict"].shape == b.blobs["predict"].shape == (20, 100, 8801)


@pytest.mark.parametrize("stages", [(), ("factored", "2-layer"), ("unfactored", "1-layer"), ("unfactored", "2-layer")])
def test_deploy_net_variants_take_the_training_nets_weights_and_decode(prepared, tmp_path, monkeypatch, stages):
    """lrcn_word_to_preds.deploy.prototxt in each stage has exactly the language layers of lrcn_caption.prototxt
    in the same stage (no stage: the factored default), so a trained .caffemodel loads, and it decodes."""
    from lrcn_native import filler
    from lrcn_native.tasks.captioning import Captioner
    models = os.path.join(os.path.dirname(caffe.__file__), "models")
    deploy = caffe.Net(os.path.join(models, "lrcn_word_to_preds.deploy.prototxt"), caffe.TEST, stages=stages)
    monkeypatch.setattr(filler, "fill", lambda array, msg: None)       # wiring, not values
    (tmp_path / "train.prototxt").write_text(
        open(os.path.join(models, "lrcn_caption.prototxt")).read().replace("./h5_data", str(prepared[0])))
    train = caffe.Net(str(tmp_path / "train.prototxt"), caffe.TRAIN, stages=stages or ("factored", "2-layer"))
    language = {n: [p.shape for p in ps] for n, ps in train.params.items() if n in ("embedding", "lstm1", "lstm2", "predict")}
    assert {n: [p.shape for p in ps] for n, ps in deploy.params.items()} == language
    def wiring(net, image):   # bottoms by their source blob: Split copies named back, the image input as fc8
        return [[re.sub(r"_[a-z]+_\d+_split_\d+$", "", b).replace(image, "fc8") for b in net.bottom_names[n]]
                for n in ("lstm1", "lstm2", "predict") if n in net.bottom_names]
    assert wiring(deploy, "image_features") == wiring(train, "fc8")
    monkeypatch.undo()
    rng = np.random.default_rng(0)
    for ps in deploy.params.values():
        for p in ps:
            p.data[...] = rng.uniform(-0.08, 0.08, p.shape)
    words = Captioner(deploy).caption(rng.standard_normal((2, 1000)), max_length=3)
    assert len(words) == 2 and all(1 <= len(w) <= 3 for w in words)


def test_shipped_language_model_trains_from_unaligned_streams(prepared, tmp_path):
    """lrcn_lm.prototxt trains from `prepare(aligned=False)` streams (first loss ≈ ln 8801 per word, weighted 20:
    near-uniform predictions from ±0.08 weights), has the original lstm_language_model's parameters when that file is
    here, and its names are the captioning net's, so its weights initialise LRCN."""
    out = prepared[0]
    cs = C.read_coco(str(out.parent / "captions_train.json"), str(out.parent / "images"))
    C.prepare([("train", cs), ("val", cs)], str(tmp_path / "h5_data"), aligned=False)
    models = os.path.join(os.path.dirname(caffe.__file__), "models")
    text = open(os.path.join(models, "lrcn_lm.prototxt")).read().replace("./h5_data", str(tmp_path / "h5_data"))
    (tmp_path / "lm.prototxt").write_text(text)
    (tmp_path / "solver.prototxt").write_text(
        f'net: "{tmp_path / "lm.prototxt"}"\ntrain_state: {{ stage: "embed-drop" stage: "lstm-drop" }}\n'
        'base_lr: 0.1 lr_policy: "fixed" momentum: 0.9 clip_gradients: 10 display: 0 random_seed: 1 max_iter: 2\n')
    solver = caffe.get_solver(str(tmp_path / "solver.prototxt"))
    solver.step(1)
    assert abs(float(solver.net.blobs["cross_entropy_loss"].data) - np.log(8801)) < 0.05
    assert solver.net.blob_loss_weights["cross_entropy_loss"] == 20
    assert [layer.type for layer in solver.net.layers].count("Dropout") == 2
    assert list(solver.net.params) == ["embedding", "lstm1", "predict"]
    if os.path.isdir(ORIG):
        theirs = open(os.path.join(ORIG, "lstm_language_model.prototxt")).read().replace(
            "./examples/coco_caption/h5_data/buffer_100", str(tmp_path / "h5_data"))
        (tmp_path / "theirs.prototxt").write_text(theirs)
        orig = caffe.Net(str(tmp_path / "theirs.prototxt"), caffe.TRAIN)
        assert {n: [p.shape for p in ps] for n, ps in orig.params.items()} == \
               {n: [p.shape for p in ps] for n, ps in solver.net.params.items()}
