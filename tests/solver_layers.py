"""Python layers for the solver tests: a data layer that walks a generated dataset in order (with
data_state/set_data_state, and noise drawn from lrcn_native's generator, so an exact resume must restore
both), and a layer that injects a NaN at a chosen forward or backward call."""
import json

import numpy as np

import lrcn_native as caffe
from lrcn_native import mode

HOOK = None  # called as HOOK(layer) at every Batches forward, when set by a test


class Batches(caffe.Layer):
    """Tops x (n × d) and label (n): rows pos..pos+n of a fixed dataset (cyclic) plus noise·N(0,1) from
    lrcn_native's generator. param_str: JSON {n, d, total, seed, noise, classes}."""

    def setup(self, bottom, top):
        p = json.loads(self.param_str)
        self.n, self.noise = p["n"], p.get("noise", 0.0)
        rng = np.random.default_rng(p.get("seed", 0))
        self.x = rng.standard_normal((p["total"], p["d"])).astype(np.float32)
        self.label = rng.integers(0, p.get("classes", 2), p["total"]).astype(np.float32)
        self.pos = 0

    def reshape(self, bottom, top):
        top[0].reshape(self.n, self.x.shape[1])
        if len(top) > 1:
            top[1].reshape(self.n)

    def forward(self, bottom, top):
        rows = (self.pos + np.arange(self.n)) % len(self.x)
        noise = mode.rng().standard_normal((self.n, self.x.shape[1])).astype(np.float32) if self.noise else 0
        top[0].data[...] = self.x[rows] + np.float32(self.noise) * noise
        if len(top) > 1:
            top[1].data[...] = self.label[rows]
        self.pos = (self.pos + self.n) % len(self.x)
        if HOOK is not None:
            HOOK(self)

    def backward(self, top, propagate_down, bottom):
        pass

    def data_state(self):
        return {"pos": self.pos}

    def set_data_state(self, state):
        self.pos = state["pos"]


class Poison(caffe.Layer):
    """Identity that writes a NaN into its top at forward call k (param_str "forward k") or into its bottom
    diff at backward call k ("backward k"), counting from 0."""

    def setup(self, bottom, top):
        self.where, k = self.param_str.split()
        self.k, self.calls = int(k), {"forward": 0, "backward": 0}

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].shape)

    def forward(self, bottom, top):
        top[0].data[...] = bottom[0].data
        if self.where == "forward" and self.calls["forward"] == self.k:
            top[0].data.reshape(-1)[0] = np.nan
        self.calls["forward"] += 1

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            bottom[0].diff[...] = top[0].diff
            if self.where == "backward" and self.calls["backward"] == self.k:
                bottom[0].diff.reshape(-1)[0] = np.inf
        self.calls["backward"] += 1


class Linear(caffe.Layer):
    """InnerProduct's semantics in numpy: top (n × k) = bottom (n × d) · Wᵀ + b, W (k × d) filled from
    lrcn_native's generator (uniform ±0.5), b = 0.1. param_str: k. Honours param_propagate_down and
    accumulates parameter diffs, as the solver expects of every layer."""

    def setup(self, bottom, top):
        k, d = int(self.param_str), bottom[0].shape[1]
        self.blobs.add_blob(k, d)
        self.blobs.add_blob(k)
        self.blobs[0].data[...] = mode.rng().uniform(-0.5, 0.5, (k, d))
        self.blobs[1].data[...] = 0.1

    def reshape(self, bottom, top):
        top[0].reshape(bottom[0].shape[0], self.blobs[0].shape[0])

    def forward(self, bottom, top):
        top[0].data[...] = bottom[0].data @ self.blobs[0].data.T + self.blobs[1].data

    def backward(self, top, propagate_down, bottom):
        if self.param_propagate_down[0]:
            self.blobs[0].diff[...] += top[0].diff.T @ bottom[0].data
        if self.param_propagate_down[1]:
            self.blobs[1].diff[...] += top[0].diff.sum(0)
        if propagate_down[0]:
            bottom[0].diff[...] = top[0].diff @ self.blobs[0].data


class EuclideanLoss(caffe.Layer):
    """Caffe's EuclideanLoss: top = Σ (a − b)² / (2n) over a batch of n; gradient into a only."""

    def reshape(self, bottom, top):
        top[0].reshape()

    def forward(self, bottom, top):
        d = bottom[0].data - bottom[1].data.reshape(bottom[0].shape)
        top[0].data[...] = np.float32((d.astype(np.float64) ** 2).sum() / (2 * bottom[0].shape[0]))

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            d = bottom[0].data - bottom[1].data.reshape(bottom[0].shape)
            bottom[0].diff[...] = d * (top[0].diff.reshape(-1)[0] / bottom[0].shape[0])
