"""Video description (Table 5) at TACoS-like sizes against equivalent PyTorch models in the same run.

Sizes: the shipped nets' (lrcn_native/tasks/video_description.SHIPPED): vocabulary 2000 + EOS, 200 labels
in 4 slots, 1000 LSTM units, T = 20 words, N = 100 sentences.

  training: one SGD step (momentum, clipping at 10) of each architecture's training net on random
            sentences of 8–15 words: (a) encdec over 4 + 20 steps (label Embed → lstm1; lstm2 on lstm1 +
            word Embed + stage; Linear → 2001), (b) crf_max / (c) crf_prob (word Embed → lstm1; lstm2 with
            the 200-wide semantic vector as a static input; Linear → 2001). (b) and (c) cost the same: their
            inputs differ in values only. PyTorch: nn.Embedding, nn.LSTM, nn.Linear, cross entropy × 20
            (ignore −1), the static input concatenated to lstm2's input at every step.
  decoding: the T = 1 deploy nets through tasks/captioning.Captioner (random weights, EOS made impossible
            so every sentence runs --length steps; encdec first runs its 4 encoder steps): greedy and beam 5
            at batch 100, sentences/s. PyTorch: nn.LSTMCell sharing the nn.LSTM weights, the same loop.

Times are the best of --repeat runs after a warm-up. The machine may be shared: compare ratios measured in
the same run, not absolute numbers across runs.

    python benchmarks/bench_video_description.py [--quick] [--threads 2] [--device gpu]
"""
import argparse
import os
import tempfile

import common  # first: imports PyTorch (the baseline) before lrcn_native
import numpy as np
from common import best_seconds, torch

import lrcn_native as caffe
from lrcn_native.backend import K
from lrcn_native.tasks import video_description as VD


def sentences(rng, n, vocab):
    return [list(rng.integers(1, vocab, rng.integers(8, 16))) for _ in range(n)]


def inputs(arch, size, rng):
    """One training batch: {stream: T × N} and the static input (or None)."""
    N, L, S = size["N"], size["labels"], size["slots"]
    per_slot = L // S
    labels = rng.integers(0, per_slot, (N, S)) + np.arange(S) * per_slot            # positions, slot after slot
    streams = VD.batch_streams(arch, labels, sentences(rng, N, size["vocab"]), size["T"])
    static = None
    if arch == "crf_max":
        static = np.zeros((N, L), np.float32)
        np.put_along_axis(static, labels, 1.0, axis=1)
    elif arch == "crf_prob":
        static = np.concatenate([rng.dirichlet(np.ones(per_slot), N) for _ in range(S)], 1).astype(np.float32)
    return streams, labels, static


def bench_ours_training(arch, size, batch, repeat, sync):
    streams, _, static = batch
    steps = size["T"] + (size["slots"] if arch == "encdec" else 0)
    with tempfile.TemporaryDirectory() as d:
        net = os.path.join(d, "net.prototxt")
        with open(net, "w") as f:
            f.write(VD.train_net_text(arch, size["vocab"], size["labels"], size["hidden"], steps, size["N"]))
        with open(os.path.join(d, "solver.prototxt"), "w") as f:
            f.write(f'net: "{net}"\nbase_lr: 0.01\nmomentum: 0.9\nclip_gradients: 10\ndisplay: 0\n'
                    'lr_policy: "fixed"\nmax_iter: 1000000\n')
        solver = caffe.get_solver(os.path.join(d, "solver.prototxt"))
    for name, arr in streams.items():
        solver.net.blobs[name].data[...] = arr
    if static is not None:
        solver.net.blobs[arch].data[...] = static
    return best_seconds(lambda: solver.step(1), repeat, sync=sync)


