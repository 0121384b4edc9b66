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

Dithered rounding (``FixedFormat.reverse_dither``, on in :data:`LEARNING_FORMAT`): the one
exception to round half up. In the reverse run the Euler increment of every element is
``(acc + r) >> (F + k)`` instead of ``round_shift(acc, F + k)``, with a pseudo-random offset
``r`` uniform in ``[0, 2**(F + k))``: a force too small to move a state by one LSB then moves
it with the right probability instead of never, so the small reverse signals of deep layers
keep their mean (docs/TRAINING.md, "Fixed-point learning path"). ``r`` is a pure function of
values the hardware knows, independent of the order in which lanes visit the elements
(32-bit unsigned arithmetic, everything mod 2**32; :func:`wang32` is Thomas Wang's integer
hash, shifts, adds and xors only)::

    seed   = DITHER_SEED;  for each output k in order: seed = wang32(seed ^ err_k)
    r(t, n, e) = wang32(wang32(seed + t) ^ ((n << 3) | e))  &  (2**(F + k) - 1)

``err_k``: the run's error input of output neuron k (two's complement, mod 2**32), ``t``: the
Euler step (0 .. steps-1), ``n``: the global neuron index, ``e``: the element (0..4). The
forward run is never dithered (inference stays deterministic).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["FixedFormat", "DEFAULT_FORMAT", "LEARNING_FORMAT", "round_shift", "saturate",
           "quantize", "wang32", "DITHER_SEED", "dither_seed", "dither_offsets"]

DITHER_SEED = 0x9E3779B9
"""The fold of the reverse run's error vector starts here (any fixed 32-bit value)."""


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


def wang32(x):
    """Thomas Wang's 32-bit integer hash (``hash32shift``) of a uint32 array or an int::

        x = ~x + (x << 15);  x ^= x >> 12;  x += x << 2;  x ^= x >> 4
        x += (x << 3) + (x << 11);  x ^= x >> 16                     (all mod 2**32)
    """
    if not isinstance(x, np.ndarray):
        return int(wang32(np.array([int(x) & 0xFFFFFFFF], np.uint32))[0])
    x = x.astype(np.uint32, copy=True)
    y = np.left_shift(x, np.uint32(15))          # in place where possible: this runs on
    np.invert(x, out=x)                          # every reverse state at every step
    x += y
    x ^= np.right_shift(x, np.uint32(12), out=y)
    x += np.left_shift(x, np.uint32(2), out=y)
    x ^= np.right_shift(x, np.uint32(4), out=y)
    x *= np.uint32(2057)                         # = x + (x << 3) + (x << 11) mod 2**32
    x ^= np.right_shift(x, np.uint32(16), out=y)
    return x


def dither_seed(err_int) -> np.ndarray:
    """Per sample, the seed of its reverse run's dither: the error vector folded through
    :func:`wang32` (module docstring). ``err_int`` (batch, n_outputs) -> (batch,) uint32."""
    err = np.asarray(err_int, np.int64)
    h = np.full(err.shape[0], DITHER_SEED, np.uint32)
    for col in err.T:
        h = wang32(h ^ (col & 0xFFFFFFFF).astype(np.uint32))
    return h


def dither_offsets(seed, t: int, index, bits: int) -> np.ndarray:
    """``r`` of step ``t`` for every element ``index`` (uint32, ``(n << 3) | e``) and sample
    ``seed`` (uint32): a uint32 array (len(index), len(seed)) of values in ``[0, 2**bits)``."""
    if not 0 <= bits <= 32:
        raise ValueError(f"dither bits must be in 0..32, got {bits}")
    step = wang32(np.asarray(seed, np.uint32) + np.uint32(t & 0xFFFFFFFF))
    r = wang32(np.asarray(index, np.uint32)[:, None] ^ step[None, :])
    if bits < 32:
        r &= np.uint32((1 << bits) - 1)
    return r


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
    reverse_dither:
        Round the reverse run's Euler increments with the dither of the module docstring
        instead of half an LSB (off by default; on in :data:`LEARNING_FORMAT`).
    """

    width: int = 16
    frac: int = 12
    coef_extra: int = 8
    acc_width: int = 24
    reverse_dither: bool = False

    def __post_init__(self):
        for name in ("width", "frac", "coef_extra", "acc_width"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"FixedFormat.{name} must be an int, not {type(v).__name__}")
        if not isinstance(self.reverse_dither, bool):
            raise TypeError(f"FixedFormat.reverse_dither must be a bool, not "
                            f"{type(self.reverse_dither).__name__}")
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
        """The fields; ``reverse_dither`` only when on, so that the dict (and the design
        hashes and checkpoints built from it) of a format without it is the same as before
        the field existed."""
        d = asdict(self)
        if not self.reverse_dither:
            del d["reverse_dither"]
        return d

    def describe(self) -> str:
        return (f"Q{self.width - self.frac - 1}.{self.frac} ({self.width} bits, "
                f"LSB {self.lsb:.3g}, range [{self.min_real:g}, {self.max_real:.6g}]), "
                f"C register {self.coef_width} bits with {self.coef_frac} fraction bits, "
                f"integrals {self.acc_width} bits, round half up"
                f"{' (reverse Euler increments dithered)' if self.reverse_dither else ''}, "
                f"saturating")


DEFAULT_FORMAT = FixedFormat()
"""The format of the existing gateware: Q3.12, round half up everywhere."""

LEARNING_FORMAT = FixedFormat(reverse_dither=True)
"""The fixed-point learning path chosen in issue #11 (docs/TRAINING.md, "Fixed-point learning
path"): :data:`DEFAULT_FORMAT` with the reverse run's Euler increments dithered. Forward runs
and the BSP update are the same integers as in :data:`DEFAULT_FORMAT`."""
