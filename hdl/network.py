"""Network: a golden Topology unrolled into NeuronCores and Synapses with one control port.

All links step in lockstep from the same D_t (as in ``golden.network.FixedModel``): every core
steps together; each synapse weights the D of its source (forward) or its target (reverse);
each element adds the products of its links. The BSP update walks the links one per clock
through the network's one :class:`~hdl.synapse.BspPipeline` and atan table. The control port (registers, commands) is documented in
docs/HARDWARE.md. With constant K the network learns on the chip (TRAIN_SAMPLE, EVAL_SAMPLE:
the shared units of :mod:`hdl.learning`, a batch accumulator in every Synapse).
"""
from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from wuxing.golden.fixedpoint import DITHER_SEED
from wuxing.golden.neuron import N_ELEMENTS
from wuxing.golden.topology import Topology

from .fixed import HwConstants, check_types
from .learning import TRAIN_REGISTERS, ErrorUnit, LearningRegisters, sext32, wang32_expr
from .neuron import NeuronCore
from .synapse import AtanRom, BspPipeline, Synapse, coefficient_update_expr

__all__ = ["Network", "MAX_NEURONS", "REGION", "INFO", "MAGIC", "OP_FORWARD", "OP_REVERSE",
           "OP_BSP", "OP_TRAIN_SAMPLE", "OP_EVAL_SAMPLE", "REGION_PIXELS", "TRAIN_INFO"]

MAX_NEURONS = 256      # "small networks": every neuron and link is its own hardware
MAX_LINKS = 2048
ADDR_WIDTH = 24     # region (4 bits) << INDEX_BITS | index
INDEX_BITS = 20     # up to 2**20 integrals or coefficients per region
REGION = dict(input=0x0, error=0x1, coef=0x2, fwd_integral=0x3, rev_integral=0x4, output=0x5,
              overflow=0x6, info=0x7, k=0x8)
INFO = dict(n_inputs=0, n_outputs=1, n_neurons=2, n_links=3, steps=4, status=5, width=6,
            frac=7, coef_extra=8, acc_width=9, h_shift=10, magic=11, command=12,
            # learning on the chip (issue #10; docs/HARDWARE.md)
            **TRAIN_REGISTERS)
TRAIN_INFO = tuple(TRAIN_REGISTERS)
"""The info registers of on-chip learning (hdl.learning.TRAIN_REGISTERS)."""
REGION_PIXELS = 0x8
"""The pixel region of the networks that learn (write only): an 8-bit pixel p to index i
stores input i = ``FixedModel.pixel_table[p]``. (An unrolled Network with ``k_mode="reg"`` has
its K registers at 0x8 and no on-chip learning.)"""
MAGIC = 0x5758  # "WX"
OP_FORWARD, OP_REVERSE, OP_BSP = 0, 1, 2
OP_TRAIN_SAMPLE, OP_EVAL_SAMPLE = 3, 4    # the learning commands (issue #10)


def coefficient_reset_values(c_init, hw: HwConstants, n_links: int) -> list:
    """Checked reset values of the C registers (``None``: all zero)."""
    if c_init is None:
        c_init = np.zeros(n_links, dtype=np.int64)
    c_init = np.asarray(c_init)
    if c_init.shape != (n_links,) or not np.issubdtype(c_init.dtype, np.integer):
        raise ValueError(f"c_init must be {n_links} integers (one per link), got shape "
                         f"{c_init.shape} of {c_init.dtype}")
    if n_links and (c_init.min() < hw.c_lo or c_init.max() > hw.c_hi):
        raise ValueError(f"c_init outside the C clamp range [{hw.c_lo}, {hw.c_hi}]")
    return [int(v) for v in c_init]


