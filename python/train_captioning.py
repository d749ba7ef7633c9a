#!/usr/bin/env python
"""The released two-stage captioning training: stage 1 with the CNN frozen (from ImageNet CaffeNet weights),
then stage 2 fine-tuning every layer from stage 1's last snapshot. Run it in the folder that holds h5_data/
(from prepare_captions.py); solvers default to the shipped lrcn_caption_*solver.prototxt.

    python python/train_captioning.py --weights bvlc_reference_caffenet.caffemodel [--gpu 0]
"""
import argparse
import os
import sys

from lrcn_native.cli import main
from lrcn_native.proto.text import parse_file

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lrcn_native", "models")


def last_snapshot(solver):
    """The weights file a solver writes at its last iteration (relative to the solver's folder)."""
    sp = parse_file(solver)
    return f"{sp.str('snapshot_prefix')}_iter_{sp.int('max_iter')}.caffemodel"


def run(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="ImageNet CaffeNet weights for the CNN")
    p.add_argument("--solver", default=os.path.join(MODELS, "lrcn_caption_solver.prototxt"), help="stage 1 solver")
    p.add_argument("--finetune-solver", default=os.path.join(MODELS, "lrcn_caption_finetune_solver.prototxt"),
                   help="stage 2 solver")
    p.add_argument("--skip-stage1", action="store_true", help="start at stage 2 from --weights")
    p.add_argument("--gpu", default=None)
    args = p.parse_args(argv)
    gpu = ["--gpu", args.gpu] if args.gpu is not None else []
    weights = args.weights
    if not args.skip_stage1:
        rc = main(["train", "--solver", args.solver, "--weights", weights] + gpu)
        if rc:
            return rc
        weights = last_snapshot(args.solver)
    return main(["train", "--solver", args.finetune_solver, "--weights", weights] + gpu)


if __name__ == "__main__":
    sys.exit(run())
