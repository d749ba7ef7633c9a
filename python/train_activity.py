#!/usr/bin/env python
"""The released activity-recognition training (run_singleFrame_*.sh, then run_lstm_*.sh): the single-frame
net fine-tuned from ImageNet weights of the hybrid CNN, then LRCN (fc6 or fc7) fine-tuned from the
single-frame net's last snapshot, on RGB frames or flow images. It runs in --data, the folder holding
frames/, flow_images/ and ucf101_split1_{train,test}Videos.txt (`lrcn prepare-ucf101`'s output), where the
snapshots go too; solvers default to the shipped lrcn_activity_*_solver.prototxt.

    python python/train_activity.py --weights hybrid_imagenet.caffemodel --data ucf101 [--input flow] [--gpu 0]
"""
import argparse
import os
import sys

from train_captioning import last_snapshot

from lrcn_native.cli import main

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lrcn_native", "models")


def run(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True, help="ImageNet weights of the CNN (or, with --skip-single-frame, "
                                                    "the single-frame net's)")
    p.add_argument("--data", default=".", help="folder with frames/, flow_images/ and the video lists")
    p.add_argument("--input", choices=("rgb", "flow"), default="rgb")
    p.add_argument("--model", choices=("fc6", "fc7", "single_frame"), default="fc6",
                   help="the net to end with (single_frame: stop after the first stage)")
    p.add_argument("--skip-single-frame", action="store_true", help="start LRCN from --weights")
    p.add_argument("--gpu", default=None)
    args = p.parse_args(argv)
    gpu = ["--gpu", args.gpu] if args.gpu is not None else []
    weights = os.path.abspath(args.weights)
    os.chdir(args.data)
    if not args.skip_single_frame:
        solver = os.path.join(MODELS, f"lrcn_activity_single_frame_{args.input}_solver.prototxt")
        rc = main(["train", "--solver", solver, "--weights", weights] + gpu)
        if rc or args.model == "single_frame":
            return rc
        weights = last_snapshot(solver)
    solver = os.path.join(MODELS, f"lrcn_activity_{args.model}_{args.input}_solver.prototxt")
    return main(["train", "--solver", solver, "--weights", weights] + gpu)


if __name__ == "__main__":
    sys.exit(run())
