#!/usr/bin/env python
"""UCF-101 videos -> frames (JPEG), flow images and the split lists, in the layout the released LRCN code
reads (frames/<video>/<video>.%04d.jpg, flow_images/<video>/flow_image_<video>.%04d.jpg). Resumable,
parallel and shardable. The same as `lrcn prepare-ucf101`; see --help."""
import sys

from lrcn_native.cli import main

if __name__ == "__main__":
    sys.exit(main(["prepare-ucf101"] + sys.argv[1:]))
