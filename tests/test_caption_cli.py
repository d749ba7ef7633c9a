"""The captioning verbs of `lrcn`: prepare-captions, caption (images or --features, --json) and score."""
import json
import os

import h5py
import numpy as np
import pytest
from PIL import Image
from test_captioning import lstm_net
from util import needs_mpi, run_python

from lrcn_native.cli import main
from lrcn_native.data import captions as C
from lrcn_native.metrics.caption import score_captions
from lrcn_native.tasks.captioning import Captioner


def _trained(tmp_path, V=6):
    """A tiny word-to-preds net (3-d image features), its weights file and a matching vocabulary."""
    net = lstm_net(tmp_path, V=V, n=1, seed=4, scale=3.0)
    weights = str(tmp_path / "w.caffemodel")
    net.save(weights)
    vocab = tmp_path / "vocabulary.txt"
    C.write_vocabulary(vocab, ["<unk>"] + [f"w{i}" for i in range(V - 2)])
    return net, weights, str(vocab), str(tmp_path / f"lstm_{V}_1_4.prototxt")


def test_caption_features_json(tmp_path, capsys):
    net, weights, vocab, model = _trained(tmp_path)
    feats = np.random.default_rng(0).uniform(-2, 2, (5, 3)).astype(np.float32)
    np.save(tmp_path / "f.npy", feats)
    out = str(tmp_path / "res.json")
    assert main(["caption", "--features", str(tmp_path / "f.npy"), "--weights", weights, "--vocab", vocab,
                 "--model", model, "--beam-size", "2", "--batch", "2", "--json", out]) == 0
    want = Captioner(net).beam_search(feats, 2)[0]
    res = json.load(open(out))
    assert [r["word_ids"] for r in res] == want and [r["image_id"] for r in res] == list(range(5))
    words = C.read_vocabulary(vocab)
    assert [r["caption"] for r in res] == [C.sentence(c, words) for c in want]
    assert res[0]["caption"] in capsys.readouterr().out


def test_caption_images_through_an_image_net(tmp_path, capsys):
    _, weights, vocab, model = _trained(tmp_path)
    image_model = tmp_path / "image.prototxt"
    image_model.write_text('input: "data" input_shape { dim: 2 dim: 3 dim: 8 dim: 8 }\n'
                           'layer { name: "fc8" type: "InnerProduct" bottom: "data" top: "fc8" '
                           'inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.01 } } }')
    paths = []
    for i in range(3):
        p = tmp_path / f"{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    out = str(tmp_path / "res.json")
    assert main(["caption", *paths, "--weights", weights, "--vocab", vocab, "--model", model,
                 "--image-model", str(image_model), "--json", out]) == 0
    assert [r["image_id"] for r in json.load(open(out))] == [0, 1, 2]
    assert main(["caption", str(tmp_path / "missing.png"), "--weights", weights, "--vocab", vocab, "--model",
                 model, "--image-model", str(image_model)]) == 1
    assert "missing.png" in capsys.readouterr().err


def test_caption_rejects_a_vocabulary_of_the_wrong_size(tmp_path, capsys):
    _, weights, _, model = _trained(tmp_path)
    vocab = tmp_path / "v.txt"
    C.write_vocabulary(vocab, ["<unk>", "a"])
    np.save(tmp_path / "f.npy", np.zeros((1, 3), np.float32))
    assert main(["caption", "--features", str(tmp_path / "f.npy"), "--weights", weights, "--vocab", str(vocab),
                 "--model", model]) == 1
    assert "2 words + EOS, but the net predicts 6" in capsys.readouterr().err


def _tiny_coco(tmp_path):
    """Two images (empty files under tmp_path/im) with two captions each, as COCO's JSON: (captions, its path)."""
    root = tmp_path / "im"
    root.mkdir()
    caps = {1: ["A red ball.", "A ball that is red."], 2: ["Two blue cubes.", "Blue cubes, two of them."]}
    coco = {"images": [{"id": i, "file_name": f"{i}.jpg"} for i in caps],
            "annotations": [{"image_id": i, "id": 10 * i + k, "caption": c} for i in caps for k, c in enumerate(caps[i])]}
    for i in caps:
        (root / f"{i}.jpg").write_bytes(b"")
    refs = tmp_path / "captions_val.json"
    refs.write_text(json.dumps(coco))
    return caps, refs


