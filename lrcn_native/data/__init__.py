"""Experiment data: video decoding, optical flow, clip sampling, captions and vocabularies, HDF5 streams.

Import the submodules directly (``from lrcn_native.data import video``); nothing is re-exported here so
that optional dependencies (PyAV, OpenCV) load only when used.
"""
