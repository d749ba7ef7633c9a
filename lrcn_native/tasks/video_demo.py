"""The video description part of `lrcn demo` (the paper's Table 5 on embedded data): a deterministic
synthetic "kitchen" set, the three LSTM nets of tasks/video_description.py trained on the CPU from a
simulated CRF's output, decoded greedily and scored with BLEU-4 (and the other captioning metrics) beside a
template baseline.

Videos are tuples (person, verb, object, tool) drawn from the combinations that make sense (one cuts
bread with a knife, stirs soup with a spoon), each described by five sentences from a grammar with five
templates. The simulated CRF scores each slot: with probability ERROR[slot] its MAP label is wrong (a
random other label of the slot, with the true label second 80% of the time), and its confidence in the
MAP label is lower when it is wrong (uniform on [0.35, 0.6]) than when right ([0.45, 0.9]) without
separating the two. Both the nets and the baseline see the CRF output, never the true tuple, at training
and at test time. With the MAP tuple only, an impossible combination ("stir the bread with a knife")
does not say which slot is wrong; the marginals say which slot was unsure and what it would have said
next, so (c) can repair what (b) cannot.
"""
import json
import os
import random
import time

import numpy as np

from ..data import captions as C
from ..data import semantic as S
from ..fileio import atomic_write_text
from ..metrics.caption import score_captions
from . import video_description as V

PERSONS = ("man", "woman", "chef")
# verb: (third person, -ing form, objects it takes, tools it takes)
VERBS = {"cut": ("cuts", "cutting", ("cucumber", "carrot", "onion", "bread"), ("knife",)),
         "peel": ("peels", "peeling", ("cucumber", "carrot", "onion", "orange"), ("peeler",)),
         "wash": ("washes", "washing", ("cucumber", "carrot", "plate", "pot"), ("sponge", "brush")),
         "stir": ("stirs", "stirring", ("soup", "sauce", "eggs"), ("spoon", "whisk")),
         "pour": ("pours", "pouring", ("water", "milk", "oil"), ("cup", "bottle"))}
OBJECTS = sorted({o for v in VERBS.values() for o in v[2]})
TOOLS = sorted({t for v in VERBS.values() for t in v[3]})
SLOTS = [("person", list(PERSONS)), ("verb", list(VERBS)), ("object", OBJECTS), ("tool", TOOLS)]
TEMPLATES = ("the {p} {v3} the {o} with a {t}", "a {p} is {ving} the {o} using a {t}",
             "the {p} uses a {t} to {v} the {o}", "a {p} {v3} some {o} with the {t}",
             "the {p} is {ving} a {o} with a {t}")
ERROR = {"person": 0.2, "verb": 0.35, "object": 0.35, "tool": 0.35}   # P(MAP label wrong) per slot


def render(tup, template):
    p, v, o, t = tup
    return template.format(p=p, v=v, v3=VERBS[v][0], ving=VERBS[v][1], o=o, t=t).capitalize() + "."


def simulated_crf(truth, labels, error, rng):
    """One slot's CRF output → (MAP label index, probability vector)."""
    L = len(labels)
    k = labels.index(truth)
    others = [j for j in range(L) if j != k]
    wrong = rng.random() < error
    top = others[rng.integers(len(others))] if wrong else k
    p_top = rng.uniform(0.35, 0.6) if wrong else rng.uniform(0.45, 0.9)
    rest = [j for j in range(L) if j != top]
    second = k if wrong and rng.random() < 0.8 else rest[rng.integers(len(rest))]
    p = np.zeros(L)
    p[top] = p_top
    p[second] = (1 - p_top) * rng.uniform(0.6, 0.95) if second == k else (1 - p_top) * rng.uniform(0.2, 0.8)
    p[second] = min(p[second], p_top * 0.98)           # the MAP label stays the most probable
    left = [j for j in rest if j != second]
    p[left] = (1 - p.sum()) * rng.dirichlet(np.ones(len(left)))
    return top, p


