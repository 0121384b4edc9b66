"""NetworkEngine: a whole Wuxing network on P parallel lanes (``--arch engine --lanes P``).

The same control port, address map, info registers and commands as
:class:`hdl.network.Network` (docs/HARDWARE.md) and the same integers as
``golden.network.FixedModel``. Parts:

* :mod:`.schedule` (pure Python): banks, slots, clock counts;
* :mod:`.tables` (pure Python): the slot tables, neuron and link maps, widths;
* :mod:`.timing` (pure Python): the pipeline offsets and the idle clocks between phases;
* :class:`.lane.Lane`: a bank's memories and its datapath (one multiplier);
* :class:`.bsp.BspUnit`: a lane's BSP arithmetic; :class:`.crossbar.Crossbar`: bank -> lane;
* :class:`.sequencer.Sequencer`: the phases of a command;
* this module: the control port (address translation, the read path) and the wiring.

With ``reverse_dither`` (golden LEARNING_FORMAT) the reverse run rounds its Euler increments with
the hash dither of golden.fixedpoint (:mod:`.dither`).

Reads through the control port take :attr:`read_latency` = 8 clocks (the address registered,
the neuron or link map, its word registered, the local address registered, each lane's copy
registered, the bank memory, each lane's word registered, the target lane's word registered:
the output pass interleaves reads and writes, which needs an even latency); writes land in the
bank memory 6 clocks after the address (timing.HOST_PORT). While ``busy`` the memory regions
(0-6) read 0 and the status register reads busy; writes are ignored.
"""
from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Const, Module, Mux, Signal, signed
from amaranth.lib.memory import Memory

from wuxing.golden.neuron import N_ELEMENTS
from wuxing.golden.topology import Topology

from ..fixed import HwConstants, check_types
from ..learning import LearningRegisters, default_shift_out, shift_out_bits
from ..network import (INDEX_BITS, INFO, MAGIC, OP_TRAIN_SAMPLE, REGION, REGION_PIXELS,
                       ControlPort, check_buildable, coefficient_reset_values)
from ..synapse import _table_shapes
from .crossbar import Crossbar
from .dither import DitherSeed, seed_clocks
from .memories import LUT_MEMORY_ORDER, estimate_resources, memory_attrs, row_fan
from .lane import HOST_C, HOST_E, HOST_NONE, HOST_SR, Lane, host_addr_bits
from .schedule import compile_schedule
from .sequencer import Sequencer
from .tables import (c_words, engine_widths, lmap_layout, lmap_words, nmap_layout, nmap_words,
                     slot_words)
from .timing import HOST_PORT, READ_LATENCY, engine_timing
from .train import OutputPass

__all__ = ["NetworkEngine", "ENGINE_MAX_NEURONS", "ENGINE_MAX_LINKS"]

# the control port's index field (INDEX_BITS) addresses 5N integrals and L coefficients
ENGINE_MAX_NEURONS = (1 << INDEX_BITS) // N_ELEMENTS
ENGINE_MAX_LINKS = 1 << INDEX_BITS


