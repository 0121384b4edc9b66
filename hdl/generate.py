"""Verilog for a core, a synapse or a whole network, with a manifest of the parameters used.

The manifest (``manifest.json`` next to the Verilog) holds everything needed to rebuild the
golden model of the same design: the topology spec and digest, the run settings, the neuron
parameters, the fixed-point format, the atan table, the generator options and the initial C
registers. ``sim/`` reads it to compare the RTL against ``golden.network.FixedModel``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from amaranth.back import verilog

from wuxing.golden.atan_table import DEFAULT_TABLE, AtanTable
from wuxing.golden.checkpoint import load_checkpoint
from wuxing.golden.config import RunConfig
from wuxing.golden.fixedpoint import DEFAULT_FORMAT, FixedFormat
from wuxing.golden.network import FixedModel
from wuxing.golden.neuron import MODEL1_NEURON, NeuronParams
from wuxing.golden.report import atomic_write
from wuxing.golden.topology import Topology

from .fixed import hw_constants
from .engine import NetworkEngine
from .network import Network
from .serial import SerialNetwork
from .neuron import NeuronCore
from .synapse import Synapse

__all__ = ["Design", "WHAT", "ARCHS", "TOP_NAMES", "design_from_checkpoint", "build_component",
           "write_design", "load_manifest", "MANIFEST"]

WHAT = ("core", "synapse", "network")
TOP_NAMES = {"core": "wuxing_core", "synapse": "wuxing_synapse", "network": "wuxing_network"}
MANIFEST = "manifest.json"
# network architectures: every neuron and link its own hardware, the engine of P parallel lanes,
# or the engine with one lane ("serial")
ARCHS = ("unrolled", "engine", "serial")
# the architectures with the learning commands TRAIN_SAMPLE / EVAL_SAMPLE (issue #10); the
# unrolled one with constant K (its K registers, k_mode "reg", sit at the pixel region)
LEARNING_ARCHS = ("unrolled", "engine", "serial")
MANIFEST_VERSION = 1


@dataclass
class Design:
    """Everything a generated design is made from (all golden objects)."""

    what: str = "network"
    topology: Topology | None = None
    cfg: RunConfig = RunConfig()
    neuron: NeuronParams = MODEL1_NEURON
    fmt: FixedFormat = DEFAULT_FORMAT
    table: AtanTable = DEFAULT_TABLE
    mult: str = "parallel"
    k_mode: str = "const"
    pipeline: bool = False         # parallel cores with registered products (2 clocks a step)
    c_init: list | None = None     # C registers at reset (network), integers
    source: str = ""               # where the topology/coefficients came from
    arch: str = "unrolled"         # network: "unrolled" (Network), "engine" (NetworkEngine) or
    #                                "serial" (SerialNetwork: the engine with one lane)
    lanes: int = 1                 # engine: P, the number of parallel lanes
    lut_memories: tuple = ()       # engine: memories kept out of block RAM (hdl.engine.memories)
    lanes_per_table: int = 2       # engine: lanes sharing one atan ROM (even)
    training: bool = True          # engine: the learning units (TRAIN_SAMPLE, EVAL_SAMPLE,
    #                                registers 13-19, pixels); False: left out (--no-training)

    def __post_init__(self):
        if self.what not in WHAT:
            raise ValueError(f"what must be one of {', '.join(WHAT)}, not {self.what!r}")
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {self.arch!r}")
        if self.arch != "unrolled" and self.what != "network":
            raise ValueError(f"arch={self.arch!r} applies to a network, not a {self.what}")
        if self.what == "network" and self.topology is None:
            raise ValueError("a network design needs a topology")
        if not isinstance(self.lanes, int) or isinstance(self.lanes, bool) or self.lanes < 1:
            raise ValueError(f"lanes must be a positive int, not {self.lanes!r}")
        if self.lanes != 1 and self.arch != "engine":
            raise ValueError(f"lanes={self.lanes} needs arch='engine' (the {self.arch} "
                             f"network has no lanes)")
        self.lut_memories = tuple(self.lut_memories)
        if self.lut_memories and self.arch not in ("engine", "serial"):
            raise ValueError("lut_memories applies to the engine (arch 'engine' or 'serial')")
        if not isinstance(self.training, bool):
            raise TypeError(f"training must be a bool, not {self.training!r}")
        if not self.training and self.arch not in ("engine", "serial"):
            raise ValueError(f"--no-training (training=False) leaves out the engine's "
                             f"learning units (--arch engine or serial), not the "
                             f"{self.arch} network's")

    @property
    def top(self) -> str:
        return TOP_NAMES[self.what]

    def hw(self):
        return hw_constants(self.cfg, self.neuron, self.fmt, self.table)

    def model(self) -> FixedModel:
        return FixedModel(self.topology, self.cfg, self.neuron, self.fmt, self.table)

    def resources(self):
        """An engine design's needs before a build (``hdl.engine.memories.EngineResources``:
        memories and their block RAMs per FPGA family, multipliers, crossbar, clocks), from
        the scheduler alone; ValueError for other architectures or a P the topology cannot
        use."""
        if self.what != "network" or self.arch not in ("engine", "serial"):
            raise ValueError("resources() estimates an engine network (arch 'engine' or "
                             "'serial')")
        from .engine.memories import estimate_engine
        return estimate_engine(self.topology, self.hw(), self.lanes, self.lut_memories,
                               lanes_per_table=self.lanes_per_table, training=self.training)

    @property
    def on_chip_training(self) -> bool:
        """The design has the learning commands (TRAIN_SAMPLE, EVAL_SAMPLE, registers 13-19,
        the pixel region): every network architecture, the unrolled one with constant K, the
        engine's unless ``training=False`` (docs/HARDWARE.md "Learning on the chip")."""
        return (self.what == "network" and self.arch in LEARNING_ARCHS and self.training
                and not (self.arch == "unrolled" and self.k_mode != "const"))

    def require_on_chip_training(self):
        """ValueError unless :attr:`on_chip_training` (``--on-chip-training``)."""
        if self.what != "network":
            raise ValueError(f"on-chip training needs a network, not a {self.what}")
        if self.arch in LEARNING_ARCHS and not self.training:
            raise ValueError(f"this --arch {self.arch} design leaves out the learning units "
                             f"(--no-training): no TRAIN_SAMPLE/EVAL_SAMPLE; drop "
                             f"--no-training")
        if not self.on_chip_training:
            raise ValueError(
                f"--k {self.k_mode} has no on-chip training (TRAIN_SAMPLE/EVAL_SAMPLE): the "
                f"unrolled network's K registers take the pixel region; use --k const")

    def manifest(self) -> dict:
        return dict(
            format="wuxing-hdl-manifest", version=MANIFEST_VERSION, what=self.what,
            top=self.top, arch=self.arch, lanes=self.lanes,
            on_chip_training=self.on_chip_training, training=self.training,
            lut_memories=list(self.lut_memories), lanes_per_table=self.lanes_per_table,
            mult=self.mult,
            k_mode=self.k_mode,
            pipeline=self.pipeline,
            source=self.source,
            topology=None if self.topology is None else self.topology.spec(),
            topology_digest=None if self.topology is None else self.topology.digest(),
            cfg=self.cfg.as_dict(), neuron=self.neuron.as_dict(), fmt=self.fmt.as_dict(),
            table=self.table.as_dict(),
            c_init=None if self.c_init is None else [int(c) for c in self.c_init])

    @classmethod
    def from_manifest(cls, m: dict) -> "Design":
        if not isinstance(m, dict) or m.get("format") != "wuxing-hdl-manifest":
            raise ValueError("not a wuxing hardware manifest")
        if m.get("version") != MANIFEST_VERSION:
            raise ValueError(f"manifest version {m.get('version')} is not {MANIFEST_VERSION}")
        topo = None if m["topology"] is None else Topology.from_spec(m["topology"])
        if topo is not None and topo.digest() != m["topology_digest"]:
            raise ValueError("the manifest's topology does not rebuild to the same links")
        return cls(what=m["what"], topology=topo, cfg=RunConfig.from_dict(m["cfg"]),
                   neuron=NeuronParams(**m["neuron"]), fmt=FixedFormat(**m["fmt"]),
                   table=AtanTable(**m["table"]), mult=m["mult"], k_mode=m["k_mode"],
                   pipeline=bool(m.get("pipeline", False)),
                   c_init=m["c_init"], source=m.get("source", ""),
                   arch=m.get("arch", "unrolled"), lanes=int(m.get("lanes", 1)),
                   lut_memories=tuple(m.get("lut_memories", ())),
                   lanes_per_table=int(m.get("lanes_per_table", 2)),
                   training=bool(m.get("training", True)))


