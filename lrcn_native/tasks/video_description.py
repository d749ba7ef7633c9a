"""Video description from a CRF's semantic representation (the paper's Table 5; CAFFE_FACTS.md §1): three
2-layer LSTM nets that write a sentence, trained and decoded with the captioning machinery.

* (a) ``encdec``: S2VT's factored layout (lrcn_original/s2vt) over S + T steps: lstm1 (the encoder) reads
  the embedded MAP labels of the S slots, one a step; lstm2 (the decoder) reads lstm1, the embedded
  previous word and the stage indicator, and predicts the next word. cont is 0 only at the first
  encoder step, so the decoder continues from the encoder's state; −1 ids embed to zero vectors, so each
  LSTM sees nothing on the other stage's steps (the padding gate).
* (b) ``crf_max`` / (c) ``crf_prob``: the factored LRCN decoder of captioning (captioning_demo.language_layers):
  lstm1 reads words, lstm2 reads lstm1 and, at every step, the static L-vector of the video: the MAP
  labels one-hot per slot (b) or the CRF's marginal probabilities (c).

Every net has an Embed over the vocabulary, two LSTMs and a softmax over the vocabulary (+ EOS). The
deploy nets (T = 1, state carried between calls) decode with tasks/captioning.Captioner: greedy or beam.
"""
import os
import time

import numpy as np

from ..data import captions as C
from ..data import semantic as S
from ..fileio import atomic_write_text
from .captioning_demo import _copy_params, language_layers

ARCHS = ("encdec", "crf_max", "crf_prob")
TITLES = {"encdec": "(a) LSTM encoder-decoder", "crf_max": "(b) LSTM decoder", "crf_prob": "(c) LSTM decoder"}
INPUTS = {"encdec": "CRF max", "crf_max": "CRF max", "crf_prob": "CRF prob"}
# The paper's Table 5 (TACoS multilevel, BLEU-4 %; CAFFE_FACTS.md §1).
PAPER = {"encdec": 25.3, "crf_max": 27.4, "crf_prob": 28.8}
PAPER_SMT = "the paper's SMT baseline: 24.9 (CRF max), 26.9 (CRF prob)"
# (a)'s inputs while encoding (no word, stage 0) and decoding (no label, stage 1): −1 embeds to zeros.
ENCODE_FILL = {"input_sentence": -1, "stage_indicators": 0}
DECODE_FILL = {"input_labels": -1, "stage_indicators": 1}
_U = 'weight_filler { type: "uniform" min: -0.08 max: 0.08 }'


def _check_arch(arch):
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture '{arch}' (known: {', '.join(ARCHS)})")


def encdec_layers(vocab, labels, hidden):
    """(a)'s layers as prototxt text: inputs input_labels, input_sentence, cont_sentence, stage_indicators
    (T × N each); top ``predict`` (T × N × vocab)."""
    return f'''
layer {{ name: "label_embedding" type: "Embed" bottom: "input_labels" top: "embedded_labels"
  embed_param {{ bias_term: false input_dim: {labels} num_output: {hidden} {_U} }} }}
layer {{ name: "embedding" type: "Embed" bottom: "input_sentence" top: "embedded_input_sentence"
  embed_param {{ bias_term: false input_dim: {vocab} num_output: {hidden} {_U} }} }}
layer {{ name: "lstm1" type: "LSTM" bottom: "embedded_labels" bottom: "cont_sentence" top: "lstm1"
  recurrent_param {{ num_output: {hidden} {_U} }} }}
layer {{ name: "reshape_stage" type: "Reshape" bottom: "stage_indicators" top: "stage_3axis"
  reshape_param {{ shape {{ dim: 0 dim: 0 dim: 1 }} }} }}
layer {{ name: "concat" type: "Concat" bottom: "lstm1" bottom: "embedded_input_sentence" bottom: "stage_3axis"
  top: "lstm1_sentence" concat_param {{ axis: 2 }} }}
layer {{ name: "lstm2" type: "LSTM" bottom: "lstm1_sentence" bottom: "cont_sentence" top: "lstm2"
  recurrent_param {{ num_output: {hidden} {_U} }} }}
layer {{ name: "predict" type: "InnerProduct" bottom: "lstm2" top: "predict"
  inner_product_param {{ axis: 2 num_output: {vocab} {_U} }} }}
'''


