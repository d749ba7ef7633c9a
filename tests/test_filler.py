"""Caffe's fillers: exact formulas (constant, bilinear, positive_unitball), distribution moments
(uniform, gaussian, xavier, msra with each variance_norm), sparsity, seeding and errors."""
import math

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.filler import fill
from lrcn_native.proto.text import PrototxtError, parse


def filled(text, shape, seed=0):
    caffe.set_random_seed(seed)
    a = np.empty(shape, np.float32)
    fill(a, parse(text))
    return a


def test_constant_and_default():
    assert (filled('type: "constant" value: 2.5', (3, 4)) == 2.5).all()
    assert (filled("", (2,)) == 0).all()  # FillerParameter's default: constant 0


def test_uniform_range_and_moments():
    a = filled('type: "uniform" min: -0.08 max: 0.08', (200, 500))
    assert a.min() >= -0.08 and a.max() <= 0.08
    assert abs(a.mean()) < 5 * 0.08 / math.sqrt(3 * a.size)  # 5σ of the mean of U(-a, a)


@pytest.mark.parametrize("norm, n", [("FAN_IN", 40 * 9), ("FAN_OUT", 64 * 9), ("AVERAGE", (40 + 64) * 9 / 2)])
def test_xavier_and_msra_scales(norm, n):
    shape = (64, 40, 3, 3)  # fan_in = count/64 = 360, fan_out = count/40 = 576
    x = filled(f'type: "xavier" variance_norm: {norm}', shape)
    assert np.abs(x).max() <= math.sqrt(3 / n) + 1e-7
    assert abs(x.var() - 1 / n) < 0.05 / n  # var of U(-√(3/n), √(3/n)) is 1/n; 23k samples: ~1% error
    m = filled(f'type: "msra" variance_norm: {norm}', shape)
    assert abs(m.std() - math.sqrt(2 / n)) < 0.03 * math.sqrt(2 / n)


def test_gaussian_and_sparse():
    g = filled('type: "gaussian" mean: 1 std: 0.5', (300, 300))
    assert abs(g.mean() - 1) < 0.01 and abs(g.std() - 0.5) < 0.01
    s = filled('type: "gaussian" std: 1 sparse: 10', (100, 1000))
    assert abs((s != 0).mean() - 10 / 100) < 0.01  # kept with probability sparse / num_outputs


def test_positive_unitball_rows_sum_to_one():
    a = filled('type: "positive_unitball"', (5, 2, 3))
    assert (a >= 0).all()
    np.testing.assert_allclose(a.reshape(5, -1).sum(1), 1, rtol=1e-6)


def test_bilinear_kernel():
    a = filled('type: "bilinear"', (2, 1, 4, 4))
    # f = 2, c = (2f − 1 − f mod 2)/(2f) = 0.75; weights 1 − |x/f − c| for x = 0..3
    w = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
    np.testing.assert_allclose(a[1, 0], np.outer(w, w))


def test_seed_reproducibility():
    a = filled('type: "gaussian"', (10,), seed=5)
    b = filled('type: "gaussian"', (10,), seed=5)
    c = filled('type: "gaussian"', (10,), seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_errors():
    with pytest.raises(PrototxtError, match="unknown filler type 'nope'"):
        filled('type: "nope"', (2,))
    with pytest.raises(PrototxtError, match="max"):
        filled('type: "uniform" min: 1 max: 0', (2,))
    with pytest.raises(PrototxtError, match="bilinear"):
        filled('type: "bilinear"', (2, 3))


@pytest.mark.parametrize("text, match", [
    ('type: "uniform" min: nan', "needs min <= max"),
    ('type: "uniform" max: nan', "needs min <= max"),
    ('type: "gaussian" std: 0', "std must be > 0"),
    ('type: "gaussian" std: nan', "std must be > 0"),
    ('type: "gaussian" sparse: -2', "sparse -2 is not supported"),
    ('type: "xavier" sparse: 1', "sparse 1 is not supported"),
    ('type: "constant" sparse: 0', "sparse 0 is not supported"),
])
def test_filler_parameters_caffe_rejects(text, match):
    with pytest.raises(PrototxtError, match=match):
        filled(text, (2, 3))
