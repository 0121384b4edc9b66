"""One lane: a bank's memories and the datapath that works on them (one multiplier).

Memories of bank ``b`` (local rows ``e * nb + j``, see schedule.py):

* ``e_mem`` (11 nb words of width+1 bits): E in two halves of 5 nb rows (a step reads half
  ``t % 2``, writes the other), then the inputs (input neurons) or errors (output neurons) at
  ``10 nb + j``. Bit ``width`` of an E word is the neuron's sticky overflow flag (element 4's
  word carries the whole neuron's flag).
* ``sr_mem`` (10 nb): the integrals S then R. ``u_mem`` (5 nb): the link input of each row in
  the current step (full product width), or input << F on external rows.
* ``c_mem`` (T): the C of the link this lane holds at each slot; ``slot_rom`` (T): the slot
  table (tables.slot_layout).

Phases (offsets in timing.py): LOAD, LINK (forward: serve D of the source row, take a link
into a target row; reverse: serve D and C of the target row, take a link into a source
row), NEURON (one row a clock, neuron by neuron) and BSP (bsp.BspUnit on this lane's
multiplier). When no phase uses a port, the control port's host access (the engine's
translated address) does.
"""
from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from wuxing.golden.network import BSP_ACC_BITS
from wuxing.golden.neuron import N_ELEMENTS

from ..fixed import HwConstants, round_shift_expr, saturate_expr
from ..synapse import _table_shapes
from .bsp import BspUnit, shift_out_bits
from .dither import WANG32_STAGES, wang32_stage
from .memories import engine_memories, memory_attrs, registered_read
from .schedule import EngineTiming, Schedule
from .sequencer import ISSUE_BSP, ISSUE_LINK, ISSUE_LOAD, ISSUE_NEURON, control_layout
from .tables import EngineWidths, bits, slot_layout
from .timing import DITHER, LINK, LOAD, MUL_LATENCY, NEURON, bsp_stages

__all__ = ["Lane", "HOST_NONE", "HOST_E", "HOST_SR", "HOST_C", "host_addr_bits", "LANE_CONTROL",
           "LANE_HOST", "LANE_SETTINGS", "KEEP_APART"]

# the name of each lane's copy of the sequencer's control word: the copies are identical
# registers, which Yosys would merge into one driving every lane across the chip (the ULX3S's
# critical path at P = 4 ran from one lane's copy through three others), so a build keeps
# them apart (boards.build)
LANE_CONTROL = "lane_ctl"
# the same for each lane's copy of the host access (the ULX3S's critical path at P = 4 ran
# from the control port's address adder into every lane's memory address multiplexers)
LANE_HOST = "lane_host"
# ... and of the learning settings (batch_log2, shift_out): the BSP unit's shift logic decodes
# them, and Yosys had merged that logic of every lane into lane 0's, the most congested nets of
# the OrangeCrab's P = 8 route
LANE_SETTINGS = "lane_set"
KEEP_APART = (LANE_CONTROL, LANE_HOST, LANE_SETTINGS)

HOST_NONE, HOST_E, HOST_SR, HOST_C = range(4)


def host_addr_bits(schedule: Schedule) -> int:
    return bits(max(11 * schedule.nb, schedule.slots) - 1) or 1


class _Stages:
    """Values travelling down a pipeline: ``add(name, value, stage)`` makes ``value`` known at
    clock ``stage`` after the issue and registers it down to clock ``last``; ``at(name, k)``
    is its copy at clock ``k``. (The registers are made in ``add``, outside any ``m.If``: a
    register made inside one would only advance when its condition holds.) Only the chain
    ``on`` (the stage holds an issued row or slot) is reset; the others carry data that is
    used only where ``on`` says so, and are ``reset_less``: no reset logic on the FPGA, and
    no reset multiplexer that a simulator evaluates at every clock."""

    def __init__(self, m, prefix: str, last: int):
        self.m, self.prefix, self.last, self.chains = m, prefix, last, {}

    def add(self, name, value, stage: int, shape=None):
        sig = Signal(shape if shape is not None else value.shape(),
                     name=f"{self.prefix}_{name}_{stage}")
        self.m.d.comb += sig.eq(value)
        chain = {stage: sig}
        for k in range(stage, self.last):
            chain[k + 1] = Signal.like(sig, name=f"{self.prefix}_{name}_{k + 1}",
                                       reset_less=name != "on")
            self.m.d.sync += chain[k + 1].eq(chain[k])
        self.chains[name] = chain

    def at(self, name, stage: int):
        chain = self.chains[name]
        if stage not in chain:
            raise ValueError(f"{self.prefix} {name} is known at clocks {min(chain)}.."
                             f"{max(chain)}, not {stage}")
        return chain[stage]


