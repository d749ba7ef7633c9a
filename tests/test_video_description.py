"""Video description (Table 5): the semantic-representation loader and the TACoS SMT converter on hand-made
files (and each bad input), `lrcn prepare-tacos`'s streams cell by cell, the nets' shapes, short training
runs whose loss falls, decoding through the captioning Captioner checked against the training nets, BLEU-4
against hand-computed values, and the quick demo part."""
import json
import math
import os
import pathlib

import h5py
import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.cli import main
from lrcn_native.data import captions as C
from lrcn_native.data import semantic as S
from lrcn_native.metrics.caption import score_captions
from lrcn_native.tasks import video_demo as D
from lrcn_native.tasks import video_description as V

SLOTS = [["verb", ["cut", "peel", "stir"]], ["object", ["bread", "carrot"]], ["tool", ["knife", "spoon"]]]
VIDEOS = [{"id": "v1", "labels": {"verb": "peel", "object": "carrot", "tool": "knife"},
           "probs": {"verb": [0.3, 0.6, 0.1], "object": [0.2, 0.8], "tool": [0.9, 0.1]},
           "sentences": ["The man peels a carrot.", "A carrot is peeled with a knife."]},
          {"id": "v2", "labels": {"verb": "stir", "object": "bread", "tool": "spoon"},
           "probs": {"verb": [0.0, 0.25, 0.75], "object": [0.5, 0.5], "tool": [0.4, 0.6]},
           "sentences": ["Someone stirs with a spoon."]}]


def write_json(path, slots=SLOTS, videos=VIDEOS):
    path.write_text(json.dumps({"slots": slots, "videos": videos}))
    return str(path)


def test_loader_gives_the_three_inputs(tmp_path):
    s = S.read_semantic(write_json(tmp_path / "a.json"))
    assert s.offsets == [0, 3, 5] and s.dim == 7 and [v.id for v in s.videos] == ["v1", "v2"]
    np.testing.assert_array_equal(s.label_positions(), [[1, 4, 5], [2, 3, 6]])   # slot offset + label index
    np.testing.assert_array_equal(s.crf_max(), [[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 1, 0, 0, 1]])
    np.testing.assert_allclose(s.crf_prob(), [[0.3, 0.6, 0.1, 0.2, 0.8, 0.9, 0.1],
                                              [0.0, 0.25, 0.75, 0.5, 0.5, 0.4, 0.6]], rtol=1e-6)
    assert s.tuple_words(s.videos[1]) == ["stir", "bread", "spoon"]
    S.write_semantic(str(tmp_path / "b.json"), s)            # the format round-trips
    t = S.read_semantic(str(tmp_path / "b.json"))
    np.testing.assert_array_equal(t.crf_prob(), s.crf_prob())
    assert t.videos[0].sentences == VIDEOS[0]["sentences"]


def bad(**change):
    """VIDEOS with video v2 changed (a key of None removes it)."""
    videos = json.loads(json.dumps(VIDEOS))
    for key, value in change.items():
        if value is None:
            del videos[1][key]
        else:
            videos[1][key] = value
    return videos


@pytest.mark.parametrize("videos, message", [
    (bad(labels={"verb": "chop", "object": "bread", "tool": "spoon"}), r"video v2, slot 'verb': unknown label 'chop'"),
    (bad(probs={"verb": [0.5, 0.5], "object": [0.5, 0.5], "tool": [0.4, 0.6]}),
     r"video v2, slot 'verb': 2 probabilities for 3 labels"),
    (bad(probs={"verb": [0.1, 0.25, 0.75], "object": [0.5, 0.5], "tool": [0.4, 0.6]}),
     r"video v2, slot 'verb': probabilities sum to 1.1, not 1"),
    (bad(probs={"verb": [0.0, 0.25, 0.75], "object": [0.5, 0.5]}),
     r"video v2, slot 'tool': no probabilities"),
    (bad(probs={"verb": [-0.25, 0.5, 0.75], "object": [0.5, 0.5], "tool": [0.4, 0.6]}),
     r"video v2, slot 'verb': probabilities must be finite and non-negative"),
    (bad(labels={"verb": "stir", "object": "bread"}), r"video v2, slot 'tool': no label"),
    (bad(labels={"verb": "stir", "object": "bread", "tool": "spoon", "place": "sink"}),
     r"video v2: unknown slot 'place'"),
    (bad(sentences=None), r"video v2: no reference sentences"),
])
def test_bad_input_names_the_video_and_slot(tmp_path, videos, message):
    path = write_json(tmp_path / "bad.json", videos=videos)
    with pytest.raises(S.SemanticDataError, match=f"^{path}: " + message):
        S.read_semantic(path)