class TorchVideo(torch.nn.Module if torch is not None else object):
    """(a) label Embed → LSTM; LSTM on [lstm1, word Embed, stage] → Linear, or (b)/(c) word Embed → LSTM;
    LSTM on [lstm1, semantic vector] → Linear. −1 ids embed to zeros, as Caffe's Embed does for LRCN."""

    def __init__(self, arch, size):
        super().__init__()
        H, L, Vs = size["hidden"], size["labels"], size["vocab"]
        self.arch = arch
        self.embed = torch.nn.Embedding(Vs, H)
        self.label_embed = torch.nn.Embedding(L, H) if arch == "encdec" else None
        in2 = 2 * H + 1 if arch == "encdec" else H + L
        self.lstm1, self.lstm2 = torch.nn.LSTM(H, H), torch.nn.LSTM(in2, H)
        self.cell1, self.cell2 = torch.nn.LSTMCell(H, H), torch.nn.LSTMCell(in2, H)
        for cell, lstm in ((self.cell1, self.lstm1), (self.cell2, self.lstm2)):   # the same weights
            cell.weight_ih, cell.weight_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
            cell.bias_ih, cell.bias_hh = lstm.bias_ih_l0, lstm.bias_hh_l0
        self.predict = torch.nn.Linear(H, Vs)

    @staticmethod
    def pad_embed(embed, ids):
        return embed(ids.clamp(min=0)) * (ids >= 0)[..., None]

    def forward(self, streams, static):
        words = self.pad_embed(self.embed, streams["input_sentence"])
        if self.arch == "encdec":
            h1, _ = self.lstm1(self.pad_embed(self.label_embed, streams["input_labels"]))
            x2 = torch.cat([h1, words, streams["stage_indicators"][..., None].float()], 2)
        else:
            h1, _ = self.lstm1(words)
            x2 = torch.cat([h1, static[None].expand(words.shape[0], -1, -1)], 2)
        return self.predict(self.lstm2(x2)[0])


def bench_torch_training(arch, size, batch, repeat, dev, sync):
    streams, _, static = batch
    model = TorchVideo(arch, size).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    ts = {k: torch.tensor(v, dtype=torch.long, device=dev) for k, v in streams.items()}
    st = None if static is None else torch.tensor(static, device=dev)

    def step():
        opt.zero_grad()
        logits = model(ts, st)
        loss = 20 * torch.nn.functional.cross_entropy(logits.reshape(-1, size["vocab"]),
                                                      ts["target_sentence"].reshape(-1), ignore_index=-1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10)
        opt.step()
    return best_seconds(step, repeat, sync=sync), model