def _layers(arch, vocab, labels, hidden):
    return encdec_layers(vocab, labels, hidden) if arch == "encdec" else language_layers(vocab, hidden, arch)


def stream_inputs(arch):
    """The T × N stream inputs of an architecture's training net."""
    if arch == "encdec":
        return ["cont_sentence", "input_labels", "input_sentence", "stage_indicators", "target_sentence"]
    return ["cont_sentence", "input_sentence", "target_sentence"]


_LOSS = ('layer { name: "cross_entropy_loss" type: "SoftmaxWithLoss" bottom: "predict" bottom: "target_sentence" '
         'top: "cross_entropy_loss" loss_weight: 20 loss_param { ignore_label: -1 } softmax_param { axis: 2 } }\n')


def train_net_text(arch, vocab, labels, hidden, T, N, data_dir=None):
    """The training net. T = the steps of one sequence (max_words; S + max_words for encdec), N = the
    streams. With ``data_dir`` (what `lrcn prepare-tacos` wrote) HDF5Data layers read the train split at
    TRAIN and the test split at TEST; without, Input layers that a script fills."""
    _check_arch(arch)
    tops = stream_inputs(arch)
    top_text = " ".join(f'top: "{t}"' for t in tops)
    if data_dir is None:
        shapes = "".join(f" shape {{ dim: {T} dim: {N} }}" for _ in tops)
        if arch != "encdec":
            top_text += f' top: "{arch}"'
            shapes += f" shape {{ dim: {N} dim: {labels} }}"
        data = f'layer {{ name: "data" type: "Input" {top_text} input_param {{{shapes} }} }}\n'
    else:
        data = ""
        for phase, split in (("TRAIN", "train"), ("TEST", "test")):
            folder = "encdec" if arch == "encdec" else "sentences"
            data += (f'layer {{ name: "data" type: "HDF5Data" {top_text} include {{ phase: {phase} }} '
                     f'hdf5_data_param {{ source: "{data_dir}/{split}_{folder}/hdf5_chunk_list.txt" '
                     f'batch_size: {T} }} }}\n')
            if arch != "encdec":
                data += (f'layer {{ name: "semantic" type: "HDF5Data" top: "{arch}" include {{ phase: {phase} }} '
                         f'hdf5_data_param {{ source: "{data_dir}/{split}_semantic/hdf5_chunk_list.txt" '
                         f'batch_size: {N} }} }}\n')
    return f'name: "video_{arch}"\n' + data + _layers(arch, vocab, labels, hidden) + _LOSS


def deploy_net_text(arch, vocab, labels, hidden):
    """The T = 1 word-to-preds net the Captioner decodes with (carried LSTM state, N set at decoding)."""
    _check_arch(arch)
    names = ["cont_sentence", "input_sentence"] + (["input_labels", "stage_indicators"] if arch == "encdec" else [])
    text = f'name: "video_{arch}_word_to_preds"\n' + "".join(
        f'input: "{n}" input_shape {{ dim: 1 dim: 1 }}\n' for n in names)
    if arch != "encdec":
        text += f'input: "{arch}" input_shape {{ dim: 1 dim: {labels} }}\n'
    return (text + _layers(arch, vocab, labels, hidden)
            + 'layer { name: "probs" type: "Softmax" bottom: "predict" top: "probs" softmax_param { axis: 2 } }\n')


def solver_text(net_path, iters, base_lr=0.002, seed=1701, snapshot_prefix=None, display=0):
    """Adam with a step halving at mid-run and gradient clipping at 10 (the LRCN solvers' clip)."""
    text = (f'net: "{net_path}"\ntype: "Adam"\nbase_lr: {base_lr}\nlr_policy: "step"\ngamma: 0.5\n'
            f'stepsize: {max(1, iters // 2)}\nmomentum: 0.9\nmomentum2: 0.999\nweight_decay: 0\n'
            f'clip_gradients: 10\nmax_iter: {iters}\ndisplay: {display}\nrandom_seed: {seed}\n')
    if snapshot_prefix:
        text += f'snapshot: {iters}\nsnapshot_prefix: "{snapshot_prefix}"\n'
    return text