class ControlPort(wiring.Component):
    """The control port shared by :class:`Network` and :class:`hdl.serial.SerialNetwork`:
    ``addr``, ``wdata``, ``we``, ``rdata``, ``op``, ``start``, ``busy``, ``done``,
    ``overflow`` (docs/HARDWARE.md). ``rdata`` holds the value at ``addr``
    :attr:`read_latency` clocks later (reads are pipelined: one address a clock)."""

    read_latency = 1
    learns = True
    """The network serves the learning commands (TRAIN_SAMPLE, EVAL_SAMPLE, registers 13-19,
    the pixel region)."""

    def __init__(self, topology: Topology, hw: HwConstants):
        fmt = hw.fmt
        self.data_width = max(32, fmt.coef_width, fmt.acc_width)
        super().__init__({
            "addr": In(ADDR_WIDTH), "wdata": In(signed(self.data_width)), "we": In(1),
            "rdata": Out(signed(self.data_width)),
            "op": In(2), "start": In(1), "busy": Out(1), "done": Out(1), "overflow": Out(1),
        })

    def decode_command(self, m):
        """(region, index, cmd, cmd_op): the address split, and a command strobe with its op,
        from ``start`` and ``op`` or from a write of the command register (region 0x7)."""
        region = self.addr[INDEX_BITS:]
        index = self.addr[:INDEX_BITS]
        cmd_write = self.we & (region == REGION["info"]) & (index == INFO["command"])
        cmd = Signal()
        cmd_op = Signal(3)        # ops 0..4 through the command register; ``op``: 0..3
        m.d.comb += [cmd.eq(self.start | cmd_write),
                     cmd_op.eq(Mux(cmd_write, self.wdata[:3], self.op))]
        return region, index, cmd, cmd_op

    @property
    def n_inputs(self) -> int:
        return self.topology.layers[0]

    @property
    def n_outputs(self) -> int:
        return self.topology.layers[-1]


def check_buildable(t: Topology, hw: HwConstants, max_neurons: int, max_links: int,
                    arch: str, dither: bool = False):
    """Raise ValueError unless ``t`` can be built as the ``arch`` network: links present,
    within the size limits, indices in range, a run length the steps register holds, and
    round-half-up reverse increments (no ``reverse_dither``) unless the network builds the
    dither (``dither``: the network engine)."""
    if t.n_links == 0:
        raise ValueError("the topology has no links: nothing to build")
    if t.n_neurons > max_neurons or t.n_links > max_links:
        raise ValueError(f"the topology has {t.n_neurons} neurons and {t.n_links} links; the "
                         f"{arch} network takes at most {max_neurons} neurons and "
                         f"{max_links} links")
    for name, hi in (("src_neuron", t.n_neurons), ("dst_neuron", t.n_neurons),
                     ("src_elem", N_ELEMENTS), ("dst_elem", N_ELEMENTS)):
        a = np.asarray(getattr(t, name))
        if a.shape != (t.n_links,) or a.min() < 0 or a.max() >= hi:
            raise ValueError(f"malformed topology: {name} out of range")
    if not 1 <= hw.cfg.steps < (1 << 16):
        raise ValueError(f"steps={hw.cfg.steps}: the steps register holds 1..65535")
    if hw.fmt.reverse_dither and not dither:
        raise ValueError(f"the {arch} network rounds every Euler increment half up; "
                         f"reverse_dither (golden LEARNING_FORMAT) is not built here")


def address(region: str, index: int = 0) -> int:
    """The control-port address of ``index`` in ``region`` (a name of :data:`REGION`)."""
    return (REGION[region] << INDEX_BITS) | index


