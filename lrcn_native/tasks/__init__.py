"""What drives a net for the paper's experiments: activity recognition (clip scoring, fusion), image and
video description (decoding, retrieval), and the ``lrcn demo`` built on them. Import submodules directly.
"""