def _per_element(values_fwd, values_rev, e, rev, shape):
    """The constant of element ``e`` in the direction ``rev`` (a constant when every element
    and direction has the same one, as MODEL1's B0: no element decoding for a simulator to
    evaluate, nor left for synthesis to find)."""
    if len({int(v) for v in (*values_fwd, *values_rev)}) == 1:
        return Const(int(values_fwd[0]), shape)
    fwd = Array(Const(int(v), shape) for v in values_fwd)
    back = Array(Const(int(v), shape) for v in values_rev)
    return Mux(rev, back[e], fwd[e])


def _k_times(value, k_fwd, k_rev, e, rev, width):
    """K * value for the element's K: a shift when every element and direction has the same
    power of two (MODEL1: 1, 0.5, 0.5), a constant product when they share one value, else a
    product with the selected constant (one multiplier more)."""
    ks = {int(v) for v in (*k_fwd, *k_rev)}
    if len(ks) == 1:
        k = ks.pop()
        if k == 0:
            return Const(0, 1)
        mag = abs(k)
        if mag & (mag - 1) == 0:
            shifted = value << (mag.bit_length() - 1)
            return shifted if k > 0 else -shifted
        return value * k
    return value * _per_element(k_fwd, k_rev, e, rev, signed(width))


def _global_neurons(schedule: Schedule, bank: int) -> list:
    """The global index of each local neuron of ``bank`` (0 for padding)."""
    out = [0] * schedule.nb
    for n in np.flatnonzero(schedule.bank == bank):
        out[int(schedule.local[n])] = int(n)
    return out


