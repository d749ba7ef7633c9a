"""A stand-in for the activity fork's Python data layer `sequence_input_layer` (LisaAnne/lisa-caffe-public,
examples/LRCN_activity_recognition), written as a pycaffe Python layer on lrcn_native.Layer so that the
original train_test_lstm_{RGB,flow}.prototxt build and run unchanged. The layer names, tops and layout are
the original's; the frames are synthetic, since the UCF-101 frames are not here.

Tops, N = buffer_size·frames clips-times-frames (T = frames = 16; 24 clips at TRAIN, 3 at TEST):
  data          N×3×227×227, **time-major**: frame t of clip n at row t·buffer_size + n; each image as the
                original's caffe.io.Transformer left it: [0, 1] RGB ×255, channels swapped to BGR, minus the
                mean (103.939, 116.779, 128.68: the released typo for 123.68) or 128 for flow
  label         N, the clip's 0-based class from ucf101_split1_{train,test}Videos.txt (clips in list order)
  clip_markers  N, 0 on every clip's first frame (t = 0), 1 elsewhere
Each clip is mirrored with probability ½ (flow: the x channel is also inverted, as caffe.io.flip_image
with is_flow). Frames: RGB is a coloured grating drifting by a per-clip velocity; flow is that velocity
encoded as the fork's flow images are, [x·16 + 128, y·16 + 128, |v|·16 + 128] / 255, plus a little noise.
"""
import os

import numpy as np

import lrcn_native as caffe
from util import ORIGINAL

LIST_DIR = ORIGINAL / "LRCN_activity_recognition"
SIZE = 227
RGB_MEAN = (103.939, 116.779, 128.68)  # B, G, R as the fork subtracted them
FLOW_MEAN = (128.0, 128.0, 128.0)


class videoRead(caffe.Layer):  # the original class names
    train = False
    flow = False
    buffer_size = 3  # clips per batch
    frames = 16      # T

    def setup(self, bottom, top):
        if len(bottom) != 0 or len(top) != 3:
            raise ValueError(f"{type(self).__name__} has no bottoms and 3 tops (data, label, clip_markers), got "
                             f"{len(bottom)} and {len(top)}")
        name = "ucf101_split1_trainVideos.txt" if self.train else "ucf101_split1_testVideos.txt"
        with open(os.path.join(LIST_DIR, name)) as f:
            self.labels = [int(line.split()[1]) for line in f if line.strip()]
        self.N = self.buffer_size * self.frames
        self.idx = 0
        self.rng = np.random.default_rng(10)  # the original seeds python's random with 10
        top[0].reshape(self.N, 3, SIZE, SIZE)
        top[1].reshape(self.N)
        top[2].reshape(self.N)

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        T, B = self.frames, self.buffer_size
        videos = [(self.idx + n) % len(self.labels) for n in range(B)]
        self.idx = (self.idx + B) % len(self.labels)
        data = top[0].data.reshape(T, B, 3, SIZE, SIZE)
        for n, v in enumerate(videos):
            data[:, n] = self._clip(v, T, mirror=bool(self.rng.integers(2)))
        top[1].data.reshape(T, B)[...] = np.array([self.labels[v] for v in videos], np.float32)
        markers = top[2].data.reshape(T, B)
        markers[...] = 1
        markers[0] = 0

    def _clip(self, video, T, mirror):
        """T×3×227×227 preprocessed frames (BGR, ×255, minus the mean) of one synthetic clip."""
        rng = np.random.default_rng(video)  # each video looks the same every time it is read
        velocity = rng.uniform(-3, 3, 2)     # pixels per frame
        t = np.arange(T, dtype=np.float32)[:, None, None]
        yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
        if self.flow:
            x = np.broadcast_to(velocity[0], (T, SIZE, SIZE))
            y = np.broadcast_to(velocity[1], (T, SIZE, SIZE))
            rgb = np.stack([x * 16 + 128, y * 16 + 128, np.broadcast_to(np.hypot(*velocity) * 16 + 128,
                                                                          (T, SIZE, SIZE))], 1) / 255
            rgb += rng.normal(0, 0.01, rgb.shape)
            mean = FLOW_MEAN
        else:
            freq = rng.uniform(0.02, 0.08, 2)
            phase = (xx[None] - velocity[0] * t) * freq[0] + (yy[None] - velocity[1] * t) * freq[1]
            colour = rng.uniform(0, 2 * np.pi, 3)
            rgb = 0.5 + 0.35 * np.sin(phase[:, None] + colour[None, :, None, None])  # T×3(RGB)×H×W
            mean = RGB_MEAN
        rgb = np.clip(rgb, 0, 1)
        if mirror:
            rgb = rgb[..., ::-1]
            if self.flow:
                rgb[:, 0] = 1 - rgb[:, 0]  # a mirrored flow image moves the other way in x
        return rgb[:, ::-1] * 255 - np.array(mean, np.float32)[None, :, None, None]  # RGB -> BGR


class videoReadTrain_RGB(videoRead):
    train, flow, buffer_size = True, False, 24


class videoReadTest_RGB(videoRead):
    train, flow, buffer_size = False, False, 3


class videoReadTrain_flow(videoRead):
    train, flow, buffer_size = True, True, 24


class videoReadTest_flow(videoRead):
    train, flow, buffer_size = False, True, 3
