"""Run the host flow against the simulated board (``wuxing run --sim``): generate the board
gateware's Verilog (HostBridge + Network, top ``wuxing_board``), build it inside the
co-simulation wrapper with :func:`sim.runner.build_simulation` (Icarus or Verilator; once per
design, then reused) and run :mod:`boards.tb_host`, which drives it with the real driver.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from pathlib import Path

from amaranth.back import verilog

from wuxing.golden.errors import UserError
from wuxing.golden.locking import folder_lock
from wuxing.hdl.generate import MANIFEST, Design

from .host import HostBridge

__all__ = ["write_board_design", "run_sim_session", "sim_timeout_kcycles", "SimError", "TOP",
           "serve_sim_board", "SIM_MIN_CYCLES_PER_S",
           "fixture_session",
           "record_fixture", "FIXTURE", "RECORD_COMMAND", "onchip_fixture_session",
           "record_onchip_fixture", "ONCHIP_FIXTURE", "ONCHIP_RECORD_COMMAND",
           "onchip_over_serial"]

ROOT = Path(__file__).resolve().parent.parent
TOP = "wuxing_board"
# the recorded session the tests replay through the driver (no board, no simulator)
FIXTURE = ROOT / "tests" / "fixtures" / "boards" / "session_2x2.json"
RECORD_COMMAND = "python -m wuxing.boards.sim record tests/fixtures/boards/session_2x2.json"
# the serial session of learning on the chip: --port against the simulated board behind a
# pseudo-terminal, recorded on the host's side of the serial port
ONCHIP_FIXTURE = ROOT / "tests" / "fixtures" / "boards" / "onchip_serial_4x3.json"
ONCHIP_RECORD_COMMAND = ("python -m wuxing.boards.sim record-onchip "
                         "tests/fixtures/boards/onchip_serial_4x3.json")


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


def _board_build(design: Design, simulator: str):
    """(design folder, the simulator's build) of the board gateware of ``design``."""
    from wuxing.sim.runner import BenchError, build_simulation, simulator_missing
    reason = simulator_missing(simulator)
    if reason:
        raise ValueError(reason)
    # (the gateware's own fields: two designs that differ only in where they came from share
    # one folder and one simulator build)
    gateware = {k: v for k, v in design.manifest().items() if k != "source"}
    key = hashlib.sha256(json.dumps(gateware, sort_keys=True).encode()).hexdigest()
    design_dir = ROOT / "build" / "board-sim" / key[:12]
    with folder_lock(design_dir):
        write_board_design(design, design_dir)
    try:
        # inside the co-simulation wrapper (sim/wrapper.py) with its byte path: the clock runs
        # in the simulation, a frame goes in and an answer comes out in one request each;
        # built once per design, then reused
        build = build_simulation("board", [design_dir / f"{TOP}.v"], TOP, simulator)
    except BenchError as e:
        raise SimError(f"building the board simulation failed: {e}") from None
    return design_dir, build


# the slowest simulated board we allow for (clocks per second of wall time): the host's
# timeout on the pseudo-terminal is the design's longest answer at this rate
SIM_MIN_CYCLES_PER_S = 100_000


@contextlib.contextmanager
def serve_sim_board(design: Design, simulator: str = "verilator", start_timeout: float = 900):
    """The simulated board on a pseudo-terminal (boards.tb_serve), for as long as the
    ``with`` block runs: yields ``(path, answer_seconds)``, the terminal to open as a serial
    port and how long one answer may take in wall time (:data:`SIM_MIN_CYCLES_PER_S`)."""
    from wuxing.sim.runner import new_run_dir, test_simulation
    design_dir, build = _board_build(design, simulator)
    manifest = json.loads((design_dir / MANIFEST).read_text())
    run_dir = new_run_dir(build)
    pty_file, stop_file = run_dir / "pty", run_dir / "stop"
    env = {"WUXING_SERVE_PTY": str(pty_file), "WUXING_SERVE_STOP": str(stop_file)}
    outcome = {}

    def serve():
        outcome["failure"] = test_simulation(build, "wuxing.boards.tb_serve", run_dir, env)

    th = threading.Thread(target=serve, name="sim-board", daemon=True)
    th.start()
    deadline = time.monotonic() + start_timeout
    while not pty_file.exists():
        if not th.is_alive():
            raise SimError(f"the simulated board ended before it served "
                           f"({outcome.get('failure')}); see {run_dir / 'test.log'}")
        if time.monotonic() > deadline:
            stop_file.touch()
            raise SimError(f"the simulated board did not start in {start_timeout:g} s; see "
                           f"{run_dir / 'test.log'}")
        time.sleep(0.05)
    answer_s = max(5.0, manifest["answer_kcycles"] * 1000 / SIM_MIN_CYCLES_PER_S)
    try:
        yield pty_file.read_text().strip(), answer_s
    finally:
        stop_file.touch()
        th.join(timeout=120)


def run_sim_session(design: Design, job: dict, simulator: str = "icarus") -> dict:
    """Run ``job`` (see boards.tb_host) against the simulated board; returns its result.
    Without ``timeout_kcycles`` the driver waits :func:`sim_timeout_kcycles` for an answer
    (the manifest's ``answer_kcycles``)."""
    from wuxing.sim.runner import new_run_dir, test_simulation
    design_dir, build = _board_build(design, simulator)
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
    if "error" in result:
        if result.get("user_error"):
            raise UserError(result["error"])
        raise SimError(f"the host session in the simulation failed: {result['error_type']}: "
                       f"{result['error']}; see {run_dir / 'test.log'}")
    result.update(build_seconds=build.seconds, build_cached=build.cached,
                  test_seconds=time.perf_counter() - t0, simulator=simulator,
                  sim_dir=str(run_dir))
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


def onchip_fixture_session(arch: str = "serial"):
    """(design, spec) of the recorded serial session of learning on the chip: a 4+3-neuron
    network on the serial engine (or ``arch``), 12 training and 6 held-out samples of random
    pixels, one epoch of batch 1 (3 samples) and one of batch 4 (8 samples), the golden check
    after every batch (boards.flow.onchip_session's spec)."""
    import numpy as np

    from wuxing.golden.network import init_coefficients
    from wuxing.golden.topology import Topology
    d = Design(topology=Topology(layers=(4, 3)), arch=arch)
    m = d.model()
    rng = np.random.default_rng(7)
    spec = dict(C_int=m.coef_to_int(init_coefficients(d.topology, d.cfg, 3)).tolist(),
                px_train=rng.integers(0, 256, (12, 4)).tolist(),
                y_train=rng.integers(0, 3, 12).tolist(),
                px_test=rng.integers(0, 256, (6, 4)).tolist(),
                y_test=rng.integers(0, 3, 6).tolist(),
                plans=[dict(epochs=1, batch=1, max_samples=3, check_every=1, seed=1),
                       dict(epochs=1, batch=4, max_samples=8, check_every=1, seed=2)])
    return d, spec


def onchip_over_serial(transport, design: Design, spec: dict, timeout: float) -> dict:
    """:func:`boards.flow.onchip_session` over a serial-port transport (a board, the
    pseudo-terminal of the simulated board, or its recording)."""
    from .driver import BoardDriver
    from .flow import onchip_session
    drv = BoardDriver(transport, timeout=timeout, retries=1)
    return json.loads(json.dumps(onchip_session(drv, design.model(), spec)))


def record_onchip_fixture(path, simulator: str = "verilator") -> dict:
    """Serve the simulated board on a pseudo-terminal, run the on-chip fixture session
    through it as through a board's serial port, and write the host-side recording (and the
    result) to ``path``."""
    from .driver import RecordingTransport, SerialTransport
    d, spec = onchip_fixture_session()
    with serve_sim_board(d, simulator) as (pty, answer_s):
        rec = RecordingTransport(SerialTransport(pty))
        try:
            r = onchip_over_serial(rec, d, spec, answer_s)
        finally:
            rec.inner.close()
    rec.save(path, dict(design=d.manifest(), spec=spec, result=r, timeout=answer_s,
                        transport="serial port (pseudo-terminal) of the simulated board"))
    return r


def sample_clocks(design: Design, byte_clocks: int = 1, n: int = 2,
                  simulator: str = "verilator") -> dict:
    """Simulated clocks per TRAIN_SAMPLE and per EVAL_SAMPLE frame, request to answer, on the
    board gateware: with ``byte_clocks`` = 1 a byte a clock (the compute-limited figure), with
    the UART's clocks per byte (10 bits x the baud divisor) both directions paced as the UART
    paces them (the link-limited figure). ``n`` samples of each (the mean)."""
    import numpy as np

    from wuxing.golden.network import init_coefficients
    m = design.model()
    t = design.topology
    spec = dict(C_int=m.coef_to_int(init_coefficients(t, design.cfg, 0)).tolist(),
                px_train=np.full((1, t.layers[0]), 128).tolist(), y_train=[0],
                px_test=np.full((1, t.layers[0]), 128).tolist(), y_test=[0], plans=[],
                timing=n)
    r = run_sim_session(design, dict(onchip=spec, rx_gap=byte_clocks,
                                     tx_stall=byte_clocks - 1), simulator)
    return dict(r["timing"], byte_clocks=byte_clocks)


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m wuxing.boards.sim",
                                description="Record the board session fixture the tests "
                                            "replay (after a deliberate protocol change).")
    p.add_argument("action", choices=("record", "record-onchip", "sample-clocks"),
                   help="record: the session of the simulated board's UART boundary; "
                        "record-onchip: learning on the chip through the pseudo-terminal; "
                        "sample-clocks: clocks per TRAIN_SAMPLE / EVAL_SAMPLE of RECIPE's "
                        "network (PATH: the JSON report), a byte a clock and at --baud "
                        "from --clock")
    p.add_argument("--recipe", default="tiny-digits4", help="sample-clocks: the network")
    p.add_argument("--lanes", type=int, default=1, help="sample-clocks: engine lanes")
    p.add_argument("--clock", type=float, default=18.0, help="sample-clocks: MHz")
    p.add_argument("--baud", type=int, action="append",
                   help="sample-clocks: UART rates (default 115200 and 3000000)")
    p.add_argument("path", help=f"where to write it (the tests read "
                                f"{FIXTURE.relative_to(ROOT)} and "
                                f"{ONCHIP_FIXTURE.relative_to(ROOT)})")
    a = p.parse_args(argv)
    if a.action == "sample-clocks":
        from wuxing.golden.report import write_json

        from .onchip import design_for_recipe
        from .uart import baud_divisor
        d = design_for_recipe(a.recipe, arch="engine" if a.lanes > 1 else "serial",
                              lanes=a.lanes)
        hz = a.clock * 1e6
        divisors = {baud: baud_divisor(hz, baud) for baud in a.baud or (115200, 3_000_000)}
        rows = [dict(sample_clocks(d, 1), baud=None)]
        for baud, div in divisors.items():
            rows.append(dict(sample_clocks(d, 10 * div), baud=baud))
        for r in rows:
            r.update({f"{k}_per_s": hz / r[k] for k in ("train_sample", "eval_sample")})
            print(f"{'a byte a clock' if r['baud'] is None else str(r['baud']) + ' baud':>16}: "
                  f"TRAIN_SAMPLE {r['train_sample']:,.0f} clocks ({r['train_sample_per_s']:,.1f}"
                  f"/s at {a.clock:g} MHz), EVAL_SAMPLE {r['eval_sample']:,.0f} clocks "
                  f"({r['eval_sample_per_s']:,.1f}/s)")
        write_json(a.path, dict(recipe=a.recipe, lanes=a.lanes, clock_mhz=a.clock, rows=rows))
        return 0
    if a.action == "record-onchip":
        r = record_onchip_fixture(a.path)
        print(f"recorded {a.path}: {r['compared']} integers compared, {r['mismatches']} "
              f"mismatches")
        return 0
    r = record_fixture(a.path)
    print(f"recorded {a.path}: {r['cycles']} simulated clocks, status {r['status']}")
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
