"""The BSP unit of one lane: the update of one coefficient per slot, on the lane's multiplier.

The integers of ``golden.network.FixedModel.bsp_accumulate`` and
``bsp_update_from_accumulator`` (a batch of 2**j samples; ``bsp_update`` for a batch of one)::

    P  = S_src * R_dst                    |P| from |S| and |R| in chunks of width-1 bits
    p  = sign(P) * min(round_shift(|P|, shift_in), 2**31 - 1)
    A' = sat32(A + p)                     A: the link's accumulator (acc_mode), else 0
    x  = round_shift(|A'|, j)             j: batch_log2 (acc_mode), else 0
    y  = atan_table(x)                    entry i and i+1 of AtanTable.entries(), interpolated
    dC = sign(A') * round_shift(y, shift_out)     shift_out: from the step_exp register
    C  = clamp(C + dC, Cmin, Cmax)        only when ``update``; else A' is kept

A slot is a fixed sequence of clocks (``timing.bsp_stages``); the lane feeds ``s``, ``r``,
``a_old`` (its accumulator memory's word) and ``c_old`` and takes ``a_write`` (A', or 0 after
an update) and ``c_new`` at the offsets given there. The batch-one command (op 2) is
``acc_mode`` = 0, ``update`` = 1: ``x = min(round_shift(|P|, shift_in), 2**31 - 1)``, the
integers of ``bsp_delta`` for one sample (the table saturates below 2**31).
"""
from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from wuxing.golden.network import BSP_ACC_BITS

from ..fixed import HwConstants, check_types, saturate_expr
from ..learning import (accumulate_expr, add_carry_in, shift_out_bits, shift_out_decode,
                        shift_out_expr, shift_out_round_expr, squash_half, squash_index_expr,
                        squash_round_expr)
from ..synapse import _table_shapes
from .timing import MUL_LATENCY, bsp_stages

__all__ = ["BspUnit", "shift_out_bits"]