class Lane(wiring.Component):
    """Bank ``bank`` of ``schedule`` and its datapath (see the module docstring).

    Ports: ``ctl`` (in: the sequencer's control word), ``xbar_out`` (out: this bank's served
    word), ``xbar_sel`` (out: the bank this lane reads), ``xbar_in`` (in: the crossbar's word
    for this lane), ``atan_addr``/``atan_data`` (the shared atan table: the address is 0
    when this lane does not read it, so lanes sharing a port can OR theirs), ``clamp`` (out: a
    state of one of this bank's neurons was clamped), and the host access: ``host_kind``
    (HOST_E, HOST_SR, HOST_C or HOST_NONE), ``host_addr``, ``host_we`` (this lane),
    ``host_wdata``, registered here before they address a memory; ``e_rdata``, ``sr_rdata``,
    ``c_rdata`` (the memories' read data, one clock after the address), ``host_rvalid``
    (out, with them: they answer a host access, one that had a memory port); ``step_hash`` (in, with ``reverse_dither`` only: the dither hash
    of the step, dither.DitherSeed).
    """

    def __init__(self, schedule: Schedule, bank: int, hw: HwConstants, widths: EngineWidths,
                 timing: EngineTiming, slot_words, c_words, data_width: int,
                 lut_memories=(), lanes_per_table: int = 2, training: bool = True):
        self.training = training
        self.schedule, self.bank, self.hw, self.widths = schedule, bank, hw, widths
        self.lut_memories = tuple(lut_memories)
        self.lanes_per_table = lanes_per_table
        self.table_member = bank % lanes_per_table
        self.timing = timing
        self.slot_words, self.c_words = list(slot_words), list(c_words)
        _, tshape, _ = _table_shapes(hw)
        self.n_table = len(hw.table.entries())
        super().__init__({
            "ctl": In(control_layout(schedule, timing)),
            "xbar_out": Out(widths.payload), "xbar_sel": Out(range(max(2, schedule.lanes))),
            "xbar_in": In(widths.payload),
            "atan_addr": Out(range(self.n_table)), "atan_data": In(tshape),
            "clamp": Out(1),
            "host_kind": In(2), "host_addr": In(host_addr_bits(schedule)), "host_we": In(1),
            "host_wdata": In(signed(data_width)),
            "e_rdata": Out(widths.e_word), "sr_rdata": Out(signed(widths.acc)),
            "c_rdata": Out(signed(widths.coef)), "host_rvalid": Out(1),
            **({"step_hash": In(32)} if hw.fmt.reverse_dither else {}),
            "batch_log2": In(4), "shift_out": In(signed(shift_out_bits(hw))),
        })

    def _dither(self, m, nr):
        """The dither r of each row of a reverse run (timing.DITHER): the step hash xor
        ``(n << 3) | e`` (n: the global neuron, from a ROM of this bank's neurons), hashed in
        dither.WANG32_STAGES registered stages, the low F + k bits."""
        s, hw = self.schedule, self.hw
        shift = hw.fmt.frac + hw.h_shift
        m.submodules.neuron_index = rom = Memory(
            shape=max(1, bits(s.topology.n_neurons - 1)), depth=s.nb,
            init=_global_neurons(s, self.bank),
            attrs=memory_attrs("neuron_index", self.lut_memories))
        rd = rom.read_port()
        step = Signal(32, reset_less=True)
        m.d.sync += step.eq(self.step_hash)       # as the control word (CONTROL_DELAY)
        m.d.comb += rd.addr.eq(nr.at("j", DITHER["index"] - 1))
        x = Signal(32, name="dither_x")
        m.d.comb += x.eq(step ^ Cat(nr.at("e", DITHER["index"]), rd.data))
        for k in range(WANG32_STAGES):
            y = Signal(32, name=f"dither_h{k + 1}", reset_less=True)
            m.d.sync += y.eq(wang32_stage(x, k))
            x = y
        assert DITHER["offset"] == DITHER["index"] + WANG32_STAGES
        nr.add("dither", x[:shift], DITHER["offset"])

    def elaborate(self, platform):
        m = Module()
        s, hw, wd, b = self.schedule, self.hw, self.widths, self.bank
        fmt = hw.fmt
        W, F, aw = fmt.width, fmt.frac, fmt.acc_width
        nb, T, R5 = s.nb, s.slots, N_ELEMENTS * s.nb
        count = int(s.counts[b])
        n_in_local, out_start = int(s.n_inputs_local[b]), int(s.out_start_local[b])
        t = s.topology

        # memories ---------------------------------------------------------------------
        lay = slot_layout(s)
        spec = {ms.name: ms for ms in engine_memories(s, wd, self.n_table, 1,
                                                      training=self.training)}  # depths

        def memory(name, shape, init=()):
            mem = Memory(shape=shape, depth=spec[name].depth, init=list(init),
                         attrs=memory_attrs(name, self.lut_memories))
            m.submodules[name] = mem
            return mem
        e_mem = memory("e_mem", unsigned(wd.e_word))
        sr_mem = memory("sr_mem", signed(aw))
        u_mem = memory("u_mem", signed(wd.u))
        c_mem = memory("c_mem", signed(wd.coef), self.c_words)
        slot_rom = memory("slot_rom", unsigned(lay.width), self.slot_words)
        e_rd, e_wr = registered_read(m, e_mem, "e"), e_mem.write_port()
        sr_rd, sr_wr = registered_read(m, sr_mem, "sr"), sr_mem.write_port()
        u_rd, u_wr = registered_read(m, u_mem, "u"), u_mem.write_port()
        c_rd, c_wr = registered_read(m, c_mem, "c"), c_mem.write_port()
        tab_rd = slot_rom.read_port()
        m.d.comb += [self.e_rdata.eq(e_rd.data), self.sr_rdata.eq(sr_rd.data),
                     self.c_rdata.eq(c_rd.data)]

        def field(word, name):
            off, w = lay.fields[name]
            return word[off:off + w] if w else Const(0, 1)

        # the control word, registered (timing.CONTROL_DELAY) ----------------------------
        c = Signal(control_layout(s, self.timing), name=LANE_CONTROL)
        m.d.sync += c.eq(self.ctl)
        rev = c.rev
        # the host access, registered (the last clock of timing.HOST_PORT) --------------------
        h = Signal(data.StructLayout({"kind": 2, "addr": host_addr_bits(s), "we": 1,
                                      "wdata": self.host_wdata.shape()}),
                   name=LANE_HOST, init={"kind": HOST_NONE})
        m.d.sync += [h.kind.eq(self.host_kind), h.addr.eq(self.host_addr),
                     h.we.eq(self.host_we), h.wdata.eq(self.host_wdata)]
        # (the read data of the host's access are on e/sr/c_rdata a clock after h addressed
        # the port; the engine registers them only then)
        m.d.sync += self.host_rvalid.eq(h.kind != HOST_NONE)
        row_base = Array(Const(e * nb, range(R5 + 1)) for e in range(N_ELEMENTS))

        def b0(e, d=rev):
            return _per_element(hw.b0_int[False], hw.b0_int[True], e, d, signed(W))

        def elem_of(row):
            return sum((row >= i * nb) for i in range(1, N_ELEMENTS))

        # the multiplier: signed W x W, operands and product registered (MUL_LATENCY) --------
        mul_a, mul_b = Signal(signed(W)), Signal(signed(W))
        # (without reset: the DSP block's own registers take them, not logic cells)
        a_reg = Signal(signed(W), reset_less=True)
        b_reg = Signal(signed(W), reset_less=True)
        prod = Signal(signed(2 * W), reset_less=True)
        m.d.sync += [a_reg.eq(mul_a), b_reg.eq(mul_b), prod.eq(a_reg * b_reg)]
        assert MUL_LATENCY == 2

        load0 = c.op == ISSUE_LOAD
        link0 = c.op == ISSUE_LINK
        neu0 = c.op == ISSUE_NEURON
        bsp0 = c.op == ISSUE_BSP
        row0 = Signal(range(R5))
        m.d.comb += row0.eq(row_base[c.e] + c.j)

        # LINK: the stages of timing.LINK ----------------------------------------------------
        assert (LINK["table_data"] == LINK["table_read"] + 1          # synchronous reads
                and LINK["serve_read"] == LINK["table_data"] + 1      # its word registered
                and LINK["serve_data"] == LINK["serve_read"] + 1     # synchronous read
                and LINK["serve_out"] == LINK["serve_data"] + 1      # its word registered
                and LINK["crossbar"] == LINK["serve_out"] + 1
                and LINK["multiply"] == LINK["crossbar"] + 1
                and LINK["u_write"] == LINK["multiply"] + MUL_LATENCY
                and LINK["u_data"] == LINK["u_read"] + 1          # synchronous read
                and LINK["u_write"] == LINK["u_data"] + 1         # its word registered
                and LINK["u_read"] >= LINK["serve_read"])         # the row is known
        lk = _Stages(m, "link", LINK["u_write"])
        lk.add("on", link0, 0)
        # the slot's word, registered a clock after the block RAM gives it (the slot table ->
        # E / S read address path was the critical one): in the link phase the next slot's,
        # in BSP (one slot held for many clocks) the same slot's
        tab = Signal(lay.width, name="slot_word", reset_less=True)
        m.d.sync += tab.eq(tab_rd.data)
        sr_ = LINK["serve_read"]
        serve_row = Mux(rev, field(tab, "dst_row"), field(tab, "src_row"))
        # the link this lane takes (forward: into its target row; reverse: its source row)
        lk.add("valid", Mux(rev, field(tab, "src_valid"), field(tab, "dst_valid")), sr_)
        lk.add("first", Mux(rev, field(tab, "src_first"), field(tab, "dst_first")), sr_)
        lk.add("row", Mux(rev, field(tab, "src_row"), field(tab, "dst_row")), sr_, range(R5))
        lk.add("peer", Mux(rev, field(tab, "src_peer"), field(tab, "dst_peer")), sr_,
               range(max(2, s.lanes)))
        # (C is read at the table's clock and taken a clock later: the C port reads the next
        # slot's at the clock the slot word is registered)
        lk.add("cmul", c_rd.data >> fmt.coef_extra, LINK["table_data"], signed(W))
        lk.add("serve_elem", elem_of(serve_row), sr_, range(N_ELEMENTS))
        # the served row's E, registered in the bank before the subtraction: a block RAM
        # output reaches the crossbar only through a flip-flop
        e_served = Signal(signed(W), name="e_served", reset_less=True)
        with m.If(lk.at("on", LINK["serve_data"])):
            m.d.sync += e_served.eq(e_rd.data[:W].as_signed())
        d_served = Signal(signed(W + 1))
        m.d.comb += d_served.eq(e_served - b0(lk.at("serve_elem", LINK["serve_out"])))
        xin_d = self.xbar_in[:W].as_signed()
        xin_c = self.xbar_in[W:2 * W].as_signed()
        link_mul = lk.at("on", LINK["multiply"])
        link_u_read = lk.at("on", LINK["u_read"])
        link_u_write = lk.at("on", LINK["u_write"]) & lk.at("valid", LINK["u_write"])
        # U of the link's row, registered (0 on the row's first link): the add and the write
        # a clock after the block RAM's output, not in its clock
        u_old = Signal(signed(wd.u), name="link_u_old", reset_less=True)
        with m.If(lk.at("on", LINK["u_data"])):
            m.d.sync += u_old.eq(Mux(lk.at("first", LINK["u_data"]), 0, u_rd.data))

        # BSP: per slot, at the offsets of timing.bsp_stages -----------------------------
        st = bsp_stages(aw, W, self.table_member, self.lanes_per_table)
        m.submodules.bsp = bsp = BspUnit(hw, self.table_member, self.lanes_per_table)

        def at(name):
            return bsp0 & (c.sub == st[name])
        # (data registers of the slot, loaded before they are used: reset_less, as the
        # pipelines' data, _Stages)
        b_dst_valid = Signal(reset_less=True)
        b_dst_row = Signal(range(R5), reset_less=True)
        b_dst_peer = Signal(range(max(2, s.lanes)), reset_less=True)
        c_old = Signal(signed(wd.coef), reset_less=True)
        r_val = Signal(signed(aw), reset_less=True)
        s_served = Signal(signed(aw), name="s_served", reset_less=True)   # as e_served
        with m.If(at("serve_read")):
            m.d.sync += [b_dst_valid.eq(field(tab, "dst_valid")),
                         b_dst_row.eq(field(tab, "dst_row")),
                         b_dst_peer.eq(field(tab, "dst_peer")), c_old.eq(c_rd.data)]
        with m.If(at("serve_data")):
            m.d.sync += s_served.eq(sr_rd.data)
        with m.If(at("serve_out")):
            m.d.sync += r_val.eq(sr_rd.data)
        m.d.comb += [bsp.sub.eq(c.sub), bsp.s.eq(self.xbar_in[:aw].as_signed()),
                     bsp.r.eq(r_val), bsp.c_old.eq(c_old), bsp.prod.eq(prod),
                     bsp.tab_data.eq(self.atan_data), self.atan_addr.eq(bsp.tab_addr),
                     bsp.update.eq(c.upd)]
        # the settings, registered here (the host writes them between commands)
        settings = Signal(data.StructLayout({"batch_log2": len(self.batch_log2),
                                             "shift_out": self.shift_out.shape()}),
                          name=LANE_SETTINGS)
        m.d.sync += [settings.batch_log2.eq(self.batch_log2),
                     settings.shift_out.eq(self.shift_out)]
        m.d.comb += [bsp.batch_log2.eq(settings.batch_log2),
                     bsp.shift_out.eq(settings.shift_out)]
        if self.training:
            # the accumulator of the slot's link (per slot): read for the whole slot (c.k),
            # written at squash
            bsp_acc = memory("bsp_acc", signed(BSP_ACC_BITS))
            a_rd, a_wr = registered_read(m, bsp_acc, "a"), bsp_acc.write_port()
            # its word registered (no adder on the block RAM's output): the address holds
            # for the whole slot, so the register has it from the slot's clock 2 on
            assert bsp_stages(hw.fmt.acc_width, W)["accumulate"] > 2
            a_old = Signal.like(a_rd.data, name="bsp_a_old", reset_less=True)
            m.d.sync += a_old.eq(a_rd.data)
            m.d.comb += [bsp.acc_mode.eq(c.acc), bsp.a_old.eq(a_old),
                         a_rd.addr.eq(c.k), a_wr.addr.eq(c.k), a_wr.data.eq(bsp.a_write),
                         a_wr.en.eq(at("squash") & c.acc & b_dst_valid)]

        # the crossbar: what this bank serves, which bank this lane reads
        served = Signal.like(self.xbar_out, reset_less=True)
        m.d.comb += self.xbar_out.eq(served)
        with m.If(lk.at("on", LINK["serve_out"])):
            m.d.sync += served.eq(Cat(d_served[:W], lk.at("cmul", LINK["serve_out"])))
        with m.Elif(at("serve_out")):
            m.d.sync += served.eq(s_served)
        m.d.comb += self.xbar_sel.eq(Mux(bsp0, b_dst_peer, lk.at("peer", LINK["crossbar"])))

        # NEURON: the stages of timing.NEURON ------------------------------------------------
        C_, RD, SUM, WR = NEURON["compute"], NEURON["read"], NEURON["sums"], NEURON["write"]
        RDD = NEURON["read_data"]
        assert (C_ == NEURON["e_read"] + 1 + N_ELEMENTS and SUM == C_ + MUL_LATENCY
                and RDD == RD + 1 and SUM == RDD + 1 and WR == SUM + 3)
        nr = _Stages(m, "neuron", WR)
        for name, value in (("on", neu0), ("e", c.e), ("j", c.j), ("half", c.half)):
            nr.add(name, value, 0)
        # the neuron's five words: collected, then held in a ring that turns one place a
        # clock, so that the element computed is always at place 0 and its linear and
        # quadratic partners at the fixed places lin_offset, quad_offset (mod 5; negated in
        # reverse): two-way choices instead of five-way ones
        collect = [Signal(wd.e_word, name=f"collect{i}", reset_less=True)
                   for i in range(N_ELEMENTS - 1)]
        work = [Signal(wd.e_word, name=f"work{i}", reset_less=True) for i in range(N_ELEMENTS)]
        work_flag = Signal(reset_less=True)
        with m.If(nr.at("on", 1) & (nr.at("e", 1) == N_ELEMENTS - 1)):
            words = [*collect, e_rd.data]       # the neuron's five values, complete
            m.d.sync += [w.eq(v) for w, v in zip(work, words)]
            m.d.sync += work_flag.eq(sum(v[W] for v in words) != 0)
        with m.Else():
            m.d.sync += [work[i].eq(work[(i + 1) % N_ELEMENTS]) for i in range(N_ELEMENTS)]
        with m.If(nr.at("on", 1)):
            with m.Switch(nr.at("e", 1)):
                for i in range(N_ELEMENTS - 1):
                    with m.Case(i):
                        m.d.sync += collect[i].eq(e_rd.data)
        a_off, b_off = hw.neuron.lin_offset, hw.neuron.quad_offset
        assert all(hw.src[False][i] == (i + a_off) % N_ELEMENTS
                   and hw.src[True][i] == (i - a_off) % N_ELEMENTS
                   and hw.partner[False][i] == (i + b_off) % N_ELEMENTS
                   and hw.partner[True][i] == (i - b_off) % N_ELEMENTS
                   for i in range(N_ELEMENTS))

        def place(offset):
            return Mux(rev, work[(-offset) % N_ELEMENTS][:W].as_signed(),
                       work[offset % N_ELEMENTS][:W].as_signed())
        e_self_c = work[0][:W].as_signed()
        e_quad_c = place(b_off)
        nr.add("e_self", e_self_c, C_, signed(W))
        nr.add("e_lin", place(a_off), C_, signed(W))
        nr.add("flag", work_flag, C_)
        if fmt.reverse_dither:
            self._dither(m, nr)
        neu_mul = nr.at("on", C_)
        neu_read = nr.at("on", RD)
        # the row at the read and at the write stage: counted by the sequencer
        # (sequencer.neuron_row_counter), in this lane's copy of the control word
        e_at_rd, row_rd = c.rd_e, c.rd_row
        e_rdd = Signal.like(e_at_rd, name="neuron_e_rdd", reset_less=True)
        e_sum = Signal.like(e_at_rd, name="neuron_e_sum", reset_less=True)
        e_sum1 = Signal.like(e_at_rd, name="neuron_e_sum1", reset_less=True)
        m.d.sync += [e_rdd.eq(e_at_rd), e_sum.eq(e_rdd), e_sum1.eq(e_sum)]
        # U and S/R of the row, registered (loaded only when the stage holds a row)
        u_row = Signal(signed(wd.u), name="neuron_u", reset_less=True)
        sr_row = Signal(signed(aw), name="neuron_sr", reset_less=True)
        with m.If(nr.at("on", RDD)):
            m.d.sync += [u_row.eq(u_rd.data), sr_row.eq(sr_rd.data)]
        e_at_wr, j_at_wr, row_wr = c.wr_e, c.wr_j, c.wr_row
        # SUM: q = round(E E_quad), K1 E_lin - K2 E + U, S + D
        kf, kr = hw.k_int[False], hw.k_int[True]      # (K1, K2, K3) per element
        acc_shape = signed(wd.neuron_acc)
        e_s, e_self_s = e_sum, nr.at("e_self", SUM)
        # (the arithmetic's registers are data: reset_less, and loaded only when their stage
        # holds a row, so that a simulator evaluates the arithmetic in the neuron phase only)
        part = Signal(acc_shape, reset_less=True)
        q = Signal(signed(2 * W), reset_less=True)
        s_sum = Signal(signed(aw + 2), reset_less=True)
        with m.If(nr.at("on", SUM)):
            m.d.sync += [
                q.eq(round_shift_expr(prod, F)),
                part.eq(_k_times(nr.at("e_lin", SUM), kf[0], kr[0], e_s, rev, W)
                        - _k_times(e_self_s, kf[1], kr[1], e_s, rev, W) + u_row),
                s_sum.eq(sr_row + (e_self_s - b0(e_s))),
            ]
        # SUM + 1: the whole sum; the integral saturated
        acc = Signal(acc_shape, reset_less=True)
        s_new = Signal(signed(aw), reset_less=True)
        s_sat, _ = saturate_expr(s_sum, fmt.acc_min, fmt.acc_max)
        with m.If(nr.at("on", SUM + 1)):
            m.d.sync += [acc.eq(part - _k_times(q, kf[2], kr[2], e_sum1, rev, W)),
                         s_new.eq(s_sat)]
        nr.add("s_new", s_new, SUM + 2)
        # SUM + 2: E + round_shift(acc, F + k), or (acc + r) >> (F + k) with the dither r
        e_sum = Signal(signed(wd.neuron_acc + 1), reset_less=True)
        shift = F + hw.h_shift
        with m.If(nr.at("on", SUM + 2)):
            if fmt.reverse_dither:
                offset = Mux(rev, nr.at("dither", SUM + 2), 1 << (shift - 1))
                m.d.sync += e_sum.eq(nr.at("e_self", SUM + 2) + ((acc + offset) >> shift))
            else:
                m.d.sync += e_sum.eq(nr.at("e_self", SUM + 2) + round_shift_expr(acc, shift))
        # WR: saturate, write E' (other half) with the flag, and the integral
        e_new, clamped = saturate_expr(e_sum, hw.lo, hw.hi)
        neu_write = nr.at("on", WR)
        run_or, run_now = Signal(reset_less=True), Signal()
        m.d.comb += run_now.eq(Mux(e_at_wr == 0, 0, run_or) | clamped)
        with m.If(neu_write):
            m.d.sync += run_or.eq(run_now)
        m.d.comb += self.clamp.eq(neu_write & clamped & (j_at_wr < count))

        # LOAD -------------------------------------------------------------------------------
        ld = _Stages(m, "load", LOAD["u_write"])
        ld.add("on", load0, 0)
        ld.add("row", row0, 0)
        ld.add("ext", Mux(rev, (c.e == t.out_elem) & (c.j >= out_start) & (c.j < count),
                          (c.e == t.in_elem) & (c.j < n_in_local)), 0)
        load_u = ld.at("on", LOAD["u_write"])
        assert LOAD["e_write"] == LOAD["sr_write"] == 0 and LOAD["x_data"] == 1
        assert LOAD["u_write"] == 2
        load_x = Signal(signed(W), name="load_x", reset_less=True)
        m.d.sync += load_x.eq(Mux(ld.at("ext", LOAD["x_data"]), e_rd.data[:W].as_signed(), 0))

        # memory ports: the phase that uses each, else the host ------------------------------
        half_base = Mux(c.half, R5, 0)
        mode_base = Mux(rev, R5, 0)
        host = h.kind
        m.d.comb += tab_rd.addr.eq(c.k)
        # E read: LOAD (input), LINK serve, NEURON, host
        with m.If(load0):
            m.d.comb += e_rd.addr.eq(10 * nb + c.j)
        with m.Elif(lk.at("on", sr_)):
            m.d.comb += e_rd.addr.eq(half_base + serve_row)
        with m.Elif(neu0):
            m.d.comb += e_rd.addr.eq(half_base + row0)
        with m.Elif(host == HOST_E):
            m.d.comb += e_rd.addr.eq(h.addr)
        # E write: LOAD (B0, flag 0), NEURON (E', flag), host (inputs, errors)
        with m.If(load0):
            m.d.comb += [e_wr.addr.eq(row0), e_wr.data.eq(b0(c.e)[:W]), e_wr.en.eq(1)]
        with m.Elif(neu_write):
            m.d.comb += [e_wr.addr.eq(Mux(nr.at("half", WR), 0, R5) + row_wr),
                         e_wr.data.eq(Cat(e_new[:W], nr.at("flag", WR) | run_now)),
                         e_wr.en.eq(1)]
        with m.Elif((host == HOST_E) & h.we):
            m.d.comb += [e_wr.addr.eq(h.addr), e_wr.data.eq(h.wdata[:W]),
                         e_wr.en.eq(1)]
        # S/R read: NEURON, BSP (S served, then R), host
        with m.If(neu_read):
            m.d.comb += sr_rd.addr.eq(mode_base + row_rd)
        with m.Elif(at("serve_read")):
            m.d.comb += sr_rd.addr.eq(field(tab, "src_row"))
        with m.Elif(at("serve_data")):
            m.d.comb += sr_rd.addr.eq(R5 + b_dst_row)
        with m.Elif(host == HOST_SR):
            m.d.comb += sr_rd.addr.eq(h.addr)
        # S/R write: LOAD (0), NEURON
        with m.If(load0):
            m.d.comb += [sr_wr.addr.eq(mode_base + row0), sr_wr.data.eq(0), sr_wr.en.eq(1)]
        with m.Elif(neu_write):
            m.d.comb += [sr_wr.addr.eq(mode_base + row_wr),
                         sr_wr.data.eq(nr.at("s_new", WR)), sr_wr.en.eq(1)]
        # U read: LINK (the row of the link taken), NEURON
        with m.If(link_u_read):
            m.d.comb += u_rd.addr.eq(lk.at("row", LINK["u_read"]))
        with m.Elif(neu_read):
            m.d.comb += u_rd.addr.eq(row_rd)
        # U write: LOAD (input << F or 0), LINK (accumulate)
        with m.If(load_u):
            m.d.comb += [u_wr.addr.eq(ld.at("row", LOAD["u_write"])), u_wr.en.eq(1),
                         u_wr.data.eq(load_x << F)]
        with m.Elif(link_u_write):
            m.d.comb += [u_wr.addr.eq(lk.at("row", LINK["u_write"])), u_wr.en.eq(1),
                         u_wr.data.eq(u_old + prod)]
        # C read: LINK and BSP at the slot, host; C write: BSP, host
        with m.If(link0 | bsp0):
            m.d.comb += c_rd.addr.eq(c.k)
        with m.Elif(host == HOST_C):
            m.d.comb += c_rd.addr.eq(h.addr)
        with m.If(at("c_write")):
            m.d.comb += [c_wr.addr.eq(c.k), c_wr.data.eq(bsp.c_new),
                         c_wr.en.eq(b_dst_valid & c.upd)]
        with m.Elif((host == HOST_C) & h.we):
            m.d.comb += [c_wr.addr.eq(h.addr), c_wr.data.eq(h.wdata),
                         c_wr.en.eq(1)]
        # the multiplier: LINK, NEURON, BSP
        with m.If(link_mul):
            # (one lane serves itself: the crossbar brings back its own slot's C, so the C it
            # takes needs no copies down the pipeline)
            own_c = xin_c if s.lanes == 1 else lk.at("cmul", LINK["multiply"])
            m.d.comb += [mul_a.eq(Mux(rev, xin_c, own_c)), mul_b.eq(xin_d)]
        with m.Elif(neu_mul):
            m.d.comb += [mul_a.eq(e_self_c), mul_b.eq(e_quad_c)]
        with m.Elif(bsp0 & bsp.mul_en):
            m.d.comb += [mul_a.eq(bsp.mul_a), mul_b.eq(bsp.mul_b)]
        return m
