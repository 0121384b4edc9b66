"""Synapse (one link) and AtanRom (the one atan table of golden/atan_table.py).

Weighting, both directions (the same C)::

    w = (C >> coef_extra) * (D_dst if reverse else D_src)

BSP update (golden ``FixedModel.bsp_delta`` with a batch of one), a 3-clock pipeline::

    P  = S_src * R_dst
    x  = round_shift(|P|, shift_in)
    y  = atan_table(x)        (interpolated, saturating beyond the table)
    dC = sign(P) * round_shift(y, shift_out)
    C  = clamp(C + dC, Cmin, Cmax)
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .fixed import HwConstants, check_types, round_shift_expr, saturate_expr

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
    """One link: coefficient register C, weighting in both directions, BSP update.

    Parameters
    ----------
    hw: :class:`hdl.fixed.HwConstants` (format, C clamps, BSP shifts, atan table).
    table: ``"own"`` (a private :class:`AtanRom`) or ``"port"`` (``tab_addr`` out,
        ``tab_lo``/``tab_hi`` in: one table shared by the synapses of a network).
    c_init: reset value of the C register (an integer in the C register format).

    Ports: see docs/HARDWARE.md (c, c_we, c_wdata, reverse, d_src, d_dst, w, s_src, r_dst,
    bsp, delta, and tab_* with ``table="port"``).
    """

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
        # dC = +-round_shift(y, shift_out), y < 2**tshape.width: exact, never truncated
        self.delta_width = max(fmt.coef_width + 1,
                               tshape.width + max(0, -hw.bsp_shift_out) + 2)
        ports = {
            "c": Out(signed(fmt.coef_width)), "c_we": In(1),
            "c_wdata": In(signed(fmt.coef_width)),
            "reverse": In(1),
            "d_src": In(signed(hw.d_width)), "d_dst": In(signed(hw.d_width)),
            "w": Out(signed(2 * fmt.width + 1)),
            "s_src": In(signed(fmt.acc_width)), "r_dst": In(signed(fmt.acc_width)),
            "bsp": In(1),
            "delta": Out(signed(self.delta_width)),
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

        # BSP: magnitude path, then the sign back on
        # BSP, three clocks (a pipeline, so that no path holds two multipliers in series):
        #   bsp strobe: P = S_src * R_dst, |P| shifted to the table input -> stage 1 registers
        #   stage 1:    table lookup and interpolation, dC                -> stage 2 register
        #   stage 2:    C = clamp(C + dC)
        P = Signal(signed(2 * fmt.acc_width))
        m.d.comb += P.eq(self.s_src * self.r_dst)
        mag = Signal(unsigned(2 * fmt.acc_width - 1))
        m.d.comb += mag.eq(Mux(P < 0, -P, P))
        x = Signal(unsigned(2 * fmt.acc_width + max(0, -hw.bsp_shift_in)))
        m.d.comb += x.eq(round_shift_expr(mag, hw.bsp_shift_in))
        s1_valid, s1_neg, s1_sat = Signal(), Signal(), Signal()
        s1_idx = Signal(range(tab.segments))
        s1_frac = Signal(unsigned(max(1, tab.frac_bits)))
        saturated = x >= tab.x_limit
        xm = Mux(saturated, 0, x)
        m.d.sync += [s1_valid.eq(self.bsp & ~self.c_we), s1_neg.eq(P < 0),
                     s1_sat.eq(saturated), s1_idx.eq(xm >> tab.frac_bits),
                     s1_frac.eq(xm & ((1 << tab.frac_bits) - 1) if tab.frac_bits else 0)]
        if self.table == "own":
            m.submodules.table = rom = AtanRom(hw)
            m.d.comb += rom.addr.eq(s1_idx)
            t_lo, t_hi = rom.lo, rom.hi
        else:
            m.d.comb += self.tab_addr.eq(s1_idx)
            t_lo, t_hi = self.tab_lo, self.tab_hi
        entries, tshape, _ = _table_shapes(hw)
        slope = t_hi - t_lo
        interp = t_lo + round_shift_expr(slope * s1_frac, tab.frac_bits)
        y = Signal(signed(tshape.width + 1))
        m.d.comb += y.eq(Mux(s1_sat, entries[-1], interp))
        d = Signal(signed(self.delta_width))
        m.d.comb += d.eq(round_shift_expr(y, hw.bsp_shift_out))
        s2_valid = Signal()
        delta = Signal(signed(self.delta_width))
        m.d.sync += s2_valid.eq(s1_valid)
        with m.If(s1_valid):
            m.d.sync += delta.eq(Mux(s1_neg, -d, d))
        m.d.comb += self.delta.eq(delta)
        c_sum = Signal(signed(self.delta_width + 1))
        m.d.comb += c_sum.eq(C + delta)
        c_new, _ = saturate_expr(c_sum, hw.c_lo, hw.c_hi)

        with m.If(self.c_we):
            m.d.sync += C.eq(self.c_wdata)
        with m.Elif(s2_valid):
            m.d.sync += C.eq(c_new)
        return m
