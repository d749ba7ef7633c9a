"""Weight fillers: distributions (moments, ranges, fan-based scales), in-place float32 fills, seeding."""
import math

import numpy as np
import pytest

import lrcn_native as caffe
from lrcn_native.filler import fill
from lrcn_native.proto.text import parse

SHAPE = (200, 50, 3, 3)  # 90,000 draws: sample moments within ~1% (5 standard errors) of the true ones


def filled(text, shape=SHAPE, seed=1):
    caffe.set_random_seed(seed)
    a = np.full(shape, np.nan, np.float32)
    fill(a, parse(text))
    return a


def test_constant():
    np.testing.assert_array_equal(filled('type: "constant" value: 0.1'), np.float32(0.1))
    np.testing.assert_array_equal(filled(""), 0)  # Caffe's default filler


@pytest.mark.parametrize("text, lo, hi", [('type: "uniform" min: -0.08 max: 0.08', -0.08, 0.08),
                                          ('type: "uniform"', 0.0, 1.0),
                                          # xavier: ±sqrt(3 / fan_in), fan_in = 50·3·3
                                          ('type: "xavier"', -math.sqrt(3 / 450), math.sqrt(3 / 450))])
def test_uniform_kinds(text, lo, hi):
    a = filled(text).astype(np.float64)
    assert a.min() >= lo and a.max() <= hi
    width = hi - lo
    assert abs(a.mean() - (lo + hi) / 2) < 0.01 * width  # standard error of the mean ≈ 0.001·width
    assert abs(a.std() - width / math.sqrt(12)) < 0.01 * width


@pytest.mark.parametrize("text, mean, std", [('type: "gaussian" std: 0.01', 0.0, 0.01),
                                             ('type: "gaussian" mean: 2 std: 0.5', 2.0, 0.5),
                                             ('type: "msra"', 0.0, math.sqrt(2 / 450))])
def test_gaussian_kinds(text, mean, std):
    a = filled(text).astype(np.float64)
    assert abs(a.mean() - mean) < 0.02 * std  # standard error of the mean ≈ 0.0033·std
    assert abs(a.std() / std - 1) < 0.02


def test_sparse_gaussian_keeps_about_sparse_over_num_outputs():
    a = filled('type: "gaussian" std: 1 sparse: 50')  # p = 50 / 200
    assert abs((a != 0).mean() - 0.25) < 0.01


def test_seeded_fills_repeat_bit_for_bit_and_fill_in_place():
    a, b = filled('type: "gaussian" std: 0.01', seed=5), filled('type: "gaussian" std: 0.01', seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, filled('type: "gaussian" std: 0.01', seed=6))
    assert not np.isnan(a).any()  # every element written


def test_errors():
    with pytest.raises(ValueError, match="max -1.0 < min 0.0"):
        filled('type: "uniform" min: 0 max: -1')
    with pytest.raises(ValueError, match="unknown filler type 'gauss'"):
        filled('type: "gauss"')
