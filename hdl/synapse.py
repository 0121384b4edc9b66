"""Synapse (one link), BspPipeline (its update) and AtanRom (the one atan table of
golden/atan_table.py).

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

__all__ = ["AtanRom", "BspPipeline", "Synapse", "TABLE_MODES", "BSP_MODES", "delta_width",
           "coefficient_update_expr"]

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


class BspPipeline(wiring.Component):
    """The BSP update of one link at a time (the module docstring's arithmetic), a pipeline
    that takes a link a clock: the unit inside every :class:`Synapse` of its own, and the one
    unit an unrolled :class:`~hdl.network.Network` shares between its links as it walks them.

    Parameters: ``hw`` (:class:`hdl.fixed.HwConstants`), ``tags`` (how many links it serves:
    each update carries its link's number, ``range(tags)``).

    Ports: ``start`` with the link's ``tag``, ``s_src`` and ``r_dst`` begins an update;
    one clock later ``acc_tag`` names that link, whose accumulator comes in on ``acc`` and is
    written back with ``acc_we``/``acc_wdata`` (``acc_mode``); two clocks after that the
    table is read (``tab_addr`` out, ``tab_lo``/``tab_hi`` in, combinationally); one clock
    later ``delta`` (dC, held until the next update) with ``delta_valid`` (``update``) and
    ``delta_tag``: C of that link is then ``coefficient_update_expr(C, delta)``.
    ``batch_log2``, ``shift_out`` as in :class:`Synapse`.
    """

    def __init__(self, hw: HwConstants, tags: int = 1):
        check_types(hw=(hw, HwConstants), tags=(tags, int))
        if tags < 1:
            raise ValueError(f"tags must be 1 or more, not {tags}")
        fmt = hw.fmt
        self.hw, self.tags = hw, tags
        _, tshape, taddr = _table_shapes(hw)
        self.delta_width = delta_width(hw)
        super().__init__({
            "start": In(1), "tag": In(range(tags)),
            "s_src": In(signed(fmt.acc_width)), "r_dst": In(signed(fmt.acc_width)),
            "acc_mode": In(1), "update": In(1, init=1), "batch_log2": In(4),
            "shift_out": In(signed(shift_out_bits(hw)), init=default_shift_out(hw)),
            "acc": In(signed(BSP_ACC_BITS)), "acc_tag": Out(range(tags)),
            "acc_we": Out(1), "acc_wdata": Out(signed(BSP_ACC_BITS)),
            "tab_addr": Out(taddr), "tab_lo": In(tshape), "tab_hi": In(tshape),
            "delta": Out(signed(self.delta_width)), "delta_valid": Out(1),
            "delta_tag": Out(range(tags)),
        })

    def elaborate(self, platform):
        m = Module()
        hw, fmt, tab = self.hw, self.hw.fmt, self.hw.table
        # no path holds two multipliers in series:
        #   start:   |P| = |S_src * R_dst| and its sign                -> stage 1 registers
        #   stage 1: A' = sat32(A + p); A := A' or 0                   -> stage 2 register
        #   stage 2: the squash x = round_shift(|A'|, j): segment      -> stage 3 registers
        #   stage 3: table lookup and interpolation, dC                -> stage 4 register
        #   stage 4: (the user) C = clamp(C + dC)
        P = Signal(signed(2 * fmt.acc_width))
        m.d.comb += P.eq(self.s_src * self.r_dst)
        s1_valid, s1_neg = Signal(), Signal()
        s1_mag = Signal(unsigned(2 * fmt.acc_width - 1))
        s1_tag, s2_tag, s3_tag = (Signal(range(self.tags), name=f"s{i}_tag") for i in (1, 2, 3))
        m.d.sync += [s1_valid.eq(self.start), s1_neg.eq(P < 0), s1_mag.eq(Mux(P < 0, -P, P)),
                     s1_tag.eq(self.tag)]
        a_sat = accumulate_expr(m, hw, s1_mag, s1_neg, self.acc, self.acc_mode)
        m.d.comb += [self.acc_tag.eq(s1_tag), self.acc_we.eq(s1_valid & self.acc_mode),
                     self.acc_wdata.eq(Mux(self.update, 0, a_sat))]
        s2_valid = Signal()
        a_new = Signal(signed(BSP_ACC_BITS))
        m.d.sync += [s2_valid.eq(s1_valid), a_new.eq(a_sat), s2_tag.eq(s1_tag)]
        j = Signal.like(self.batch_log2)
        m.d.comb += j.eq(Mux(self.acc_mode, self.batch_log2, 0))
        x_sat, x_idx, x_frac = squash_expr(m, hw, a_new, j)
        s3_valid, s3_neg, s3_sat = Signal(), Signal(), Signal()
        s3_idx = Signal(range(tab.segments))
        s3_frac = Signal(unsigned(max(1, tab.frac_bits)))
        m.d.sync += [s3_valid.eq(s2_valid & self.update), s3_neg.eq(a_new < 0),
                     s3_sat.eq(x_sat), s3_idx.eq(x_idx), s3_frac.eq(x_frac), s3_tag.eq(s2_tag)]
        m.d.comb += self.tab_addr.eq(s3_idx)
        entries, tshape, _ = _table_shapes(hw)
        slope = self.tab_hi - self.tab_lo
        interp = self.tab_lo + round_shift_expr(slope * s3_frac, tab.frac_bits)
        y = Signal(signed(tshape.width + 1))
        m.d.comb += y.eq(Mux(s3_sat, entries[-1], interp))
        d = shift_out_expr(m, hw, y, self.shift_out, len(y))
        delta = Signal(signed(self.delta_width))
        m.d.sync += [self.delta_valid.eq(s3_valid), self.delta_tag.eq(s3_tag)]
        with m.If(s3_valid):
            m.d.sync += delta.eq(Mux(s3_neg, -d, d))
        m.d.comb += self.delta.eq(delta)
        return m


def delta_width(hw: HwConstants) -> int:
    """Bits of dC = +-round_shift(y, shift_out): exact for every shift in the limits."""
    _, tshape, _ = _table_shapes(hw)
    lo_s, _ = hw.shift_out_limits
    return tshape.width + 3 - lo_s


def coefficient_update_expr(m: Module, hw: HwConstants, c, delta):
    """C + dC clamped to [Cmin, Cmax] (golden ``bsp_update``)."""
    c_sum = Signal(signed(max(len(c), len(delta)) + 1))
    m.d.comb += c_sum.eq(c + delta)
    return saturate_expr(c_sum, hw.c_lo, hw.c_hi)[0]


BSP_MODES = ("own", "shared")


class Synapse(wiring.Component):
    """One link: coefficient register C, weighting in both directions, and the link's batch
    accumulator; with ``bsp="own"`` its own :class:`BspPipeline`.

    Parameters
    ----------
    hw: :class:`hdl.fixed.HwConstants` (format, C clamps, BSP shifts, atan table).
    table: ``"own"`` (a private :class:`AtanRom`) or ``"port"`` (``tab_addr`` out,
        ``tab_lo``/``tab_hi`` in: one table shared by the synapses of a network, read in the
        clock ``bsp_latency - 2`` after the strobe). With ``bsp="shared"`` it has no table.
    c_init: reset value of the C register (an integer in the C register format).
    bsp: ``"own"`` (the update pipeline inside) or ``"shared"`` (none: the network's one
        :class:`BspPipeline` updates C through ``c_we``/``c_wdata`` and the accumulator
        through ``acc_we``/``acc_wdata``; a network walks its links one a clock, so one
        pipeline serves them all).

    Ports: see docs/HARDWARE.md (c, c_we, c_wdata, reverse, d_src, d_dst, w, acc; with
    ``bsp="own"`` s_src, r_dst, bsp, delta, acc_mode, update, batch_log2, shift_out, and
    tab_* with ``table="port"``; with ``bsp="shared"`` acc_we, acc_wdata). ``update`` (reset
    1) and ``shift_out`` (reset: the RunConfig's step) left alone give the batch-one update of
    ``bsp_update``.
    """

    bsp_latency = 5
    """Clocks from the ``bsp`` strobe's clock edge to C updated (``delta`` one clock before)."""

    def __init__(self, hw: HwConstants, *, table: str = "own", c_init: int = 0,
                 bsp: str = "own"):
        check_types(hw=(hw, HwConstants), c_init=(c_init, int))
        if table not in TABLE_MODES:
            raise ValueError(f"table must be one of {', '.join(TABLE_MODES)}, not {table!r}")
        if bsp not in BSP_MODES:
            raise ValueError(f"bsp must be one of {', '.join(BSP_MODES)}, not {bsp!r}")
        fmt = hw.fmt
        if not hw.c_lo <= c_init <= hw.c_hi:
            raise ValueError(f"c_init={c_init} is outside the C clamp range "
                             f"[{hw.c_lo}, {hw.c_hi}]")
        self.hw, self.table, self.c_init, self.bsp_mode = hw, table, c_init, bsp
        _, tshape, taddr = _table_shapes(hw)
        self.delta_width = delta_width(hw)
        ports = {
            "c": Out(signed(fmt.coef_width)), "c_we": In(1),
            "c_wdata": In(signed(fmt.coef_width)),
            "reverse": In(1),
            "d_src": In(signed(hw.d_width)), "d_dst": In(signed(hw.d_width)),
            "w": Out(signed(2 * fmt.width + 1)),
            "acc": Out(signed(BSP_ACC_BITS)),
        }
        if bsp == "shared":
            ports.update(acc_we=In(1), acc_wdata=In(signed(BSP_ACC_BITS)))
        else:
            ports.update({
                "s_src": In(signed(fmt.acc_width)), "r_dst": In(signed(fmt.acc_width)),
                "bsp": In(1),
                "delta": Out(signed(self.delta_width)),
                "acc_mode": In(1), "update": In(1, init=1), "batch_log2": In(4),
                "shift_out": In(signed(shift_out_bits(hw)), init=default_shift_out(hw)),
            })
            if table == "port":
                ports.update(tab_addr=Out(taddr), tab_lo=In(tshape), tab_hi=In(tshape))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        hw, fmt = self.hw, self.hw.fmt
        C = Signal(signed(fmt.coef_width), init=self.c_init)
        m.d.comb += self.c.eq(C)
        c_op = C >> fmt.coef_extra  # the multiplier operand: top bits, floor
        m.d.comb += self.w.eq(c_op * Mux(self.reverse, self.d_dst, self.d_src))
        A = Signal(signed(BSP_ACC_BITS))
        m.d.comb += self.acc.eq(A)
        if self.bsp_mode == "shared":
            with m.If(self.acc_we):
                m.d.sync += A.eq(self.acc_wdata)
            with m.If(self.c_we):
                m.d.sync += C.eq(self.c_wdata)
            return m

        m.submodules.bsp = bsp = BspPipeline(hw)
        m.d.comb += [bsp.start.eq(self.bsp & ~self.c_we), bsp.s_src.eq(self.s_src),
                     bsp.r_dst.eq(self.r_dst), bsp.acc.eq(A), bsp.acc_mode.eq(self.acc_mode),
                     bsp.update.eq(self.update), bsp.batch_log2.eq(self.batch_log2),
                     bsp.shift_out.eq(self.shift_out), self.delta.eq(bsp.delta)]
        with m.If(bsp.acc_we):
            m.d.sync += A.eq(bsp.acc_wdata)
        if self.table == "own":
            m.submodules.table = rom = AtanRom(hw)
            m.d.comb += [rom.addr.eq(bsp.tab_addr), bsp.tab_lo.eq(rom.lo),
                         bsp.tab_hi.eq(rom.hi)]
        else:
            m.d.comb += [self.tab_addr.eq(bsp.tab_addr), bsp.tab_lo.eq(self.tab_lo),
                         bsp.tab_hi.eq(self.tab_hi)]
        c_new = coefficient_update_expr(m, hw, C, bsp.delta)
        with m.If(self.c_we):
            m.d.sync += C.eq(self.c_wdata)
        with m.Elif(bsp.delta_valid):
            m.d.sync += C.eq(c_new)
        return m