def kitchen_set(n, seed):
    """n videos → (SemanticSet of the CRF's output with five reference sentences each, true tuples)."""
    rng, order = np.random.default_rng(seed), random.Random(seed)
    combos = [(v, o, t) for v, (_, _, objs, tools) in VERBS.items() for o in objs for t in tools]
    videos, truths = [], []
    for i in range(n):
        tup = (PERSONS[rng.integers(len(PERSONS))],) + combos[rng.integers(len(combos))]
        templates = list(TEMPLATES)
        order.shuffle(templates)
        labels, probs = {}, {}
        for (name, ls), truth in zip(SLOTS, tup):
            top, p = simulated_crf(truth, ls, ERROR[name], rng)
            labels[name], probs[name] = ls[top], p
        videos.append(S.make_video("kitchen", SLOTS, f"video{i}", labels, probs, [render(tup, t) for t in templates]))
        truths.append(tup)
    return S.SemanticSet(SLOTS, videos, "kitchen"), truths


def template_baseline(sset):
    """The MAP tuple through the first template → {video id: sentence}."""
    return {v.id: render(sset.tuple_words(v), TEMPLATES[0]) for v in sset.videos}


ROWS = [("template", "Template (MAP tuple)", "CRF max")] + [(a, V.TITLES[a], V.INPUTS[a]) for a in V.ARCHS]


def demo(out_dir, quick=False, seed=0):
    """Trains (a), (b), (c) on the kitchen set, decodes the test videos greedily and prints the Table 5
    shaped BLEU-4 table; writes video_results.json under ``out_dir`` and returns the results."""
    t0 = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    n_train, n_test, iters = (1500, 200, 1500) if quick else (3000, 500, 3000)
    T, N, hidden = 12, 50, 64
    train_set, _ = kitchen_set(n_train, seed)
    test_set, test_truth = kitchen_set(n_test, seed + 1)
    tokens = [[C.tokenize(s) for s in v.sentences] for v in train_set.videos]
    vocab = C.build_vocabulary(t for ts in tokens for t in ts)
    index = {w: i for i, w in enumerate(vocab)}
    word_ids = [[C.encode(t, index) for t in ts] for ts in tokens]
    V_size = len(vocab) + 1
    map_right = np.mean([w == t for v, tup in zip(test_set.videos, test_truth)
                         for w, t in zip(test_set.tuple_words(v), tup)])
    print(f"video description demo: {n_train} training / {n_test} test kitchen videos, vocabulary {V_size} "
          f"(with EOS), labels {train_set.dim}, 2-layer LSTMs of {hidden}, T={T} N={N}, {iters} iterations each; "
          f"simulated CRF: {100 * map_right:.1f}% of test MAP slots right")
    refs = V.references(test_set)
    hyps = {"template": template_baseline(test_set)}
    results = {"config": {"train_videos": n_train, "test_videos": n_test, "iterations": iters, "hidden": hidden,
                          "vocabulary": V_size, "labels": train_set.dim, "seed": seed, "quick": quick,
                          "crf_map_slot_accuracy": float(map_right)}, "final_loss": {}}
    for arch in V.ARCHS:
        solver, losses = V.train(arch, train_set, word_ids, V_size, out_dir, hidden, T, N, iters, seed, base_lr=0.01)
        results["final_loss"][arch] = float(np.mean(losses[-50:]))
        cap = V.captioner(arch, solver.net, V_size, train_set.dim, hidden, out_dir)
        hyps[arch] = V.describe(cap, arch, test_set, vocab, max_length=T * 2)
    results["scores"] = {k: score_captions(refs, h) for k, h in hyps.items()}
    results["examples"] = [{"video": v.id, "map_tuple": " ".join(test_set.tuple_words(v)),
                            "truth": " ".join(test_truth[i]), "reference": v.sentences[0],
                            **{k: hyps[k][v.id] for k in hyps}} for i, v in enumerate(test_set.videos[:8])]
    results["seconds"] = time.perf_counter() - t0
    print(V.format_table({k: s["BLEU-4"] for k, s in results["scores"].items()}, ROWS))
    for ex in results["examples"][:3]:
        print(f"  {ex['video']}: MAP tuple '{ex['map_tuple']}' (true '{ex['truth']}'): (b) {ex['crf_max']!r}, "
              f"(c) {ex['crf_prob']!r}")
    atomic_write_text(os.path.join(out_dir, "video_results.json"), json.dumps(results, indent=1))
    return results
