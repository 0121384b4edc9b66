"""Resource budget of a board design before it is built, and the multiplier-bound speed.

* :class:`Device`: what an FPGA offers (logic, block RAM and its shapes, SPRAM, multipliers).
* :func:`memory_inventory`: every ``lib.memory.Memory`` of an elaborated design (the board's
  host bridge and its network), found by walking the elaboration: exact widths and depths,
  whatever the architecture (unrolled, serial, engine).
* :func:`estimate`: block RAM / SPRAM blocks those memories need on a device (the cheapest
  block shape per memory, as Yosys' memory mapping chooses), multipliers, logic; and the
  network's predicted clocks per command. The engine's own estimate (its ``resources()``:
  ``multipliers``) gives the multipliers; the logic of the board top with the engine on the
  ECP5 is a fit of measured builds (:func:`engine_logic`; on the iCE40 builds decide).
* :func:`multiplies_per_sample`: the multiplications of one training sample (forward run,
  reverse run, BSP update) of a design, from the golden model's constants, and
  :func:`multiplier_bound`: multipliers x clock / multiplies: the samples per second no
  design on that FPGA can beat while every multiply needs a multiplier pass.

Nothing here runs a tool; the estimate is checked against real builds in the tests and
:mod:`boards.lanes` confirms it with builds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..hdl.devices import ECP5_85F, UP5K, Device

__all__ = ["silence", "Device", "UP5K", "ECP5_85F", "MemoryUse", "memory_inventory", "estimate",
           "Estimate", "multiplies_per_sample", "multiplier_bound", "predicted_cycles",
           "usage_vs_estimate", "engine_logic", "ENGINE_LOGIC", "ENGINE_LOGIC_BUILDS"]


@dataclass(frozen=True)
class MemoryUse:
    """One memory of the design and the blocks it takes."""

    path: str
    width: int
    depth: int
    kind: str          # "bram", "spram" or "logic" (too small for a block: LUTs / FFs)
    blocks: int

    @property
    def bits(self) -> int:
        return self.width * self.depth


def silence(obj):
    """Mark an elaboratable that is looked at but not built (no UnusedElaboratable warning)."""
    obj._MustUse__silence = True
    return obj


def _elaboratables(top, platform=None, path="top"):
    """Yield ``(path, memory)`` for every lib.memory.Memory below ``top`` (the elaboration
    is looked at, not built: its parts are silenced)."""
    from amaranth.hdl import Module
    from amaranth.lib.memory import Memory
    silence(top)
    if isinstance(top, Memory):
        yield path, top
        return
    obj, guard = top, 0
    while not isinstance(obj, Module):
        obj = obj.elaborate(platform)
        guard += 1
        if obj is None or guard > 16:
            return
        silence(obj)
    # Module keeps (submodule, source location) pairs
    subs = [(name, sub) for name, (sub, _) in obj._named_submodules.items()]
    subs += [(f"anon{i}", sub) for i, (sub, _) in enumerate(obj._anon_submodules)]
    for name, sub in subs:
        yield from _elaboratables(sub, platform, f"{path}.{name}")


def memory_inventory(top) -> list:
    """``[(path, width, depth, attrs)]`` of every Memory below an elaboratable."""
    out = []
    for path, mem in _elaboratables(top):
        from amaranth.hdl import Shape
        width = Shape.cast(mem.shape).width
        out.append((path, width, mem.depth, dict(mem.attrs or {})))
    return out


def _blocks(width: int, depth: int, shapes) -> int:
    return min(math.ceil(width / w) * math.ceil(depth / d) for w, d in shapes)


# a memory of at most this many bits is left to logic by Yosys (cheaper than a block)
SMALL_MEMORY_BITS = 64


def map_memory(path: str, width: int, depth: int, attrs: dict, device: Device) -> MemoryUse:
    """The blocks one memory needs on ``device`` (cheapest shape; SPRAM when the memory asks
    for it with ``ram_style="huge"`` and the device has it; none for ``ram_style`` "logic" or
    "distributed": LUTs)."""
    style = attrs.get("ram_style")
    if style == "huge" and device.spram:
        return MemoryUse(path, width, depth, "spram", _blocks(width, depth, (device.spram_shape,)))
    # kept out of block RAM on purpose (the engine's lut_memories), or too small for a block
    if style in ("logic", "distributed") or width * depth <= SMALL_MEMORY_BITS:
        return MemoryUse(path, width, depth, "logic", 0)
    return MemoryUse(path, width, depth, "bram", _blocks(width, depth, device.bram_shapes))


@dataclass
class Estimate:
    """The budget of one design on one device (see :func:`estimate`)."""

    device: Device
    memories: list
    multipliers: int | None
    logic: int | None
    cycles: dict | None           # predicted clocks: forward, reverse, bsp

    @property
    def bram(self) -> int:
        return sum(m.blocks for m in self.memories if m.kind == "bram")

    @property
    def spram(self) -> int:
        return sum(m.blocks for m in self.memories if m.kind == "spram")

    def usage(self) -> dict:
        """``{resource: (estimated, available)}`` (None where not estimated)."""
        d = self.device
        u = dict(bram=(self.bram, d.bram), multipliers=(self.multipliers, d.multipliers),
                 logic=(self.logic, d.logic))
        if d.spram:
            u["spram"] = (self.spram, d.spram)
        return u

    def over(self, margin: dict | None = None) -> list:
        """The resources the estimate exceeds, as ``"bram 37/30"`` strings. ``margin``:
        per resource, a factor applied to the estimate first (calibration from a build)."""
        out = []
        for k, (used, avail) in self.usage().items():
            if used is None:
                continue
            used = used * (margin or {}).get(k, 1.0)
            if used > avail:
                out.append(f"{k} {math.ceil(used)}/{avail}")
        return out

    def as_dict(self) -> dict:
        return dict(device=self.device.name,
                    usage={k: dict(estimated=u, available=a)
                           for k, (u, a) in self.usage().items()},
                    cycles=self.cycles,
                    memories=[dict(path=m.path, width=m.width, depth=m.depth, kind=m.kind,
                                   blocks=m.blocks) for m in self.memories if m.blocks])


# logic of the board top with the network engine, LUT cells after packing, as measured on the
# ECP5-85F (docs/BOARDS.md): three MODEL1 builds with on-chip training, (lanes, cells), fitted
# exactly by a base, each lane's datapath and BSP unit, and the crossbar's P x P words; and
# one build whose memories partly left block RAM (``lut_memories``: ROMs as logic, RAMs as LUT
# RAM), (lanes, bits out of block RAM, cells), which gives their cost a bit. A lane's logic
# hardly depends on the topology (its tables are block RAM; the demo network at P = 8 took
# 28,633); without the learning units it is less. No builds for the iCE40: its block RAMs
# bound the engine first (docs/BOARDS.md, the UP5K budget).
ENGINE_LOGIC_BUILDS = {"ECP5 LFE5U-85F": dict(lanes=((4, 16_797), (8, 26_600), (16, 51_339)),
                                              lut_memories=(20, 276_080, 102_321))}


def _logic_fit(builds: dict) -> tuple:
    """(base, a lane, a lane squared, a bit out of block RAM) through ``builds``."""
    from fractions import Fraction
    (p1, y1), (p2, y2), (p3, y3) = builds["lanes"]
    d12 = Fraction(y2 - y1, p2 - p1)            # divided differences of the quadratic
    d23 = Fraction(y3 - y2, p3 - p2)
    sq = (d23 - d12) / (p3 - p1)
    lane = d12 - sq * (p1 + p2)
    base = y1 - lane * p1 - sq * p1 * p1
    p, bits, cells = builds["lut_memories"]
    per_bit = (cells - (base + lane * p + sq * p * p)) / bits
    return base, lane, sq, per_bit


ENGINE_LOGIC = {name: _logic_fit(b) for name, b in ENGINE_LOGIC_BUILDS.items()}


def engine_logic(device: Device, lanes: int, lut_memory_bits: int = 0) -> int | None:
    """The LUT cells the board top with a ``lanes``-lane engine, ``lut_memory_bits`` of its
    memories out of block RAM, takes on ``device`` (None where :data:`ENGINE_LOGIC_BUILDS`
    has no builds)."""
    fit = ENGINE_LOGIC.get(device.name)
    if fit is None:
        return None
    base, lane, sq, per_bit = fit
    return round(base + lane * lanes + sq * lanes * lanes + per_bit * lut_memory_bits)


def predicted_cycles(network) -> dict | None:
    """The clocks of one forward run, reverse run and BSP update that the network's own
    model predicts (its ``cycles_per_run()`` and ``cycles_per_bsp()``: SerialNetwork's
    formulas, the engine's scheduler)."""
    if callable(getattr(network, "cycles", None)):          # the engine's scheduler
        c = network.cycles()
        return dict(forward=int(c["run"]), reverse=int(c.get("reverse_run", c["run"])),
                    bsp=int(c["bsp"]))
    if hasattr(network, "cycles_per_run") and hasattr(network, "cycles_per_bsp"):
        run = int(network.cycles_per_run())
        return dict(forward=run, reverse=run, bsp=int(network.cycles_per_bsp()))
    return None


def estimate(bridge, device: Device) -> Estimate:
    """The budget of a board design (a :class:`boards.host.HostBridge` with its network)."""
    net = bridge.network
    mems = [map_memory(p, w, d, a, device) for p, w, d, a in memory_inventory(bridge)]
    mult = logic = None
    if callable(getattr(net, "resources", None)):          # the engine's estimate
        res = net.resources()
        mult = int(res.multipliers)
        logic = engine_logic(device, net.lanes, int(res.lut_memory_bits))
    return Estimate(device, mems, mult, logic, predicted_cycles(net))


def usage_vs_estimate(report: dict, device: Device) -> dict:
    """Per budget resource (bram, spram, multipliers, logic): what a build used (nextpnr's
    count) beside the estimate the build report holds."""
    est = (report.get("estimate") or {}).get("usage", {})
    res = report.get("resources") or {}
    out = {}
    for key, cell in device.cells.items():
        if cell in res and est.get(key, {}).get("estimated") is not None:
            out[key] = dict(used=res[cell]["used"], estimated=est[key]["estimated"],
                            available=res[cell]["available"])
    return out


def _is_shift(k: int) -> bool:
    """A constant product that needs no multiplier: 0 or a power of two (either sign)."""
    k = abs(int(k))
    return k == 0 or (k & (k - 1)) == 0


def multiplies_per_sample(design) -> int:
    """Multiplications of one training sample: the forward and the reverse run (per step and
    interface: E * E_quad, and K1/K2/K3 unless they are powers of two (shifts); per link
    C * D), then the BSP update (per link |S| * |R| and the atan interpolation)."""
    from wuxing.golden.neuron import N_ELEMENTS
    t, hw = design.topology, design.hw()
    per_step = {}
    for rev in (False, True):
        k1, k2, k3 = hw.k_int[rev]
        per_row = [1 + sum(not _is_shift(k[e]) for k in (k1, k2, k3))
                   for e in range(N_ELEMENTS)]
        per_step[rev] = t.n_neurons * sum(per_row) + t.n_links
    return design.cfg.steps * (per_step[False] + per_step[True]) + 2 * t.n_links


def multiplier_bound(device: Device, clock_mhz: float, multiplies: int) -> float:
    """Training samples per second if every multiplier worked every clock."""
    return device.multipliers * clock_mhz * 1e6 / multiplies
