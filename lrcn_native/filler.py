"""Caffe's weight fillers, drawing from the seeded generator of lrcn_native.set_random_seed.

Fan-in and fan-out follow Caffe: fan_in = count / shape[0], fan_out = count / shape[1] (for a
Convolution weight num_output × channels/group × kh × kw, and InnerProduct num_output × K).
"""
import math

import numpy as np

from . import mode

TYPES = ("constant", "uniform", "gaussian", "xavier", "msra", "positive_unitball", "bilinear")
_NORMS = ("FAN_IN", "FAN_OUT", "AVERAGE")


def _fan(shape, msg):
    count = int(np.prod(shape))
    fan_in = count / shape[0] if shape and shape[0] else 0
    fan_out = count / shape[1] if len(shape) > 1 and shape[1] else count
    norm = msg.enum("variance_norm", "FAN_IN", _NORMS)
    n = {"FAN_IN": fan_in, "FAN_OUT": fan_out, "AVERAGE": (fan_in + fan_out) / 2}[norm]
    if n <= 0:
        raise msg.error("type", f"filler '{msg.str('type')}' needs a blob with a non-empty fan ({shape})")
    return n


def _uniform(rng, array, lo, hi):
    """array (float32, C-contiguous) = uniform [lo, hi) draws, generated in float32 in place: a net of
    100M+ parameters fills in a fraction of the time float64 draws and two copies would take."""
    rng.random(out=array.reshape(-1), dtype=np.float32)
    array *= np.float32(hi - lo)
    array += np.float32(lo)


def _gaussian(rng, array, mean, std):
    rng.standard_normal(out=array.reshape(-1), dtype=np.float32)
    array *= np.float32(std)
    array += np.float32(mean)


def fill(array, msg):
    """Fills the float32 C-contiguous numpy ``array`` in place as the FillerParameter ``msg`` says."""
    kind = msg.str("type", "constant")
    rng = mode.rng()
    shape = array.shape
    # Caffe's checks: only the gaussian filler is sparse; draws need min <= max and std > 0 (NaN fails both).
    sparse = msg.int("sparse", -1)
    if sparse < -1 or (sparse != -1 and kind != "gaussian"):
        raise msg.error("sparse", f"{kind} filler: sparse {sparse} is not supported (only gaussian, sparse >= -1)")
    if kind == "constant":
        array[...] = msg.float("value", 0.0)
    elif kind == "uniform":
        lo, hi = msg.float("min", 0.0), msg.float("max", 1.0)
        if not lo <= hi:
            raise msg.error("max", f"uniform filler: needs min <= max, got min {lo}, max {hi}")
        _uniform(rng, array, lo, hi)
    elif kind == "gaussian":
        std = msg.float("std", 1.0)
        if not std > 0:
            raise msg.error("std", f"gaussian filler: std must be > 0, got {std}")
        _gaussian(rng, array, msg.float("mean", 0.0), std)
        if sparse >= 0:
            # Caffe: each weight is kept with probability sparse / num_outputs (num_outputs = shape[0]).
            if len(shape) < 1 or shape[0] == 0:
                raise msg.error("sparse", "sparse gaussian filler needs a blob with at least one axis")
            p = sparse / shape[0]
            array *= rng.random(shape, dtype=np.float32) < p
    elif kind == "xavier":
        scale = math.sqrt(3.0 / _fan(shape, msg))
        _uniform(rng, array, -scale, scale)
    elif kind == "msra":
        _gaussian(rng, array, 0.0, math.sqrt(2.0 / _fan(shape, msg)))
    elif kind == "positive_unitball":
        # Uniform [0, 1] then each row (all but the first axis) scaled to sum 1.
        values = rng.uniform(0.0, 1.0, shape).reshape(shape[0] if shape else 1, -1)
        values /= values.sum(axis=1, keepdims=True)
        array[...] = values.reshape(shape)
    elif kind == "bilinear":
        if len(shape) != 4 or shape[2] != shape[3]:
            raise msg.error("type", f"bilinear filler needs a 4-D blob with square kernels, got {shape}")
        k = shape[3]
        f = math.ceil(k / 2.0)
        c = (2 * f - 1 - f % 2) / (2.0 * f)
        x = np.arange(k)
        w = 1 - np.abs(x / f - c)
        array[...] = np.outer(w, w)[None, None]
    else:
        raise msg.error("type", f"unknown filler type '{kind}' (known: {', '.join(TYPES)})")
