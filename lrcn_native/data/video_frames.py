"""A video's frames on disk in the released LRCN layout: ``<root>/<video>/<name>.%04d.jpg``.

RGB frames are ``<video>.0001.jpg`` ... (1-based, from extract_frames.sh); the released flow script wrote
``flow_image_<video>.0002.jpg`` ... into their own root (one fewer per video: no flow for frame 1). As the
released sequence_input_layer.py, a folder's file name prefix is whatever its JPEGs share, so both layouts
(and a flow folder numbered from 1) read the same way.
"""
import os
import re

_FRAME = re.compile(r"^(?P<prefix>.+)\.(?P<number>\d+)\.jpg$")


class VideoFrames:
    """The frames of one video folder: ``count`` frames numbered ``first`` .. ``first + count - 1``;
    ``path(k)`` is frame number k's file. Raises ValueError (naming the folder) when the folder is
    missing, holds no ``<prefix>.NNNN.jpg`` files, mixes prefixes or skips a number."""

    def __init__(self, folder):
        self.folder = folder
        try:
            names = os.listdir(folder)
        except OSError as e:
            raise ValueError(f"cannot list the frames folder '{folder}': {e.strerror}") from None
        numbers, prefixes = [], set()
        for name in names:
            m = _FRAME.match(name)
            if m:
                prefixes.add(m["prefix"])
                numbers.append(int(m["number"]))
        if not numbers:
            raise ValueError(f"no frames named <video>.NNNN.jpg in '{folder}'")
        if len(prefixes) > 1:
            raise ValueError(f"frames with different names in '{folder}': {sorted(prefixes)[:3]}")
        numbers.sort()
        self.prefix, self.first, self.count = prefixes.pop(), numbers[0], len(numbers)
        if numbers[-1] - numbers[0] + 1 != len(numbers):
            missing = sorted(set(range(numbers[0], numbers[-1] + 1)) - set(numbers))
            raise ValueError(f"frames missing in '{folder}': numbers {missing[:5]} of {numbers[0]}..{numbers[-1]}")

    @property
    def last(self):
        return self.first + self.count - 1

    def path(self, number):
        return os.path.join(self.folder, f"{self.prefix}.{number:04d}.jpg")
