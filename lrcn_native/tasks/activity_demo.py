"""The activity part of `lrcn demo`: LRCN's Table 1 on synthetic videos where no single frame tells the
classes apart, trained and evaluated on the CPU in minutes.

Each video is a smooth random texture filling the frame. It slides at 0.5 px a frame in one of three
directions 120 degrees apart, turning to the next every 1-3 frames, clockwise or counter-clockwise; and
it is tinted with one of three colours of equal luma, changing every 1-3 frames, forward or backward
through them. The four classes are the (turn, colour order) pairs. So:
- one RGB frame is at chance (every colour in every class), and so is one flow frame (every direction);
- RGB clips show the colour order (the sub-pixel slide only faintly): LRCN on RGB can reach 50%;
- flow clips show the turn but not the colours, flow being computed on luma, where the three are the
  same: LRCN on flow can reach 50% too, and their late fusion can name the class (RGB and flow are
  complementary, as in the paper).
Flow comes from the package's flow code (numpy Lucas-Kanade on luma) stored as LRCN's flow images; the nets
are the paper's two at demo scale: a small CNN per frame with a classifier (single frame) or followed by an
LSTM over 16-frame time-major clips with cont markers (LRCN), trained with Caffe's Adam solver and evaluated
with the released protocol (tasks/activity.py).
"""
import os
import time

import numpy as np

from ..data.clips import repeat_labels, time_major
from ..data.flow import flow_to_image, lucas_kanade
from .activity import (format_table, frame_probs_lrcn, frame_probs_single_frame, fuse, plot_confusion,
                       save_scores, summary, table_row, video_score)

SIZE = 32                  # frames are SIZE x SIZE RGB
CLIP = 16                  # frames per clip, as released
SPEED = 0.5                # texture slide, px per frame: sub-pixel, so one-step Lucas-Kanade recovers it
# Three colours of equal luma (0.299 R + 0.587 G + 0.114 B = 135.6 +- 0.1): identical on the grey frames
# flow is computed from. Pink, teal, olive.
COLOURS = np.array([[200.0, 100.0, 150.0], [100.0, 150.0, 154.8], [120.0, 160.0, 50.9]])
SEGMENT = (1, 3)           # frames per direction or per colour: drawn per video, in [1, 3]
# motion turning clockwise / counter-clockwise on screen (y points down), colours cycling forward / backward
CLASSES = [f"{m}, colours {c}" for m in ("cw", "ccw") for c in ("fwd", "back")]
LUMA = np.array([0.299, 0.587, 0.114])
RGB_MEAN = np.array([103.939, 116.779, 128.68], np.float32)   # BGR, the released (128.68 sic: CAFFE_FACTS §1)


