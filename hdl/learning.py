"""Learning on the chip (issue #10): the parts every architecture shares.

Both networks (:class:`hdl.network.Network`, the unrolled one, and
:class:`hdl.engine.NetworkEngine`) serve TRAIN_SAMPLE and EVAL_SAMPLE with these parts
(docs/HARDWARE.md "Learning on the chip"; golden ``onchip.ChipTrainer`` defines the integers):

* :class:`ErrorUnit`: one output integral and "is this the label" in, the error integer of
  golden ``FixedModel.error_from_outputs`` out::

      y   = round_shift(S * M, s)                  (M, s) = FixedModel.output_scale
      err = sat(shift(target_int * onehot - y, e))

* :class:`ArgmaxCounter`: the output integrals one a clock; at ``finish`` the index of the
  largest (the lowest on ties: golden ``FixedModel.predict``) becomes ``predicted``,
  ``samples`` counts one and ``correct`` one if it equals the label. The host may set both
  counters.
* :class:`LearningRegisters`: the region-7 registers 13-19 (:data:`TRAIN_REGISTERS`), the
  argmax and counters, the batch fill and the shift of the step register.
* the hash of the learning format's reverse dither (golden ``fixedpoint.wang32``):
  :func:`wang32_stage`, :func:`wang32_expr`, :func:`sext32`;
* the BSP arithmetic of a batch (golden ``bsp_accumulate``, ``bsp_delta_from_accumulator``)
  as expressions, for any pipeline: :func:`accumulate_expr`, :func:`squash_expr`,
  :func:`shift_out_expr`.
"""
from __future__ import annotations

from typing import NamedTuple

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from wuxing.golden.network import BSP_ACC_BITS, BSP_ACC_MAX, BSP_ACC_MIN
from wuxing.golden.onchip import MAX_BATCH_LOG2

from .fixed import HwConstants, check_types, round_shift_expr, saturate_expr

__all__ = ["ErrorUnit", "ArgmaxCounter", "LearningRegisters", "TRAIN_REGISTERS",
           "shift_out_bits", "default_shift_out", "wang32_stage",
           "wang32_expr", "WANG32_STAGES", "sext32", "accumulate_expr", "squash_expr",
           "squash_half", "squash_round_expr", "squash_index_expr", "ShiftOutDecode",
           "shift_out_decode", "shift_out_round_expr", "shift_out_expr", "add_carry_in"]

TRAIN_REGISTERS = dict(batch_log2=13, step_exp=14, label=15, predicted=16, correct=17,
                       samples=18, batch_fill=19)
"""The region-7 (info) registers of on-chip learning: name -> index."""


def default_shift_out(hw: HwConstants) -> int:
    """The shift from the table output to C of the RunConfig's step (the step register's
    reset), clamped to ``hw.shift_out_limits`` (golden ``FixedModel.bsp_shift_out_limits``)."""
    lo, hi = hw.shift_out_limits
    return min(max(hw.bsp_shift_out, lo), hi)


def shift_out_bits(hw: HwConstants) -> int:
    """Bits of the signed shift from the table output to C (``hw.shift_out_limits`` (golden ``FixedModel.bsp_shift_out_limits``))."""
    lo, hi = hw.shift_out_limits
    return max(abs(lo), hi).bit_length() + 1


# -- the reverse dither's hash (golden.fixedpoint) ----------------------------------------------
WANG32_STAGES = 3


def wang32_stage(x, stage: int):
    """Part ``stage`` (0, 1, 2) of golden.fixedpoint.wang32 on a 32-bit unsigned value
    (one add and one xor-shift each; the third adds two shifted copies)."""
    if stage == 0:
        y = (~x + (x << 15))[:32]
        return y ^ (y >> 12)
    if stage == 1:
        y = (x + (x << 2))[:32]
        return y ^ (y >> 4)
    y = (x + (x << 3) + (x << 11))[:32]
    return y ^ (y >> 16)


def wang32_expr(m: Module, x, name: str):
    """golden.fixedpoint.wang32 of a 32-bit value, all stages in one (combinational) path."""
    for stage in range(WANG32_STAGES):
        y = Signal(32, name=f"{name}_{stage}")
        m.d.comb += y.eq(wang32_stage(x, stage))
        x = y
    return x


def sext32(value):
    """A signed value as 32 bits (two's complement, mod 2**32)."""
    if len(value) >= 32:
        return value[:32]
    return Cat(value, value[len(value) - 1].replicate(32 - len(value)))


