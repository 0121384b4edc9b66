"""The atan lookup table of the BSP squash: accuracy, oddness, monotonicity, saturation."""
import math

import numpy as np
import pytest

from wuxing.golden.atan_table import DEFAULT_TABLE, AtanTable, table_error


def interpolation_bound(t: AtanTable) -> float:
    """Linear interpolation error h^2/8 max|atan''| (max at x = 1/sqrt 3: 3 sqrt 3 / 8)."""
    seg = 2.0 ** -t.seg_log2
    return seg * seg / 8 * (3 * math.sqrt(3) / 8)


@pytest.mark.parametrize("table", [DEFAULT_TABLE, AtanTable(4, 6, 16), AtanTable(3, 3, 12)],
                         ids=["default", "fine", "coarse"])
def test_table_error_within_bounds(table):
    e = table_error(table, samples=50_001)
    lsb = 2.0 ** -table.table_frac
    bound = interpolation_bound(table)
    # the entries round (half an LSB), interpolation rounds (half an LSB)
    assert e["max_abs_error_in_range"] <= bound + 1.5 * lsb
    assert e["max_abs_error_in_range"] >= 0.8 * bound        # the measure sees the curvature
    assert 0.3 < e["at_x"] < 1.2                              # where |atan''| is largest
    assert e["saturation_error_beyond_range"] == pytest.approx(
        math.pi / 2 - math.atan(2.0 ** table.range_log2), abs=lsb)
    assert e["entries"] == 2 ** (table.range_log2 + table.seg_log2) + 1


def test_default_table_figures():
    e = table_error()
    # measured 3.26e-4 (about 21 LSBs of 2**-16), at x = 0.593; beyond x = 16: 0.0624
    assert e["max_abs_error_in_range"] < 3.5e-4
    assert e["saturation_error_beyond_range"] < 0.063


def test_lookup_odd_monotonic_saturating():
    t = DEFAULT_TABLE
    lim = t.x_limit
    x = np.arange(-lim - 5000, lim + 5000, 7, dtype=np.int64)
    y = t.lookup(x)
    assert np.array_equal(t.lookup(-x), -y)                    # exactly odd
    assert t.lookup(0) == 0
    assert np.all(np.diff(y) >= 0)                             # monotonic
    last = int(t.entries()[-1])
    assert np.all(y[x >= lim] == last) and np.all(y[x <= -lim] == -last)
    assert t.lookup(lim - 1) <= last
    assert t.lookup(np.int64(1) << 40) == last                 # far beyond the range
    # on the entries themselves the table is exact
    one = 1 << t.table_frac
    for k in (0, 1, 16, 100, 255):
        xi = k << t.frac_bits
        assert t.lookup(xi) == round(math.atan(xi / one) * one)


def test_bad_table_parameters():
    with pytest.raises(ValueError, match="range_log2"):
        AtanTable(range_log2=9)
    with pytest.raises(ValueError, match="seg_log2"):
        AtanTable(seg_log2=17, table_frac=16)
