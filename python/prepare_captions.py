#!/usr/bin/env python
"""Captions (COCO captions_*.json, a Karpathy-split dataset_*.json or Flickr30k's token file) → vocabulary.txt
and the HDF5 sentence streams + image lists per split, laid out as the released coco_to_hdf5_data.py writes
them. The same as `lrcn prepare-captions`; see --help."""
import sys

from lrcn_native.cli import main

if __name__ == "__main__":
    sys.exit(main(["prepare-captions"] + sys.argv[1:]))