def test_probabilities_within_the_tolerance_pass(tmp_path):
    videos = bad(probs={"verb": [0.0, 0.25, 0.7501], "object": [0.5, 0.5], "tool": [0.4, 0.6]})  # 4-decimal rounding
    S.read_semantic(write_json(tmp_path / "ok.json", videos=videos))


def test_bad_json_and_missing_probabilities(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"slots": [],\n "videos": [}')
    with pytest.raises(S.SemanticDataError, match=rf"^{path}:2:13: bad JSON"):
        S.read_semantic(str(path))
    s = S.read_semantic(write_json(tmp_path / "a.json", videos=bad(probs=None)))
    with pytest.raises(S.SemanticDataError, match=r"1 videos have no probabilities \(first: video v2\)"):
        s.crf_prob()


def smt_files(tmp_path, crf=True):
    (tmp_path / "t.sr").write_text("cut bread knife\ncut bread knife\nstir carrot spoon\n")
    (tmp_path / "t.en").write_text("He cuts bread.\nBread is cut.\nShe stirs.\n")
    (tmp_path / "t.ids").write_text("s13-d21:1\ns13-d21:1\ns13-d21:2\n")
    if crf:
        (tmp_path / "t.crf").write_text("cut:0.7 stir:0.3 | bread:1 | knife:0.6 spoon:0.4\n"
                                        "stir:0.55 cut:0.45 | carrot:0.9 bread:0.1 | spoon:1.0\n")
    return [str(tmp_path / f"t.{x}") for x in ("sr", "en", "ids", "crf")]


def test_tacos_smt_converter(tmp_path):
    sr, en, ids, crf = smt_files(tmp_path)
    s = S.read_tacos_smt(sr, en, ["verb", "object", "tool"], ids, crf)
    assert s.slots == [("verb", ["cut", "stir"]), ("object", ["bread", "carrot"]), ("tool", ["knife", "spoon"])]
    assert [v.id for v in s.videos] == ["s13-d21:1", "s13-d21:2"]
    assert s.videos[0].sentences == ["He cuts bread.", "Bread is cut."]
    np.testing.assert_array_equal(s.crf_max(), [[1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]])
    np.testing.assert_allclose(s.crf_prob(), [[0.7, 0.3, 1, 0, 0.6, 0.4], [0.45, 0.55, 0.1, 0.9, 0, 1]], rtol=1e-6)
    plain = S.read_tacos_smt(sr, en, ["verb", "object", "tool"])     # no ids: a video per line, no CRF
    assert [v.id for v in plain.videos] == ["1", "2", "3"] and not plain.has_probs()
    # a test split takes the training split's labels: one it lacks is an unknown label of that video
    (tmp_path / "u.sr").write_text("stir bread fork\n")
    (tmp_path / "u.en").write_text("She stirs bread with a fork.\n")
    with pytest.raises(S.SemanticDataError, match=r"u\.sr: video 1, slot 'tool': unknown label 'fork'"):
        S.read_tacos_smt(str(tmp_path / "u.sr"), str(tmp_path / "u.en"), ["verb", "object", "tool"], slots=s.slots)


@pytest.mark.parametrize("edit, message", [
    (("t.sr", "cut bread knife\ncut bread\nstir carrot spoon\n"), r"t\.sr:2: 2 labels for the 3 slots verb object tool"),
    (("t.en", "He cuts bread.\n"), r"t\.en: 1 lines, but .*t\.sr has 3"),
    (("t.sr", "cut bread knife\ncut bread spoon\nstir carrot spoon\n"), r"t\.sr:2: segment s13-d21:1 has labels"),
    (("t.crf", "cut:0.7 stir:0.3 | bread:1\nstir:1 | carrot:1 | spoon:1\n"), r"t\.crf:1: 2 slots, expected 3"),
    (("t.crf", "cut=0.7 | bread:1 | knife:1\nstir:1 | carrot:1 | spoon:1\n"),
     r"t\.crf:1, slot 'verb': expected label:prob, got 'cut=0.7'"),
    (("t.crf", "cut:0.7 stir:0.2 | bread:1 | knife:1\nstir:1 | carrot:1 | spoon:1\n"),
     r"t\.crf: video s13-d21:1, slot 'verb': probabilities sum to 0.9"),
    (("t.crf", "cut:0.7 stir:0.3 | bread:1 | knife:1\n\nstir:1 | carrot:1 | spoon\n"),
     r"t\.crf:3, slot 'tool': expected label:prob, got 'spoon'"),
])
def test_tacos_smt_converter_errors(tmp_path, edit, message):
    sr, en, ids, crf = smt_files(tmp_path)
    (tmp_path / edit[0]).write_text(edit[1])
    with pytest.raises(S.SemanticDataError, match=message):
        S.read_tacos_smt(sr, en, ["verb", "object", "tool"], ids, crf)


def test_prepare_tacos_streams_cell_by_cell(tmp_path, capsys):
    sr, *_ = smt_files(tmp_path)
    out = tmp_path / "td"
    assert main(["prepare-tacos", "--format", "smt", "--train", sr[:-3], "--slots", "verb,object,tool",
                 "--out", str(out), "--min-count", "1", "--max-words", "6", "--buffer-size", "2",
                 "--hidden", "8"]) == 0
    assert "train: 2 videos -> 4 sequences" in capsys.readouterr().out
    vocab = C.read_vocabulary(str(out / "vocabulary.txt"))
    with h5py.File(out / "train_encdec" / "batch_0.h5") as f:
        enc = {k: f[k][()] for k in S.ENCDEC_FIELDS}
    with h5py.File(out / "train_sentences" / "batch_0.h5") as f:
        sent = {k: f[k][()] for k in ("cont_sentence", "input_sentence", "target_sentence")}
    with h5py.File(out / "train_semantic" / "batch_0.h5") as f:
        crf_max, crf_prob, videos = f["crf_max"][()], f["crf_prob"][()], f["video"][()]
    assert enc["cont_sentence"].shape == (2 * (3 + 6), 2) and sent["cont_sentence"].shape == (2 * 6, 2)
    s = S.read_semantic(str(out / "train.json"))
    for j in range(4):                                     # sequence j: block j // 2, stream j % 2
        b, st = divmod(j, 2)
        e = {k: v[9 * b:9 * b + 9, st] for k, v in enc.items()}
        w = {k: v[6 * b:6 * b + 6, st] for k, v in sent.items()}
        video = s.videos[videos[j]]
        ids = [int(x) for x in w["target_sentence"] if x > 0]
        assert C.sentence(ids + [0], vocab).lower() in [x.lower() for x in video.sentences]
        n = len(ids)
        # encoder: the 3 MAP label positions, cont 0 then 1, stage 0, no word in or out
        np.testing.assert_array_equal(e["input_labels"], list(s.label_positions()[videos[j]]) + [-1] * 6)
        np.testing.assert_array_equal(e["cont_sentence"], [0, 1, 1] + [1] * (n + 1) + [0] * (5 - n))
        np.testing.assert_array_equal(e["stage_indicators"], [0, 0, 0] + [1] * (n + 1) + [0] * (5 - n))
        np.testing.assert_array_equal(e["input_sentence"], [-1] * 3 + [0] + ids + [-1] * (5 - n))
        np.testing.assert_array_equal(e["target_sentence"], [-1] * 3 + ids + [0] + [-1] * (5 - n))
        # the decoder-only streams are the captioning layout; the semantic row is this sequence's video
        np.testing.assert_array_equal(w["cont_sentence"], [0] + [1] * n + [0] * (5 - n))
        np.testing.assert_array_equal(w["input_sentence"], [0] + ids + [-1] * (5 - n))
        np.testing.assert_array_equal(crf_max[j], s.crf_max()[videos[j]])
        np.testing.assert_allclose(crf_prob[j], s.crf_prob()[videos[j]], rtol=1e-6)
    assert sorted(set(videos)) == [0, 1]
    # the nets written beside the data build from it (paths relative to where prepare-tacos ran)
    for arch in V.ARCHS:
        n = caffe.Net(str(out / f"video_{arch}_train.prototxt"), caffe.TRAIN)
        assert n.blobs["predict"].shape == ((9 if arch == "encdec" else 6), 2, len(vocab) + 1)
        n.save(str(tmp_path / f"{arch}.caffemodel"))
        # and their deploy nets decode the split with these (untrained) weights, greedy and beam
        for beam in (1, 2):
            r = V.evaluate(str(out), arch, str(tmp_path / f"{arch}.caffemodel"), "train", beam_size=beam)
            assert set(r["sentences"]) == {"s13-d21:1", "s13-d21:2"} and 0 <= r["scores"]["BLEU-4"] <= 1


def test_shipped_nets_are_the_generator_output_and_build(tmp_path):
    shipped = os.path.join(os.path.dirname(V.__file__), os.pardir, "models")
    V.write_shipped(str(tmp_path))
    for f in sorted(tmp_path.iterdir()):
        assert f.read_text() == pathlib.Path(shipped, f.name).read_text(), f.name
    H, L, Vs = V.SHIPPED["hidden"], V.SHIPPED["labels"], V.SHIPPED["vocab"]
    for arch in V.ARCHS:
        n = caffe.Net(os.path.join(shipped, f"video_{arch}_deploy.prototxt"), caffe.TEST)
        shapes = {k: [b.shape for b in v] for k, v in n.params.items()}
        assert shapes["embedding"] == [(Vs, H)] and shapes["predict"] == [(Vs, H), (Vs,)]
        if arch == "encdec":   # lstm1 reads the label embedding; lstm2 lstm1 + the word embedding + the stage
            assert shapes["label_embedding"] == [(L, H)]
            assert shapes["lstm1"] == [(4 * H, H), (4 * H,), (4 * H, H)]
            assert shapes["lstm2"] == [(4 * H, 2 * H + 1), (4 * H,), (4 * H, H)]
        else:                  # lstm2's static input is the L-wide semantic vector
            assert shapes["lstm2"] == [(4 * H, H), (4 * H,), (4 * H, L), (4 * H, H)]


@pytest.fixture(scope="module")
def kitchen():
    s, _ = D.kitchen_set(60, seed=3)
    tokens = [[C.tokenize(x) for x in v.sentences] for v in s.videos]
    vocab = C.build_vocabulary((t for ts in tokens for t in ts), min_count=1)
    index = {w: i for i, w in enumerate(vocab)}
    return s, vocab, [[C.encode(t, index) for t in ts] for ts in tokens]


@pytest.mark.parametrize("arch", V.ARCHS)
def test_training_lowers_the_loss_and_the_captioner_decodes_as_trained(arch, kitchen, tmp_path):
    """150 iterations lower the loss (to below 0.8 of its start, 20·ln V: past the unigram level); then the Captioner's teacher-forced log p of a sentence (encoder stage,
    carried state, cont = 1 after encoding) equals the training net's on the same sequence, and greedy
    decoding is the argmax path of the training net fed its own words."""
    s, vocab, ids = kitchen
    T, H = 12, 16
    solver, losses = V.train(arch, s, ids, len(vocab) + 1, str(tmp_path), hidden=H, T=T, N=10, iters=150,
                             seed=1, base_lr=0.01, log=None)
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    cap = V.captioner(arch, solver.net, len(vocab) + 1, s.dim, H, str(tmp_path))
    rows = np.arange(5)
    sub = S.SemanticSet(s.slots, [s.videos[r] for r in rows], "sub")
    feats = V.features(arch, sub)
    greedy = cap.sample(feats, max_length=T)
    sents = [ids[r][0] for r in rows]
    logp = cap.log_probs(feats, sents)
    # the training net (N = 10 streams, the first 5 used) on the same sequences
    net = solver.net
    pos = np.zeros((10, len(s.slots)), np.int64)
    pos[:5] = s.label_positions()[rows]
    static = V.static_input(arch, s)
    for check, words in (("log p", sents), ("greedy", [[w for w in g if w] for g in greedy])):
        batch = V.batch_streams(arch, pos, words + [[1]] * 5, T)
        for name, arr in batch.items():
            net.blobs[name].data[...] = arr
        if static is not None:
            net.blobs[arch].data[...] = np.concatenate([static[rows], static[rows]])
        net.forward()
        z = net.blobs["predict"].data.astype(np.float64)
        logsm = z - z.max(2, keepdims=True)
        logsm -= np.log(np.exp(logsm).sum(2, keepdims=True))
        first = len(s.slots) if arch == "encdec" else 0
        for i in range(5):
            w = words[i]
            if check == "log p":
                # Σ over the words (not EOS) of log p(word | prefix); float32 nets at N = 5 and 10
                # sum in different orders: agreement to ~1e-5 per step, 1e-3 over a sentence.
                ref = sum(logsm[first + t, i, w[t]] for t in range(len(w)))
                assert abs(ref - logp[i, i]) < 1e-3, (i, ref, logp[i, i])
            else:
                path = logsm[first:first + len(w) + 1, i].argmax(1)
                np.testing.assert_array_equal(path[:len(w)], w)
                if len(greedy[i]) > len(w):      # ended with EOS within max_length
                    assert path[len(w)] == 0
    beam = cap.beam_search(feats, beam_size=1, max_length=T)[0]     # beam 1 = greedy
    assert beam == greedy


def test_bleu4_against_hand_computed_values():
    refs = {1: ["The man cuts the bread with the knife.", "A man slices bread."],
            2: ["A man slices bread.", "The man cuts the bread with a knife."]}
    hyps = {1: "The man cuts the bread with a knife.", 2: "A man cuts bread."}
    # video 1: p1..p4 = 8/8, 5/7, 4/6, 3/5 against the first reference (length 8 = hypothesis length)
    assert score_captions({1: refs[1]}, {1: hyps[1]})["BLEU-4"] == pytest.approx((2 / 7) ** 0.25, abs=1e-6)
    # both: p1 = 12/12, p2 = (5+2)/(7+3), p3 = (4+0)/(6+2), p4 = (3+0)/(5+1); closest lengths 8 + 4 = 12
    # (no brevity penalty). The scorer's smoothing (1e-15, 1e-9) moves it by < 1e-8.
    assert score_captions(refs, hyps)["BLEU-4"] == pytest.approx((0.7 * 0.5 * 0.5) ** 0.25, abs=1e-6)


def test_kitchen_set_is_deterministic_and_the_crf_is_noisy():
    a, ta = D.kitchen_set(200, seed=5)
    b, tb = D.kitchen_set(200, seed=5)
    assert ta == tb and np.array_equal(a.crf_prob(), b.crf_prob()) and [v.sentences for v in a.videos] == [
        v.sentences for v in b.videos]
    right = np.array([[w == t for w, t in zip(a.tuple_words(v), tup)] for v, tup in zip(a.videos, ta)])
    assert 0.55 < right[:, 1:].mean() < 0.8 and right.all(1).mean() < 0.5     # some MAP slots wrong
    probs = a.crf_prob()
    for (name, labels), off in zip(a.slots, a.offsets):
        p = probs[:, off:off + len(labels)]
        truth = np.array([labels.index(tup[a.slots.index((name, labels))]) for tup in ta])
        second = np.argsort(p, 1)[:, -2]
        wrong = ~right[:, a.slots.index((name, labels))]
        assert (second[wrong] == truth[wrong]).mean() > 0.6     # the true label often second
        assert (p.argmax(1) == a.crf_max()[:, off:off + len(labels)].argmax(1)).all()
    for v, tup in zip(a.videos[:20], ta):
        assert all(w in " ".join(v.sentences).lower() for w in tup)   # every reference names the tuple


def test_quick_demo_orders_the_approaches(tmp_path, capsys):
    main(["demo", "video", "--quick", "--out", str(tmp_path)])
    r = json.loads((tmp_path / "results.json").read_text())["parts"]["video"]
    bleu = {k: v["BLEU-4"] for k, v in r["scores"].items()}
    assert bleu["crf_prob"] > bleu["crf_max"] + 0.05          # (c) beats (b) on the noisy CRF
    assert bleu["crf_max"] > bleu["template"]
    out = capsys.readouterr().out
    assert "(c) LSTM decoder" in out and "CRF prob" in out and "Template" in out
    assert json.loads((tmp_path / "video_results.json").read_text())["scores"] == r["scores"]
    assert math.isfinite(r["final_loss"]["encdec"])


# --- the released S2VT and mean-pool nets (lrcn_original/s2vt, youtube) ------------------------------------
# Vocabulary and widths shrunk (46168 / 12594 words → 50, 1000 / 500 units → 32 / 16) so a few training
# iterations take a second; layers, wiring, steps and streams are the released ones.
SHRUNK = [("46168", "50"), ("12594", "50"), ("num_output: 1000", "num_output: 32"), ("num_output: 500", "num_output: 16"),
          ("dim: 500", "dim: 16")]


def released(name, tmp_path, files=None):
    from test_lrcn_original import ORIG, net_text, with_files
    text = net_text(ORIG / name)
    for old, new in SHRUNK:
        text = text.replace(old, new)
    if files is not None:
        text = with_files(text, files, name)
    path = tmp_path / name.replace("/", "_")
    path.write_text(text)
    return str(path)


def train_released(net_path, tmp_path, iters=12):
    solver = tmp_path / "solver.prototxt"
    solver.write_text(f'net: "{net_path}"\ntrain_state {{ stage: "factored" stage: "2-layer" }}\nbase_lr: 0.1\n'
                      'lr_policy: "fixed"\nmomentum: 0.9\nclip_gradients: 10\nmax_iter: 100\ndisplay: 0\n'
                      'random_seed: 1701\n')
    s = caffe.get_solver(str(solver))
    losses = []
    for _ in range(iters):
        s.step(1)
        losses.append(float(s.loss))
    return s, losses


def teacher_forced_log_p(net, first, words, stream):
    """Σ log p(word) of ``words`` from the training net's predict at steps first, first + 1, …"""
    z = net.blobs["predict"].data[:, stream].astype(np.float64)
    logsm = z - z.max(1, keepdims=True)
    logsm -= np.log(np.exp(logsm).sum(1, keepdims=True))
    return sum(logsm[first + t, int(w)] for t, w in enumerate(words))


@pytest.fixture(scope="module")
def released_files(tmp_path_factory):
    from test_lrcn_original import ORIG, DataFiles
    if not ORIG.is_dir():
        pytest.skip("the original LRCN files are not there (see tests/util.py)")
    return DataFiles(tmp_path_factory.mktemp("video_released"))


def test_s2vt_trains_and_decodes_through_the_captioner(released_files, tmp_path):
    """s2vt.prototxt (factored, 2-layer) trains a few iterations on 32 streams of 80 steps (40 frames, then
    the sentence); its weights in s2vt.words_to_preds.deploy.prototxt decode with the Captioner's encoder
    stage: frames one a step with the stage indicator 0 and word 0, then words with zero frames (the padding
    gate) and stage 1, state carried. The Captioner's log p of stream 0's sentence is the training net's."""
    from lrcn_native.tasks.captioning import Captioner
    solver, losses = train_released(released("s2vt/s2vt.prototxt", tmp_path, released_files), tmp_path)
    assert np.mean(losses[-3:]) < np.mean(losses[:3])         # the same batch again and again: memorised
    net = solver.net
    net.forward()      # the next batch (the file holds one block: the same sequences) with the final weights
    stage, cont = net.blobs["stage_indicator"].data[:, 0], net.blobs["cont_sentence"].data[:, 0]
    f = int(np.argmax(stage))                                  # frames are steps 0 … f − 1
    assert f == 40 and cont[0] == 0 and (cont[1:f + 1] == 1).all()
    assert not net.blobs["frame_fc7"].data[f:, 0].any()        # no frame features on word steps
    target = net.blobs["target_sentence"].data[:, 0]
    words = [int(w) for w in target[f:] if w > 0][:int(np.argmin(target[f:] != 0))]
    deploy = caffe.Net(released("s2vt/s2vt.words_to_preds.deploy.prototxt", tmp_path), caffe.TEST)
    for name, blobs in deploy.params.items():
        for a, b in zip(net.params[name], blobs):
            b.data[...] = a.data
    cap = Captioner(deploy, static=None, sequence=["frames_fc7"], encode_fill={"input_sentence": 0, "stage_indicator": 0},
                    decode_fill={"frames_fc7": 0, "stage_indicator": 1})
    frames = {"frames_fc7": net.blobs["frame_fc7"].data[None, :f, 0]}      # 1 video × 40 steps × 4096
    logp = cap.log_probs(frames, [words])[0, 0]
    # float32 through N = 32 vs N = 1 GEMMs: ~1e-5 per step, 1e-3 over the sentence
    assert abs(logp - teacher_forced_log_p(net, f, words, 0)) < 1e-3
    greedy = cap.sample(frames, max_length=20)[0]
    assert len(greedy) >= 1 and all(0 <= w < 50 for w in greedy)


def test_poolmean_trains_and_decodes_through_the_captioner(released_files, tmp_path):
    """poolmean.prototxt (factored: the video's mean fc7 as lstm2's static input) trains a few iterations on
    100 streams; the captioning word-to-preds deploy layout over mean_fc7 decodes with its weights, and the
    Captioner's log p of stream 0's sentence is the training net's."""
    from lrcn_native.tasks.captioning import Captioner
    from lrcn_native.tasks.captioning_demo import language_layers
    solver, losses = train_released(released("youtube/poolmean.prototxt", tmp_path, released_files), tmp_path)
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    net = solver.net
    net.forward()
    deploy_path = tmp_path / "poolmean_deploy.prototxt"
    deploy_path.write_text('input: "cont_sentence" input_shape { dim: 1 dim: 1 }\n'
                           'input: "input_sentence" input_shape { dim: 1 dim: 1 }\n'
                           'input: "mean_fc7" input_shape { dim: 1 dim: 4096 }\n' + language_layers(50, 32, "mean_fc7")
                           + 'layer { name: "probs" type: "Softmax" bottom: "predict" top: "probs" softmax_param { axis: 2 } }\n')
    deploy = caffe.Net(str(deploy_path), caffe.TEST)
    for name, blobs in deploy.params.items():
        for a, b in zip(net.params[name], blobs):
            b.data[...] = a.data
    target = net.blobs["target_sentence"].data[:, 0]
    words = [int(w) for w in target[:int(np.argmin(target != 0))]]
    cap = Captioner(deploy, static="mean_fc7")
    logp = cap.log_probs(net.blobs["mean_fc7"].data[:1], [words])[0, 0]
    assert abs(logp - teacher_forced_log_p(net, 0, words, 0)) < 1e-3
    assert len(cap.beam_search(net.blobs["mean_fc7"].data[:2], beam_size=2, max_length=10)[0]) == 2