def test_prepare_and_score(tmp_path, capsys):
    caps, refs = _tiny_coco(tmp_path)
    assert main(["prepare-captions", "--train", str(refs), "--images", str(tmp_path / "im"), "--out",
                 str(tmp_path / "h5"), "--min-count", "1"]) == 0
    assert "train: 4 captions -> 100 sequences" in capsys.readouterr().out
    assert C.read_vocabulary(tmp_path / "h5" / "vocabulary.txt")[:4] == ["<unk>", "a", "ball", "blue"]   # all counts 2: alphabetical
    res = tmp_path / "res.json"
    res.write_text(json.dumps([{"image_id": 1, "caption": "A red ball."}, {"image_id": 2, "caption": "Blue cubes."}]))
    out = tmp_path / "scores.json"
    assert main(["score", "--refs", str(refs), "--results", str(res), "--json", str(out)]) == 0
    want = score_captions(caps, {1: "A red ball.", 2: "Blue cubes."})
    assert json.load(open(out)) == pytest.approx(want)
    res.write_text(json.dumps([{"image_id": 1, "caption": "A red ball."}]))
    assert main(["score", "--refs", str(refs), "--results", str(res)]) == 1
    assert "1 reference images without a result" in capsys.readouterr().err


def test_evaluate_script_with_cached_features(tmp_path, capsys):
    """python/evaluate_captioning.py: generation scores, retrieval and the 1-NN baseline from cached features."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "evaluate_captioning", os.path.join(os.path.dirname(__file__), os.pardir, "python", "evaluate_captioning.py"))
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    net, weights, vocab, model = _trained(tmp_path)
    refs = {"images": [{"id": i, "file_name": f"{i}.jpg"} for i in range(4)],
            "annotations": [{"image_id": i, "id": 2 * i + k, "caption": f"w{i} w{k}."} for i in range(4) for k in range(2)]}
    (tmp_path / "refs.json").write_text(json.dumps(refs))
    feats = np.random.default_rng(0).uniform(-2, 2, (4, 3)).astype(np.float32)
    np.save(tmp_path / "f.npy", feats)
    assert script.run(["--weights", weights, "--vocab", vocab, "--model", model, "--refs", str(tmp_path / "refs.json"),
                       "--features", str(tmp_path / "f.npy"), "--retrieval", "--train-refs", str(tmp_path / "refs.json"),
                       "--train-features", str(tmp_path / "f.npy"), "--out", str(tmp_path / "out")]) == 0
    scores = json.load(open(tmp_path / "out" / "scores.json"))
    assert scores["captioning"]["1-NN"]["BLEU-1"] == pytest.approx(1.0, abs=1e-6)   # its own first reference
    hyps = {r["image_id"]: r["caption"] for r in json.load(open(tmp_path / "out" / "results.json"))}
    words = C.read_vocabulary(vocab)
    assert [hyps[i] for i in range(4)] == [C.sentence(c, words) for c in Captioner(net).caption(feats)]
    assert scores["captioning"]["LRCN greedy"] == pytest.approx(
        score_captions({i: [f"w{i} w{k}." for k in range(2)] for i in range(4)}, hyps))
    assert set(scores["retrieval"]) == {"caption to image", "image to caption"}
    assert "Retrieval" in capsys.readouterr().out


@needs_mpi
def test_prepare_under_two_ranks_runs_on_rank_0(tmp_path):
    """Under mpiexec the serial preparation runs once, on rank 0: the same files as one process, its lines printed
    once; an error stops both ranks with rank 0's status, printed once."""
    _, refs = _tiny_coco(tmp_path)
    args = ["prepare-captions", "--train", str(refs), "--images", str(tmp_path / "im"), "--min-count", "1", "--out"]
    assert main(args + [str(tmp_path / "one")]) == 0
    code = "from lrcn_native.cli import main; sys.exit(main({!r}))"
    run = run_python(code.format(args + [str(tmp_path / "two")]), timeout=60, ranks=2)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("train: 4 captions -> 100 sequences") == 1
    one, two = (sorted(p.relative_to(tmp_path / d) for p in (tmp_path / d).rglob("*")) for d in ("one", "two"))
    assert one == two and any(p.suffix == ".h5" for p in one)
    assert (tmp_path / "one" / "vocabulary.txt").read_bytes() == (tmp_path / "two" / "vocabulary.txt").read_bytes()
    for name in (p for p in one if p.suffix == ".h5"):
        with h5py.File(tmp_path / "one" / name) as a, h5py.File(tmp_path / "two" / name) as b:
            assert sorted(a) == sorted(b) and all(np.array_equal(a[k][()], b[k][()]) for k in a)
    args[4] = str(tmp_path / "nowhere")                                         # --images
    run = run_python(code.format(args + [str(tmp_path / "three")]), timeout=60, ranks=2)
    assert run.returncode == 1 and run.stderr.count("lrcn prepare-captions: error:") == 1, run.stderr
