"""Run the host flow against the simulated board (``wuxing run --sim``): generate the board
gateware's Verilog (HostBridge + Network, top ``wuxing_board``), build it inside the
co-simulation wrapper with :func:`sim.runner.build_simulation` (Icarus or Verilator; once per
design, reused) and run :mod:`boards.tb_host`, which drives it with the real driver.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from amaranth.back import verilog

from wuxing.hdl.generate import MANIFEST, Design
from wuxing.sim.runner import build_lock

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
    from wuxing.sim.runner import (BenchError, build_simulation, new_run_dir,
                                   simulator_missing, test_simulation)
    reason = simulator_missing(simulator)
    if reason:
        raise ValueError(reason)
    key = hashlib.sha256(json.dumps(design.manifest(), sort_keys=True).encode()).hexdigest()
    design_dir = ROOT / "build" / "board-sim" / key[:12]
    with build_lock(design_dir):
        write_board_design(design, design_dir)
    try:
        # inside the co-simulation wrapper (sim/wrapper.py): the clock runs in the simulation
        # and stops when the device offers a byte
        build = build_simulation("board", [design_dir / f"{TOP}.v"], TOP, simulator)
    except BenchError as e:
        raise SimError(f"building the board simulation failed: {e}") from None
    run_dir = new_run_dir(build)
    job = dict(job, design_dir=str(design_dir))
    job_path, result_path = run_dir / "job.json", run_dir / "result.json"
    job_path.write_text(json.dumps(job))
    env = {"WUXING_HOST_JOB": str(job_path), "WUXING_HOST_RESULT": str(result_path)}
    t0 = time.perf_counter()
    failure = test_simulation(build, "wuxing.boards.tb_host", run_dir, env)
    if not result_path.exists():
        raise SimError(f"the board simulation ended without a result ({failure}); see "
                       f"{run_dir / 'test.log'}")
    result = json.loads(result_path.read_text())
    result.update(build_seconds=build.seconds, build_cached=build.cached,
                  test_seconds=time.perf_counter() - t0, simulator=simulator,
                  sim_dir=str(run_dir))
    return result