class Network(ControlPort):
    """A whole Wuxing network in hardware.

    Parameters
    ----------
    topology: the golden :class:`~golden.topology.Topology` (at most 256 neurons, 1+ links).
    hw: :class:`hdl.fixed.HwConstants` (format, neuron, run settings; from the golden model).
    mult, k_mode, pipeline: passed to every :class:`~hdl.neuron.NeuronCore`.
    c_init: reset values of the C registers (ints, one per link, topology order); default 0.

    Ports: ``addr``, ``wdata``, ``we``, ``rdata`` (registered read), ``op``, ``start``,
    ``busy``, ``done``, ``overflow`` (see docs/HARDWARE.md for the address map).

    With ``k_mode="const"`` (:attr:`learns`) the network learns on the chip as the engine
    does (docs/HARDWARE.md "Learning on the chip"): TRAIN_SAMPLE and EVAL_SAMPLE, the
    registers 13-19, the pixel region 0x8; every link keeps its batch accumulator in its
    :class:`~hdl.synapse.Synapse`. (``k_mode="reg"`` has its K registers at 0x8 instead.)
    """

    def __init__(self, topology: Topology, hw: HwConstants, *, mult: str = "parallel",
                 k_mode: str = "const", c_init=None, pipeline: bool = False):
        check_types(topology=(topology, Topology), hw=(hw, HwConstants))
        check_buildable(topology, hw, MAX_NEURONS, MAX_LINKS, "unrolled",
                        dither=mult == "parallel" and not pipeline)
        t = topology
        self.topology, self.hw, self.mult, self.k_mode = t, hw, mult, k_mode
        self.c_init = coefficient_reset_values(c_init, hw, t.n_links)
        # fan: the most links any one element sums, in either direction
        ends = np.concatenate([t.src_neuron * N_ELEMENTS + t.src_elem,
                               t.dst_neuron * N_ELEMENTS + t.dst_elem])
        self.links_per_element = int(np.bincount(ends).max())
        # build the cores once here so that bad options fail in __init__
        self.cores = [NeuronCore(hw, mult=mult, k_mode=k_mode, pipeline=pipeline,
                                 links_per_element=self.links_per_element)
                      for _ in range(t.n_neurons)]
        # one BSP pipeline for all links: the BSP command walks them one a clock
        self.synapses = [Synapse(hw, c_init=c, bsp="shared") for c in self.c_init]
        self.learns = k_mode == "const"
        super().__init__(t, hw)

    def elaborate(self, platform):
        m = Module()
        t, hw, fmt = self.topology, self.hw, self.hw.fmt
        N, L = t.n_neurons, t.n_links
        n_in, n_out = self.n_inputs, self.n_outputs
        out_base = int(t.offsets[-2])

        for g, core in enumerate(self.cores):
            m.submodules[f"neuron{g}"] = core
        for l, syn in enumerate(self.synapses):
            m.submodules[f"link{l}"] = syn
        m.submodules.atan_table = rom = AtanRom(hw)
        m.submodules.bsp = bsp = BspPipeline(hw, tags=max(1, L))
        m.d.comb += [rom.addr.eq(bsp.tab_addr), bsp.tab_lo.eq(rom.lo), bsp.tab_hi.eq(rom.hi)]

        rev = Signal()
        core_start, core_step = Signal(), Signal()
        x_reg = [Signal(signed(fmt.width), name=f"x{i}") for i in range(n_in)]
        err_reg = [Signal(signed(fmt.width), name=f"err{k}") for k in range(n_out)]
        steps = Signal(16, init=hw.cfg.steps)
        link = Signal(range(L + Synapse.bsp_latency))    # the BSP command's walk

        # links: ends and weighted sums ---------------------------------------------------
        into = {}   # (neuron, elem) -> products arriving forward (this end is the target)
        back = {}   # (neuron, elem) -> products arriving in reverse (this end is the source)
        for l, syn in enumerate(self.synapses):
            sn, se = int(t.src_neuron[l]), int(t.src_elem[l])
            dn, de = int(t.dst_neuron[l]), int(t.dst_elem[l])
            src, dst = self.cores[sn], self.cores[dn]
            m.d.comb += [syn.reverse.eq(rev), syn.d_src.eq(src.d[se]), syn.d_dst.eq(dst.d[de])]
            into.setdefault((dn, de), []).append(syn.w)
            back.setdefault((sn, se), []).append(syn.w)

        links = range(L)
        m.d.comb += bsp.tag.eq(link)
        if L:   # the update's link: its S, R and accumulator
            m.d.comb += [
                bsp.s_src.eq(Array(self.cores[int(t.src_neuron[l])].s[int(t.src_elem[l])]
                                   for l in links)[link]),
                bsp.r_dst.eq(Array(self.cores[int(t.dst_neuron[l])].r[int(t.dst_elem[l])]
                                   for l in links)[link]),
                bsp.acc.eq(Array(s.acc for s in self.synapses)[bsp.acc_tag])]

        def total(terms):
            if not terms:
                return 0
            out = terms[0]
            for x in terms[1:]:
                out = out + x
            return out

        for g, core in enumerate(self.cores):
            m.d.comb += [core.reverse.eq(rev), core.start.eq(core_start),
                         core.step.eq(core_step)]
            for e in range(N_ELEMENTS):
                m.d.comb += core.w[e].eq(Mux(rev, total(back.get((g, e), [])),
                                             total(into.get((g, e), []))))
                ext = 0
                if g < n_in and e == t.in_elem:
                    ext = Mux(rev, 0, x_reg[g])
                elif g >= out_base and e == t.out_elem:
                    ext = Mux(rev, err_reg[g - out_base], 0)
                m.d.comb += core.x[e].eq(ext)

        overflow = Signal()
        m.d.comb += overflow.eq(_or([c.overflow for c in self.cores]))

        # commands --------------------------------------------------------------------------
        region, index, cmd, cmd_op = self.decode_command(m)
        issued = Signal(16)
        completed = Signal(16)
        done = Signal()
        m.d.sync += done.eq(0)
        m.d.comb += self.done.eq(done)
        lead = self.cores[0]
        # learning on the chip: TRAIN_SAMPLE = forward run, the output pass (argmax, errors),
        # reverse run, BSP in accumulate mode; EVAL_SAMPLE = forward run, the output pass
        chain = Signal()        # a learning command: the forward run goes on to the pass
        train = Signal()        # ... a TRAIN_SAMPLE
        acc = Signal()          # the BSP running accumulates (TRAIN_SAMPLE)
        trained = Signal()
        out_k = Signal(range(n_out + ErrorUnit.latency + 1))   # clock of the output pass
        over_cmd = Signal()     # overflow: sticky over the runs of a command
        m.d.comb += self.overflow.eq(over_cmd | overflow)
        learn_ops = (OP_TRAIN_SAMPLE, OP_EVAL_SAMPLE) if self.learns else ()
        info_learn = {}
        if self.learns:   # the registers, the error unit, the links' batch mode
            m.submodules.learning = lrn = LearningRegisters(hw, n_out, self.data_width)
            m.submodules.error_unit = eu = ErrorUnit(hw)
            outs = Array(self.cores[out_base + k].s[t.out_elem] for k in range(n_out))
            m.d.comb += [lrn.write.eq(self.we & ~self.busy & (region == REGION["info"])),
                         lrn.index.eq(index), lrn.wdata.eq(self.wdata),
                         lrn.value.eq(outs[out_k]), lrn.out_index.eq(out_k),
                         lrn.trained.eq(trained),
                         eu.integral.eq(outs[out_k]), eu.is_target.eq(out_k == lrn.label)]
            info_learn = lrn.registers()
            m.d.comb += [bsp.acc_mode.eq(acc), bsp.update.eq(~acc | lrn.batch_end),
                         bsp.batch_log2.eq(lrn.batch_log2), bsp.shift_out.eq(lrn.shift_out)]
        # the learning format's reverse dither (golden fixedpoint): the seed folded from the
        # errors, one output a clock (SEED), then the hash of each step ahead of it
        dither = fmt.reverse_dither
        reverse_start = "SEED" if dither else "LOAD"
        if dither:
            seed, step_hash = Signal(32), Signal(32)
            seed_k = Signal(range(n_out + 1))
            folded = wang32_expr(m, seed ^ sext32(Array(err_reg)[seed_k]), "fold")
            hash_of = Signal(16)            # the step whose hash is formed: 0, or the next
            next_hash = wang32_expr(m, (seed + hash_of)[:32], "step")
            with m.If(core_step & rev):
                m.d.sync += step_hash.eq(next_hash)
            for g, core in enumerate(self.cores):
                for e in range(N_ELEMENTS):
                    r = wang32_expr(m, step_hash ^ ((g << 3) | e), f"dither{g}_{e}")
                    m.d.comb += core.dither[e].eq(r)
        with m.FSM(init="IDLE", name="control"):
            if dither:
                with m.State("SEED"):
                    m.d.comb += self.busy.eq(1)
                    m.d.sync += [seed_k.eq(seed_k + 1), seed.eq(folded)]
                    with m.If(seed_k == n_out):     # seed complete: the hash of step 0
                        m.d.sync += [seed.eq(seed), step_hash.eq(next_hash)]
                        m.next = "LOAD"
            with m.State("IDLE"):
                with m.If(cmd):
                    m.d.sync += [chain.eq(0), acc.eq(0)]
                    if dither:
                        m.d.sync += [seed.eq(DITHER_SEED), seed_k.eq(0)]
                    with m.If(cmd_op == OP_BSP):
                        m.d.sync += link.eq(0)
                        m.next = "BSP"
                    with m.Elif(cmd_op == OP_REVERSE):
                        m.d.sync += [rev.eq(1), over_cmd.eq(0)]
                        m.next = reverse_start
                    with m.Elif(cmd_op == OP_FORWARD):
                        m.d.sync += [rev.eq(0), over_cmd.eq(0)]
                        m.next = "LOAD"
                    for op in learn_ops:
                        with m.Elif(cmd_op == op):
                            m.d.sync += [rev.eq(0), over_cmd.eq(0), chain.eq(1),
                                         train.eq(op == OP_TRAIN_SAMPLE)]
                            m.next = "LOAD"
            with m.State("LOAD"):  # every core to its fixed point, integrals of the mode cleared
                m.d.comb += [core_start.eq(1), self.busy.eq(1)]
                m.d.sync += [issued.eq(0), completed.eq(0)]
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                m.d.comb += core_step.eq(lead.ready & (issued < steps))
                if dither:
                    m.d.comb += hash_of.eq(issued + 1)
                m.d.sync += [issued.eq(issued + core_step), over_cmd.eq(over_cmd | overflow)]
                with m.If(((completed + 1 >= steps) & lead.done) | (steps == 0)):
                    with m.If(chain & ~rev):
                        m.d.sync += out_k.eq(0)
                        m.next = "PASS"
                    with m.Elif(chain):
                        m.d.sync += [link.eq(0), acc.eq(1)]
                        m.next = "BSP"
                    with m.Else():
                        m.d.sync += done.eq(1)
                        m.next = "IDLE"
                with m.If(lead.done):
                    m.d.sync += completed.eq(completed + 1)
            with m.State("PASS"):   # the output integrals one a clock: argmax, errors
                m.d.comb += self.busy.eq(1)
                m.d.sync += [out_k.eq(out_k + 1), over_cmd.eq(over_cmd | overflow)]
                if self.learns:   # the errors arrive ErrorUnit.latency clocks after
                    m.d.comb += [lrn.valid.eq(out_k < n_out), lrn.finish.eq(out_k == n_out)]
                    lat = ErrorUnit.latency
                    with m.If(train & (out_k >= lat)):
                        m.d.sync += Array(err_reg)[out_k - lat].eq(eu.error)
                with m.If(out_k == n_out + ErrorUnit.latency):
                    with m.If(train):
                        m.d.sync += rev.eq(1)
                        m.next = reverse_start
                    with m.Else():
                        m.d.sync += done.eq(1)
                        m.next = "IDLE"
            with m.State("BSP"):  # one link a clock into the update pipeline
                m.d.comb += [self.busy.eq(1), bsp.start.eq(link < L)]
                m.d.sync += link.eq(link + 1)
                with m.If(link == L + Synapse.bsp_latency - 2):
                    m.d.sync += done.eq(1)
                    m.d.comb += trained.eq(acc)
                    m.next = "IDLE"

        # register writes -------------------------------------------------------------------
        with m.If(self.we & ~self.busy):
            with m.Switch(self.addr):
                for i in range(n_in):
                    with m.Case(address("input", i)):
                        m.d.sync += x_reg[i].eq(self.wdata)
                for k in range(n_out):
                    with m.Case(address("error", k)):
                        m.d.sync += err_reg[k].eq(self.wdata)
                with m.Case(address("info", INFO["steps"])):
                    m.d.sync += steps.eq(self.wdata)
                if self.learns:   # region 8: a pixel through the pixel table
                    pixel = Array(int(v) for v in hw.pixel_table)[self.wdata[:8]]
                    for i in range(n_in):
                        with m.Case((REGION_PIXELS << INDEX_BITS) | i):
                            m.d.sync += x_reg[i].eq(pixel)
        # C from the host (idle) or from the BSP pipeline (busy), the accumulators from it
        if L:
            c_new = coefficient_update_expr(
                m, hw, Array(s.c for s in self.synapses)[bsp.delta_tag], bsp.delta)
        for l, syn in enumerate(self.synapses):
            m.d.comb += [syn.c_we.eq((self.we & ~self.busy & (self.addr == address("coef", l)))
                                     | (bsp.delta_valid & (bsp.delta_tag == l))),
                         syn.c_wdata.eq(Mux(bsp.delta_valid, c_new, self.wdata)),
                         syn.acc_we.eq(bsp.acc_we & (bsp.acc_tag == l)),
                         syn.acc_wdata.eq(bsp.acc_wdata)]
        if self.k_mode == "reg":
            k_we = self.we & ~self.busy & (region == REGION["k"]) & (index < 15)
            for core in self.cores:
                m.d.comb += [core.k_we.eq(k_we), core.k_addr.eq(index),
                             core.k_wdata.eq(self.wdata)]

        # registered read -------------------------------------------------------------------
        info = {INFO["n_inputs"]: n_in, INFO["n_outputs"]: n_out, INFO["n_neurons"]: N,
                INFO["n_links"]: L, INFO["steps"]: steps,
                INFO["status"]: self.busy | (self.overflow << 1),
                INFO["width"]: fmt.width, INFO["frac"]: fmt.frac,
                INFO["coef_extra"]: fmt.coef_extra, INFO["acc_width"]: fmt.acc_width,
                INFO["h_shift"]: hw.h_shift, INFO["magic"]: MAGIC, **info_learn}
        with m.Switch(self.addr):
            for i in range(n_in):
                with m.Case(address("input", i)):
                    m.d.sync += self.rdata.eq(x_reg[i])
            for k in range(n_out):
                with m.Case(address("error", k)):
                    m.d.sync += self.rdata.eq(err_reg[k])
                with m.Case(address("output", k)):
                    m.d.sync += self.rdata.eq(self.cores[out_base + k].s[t.out_elem])
            for l, syn in enumerate(self.synapses):
                with m.Case(address("coef", l)):
                    m.d.sync += self.rdata.eq(syn.c)
            for e in range(N_ELEMENTS):
                for g, core in enumerate(self.cores):
                    with m.Case(address("fwd_integral", e * N + g)):
                        m.d.sync += self.rdata.eq(core.s[e])
                    with m.Case(address("rev_integral", e * N + g)):
                        m.d.sync += self.rdata.eq(core.r[e])
            for g, core in enumerate(self.cores):
                with m.Case(address("overflow", g)):
                    m.d.sync += self.rdata.eq(core.overflow)
            for k, v in info.items():
                with m.Case(address("info", k)):
                    m.d.sync += self.rdata.eq(v)
            with m.Default():
                m.d.sync += self.rdata.eq(0)
        return m


def _or(bits):
    out = bits[0]
    for b in bits[1:]:
        out = out | b
    return out

