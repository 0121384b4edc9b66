"""SerialNetwork: a whole Wuxing network on one small time-multiplexed datapath.

The same control port, address map, info registers and commands as :class:`hdl.network.Network`
(docs/HARDWARE.md), and the same integers as ``golden.network.FixedModel``, but one datapath
walks the interfaces (flat row ``r = element * N + neuron``) one after another, with the state
in memories (block RAM on an FPGA):

* ``E``: two banks of 5N states; step ``t`` reads bank ``t % 2`` and writes the other, so every
  link and element of step ``t`` sees the states from before the update (as FixedModel).
* ``S`` then ``R``: the integrals (5N each, one memory); ``C``: the coefficients (L); ``OV``:
  the sticky overflow flag of each neuron; ``X``: the inputs then the errors.
* ROM table: per direction, the links sorted by the interface (row) that receives them: per
  link its index, the row of its other end and the receiving row; the row walk consumes them
  in order, so no per-row pointers are needed.

Per row (one signed ``width x width`` multiplier, products registered)::

    acc = x << F;  acc += K1 * E_lin;  acc -= K2 * E;  q = round_shift(E * E_quad, F)
    acc -= (K3 * (q >> (W-1))) << (W-1);  acc -= K3 * (q & (2**(W-1) - 1))
    for each link into the row: acc += (C >> coef_extra) * D(other end)
    E' = sat(E + round_shift(acc, F + k));  S (or R) = sat(S + D)

13 clocks a row plus 2 a link. E and S/R have one address each (single-port RAMs: Yosys can map
them to the UP5K's SPRAM, see ``spram``). BSP walks the links in the forward order:
``|S_src| * |R_dst|`` by a shift-add over ``acc_width`` clocks, then the atan table
(``AtanTable.entries()``, two synchronous ROMs) and its interpolation on the shared multiplier,
then ``C = clamp(C + dC)``.

While ``busy``, reads of the memory regions (0-6) return unspecified values (the datapath owns
the memory read ports); the info registers read as in :class:`~hdl.network.Network`.
"""
from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib.memory import Memory

from wuxing.golden.neuron import N_ELEMENTS
from wuxing.golden.topology import Topology

from .fixed import HwConstants, check_types, round_shift_expr, saturate_expr
from .network import (INDEX_BITS, INFO, MAGIC, OP_BSP, OP_FORWARD, OP_REVERSE,
                      REGION, ControlPort, check_buildable, coefficient_reset_values)
from .synapse import _table_shapes

__all__ = ["SerialNetwork", "SERIAL_MAX_NEURONS", "SERIAL_MAX_LINKS"]

# the control port's index field (INDEX_BITS) addresses 5N integrals and L coefficients
SERIAL_MAX_NEURONS = (1 << INDEX_BITS) // N_ELEMENTS
SERIAL_MAX_LINKS = 1 << INDEX_BITS


def _bits(n: int) -> int:
    return max(1, int(n).bit_length())


