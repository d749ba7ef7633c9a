#!/usr/bin/env python
"""Score UCF-101 test videos with a released (or our) activity deploy net as the paper did, then fuse RGB
and flow (Table 1): the same as `lrcn evaluate-activity`.

    python python/evaluate_activity.py --list ucf101_split1_testVideos.txt --frames frames/ \\
        --model deploy_lstm.prototxt --weights RGB_lstm_model_iter_30000.caffemodel --scores rgb.npz
    python python/evaluate_activity.py --list ucf101_split1_testVideos.txt --frames flow_images/ --flow \\
        --model deploy_lstm.prototxt --weights flow_lstm_model_iter_50000.caffemodel --scores flow.npz
    python python/evaluate_activity.py --rgb-scores rgb.npz --flow-scores flow.npz --json table1.json
"""
import sys

from lrcn_native.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate-activity"] + sys.argv[1:]))