def write_nets(folder, data_dir, vocab, labels, hidden=1000, max_words=C.MAX_WORDS, slots=4,
               buffer_size=C.BUFFER_SIZE, iters=20000, header=""):
    """Writes each architecture's train net, solver and deploy net into ``folder`` → {arch: paths}. The
    nets read the streams `lrcn prepare-tacos --out DATA_DIR` writes and the solvers name their nets as
    ``data_dir``/file, all relative to where training runs (as Caffe resolves them)."""
    out = {}
    for arch in ARCHS:
        T = max_words + (slots if arch == "encdec" else 0)
        names = {k: f"video_{arch}_{k}.prototxt" for k in ("train", "solver", "deploy")}
        paths = {k: os.path.join(folder, n) for k, n in names.items()}
        atomic_write_text(paths["train"], header + train_net_text(arch, vocab, labels, hidden, T, buffer_size,
                                                                  data_dir))
        atomic_write_text(paths["solver"], header + solver_text(f"{data_dir}/{names['train']}", iters,
                                                                snapshot_prefix=f"{data_dir}/video_{arch}", display=100))
        atomic_write_text(paths["deploy"], header + deploy_net_text(arch, vocab, labels, hidden))
        out[arch] = paths
    return out


# The shipped nets, lrcn_native/models/video_*.prototxt: sized like TACoS multilevel (placeholders of its
# scale, not its exact counts): `lrcn prepare-tacos` writes the same nets sized for the data it prepares.
SHIPPED = {"vocab": 2001, "labels": 200, "hidden": 1000, "max_words": 20, "slots": 4, "buffer_size": 100}
SHIPPED_HEADER = """# Video description from a CRF's semantic representation (the LRCN paper's Table 5; ours, written by
# lrcn_native.tasks.video_description.write_shipped). (a) encdec: an encoder LSTM reads the MAP labels, a
# decoder LSTM writes the sentence (S + T steps, S2VT's layout); (b) crf_max / (c) crf_prob: the factored
# 2-layer LSTM decoder with the one-hot MAP labels / the CRF's marginals as a static input at every step.
# Sizes are TACoS-scale placeholders (vocabulary 2000 + EOS, 200 labels in 4 slots, 1000 units); the data
# comes from `lrcn prepare-tacos --out tacos_data`, which also writes these nets sized for its data (the
# solvers train those copies: run `lrcn train --solver tacos_data/video_<arch>_solver.prototxt` beside it).
"""


def write_shipped(folder):
    """Writes the shipped nets (SHIPPED sizes, reading ./tacos_data) into ``folder``."""
    return write_nets(folder, "tacos_data", header=SHIPPED_HEADER, **SHIPPED)


# --- training and decoding from arrays --------------------------------------------------------------

def batch_streams(arch, positions, ids_list, T):
    """Sequences (label positions N × S, word ids per sentence) → {stream input: T × N float32}; T counts
    the decoder's steps (the encoder's S come first for encdec)."""
    if arch == "encdec":
        fields = [S.encdec_fields(p, ids, T) for p, ids in zip(positions, ids_list)]
    else:
        fields = [C.sequence_fields(ids, "", T) for ids in ids_list]
    return {k: np.array([f[k] for f in fields], np.float32).T for k in stream_inputs(arch)}


def static_input(arch, sset):
    """The N × L static input of (b) or (c); None for (a)."""
    return None if arch == "encdec" else sset.crf_max() if arch == "crf_max" else sset.crf_prob()


