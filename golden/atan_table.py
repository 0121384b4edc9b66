"""The bounded squash of Eq. 3.4, ``G2 = atan(kt * G1) / kt``, as a lookup table.

One definition, used by the fixed-point golden model and by the hardware's BSP unit:

* The table holds ``atan(x)`` for ``x`` in ``[0, 2**range_log2]`` at ``2**seg_log2`` segments
  per unit, ``entries = 2**(range_log2 + seg_log2) + 1`` values, each
  ``round_half_up(atan(i / 2**seg_log2) * 2**table_frac)``.
* Input and output are magnitudes with ``table_frac`` fraction bits; the sign is taken off
  before and put back after (atan is odd, so the squash stays exactly odd).
* Between entries: linear interpolation, ``y = t[i] + round_shift((t[i+1] - t[i]) * r,
  table_frac - seg_log2)`` with ``i`` the top bits of ``|x|`` and ``r`` the rest.
* Beyond the range the output holds the last entry (``atan(2**range_log2)``).

:func:`table_error` reports how far this is from ``np.arctan``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from .fixedpoint import round_shift

__all__ = ["AtanTable", "DEFAULT_TABLE", "table_error"]


@dataclass(frozen=True)
class AtanTable:
    """Parameters of the atan lookup table (see the module docstring for the definition)."""

    range_log2: int = 4
    seg_log2: int = 4
    table_frac: int = 16

    def __post_init__(self):
        if not 0 <= self.range_log2 <= 8:
            raise ValueError(f"AtanTable.range_log2 must be in 0..8, not {self.range_log2}")
        if not 0 <= self.seg_log2 <= self.table_frac:
            raise ValueError(f"AtanTable.seg_log2 must be in 0..table_frac, not {self.seg_log2}")

    @property
    def segments(self) -> int:
        return 1 << (self.range_log2 + self.seg_log2)

    @property
    def frac_bits(self) -> int:
        """Bits of ``|x|`` below the segment index (the interpolation weight)."""
        return self.table_frac - self.seg_log2

    @property
    def x_limit(self) -> int:
        """The integer ``|x|`` at and beyond which the output saturates."""
        return self.segments << self.frac_bits

    def entries(self) -> np.ndarray:
        return _entries(self.range_log2, self.seg_log2, self.table_frac)

    def lookup(self, x):
        """Squash integer(s) ``x`` (``table_frac`` fraction bits) to atan(x), same format."""
        t = self.entries()
        x = np.asarray(x, dtype=np.int64)
        mag = np.abs(x)
        sat = mag >= self.x_limit
        m = np.where(sat, 0, mag)
        idx = m >> np.int64(self.frac_bits)
        r = m & np.int64((1 << self.frac_bits) - 1)
        y = t[idx] + round_shift((t[idx + 1] - t[idx]) * r, self.frac_bits)
        y = np.where(sat, t[-1], y)
        y = np.where(x < 0, -y, y)
        return y if y.ndim else int(y)

    def as_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=None)
def _entries(range_log2: int, seg_log2: int, table_frac: int) -> np.ndarray:
    n = 1 << (range_log2 + seg_log2)
    xs = np.arange(n + 1, dtype=np.float64) / (1 << seg_log2)
    t = np.floor(np.arctan(xs) * (1 << table_frac) + 0.5).astype(np.int64)
    t.setflags(write=False)
    return t


DEFAULT_TABLE = AtanTable()


def table_error(table: AtanTable = DEFAULT_TABLE, samples: int = 200_001) -> dict:
    """Maximum absolute error of the table against ``np.arctan``, inside and beyond range."""
    one = 1 << table.table_frac
    lim = table.x_limit
    xs = np.unique(np.linspace(0, lim - 1, samples).astype(np.int64))
    err = np.abs(table.lookup(xs) / one - np.arctan(xs / one))
    beyond = float(np.pi / 2 - table.entries()[-1] / one)
    return {
        "max_abs_error_in_range": float(err.max()),
        "at_x": float(xs[int(err.argmax())] / one),
        "lsb": 1.0 / one,
        "saturation_error_beyond_range": beyond,
        "entries": int(table.segments + 1),
        "range": float(1 << table.range_log2),
    }
