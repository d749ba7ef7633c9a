"""`lrcn demo`: the paper's findings reproduced on embedded synthetic data, on a CPU.

Each part is a ``demo(out_dir, quick=False, seed=0) -> dict`` in its task module: it prints its own tables
and progress, writes its files under ``out_dir`` and returns its results. This driver runs the parts asked
for (all by default, in PARTS' order) and writes their results together as ``out_dir/results.json``.
Parts: activity recognition (issue 10), captioning (issue 11), video description (issue 12).
"""
import importlib
import json
import os
import time

from ..fileio import atomic_write_text

# part name -> ("module:function", what it shows); the module is imported when run, so one part's
# dependencies never load for another
PARTS = {
    "activity": ("lrcn_native.tasks.activity_demo:demo",
                 "Table 1: single frame vs LRCN on RGB and flow, late fusion"),
    "captioning": ("lrcn_native.tasks.captioning_demo:demo",
                   "Tables 2-4: LRCN captions, BLEU / CIDEr-D / ROUGE-L, retrieval R@K, 1-NN baseline"),
    "video": ("lrcn_native.tasks.video_demo:demo",
              "Table 5: video description from CRF outputs, encoder-decoder / CRF max / CRF prob"),
}


def run(parts=None, out_dir="lrcn_demo", quick=False, seed=0):
    """Runs ``parts`` (names from PARTS; all when empty) and returns {part: results}."""
    parts = list(parts or PARTS)
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"unknown demo part(s) {', '.join(unknown)} (known: {', '.join(PARTS)})")
    os.makedirs(out_dir, exist_ok=True)
    results = {"quick": quick, "seed": seed, "parts": {}}
    for name in parts:
        module, function = PARTS[name][0].split(":")
        t0 = time.perf_counter()
        part = getattr(importlib.import_module(module), function)(out_dir, quick=quick, seed=seed)
        results["parts"][name] = {"seconds": round(time.perf_counter() - t0, 1), **part}
        # written after every part, so an interrupted demo keeps what finished
        atomic_write_text(os.path.join(out_dir, "results.json"), json.dumps(results, indent=2))
    print(f"results: {os.path.join(out_dir, 'results.json')}")
    return results