def design_from_checkpoint(path, what="network", mult="parallel", k_mode="const",
                           pipeline: bool = False, arch: str = "unrolled",
                           lanes: int = 1) -> Design:
    """The design of a trained checkpoint: its topology, settings and coefficients."""
    ck = load_checkpoint(path)
    d = Design(what=what, topology=ck.topology, cfg=ck.cfg, neuron=ck.neuron, fmt=ck.fmt,
               table=ck.table, mult=mult, k_mode=k_mode, pipeline=pipeline,
               source=f"checkpoint {path}", arch=arch, lanes=lanes)
    model = d.model()
    c_int = ck.C_int if ck.mode == "fixed" and ck.C_int is not None else model.coef_to_int(ck.C)
    d.c_init = [int(c) for c in np.asarray(c_int)]
    return d


def build_component(design: Design, *, spram: bool = False):
    """The Amaranth component of a design.

    ``spram`` is accepted for the board builds of the former SerialNetwork and has no effect:
    every state memory of the engine is read and written in the same clock, which the
    single-port SPRAM of the iCE40 UltraPlus cannot do (docs/HARDWARE.md)."""
    hw = design.hw()
    if design.what == "core":
        links = 1
        if design.topology is not None:
            t = design.topology
            ends = np.concatenate([t.src_neuron * 5 + t.src_elem, t.dst_neuron * 5 + t.dst_elem])
            links = int(np.bincount(ends).max())
        return NeuronCore(hw, mult=design.mult, k_mode=design.k_mode, links_per_element=links,
                          pipeline=design.pipeline)
    if design.what == "synapse":
        return Synapse(hw, table="own")
    c_init = None if design.c_init is None else np.asarray(design.c_init, np.int64)
    if design.arch in ("serial", "engine"):
        if design.k_mode != "const" or design.pipeline:
            raise ValueError(f"the {design.arch} network has constant K and no pipeline "
                             f"option")
        if design.arch == "serial":
            return SerialNetwork(design.topology, hw, c_init=c_init,
                                 lut_memories=design.lut_memories, training=design.training)
        return NetworkEngine(design.topology, hw, lanes=design.lanes, c_init=c_init,
                             lut_memories=design.lut_memories,
                             lanes_per_table=design.lanes_per_table, training=design.training)
    return Network(design.topology, hw, mult=design.mult, k_mode=design.k_mode,
                   pipeline=design.pipeline, c_init=c_init)


