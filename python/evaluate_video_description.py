#!/usr/bin/env python
"""Describe the test videos that `lrcn prepare-tacos --out DATA` wrote with a trained net of Table 5 ((a)
encdec, (b) crf_max, (c) crf_prob) and score the sentences: BLEU-1..4, CIDEr-D, ROUGE-L; writes them as JSON.

    python python/evaluate_video_description.py --data tacos_data --arch crf_prob \\
        --weights tacos_data/video_crf_prob_iter_20000.caffemodel [--beam-size 3] [--json out.json]
"""
import argparse
import json
import sys

from lrcn_native.tasks import video_description as VD


def run(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="the folder prepare-tacos wrote")
    p.add_argument("--arch", required=True, choices=VD.ARCHS)
    p.add_argument("--weights", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--beam-size", type=int, default=1)
    p.add_argument("--json", help="write the scores and sentences here")
    args = p.parse_args(argv)
    out = VD.evaluate(args.data, args.arch, args.weights, args.split, args.beam_size)
    for name, value in out["scores"].items():
        print(f"{name}: {100 * value:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(run())
