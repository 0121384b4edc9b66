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

from wuxing.golden.neuron import N_ELEMENTS

from .schedule import Schedule
from .tables import EngineWidths, lmap_layout, nmap_layout, slot_layout

__all__ = ["MemorySpec", "engine_memories", "block_rams", "BLOCK_RAM", "EngineResources",
           "estimate_resources"]

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
                    table_width: int, dither: bool = False) -> list:
    """Every memory of the engine of schedule ``s`` (see lane.py and engine.py)."""
    P, nb, T, R5 = s.lanes, s.nb, s.slots, N_ELEMENTS * s.nb
    t = s.topology
    mems = [
        MemorySpec("e_mem", P, 11 * nb, widths.e_word, "1r1w",
                   "E (two halves, with the overflow flag) and the inputs/errors"),
        MemorySpec("sr_mem", P, 2 * R5, widths.acc, "1r1w", "integrals S and R"),
        MemorySpec("u_mem", P, R5, widths.u, "1r1w", "link input of each row"),
        MemorySpec("c_mem", P, T, widths.coef, "1r1w", "coefficients C, by slot"),
        MemorySpec("slot_rom", P, T, slot_layout(s).width, "1r", "slot table"),
        MemorySpec("atan", -(-P // 2), table_entries, table_width, "2r",
                   "atan table (one per two lanes)"),
        MemorySpec("link_map", 1, t.n_links, lmap_layout(s).width, "1r",
                   "link -> (lane, slot), control port"),
    ]
    if P > 1:
        mems.append(MemorySpec("neuron_map", 1, t.n_neurons, nmap_layout(s).width, "1r",
                               "neuron -> (bank, local neuron), control port"))
    if dither:
        mems += [MemorySpec("neuron_index", P, nb, max(1, (t.n_neurons - 1).bit_length()),
                            "1r", "local -> global neuron (the reverse dither's hash input)"),
                 MemorySpec("errors", 1, t.layers[-1], widths.width, "1r1w",
                            "the errors, folded into the reverse dither's seed")]
    return mems


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
    multipliers: int       # signed width x width, one per lane (+ K products that are not shifts)
    multiplier_width: int
    crossbar_bits: int     # P lanes x P banks x payload bits of multiplexer inputs
    cycles: dict

    def as_dict(self) -> dict:
        d = asdict(self)
        d["memories"] = [dict(asdict(m), bits=m.bits) for m in self.memories]
        return d


def estimate_resources(s: Schedule, widths: EngineWidths, hw, timing, steps: int) -> \
        EngineResources:
    """The resources of the engine of schedule ``s`` (see :class:`EngineResources`)."""
    entries = hw.table.entries()
    table_width = int(max(entries)).bit_length() + 1
    mems = engine_memories(s, widths, len(entries), table_width, hw.fmt.reverse_dither)
    extra = 0
    for i in range(3):   # K products: shifts when one power of two, else one more multiplier
        ks = {int(v) for d in (False, True) for v in hw.k_int[d][i]}
        if len(ks) > 1 or abs(next(iter(ks))) & (abs(next(iter(ks))) - 1):
            extra += 1
    return EngineResources(
        lanes=s.lanes, memories=mems,
        block_ram={f: sum(block_rams(m, f) for m in mems) for f in BLOCK_RAM},
        memory_bits=sum(m.bits for m in mems), multipliers=s.lanes * (1 + extra),
        multiplier_width=widths.width,
        crossbar_bits=s.lanes * s.lanes * widths.payload if s.lanes > 1 else 0,
        cycles=s.cycles(timing, steps))