_TIME_ZERO = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend[^ ]*)\s*= 0;$", re.M)


def time_zero_event(text: str) -> str:
    """Make every ``always @*`` block of Yosys's Verilog evaluate once at time 0.

    Yosys makes each combinational block sensitive to a dummy register declared ``= 0``, so
    that its initialisation evaluates the blocks at time 0. In SystemVerilog mode (cocotb runs
    Icarus with -g2012) declaration initialisers run before the blocks wait, so blocks whose
    inputs are all registers holding their initial value would stay X until one of them
    changes. An ``initial #0`` toggle of the same register gives them their time-0 event.
    Synthesis does not use this file (the flows take the Amaranth design directly)."""
    return _TIME_ZERO.sub(lambda m: f"{m.group(0)}\n{m.group(1)}initial #0 {m.group(2)} = 1'b1;",
                          text)


def write_design(design: Design, out_dir) -> dict:
    """Write ``<top>.v`` and ``manifest.json`` into ``out_dir``; returns the manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    component = build_component(design)
    text = time_zero_event(verilog.convert(component, name=design.top, emit_src=False))
    vpath = out / f"{design.top}.v"
    atomic_write(vpath, text)
    man = design.manifest()
    man.update(verilog=vpath.name, lines=text.count("\n"))
    if design.what == "network":
        man.update(data_width=component.data_width, n_inputs=component.n_inputs,
                   n_outputs=component.n_outputs, n_neurons=design.topology.n_neurons,
                   n_links=design.topology.n_links, read_latency=component.read_latency)
        if isinstance(component, NetworkEngine):
            man.update(cycles=component.cycles(),
                       resources=component.resources().as_dict())
    atomic_write(out / MANIFEST, json.dumps(man, indent=1) + "\n")
    return man


def load_manifest(out_dir) -> tuple[Design, dict]:
    path = Path(out_dir) / MANIFEST
    try:
        man = json.loads(path.read_text())
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    return Design.from_manifest(man), man