class NetworkEngine(ControlPort):
    """A whole Wuxing network on ``lanes`` parallel lanes (see the module docstring).

    Parameters
    ----------
    topology: the golden :class:`~golden.topology.Topology`.
    hw: :class:`hdl.fixed.HwConstants` (format, neuron, run settings; from the golden model).
    lanes: P, the number of lanes (1 .. number of neurons).
    c_init: reset values of the C registers (ints, one per link, topology order); default 0.
    lut_memories: names of memories (:data:`.memories.LUT_MEMORY_ORDER`) to keep out of block
        RAM (LUT RAM, or LUTs for ROMs); :func:`.memories.lut_memories_for` picks them for a
        block RAM budget.
    lanes_per_table: lanes that share one two-port atan ROM (even; 2: no wait; each two more
        lanes add 2 clocks to a BSP slot and save a block RAM per table).
    training: the learning units (TRAIN_SAMPLE, EVAL_SAMPLE, registers 13-19, the pixel
        region, the BSP accumulators). False leaves them out (the smaller design of
        ``--no-training``): ops 3 and 4 do nothing, registers 13-19 read 0, region 8 takes no
        writes, and op 2 (BSP) updates with the build's step (``RunConfig.step``).

    Ports (as :class:`hdl.network.Network`): ``addr``, ``wdata``, ``we``, ``rdata`` (read
    :attr:`read_latency` clocks after ``addr``), ``op``, ``start``, ``busy``, ``done``,
    ``overflow``.
    """

    read_latency = READ_LATENCY

    def __init__(self, topology: Topology, hw: HwConstants, *, lanes: int = 1, c_init=None,
                 lut_memories=(), lanes_per_table: int = 2, training: bool = True):
        check_types(topology=(topology, Topology), hw=(hw, HwConstants), lanes=(lanes, int),
                    training=(training, bool))
        self.training = training
        self.learns = training
        unknown = set(lut_memories) - set(LUT_MEMORY_ORDER)
        if isinstance(lut_memories, str) or unknown:
            raise ValueError(f"lut_memories names memories of {', '.join(LUT_MEMORY_ORDER)}; "
                             f"got {lut_memories!r}")
        self.lut_memories = tuple(lut_memories)
        if (not isinstance(lanes_per_table, int) or isinstance(lanes_per_table, bool)
                or lanes_per_table < 2 or lanes_per_table % 2):
            raise ValueError(f"lanes_per_table must be an even int >= 2, got "
                             f"{lanes_per_table!r}")
        self.lanes_per_table = lanes_per_table
        t = topology
        check_buildable(t, hw, ENGINE_MAX_NEURONS, ENGINE_MAX_LINKS, "engine", dither=True)
        if hw.fmt.reverse_dither and hw.fmt.frac + hw.h_shift > 32:
            raise ValueError("reverse_dither needs frac + h_shift <= 32 (a 32-bit hash)")
        W = hw.fmt.width
        # one W x W signed multiplier per lane: every operand must fit it
        if hw.max_abs_d > (1 << (W - 1)) - 1:
            raise ValueError(f"|D| up to {hw.max_abs_d} does not fit the {W}-bit multiplier")
        entries, _, _ = _table_shapes(hw)
        slope = int(np.max(np.abs(np.diff(entries))))
        if slope > (1 << (W - 1)) - 1 or hw.table.frac_bits > W - 1:
            raise ValueError(f"the atan table's interpolation does not fit the {W}-bit "
                             f"multiplier")
        self.topology, self.hw, self.lanes = t, hw, lanes
        self.c_init = coefficient_reset_values(c_init, hw, t.n_links)
        self.schedule = compile_schedule(t, lanes)
        self.timing = engine_timing(
            hw.fmt.acc_width, W,
            seed=seed_clocks(t.layers[-1]) if hw.fmt.reverse_dither else 0,
            lanes_per_table=lanes_per_table)
        assert self.timing.read_latency == self.read_latency   # the output pass's clocks
        self.widths = engine_widths(hw, row_fan(t))
        super().__init__(t, hw)

    # clocks -------------------------------------------------------------------------------
    def cycles(self, steps: int | None = None) -> dict:
        """Clocks per step, run, BSP and training sample (schedule.Schedule.cycles)."""
        return self.schedule.cycles(self.timing, self.hw.cfg.steps if steps is None else steps)

    def resources(self, steps: int | None = None):
        """Memories (and block RAMs per FPGA family), multipliers, crossbar and clocks:
        :class:`.memories.EngineResources`."""
        return estimate_resources(self.schedule, self.widths, self.hw, self.timing,
                                  self.hw.cfg.steps if steps is None else steps,
                                  self.lut_memories, self.lanes_per_table, self.training)

    def cycles_per_step(self) -> int:
        return self.cycles()["step"]

    def cycles_per_run(self) -> int:
        return self.cycles()["run"]

    def cycles_per_bsp(self) -> int:
        return self.cycles()["bsp"]

    # gateware -----------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        t, hw, s, fmt = self.topology, self.hw, self.schedule, self.hw.fmt
        W = fmt.width
        N, L, P, nb = t.n_neurons, t.n_links, self.lanes, s.nb
        R5 = N_ELEMENTS * nb
        n_in, n_out = self.n_inputs, self.n_outputs
        out_base = int(t.offsets[-2])
        entries, tshape, _ = _table_shapes(hw)

        training = self.training
        m.submodules.sequencer = seq = Sequencer(s, self.timing, training)
        words, cw = slot_words(s), c_words(s, self.c_init)
        lanes = [Lane(s, b, hw, self.widths, self.timing, words[b], cw[b], self.data_width,
                      self.lut_memories, self.lanes_per_table, training) for b in range(P)]
        for b, lane in enumerate(lanes):
            m.submodules[f"lane{b}"] = lane
            m.d.comb += lane.ctl.eq(seq.ctl)
        m.submodules.crossbar = xbar = Crossbar(P, self.widths.payload)
        for b, lane in enumerate(lanes):
            m.d.comb += [xbar.i[b].eq(lane.xbar_out), xbar.sel[b].eq(lane.xbar_sel),
                         lane.xbar_in.eq(xbar.o[b])]
        # the atan table: one two-port ROM for each lanes_per_table lanes; members 2i, 2i+1
        # read it on ports 0, 1 in their own clocks (timing.bsp_stages): the addresses OR
        G = self.lanes_per_table
        for g in range(0, P, G):
            rom = Memory(shape=tshape, depth=len(entries), init=entries,
                         attrs=memory_attrs("atan", self.lut_memories))
            m.submodules[f"atan{g // G}"] = rom
            group = lanes[g:g + G]
            for port in range(min(2, len(group))):
                rd = rom.read_port()
                users = group[port::2]
                addr = users[0].atan_addr
                for lane in users[1:]:
                    addr = addr | lane.atan_addr
                m.d.comb += rd.addr.eq(addr)
                for lane in users:
                    m.d.comb += lane.atan_data.eq(rd.data)

        # commands, the steps register, the overflow flag ----------------------------------
        ext_region, ext_index, cmd, cmd_op = self.decode_command(m)
        busy = seq.busy
        # the memory path's master: the host, or the output pass of a learning command
        region, index = Signal.like(ext_region), Signal.like(ext_index)
        mem_we = Signal()
        mem_wdata = Signal(signed(self.data_width))
        if training:
            m.submodules.output_pass = opass = OutputPass(hw, n_out, self.read_latency,
                                                          self.data_width)
            own = opass.active
            m.d.comb += [region.eq(Mux(own, opass.addr[INDEX_BITS:], ext_region)),
                         index.eq(Mux(own, opass.addr[:INDEX_BITS], ext_index)),
                         mem_we.eq(Mux(own, opass.we, self.we)),
                         mem_wdata.eq(Mux(own, opass.wdata, self.wdata))]
        else:
            own = Const(0, 1)
            m.d.comb += [region.eq(ext_region), index.eq(ext_index), mem_we.eq(self.we),
                         mem_wdata.eq(self.wdata)]
        free = ~busy | own                   # the memory path is the master's
        if fmt.reverse_dither:   # the reverse run's dither: seed from the errors, step hashes
            m.submodules.dither = dither = DitherSeed(n_out, W,
                                                      memory_attrs("errors", self.lut_memories))
            m.d.comb += [dither.err_we.eq(mem_we & free & (region == REGION["error"])
                                          & (index < n_out)),
                         dither.err_index.eq(index), dither.err_data.eq(mem_wdata),
                         dither.fold.eq(seq.dither_fold), dither.advance.eq(seq.dither_advance)]
            for lane in lanes:
                m.d.comb += lane.step_hash.eq(dither.step_hash)

        # learning on the chip: registers, the argmax and counters, the batch ---------------
        def info_write(name):
            return self.we & ~busy & (ext_region == REGION["info"]) & (ext_index == INFO[name])
        train_info = {}
        if not training:   # BSP (op 2) with the build's step; batch one
            shift_out = Signal(signed(shift_out_bits(hw)))
            m.d.comb += shift_out.eq(default_shift_out(hw))
            for lane in lanes:
                m.d.comb += [lane.batch_log2.eq(0), lane.shift_out.eq(shift_out)]
        else:
            m.submodules.learning = lrn = LearningRegisters(hw, n_out, self.data_width)
            m.d.comb += [lrn.write.eq(self.we & ~busy & (ext_region == REGION["info"])),
                         lrn.index.eq(ext_index), lrn.wdata.eq(self.wdata),
                         lrn.value.eq(opass.value), lrn.out_index.eq(opass.index),
                         lrn.valid.eq(opass.valid), lrn.finish.eq(opass.finish),
                         lrn.trained.eq(seq.trained)]
            train_cmd = Signal()       # the command running is a TRAIN_SAMPLE
            with m.If(cmd & ~busy):
                m.d.sync += train_cmd.eq(cmd_op == OP_TRAIN_SAMPLE)
            m.d.comb += [seq.batch_end.eq(lrn.batch_end), opass.start.eq(seq.pass_start),
                         seq.pass_done.eq(opass.done), opass.write_errors.eq(train_cmd),
                         opass.label.eq(lrn.label)]
            for lane in lanes:
                m.d.comb += [lane.batch_log2.eq(lrn.batch_log2),
                             lane.shift_out.eq(lrn.shift_out)]
            train_info = lrn.registers()
        steps = Signal(16, init=hw.cfg.steps)
        any_over = Signal()
        m.d.comb += [seq.cmd.eq(cmd), seq.cmd_op.eq(cmd_op), seq.steps.eq(steps),
                     self.busy.eq(busy), self.done.eq(seq.done), self.overflow.eq(any_over)]
        clamps = Const(0, 1)
        for lane in lanes:
            clamps = clamps | lane.clamp
        with m.If(seq.run_start):
            m.d.sync += any_over.eq(0)
        with m.Else():
            m.d.sync += any_over.eq(any_over | clamps)
        with m.If(info_write("steps")):
            m.d.sync += steps.eq(self.wdata)

        # the control port, clock 1: the master's address, write and data registered; the
        # decode below starts from these registers (no path from the host bridge's or the
        # output pass's logic through the index arithmetic into the maps' addresses) --------
        region_r, index_r = Signal.like(region), Signal.like(index)
        we_r, free_r, own_r = Signal(), Signal(), Signal()
        wdata_r = Signal.like(mem_wdata)
        m.d.sync += [region_r.eq(region), index_r.eq(index), we_r.eq(mem_we), free_r.eq(free),
                     own_r.eq(own), wdata_r.eq(mem_wdata)]

        # clock 1: decode; the neuron and link maps addressed ------------------------------
        e_int = sum((index_r >= i * N) for i in range(1, N_ELEMENTS))
        n_int = index_r - Array(Const(i * N, INDEX_BITS + 3) for i in range(N_ELEMENTS))[e_int]
        neuron = Signal(range(max(2, N)))
        elem = Signal(range(N_ELEMENTS))
        in_range = {REGION[r]: n for r, n in (
            ("input", n_in), ("error", n_out), ("coef", L), ("fwd_integral", 5 * N),
            ("rev_integral", 5 * N), ("output", n_out), ("overflow", N))}
        if training:
            in_range[REGION_PIXELS] = n_in
        valid0 = Signal()
        with m.Switch(region_r):
            for code, n in in_range.items():
                with m.Case(code):
                    m.d.comb += valid0.eq(index_r < n)
        with m.Switch(region_r):
            with m.Case(REGION["input"], REGION["overflow"], REGION_PIXELS):
                m.d.comb += neuron.eq(index_r)
            with m.Case(REGION["error"], REGION["output"]):
                m.d.comb += [neuron.eq(out_base + index_r), elem.eq(t.out_elem)]
            with m.Case(REGION["fwd_integral"], REGION["rev_integral"]):
                m.d.comb += [neuron.eq(n_int), elem.eq(e_int)]
        nlay, llay = nmap_layout(s), lmap_layout(s)
        bank1 = Signal(range(max(2, P)))
        local1 = Signal(range(max(2, nb)))
        lane1 = Signal(range(max(2, P)))
        slot1 = Signal(range(max(2, s.slots)))
        if P > 1:
            m.submodules.neuron_map = nmap = Memory(shape=nlay.width, depth=N,
                                                    init=nmap_words(s))
            nrd = nmap.read_port()
            off, w = nlay.fields["local"]
            boff, bw = nlay.fields["bank"]
            m.d.comb += [nrd.addr.eq(neuron), bank1.eq(nrd.data[boff:boff + bw])]
            if w:
                m.d.comb += local1.eq(nrd.data[off:off + w])
        else:   # one bank: the local neuron is the neuron
            m.d.sync += local1.eq(neuron)
        m.submodules.link_map = lmap = Memory(shape=llay.width, depth=L, init=lmap_words(s))
        lrd = lmap.read_port()
        m.d.comb += lrd.addr.eq(index_r)
        off, w = llay.fields["slot"]
        if w:
            m.d.comb += slot1.eq(lrd.data[off:off + w])
        off, w = llay.fields["lane"]
        if w:
            m.d.comb += lane1.eq(lrd.data[off:off + w])

        region1, elem1 = Signal.like(region_r), Signal(range(N_ELEMENTS))
        valid1, we1, own1 = Signal(), Signal(), Signal()
        wdata_reg = Signal(signed(self.data_width))
        m.d.sync += [region1.eq(region_r), elem1.eq(elem), valid1.eq(valid0 & free_r),
                     we1.eq(we_r & valid0 & free_r), wdata_reg.eq(wdata_r),
                     own1.eq(own_r)]
        # region 8: an 8-bit pixel -> its input integer (golden FixedModel.pixel_table)
        wdata1 = Signal(signed(self.data_width))
        if training:
            m.submodules.pixels = pixel_rom = Memory(
                shape=signed(W), depth=256, init=list(hw.pixel_table),
                attrs=memory_attrs("pixels", self.lut_memories))
            pixel_rd = pixel_rom.read_port()
            m.d.comb += pixel_rd.addr.eq(wdata_r[:8])
            m.d.comb += wdata1.eq(Mux(region1 == REGION_PIXELS, pixel_rd.data, wdata_reg))
        else:
            m.d.comb += wdata1.eq(wdata_reg)

        # clock 2: the maps' words (block RAM outputs) and the pixel's integer registered, with
        # what the region alone decides (the kind of access, the local address's base): the
        # address translation of clock 3 starts from registers -----------------------------
        kind1 = Signal(2)
        base1 = Signal(host_addr_bits(s))
        row_of = Array(Const(e * nb, range(R5 + 1)) for e in range(N_ELEMENTS))
        with m.Switch(region1):
            with m.Case(REGION["input"], REGION["error"], REGION_PIXELS):
                m.d.comb += [kind1.eq(HOST_E), base1.eq(2 * R5)]
            with m.Case(REGION["overflow"]):
                m.d.comb += [kind1.eq(HOST_E),
                             base1.eq(Mux(seq.last_half, R5, 0) + (N_ELEMENTS - 1) * nb)]
            with m.Case(REGION["coef"]):
                m.d.comb += kind1.eq(HOST_C)
            with m.Case(REGION["fwd_integral"], REGION["output"]):
                m.d.comb += [kind1.eq(HOST_SR), base1.eq(row_of[elem1])]
            with m.Case(REGION["rev_integral"]):
                m.d.comb += [kind1.eq(HOST_SR), base1.eq(R5 + row_of[elem1])]
        writable = ((region1 == REGION["input"]) | (region1 == REGION["error"])
                    | (region1 == REGION["coef"]) | (region1 == REGION_PIXELS))
        bank2, local2 = Signal.like(bank1), Signal.like(local1)
        lane2, slot2 = Signal.like(lane1), Signal.like(slot1)
        kind2, base2 = Signal.like(kind1), Signal.like(base1)
        region2, coef2 = Signal.like(region1), Signal()
        valid2, we2, own2 = Signal(), Signal(), Signal()
        wdata2 = Signal.like(wdata1)
        m.d.sync += [bank2.eq(bank1), local2.eq(local1), lane2.eq(lane1), slot2.eq(slot1),
                     kind2.eq(Mux(valid1, kind1, HOST_NONE)), base2.eq(base1),
                     coef2.eq(region1 == REGION["coef"]), region2.eq(region1),
                     valid2.eq(valid1), we2.eq(we1 & writable), own2.eq(own1),
                     wdata2.eq(wdata1)]

        # clock 3: the local address and the target lane, registered; clock 4: each lane
        # registers its own copy (Lane, LANE_HOST); clock 5: on the lane's memory ports, where
        # writes land (timing.HOST_PORT) -----------------------------------------------------
        local3 = Signal(host_addr_bits(s))
        target3 = Signal(range(max(2, P)))
        kind3, we3, wdata3 = Signal.like(kind2, init=HOST_NONE), Signal(), Signal.like(wdata2)
        m.d.sync += [local3.eq(Mux(coef2, slot2, base2 + local2)),
                     target3.eq(Mux(coef2, lane2, bank2)),
                     kind3.eq(kind2), we3.eq(we2), wdata3.eq(wdata2)]
        for b, lane in enumerate(lanes):
            m.d.comb += [lane.host_kind.eq(kind3), lane.host_addr.eq(local3),
                         lane.host_wdata.eq(wdata3), lane.host_we.eq(we3 & (target3 == b))]

        # clock 6: the memory word of the target lane, or an info register ----------------
        def delayed(value, clocks, name):
            """``value`` registered ``clocks`` times."""
            for i in range(clocks):
                r = Signal.like(value, name=f"{name}_d{i + 1}")
                m.d.sync += r.eq(value)
                value = r
            return value
        # region2 .. is of clock 3, target3 of clock 4; the lanes' read data of clock 6
        word_at = HOST_PORT + 1
        region6 = delayed(region2, word_at - 3, "region")
        valid6, own6 = delayed(valid2, word_at - 3, "valid"), delayed(own2, word_at - 3, "own")
        target6 = delayed(target3, word_at - 4, "target")
        info = {INFO["n_inputs"]: n_in, INFO["n_outputs"]: n_out, INFO["n_neurons"]: N,
                INFO["n_links"]: L, INFO["steps"]: steps,
                INFO["status"]: busy | (any_over << 1),
                INFO["width"]: fmt.width, INFO["frac"]: fmt.frac,
                INFO["coef_extra"]: fmt.coef_extra, INFO["acc_width"]: fmt.acc_width,
                INFO["h_shift"]: hw.h_shift, INFO["magic"]: MAGIC, **train_info}
        info1 = Signal(signed(self.data_width), name="info1")
        with m.If(ext_region == REGION["info"]):    # the host's address, even in a pass
            with m.Switch(ext_index):
                for key, v in info.items():
                    with m.Case(key):
                        m.d.sync += info1.eq(v)
                with m.Default():
                    m.d.sync += info1.eq(0)
        with m.Else():
            m.d.sync += info1.eq(0)
        # clock 7: each lane's word for the region, registered in the lane's corner (a block
        # RAM output crosses the chip only from a flip-flop); clock 8: the target lane's word
        lane_words7 = []
        for b, lane in enumerate(lanes):
            word = Signal(signed(self.data_width), name=f"lane{b}_word")
            with m.Switch(region6):
                with m.Case(REGION["input"], REGION["error"]):
                    m.d.comb += word.eq(lane.e_rdata[:W].as_signed())
                with m.Case(REGION["overflow"]):
                    m.d.comb += word.eq(lane.e_rdata[W])
                with m.Case(REGION["coef"]):
                    m.d.comb += word.eq(lane.c_rdata)
                with m.Case(REGION_PIXELS):                 # write only
                    m.d.comb += word.eq(0)
                with m.Default():
                    m.d.comb += word.eq(lane.sr_rdata)
            # (loaded only with a host or output-pass read: a simulator then skips this
            # formatting, 2 % of the 16-lane engine's clock, in every other clock)
            word7 = Signal.like(word, name=f"lane{b}_word7", reset_less=True)
            with m.If(lane.host_rvalid):
                m.d.sync += word7.eq(word)
            lane_words7.append(word7)
        target7, host7 = Signal.like(target6), Signal()
        m.d.sync += [target7.eq(target6), host7.eq(valid6 & ~own6)]
        # (registered again: the output pass takes turns of reads and writes, so the latency
        # is even)
        mem_word8, host8 = Signal(signed(self.data_width)), Signal()
        m.d.sync += [mem_word8.eq(Array(lane_words7)[target7]), host8.eq(host7)]
        info8 = delayed(info1, self.read_latency - 1, "info")
        if training:
            m.d.comb += opass.word.eq(mem_word8)
        m.d.comb += self.rdata.eq(Mux(host8, mem_word8, info8))
        return m