class BspUnit(wiring.Component):
    """One lane's BSP arithmetic (see the module docstring).

    Ports: ``sub`` (in: clock of the slot), ``s``, ``r`` (in, at ``magnitudes``), ``c_old``
    (in, held until ``c_write``), ``mul_a``, ``mul_b`` (out: multiplier operands, used when
    ``mul_en``), ``prod`` (in: the product, ``timing.MUL_LATENCY`` clocks later), ``tab_addr`` (out),
    ``tab_data`` (in: the table entry, one clock after its address), ``c_new`` (out, valid at
    ``c_write``). ``acc_mode`` (in: add the accumulator ``a_old``, valid at ``accumulate``,
    and squash with ``batch_log2``), ``update`` (in: this slot updates C; ``a_write`` is then
    0), ``a_write`` (out: the accumulator's new word, valid at ``squash``), ``batch_log2``
    (in: j), ``shift_out`` (in, signed: the shift from the table output to C's LSBs, within
    ``hw.shift_out_limits``). ``member``, ``lanes_per_table``: the lane's place among the
    lanes that share its atan ROM (timing.bsp_stages).
    """

    def __init__(self, hw: HwConstants, member: int = 0, lanes_per_table: int = 2):
        check_types(hw=(hw, HwConstants))
        fmt = hw.fmt
        self.hw = hw
        self.stages = bsp_stages(fmt.acc_width, fmt.width, member, lanes_per_table)
        self.entries, self.tshape, _ = _table_shapes(hw)
        W = fmt.width
        super().__init__({
            "sub": In(range(self.stages["slot"])),
            "s": In(signed(fmt.acc_width)), "r": In(signed(fmt.acc_width)),
            "c_old": In(signed(fmt.coef_width)),
            "mul_a": Out(signed(W)), "mul_b": Out(signed(W)), "mul_en": Out(1),
            "prod": In(signed(2 * W)),
            "tab_addr": Out(range(len(self.entries))), "tab_data": In(self.tshape),
            "c_new": Out(signed(fmt.coef_width)),
            "acc_mode": In(1), "update": In(1), "batch_log2": In(4),
            "a_old": In(signed(BSP_ACC_BITS)), "a_write": Out(signed(BSP_ACC_BITS)),
            "shift_out": In(signed(shift_out_bits(hw))),
        })

    def elaborate(self, platform):
        m = Module()
        hw, fmt, tab, st = self.hw, self.hw.fmt, self.hw.table, self.stages
        W, aw = fmt.width, fmt.acc_width
        cw = W - 1                            # chunk: non-negative in a signed W-bit operand
        chunks = -(-aw // cw)
        sub = self.sub
        s_in = hw.bsp_shift_in
        A = BSP_ACC_BITS

        # (every register here is loaded at its clock of the slot before it is read: data,
        # reset_less: no reset logic on the FPGA, no reset multiplexer for a simulator)
        # magnitudes and sign of P = S * R; ``mag`` starts at round_shift's half LSB, so that
        # |P| + half is complete when the last partial product is in
        sa, ra = Signal(unsigned(aw), reset_less=True), Signal(unsigned(aw), reset_less=True)
        neg = Signal(reset_less=True)
        mag = Signal(unsigned(2 * aw + 1), reset_less=True)
        with m.If(sub == st["magnitudes"]):
            m.d.sync += [sa.eq(Mux(self.s < 0, -self.s, self.s)),
                         ra.eq(Mux(self.r < 0, -self.r, self.r)),
                         neg.eq((self.s < 0) ^ (self.r < 0)),
                         mag.eq((1 << (s_in - 1)) if s_in > 0 else 0)]
        # |S| * |R| in chunks x chunks partial products, one a clock, summed MUL_LATENCY later
        # by one adder (the product shifted to its place)
        shifts = sorted({cw * (i + j) for i in range(chunks) for j in range(chunks)})
        shift_sel = Signal(range(len(shifts)))
        for p in range(chunks * chunks):
            i, j = divmod(p, chunks)
            with m.If(sub == st["first_pass"] + p):
                m.d.comb += [self.mul_a.eq(Cat(sa[i * cw:(i + 1) * cw], 0)),
                             self.mul_b.eq(Cat(ra[j * cw:(j + 1) * cw], 0)),
                             self.mul_en.eq(1)]
            with m.If(sub == st["first_pass"] + p + MUL_LATENCY):
                m.d.comb += shift_sel.eq(shifts.index(cw * (i + j)))
        placed = Signal(unsigned(2 * aw))
        with m.Switch(shift_sel):
            for k, sh in enumerate(shifts):
                with m.Case(k):
                    m.d.comb += placed.eq(self.prod.as_unsigned() << sh)
        accumulate = ((sub >= st["first_pass"] + MUL_LATENCY)
                      & (sub < st["first_pass"] + MUL_LATENCY + chunks * chunks))
        with m.If(accumulate):
            m.d.sync += mag.eq(mag + placed)

        # the accumulator: this sample's table input p = min(round_shift(|P|, s_in), max),
        # signed, added with saturation (``mag`` holds round_shift's half already)
        a_new = Signal(signed(BSP_ACC_BITS), reset_less=True)
        a_sat = accumulate_expr(m, hw, mag, neg, self.a_old, self.acc_mode, half_in=True)
        with m.If(sub == st["accumulate"]):
            m.d.sync += a_new.eq(a_sat)
        m.d.comb += self.a_write.eq(Mux(self.update, 0, a_new))
        # the squash: x = round_shift(|A'|, j) = (|A'| + half) >> j, in two clocks (the adder,
        # then the shift by j; each was the critical path of a routed P = 16 build). j and its
        # half are registered every clock: they change only between commands
        j = Signal.like(self.batch_log2, reset_less=True)
        m.d.sync += j.eq(Mux(self.acc_mode, self.batch_log2, 0))
        half_next = squash_half(m, j)
        half = Signal.like(half_next, name="half", reset_less=True)
        m.d.sync += half.eq(half_next)
        rounded_next = squash_round_expr(m, hw, a_new, half)
        rounded = Signal.like(rounded_next, name="rounded", reset_less=True)
        m_neg = Signal(reset_less=True)
        with m.If(sub == st["squash"]):
            m.d.sync += [rounded.eq(rounded_next), m_neg.eq(a_new[A - 1])]
        sat = Signal(reset_less=True)
        idx = Signal(range(tab.segments), reset_less=True)
        frac = Signal(unsigned(max(1, tab.frac_bits)), reset_less=True)
        with m.If(sub == st["index"]):
            x_sat, x_idx, x_frac = squash_index_expr(m, hw, rounded, j)
            m.d.sync += [sat.eq(x_sat), idx.eq(x_idx), frac.eq(x_frac)]
        lo = Signal(self.tshape, reset_less=True)
        with m.If(sub == st["table_lo"]):
            m.d.comb += self.tab_addr.eq(idx)
        with m.If(sub == st["table_hi"]):
            m.d.comb += self.tab_addr.eq(idx + 1)
            m.d.sync += lo.eq(self.tab_data)
        with m.If(sub == st["interpolate"]):
            m.d.comb += [self.mul_a.eq(self.tab_data - lo), self.mul_b.eq(frac),
                         self.mul_en.eq(1)]
        # y = lo + round_shift(prod, frac_bits) = (lo << frac_bits + half + prod) >> frac_bits
        fb = tab.frac_bits
        y = Signal(unsigned(self.tshape.width - 1), reset_less=True)   # 0 <= y <= entries[-1]
        interp = Signal(signed(self.tshape.width + fb + 1))
        lo_half = Cat(Const((1 << (fb - 1)) if fb else 0, fb), lo) if fb else lo
        m.d.comb += interp.eq(lo_half.as_signed() + self.prod if fb else lo + self.prod)
        # (y registered: the interpolation's add and the shift-out below in two clocks)
        with m.If(sub == st["table_value"]):
            m.d.sync += y.eq(Mux(sat, self.entries[-1], interp >> fb))
        # dC = round_shift(y, shift_out) (shift_out in shift_out_limits), its magnitude capped
        # at 2**coef_width: C + dC then clamps as the exact sum does, for any C of coef_width
        # bits (golden clamps C to [c_lo, c_hi] within them). Three clocks: y + half, the
        # shift, C + sign * |dC| (the sign as the adder's carry-in); the shift's decoding is
        # registered (the step register changes only between commands)
        dec = shift_out_decode(m, hw, self.shift_out, domain="sync")
        y_r_next = shift_out_round_expr(m, hw, y, dec)
        y_r = Signal.like(y_r_next, name="y_r", reset_less=True)
        with m.If(sub == st["rounding"]):
            m.d.sync += y_r.eq(y_r_next)
        mag_d = shift_out_expr(m, hw, y, dec, len(y), capped=True, y_r=y_r)
        D = len(mag_d)                         # bits of the capped magnitude
        dC_mag = Signal(unsigned(D), reset_less=True)
        with m.If(sub == st["delta"]):
            m.d.sync += dC_mag.eq(mag_d)
        cs = max(D + 1, fmt.coef_width) + 1
        c_ext, d_ext = Signal(signed(cs)), Signal(unsigned(cs))
        m.d.comb += [c_ext.eq(self.c_old), d_ext.eq(dC_mag)]
        c_sum = Signal(signed(cs))
        m.d.comb += c_sum.eq(add_carry_in(c_ext, d_ext ^ m_neg.replicate(cs), m_neg)[:cs])
        c_new, _ = saturate_expr(c_sum, hw.c_lo, hw.c_hi)
        m.d.comb += self.c_new.eq(c_new)
        return m

