"""The one definition of the fixed-point arithmetic shared by the golden model and ``hdl/``.

Every number in the hardware is a two's-complement integer with an implied binary point.
A value ``v`` in a format with ``f`` fraction bits is stored as the integer ``round(v * 2**f)``.

Formats (all derived from one :class:`FixedFormat`):

==============  =======================  =================================================
quantity        fraction bits            width
==============  =======================  =================================================
state E, D      ``frac``                 ``width``
coefficient C   ``frac + coef_extra``    ``width + coef_extra`` (register)
C as multiplied ``frac``                 ``width`` (``C >> coef_extra``: floor)
products        ``2 * frac``             ``2 * width`` (exact)
integral S, R   ``frac`` (times h)       ``acc_width`` (saturating)
atan table      see :mod:`golden.atan_table`
==============  =======================  =================================================

Rounding rule (:func:`round_shift`): add half an LSB, then arithmetic shift right (round half
up, towards +inf on ties). It costs one adder in hardware. Truncating shifts are written as
plain ``>>`` (floor) and are named as such where they are used.

Saturation (:func:`saturate`): clamp to ``[lo, hi]``; never wrap.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["FixedFormat", "DEFAULT_FORMAT", "round_shift", "saturate", "quantize"]


def round_shift(x, shift: int):
    """Multiply an integer (or int64 array) by ``2**-shift`` with round-half-up.

    ``shift <= 0`` is an exact left shift. This is the only rounding rule of the design.
    """
    shift = int(shift)
    if shift <= 0:
        if isinstance(x, np.ndarray):
            return x << np.int64(-shift)
        return int(x) << -shift
    if isinstance(x, np.ndarray):
        return (x + np.int64(1 << (shift - 1))) >> np.int64(shift)
    return (int(x) + (1 << (shift - 1))) >> shift


def saturate(x, lo: int, hi: int):
    """Clamp to ``[lo, hi]`` (the hardware's saturating adder)."""
    if isinstance(x, np.ndarray):
        return np.clip(x, lo, hi)
    return max(lo, min(hi, int(x)))


def quantize(value, frac: int, lo: int | None = None, hi: int | None = None):
    """Real value(s) to integer(s) with ``frac`` fraction bits, round half up, saturating."""
    q = np.floor(np.asarray(value, dtype=np.float64) * float(1 << frac) + 0.5).astype(np.int64)
    if lo is not None:
        q = np.clip(q, lo, hi)
    return q if q.ndim else int(q)


@dataclass(frozen=True)
class FixedFormat:
    """Fixed-point number format of the Wuxing hardware.

    Parameters
    ----------
    width:
        Bits of a state value E, a signal D and the multiplied coefficient (signed).
    frac:
        Fraction bits of E, D and C.
    coef_extra:
        Extra fraction bits kept in each coefficient register, so that small BSP updates
        accumulate; only the top ``width`` bits (floor) enter the multiplier.
    acc_width:
        Bits of the signal-integral accumulators S (forward) and R (reverse), saturating.
    """

    width: int = 16
    frac: int = 12
    coef_extra: int = 8
    acc_width: int = 24

    def __post_init__(self):
        for name in ("width", "frac", "coef_extra", "acc_width"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"FixedFormat.{name} must be an int, not {type(v).__name__}")
        if not 4 <= self.width <= 32:
            raise ValueError(f"FixedFormat.width must be in 4..32, not {self.width}")
        if not 1 <= self.frac < self.width:
            raise ValueError(f"FixedFormat.frac must be in 1..width-1, not {self.frac}")
        if not 0 <= self.coef_extra <= 16:
            raise ValueError(f"FixedFormat.coef_extra must be in 0..16, not {self.coef_extra}")
        if not self.width <= self.acc_width <= 31:
            # S * R must stay below 2**62 so the int64 golden model is exact.
            raise ValueError(f"FixedFormat.acc_width must be in width..31, not {self.acc_width}")

    # integer ranges -------------------------------------------------------------------
    @property
    def one(self) -> int:
        return 1 << self.frac

    @property
    def min_int(self) -> int:
        return -(1 << (self.width - 1))

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1

    @property
    def max_real(self) -> float:
        return self.max_int / self.one

    @property
    def min_real(self) -> float:
        return self.min_int / self.one

    @property
    def coef_frac(self) -> int:
        return self.frac + self.coef_extra

    @property
    def coef_width(self) -> int:
        return self.width + self.coef_extra

    @property
    def acc_min(self) -> int:
        return -(1 << (self.acc_width - 1))

    @property
    def acc_max(self) -> int:
        return (1 << (self.acc_width - 1)) - 1

    @property
    def lsb(self) -> float:
        return 1.0 / self.one

    def to_int(self, value, lo=None, hi=None):
        """Quantise a real state/signal value (round half up, saturate to the format)."""
        lo = self.min_int if lo is None else lo
        hi = self.max_int if hi is None else hi
        return quantize(value, self.frac, lo, hi)

    def to_real(self, value, frac: int | None = None):
        return np.asarray(value, dtype=np.float64) / float(1 << (self.frac if frac is None else frac))

    def coef_to_int(self, value):
        lim = 1 << (self.coef_width - 1)
        return quantize(value, self.coef_frac, -lim, lim - 1)

    def coef_mul_operand(self, c_reg):
        """The multiplier operand of a coefficient register: its top bits (floor)."""
        if isinstance(c_reg, np.ndarray):
            return c_reg >> np.int64(self.coef_extra)
        return int(c_reg) >> self.coef_extra

    def fits(self, value: float) -> bool:
        return self.min_real <= value <= self.max_real

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"Q{self.width - self.frac - 1}.{self.frac} ({self.width} bits, "
                f"LSB {self.lsb:.3g}, range [{self.min_real:g}, {self.max_real:.6g}]), "
                f"C register {self.coef_width} bits with {self.coef_frac} fraction bits, "
                f"integrals {self.acc_width} bits, round half up, saturating")


DEFAULT_FORMAT = FixedFormat()