# -- the BSP arithmetic of a batch ---------------------------------------------------------
def accumulate_expr(m: Module, hw: HwConstants, mag, neg, a_old, acc_mode, *,
                    half_in: bool = False):
    """``sat32(A + p)`` (``A`` = ``a_old`` when ``acc_mode``, else 0) of one sample's
    product ``P = S_src * R_dst`` given as ``mag`` = |P| and ``neg`` = P < 0:
    ``p = sign(P) * min(round_shift(|P|, shift_in), 2**31 - 1)`` (golden ``bsp_accumulate``).
    ``half_in``: ``mag`` already holds round_shift's half LSB (the BSP unit starts its sum of
    partial products there), so the round shift is a plain shift. A + (-p) is A + ~p + 1 on
    one adder."""
    s_in = hw.bsp_shift_in
    A = BSP_ACC_BITS
    xb = Signal(unsigned(len(mag) + max(0, -s_in)))
    if half_in:
        m.d.comb += xb.eq(mag >> s_in if s_in > 0 else mag << -s_in)
    else:
        m.d.comb += xb.eq(round_shift_expr(mag, s_in))
    p_mag = Signal(unsigned(A - 1))
    m.d.comb += p_mag.eq(Mux(xb[A - 1:].any(), BSP_ACC_MAX, xb[:A - 1]) if len(xb) >= A
                         else xb)
    base, p_s, addend = Signal(signed(A + 1)), Signal(signed(A)), Signal(signed(A + 1))
    m.d.comb += [base.eq(Mux(acc_mode, a_old, 0)), p_s.eq(p_mag),
                 addend.eq(Mux(neg, ~p_s, p_s))]
    a_sum = Signal(signed(A + 1))
    m.d.comb += a_sum.eq(add_carry_in(base, addend, neg))
    return Mux(a_sum[A] != a_sum[A - 1],     # beyond 32 bits: saturate
               Mux(a_sum[A], BSP_ACC_MIN, BSP_ACC_MAX), a_sum[:A])


def squash_expr(m: Module, hw: HwConstants, a, j):
    """The table input of an accumulator ``a`` over 2**j samples, ``x = round_shift(|a|, j)``,
    as ``(saturated, segment, weight)``: the table's last entry beyond ``x_limit``, else
    segment ``x >> frac_bits`` interpolated with weight ``x & (2**frac_bits - 1)``. In two
    parts for a pipeline: :func:`squash_round_expr` (the adder), :func:`squash_index_expr`
    (the shift by j)."""
    return squash_index_expr(m, hw, squash_round_expr(m, hw, a, squash_half(m, j)), j)


def squash_half(m: Module, j):
    """round_shift's half LSB of a shift by ``j``: ``2**j >> 1``."""
    half = Signal(unsigned(1 << len(j)))
    m.d.comb += half.eq(Const(1, len(half)) << j >> 1)
    return half


def squash_round_expr(m: Module, hw: HwConstants, a, half):
    """``|a| + half`` (``half``: :func:`squash_half`), ``|a| = (a ^ sign) + sign`` on the same
    adder: BSP_ACC_BITS + 1 bits."""
    A = BSP_ACC_BITS
    a_neg = Signal()
    m.d.comb += a_neg.eq(a[A - 1])
    rounded = Signal(unsigned(A + 1))
    m.d.comb += rounded.eq(add_carry_in(a.as_unsigned() ^ a_neg.replicate(A), half, a_neg))
    return rounded


def squash_index_expr(m: Module, hw: HwConstants, rounded, j):
    """``(saturated, segment, weight)`` of ``x = rounded >> j`` (``rounded`` from
    :func:`squash_round_expr`): the segment and weight are bits of x, and x >= x_limit (a
    power of two, 2**L) when a bit of ``rounded`` at L + j or above is set."""
    tab = hw.table
    L = tab.x_limit.bit_length() - 1
    assert tab.x_limit == 1 << L
    x = Signal(unsigned(L))
    m.d.comb += x.eq(rounded >> j)
    high = rounded[L:]
    over = Signal()          # a bit k >= j of high: the mask is a constant shifted by j
    m.d.comb += over.eq((high & (Const((1 << len(high)) - 1, len(high)) << j)[:len(high)])
                        .any())
    return (over, Mux(over, 0, x >> tab.frac_bits),
            Mux(over, 0, x[:tab.frac_bits]) if tab.frac_bits else 0)


