"""Decoding over word-to-preds deploy nets: greedy, beam search and sampling against the released
captioner's rules (re-running every prefix from scratch at batch 1), beam search against exhaustive
search, and caption log-probabilities."""
import itertools
import math
import random

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.tasks.captioning import Captioner, _draw

INPUTS = ('input: "cont_sentence" input_shape {{ dim: 1 dim: {n} }}\n'
          'input: "input_sentence" input_shape {{ dim: 1 dim: {n} }}\n'
          'input: "image_features" input_shape {{ dim: {n} dim: 3 }}\n')
UNIFORM = 'weight_filler { type: "uniform" min: -%s max: %s }'


def lstm_net(tmp_path, V, n=1, scale=2.0, seed=0):
    """The released word-to-preds shape, tiny: Embed → LSTM → LSTM (+ static image) → IP axis 2 → Softmax."""
    f = UNIFORM % (scale, scale)
    text = INPUTS.format(n=n) + f'''
layer {{ name: "embedding" type: "Embed" bottom: "input_sentence" top: "embedded"
  embed_param {{ input_dim: {V} num_output: 4 bias_term: false {f} }} }}
layer {{ name: "lstm1" type: "LSTM" bottom: "embedded" bottom: "cont_sentence" top: "lstm1"
  recurrent_param {{ num_output: 5 {f} }} }}
layer {{ name: "lstm2" type: "LSTM" bottom: "lstm1" bottom: "cont_sentence" bottom: "image_features" top: "lstm2"
  recurrent_param {{ num_output: 5 {f} }} }}
layer {{ name: "predict" type: "InnerProduct" bottom: "lstm2" top: "predict"
  inner_product_param {{ axis: 2 num_output: {V} {f} }} }}
layer {{ name: "probs" type: "Softmax" bottom: "predict" top: "probs" softmax_param {{ axis: 2 }} }}
'''
    path = tmp_path / f"lstm_{V}_{n}_{seed}.prototxt"
    path.write_text(text)
    caffe.set_random_seed(seed)
    return caffe.Net(str(path), caffe.TEST)


def bigram_net(tmp_path, table):
    """Hand-set weights: p(next | previous) = table[previous] whatever the image (Embed rows = log p)."""
    V = len(table)
    path = tmp_path / "bigram.prototxt"
    path.write_text(INPUTS.format(n=1) + f'''
layer {{ name: "embedding" type: "Embed" bottom: "input_sentence" top: "predict"
  embed_param {{ input_dim: {V} num_output: {V} bias_term: false }} }}
layer {{ name: "probs" type: "Softmax" bottom: "predict" top: "probs" softmax_param {{ axis: 2 }} }}
''')
    net = caffe.Net(str(path), caffe.TEST)
    net.params["embedding"][0].data[...] = np.log(np.maximum(np.array(table, np.float64), 1e-30))
    return net


# p(next | prev): rows prev = EOS/start, 1, 2, 3; columns next = EOS, 1, 2, 3
TABLE = [[0.0, 0.5, 0.4, 0.1],
         [0.3, 0.01, 0.33, 0.36],
         [0.9, 0.05, 0.03, 0.02],
         [0.99, 0.0, 0.0, 0.01]]


def test_greedy_and_beam_on_hand_set_weights(tmp_path):
    cap = Captioner(bigram_net(tmp_path, TABLE))
    feats = np.zeros((2, 3))
    # greedy: 1 (0.5), 3 (0.36), EOS (0.99) = 0.178; the best sentence is 2, EOS (0.4 · 0.9 = 0.36)
    assert cap.caption(feats) == [[1, 3, 0], [1, 3, 0]]
    best, finals = cap.beam_search(feats, beam_size=2)
    assert best == [[2, 0], [2, 0]]
    assert [ws for ws, _ in finals[0]] == [[2, 0], [1, 3, 0]]
    np.testing.assert_allclose(finals[0][1][1], [0.5, 0.36, 0.99], rtol=1e-6)


def released_beam(net, descriptor, K, max_length):
    """The released predict_caption_beam_search at batch 1, re-running each prefix from scratch."""
    def probs_after(prefix):
        for t, w in enumerate([0] + prefix):
            net.forward(cont_sentence=np.array([[0.0 if t == 0 else 1.0]]), input_sentence=np.array([[w]]),
                        image_features=descriptor[None])
        return net.blobs["probs"].data[0, 0].copy()
    beams, logps = [[]], [0.0]
    while True:
        exps = []
        for b, (beam, lp) in enumerate(zip(beams, logps)):
            if beam and (beam[-1] == 0 or len(beam) >= max_length):
                exps.append((lp, b, []))
                continue
            p = probs_after(beam)
            exps += [(lp + math.log(p[w]), b, [int(w)]) for w in p.argsort()[-K:]]
        exps.sort(key=lambda e: -e[0])
        exps = exps[:K]
        beams, logps = [beams[b] + ext for _, b, ext in exps], [lp for lp, _, _ in exps]
        if all(b[-1] == 0 or len(b) >= max_length for b in beams):
            return beams


@pytest.mark.parametrize("K", [1, 2, 3])
def test_batched_beam_search_equals_the_released_algorithm(tmp_path, K):
    feats = np.random.default_rng(1).uniform(-2, 2, (4, 3)).astype(np.float32)
    batched = Captioner(lstm_net(tmp_path, V=6, n=1, seed=4, scale=3.0))
    _, finals = batched.beam_search(feats, beam_size=K, max_length=8)
    single = lstm_net(tmp_path, V=6, n=1, seed=4, scale=3.0)
    for i in range(len(feats)):
        assert [ws for ws, _ in finals[i]] == released_beam(single, feats[i], K, max_length=8)


