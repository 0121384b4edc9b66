"""Constants and arithmetic helpers of the hardware, all taken from :mod:`golden`.

Nothing numeric is defined here: :func:`hw_constants` builds a golden
:class:`~golden.network.FixedModel` on a minimal topology and reads the quantised constants
(state range, K, B0, C clamps, BSP shifts) from it; the expression helpers implement
:func:`golden.fixedpoint.round_shift` and :func:`golden.fixedpoint.saturate` as Amaranth
expressions (same rule: add half an LSB, arithmetic shift right; clamp, never wrap).
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Const, Mux

from wuxing.golden.atan_table import DEFAULT_TABLE, AtanTable
from wuxing.golden.config import RunConfig, power_of_two_exponent
from wuxing.golden.fixedpoint import DEFAULT_FORMAT, FixedFormat
from wuxing.golden.network import FixedModel
from wuxing.golden.neuron import MODEL1_NEURON, NeuronParams
from wuxing.golden.topology import Topology

__all__ = ["HwConstants", "hw_constants", "round_shift_expr", "saturate_expr", "less_than_const",
           "greater_than_const", "check_types"]


@dataclass(frozen=True)
class HwConstants:
    """The integers the hardware is built from (all from the golden FixedModel)."""

    fmt: FixedFormat
    table: AtanTable
    cfg: RunConfig
    neuron: NeuronParams
    h_shift: int
    lo: int
    hi: int
    c_lo: int
    c_hi: int
    k_int: dict      # reverse(bool) -> (k1, k2, k3), each five ints, as each element sees them
    k_own: tuple     # (k1, k2, k3) in the neuron's own element order (the forward K)
    b0_int: dict     # reverse(bool) -> five ints
    src: dict        # reverse(bool) -> element read by the linear term, per element
    partner: dict    # reverse(bool) -> element of the quadratic term, per element
    k1_index: dict   # reverse(bool) -> which own K1 each element uses
    k3_index: dict
    bsp_shift_in: int
    bsp_shift_out: int
    max_abs_d: int   # the largest |D| a clamped state can give
    # learning on the chip (golden FixedModel; docs/HARDWARE.md "Learning on the chip")
    step_exp: int                     # the RunConfig's BSP step 2**step_exp (register reset)
    shift_out_limits: tuple           # FixedModel.bsp_shift_out_limits()
    output_scale: tuple               # (M, s): y = round_shift(S * M, s)
    err_exp: int                      # err_scale = 2**err_exp
    target_int: int                   # to_int(cfg.target)
    pixel_table: tuple                # FixedModel.pixel_table: input integer of pixels 0..255

    @property
    def d_width(self) -> int:
        return self.fmt.width + 1


def check_types(**kw):
    """TypeError unless each value is an instance of the given type: name=(value, type)."""
    for name, (value, typ) in kw.items():
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            tname = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise TypeError(f"{name} must be a {tname}, not {type(value).__name__}")


def hw_constants(cfg: RunConfig = RunConfig(), neuron: NeuronParams = MODEL1_NEURON,
                 fmt: FixedFormat = DEFAULT_FORMAT, table: AtanTable = DEFAULT_TABLE,
                 h: float | None = None) -> HwConstants:
    """Validate the settings for hardware and return its constants.

    ``h`` overrides ``cfg.h_shift`` (it must be a power of two ``2**-k``, ``0 <= k <= 12``).
    Raises ValueError for a format too narrow for B0, the state range or the C range, and for an
    integral that could overflow its ``acc_width`` bits in ``cfg.steps`` steps.
    """
    check_types(cfg=(cfg, RunConfig), neuron=(neuron, NeuronParams), fmt=(fmt, FixedFormat),
                table=(table, AtanTable))
    if h is not None:
        if isinstance(h, bool) or not isinstance(h, (int, float)):
            raise TypeError(f"h must be a number, not {type(h).__name__}")
        e = power_of_two_exponent(float(h), "h")
        if not -12 <= e <= 0:
            raise ValueError(f"h must be 2**-k with k in 0..12, got {h}")
        cfg = cfg.replace(h_shift=-e)
    for r in (False, True):
        b0 = neuron.fixed_point(r)
        for i, v in enumerate(b0):
            if not fmt.fits(float(v)):
                raise ValueError(f"B0 of element {i} ({v:g}) does not fit {fmt.describe()}")
    for k_name in ("k1", "k2", "k3"):
        for v in getattr(neuron, k_name):
            if not fmt.fits(v):
                raise ValueError(f"{k_name.upper()}={v:g} does not fit {fmt.describe()}")
    # FixedModel checks the state and C ranges against the format (ValueError naming them)
    model = FixedModel(Topology(layers=(1, 1)), cfg, neuron, fmt, table)
    b0 = {r: tuple(int(v) for v in model.b0_int[r]) for r in (False, True)}
    max_abs_d = max(max(model.hi - b, b - model.lo) for r in (False, True) for b in b0[r])
    if cfg.steps * max_abs_d > fmt.acc_max:
        raise ValueError(
            f"an integral can overflow: {cfg.steps} steps x |D| up to {max_abs_d} exceeds the "
            f"{fmt.acc_width}-bit integral range ({fmt.acc_max}); use fewer steps or a wider "
            f"acc_width")
    s_in, s_out = model.bsp_shifts(1)
    offs = {r: neuron.offsets(r) for r in (False, True)}
    return HwConstants(
        fmt=fmt, table=table, cfg=cfg, neuron=neuron, h_shift=cfg.h_shift,
        lo=int(model.lo), hi=int(model.hi), c_lo=int(model.c_lo), c_hi=int(model.c_hi),
        k_int={r: tuple(tuple(int(v) for v in k) for k in model.k_int[r]) for r in (False, True)},
        k_own=tuple(tuple(int(v) for v in fmt.to_int(list(getattr(neuron, n))))
                    for n in ("k1", "k2", "k3")),
        b0_int=b0,
        src={r: tuple(int(v) for v in offs[r][0]) for r in (False, True)},
        partner={r: tuple(int(v) for v in offs[r][2]) for r in (False, True)},
        k1_index={r: tuple(int(v) for v in offs[r][1]) for r in (False, True)},
        k3_index={r: tuple(int(v) for v in offs[r][3]) for r in (False, True)},
        bsp_shift_in=int(s_in), bsp_shift_out=int(s_out), max_abs_d=int(max_abs_d),
        step_exp=int(model.step_exp),
        shift_out_limits=tuple(int(v) for v in model.bsp_shift_out_limits()),
        output_scale=tuple(int(v) for v in model.output_scale), err_exp=int(model.err_exp),
        target_int=int(model.target_int),
        pixel_table=tuple(int(v) for v in model.pixel_table))


def round_shift_expr(x, shift: int):
    """``golden.fixedpoint.round_shift`` as an expression: ``(x + 2**(shift-1)) >> shift``.

    ``x`` must be signed (``>>`` is then arithmetic); ``shift <= 0`` is an exact left shift.
    """
    if shift <= 0:
        return x << -shift
    return (x + (1 << (shift - 1))) >> shift


def saturate_expr(x, lo: int, hi: int):
    """(value, clamped) of ``golden.fixedpoint.saturate``: clamp to ``[lo, hi]``.

    The comparisons are :func:`less_than_const` and :func:`greater_than_const` (narrow ones:
    on the iCE40 a compare is a carry chain as wide as its operands)."""
    below, above = less_than_const(x, lo), greater_than_const(x, hi)
    return Mux(below, lo, Mux(above, hi, x)), below | above


def _range(x) -> tuple[int, int]:
    w = len(x)
    return (-(1 << (w - 1)), (1 << (w - 1)) - 1) if x.shape().signed else (0, (1 << w) - 1)


def _trailing_zeros(c: int) -> int:
    return (c & -c).bit_length() - 1 if c else 0


def less_than_const(x, c: int):
    """``x < c`` for a constant ``c``, on as few bits as the constant needs: with ``c = a *
    2**k``, ``x < c`` is ``(x >> k) < a`` (floor shift), and a value wider than ``a`` needs
    is below it exactly when its sign is set and its top bits are not a sign extension."""
    signed, w = x.shape().signed, len(x)
    lo, hi = _range(x)
    if c <= lo:
        return Const(0, 1)
    if c > hi:
        return Const(1, 1)
    if c == 0:
        return x[w - 1] if signed else Const(0, 1)
    k = _trailing_zeros(c)
    if k:
        x, c, w = x[k:], c >> k, w - k
        x = x.as_signed() if signed else x
    if not signed:
        if w > c.bit_length():
            return ~x[c.bit_length():].any() & (x[:c.bit_length()] < c)
        return x < c
    m = max(c.bit_length(), (-c - 1).bit_length()) + 1   # signed bits that hold c
    if w > m:
        top = x[m - 1:]
        fits = top.all() | ~top.any()
        return Mux(fits, x[:m].as_signed() < c, x[w - 1])
    return x < c


def greater_than_const(x, c: int):
    """``x > c`` for a constant ``c``: ``not x < c + 1``, or when ``c`` has more trailing
    zeros than ``c + 1`` (``c = a * 2**k``), ``(x >> k) > a``, or ``== a`` with a low bit
    set (:func:`less_than_const`'s narrowing)."""
    lo, hi = _range(x)
    if c >= hi:
        return Const(0, 1)
    if c < lo:
        return Const(1, 1)
    k = _trailing_zeros(c)
    if c == 0 or k <= _trailing_zeros(c + 1):
        return ~less_than_const(x, c + 1)
    high = x[k:].as_signed() if x.shape().signed else x[k:]
    return ~less_than_const(high, (c >> k) + 1) | ((high == (c >> k)) & x[:k].any())

