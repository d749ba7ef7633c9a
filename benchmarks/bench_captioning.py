"""Captioning at the released shapes against an equivalent PyTorch model in the same run (CPU).

  training: the language part of the factored LRCN (lrcn.prototxt, freeze-convnet): T=20 words × N=100
            sentences, Embed 8801→1000, LSTM 1000, LSTM 1000 with the image's fc8 (1000) as a static input,
            InnerProduct → 8801, SoftmaxWithLoss (×20, ignore −1), one SGD step with clipping. The frozen
            CNN's forward is left out (it is the same for every variant and timed by bench_conv.py); fc8 is
            an input. Reported as sentences/s (N per iteration).
  decoding: the T=1 word-to-preds deploy net (shipped lrcn_word_to_preds.deploy.prototxt, random weights,
            EOS made impossible so that every caption runs exactly --length steps): greedy and beam-5
            captions/s at batch 1 and 100. PyTorch: nn.Embedding + nn.LSTMCell (its second cell takes
            [h1, fc8] concatenated, the usual equivalent of the static input) + nn.Linear + softmax, the same
            decoding loop (one call chain per step for all images and beams, beams gather their state).
  floor:    one decoding step at batch 1 as numpy's six matrix-vector products (W_xc1·x, W_hc1·h1, W_xc2·h1,
            W_static·fc8, W_hc2·h2, W_pred·h2) with the gate arithmetic: the issue's target is ours ≤ 1.3×.

Times are the best of --repeat runs after a warm-up. The machine may be shared: compare ratios measured in
the same run, not absolute numbers across runs.

    python benchmarks/bench_captioning.py [--quick] [--threads 2]
"""
import argparse
import os
import tempfile
import time

import numpy as np

import common  # first: imports PyTorch (the baseline) before lrcn_native
from common import torch

import lrcn_native as caffe  # noqa: E402
from lrcn_native.backend import K  # noqa: E402
from lrcn_native.tasks.captioning import Captioner  # noqa: E402
from lrcn_native.tasks.captioning_demo import language_net_text  # noqa: E402

V, H, F, T, N = 8801, 1000, 1000, 20, 100
MODELS = os.path.join(os.path.dirname(caffe.__file__), "models")


def best(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def sentence_batch(rng):
    """Random sentences of 8–15 words in the released T × N layout."""
    cont, inp, tgt = np.zeros((T, N)), -np.ones((T, N)), -np.ones((T, N))
    for n in range(N):
        ids = rng.integers(1, V, rng.integers(8, 16))
        L = len(ids) + 1
        cont[1:L, n] = 1
        inp[0, n], inp[1:L, n] = 0, ids
        tgt[:L - 1, n], tgt[L - 1, n] = ids, 0
    return cont, inp, tgt


def bench_training(repeat, rng):
    cont, inp, tgt = sentence_batch(rng)
    fc8 = rng.standard_normal((N, F)).astype(np.float32)
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "net.prototxt"), "w") as f:
            f.write(language_net_text(V, H, T, N, F))
        with open(os.path.join(d, "solver.prototxt"), "w") as f:
            f.write(f'net: "{d}/net.prototxt"\nbase_lr: 0.01\nmomentum: 0.9\nclip_gradients: 10\ndisplay: 0\n'
                    'lr_policy: "fixed"\nmax_iter: 1000000\n')
        solver = caffe.get_solver(os.path.join(d, "solver.prototxt"))
        for name, arr in (("fc8", fc8), ("cont_sentence", cont), ("input_sentence", inp), ("target_sentence", tgt)):
            solver.net.blobs[name].data[...] = arr
        ours = best(lambda: solver.step(1), repeat)
    out = {"ours_s_per_iter": ours, "ours_sentences_per_s": N / ours}
    if torch is not None:
        model = TorchLRCN()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        x = torch.tensor(np.maximum(inp, 0), dtype=torch.long)
        y = torch.tensor(tgt, dtype=torch.long)
        img = torch.tensor(fc8)

        def step():
            opt.zero_grad()
            logits = model.train_forward(x, img)
            loss = 20 * torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1), ignore_index=-1)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10)
            opt.step()
        theirs = best(step, repeat)
        out.update({"torch_s_per_iter": theirs, "torch_sentences_per_s": N / theirs, "ratio": ours / theirs})
    return out