def test_beam_search_equals_exhaustive_search(tmp_path):
    V, L = 4, 4      # 3 words + EOS, at most 4 tokens: a beam of 3^3 keeps every prefix
    net = lstm_net(tmp_path, V=V, n=1, seed=4, scale=3.0)
    net.params["predict"][1].data[0] -= 1.0      # a seed and EOS bias where greedy is not optimal
    cap = Captioner(net)
    feats = np.random.default_rng(2).uniform(-2, 2, (3, 3)).astype(np.float32)
    best, _ = cap.beam_search(feats, beam_size=27, max_length=L)
    for i in range(len(feats)):
        candidates = [list(s) + [0] for n in range(L) for s in itertools.product(range(1, V), repeat=n)]
        candidates += [list(s) for s in itertools.product(range(1, V), repeat=L)]          # cut at L
        logp = cap.log_probs(feats[i:i + 1], [c[:-1] if c[-1] == 0 else c for c in candidates])[0]
        # log_probs leaves out EOS (as the released retrieval does): add it back for complete sentences
        eos = cap.log_probs(feats[i:i + 1], [c for c in candidates])[0] - logp
        total = logp + np.where([c[-1] == 0 for c in candidates], eos, 0.0)
        assert best[i] == candidates[int(np.argmax(total))]
    assert best != cap.caption(feats, max_length=L)


def test_greedy_is_batch_independent_and_matches_step_by_step(tmp_path):
    feats = np.random.default_rng(3).uniform(-2, 2, (5, 3)).astype(np.float32)
    cap = Captioner(lstm_net(tmp_path, V=7, seed=11))
    together = cap.caption(feats, max_length=10)
    assert together == [cap.caption(feats[i:i + 1], max_length=10)[0] for i in range(5)]
    # argmax and the released beam of 1 (argsort()[-1:]) differ only on exact ties, absent here
    assert together == [released_beam(lstm_net(tmp_path, V=7, seed=11), f, 1, 10)[0] for f in feats]


def test_sampling_follows_the_released_draw(tmp_path):
    cap = Captioner(bigram_net(tmp_path, TABLE))
    got = cap.sample(np.zeros((3, 3)), temp=1.0, rng=random.Random(7))
    rng, want = random.Random(7), [[], [], []]
    prev, done = [0, 0, 0], [False] * 3
    while not all(done):
        for i in range(3):
            w = _draw(np.array(TABLE[prev[i]], np.float32), rng.random())   # a draw for every row, every step
            if not done[i]:
                want[i].append(w)
                done[i], prev[i] = w == 0, w
    assert got == want
    # temp is an inverse temperature: a huge temp samples the argmax
    assert cap.sample(np.zeros((2, 3)), temp=1e4, rng=random.Random(0)) == [[1, 3, 0]] * 2
    assert _draw(np.array([0.2, 0.5, 0.3]), 0.2) == 0 and _draw(np.array([0.2, 0.5, 0.3]), 0.21) == 1
    assert _draw(np.array([0.2, 0.2, 0.2]), 0.99) == 1        # rounding leaves none: <unk>, as released


def test_log_probs_of_captions(tmp_path):
    cap = Captioner(bigram_net(tmp_path, TABLE))
    lp = cap.log_probs(np.zeros((2, 3)), [[1, 3], [2], [2, 1, 1]])
    want = [math.log(0.5 * 0.36), math.log(0.4), math.log(0.4 * 0.05 * 0.01)]
    np.testing.assert_allclose(lp, [want, want], rtol=1e-5)


def test_log_probs_stream_into_a_memmap_in_batches_across_captions(tmp_path):
    """Batches of 4 pairs cut across captions of different lengths; the result lands in ``out`` (a memmap,
    as retrieval over COCO uses) equal to the in-memory one, and retrieval's ranks do not change."""
    from lrcn_native.tasks.captioning import retrieval
    cap = Captioner(bigram_net(tmp_path, TABLE))
    feats, caps = np.zeros((3, 3)), [[1, 3], [2], [2, 1, 1], [3]]
    want = cap.log_probs(feats, caps)
    out = np.memmap(tmp_path / "lp", np.float64, "w+", shape=(3, 4))
    assert cap.log_probs(feats, caps, batch=4, out=out) is out
    np.testing.assert_array_equal(out, want)
    with pytest.raises(ValueError, match="out must be 3 x 4"):
        cap.log_probs(feats, caps, out=np.zeros((4, 3)))
    owner = np.array([0, 1, 2, 0])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    assert retrieval(cap, feats, caps, owner, batch=5, scratch_dir=str(scratch)) == retrieval(cap, feats, caps, owner)
    assert not list(scratch.iterdir())                       # the temporary matrix is removed


def test_wrong_net_is_a_clear_error(tmp_path):
    path = tmp_path / "x.prototxt"
    path.write_text('input: "data" input_shape { dim: 1 dim: 2 }')
    with pytest.raises(ValueError, match="no input 'cont_sentence'"):
        Captioner(caffe.Net(str(path), caffe.TEST))


def test_top_k_is_the_released_argsort_tail():
    from lrcn_native.tasks.captioning import top_k_ascending
    rng = np.random.default_rng(0)
    p = rng.random((40, 50)).astype(np.float32)
    p[::3, :20] = 0.99                       # ties among the largest in every third row
    p[1::3, 5] = p[1::3, 7]                  # ties elsewhere
    for k in (1, 3, 5):
        np.testing.assert_array_equal(top_k_ascending(p, k), np.argsort(p, axis=1)[:, -k:])
    small = rng.random((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(top_k_ascending(small, 3), np.argsort(small, axis=1)[:, -3:])
