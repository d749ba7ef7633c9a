#!/usr/bin/env python
"""Caption a test split with a trained LRCN and score it as the paper does: BLEU-1..4 (COCO-caption scorer),
CIDEr-D, ROUGE-L, optionally retrieval both ways (R@1/5/10, median rank) and the 1-nearest-neighbour caption
baseline; prints the tables and writes them (and the COCO results) as JSON.

    python python/evaluate_captioning.py --weights lrcn_finetune_iter_50000.caffemodel \\
        --vocab h5_data/vocabulary.txt --refs captions_val2014.json --images val2014/ \\
        [--features val_fc8.npy] [--beam-size 3] [--retrieval] \\
        [--train-refs captions_train2014.json --train-features train_fc8.npy] --out results/
"""
import argparse
import json
import os
import sys

import lrcn_native as caffe
from lrcn_native.data.captions import read_coco, read_vocabulary
from lrcn_native.tasks import captioning as T

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lrcn_native", "models")


def descriptors(args, caption_set, features):
    """fc8 descriptors of a split: from a cache file, else computed with the image net."""
    if features:
        x = T.read_features(features)
        if len(x) != len(caption_set.items):
            raise ValueError(f"{features}: {len(x)} descriptors for {len(caption_set.items)} images")
        return x
    image_net = caffe.Net(args.image_model, caffe.TEST, weights=args.weights)
    return T.image_descriptors(image_net, [p for _, p, _ in caption_set.items], batch=100)


def run(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", required=True)
    p.add_argument("--vocab", required=True)
    p.add_argument("--refs", required=True, help="COCO captions file of the test split")
    p.add_argument("--images", default="", help="image root of the test split")
    p.add_argument("--features", help="cached descriptors of the test images (in the captions file's order)")
    p.add_argument("--model", default=os.path.join(MODELS, "lrcn_word_to_preds.deploy.prototxt"))
    p.add_argument("--image-model", default=os.path.join(MODELS, "caffenet.prototxt"))
    p.add_argument("--beam-size", type=int, default=1)
    p.add_argument("--retrieval", action="store_true")
    p.add_argument("--train-refs", help="training captions for the 1-NN baseline")
    p.add_argument("--train-images", default="")
    p.add_argument("--train-features", help="cached descriptors of the training images")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--gpu", default=None)
    args = p.parse_args(argv)
    if args.gpu is not None:
        caffe.set_device(int(args.gpu))
        caffe.set_mode_gpu()
    test = read_coco(args.refs, args.images)
    feats = descriptors(args, test, args.features)
    baseline = None
    if args.train_refs:
        train = read_coco(args.train_refs, args.train_images)
        nearest = T.nearest_neighbours(descriptors(args, train, args.train_features), feats)
        baseline = {"1-NN": {i: train.items[j][2][0] for (i, _, _), j in zip(test.items, nearest)}}
    cap = T.Captioner(caffe.Net(args.model, caffe.TEST, weights=args.weights))
    results = T.evaluate(cap, feats, [(i, caps) for i, _, caps in test.items], read_vocabulary(args.vocab),
                         beam_size=args.beam_size, with_retrieval=args.retrieval, baseline=baseline)
    print(T.format_tables(results))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results.pop("results"), f)
    with open(os.path.join(args.out, "scores.json"), "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(run())