class ShiftOutDecode(NamedTuple):
    """A signed shift ``sh`` decoded for :func:`shift_out_expr`: ``left`` (sh < 0), the
    distances right and left, round_shift's half LSB of the right shift."""
    left: object
    right: object
    left_by: object
    r_half: object


def shift_out_decode(m: Module, hw: HwConstants, sh, *, domain: str = "comb") -> ShiftOutDecode:
    """The decoding of a shift ``sh`` within ``hw.shift_out_limits``; ``domain="sync"``:
    registered (the BSP unit: the step register changes only between commands)."""
    lo_s, hi_s = hw.shift_out_limits
    dec = ShiftOutDecode(Signal(name="so_left", reset_less=True),
                         Signal(range(hi_s + 1), name="so_right", reset_less=True),
                         Signal(range(-lo_s + 1), name="so_left_by", reset_less=True),
                         Signal(unsigned(hi_s + 1), name="so_half", reset_less=True))
    sh_neg = sh[len(sh) - 1]
    right = Mux(sh_neg, 0, sh)
    m.d[domain] += [dec.left.eq(sh_neg), dec.right.eq(right), dec.left_by.eq(Mux(sh_neg, -sh, 0)),
                    dec.r_half.eq(Const(1, hi_s + 1) << right.as_unsigned()[:len(dec.right)] >> 1)]
    return dec


def shift_out_round_expr(m: Module, hw: HwConstants, y, dec: ShiftOutDecode):
    """``y + half`` of the right shift (``y >= 0``)."""
    _, hi_s = hw.shift_out_limits
    yu = y.as_unsigned() if y.shape().signed else y
    y_r = Signal(unsigned(max(len(yu), hi_s + 1) + 1))
    m.d.comb += y_r.eq(yu + dec.r_half)
    return y_r


def shift_out_expr(m: Module, hw: HwConstants, y, sh, y_width: int, *, capped: bool = False,
                   y_r=None):
    """``round_shift(y, sh)`` of a table output ``y >= 0`` (``y_width`` bits) by a signed
    shift signal ``sh`` within ``hw.shift_out_limits`` (golden ``FixedModel.bsp_shift_out_limits``) (left for ``sh < 0``): the magnitude
    of dC, signed, ``y_width - lo + 1`` bits. ``capped`` (the BSP unit): unsigned,
    ``coef_width + 1`` bits, capped at 2**coef_width: C + dC then clamps as the exact sum
    does, for any C of coef_width bits (golden clamps C to [c_lo, c_hi] within them).
    In a pipeline ``sh`` may be its :class:`ShiftOutDecode` (:func:`shift_out_decode`) and
    ``y_r`` the ``y + half`` of :func:`shift_out_round_expr`, both from earlier clocks."""
    fmt = hw.fmt
    lo_s, hi_s = hw.shift_out_limits
    yu = y.as_unsigned() if y.shape().signed else y      # y >= 0
    dec = sh if isinstance(sh, ShiftOutDecode) else shift_out_decode(m, hw, sh)
    if y_r is None:
        y_r = shift_out_round_expr(m, hw, yu, dec)
    if not capped:
        dC = Signal(signed(y_width - lo_s + 1))
        m.d.comb += dC.eq(Mux(dec.left, yu << dec.left_by, y_r >> dec.right))
        return dC
    D = fmt.coef_width + 1                 # bits of the capped magnitude
    cap = 1 << fmt.coef_width
    shifted_r = Signal(unsigned(D))
    m.d.comb += shifted_r.eq(y_r >> dec.right)
    shifted_l = Signal(unsigned(D))
    m.d.comb += shifted_l.eq(yu << dec.left_by)
    # y << left >= cap: a bit i of y with i + left >= coef_width (the mask: constant bits
    # coef_width.. shifted right by left). The constant is as wide as i + left can reach for
    # any value of the left_by signal, no wider: at 64 bits or fewer a simulator shifts it as
    # one machine word (a 66-bit one cost the 16-lane engine 4.5 % of its simulated clock)
    l_over = Signal()
    span = len(yu) + (1 << len(dec.left_by)) - 1
    over_mask = Const(((1 << span) - 1) ^ ((1 << min(fmt.coef_width, span)) - 1),
                      span) >> dec.left_by
    m.d.comb += l_over.eq((yu & over_mask[:len(yu)]).any())
    mag_d = Signal(unsigned(D))
    m.d.comb += mag_d.eq(Mux(dec.left, Mux(l_over, cap, shifted_l), shifted_r))
    return mag_d