class SerialNetwork(ControlPort):
    """A whole Wuxing network, time-multiplexed on one datapath (see the module docstring).

    Parameters
    ----------
    topology: the golden :class:`~golden.topology.Topology` (the control port's
        20-bit index must reach every integral and coefficient).
    hw: :class:`hdl.fixed.HwConstants` (format, neuron, run settings; from the golden model).
    c_init: initial values of the C memory (ints, one per link, topology order); default 0.
    spram: ask Yosys to put E and S/R in iCE40 UltraPlus SPRAM (attribute ``ram_style="huge"``;
        iCE40 UP only): frees block RAM for the coefficients and link table of larger networks.

    Ports (as :class:`hdl.network.Network`): ``addr``, ``wdata``, ``we``, ``rdata`` (registered
    read), ``op``, ``start``, ``busy``, ``done``, ``overflow``.
    """

    def __init__(self, topology: Topology, hw: HwConstants, *, c_init=None,
                 spram: bool = False):
        check_types(topology=(topology, Topology), hw=(hw, HwConstants), spram=(spram, bool))
        t = topology
        check_buildable(t, hw, SERIAL_MAX_NEURONS, SERIAL_MAX_LINKS, "serial")
        L = t.n_links
        W = hw.fmt.width
        # one W x W signed multiplier: every operand must fit it
        if hw.max_abs_d > (1 << (W - 1)) - 1:
            raise ValueError(f"|D| up to {hw.max_abs_d} does not fit the {W}-bit multiplier")
        entries, tshape, _ = _table_shapes(hw)
        slope = int(np.max(np.abs(np.diff(entries))))
        if slope > (1 << (W - 1)) - 1 or hw.table.frac_bits > W - 1:
            raise ValueError(f"the atan table's interpolation does not fit the {W}-bit multiplier")
        self.topology, self.hw, self.spram = t, hw, spram
        self.c_init = coefficient_reset_values(c_init, hw, L)
        super().__init__(t, hw)

    def link_table(self):
        """The link ROM: per direction (forward, then reverse), the links sorted by the row
        that receives them: ``(link index, row of the other end, receiving row)``."""
        t, N = self.topology, self.topology.n_neurons
        src = (t.src_elem * N + t.src_neuron).astype(np.int64)
        dst = (t.dst_elem * N + t.dst_neuron).astype(np.int64)
        links = []
        for to_rows, from_rows in ((dst, src), (src, dst)):
            order = np.argsort(to_rows, kind="stable")
            links += [(int(l), int(from_rows[l]), int(to_rows[l])) for l in order]
        return links

    def cycles_per_step(self) -> int:
        """Clocks of one Euler step (13 a row, 2 a link)."""
        return 13 * N_ELEMENTS * self.topology.n_neurons + 2 * self.topology.n_links

    def cycles_per_bsp(self) -> int:
        """Clocks of one BSP update (acc_width + 9 a link)."""
        return (self.hw.fmt.acc_width + 9) * self.topology.n_links + 1

    def cycles_per_run(self) -> int:
        """Clocks of a forward or reverse run: the load (5N), then the steps."""
        return N_ELEMENTS * self.topology.n_neurons + self.hw.cfg.steps * self.cycles_per_step()

    def elaborate(self, platform):
        m = Module()
        t, hw, fmt = self.topology, self.hw, self.hw.fmt
        W, F, k = fmt.width, fmt.frac, hw.h_shift
        N, L = t.n_neurons, t.n_links
        R5 = N_ELEMENTS * N
        n_in, n_out = self.n_inputs, self.n_outputs
        out_base = int(t.offsets[-2])
        tab = hw.table
        entries, tshape, _ = _table_shapes(hw)

        # memories (one address each for E and S/R: single-port RAMs, SPRAM on the UP5K) --
        big = dict(ram_style="huge") if self.spram else None
        e_mem = Memory(shape=signed(W), depth=2 * R5, init=[], attrs=big)
        sr_mem = Memory(shape=signed(fmt.acc_width), depth=2 * R5, init=[], attrs=big)  # S, R
        c_mem = Memory(shape=signed(fmt.coef_width), depth=L, init=self.c_init)
        ov_mem = Memory(shape=1, depth=N, init=[])
        x_mem = Memory(shape=signed(W), depth=n_in + n_out, init=[])
        li, rb = _bits(L - 1), _bits(R5 - 1)
        link_rom = Memory(shape=li + 2 * rb + 3, depth=2 * L,
                          init=[l | (o << li) | (r << (li + rb)) | ((o // N) << (li + 2 * rb))
                                for l, o, r in self.link_table()])
        tlo_rom = Memory(shape=tshape, depth=len(entries) - 1, init=entries[:-1])
        thi_rom = Memory(shape=tshape, depth=len(entries) - 1, init=entries[1:])
        for name, mem in (("e_mem", e_mem), ("sr_mem", sr_mem), ("c_mem", c_mem),
                          ("ov_mem", ov_mem), ("x_mem", x_mem), ("link_rom", link_rom),
                          ("atan_lo", tlo_rom), ("atan_hi", thi_rom)):
            m.submodules[name] = mem
        e_rd, e_wr = e_mem.read_port(), e_mem.write_port()
        sr_rd, sr_wr = sr_mem.read_port(), sr_mem.write_port()
        c_rd, c_wr = c_mem.read_port(), c_mem.write_port()
        ov_rd, ov_wr = ov_mem.read_port(), ov_mem.write_port()
        x_rd, x_wr = x_mem.read_port(), x_mem.write_port()
        lnk_rd = link_rom.read_port()
        tlo_rd, thi_rd = tlo_rom.read_port(), thi_rom.read_port()
        e_addr, sr_addr = Signal(range(2 * R5)), Signal(range(2 * R5))
        # no read while writing (SPRAM's read data holds during a write)
        m.d.comb += [e_rd.addr.eq(e_addr), e_wr.addr.eq(e_addr), e_rd.en.eq(~e_wr.en),
                     sr_rd.addr.eq(sr_addr), sr_wr.addr.eq(sr_addr), sr_rd.en.eq(~sr_wr.en)]

        # constants per element, by direction ---------------------------------------------
        rev = Signal()
        elem = Signal(range(N_ELEMENTS))
        neuron = Signal(range(N))
        row = Signal(range(R5))

        def per_elem(fn, index, shape):
            f = Array(Const(fn(False, i), shape) for i in range(N_ELEMENTS))
            r = Array(Const(fn(True, i), shape) for i in range(N_ELEMENTS))
            return Mux(rev, r[index], f[index])

        b0_of = lambda i: per_elem(lambda d, j: hw.b0_int[d][j], i, signed(W))  # noqa: E731
        k1 = per_elem(lambda d, j: hw.k_int[d][0][j], elem, signed(W))
        k2 = per_elem(lambda d, j: hw.k_int[d][1][j], elem, signed(W))
        k3 = per_elem(lambda d, j: hw.k_int[d][2][j], elem, signed(W))
        lin_base = per_elem(lambda d, j: hw.src[d][j] * N, elem, unsigned(rb + 1))
        quad_base = per_elem(lambda d, j: hw.partner[d][j] * N, elem, unsigned(rb + 1))
        in_row = Mux(rev, (elem == t.out_elem) & (neuron >= out_base),
                     (elem == t.in_elem) & (neuron < n_in))
        x_addr = Mux(rev, neuron - out_base + n_in, neuron)

        # the shared multiplier: product registered ---------------------------------------
        mul_a, mul_b = Signal(signed(W)), Signal(signed(W))
        prod = Signal(signed(2 * W))
        m.d.sync += prod.eq(mul_a * mul_b)

        # bounds of the row sum (never truncated: FixedModel computes in int64)
        half = 1 << (W - 1)
        e_max = max(abs(hw.lo), abs(hw.hi), *(abs(v) for d in (0, 1) for v in hw.b0_int[d]))
        q_max = (e_max * e_max + (1 << (F - 1))) >> F
        fan = int(max(np.bincount(np.concatenate([t.src_elem * N + t.src_neuron,
                                                   t.dst_elem * N + t.dst_neuron]))))
        acc_max = (2 * half * half + half * q_max + fan * half * half + (half << F))
        acc = Signal(signed(acc_max.bit_length() + 1))
        q = Signal(signed(q_max.bit_length() + 1))
        qs = W - 1  # K3 * q in two products: the high part, then the low qs bits
        e_lin, e_quad, e_self = Signal(signed(W)), Signal(signed(W)), Signal(signed(W))
        x_val = Signal(signed(W))
        ov_old, s_old = Signal(), Signal(signed(fmt.acc_width))
        j = Signal(range(L + 1))  # the next link of the table (of the direction)
        link_idx, other, own = Signal(range(L)), Signal(range(R5)), Signal(range(R5))
        other_elem, link_elem = Signal(range(N_ELEMENTS)), Signal(range(N_ELEMENTS))
        m.d.comb += [link_idx.eq(lnk_rd.data[:li]), other.eq(lnk_rd.data[li:li + rb]),
                     own.eq(lnk_rd.data[li + rb:li + 2 * rb]),
                     link_elem.eq(lnk_rd.data[li + 2 * rb:]),
                     lnk_rd.addr.eq(j + Mux(rev, L, 0))]
        bank = Signal()

        def e_row(r, b):
            return r + Mux(b, R5, 0)
        sr_base = Mux(rev, R5, 0)   # the integral of the mode
        step = Signal(16)
        steps = Signal(16, init=hw.cfg.steps)
        any_over = Signal()
        done = Signal()
        m.d.sync += done.eq(0)
        m.d.comb += [self.done.eq(done), self.overflow.eq(any_over)]

        d_self = Signal(signed(W + 1))
        m.d.comb += d_self.eq(e_self - b0_of(elem))
        # the sums registered (state SUM), saturated and written a clock later (FIN)
        e_sum = Signal(signed(acc.shape().width + 1))
        e_new, clamped = saturate_expr(e_sum, hw.lo, hw.hi)
        i_sum = Signal(signed(fmt.acc_width + 1))
        i_new, _ = saturate_expr(i_sum, fmt.acc_min, fmt.acc_max)

        # BSP registers
        sh_a = Signal(unsigned(2 * fmt.acc_width))   # |S| shifted left
        sh_b = Signal(unsigned(fmt.acc_width))       # |R| shifted right
        mag = Signal(unsigned(2 * fmt.acc_width))
        neg = Signal()
        bit = Signal(range(fmt.acc_width + 1))
        c_old = Signal(signed(fmt.coef_width))
        xb = Signal(unsigned(2 * fmt.acc_width + max(0, -hw.bsp_shift_in)))
        m.d.comb += xb.eq(round_shift_expr(mag, hw.bsp_shift_in))
        t_sat = Signal()
        t_frac = Signal(unsigned(max(1, tab.frac_bits)))
        t_idx = Signal(range(tab.segments))
        y = Signal(signed(tshape.width + 1))
        delta_width = max(fmt.coef_width + 1, tshape.width + max(0, -hw.bsp_shift_out) + 2)
        dC = Signal(signed(delta_width))
        dC_signed = Signal(signed(delta_width + 1))   # registered (state B_DELTA)
        c_sum = Signal(signed(delta_width + 2))
        m.d.comb += [
            y.eq(Mux(t_sat, entries[-1],
                     tlo_rd.data + round_shift_expr(prod, tab.frac_bits))),
            dC.eq(round_shift_expr(y, hw.bsp_shift_out)),
            c_sum.eq(c_old + dC_signed),
        ]
        c_new, _ = saturate_expr(c_sum, hw.c_lo, hw.c_hi)

        # commands -----------------------------------------------------------------------
        region, index, cmd, cmd_op = self.decode_command(m)

        def next_row(m, last_state_done):
            """Advance (elem, neuron, row); at the last row run ``last_state_done``."""
            with m.If(row == R5 - 1):
                m.d.sync += [row.eq(0), elem.eq(0), neuron.eq(0)]
                last_state_done()
            with m.Else():
                m.d.sync += row.eq(row + 1)
                with m.If(neuron == N - 1):
                    m.d.sync += [neuron.eq(0), elem.eq(elem + 1)]
                with m.Else():
                    m.d.sync += neuron.eq(neuron + 1)

        def finish(m):
            m.d.sync += done.eq(1)
            m.next = "IDLE"

        with m.FSM(name="control") as fsm:
            with m.State("IDLE"):
                m.d.sync += [row.eq(0), elem.eq(0), neuron.eq(0), j.eq(0)]
                with m.If(cmd):
                    with m.If(cmd_op == OP_BSP):
                        m.d.sync += rev.eq(0)   # BSP walks the forward link table
                        m.next = "B_NEXT"
                    with m.Elif(cmd_op == OP_REVERSE):
                        m.d.sync += [rev.eq(1), any_over.eq(0)]
                        m.next = "LOAD"
                    with m.Elif(cmd_op == OP_FORWARD):
                        m.d.sync += [rev.eq(0), any_over.eq(0)]
                        m.next = "LOAD"
            with m.State("LOAD"):  # E (bank 0) to B0, the integral of the mode and flags cleared
                m.d.comb += [e_addr.eq(row), e_wr.data.eq(b0_of(elem)), e_wr.en.eq(1),
                             sr_addr.eq(sr_base + row), sr_wr.data.eq(0), sr_wr.en.eq(1),
                             ov_wr.addr.eq(neuron), ov_wr.data.eq(0), ov_wr.en.eq(elem == 0)]

                def loaded():
                    m.d.sync += [bank.eq(0), step.eq(0)]
                    with m.If(steps == 0):
                        finish(m)
                    with m.Else():
                        m.next = "ROW0"
                next_row(m, loaded)
            # one row of one Euler step ------------------------------------------------------
            with m.State("ROW0"):
                m.d.comb += [e_addr.eq(e_row(lin_base + neuron, bank)),
                             sr_addr.eq(sr_base + row)]
                m.next = "ROW1"
            with m.State("ROW1"):
                m.d.sync += [e_lin.eq(e_rd.data), x_val.eq(Mux(in_row, x_rd.data, 0)),
                             ov_old.eq(ov_rd.data), s_old.eq(sr_rd.data)]
                m.d.comb += e_addr.eq(e_row(quad_base + neuron, bank))
                m.next = "ROW2"
            with m.State("ROW2"):
                m.d.sync += e_quad.eq(e_rd.data)
                m.d.comb += e_addr.eq(e_row(row, bank))
                m.next = "ROW3"
            with m.State("ROW3"):
                m.d.sync += [e_self.eq(e_rd.data), acc.eq(x_val << F)]
                m.next = "M1"
            with m.State("M1"):
                m.d.comb += [mul_a.eq(k1), mul_b.eq(e_lin)]
                m.next = "M2"
            with m.State("M2"):
                m.d.sync += acc.eq(acc + prod)
                m.d.comb += [mul_a.eq(k2), mul_b.eq(e_self)]
                m.next = "M3"
            with m.State("M3"):
                m.d.sync += acc.eq(acc - prod)
                m.d.comb += [mul_a.eq(e_self), mul_b.eq(e_quad)]
                m.next = "M4"
            with m.State("M4"):
                m.d.sync += q.eq(round_shift_expr(prod, F))
                m.next = "M5"
            with m.State("M5"):
                m.d.comb += [mul_a.eq(k3), mul_b.eq(q >> qs)]
                m.next = "M6"
            with m.State("M6"):
                m.d.sync += acc.eq(acc - (prod << qs))
                m.d.comb += [mul_a.eq(k3), mul_b.eq(q[:qs])]
                m.next = "M7"

            def next_link():
                """The link table entry at j is valid here: if it is this row's, read its C and
                the E of its other end (the product is taken next clock)."""
                with m.If((j != L) & (own == row)):
                    m.d.comb += [c_rd.addr.eq(link_idx), e_addr.eq(e_row(other, bank))]
                    m.d.sync += [other_elem.eq(link_elem), j.eq(j + 1)]
                    m.next = "LINK"
                with m.Else():
                    m.next = "SUM"
            with m.State("M7"):
                m.d.sync += acc.eq(acc - prod)
                next_link()
            with m.State("LINK"):
                m.d.comb += [mul_a.eq(c_rd.data >> fmt.coef_extra),
                             mul_b.eq(e_rd.data - b0_of(other_elem))]
                m.next = "LINK_ACC"
            with m.State("LINK_ACC"):
                m.d.sync += acc.eq(acc + prod)
                next_link()
            with m.State("SUM"):
                m.d.sync += [e_sum.eq(e_self + round_shift_expr(acc, F + k)),
                             i_sum.eq(s_old + d_self)]
                m.next = "FIN"
            with m.State("FIN"):  # commit the row: E', integral, overflow flag
                m.d.comb += [e_addr.eq(e_row(row, ~bank)), e_wr.data.eq(e_new), e_wr.en.eq(1),
                             sr_addr.eq(sr_base + row), sr_wr.data.eq(i_new), sr_wr.en.eq(1),
                             ov_wr.addr.eq(neuron), ov_wr.data.eq(ov_old | clamped),
                             ov_wr.en.eq(1)]
                m.d.sync += any_over.eq(any_over | clamped)

                def stepped():
                    m.d.sync += [bank.eq(~bank), step.eq(step + 1), j.eq(0)]
                    with m.If(step + 1 >= steps):
                        finish(m)
                m.next = "ROW0"
                next_row(m, stepped)
            # BSP: every link in the forward table order ------------------------------------
            with m.State("B_NEXT"):
                with m.If(j == L):
                    finish(m)
                with m.Else():
                    m.next = "B_LINK"
            with m.State("B_LINK"):  # S at the link's source, its C
                m.d.comb += [sr_addr.eq(other), c_rd.addr.eq(link_idx)]
                m.next = "B_RREAD"
            with m.State("B_RREAD"):  # R at its target
                s_val = sr_rd.data
                m.d.comb += sr_addr.eq(R5 + own)
                m.d.sync += [sh_a.eq(Mux(s_val < 0, -s_val, s_val)), neg.eq(s_val < 0),
                             c_old.eq(c_rd.data)]
                m.next = "B_LOAD"
            with m.State("B_LOAD"):
                r_val = sr_rd.data
                m.d.sync += [sh_b.eq(Mux(r_val < 0, -r_val, r_val)), neg.eq(neg ^ (r_val < 0)),
                             mag.eq(0), bit.eq(0)]
                m.next = "B_MUL"
            with m.State("B_MUL"):  # |P| = |S| * |R|, one bit a clock
                with m.If(sh_b[0]):
                    m.d.sync += mag.eq(mag + sh_a)
                m.d.sync += [sh_a.eq(sh_a << 1), sh_b.eq(sh_b >> 1), bit.eq(bit + 1)]
                with m.If(bit == fmt.acc_width - 1):
                    m.next = "B_TAB"
            with m.State("B_TAB"):  # table input: segment and interpolation weight
                sat = xb >= tab.x_limit
                xm = Mux(sat, 0, xb)
                m.d.sync += [t_sat.eq(sat), t_idx.eq(xm >> tab.frac_bits),
                             t_frac.eq(xm & ((1 << tab.frac_bits) - 1) if tab.frac_bits else 0)]
                m.next = "B_READ"
            with m.State("B_READ"):
                m.next = "B_SLOPE"
            with m.State("B_SLOPE"):
                m.d.comb += [mul_a.eq(thi_rd.data - tlo_rd.data), mul_b.eq(t_frac)]
                m.next = "B_DELTA"
            with m.State("B_DELTA"):
                m.d.sync += dC_signed.eq(Mux(neg, -dC, dC))
                m.next = "B_WRITE"
            with m.State("B_WRITE"):
                m.d.comb += [c_wr.addr.eq(link_idx), c_wr.data.eq(c_new), c_wr.en.eq(1)]
                m.d.sync += j.eq(j + 1)
                m.next = "B_NEXT"

        busy = Signal()
        m.d.comb += [busy.eq(~fsm.ongoing("IDLE")), self.busy.eq(busy)]

        m.d.comb += [tlo_rd.addr.eq(t_idx), thi_rd.addr.eq(t_idx)]

        # host side: writes when idle, reads through the memories' read ports ------------
        host_write = self.we & ~busy
        with m.If(~busy):
            with m.If(host_write & (region == REGION["input"]) & (index < n_in)):
                m.d.comb += [x_wr.addr.eq(index), x_wr.data.eq(self.wdata), x_wr.en.eq(1)]
            with m.If(host_write & (region == REGION["error"]) & (index < n_out)):
                m.d.comb += [x_wr.addr.eq(index + n_in), x_wr.data.eq(self.wdata),
                             x_wr.en.eq(1)]
            with m.If(host_write & (region == REGION["coef"]) & (index < L)):
                m.d.comb += [c_wr.addr.eq(index), c_wr.data.eq(self.wdata), c_wr.en.eq(1)]
        with m.If(host_write & (self.addr == ((REGION["info"] << INDEX_BITS) | INFO["steps"]))):
            m.d.sync += steps.eq(self.wdata)

        # datapath read addresses while busy, the host's otherwise
        with m.If(~busy):
            m.d.comb += [
                x_rd.addr.eq(Mux(region == REGION["error"], index + n_in, index)),
                c_rd.addr.eq(index),
                sr_addr.eq(Mux(region == REGION["output"], t.out_elem * N + out_base + index,
                               Mux(region == REGION["rev_integral"], R5 + index, index))),
                ov_rd.addr.eq(index),
            ]
        with m.Else():
            m.d.comb += [x_rd.addr.eq(x_addr), ov_rd.addr.eq(neuron)]

        # registered read: the source chosen a clock earlier, memory data arrives with it
        SRC_ZERO, SRC_INFO, SRC_X, SRC_C, SRC_SR, SRC_OV = range(6)
        src = Signal(range(6))
        info_val = Signal(signed(self.data_width))
        info = {INFO["n_inputs"]: n_in, INFO["n_outputs"]: n_out, INFO["n_neurons"]: N,
                INFO["n_links"]: L, INFO["steps"]: steps,
                INFO["status"]: busy | (any_over << 1),
                INFO["width"]: fmt.width, INFO["frac"]: fmt.frac,
                INFO["coef_extra"]: fmt.coef_extra, INFO["acc_width"]: fmt.acc_width,
                INFO["h_shift"]: hw.h_shift, INFO["magic"]: MAGIC}
        m.d.sync += [src.eq(SRC_ZERO), info_val.eq(0)]
        in_range = {"input": n_in, "error": n_out, "coef": L, "fwd_integral": R5,
                    "rev_integral": R5, "output": n_out, "overflow": N}
        which = {"input": SRC_X, "error": SRC_X, "coef": SRC_C, "fwd_integral": SRC_SR,
                 "rev_integral": SRC_SR, "output": SRC_SR, "overflow": SRC_OV}
        with m.Switch(region):
            for name, n in in_range.items():
                with m.Case(REGION[name]):
                    with m.If(index < n):
                        m.d.sync += src.eq(which[name])
            with m.Case(REGION["info"]):
                with m.Switch(index):
                    for key, v in info.items():
                        with m.Case(key):
                            m.d.sync += [src.eq(SRC_INFO), info_val.eq(v)]
        with m.Switch(src):
            with m.Case(SRC_INFO):
                m.d.comb += self.rdata.eq(info_val)
            with m.Case(SRC_X):
                m.d.comb += self.rdata.eq(x_rd.data)
            with m.Case(SRC_C):
                m.d.comb += self.rdata.eq(c_rd.data)
            with m.Case(SRC_SR):
                m.d.comb += self.rdata.eq(sr_rd.data)
            with m.Case(SRC_OV):
                m.d.comb += self.rdata.eq(ov_rd.data)
        return m