def _cycle(n, step, rng):
    """Index (0, 1, 2) of each of n frames' segment, stepping by ``step`` (+1 or -1) mod 3 every random
    SEGMENT frames, from a random index and a random phase within the first segment: (n,) int."""
    length = rng.integers(SEGMENT[0], SEGMENT[1] + 1)
    return (rng.integers(3) + step * ((np.arange(n) + rng.integers(length)) // length)) % 3


def synthetic_video(label, n_frames, rng):
    """One video of class ``label``: n_frames x SIZE x SIZE x 3 uint8 RGB.

    The texture slides in one of three directions 120 degrees apart, taking them in clockwise or
    counter-clockwise order; the colour goes through the three in forward or backward order.
    """
    turn, order = (1, -1)[label // 2], (1, -1)[label % 2]
    angle = np.pi / 2 + 2 * np.pi / 3 * _cycle(n_frames, turn, rng)           # down, up-left, up-right
    velocity = SPEED * np.stack([np.cos(angle), np.sin(angle)], 1)                 # n_frames x (x, y)
    shift = np.concatenate([[[0.0, 0.0]], np.cumsum(velocity, 0)[:-1]])          # displacement at frame t
    colour_index = _cycle(n_frames, order, rng)
    # A smooth random texture: three plane waves of wavelength 10-21 px, in [0.4, 1].
    freq = rng.uniform(0.3, 0.6, 3)[:, None] * np.stack([np.cos(t := rng.uniform(0, np.pi, 3)), np.sin(t)], 1)
    phase = rng.uniform(0, 2 * np.pi, 3)
    yy, xx = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    frames = np.empty((n_frames, SIZE, SIZE, 3), np.uint8)
    for t in range(n_frames):
        x, y = xx - shift[t, 0], yy - shift[t, 1]                  # content moves by +shift
        tex = 0.7 + 0.1 * sum(np.sin(f[0] * x + f[1] * y + p) for f, p in zip(freq, phase))
        frames[t] = np.rint(tex[..., None] * COLOURS[colour_index[t]])
    return frames


def synthetic_set(per_class, seed, min_frames=24, max_frames=40):
    """per_class videos of each class, shuffled: (list of videos F x SIZE x SIZE x 3 uint8, labels (V,))."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(len(CLASSES)), per_class))
    videos = [synthetic_video(int(c), int(rng.integers(min_frames, max_frames + 1)), rng) for c in labels]
    return videos, labels


def flow_images(video):
    """RGB frames F x H x W x 3 -> LRCN flow images (F-1) x H x W x 3 uint8: flow from frame i to i+1 on luma
    (no flow image for the first frame, as released)."""
    grey = video.astype(np.float64) @ LUMA
    return np.stack([flow_to_image(lucas_kanade(a, b)) for a, b in zip(grey[:-1], grey[1:])])


# --- inputs as the nets see them (Caffe's transform: x - mean) ---------------------------------

def rgb_input(video):
    """RGB frames F x H x W x 3 uint8 -> F x 3 x H x W float32: BGR minus the released mean (103.939, 116.779,
    128.68), scaled by 1/16 (Caffe's transform_param scale) to the flow inputs' range."""
    return (video[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) - RGB_MEAN[:, None, None]) / 16


def flow_input(images):
    """Flow images F x H x W x 3 uint8 -> F x 3 x H x W float32: minus the flow mean 128, unscaled (16 per px)."""
    return images.transpose(0, 3, 1, 2).astype(np.float32) - 128.0


# --- the nets: the paper's two, at demo scale -------------------------------------------------------------

def _cnn():
    """conv1 -> ReLU -> max-pool 3/2, conv2 -> ReLU -> max-pool 3/2, fc6 -> ReLU: the paper's hybrid CNN
    (CAFFE_FACTS §1) at demo scale: 32 x 32 -> 16 x 16 x 16 -> 8 x 8 -> 8 x 8 x 32 -> 4 x 4 -> 64."""
    x, c = 'weight_filler { type: "xavier" }', 'bias_filler { type: "constant" value: 0.1 }'
    return f'''
layer {{ name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param {{ num_output: 16 kernel_size: 5 stride: 2 pad: 2 {x} {c} }} }}
layer {{ name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }}
layer {{ name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param {{ pool: MAX kernel_size: 3 stride: 2 }} }}
layer {{ name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
  convolution_param {{ num_output: 32 kernel_size: 3 pad: 1 {x} {c} }} }}
layer {{ name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }}
layer {{ name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2" pooling_param {{ pool: MAX kernel_size: 3 stride: 2 }} }}
layer {{ name: "fc6" type: "InnerProduct" bottom: "pool2" top: "fc6" inner_product_param {{ num_output: 64 {x} {c} }} }}
layer {{ name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }}
'''


def net_text(model, batch, deploy=False):
    """The training net (Input layers fed from numpy, SoftmaxWithLoss) or the deploy net (Softmax "probs") of
    ``model`` "single frame" (batch frames) or "LRCN" (batch clips of CLIP frames, time-major, with cont)."""
    classes, g = len(CLASSES), 'weight_filler { type: "gaussian" std: 0.01 }'
    if model == "single frame":
        inputs = f'shape {{ dim: {batch} dim: 3 dim: {SIZE} dim: {SIZE} }} shape {{ dim: {batch} }}'
        head = f'''
layer {{ name: "fc7" type: "InnerProduct" bottom: "fc6" top: "fc7"
  inner_product_param {{ num_output: 64 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "relu7" type: "ReLU" bottom: "fc7" top: "fc7" }}
layer {{ name: "drop7" type: "Dropout" bottom: "fc7" top: "fc7" dropout_param {{ dropout_ratio: 0.5 }} }}
layer {{ name: "fc8" type: "InnerProduct" bottom: "fc7" top: "fc8" inner_product_param {{ num_output: {classes} {g} }} }}
'''
    else:
        inputs = (f'shape {{ dim: {CLIP * batch} dim: 3 dim: {SIZE} dim: {SIZE} }} shape {{ dim: {CLIP} dim: {batch} }} '
                  f'shape {{ dim: {CLIP} dim: {batch} }}')
        head = f'''
layer {{ name: "reshape-data" type: "Reshape" bottom: "fc6" top: "fc6-reshape"
  reshape_param {{ shape {{ dim: {CLIP} dim: -1 dim: 64 }} }} }}
layer {{ name: "lstm1" type: "LSTM" bottom: "fc6-reshape" bottom: "clip_markers" top: "lstm1"
  recurrent_param {{ num_output: 64 weight_filler {{ type: "uniform" min: -0.08 max: 0.08 }} }} }}
layer {{ name: "lstm1-drop" type: "Dropout" bottom: "lstm1" top: "lstm1-drop" dropout_param {{ dropout_ratio: 0.5 }} }}
layer {{ name: "fc8" type: "InnerProduct" bottom: "lstm1-drop" top: "fc8"
  inner_product_param {{ num_output: {classes} axis: 2 {g} }} }}
'''
    tops = 'top: "data" top: "label"' if model == "single frame" else 'top: "data" top: "clip_markers" top: "label"'
    if deploy:   # no label input: drop its shape (the last)
        tops = tops.replace(' top: "label"', '')
        inputs = inputs[:inputs.rfind(" shape {")]
    axis = "" if model == "single frame" else " softmax_param { axis: 2 }"
    tail = (f'layer {{ name: "probs" type: "Softmax" bottom: "fc8" top: "probs"{axis} }}\n' if deploy else
            f'layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "fc8" bottom: "label" top: "loss"{axis} }}\n')
    name = model.replace(" ", "_")
    return (f'name: "demo_{name}"\nlayer {{ name: "input" type: "Input" {tops} input_param {{ {inputs} }} }}\n'
            + _cnn() + head + tail)


def _batch(model, videos, labels, prepare, size, rng):
    """A training batch from ``videos`` (uint8 frames, made net inputs by ``prepare``): ``size`` random frames
    (single frame) or ``size`` random CLIP-frame clips, time-major with cont markers and the label repeated
    on every frame (LRCN), as {input blob: array}."""
    pick = rng.integers(0, len(videos), size)
    if model == "single frame":
        frames = np.stack([videos[v][rng.integers(len(videos[v]))] for v in pick])
        return {"data": prepare(frames), "label": labels[pick].astype(np.float32)}
    clips = np.stack([videos[v][s:s + CLIP] for v in pick for s in [rng.integers(len(videos[v]) - CLIP + 1)]])
    data, cont = time_major(clips)
    return {"data": prepare(data), "clip_markers": cont, "label": repeat_labels(labels[pick], CLIP)}


def train(model, videos, labels, prepare, iters, batch, out_dir, tag, seed, progress):
    """Trains ``model`` with Caffe's Adam solver (the paper used SGD for 30k-70k iterations; Adam converges within
    the demo's few hundred), step policy and gradient clipping as the paper's solvers,
    on ``videos`` (uint8 frames; ``prepare`` makes them net inputs); returns (trained net, per-iteration losses)."""
    import lrcn_native as caffe
    net_path = os.path.join(out_dir, f"activity_{tag}_train.prototxt")
    solver_path = os.path.join(out_dir, f"activity_{tag}_solver.prototxt")
    with open(net_path, "w") as f:
        f.write(net_text(model, batch))
    with open(solver_path, "w") as f:
        f.write(f'net: "{net_path}"\ntype: "Adam"\nbase_lr: 0.001\nmomentum2: 0.999\nlr_policy: "step"\ngamma: 0.1\nstepsize: {iters * 3 // 4}\n'
                f'momentum: 0.9\nweight_decay: 0\nclip_gradients: 5\nmax_iter: {iters}\ndisplay: 0\n'
                f'random_seed: {1701 + seed}\n')
    solver = caffe.get_solver(solver_path)
    rng = np.random.default_rng(seed)
    losses = []
    for it in range(iters):
        for name, array in _batch(model, videos, labels, prepare, batch, rng).items():
            solver.net.blobs[name].data[...] = array
        solver.step(1)
        losses.append(float(solver.loss))
        progress(it + 1, iters, losses)
    return solver.net, losses


def evaluate(model, train_net, videos, prepare, out_dir, tag):
    """Video scores (V x classes) of the trained net on ``videos`` with the released test protocol: every
    frame (single frame) or 16-frame clips every 8 frames (LRCN), per-frame softmax averaged per video."""
    import lrcn_native as caffe
    path = os.path.join(out_dir, f"activity_{tag}_deploy.prototxt")
    with open(path, "w") as f:
        f.write(net_text(model, 8, deploy=True))
    net = caffe.Net(path, caffe.TEST)
    for name, blobs in net.params.items():
        for a, b in zip(train_net.params[name], blobs):
            b.data[...] = a.data
    if model == "single frame":
        rows = [frame_probs_single_frame(net, prepare(x)[:, None], batch_frames=64) for x in videos]
    else:
        rows = [frame_probs_lrcn(net, prepare(x)[:, None], clips_per_forward=8) for x in videos]
    return np.stack([video_score(r) for r in rows])


def plot_losses(path, losses):
    """A PNG of the training loss curves {title: per-iteration losses}, smoothed over 20 iterations."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for title, curve in losses.items():
        k = min(20, len(curve))
        ax.plot(np.arange(k, len(curve) + 1), np.convolve(curve, np.ones(k) / k, "valid"), label=title)
    ax.axhline(np.log(len(CLASSES)), color="grey", lw=0.5, ls=":")
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class _Progress:
    """One status line per tenth of each training run: loss, elapsed time and the part's ETA."""

    def __init__(self, total_iters):
        self.total, self.done, self.t0 = total_iters, 0, time.perf_counter()

    def __call__(self, name):
        def update(it, iters, losses):
            self.done += 1
            if it % max(1, iters // 10) == 0:
                elapsed = time.perf_counter() - self.t0
                eta = elapsed / self.done * (self.total - self.done)
                print(f"  {name}: iteration {it}/{iters}, loss {np.mean(losses[-20:]):.3f} "
                      f"({elapsed:.0f} s, about {eta:.0f} s of training left)", flush=True)
        return update


def datasets(per_class, seed):
    """The demo's data: {"RGB" | "Flow": (training videos, test videos, prepare)}, training labels, test labels.
    Training videos are 17-24 frames (enough for a random 16-frame clip), test videos 24-40 (2 to 4 test
    clips), 25 test videos per class; a video's flow images are one fewer than its frames."""
    train_rgb, train_labels = synthetic_set(per_class, seed, min_frames=CLIP + 1, max_frames=24)
    test_rgb, test_labels = synthetic_set(25, seed + 1)
    data = {"RGB": (train_rgb, test_rgb, rgb_input),
            "Flow": ([flow_images(v) for v in train_rgb], [flow_images(v) for v in test_rgb], flow_input)}
    return data, train_labels, test_labels


# (training videos per class, iterations): the LRCN losses leave chance after ~150 iterations (see the loss
# PNG); the single-frame nets have nothing to learn beyond the training videos themselves.
QUICK, FULL = (100, {"single frame": 60, "LRCN": 300}), (250, {"single frame": 300, "LRCN": 1000})
BATCH = {"single frame": 128, "LRCN": 8}      # frames, clips: 128 frames an iteration either way


def demo(out_dir, quick=False, seed=0):
    """Trains and evaluates single-frame and LRCN nets on RGB and flow of the synthetic set; prints the
    Table-1-shaped table, writes the per-video scores (.npz), loss curves and confusion matrices (PNG) under
    ``out_dir`` and returns the results dict."""
    t0 = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    per_class, iters = QUICK if quick else FULL
    print(f"activity demo: {len(CLASSES)} classes ({'; '.join(CLASSES)}), {per_class} training and 25 test videos "
          f"per class, {SIZE} x {SIZE} frames; flow by Lucas-Kanade; single frame {iters['single frame']} and LRCN "
          f"{iters['LRCN']} iterations per input")
    data, train_labels, test_labels = datasets(per_class, seed)
    print(f"  videos and flow ready ({time.perf_counter() - t0:.0f} s)")

    progress = _Progress(2 * sum(iters.values()))
    scores, losses, results = {}, {}, {"config": {"classes": CLASSES, "train_videos": len(train_labels),
                                                  "test_videos": len(test_labels), "iterations": iters, "seed": seed,
                                                  "quick": quick}}
    for model in ("single frame", "LRCN"):
        for modality, (train_videos, test_videos, prepare) in data.items():
            name = f"{model} {modality}"
            tag = name.lower().replace(" ", "_")
            net, losses[name] = train(model, train_videos, train_labels, prepare, iters[model], BATCH[model],
                                      out_dir, tag, seed, progress(name))
            scores[name] = evaluate(model, net, test_videos, prepare, out_dir, tag)
            save_scores(os.path.join(out_dir, f"activity_scores_{tag}.npz"),
                        [f"test_{i:03d}" for i in range(len(test_videos))], test_labels, scores[name])
    models = {"Single frame": "single frame", "LRCN": "LRCN"}
    table = {row: table_row(test_labels, scores[f"{m} RGB"], scores[f"{m} Flow"]) for row, m in models.items()}
    results["table"] = table
    reports = {f"{row}, {column}": summary(test_labels, s) for row, m in models.items() for column, s in
               (("RGB", scores[f"{m} RGB"]), ("Flow", scores[f"{m} Flow"]),
                ("1/2 RGB", fuse(scores[f"{m} RGB"], scores[f"{m} Flow"], 1 / 2)))}
    confusion = {k: r["confusion"] for k, r in reports.items()}
    results["per_class_accuracy"] = {k: r["per_class_accuracy"] for k, r in reports.items()}
    results["confusion"] = confusion
    results["final_loss"] = {k: float(np.mean(v[-20:])) for k, v in losses.items()}
    print(f"\nvideo accuracy (%), {len(test_labels)} test videos, chance {100 / len(CLASSES):.0f}%:")
    print(format_table(table))
    try:
        plot_losses(os.path.join(out_dir, "activity_loss.png"), losses)
        plot_confusion(os.path.join(out_dir, "activity_confusion.png"), confusion, CLASSES)
    except ImportError:
        print("  (no PNG plots: install matplotlib, pip install 'lrcn_native[plot]')")
    results["seconds"] = time.perf_counter() - t0
    return results