def train(arch, sset, word_ids, vocab_size, out_dir, hidden=96, T=12, N=50, iters=1000, seed=0, base_lr=0.002,
          log=print):
    """Trains one architecture on ``sset`` (the inputs) and ``word_ids`` (per video, its sentences' ids),
    drawing N random (video, sentence) pairs an iteration. → (solver, losses)."""
    import lrcn_native as caffe
    steps = T + (len(sset.slots) if arch == "encdec" else 0)
    net_path = os.path.join(out_dir, f"video_{arch}_train.prototxt")
    atomic_write_text(net_path, train_net_text(arch, vocab_size, sset.dim, hidden, steps, N))
    solver_path = os.path.join(out_dir, f"video_{arch}_solver.prototxt")
    atomic_write_text(solver_path, solver_text(net_path, iters, base_lr, 1701 + seed))
    solver = caffe.get_solver(solver_path)
    net, rng = solver.net, np.random.default_rng(seed)
    positions, static = sset.label_positions(), static_input(arch, sset)
    losses, t0 = [], time.perf_counter()
    for it in range(iters):
        pick = rng.integers(0, len(sset.videos), N)
        sents = [word_ids[i][rng.integers(0, len(word_ids[i]))] for i in pick]
        for name, arr in batch_streams(arch, positions[pick], sents, T).items():
            net.blobs[name].data[...] = arr
        if static is not None:
            net.blobs[arch].data[...] = static[pick]
        solver.step(1)
        losses.append(float(solver.loss))
        if log and (it + 1) % max(1, iters // 5) == 0:
            log(f"  {arch}: iteration {it + 1}/{iters}: loss {np.mean(losses[-50:]):.3f} "
                f"({time.perf_counter() - t0:.0f} s)")
    return solver, losses


def captioner(arch, train_net, vocab_size, labels, hidden, out_dir):
    """The Captioner over ``arch``'s deploy net holding ``train_net``'s weights."""
    import lrcn_native as caffe
    path = os.path.join(out_dir, f"video_{arch}_deploy.prototxt")
    atomic_write_text(path, deploy_net_text(arch, vocab_size, labels, hidden))
    net = caffe.Net(path, caffe.TEST)
    _copy_params(train_net, net)
    return make_captioner(arch, net)


def make_captioner(arch, deploy_net):
    """The Captioner over an architecture's deploy net: (a) encodes the labels first, (b)/(c) take the
    semantic vector as the static input."""
    from .captioning import Captioner
    if arch == "encdec":
        return Captioner(deploy_net, static=None, sequence=["input_labels"], encode_fill=ENCODE_FILL,
                         decode_fill=DECODE_FILL)
    return Captioner(deploy_net, static=arch)


def features(arch, sset):
    """What the Captioner conditions on for each video of ``sset``."""
    if arch == "encdec":
        return {"input_labels": sset.label_positions().astype(np.float32)}
    return {arch: static_input(arch, sset)}


def describe(cap, arch, sset, vocab, beam_size=1, batch=100, max_length=C.MAX_WORDS + 10):
    """Sentences for every video of ``sset`` → {video id: sentence}."""
    from .captioning import take
    feats, out = features(arch, sset), {}
    for b0 in range(0, len(sset.videos), batch):
        rows = np.arange(b0, min(b0 + batch, len(sset.videos)))
        part = take(feats, rows)
        words = (cap.sample(part, max_length=max_length) if beam_size == 1
                 else cap.beam_search(part, beam_size, max_length)[0])
        out.update({sset.videos[r].id: C.sentence(w, vocab) for r, w in zip(rows, words)})
    return out


def references(sset):
    return {v.id: v.sentences for v in sset.videos}


def format_table(bleu, rows):
    """The Table 5 shape: approach, input, BLEU-4 (%) here, and the paper's on TACoS. ``rows``: [(key,
    label, input)] with ``bleu[key]`` in [0, 1]."""
    lines = ["", f"{'Approach':34}{'Input':>10}{'BLEU-4':>9}{'paper':>8}"]
    for key, label, inp in rows:
        paper = PAPER.get(key)
        lines.append(f"{label:34}{inp:>10}{100 * bleu[key]:9.2f}" + (f"{paper:8.1f}" if paper else ""))
    return "\n".join(lines + [f"({PAPER_SMT})"])


def evaluate(data_dir, arch, weights, split="test", beam_size=1, batch=100):
    """Decodes ``split`` of what `lrcn prepare-tacos --out DATA_DIR` wrote with ``arch``'s deploy net there and
    trained ``weights`` → {'scores': BLEU-1..4, CIDEr-D, ROUGE-L, 'sentences': {video id: sentence}}."""
    import lrcn_native as caffe

    from ..metrics.caption import score_captions
    _check_arch(arch)
    sset = S.read_semantic(os.path.join(data_dir, f"{split}.json"))
    vocab = C.read_vocabulary(os.path.join(data_dir, "vocabulary.txt"))
    net = caffe.Net(os.path.join(data_dir, f"video_{arch}_deploy.prototxt"), caffe.TEST, weights=weights)
    if len(vocab) + 1 != net.blobs["probs"].shape[2]:
        raise ValueError(f"{data_dir}/vocabulary.txt: {len(vocab)} words + EOS, but the net predicts "
                         f"{net.blobs['probs'].shape[2]}")
    hyps = describe(make_captioner(arch, net), arch, sset, vocab, beam_size, batch)
    return {"scores": score_captions(references(sset), hyps), "sentences": hyps}
