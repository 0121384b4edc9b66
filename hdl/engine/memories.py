"""The engine's memories as specifications (kind, count, depth, width, ports), and what they
cost in block RAM on the ECP5 and the iCE40 UltraPlus (pure Python).

The lanes and the engine build their memories from :func:`engine_memories`, so the estimate
and the gateware describe the same words. The block counts are what the memories need when
each is mapped to block RAM on its own (the synthesis tools may put small ones in LUT RAM
instead, or pack differently); :func:`estimate_resources` adds the multipliers and the
scheduler's clock counts: what ``--lanes auto`` needs to choose P before a build.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from wuxing.golden.network import BSP_ACC_BITS
from wuxing.golden.neuron import N_ELEMENTS

from .schedule import Schedule
from .tables import EngineWidths, lmap_layout, nmap_layout, slot_layout

__all__ = ["MemorySpec", "engine_memories", "block_rams", "BLOCK_RAM", "EngineResources",
           "estimate_resources", "LUT_MEMORY_ORDER", "memory_attrs", "lut_memories_for",
           "estimate_engine", "row_fan", "fit_block_ram", "NO_RW_CHECK", "registered_read"]

# memories that may leave block RAM, in the order --lanes auto should move them (the ones
# that use a block worst first): their contents then live in LUT RAM (RAMs) or LUTs (ROMs)
LUT_MEMORY_ORDER = ("slot_rom", "c_mem", "bsp_acc", "atan", "neuron_index", "errors", "u_mem",
                    "pixels")

# block RAM of each FPGA family: (bits, [(depth, width) configurations], the widest
# configuration a port may have when two ports read (true dual port))
BLOCK_RAM = {
    "ecp5": (18432, [(16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)], 18),
    "ice40": (4096, [(2048, 2), (1024, 4), (512, 8), (256, 16)], 0),
}


@dataclass(frozen=True)
class MemorySpec:
    """``count`` memories of ``depth`` words of ``width`` bits; ``ports``: "1r1w" (one read
    and one write port), "1r" (ROM) or "2r" (ROM with two read ports)."""

    name: str
    count: int
    depth: int
    width: int
    ports: str
    what: str

    @property
    def bits(self) -> int:
        return self.count * self.depth * self.width


def engine_memories(s: Schedule, widths: EngineWidths, table_entries: int,
                    table_width: int, dither: bool = False, lanes_per_table: int = 2,
                    training: bool = True) -> list:
    """Every memory of the engine of schedule ``s`` (see lane.py and engine.py); without
    ``training`` (the learning units left out) no accumulators and no pixel table."""
    P, nb, T, R5 = s.lanes, s.nb, s.slots, N_ELEMENTS * s.nb
    t = s.topology
    mems = [
        MemorySpec("e_mem", P, 11 * nb, widths.e_word, "1r1w",
                   "E (two halves, with the overflow flag) and the inputs/errors"),
        MemorySpec("sr_mem", P, 2 * R5, widths.acc, "1r1w", "integrals S and R"),
        MemorySpec("u_mem", P, R5, widths.u, "1r1w", "link input of each row"),
        MemorySpec("c_mem", P, T, widths.coef, "1r1w", "coefficients C, by slot"),
        MemorySpec("slot_rom", P, T, slot_layout(s).width, "1r", "slot table"),
        *([MemorySpec("bsp_acc", P, T, BSP_ACC_BITS, "1r1w",
                      "BSP accumulators of a batch (32-bit, one per link), by slot")]
          if training else []),
        # (one lane reads its table on one port: engine.py makes the second for a second lane)
        MemorySpec("atan", -(-P // lanes_per_table), table_entries, table_width,
                   "2r" if P > 1 else "1r", f"atan table (one per {lanes_per_table} lanes)"),
        MemorySpec("link_map", 1, t.n_links, lmap_layout(s).width, "1r",
                   "link -> (lane, slot), control port"),
    ]
    if training:
        mems.append(MemorySpec("pixels", 1, 256, widths.width, "1r",
                               "8-bit pixel -> input integer (region 8, golden pixel_table)"))
    if P > 1:
        mems.append(MemorySpec("neuron_map", 1, t.n_neurons, nmap_layout(s).width, "1r",
                               "neuron -> (bank, local neuron), control port"))
    if dither:
        mems += [MemorySpec("neuron_index", P, nb, max(1, (t.n_neurons - 1).bit_length()),
                            "1r", "local -> global neuron (the reverse dither's hash input)"),
                 MemorySpec("errors", 1, t.layers[-1], widths.width, "1r1w",
                            "the errors, folded into the reverse dither's seed")]
    return mems


# the RAMs (one read and one write port) whose read in the clock of a write to the same word
# is never used: the engine's phases never read a word in the clock it is written and then use
# what they read (timing.py: a row's next link is schedule.RMW_GAP slots later; E is read
# from one half and written to the other; the BSP slot reads its C and accumulator before it
# writes them; the control port reads and writes in different clocks). Their reads are
# :func:`registered_read` ports and the memories carry Yosys's no_rw_check: Yosys then maps
# them to block RAM as they are, without the registers and multiplexers that emulate
# read-first behaviour (on the iCE40 about two flip-flops and a LUT a bit).
NO_RW_CHECK = ("e_mem", "sr_mem", "u_mem", "c_mem", "bsp_acc", "errors")


class _RegisteredRead:
    def __init__(self, m, memory, name: str):
        from amaranth.hdl import Signal      # (the rest of this module is pure Python)
        self.port = memory.read_port(domain="comb")
        self.addr = self.port.addr
        self.data = Signal(memory.shape, name=f"{name}_rdata", reset_less=True)
        m.d.sync += self.data.eq(self.port.data)


def registered_read(m, memory, name: str):
    """A synchronous read port of ``memory`` (``addr``; ``data`` one clock later, the word
    before a write in the same clock, as ``memory.read_port()``) made of an asynchronous read
    and a data register: Yosys's memory_dff merges the register into the port and honours the
    memory's no_rw_check (:data:`NO_RW_CHECK`), which it does not for a port that is
    synchronous from the start."""
    return _RegisteredRead(m, memory, name)


def memory_attrs(spec_or_name, lut_memories) -> dict | None:
    """The Yosys attributes of a memory: none (block RAM, the tools' choice), or distributed
    RAM / logic when its name is in ``lut_memories``; ``no_rw_check`` on the RAMs of
    :data:`NO_RW_CHECK`."""
    name = getattr(spec_or_name, "name", spec_or_name)
    attrs = {"no_rw_check": 1} if name in NO_RW_CHECK else {}
    if name in lut_memories:
        rom = name in ("slot_rom", "atan", "neuron_index", "pixels")
        attrs["ram_style"] = "logic" if rom else "distributed"
    return attrs or None


def block_rams(spec: MemorySpec, family: str) -> int:
    """Block RAMs of ``family`` ("ecp5" or "ice40") for ``spec`` mapped on its own."""
    if family not in BLOCK_RAM:
        raise ValueError(f"unknown FPGA family {family!r}; choose from {', '.join(BLOCK_RAM)}")
    _, configs, dual_width = BLOCK_RAM[family]
    copies = 1
    if spec.ports == "2r":
        if dual_width:
            configs = [(d, w) for d, w in configs if w <= dual_width]
        else:             # no true dual port: one copy per read port
            copies = 2
    per = min(-(-spec.depth // d) * -(-spec.width // w) for d, w in configs)
    return spec.count * per * copies


@dataclass
class EngineResources:
    """What an engine needs, before a build: memories (and their block RAMs per family),
    multipliers, the crossbar and the clock counts of the schedule."""

    lanes: int
    memories: list
    block_ram: dict        # family -> blocks
    memory_bits: int
    lut_memories: tuple    # memories kept out of block RAM
    lut_memory_bits: int   # their bits
    multipliers: int       # signed width x width, one per lane (+ K products that are not shifts)
    multiplier_width: int
    crossbar_bits: int     # P lanes x P banks x payload bits of multiplexer inputs
    cycles: dict

    def as_dict(self) -> dict:
        d = asdict(self)
        d["memories"] = [dict(asdict(m), bits=m.bits) for m in self.memories]
        return d


def estimate_resources(s: Schedule, widths: EngineWidths, hw, timing, steps: int,
                       lut_memories=(), lanes_per_table: int = 2,
                       training: bool = True) -> EngineResources:
    """The resources of the engine of schedule ``s`` (see :class:`EngineResources`), with the
    memories named in ``lut_memories`` out of block RAM."""
    entries = hw.table.entries()
    table_width = int(max(entries)).bit_length() + 1
    mems = engine_memories(s, widths, len(entries), table_width, hw.fmt.reverse_dither,
                           lanes_per_table, training)
    extra = 0
    for i in range(3):   # K products: shifts when one power of two, else one more multiplier
        ks = {int(v) for d in (False, True) for v in hw.k_int[d][i]}
        if len(ks) > 1 or abs(next(iter(ks))) & (abs(next(iter(ks))) - 1):
            extra += 1
    in_bram = [m for m in mems if m.name not in lut_memories]
    return EngineResources(
        lanes=s.lanes, memories=mems,
        block_ram={f: sum(block_rams(m, f) for m in in_bram) for f in BLOCK_RAM},
        memory_bits=sum(m.bits for m in mems), lut_memories=tuple(lut_memories),
        lut_memory_bits=sum(m.bits for m in mems if m.name in lut_memories),
        multipliers=s.lanes * (1 + extra),
        multiplier_width=widths.width,
        crossbar_bits=s.lanes * s.lanes * widths.payload if s.lanes > 1 else 0,
        cycles=s.cycles(timing, steps))


def lut_memories_for(memories, family: str, budget: int) -> tuple | None:
    """The fewest memories (in :data:`LUT_MEMORY_ORDER`) to keep out of block RAM so that the
    rest needs at most ``budget`` blocks of ``family``; None if even that is not enough."""
    moved = []
    for name in (None, *LUT_MEMORY_ORDER):
        if name is not None:
            if not any(m.name == name for m in memories):
                continue
            moved.append(name)
        if sum(block_rams(m, family) for m in memories if m.name not in moved) <= budget:
            return tuple(moved)
    return None


def row_fan(topology) -> int:
    """The most links one row sums: into a target (forward) or out of a source (reverse)."""
    import numpy as np
    t, N = topology, topology.n_neurons
    return int(max(np.bincount(t.src_elem * N + t.src_neuron).max(),
                   np.bincount(t.dst_elem * N + t.dst_neuron).max()))


def estimate_engine(topology, hw, lanes: int, lut_memories=(), schedule=None,
                    lanes_per_table: int = 2, training: bool = True) -> EngineResources:
    """What ``NetworkEngine(topology, hw, lanes=lanes, lut_memories=...)`` needs, without
    building it: the scheduler, the widths and the timing only (about 0.1 s for MODEL1)."""
    from .dither import seed_clocks
    from .schedule import compile_schedule
    from .tables import engine_widths
    from .timing import engine_timing
    s = schedule or compile_schedule(topology, lanes)
    timing = engine_timing(hw.fmt.acc_width, hw.fmt.width,
                           seed=seed_clocks(topology.layers[-1]) if hw.fmt.reverse_dither
                           else 0, lanes_per_table=lanes_per_table)
    return estimate_resources(s, engine_widths(hw, row_fan(topology)), hw, timing,
                              hw.cfg.steps, lut_memories, lanes_per_table, training)


def fit_block_ram(topology, hw, lanes: int, family: str, budget: int, training: bool = True):
    """``(lanes_per_table, lut_memories)`` that bring the engine within ``budget`` blocks of
    ``family``: first fewer atan ROMs (more lanes share one: 2 more BSP clocks a slot per two
    lanes), then memories out of block RAM (:func:`lut_memories_for`); None if nothing fits."""
    from .schedule import compile_schedule
    s = compile_schedule(topology, lanes)
    for g in (2, 4, 8, 16):
        if g > 2 and g // 2 > max(1, lanes // 2):
            break
        mems = estimate_engine(topology, hw, lanes, schedule=s, lanes_per_table=g,
                               training=training).memories
        if sum(block_rams(m, family) for m in mems) <= budget:
            return g, ()
    lut = lut_memories_for(mems, family, budget)
    return None if lut is None else (g, lut)
