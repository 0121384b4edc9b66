"""Run the host flow against the simulated board (``wuxing run --sim``): generate the board
gateware's Verilog (HostBridge + Network, top ``wuxing_board``), build it with cocotb's runner
(Icarus or Verilator) and run :mod:`boards.tb_host`, which drives it with the real driver.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from amaranth.back import verilog

from wuxing.golden.locking import folder_lock
from wuxing.hdl.generate import MANIFEST, Design

from .host import HostBridge

__all__ = ["write_board_design", "run_sim_session", "SimError", "TOP"]

ROOT = Path(__file__).resolve().parent.parent
TOP = "wuxing_board"


class SimError(RuntimeError):
    """The simulation could not be built or run."""


def write_board_design(design: Design, out_dir) -> Path:
    """``wuxing_board.v`` and the design manifest into ``out_dir`` (skipped if up to date)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    man = design.manifest()
    man.update(verilog=f"{TOP}.v", board_top=TOP)
    text_man = json.dumps(man, indent=1) + "\n"
    vpath, mpath = out / f"{TOP}.v", out / MANIFEST
    text = verilog.convert(HostBridge.for_design(design), name=TOP, emit_src=False)
    # rewrite only what changed, so that the simulator's build stays cached
    if not vpath.exists() or vpath.read_text() != text:
        vpath.write_text(text)
    if not mpath.exists() or mpath.read_text() != text_man:
        mpath.write_text(text_man)
    return out


def run_sim_session(design: Design, job: dict, simulator: str = "icarus") -> dict:
    """Run ``job`` (see boards.tb_host) against the simulated board; returns its result."""
    from cocotb_tools.runner import get_runner

    from wuxing.sim.runner import simulator_missing
    reason = simulator_missing(simulator)
    if reason:
        raise ValueError(reason)
    key = hashlib.sha256(json.dumps(design.manifest(), sort_keys=True).encode()).hexdigest()
    design_dir = ROOT / "build" / "board-sim" / key[:12]
    # one writer, build and run per design folder at a time (pytest-xdist workers, sweeps)
    with folder_lock(design_dir):
        design_dir = write_board_design(design, design_dir)
        build_dir = design_dir / simulator
        build_dir.mkdir(exist_ok=True)
        build_args = []
        if simulator == "verilator":
            build_args = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC",
                          "-Wno-CASEINCOMPLETE", "-Wno-CASEOVERLAP", "-O3"]
            flags = os.environ.get("MAKEFLAGS", "")
            if "CFG_CXXFLAGS_PCH_I" not in flags:
                os.environ["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include "
                                           "OPT_FAST=-O1").strip()
        runner = get_runner(simulator)
        t0 = time.perf_counter()
        try:
            runner.build(sources=[design_dir / f"{TOP}.v"], hdl_toplevel=TOP, build_dir=build_dir,
                         timescale=("1ns", "1ps"), build_args=build_args,
                         log_file=build_dir / "build.log")
        except (SystemExit, Exception) as e:
            raise SimError(f"building the board simulation failed ({e}); see "
                           f"{build_dir / 'build.log'}") from None
        build_s = time.perf_counter() - t0
        job = dict(job, design_dir=str(design_dir))
        job_path, result_path = build_dir / "job.json", build_dir / "result.json"
        job_path.write_text(json.dumps(job))
        if result_path.exists():
            result_path.unlink()
        env = {"WUXING_HOST_JOB": str(job_path), "WUXING_HOST_RESULT": str(result_path),
               "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        t0 = time.perf_counter()
        failure = None
        try:
            runner.test(test_module="wuxing.boards.tb_host", hdl_toplevel=TOP, build_dir=build_dir,
                        test_dir=build_dir, extra_env=env, timescale=("1ns", "1ps"),
                        results_xml=str(build_dir / "results.xml"),
                        log_file=build_dir / "test.log")
        except (SystemExit, Exception) as e:
            failure = e
        if not result_path.exists():
            raise SimError(f"the board simulation ended without a result ({failure}); see "
                           f"{build_dir / 'test.log'}")
        result = json.loads(result_path.read_text())
        result.update(build_seconds=build_s, test_seconds=time.perf_counter() - t0,
                      simulator=simulator, sim_dir=str(build_dir))
        return result
