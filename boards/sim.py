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

from wuxing.golden.errors import UserError
from wuxing.golden.locking import folder_lock
from wuxing.hdl.generate import MANIFEST, Design

from .host import HostBridge

__all__ = ["write_board_design", "run_sim_session", "sim_timeout_kcycles", "SimError", "TOP",
           "fixture_session",
           "record_fixture", "FIXTURE", "RECORD_COMMAND"]

ROOT = Path(__file__).resolve().parent.parent
TOP = "wuxing_board"
# the recorded session the tests replay through the driver (no board, no simulator)
FIXTURE = ROOT / "tests" / "fixtures" / "boards" / "session_2x2.json"
RECORD_COMMAND = "python -m wuxing.boards.sim record tests/fixtures/boards/session_2x2.json"


class SimError(RuntimeError):
    """The simulation could not be built or run."""


def write_board_design(design: Design, out_dir) -> Path:
    """``wuxing_board.v`` and the design manifest into ``out_dir`` (skipped if up to date)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    bridge = HostBridge.for_design(design)
    man = design.manifest()
    man.update(verilog=f"{TOP}.v", board_top=TOP,
               answer_kcycles=sim_timeout_kcycles(bridge.network, design))
    text_man = json.dumps(man, indent=1) + "\n"
    vpath, mpath = out / f"{TOP}.v", out / MANIFEST
    text = verilog.convert(bridge, name=TOP, emit_src=False)
    # rewrite only what changed, so that the simulator's build stays cached
    if not vpath.exists() or vpath.read_text() != text:
        vpath.write_text(text)
    if not mpath.exists() or mpath.read_text() != text_man:
        mpath.write_text(text_man)
    return out


def sim_timeout_kcycles(network, design: Design) -> float:
    """How long (kilo-cycles) the simulated board may take to answer one request: the longest
    command (TRAIN: a reverse run and the BSP update after a forward) twice, plus the bytes.
    ``network``: the board's network component (its own cycle counts where it has them)."""
    if hasattr(network, "cycles_per_run"):
        cycles = 2 * network.cycles_per_run() + network.cycles_per_bsp()
    else:   # the unrolled network: a step per clock (5 with a shared multiplier)
        per_step = 5 if design.mult == "shared" else 2
        cycles = 2 * per_step * (design.cfg.steps + 8) + 4 * design.topology.n_links
    return 2 * cycles / 1000 + 2    # + the longest frame, escaped, at a byte a clock


def run_sim_session(design: Design, job: dict, simulator: str = "icarus") -> dict:
    """Run ``job`` (see boards.tb_host) against the simulated board; returns its result.
    Without ``timeout_kcycles`` the driver waits :func:`sim_timeout_kcycles` for an answer
    (the manifest's ``answer_kcycles``)."""
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
        if "error" in result:
            if result.get("user_error"):
                raise UserError(result["error"])
            raise SimError(f"the host session in the simulation failed: {result['error_type']}: "
                           f"{result['error']}; see {build_dir / 'test.log'}")
        result.update(build_seconds=build_s, test_seconds=time.perf_counter() - t0,
                      simulator=simulator, sim_dir=str(build_dir))
        return result


def fixture_session():
    """(design, job) of the recorded fixture session: a 2+2-neuron network (8 links), line
    noise first, the coefficients written and read back, 4 samples of which 2 train, then
    the refusals. The test that compares a fresh simulation with the fixture and the replay
    test use this one definition."""
    import numpy as np

    from wuxing.golden.network import init_coefficients
    from wuxing.golden.topology import Topology
    d = Design(topology=Topology(layers=(2, 2)), mult="parallel")
    m = d.model()
    C = m.coef_to_int(init_coefficients(d.topology, d.cfg, 1))
    rng = np.random.default_rng(0)
    x = m.input_to_int(rng.uniform(0, 1, (4, d.topology.layers[0])))
    targets = np.eye(d.topology.layers[-1])[[0, 1, 0, 1]]
    job = dict(C_int=C.tolist(), x_int=x.tolist(), targets=targets.tolist(), train=2,
               negative=True, garbage="00c0db01c0ff", tx_stall=2)
    return d, job


def record_fixture(path) -> dict:
    """Simulate the fixture session (Verilator) and write its recording to ``path``."""
    d, job = fixture_session()
    path = Path(path).resolve()
    return run_sim_session(d, dict(job, record=str(path)), "verilator")


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m wuxing.boards.sim",
                                description="Record the board session fixture the tests "
                                            "replay (after a deliberate protocol change).")
    p.add_argument("action", choices=("record",))
    p.add_argument("path", help=f"where to write it (the tests read {FIXTURE.relative_to(ROOT)})")
    a = p.parse_args(argv)
    r = record_fixture(a.path)
    print(f"recorded {a.path}: {r['cycles']} simulated clocks, status {r['status']}")
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
