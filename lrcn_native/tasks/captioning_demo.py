"""The captioning part of `lrcn demo`: a deterministic synthetic captioned-image set, a small factored
2-layer LRCN trained on it on the CPU, generated captions scored (BLEU-1..4, CIDEr-D, ROUGE-L) and used for
retrieval (R@K, median rank) beside the 1-nearest-neighbour caption baseline, and a PNG contact sheet.

Scenes are 32 × 32 RGB: one object (a shape in a colour and a size, at one of five places) or two (one on
the left, one on the right). Each image has five reference captions drawn from a grammar with several
templates, where the relation words ("to the left of" / "to the right of") make word order carry the
grounding: "a red circle to the left of a blue square" is the same scene as "a blue square to the right
of a red circle", and a different one from "a blue square to the left of a red circle".
"""
import json
import os
import random
import textwrap
import time

import numpy as np

from ..data import captions as C
from ..metrics.caption import score_captions
from .captioning import Captioner, format_tables, nearest_neighbours, retrieval

SIZE = 32
COLORS = {"red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 80, 230), "yellow": (230, 210, 40)}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 4, "large": 7}
PLACES = {"left": (16, 8), "right": (16, 24), "top": (8, 16), "bottom": (24, 16), "middle": (16, 16)}


def _draw(img, shape, color, radius, cy, cx):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    dy, dx = yy - cy, xx - cx
    if shape == "circle":
        mask = dy ** 2 + dx ** 2 <= radius ** 2
    elif shape == "square":
        mask = (abs(dy) <= radius * 0.8) & (abs(dx) <= radius * 0.8)
    else:   # triangle, apex up
        mask = (dy <= radius * 0.8) & (dy >= -radius) & (abs(dx) <= (dy + radius) * 0.55)
    img[mask] = color


def _phrase(obj, rng):
    size = obj["size"] + " " if rng.random() < 0.5 else ""
    return f"a {size}{obj['color']} {obj['shape']}"


def _captions(objs, rng, n=5):
    """``n`` reference captions of a scene from the grammar."""
    out = []
    for _ in range(n):
        if len(objs) == 1:
            o, place = objs[0], objs[0]["place"]
            where = "in the middle" if place == "middle" else f"on the {place}"
            t = rng.randrange(4)
            p = _phrase(o, rng)
            out.append([f"{p} {where}", f"there is {p} {where}", f"{p} {where} of the picture",
                        f"{p} is {where}"][t])
        else:
            a, b = _phrase(objs[0], rng), _phrase(objs[1], rng)
            t = rng.randrange(4)
            out.append([f"{a} to the left of {b}", f"{b} to the right of {a}", f"{a} and {b}",
                        f"there is {a} next to {b}"][t])
    return [c[0].upper() + c[1:] + "." for c in out]


def synthetic_set(n, seed):
    """n images (n × 32 × 32 × 3 uint8, RGB) and their five reference captions each."""
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    images = np.zeros((n, SIZE, SIZE, 3), np.uint8)
    refs = []
    for i in range(n):
        img = noise.integers(0, 30, (SIZE, SIZE, 3)).astype(np.uint8)
        k = rng.choice((1, 2))
        places = [rng.choice(list(PLACES))] if k == 1 else ["left", "right"]
        objs = [{"shape": rng.choice(SHAPES), "color": rng.choice(list(COLORS)), "size": rng.choice(list(SIZES)),
                 "place": p} for p in places]
        if k == 2 and objs[0]["color"] == objs[1]["color"] and objs[0]["shape"] == objs[1]["shape"]:
            objs[1]["color"] = [c for c in COLORS if c != objs[0]["color"]][rng.randrange(3)]
        for o in objs:
            cy, cx = PLACES[o["place"]]
            if k == 2:
                cy = rng.randint(9, 23)
            _draw(img, o["shape"], COLORS[o["color"]], SIZES[o["size"]], cy + rng.randint(-2, 2),
                  cx + rng.randint(-2, 2))
        images[i] = img
        refs.append(_captions(objs, rng))
    return images, refs


# --- the model: a small CNN for the image feature, then the factored 2-layer LRCN ------------------------

def _cnn(bottom, feature):
    return f'''
layer {{ name: "conv1" type: "Convolution" bottom: "{bottom}" top: "conv1"
  convolution_param {{ num_output: 16 kernel_size: 5 pad: 2 weight_filler {{ type: "gaussian" std: 0.05 }} }} }}
layer {{ name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }}
layer {{ name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param {{ pool: MAX kernel_size: 2 stride: 2 }} }}
layer {{ name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
  convolution_param {{ num_output: 32 kernel_size: 3 pad: 1 weight_filler {{ type: "gaussian" std: 0.05 }} }} }}
layer {{ name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }}
layer {{ name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2" pooling_param {{ pool: MAX kernel_size: 2 stride: 2 }} }}
layer {{ name: "{feature}" type: "InnerProduct" bottom: "pool2" top: "{feature}"
  inner_product_param {{ num_output: 128 weight_filler {{ type: "gaussian" std: 0.02 }} }} }}
layer {{ name: "relu_{feature}" type: "ReLU" bottom: "{feature}" top: "{feature}" }}
'''


def language_layers(vocab, hidden, image):
    """The factored LRCN's language layers (embedding, lstm1, lstm2 with ``image`` as its static input,
    predict), as prototxt text."""
    u = 'weight_filler { type: "uniform" min: -0.08 max: 0.08 }'
    return f'''
layer {{ name: "embedding" type: "Embed" bottom: "input_sentence" top: "embedded_input_sentence"
  embed_param {{ bias_term: false input_dim: {vocab} num_output: {hidden} {u} }} }}
layer {{ name: "lstm1" type: "LSTM" bottom: "embedded_input_sentence" bottom: "cont_sentence" top: "lstm1"
  recurrent_param {{ num_output: {hidden} {u} }} }}
layer {{ name: "lstm2" type: "LSTM" bottom: "lstm1" bottom: "cont_sentence" bottom: "{image}" top: "lstm2"
  recurrent_param {{ num_output: {hidden} {u} }} }}
layer {{ name: "predict" type: "InnerProduct" bottom: "lstm2" top: "predict"
  inner_product_param {{ axis: 2 num_output: {vocab} {u} }} }}
'''


def language_net_text(vocab, hidden, T, N, image_dim):
    """The language part alone, trained with a frozen CNN (lrcn.prototxt's freeze-convnet): the image's
    N × image_dim features ("fc8") and the T × N sentence streams are Input blobs; shared with
    benchmarks/bench_captioning.py and bench_distributed.py."""
    return f'''name: "lrcn_language_part"
layer {{ name: "data" type: "Input" top: "fc8" top: "cont_sentence" top: "input_sentence" top: "target_sentence"
  input_param {{ shape {{ dim: {N} dim: {image_dim} }} shape {{ dim: {T} dim: {N} }} shape {{ dim: {T} dim: {N} }}
    shape {{ dim: {T} dim: {N} }} }} }}
{language_layers(vocab, hidden, "fc8")}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "predict" bottom: "target_sentence" top: "loss"
  loss_weight: 20 loss_param {{ ignore_label: -1 }} softmax_param {{ axis: 2 }} }}
'''


def train_net_text(vocab, hidden, T, N):
    """Training net: images N × 3 × 32 × 32 and T × N sentence streams fed from Python (Input layers)."""
    return (f'name: "demo_lrcn_2f"\n'
            f'layer {{ name: "data" type: "Input" top: "data" top: "cont_sentence" top: "input_sentence" '
            f'top: "target_sentence" input_param {{ shape {{ dim: {N} dim: 3 dim: {SIZE} dim: {SIZE} }} '
            f'shape {{ dim: {T} dim: {N} }} shape {{ dim: {T} dim: {N} }} shape {{ dim: {T} dim: {N} }} }} }}\n'
            + _cnn("data", "feature") + language_layers(vocab, hidden, "feature") +
            'layer { name: "cross_entropy_loss" type: "SoftmaxWithLoss" bottom: "predict" bottom: "target_sentence" '
            'top: "cross_entropy_loss" loss_weight: 20 loss_param { ignore_label: -1 } softmax_param { axis: 2 } }\n')


def image_net_text(N):
    return (f'name: "demo_image_net"\ninput: "data" input_shape {{ dim: {N} dim: 3 dim: {SIZE} dim: {SIZE} }}\n'
            + _cnn("data", "feature"))


def word_to_preds_text(vocab, hidden):
    """The T = 1 deploy net, shaped as the released lrcn_word_to_preds.deploy.prototxt."""
    return ('name: "demo_word_to_preds"\n'
            'input: "cont_sentence" input_shape { dim: 1 dim: 1 }\n'
            'input: "input_sentence" input_shape { dim: 1 dim: 1 }\n'
            'input: "image_features" input_shape { dim: 1 dim: 128 }\n'
            + language_layers(vocab, hidden, "image_features") +
            'layer { name: "probs" type: "Softmax" bottom: "predict" top: "probs" softmax_param { axis: 2 } }\n')


def preprocess(images):
    """uint8 N × H × W × RGB → float N × 3 × H × W, BGR minus 128, scaled to about ±1."""
    return (images[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) - 128.0) / 128.0


def _streams(ids_list, T):
    """Caption id lists → cont, input, target (T × N) with the released layout (pad/truncate to T)."""
    fields = [C.sequence_fields(ids, "", max_words=T) for ids in ids_list]
    return [np.array([f[k] for f in fields], np.float32).T for k in ("cont_sentence", "input_sentence",
                                                                      "target_sentence")]


def _copy_params(src, dst):
    for name, blobs in dst.params.items():
        for a, b in zip(src.params[name], blobs):
            b.data[...] = a.data


def contact_sheet(path, images, captions, refs, cols=4, scale=4):
    """A PNG grid: each image enlarged, its generated caption and first reference beneath."""
    from PIL import Image, ImageDraw
    w, h = SIZE * scale + 190, SIZE * scale + 36
    rows = (len(images) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * w, rows * h), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (img, cap, ref) in enumerate(zip(images, captions, refs)):
        x, y = (k % cols) * w, (k // cols) * h
        sheet.paste(Image.fromarray(img).resize((SIZE * scale, SIZE * scale), Image.NEAREST), (x + 4, y + 4))
        for j, (label, text) in enumerate((("LRCN", cap), ("ref", ref))):
            lines = textwrap.wrap(text, 28)
            draw.text((x + SIZE * scale + 10, y + 6 + 60 * j), f"{label}:", fill=(120, 0, 0) if j == 0 else (0, 0, 120))
            for m, line in enumerate(lines[:4]):
                draw.text((x + SIZE * scale + 10, y + 18 + 60 * j + 11 * m), line, fill="black")
    sheet.save(path)


def demo(out_dir, quick=False, seed=0):
    """Trains and evaluates the captioning demo; prints its tables, writes captioning_results.json and
    captioning_examples.png under ``out_dir``, and returns the results dict."""
    import lrcn_native as caffe
    t0 = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    n_train, n_test, iters = (1000, 100, 2000) if quick else (3000, 300, 5000)
    T, N, hidden = 12, 50, 96
    train_images, train_refs = synthetic_set(n_train, seed)
    test_images, test_refs = synthetic_set(n_test, seed + 1)
    tokens = [[C.tokenize(c) for c in caps] for caps in train_refs]
    vocab = C.build_vocabulary(t for caps in tokens for t in caps)
    index = {w: i for i, w in enumerate(vocab)}
    train_ids = [[C.encode(t, index) for t in caps] for caps in tokens]
    V = len(vocab) + 1
    print(f"captioning demo: {n_train} training / {n_test} test images, vocabulary {V} (with EOS), "
          f"factored 2-layer LRCN, {hidden} hidden, T={T} N={N}, {iters} iterations")

    files = {}
    for name, text in (("train", train_net_text(V, hidden, T, N)), ("image", image_net_text(N)),
                       ("word_to_preds", word_to_preds_text(V, hidden))):
        files[name] = os.path.join(out_dir, f"captioning_{name}.prototxt")
        with open(files[name], "w") as f:
            f.write(text)
    solver_path = os.path.join(out_dir, "captioning_solver.prototxt")
    with open(solver_path, "w") as f:
        f.write(f'net: "{files["train"]}"\ntype: "Adam"\nbase_lr: 0.002\nlr_policy: "step"\ngamma: 0.5\nstepsize: {iters // 2}\nmomentum2: 0.999\n'
                f'momentum: 0.9\nweight_decay: 0\nclip_gradients: 10\nmax_iter: {iters}\ndisplay: 0\n'
                f'random_seed: {1701 + seed}\n')
    solver = caffe.get_solver(solver_path)
    net, rng = solver.net, np.random.default_rng(seed)
    x = preprocess(train_images)
    losses = []
    for it in range(iters):
        pick = rng.integers(0, n_train, N)
        caps = [train_ids[i][rng.integers(0, 5)] for i in pick]
        net.blobs["data"].data[...] = x[pick]
        for name, arr in zip(("cont_sentence", "input_sentence", "target_sentence"), _streams(caps, T)):
            net.blobs[name].data[...] = arr
        solver.step(1)
        losses.append(float(solver.loss))
        if (it + 1) % max(1, iters // 10) == 0:
            print(f"  iteration {it + 1}/{iters}: loss {np.mean(losses[-50:]):.3f} "
                  f"({time.perf_counter() - t0:.0f} s)")

    image_net = caffe.Net(files["image"], caffe.TEST)
    lstm_net = caffe.Net(files["word_to_preds"], caffe.TEST)
    _copy_params(net, image_net)
    _copy_params(net, lstm_net)

    def features(images):
        out = []
        for i in range(0, len(images), N):
            batch = preprocess(images[i:i + N])
            image_net.blobs["data"].reshape(*batch.shape)
            image_net.forward(data=batch)
            out.append(image_net.blobs["feature"].data.copy())
        return np.concatenate(out)

    f_train, f_test = features(train_images), features(test_images)
    cap = Captioner(lstm_net)
    refs = {i: caps for i, caps in enumerate(test_refs)}
    generated = {"greedy": cap.caption(f_test), "beam 3": cap.beam_search(f_test, 3, max_length=T * 2)[0]}
    nearest = nearest_neighbours(f_train, f_test)
    results = {"config": {"train_images": n_train, "test_images": n_test, "iterations": iters, "hidden": hidden,
                          "vocabulary": V, "seed": seed, "quick": quick},
               "final_loss": float(np.mean(losses[-50:])), "captioning": {}}
    texts = {name: {i: C.sentence(c, vocab) for i, c in enumerate(caps)} for name, caps in generated.items()}
    texts["1-NN"] = {i: train_refs[j][0] for i, j in enumerate(nearest)}
    for name, hyps in texts.items():
        results["captioning"][name] = score_captions(refs, hyps)

    # retrieval over the test set: every test caption against every test image
    flat = [C.encode(C.tokenize(c), index) for caps in test_refs for c in caps]
    results["retrieval"] = retrieval(cap, f_test, flat, np.repeat(np.arange(n_test), 5))
    results["examples"] = [{"image": i, "greedy": texts["greedy"][i], "beam 3": texts["beam 3"][i],
                            "1-NN": texts["1-NN"][i], "reference": test_refs[i][0]} for i in range(8)]
    results["seconds"] = time.perf_counter() - t0

    print(format_tables(results))
    with open(os.path.join(out_dir, "captioning_results.json"), "w") as f:
        json.dump(results, f, indent=1)
    contact_sheet(os.path.join(out_dir, "captioning_examples.png"), test_images[:12],
                  [texts["beam 3"][i] for i in range(12)], [test_refs[i][0] for i in range(12)])
    return results