def torch_decode(model, labels, static, beam, length, size):
    """The Captioner's loop: the encoder steps (encdec), then one step for all rows (videos × beams), beams
    gathering their states."""
    B, H, Vs = labels.shape[0], size["hidden"], size["vocab"]
    rows = B * beam
    dev = labels.device
    h1 = c1 = h2 = c2 = torch.zeros(rows, H, device=dev)
    zeros = torch.zeros(rows, H, device=dev)
    with torch.no_grad():
        if model.arch == "encdec":
            lab = labels.repeat_interleave(beam, 0)
            for s in range(lab.shape[1]):
                h1, c1 = model.cell1(model.label_embed(lab[:, s]), (h1, c1))
                h2, c2 = model.cell2(torch.cat([h1, zeros, torch.zeros(rows, 1, device=dev)], 1), (h2, c2))
        else:
            feats = static.repeat_interleave(beam, 0)
        words = torch.zeros(rows, dtype=torch.long, device=dev)
        logp = torch.zeros(B, beam, device=dev)
        for t in range(length):
            if model.arch == "encdec":
                h1, c1 = model.cell1(zeros, (h1, c1))
                x2 = torch.cat([h1, model.embed(words), torch.ones(rows, 1, device=dev)], 1)
            else:
                h1, c1 = model.cell1(model.embed(words), (h1, c1))
                x2 = torch.cat([h1, feats], 1)
            h2, c2 = model.cell2(x2, (h2, c2))
            lp = torch.log_softmax(model.predict(h2), 1).view(B, beam, Vs)
            if beam == 1:
                words = lp.view(rows, Vs).argmax(1)
                continue
            scores = (logp[:, :, None] + lp) if t else lp[:, :1]
            top, idx = scores.reshape(B, -1).topk(beam, 1)
            src = (idx // Vs + torch.arange(B, device=dev)[:, None] * beam).view(-1)
            words, logp = (idx % Vs).view(-1), top
            h1, c1, h2, c2 = h1[src], c1[src], h2[src], c2[src]


def bench_decoding(arch, size, batch, repeat, length, rng, model, dev, sync, tsync):
    _, labels, static = batch
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "deploy.prototxt")
        with open(path, "w") as f:
            f.write(VD.deploy_net_text(arch, size["vocab"], size["labels"], size["hidden"]))
        net = caffe.Net(path, caffe.TEST)
    for blobs in net.params.values():
        for b in blobs:
            b.data[...] = rng.uniform(-0.08, 0.08, b.shape)
    net.params["predict"][1].data[0] = -1e4          # no EOS: every sentence runs `length` steps
    cap = VD.make_captioner(arch, net)
    feats = {"input_labels": labels.astype(np.float32)} if arch == "encdec" else {arch: static}
    if model is not None:
        with torch.no_grad():
            model.predict.bias[0] = -1e4
        tl = torch.tensor(labels, device=dev)
        ts = None if static is None else torch.tensor(static, device=dev)
    out = {}
    for beam in (1, 5):
        key = "greedy" if beam == 1 else "beam5"
        if beam == 1:
            ours = best_seconds(lambda: cap.sample(feats, max_length=length), repeat, sync=sync)
        else:
            ours = best_seconds(lambda: cap.beam_search(feats, beam, max_length=length), repeat, sync=sync)
        row = {"ours_sentences_per_s": len(labels) / ours}
        if model is not None:
            theirs = best_seconds(lambda: torch_decode(model, tl, ts, beam, length, size), repeat, sync=tsync)
            row.update({"torch_sentences_per_s": len(labels) / theirs, "ratio": ours / theirs})
        out[key] = row
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--length", type=int, default=20, help="decoding steps per sentence")
    common.add_arguments(ap, "128 units, N = 10, 5 decoding steps, once")
    args = ap.parse_args()
    size = {k: VD.SHIPPED[k] for k in ("vocab", "labels", "hidden", "slots")}
    size.update(T=VD.SHIPPED["max_words"], N=VD.SHIPPED["buffer_size"])
    if args.quick:
        args.repeat, args.length = 1, 5
        size.update(hidden=128, N=10)
    K.gemm_cpu_set_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    dev, sync, tsync = "cpu", (lambda: None), (lambda: None)
    if args.device == "gpu":
        caffe.set_mode_gpu()
        sync = K.synchronize
        if torch is not None and torch.cuda.is_available():
            dev, tsync = "cuda", torch.cuda.synchronize
    rng = np.random.default_rng(0)
    results = common.header(device=args.device, quick=args.quick, threads=args.threads, repeat=args.repeat,
                            decode_length=args.length, size=size, architectures={})
    print(f"BLAS: {results['machine']['blas']}; PyTorch: {results['machine']['torch'] or 'absent'}; sizes {size}")
    for arch in VD.ARCHS:
        batch = inputs(arch, size, rng)
        r = {"ours_training_s": bench_ours_training(arch, size, batch, args.repeat, sync)}
        r["ours_training_sentences_per_s"] = size["N"] / r["ours_training_s"]
        model = None
        if torch is not None and (args.device == "cpu" or dev == "cuda"):
            r["torch_training_s"], model = bench_torch_training(arch, size, batch, args.repeat, dev, tsync)
            r["torch_training_sentences_per_s"] = size["N"] / r["torch_training_s"]
            r["training_ratio"] = r["ours_training_s"] / r["torch_training_s"]
        r["decoding"] = bench_decoding(arch, size, batch, args.repeat, args.length, rng, model, dev, sync, tsync)
        results["architectures"][arch] = r
        print(f"{arch}: {r}")
    common.save(results, args, "video_description_" + args.device)


if __name__ == "__main__":
    main()
