"""The BSP unit of one lane: the update of one coefficient per slot, on the lane's multiplier.

The integers of ``golden.network.FixedModel.bsp_delta`` (batch of one) and ``bsp_update``::

    P  = S_src * R_dst                    |P| from |S| and |R| in chunks of width-1 bits
    x  = round_shift(|P|, shift_in)
    y  = atan_table(x)                    entry i and i+1 of AtanTable.entries(), interpolated
    dC = sign(P) * round_shift(y, shift_out)
    C  = clamp(C + dC, Cmin, Cmax)

A slot is a fixed sequence of clocks (``timing.bsp_stages``); the lane feeds ``s``, ``r`` and
``c_old`` and takes ``c_new`` at the offsets given there. The product |P| is formed in one
place (``mag``) and squashed in another, so that a batch mode (accumulate ``sign * |P|`` over
the samples of a batch, then squash once) can sit between the two.
"""
from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..fixed import HwConstants, check_types, round_shift_expr, saturate_expr
from ..synapse import _table_shapes
from .timing import MUL_LATENCY, bsp_stages

__all__ = ["BspUnit"]


class BspUnit(wiring.Component):
    """One lane's BSP arithmetic (see the module docstring).

    Ports: ``sub`` (in: clock of the slot), ``s``, ``r`` (in, at ``magnitudes``), ``c_old``
    (in, held until ``c_write``), ``mul_a``, ``mul_b`` (out: multiplier operands, used when
    ``mul_en``), ``prod`` (in: the product, ``timing.MUL_LATENCY`` clocks later), ``tab_addr`` (out),
    ``tab_data`` (in: the table entry, one clock after its address), ``c_new`` (out, valid at
    ``c_write``). ``member``, ``lanes_per_table``: the lane's place among the lanes that share
    its atan ROM (timing.bsp_stages).
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
        })

    def elaborate(self, platform):
        m = Module()
        hw, fmt, tab, st = self.hw, self.hw.fmt, self.hw.table, self.stages
        W, aw = fmt.width, fmt.acc_width
        cw = W - 1                            # chunk: non-negative in a signed W-bit operand
        chunks = -(-aw // cw)
        sub = self.sub

        # magnitudes and sign of P = S * R
        sa, ra = Signal(unsigned(aw)), Signal(unsigned(aw))
        neg = Signal()
        mag = Signal(unsigned(2 * aw))
        with m.If(sub == st["magnitudes"]):
            m.d.sync += [sa.eq(Mux(self.s < 0, -self.s, self.s)),
                         ra.eq(Mux(self.r < 0, -self.r, self.r)),
                         neg.eq((self.s < 0) ^ (self.r < 0)), mag.eq(0)]
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

        # the squash: table input, segment and weight
        xb = Signal(unsigned(2 * aw + max(0, -hw.bsp_shift_in)))
        m.d.comb += xb.eq(round_shift_expr(mag, hw.bsp_shift_in))
        sat = Signal()
        idx = Signal(range(tab.segments))
        frac = Signal(unsigned(max(1, tab.frac_bits)))
        with m.If(sub == st["squash"]):
            xm = Mux(xb >= tab.x_limit, 0, xb)
            m.d.sync += [sat.eq(xb >= tab.x_limit), idx.eq(xm >> tab.frac_bits),
                         frac.eq(xm[:tab.frac_bits] if tab.frac_bits else 0)]
        lo = Signal(self.tshape)
        with m.If(sub == st["table_lo"]):
            m.d.comb += self.tab_addr.eq(idx)
        with m.If(sub == st["table_hi"]):
            m.d.comb += self.tab_addr.eq(idx + 1)
            m.d.sync += lo.eq(self.tab_data)
        with m.If(sub == st["interpolate"]):
            m.d.comb += [self.mul_a.eq(self.tab_data - lo), self.mul_b.eq(frac),
                         self.mul_en.eq(1)]
        y = Signal(signed(self.tshape.width + 1))
        m.d.comb += y.eq(Mux(sat, self.entries[-1],
                             lo + round_shift_expr(self.prod, tab.frac_bits)))
        delta_width = max(fmt.coef_width + 1,
                          self.tshape.width + max(0, -hw.bsp_shift_out) + 2)
        dC = Signal(signed(delta_width))
        m.d.comb += dC.eq(round_shift_expr(y, hw.bsp_shift_out))
        dC_signed = Signal(signed(delta_width + 1))
        with m.If(sub == st["delta"]):
            m.d.sync += dC_signed.eq(Mux(neg, -dC, dC))
        c_sum = Signal(signed(delta_width + 2))
        m.d.comb += c_sum.eq(self.c_old + dC_signed)
        c_new, _ = saturate_expr(c_sum, hw.c_lo, hw.c_hi)
        m.d.comb += self.c_new.eq(c_new)
        return m