def add_carry_in(a, b, cin):
    """``a + b + cin`` (``cin`` one bit) on one adder: ``(2a + cin) + (2b + cin)``, halved;
    the sum modulo 2**(the wider operand's width + 1), as unsigned bits."""
    w = max(len(a), len(b)) + 1
    sa = Cat(cin, a.as_unsigned() if len(a) == w - 1 else _ext(a, w - 1))
    sb = Cat(cin, b.as_unsigned() if len(b) == w - 1 else _ext(b, w - 1))
    return (sa + sb)[1:w + 1]


def _ext(v, width):
    """``v`` extended to ``width`` bits (sign-extended when signed), as unsigned bits."""
    if v.shape().signed:
        return Cat(v, v[len(v) - 1].replicate(width - len(v)))
    return Cat(v, Const(0, width - len(v)))


# -- the error, the argmax and the registers -----------------------------------------------
class ErrorUnit(wiring.Component):
    """``integral`` (in: an output integral), ``is_target`` (in: its output is the label) ->
    ``error`` (out, :attr:`latency` = 2 clocks later: golden ``error_from_outputs``'s
    integer). The product ``S * M`` is registered before the difference and saturation (on
    the ECP5 the whole chain in one clock was the critical path: 35.6 MHz)."""

    latency = 2

    def __init__(self, hw: HwConstants):
        check_types(hw=(hw, HwConstants))
        self.hw = hw
        super().__init__({"integral": In(signed(hw.fmt.acc_width)), "is_target": In(1),
                          "error": Out(signed(hw.fmt.width))})

    def elaborate(self, platform):
        m = Module()
        hw, fmt = self.hw, self.hw.fmt
        M, s = hw.output_scale
        e = hw.err_exp
        y = Signal(signed(fmt.acc_width + M.bit_length() + 1))
        is_target = Signal()
        m.d.sync += [y.eq(round_shift_expr(self.integral * M, s)),
                     is_target.eq(self.is_target)]
        d = Signal(signed(len(y) + 2))
        m.d.comb += d.eq(Mux(is_target, hw.target_int, 0) - y)
        shifted = Signal(signed(len(d) + max(0, e)))
        m.d.comb += shifted.eq(round_shift_expr(d, -e))
        err, _ = saturate_expr(shifted, fmt.min_int, fmt.max_int)
        m.d.sync += self.error.eq(err)
        return m


class ArgmaxCounter(wiring.Component):
    """``value``, ``index``, ``valid`` (in: one output integral a clock, index 0 first);
    ``finish`` (in: after the last value: update ``predicted`` and the counters), ``label``;
    ``predicted``, ``correct``, ``samples`` (out); ``set_correct``, ``set_samples``,
    ``wdata`` (in: the host's writes of the counters)."""

    def __init__(self, n_outputs: int, value_width: int, data_width: int):
        check_types(n_outputs=(n_outputs, int), value_width=(value_width, int),
                    data_width=(data_width, int))
        if n_outputs < 1:
            raise ValueError(f"n_outputs must be at least 1, got {n_outputs}")
        self.n_outputs = n_outputs
        super().__init__({
            "value": In(signed(value_width)), "index": In(range(max(2, n_outputs))),
            "valid": In(1), "finish": In(1), "label": In(data_width),
            "predicted": Out(range(max(2, n_outputs))), "correct": Out(data_width),
            "samples": Out(data_width), "set_correct": In(1), "set_samples": In(1),
            "wdata": In(data_width),
        })

    def elaborate(self, platform):
        m = Module()
        best = Signal.like(self.value)
        best_index = Signal.like(self.index)
        with m.If(self.valid & ((self.index == 0) | (self.value > best))):   # ties: keep
            m.d.sync += [best.eq(self.value), best_index.eq(self.index)]
        with m.If(self.finish):
            m.d.sync += [self.predicted.eq(best_index), self.samples.eq(self.samples + 1),
                         self.correct.eq(self.correct + (best_index == self.label))]
        with m.If(self.set_correct):
            m.d.sync += self.correct.eq(self.wdata)
        with m.If(self.set_samples):
            m.d.sync += self.samples.eq(self.wdata)
        return m


