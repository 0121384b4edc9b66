"""Synapse (one link) and AtanRom (the one atan table of golden/atan_table.py).

Weighting, both directions (the same C)::

    w = (C >> coef_extra) * (D_dst if reverse else D_src)

BSP update (golden ``FixedModel.bsp_accumulate`` and ``bsp_update_from_accumulator``; with
``acc_mode`` = 0 and ``update`` = 1 the batch of one of ``bsp_update``), a
:attr:`Synapse.bsp_latency`-clock pipeline (the arithmetic of :mod:`hdl.learning`)::

    P  = S_src * R_dst
    p  = sign(P) * min(round_shift(|P|, shift_in), 2**31 - 1)
    A' = sat32(A + p)            A: the link's accumulator (acc_mode), else 0
    x  = round_shift(|A'|, j)    j: batch_log2 (acc_mode), else 0
    y  = atan_table(x)           (interpolated, saturating beyond the table)
    dC = sign(A') * round_shift(y, shift_out)
    C  = clamp(C + dC, Cmin, Cmax)      only with ``update``; else A := A' (acc_mode)

With ``acc_mode`` and ``update`` the accumulator is cleared; without ``acc_mode`` it is kept.
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from wuxing.golden.network import BSP_ACC_BITS

from .fixed import HwConstants, check_types, round_shift_expr, saturate_expr
from .learning import (accumulate_expr, default_shift_out, shift_out_bits, shift_out_expr,
                       squash_expr)

__all__ = ["AtanRom", "Synapse", "TABLE_MODES"]

TABLE_MODES = ("own", "port")


def _table_shapes(hw: HwConstants):
    entries = [int(v) for v in hw.table.entries()]
    # signed (one more bit) so the interpolation slope t[i+1] - t[i] is plain signed arithmetic
    return entries, signed(max(entries).bit_length() + 1), range(len(entries) - 1)


class AtanRom(wiring.Component):
    """The atan table ``AtanTable.entries()`` as a ROM with two combinational reads.

    Parameters: ``hw`` (:class:`hdl.fixed.HwConstants`). Ports: ``addr`` (in, segment index),
    ``lo`` = entries[addr], ``hi`` = entries[addr + 1] (out).
    """

    def __init__(self, hw: HwConstants):
        check_types(hw=(hw, HwConstants))
        self.hw = hw
        self.entries, shape, addr = _table_shapes(hw)
        super().__init__({"addr": In(addr), "lo": Out(shape), "hi": Out(shape)})

    def elaborate(self, platform):
        m = Module()
        _, shape, _ = _table_shapes(self.hw)
        m.submodules.lo_mem = lo_mem = Memory(shape=shape, depth=len(self.entries) - 1,
                                              init=self.entries[:-1])
        m.submodules.hi_mem = hi_mem = Memory(shape=shape, depth=len(self.entries) - 1,
                                              init=self.entries[1:])
        lo_rd, hi_rd = lo_mem.read_port(domain="comb"), hi_mem.read_port(domain="comb")
        m.d.comb += [lo_rd.addr.eq(self.addr), hi_rd.addr.eq(self.addr),
                     self.lo.eq(lo_rd.data), self.hi.eq(hi_rd.data)]
        return m


class Synapse(wiring.Component):
    """One link: coefficient register C, weighting in both directions, BSP update with the
    link's batch accumulator.

    Parameters
    ----------
    hw: :class:`hdl.fixed.HwConstants` (format, C clamps, BSP shifts, atan table).
    table: ``"own"`` (a private :class:`AtanRom`) or ``"port"`` (``tab_addr`` out,
        ``tab_lo``/``tab_hi`` in: one table shared by the synapses of a network, read in the
        clock ``bsp_latency - 2`` after the strobe).
    c_init: reset value of the C register (an integer in the C register format).

    Ports: see docs/HARDWARE.md (c, c_we, c_wdata, reverse, d_src, d_dst, w, s_src, r_dst,
    bsp, delta, acc_mode, update, batch_log2, shift_out, acc, and tab_* with
    ``table="port"``). ``update`` (reset 1) and ``shift_out`` (reset: the RunConfig's step)
    left alone give the batch-one update of ``bsp_update``.
    """

    bsp_latency = 5
    """Clocks from the ``bsp`` strobe's clock edge to C updated (``delta`` one clock before)."""

    def __init__(self, hw: HwConstants, *, table: str = "own", c_init: int = 0):
        check_types(hw=(hw, HwConstants), c_init=(c_init, int))
        if table not in TABLE_MODES:
            raise ValueError(f"table must be one of {', '.join(TABLE_MODES)}, not {table!r}")
        fmt = hw.fmt
        if not hw.c_lo <= c_init <= hw.c_hi:
            raise ValueError(f"c_init={c_init} is outside the C clamp range "
                             f"[{hw.c_lo}, {hw.c_hi}]")
        self.hw, self.table, self.c_init = hw, table, c_init
        entries, tshape, taddr = _table_shapes(hw)
        lo_s, _ = hw.shift_out_limits
        # dC = +-round_shift(y, shift_out): exact for every shift in the limits
        self.delta_width = tshape.width + 3 - lo_s
        ports = {
            "c": Out(signed(fmt.coef_width)), "c_we": In(1),
            "c_wdata": In(signed(fmt.coef_width)),
            "reverse": In(1),
            "d_src": In(signed(hw.d_width)), "d_dst": In(signed(hw.d_width)),
            "w": Out(signed(2 * fmt.width + 1)),
            "s_src": In(signed(fmt.acc_width)), "r_dst": In(signed(fmt.acc_width)),
            "bsp": In(1),
            "delta": Out(signed(self.delta_width)),
            "acc_mode": In(1), "update": In(1, init=1), "batch_log2": In(4),
            "shift_out": In(signed(shift_out_bits(hw)), init=default_shift_out(hw)),
            "acc": Out(signed(BSP_ACC_BITS)),
        }
        if table == "port":
            ports.update(tab_addr=Out(taddr), tab_lo=In(tshape), tab_hi=In(tshape))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        hw, fmt, tab = self.hw, self.hw.fmt, self.hw.table
        C = Signal(signed(fmt.coef_width), init=self.c_init)
        m.d.comb += self.c.eq(C)
        c_op = C >> fmt.coef_extra  # the multiplier operand: top bits, floor
        m.d.comb += self.w.eq(c_op * Mux(self.reverse, self.d_dst, self.d_src))

        # BSP, a pipeline (no path holds two multipliers in series):
        #   bsp strobe: |P| = |S_src * R_dst| and its sign          -> stage 1 registers
        #   stage 1:    A' = sat32(A + p); A := A' or 0              -> stage 2 register
        #   stage 2:    the squash x = round_shift(|A'|, j): segment -> stage 3 registers
        #   stage 3:    table lookup and interpolation, dC           -> stage 4 register
        #   stage 4:    C = clamp(C + dC)
        P = Signal(signed(2 * fmt.acc_width))
        m.d.comb += P.eq(self.s_src * self.r_dst)
        s1_valid, s1_neg = Signal(), Signal()
        s1_mag = Signal(unsigned(2 * fmt.acc_width - 1))
        m.d.sync += [s1_valid.eq(self.bsp & ~self.c_we), s1_neg.eq(P < 0),
                     s1_mag.eq(Mux(P < 0, -P, P))]
        A = Signal(signed(BSP_ACC_BITS))
        m.d.comb += self.acc.eq(A)
        a_sat = accumulate_expr(m, hw, s1_mag, s1_neg, A, self.acc_mode)
        s2_valid = Signal()
        a_new = Signal(signed(BSP_ACC_BITS))
        m.d.sync += [s2_valid.eq(s1_valid), a_new.eq(a_sat)]
        with m.If(s1_valid & self.acc_mode):
            m.d.sync += A.eq(Mux(self.update, 0, a_sat))
        j = Signal.like(self.batch_log2)
        m.d.comb += j.eq(Mux(self.acc_mode, self.batch_log2, 0))
        x_sat, x_idx, x_frac = squash_expr(m, hw, a_new, j)
        s3_valid, s3_neg, s3_sat = Signal(), Signal(), Signal()
        s3_idx = Signal(range(tab.segments))
        s3_frac = Signal(unsigned(max(1, tab.frac_bits)))
        m.d.sync += [s3_valid.eq(s2_valid & self.update), s3_neg.eq(a_new < 0),
                     s3_sat.eq(x_sat), s3_idx.eq(x_idx), s3_frac.eq(x_frac)]
        if self.table == "own":
            m.submodules.table = rom = AtanRom(hw)
            m.d.comb += rom.addr.eq(s3_idx)
            t_lo, t_hi = rom.lo, rom.hi
        else:
            m.d.comb += self.tab_addr.eq(s3_idx)
            t_lo, t_hi = self.tab_lo, self.tab_hi
        entries, tshape, _ = _table_shapes(hw)
        slope = t_hi - t_lo
        interp = t_lo + round_shift_expr(slope * s3_frac, tab.frac_bits)
        y = Signal(signed(tshape.width + 1))
        m.d.comb += y.eq(Mux(s3_sat, entries[-1], interp))
        d = shift_out_expr(m, hw, y, self.shift_out, len(y))
        s4_valid = Signal()
        delta = Signal(signed(self.delta_width))
        m.d.sync += s4_valid.eq(s3_valid)
        with m.If(s3_valid):
            m.d.sync += delta.eq(Mux(s3_neg, -d, d))
        m.d.comb += self.delta.eq(delta)
        c_sum = Signal(signed(self.delta_width + 1))
        m.d.comb += c_sum.eq(C + delta)
        c_new, _ = saturate_expr(c_sum, hw.c_lo, hw.c_hi)

        with m.If(self.c_we):
            m.d.sync += C.eq(self.c_wdata)
        with m.Elif(s4_valid):
            m.d.sync += C.eq(c_new)
        return m