class TorchLRCN(torch.nn.Module if torch is not None else object):
    """Embed → LSTM(1000) → LSTM(1000) on [lstm1, fc8] → Linear(8801)."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(V, H)
        self.lstm1 = torch.nn.LSTM(H, H)
        self.lstm2 = torch.nn.LSTM(H + F, H)
        self.predict = torch.nn.Linear(H, V)
        self.cell1, self.cell2 = torch.nn.LSTMCell(H, H), torch.nn.LSTMCell(H + F, H)
        for cell, lstm in ((self.cell1, self.lstm1), (self.cell2, self.lstm2)):   # the same weights
            cell.weight_ih, cell.weight_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
            cell.bias_ih, cell.bias_hh = lstm.bias_ih_l0, lstm.bias_hh_l0

    def train_forward(self, words, img):
        h1, _ = self.lstm1(self.embed(words))
        h2, _ = self.lstm2(torch.cat([h1, img[None].expand(words.shape[0], -1, -1)], dim=2))
        return self.predict(h2)


def torch_decode(model, img, beam, length):
    """The same loop as ours: one step for all rows (images × beams), beams gather their states."""
    B = img.shape[0]
    rows = B * beam
    feats = img.repeat_interleave(beam, 0)
    h1 = c1 = h2 = c2 = torch.zeros(rows, H)
    words = torch.zeros(rows, dtype=torch.long)
    logp = torch.zeros(B, beam)
    with torch.no_grad():
        for t in range(length):
            h1, c1 = model.cell1(model.embed(words), (h1, c1))
            h2, c2 = model.cell2(torch.cat([h1, feats], 1), (h2, c2))
            lp = torch.log_softmax(model.predict(h2), 1).view(B, beam, V)
            if beam == 1:
                words = lp.view(rows, V).argmax(1)
                continue
            scores = (logp[:, :, None] + lp) if t else lp[:, :1]
            top, idx = scores.reshape(B, -1).topk(beam, 1)
            src = (idx // V + torch.arange(B)[:, None] * beam).view(-1)
            words, logp = (idx % V).view(-1), top
            h1, c1, h2, c2 = h1[src], c1[src], h2[src], c2[src]


def numpy_floor_step(W, x, h1, h2, img):
    """One T=1 step at batch 1: the six matrix-vector products and the gates (float32)."""
    def cell(pre, c):
        i, f, o, g = np.split(pre, 4)
        i, f, o = (1 / (1 + np.exp(-v)) for v in (i, f, o))
        c = f * c + i * np.tanh(g)
        return o * np.tanh(c), c
    h1n, _ = cell(W["xc1"] @ x + W["hc1"] @ h1, np.zeros(H, np.float32))
    h2n, _ = cell(W["xc2"] @ h1n + W["static"] @ img + W["hc2"] @ h2, np.zeros(H, np.float32))
    return W["pred"] @ h2n


def bench_decoding(repeat, length, rng):
    net = caffe.Net(os.path.join(MODELS, "lrcn_word_to_preds.deploy.prototxt"), caffe.TEST)
    for name, blobs in net.params.items():
        for b in blobs:
            b.data[...] = rng.uniform(-0.08, 0.08, b.shape)
    net.params["predict"][1].data[0] = -1e4          # no EOS: every caption runs `length` steps
    cap = Captioner(net)
    model = TorchLRCN() if torch is not None else None
    if model is not None:
        with torch.no_grad():
            model.predict.bias[0] = -1e4
    out = {}
    for batch in (1, 100):
        feats = rng.standard_normal((batch, F)).astype(np.float32)
        for beam in (1, 5):
            key = f"{'greedy' if beam == 1 else 'beam5'}_batch{batch}"
            if beam == 1:
                ours = best(lambda: cap.sample(feats, max_length=length), repeat)
            else:
                ours = best(lambda: cap.beam_search(feats, beam, max_length=length), repeat)
            row = {"ours_captions_per_s": batch / ours, "ours_ms_per_step": 1e3 * ours / length}
            if model is not None:
                img = torch.tensor(feats)
                theirs = best(lambda: torch_decode(model, img, beam, length), repeat)
                row.update({"torch_captions_per_s": batch / theirs, "ratio": ours / theirs})
            out[key] = row
            print(f"  {key}: {row}")
    W = {k: rng.uniform(-0.08, 0.08, s).astype(np.float32) for k, s in
         (("xc1", (4 * H, H)), ("hc1", (4 * H, H)), ("xc2", (4 * H, H)), ("static", (4 * H, F)), ("hc2", (4 * H, H)),
          ("pred", (V, H)))}
    v = [rng.standard_normal(H).astype(np.float32) for _ in range(4)]
    floor = best(lambda: numpy_floor_step(W, *v), repeat * 10)
    cap.start(np.zeros((1, F), np.float32))
    step = best(lambda: cap.step(np.zeros(1, np.float32), np.ones(1, np.float32)), repeat * 10)
    out["step_batch1"] = {"ours_ms": 1e3 * step, "numpy_floor_ms": 1e3 * floor, "ratio_to_floor": step / floor,
                          "target_ratio": 1.3}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--length", type=int, default=20, help="decoding steps per caption")
    common.add_arguments(ap, "1 repeat, 10 decoding steps")
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.length = 1, 10
    K.gemm_cpu_set_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    results = common.header(device="cpu", quick=args.quick, threads=args.threads, repeat=args.repeat,
                            decode_length=args.length)
    print(f"BLAS: {results['machine']['blas']}, OpenBLAS kernels: {results['machine']['openblas_core']}; "
          f"PyTorch: {results['machine']['torch'] or 'absent'}")
    print("training (T=20, N=100, 1000 hidden, 8801 words; frozen CNN left out):")
    results["training"] = bench_training(args.repeat, rng)
    print(f"  {results['training']}")
    print(f"decoding ({args.length} steps per caption):")
    results["decoding"] = bench_decoding(args.repeat, args.length, rng)
    print(f"  step at batch 1: {results['decoding']['step_batch1']}")
    common.save(results, args, "captioning_cpu")


if __name__ == "__main__":
    main()