class LearningRegisters(wiring.Component):
    """The registers of :data:`TRAIN_REGISTERS` and the :class:`ArgmaxCounter` behind three
    of them.

    Parameters: ``hw``, ``n_outputs``, ``data_width`` (the control port's).

    Ports: ``write`` (in: the host writes ``wdata`` to info register ``index`` this clock;
    the caller gates it with ``~busy``), ``index``, ``wdata``; ``value``, ``out_index``,
    ``valid``, ``finish`` (in: the output integrals to the argmax); ``trained`` (in: one
    clock, a TRAIN_SAMPLE has accumulated: ``batch_fill`` + 1, or 0 at a batch's end);
    ``batch_log2`` (0..MAX_BATCH_LOG2; other writes ignored), ``step_exp``, ``label``,
    ``batch_fill``, ``predicted``, ``correct``, ``samples`` (out: the registers);
    ``batch_end`` (out: this TRAIN_SAMPLE ends the batch: ``batch_fill + 1 >= 2**j``);
    ``shift_out`` (out, registered: the shift from the table output to C of ``step_exp``,
    ``bsp_shift_out + step_exp(RunConfig) - step_exp`` clamped to ``hw.shift_out_limits`` (golden ``FixedModel.bsp_shift_out_limits``)).
    """

    def __init__(self, hw: HwConstants, n_outputs: int, data_width: int):
        check_types(hw=(hw, HwConstants), n_outputs=(n_outputs, int),
                    data_width=(data_width, int))
        self.hw, self.n_outputs, self.data_width = hw, n_outputs, data_width
        self.argmax = ArgmaxCounter(n_outputs, hw.fmt.acc_width, data_width)
        super().__init__({
            "write": In(1), "index": In(5), "wdata": In(signed(data_width)),
            "value": In(signed(hw.fmt.acc_width)), "out_index": In(range(max(2, n_outputs))),
            "valid": In(1), "finish": In(1), "trained": In(1),
            "batch_log2": Out(4), "step_exp": Out(signed(data_width), init=hw.step_exp),
            "label": Out(data_width), "batch_fill": Out(MAX_BATCH_LOG2 + 1),
            "predicted": Out(range(max(2, n_outputs))), "correct": Out(data_width),
            "samples": Out(data_width), "batch_end": Out(1),
            "shift_out": Out(signed(shift_out_bits(hw)), init=default_shift_out(hw)),
        })

    def registers(self) -> dict:
        """Info register index -> its signal (for the read path)."""
        return {TRAIN_REGISTERS[name]: getattr(self, name) for name in TRAIN_REGISTERS}

    def elaborate(self, platform):
        m = Module()
        hw = self.hw

        def written(name):
            return self.write & (self.index == TRAIN_REGISTERS[name])
        with m.If(written("batch_log2") & (self.wdata >= 0)
                  & (self.wdata <= MAX_BATCH_LOG2)):     # other values: ignored
            m.d.sync += self.batch_log2.eq(self.wdata)
        with m.If(written("step_exp")):
            m.d.sync += self.step_exp.eq(self.wdata)
        with m.If(written("label")):
            m.d.sync += self.label.eq(self.wdata)
        m.submodules.argmax = argmax = self.argmax
        m.d.comb += [argmax.value.eq(self.value), argmax.index.eq(self.out_index),
                     argmax.valid.eq(self.valid), argmax.finish.eq(self.finish),
                     argmax.label.eq(self.label), argmax.wdata.eq(self.wdata),
                     argmax.set_correct.eq(written("correct")),
                     argmax.set_samples.eq(written("samples")),
                     self.predicted.eq(argmax.predicted), self.correct.eq(argmax.correct),
                     self.samples.eq(argmax.samples)]
        m.d.comb += self.batch_end.eq(
            (self.batch_fill + 1) >= (Const(1, 2 ** 4 + 1) << self.batch_log2))
        with m.If(self.trained):
            m.d.sync += self.batch_fill.eq(Mux(self.batch_end, 0, self.batch_fill + 1))
        # the shift from the table output to C: s_out(step_exp), clamped (golden
        # FixedModel.bsp_shift_out_limits: the same C), registered; clamp(K - step_exp, lo,
        # hi) = K - clamp(step_exp, K - hi, K - lo): the clamp on the register, the subtract
        # on the few bits left
        lo_s, hi_s = hw.shift_out_limits
        K = hw.bsp_shift_out + hw.step_exp
        e_clamped = Signal(range(K - hi_s, K - lo_s + 1))
        m.d.comb += e_clamped.eq(saturate_expr(self.step_exp, K - hi_s, K - lo_s)[0])
        m.d.sync += self.shift_out.eq(K - e_clamped)
        return m
