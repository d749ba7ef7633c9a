#!/usr/bin/env python
"""Draw a net's prototxt as a graph, as pycaffe's python/draw_net.py (needs pydot and Graphviz's dot):

    python python/draw_net.py deploy.prototxt net.png [--rankdir TB] [--phase TRAIN] [--display_lrm]
"""
import argparse
import sys

from lrcn_native import draw

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    draw.add_arguments(parser)
    sys.exit(draw.run(parser.parse_args()))
