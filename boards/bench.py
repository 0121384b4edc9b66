"""Board benchmark: per board and network, the lanes, resources, clock, Fmax, clocks per
training sample (co-simulation), training samples per second and the multiplier bound.

    python -m wuxing.boards.bench                 # the quick set (make bench): tiny, 4 boards
    python -m wuxing.boards.bench --set full      # MODEL1 & co. (make bench-boards): hours
    python -m wuxing.boards.bench --set full --list      # what it would run, and what is done

Each run is one ``wuxing build`` (:func:`boards.build.board_build`: the PLL clock, ``--lanes
auto`` for the engine, the co-simulation of the same network); its result is written to
``build/bench/boards/<run>.json`` as soon as it ends, and a later invocation skips the runs
that have a result (``--rerun`` repeats them): an interrupted full set resumes where it
stopped. A run that does not fit or misses timing is a result too (its reason and numbers
are kept). The table of the set is printed and written to ``build/bench/boards-<set>.json``.

The sets use the engine (``--arch engine``) when this generator has it, else the serial
network (the engine's one-lane case); ``--arch`` forces one.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Run", "runs_for", "run_one", "main", "format_table", "largest_fitting"]

ROOT = Path("build") / "bench"


@dataclass(frozen=True)
class Run:
    """One bench build: a board and a network (a preset, or layer sizes), the arch and the
    lanes (``"auto"`` for the engine), and what it shows."""

    board: str
    network: str                      # a preset name or layer sizes "196,196,10"
    arch: str
    lanes: object = "auto"
    fan_in: int | None = None
    what: str = ""
    largest: bool = False             # find the largest network of this family that fits
    clock: object = None              # MHz, "auto", or None (the board's default)

    @property
    def key(self) -> str:
        net = self.network.replace(",", "x") + (f"-f{self.fan_in}" if self.fan_in else "")
        kind = "largest-" if self.largest else ""
        return f"{self.board}-{kind}{net}-{self.arch}-{self.lanes}"


def _default_arch() -> str:
    from wuxing.hdl.generate import ARCHS
    return "engine" if "engine" in ARCHS else "serial"


def runs_for(which: str, arch: str | None = None) -> list:
    """The runs of a set: ``quick`` (the tiny network on every board) or ``full``."""
    arch = arch or _default_arch()
    lanes = "auto" if arch != "unrolled" else None
    if which == "quick":
        return [Run(b, "tiny", arch, lanes, what="the demo network")
                for b in ("icebreaker", "icesugar", "ulx3s", "orangecrab")]
    if which == "full":
        # the big networks at the clock they meet (--clock auto)
        return [
            Run("ulx3s", "model1", arch, lanes, what="MODEL1 on an ECP5-85F", clock="auto"),
            Run("orangecrab", "model1", arch, lanes, what="MODEL1 on an ECP5-85F, speed 8",
                clock="auto"),
            Run("ulx3s", "model1", arch, lanes, fan_in=4, what="fan-in-4 MODEL1 on an ECP5-85F",
                clock="auto"),
            Run("icebreaker", "model1", arch, lanes, what="MODEL1 on the UP5K (or its budget)",
                clock="auto"),
            Run("icebreaker", "model1", arch, lanes, largest=True, clock="auto",
                what="the largest MODEL1-shaped network on the UP5K"),
        ]
    raise ValueError(f"unknown set {which!r} (quick, full)")


def _topology(run: Run, scale: float = 1.0):
    from wuxing.golden.topology import MODEL1_LAYERS, Topology, preset
    extra = {} if run.fan_in is None else dict(fan_in=run.fan_in)
    if run.largest:
        layers = tuple(max(2, round(n * scale)) for n in MODEL1_LAYERS[:-1]) + (10,)
        return Topology(layers=layers, **extra)
    if run.network[0].isdigit():
        return Topology(layers=tuple(int(v) for v in run.network.split(",")), **extra)
    return preset(run.network, **extra)


def _design(run: Run, scale: float = 1.0):
    from wuxing.hdl.generate import Design
    return Design(topology=_topology(run, scale), arch=run.arch,
                  source=f"bench {run.key}")


def largest_fitting(run: Run, log) -> float:
    """The largest scale of MODEL1's hidden layers (inputs and hidden layers x scale, 10
    outputs) whose one-lane estimate fits the board (bisection on the estimate)."""
    from .build import board_bridge
    from .budget import estimate, silence
    from .lanes import ESTIMATE_SLACK, _over_ratio, with_lanes
    from .top import board
    dev = board(run.board).device

    def fits(s):
        d = with_lanes(_design(run, s), 1)
        over = estimate(silence(board_bridge(run.board, d)[0]), dev).over()
        return not over or _over_ratio(over) <= 1 + ESTIMATE_SLACK
    lo, hi = 0.0, 1.0
    if fits(1.0):
        return 1.0
    for _ in range(10):
        mid = (lo + hi) / 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    log(f"largest MODEL1 scale whose estimate fits {run.board}: {lo:.3f}")
    return lo


def run_one(run: Run, out_dir: Path, simulator: str | None, max_builds: int, log,
            time_limit_min: float | None = None) -> dict:
    """Build (and measure) one run, each build's tools stopped after ``time_limit_min``
    minutes (None: no limit); its result (a failed build is a result too)."""
    from .build import BuildError, board_build
    from .top import board
    t0 = time.perf_counter()
    scale = 1.0
    design = None
    result = dict(run=run.key, board=run.board, network=run.network, fan_in=run.fan_in,
                  arch=run.arch, lanes_asked=run.lanes, what=run.what)
    try:
        if run.largest:
            scale = largest_fitting(run, log)
            result["scale"] = scale
        design = _design(run, scale)
        # the largest network is built until one fits: 10 % smaller after each refusal
        for attempt in range(4 if run.largest else 1):
            try:
                rep = board_build(run.board, design, run.lanes, out_dir / run.key,
                                  clock_mhz=run.clock, max_builds=max_builds,
                                  simulator=simulator, log=log,
                                  time_limit_min=time_limit_min)
                break
            except BuildError as e:
                if not run.largest or attempt == 3:
                    raise
                log(f"  {e}: 10 % smaller")
                scale *= 0.9
                result["scale"] = scale
                design = _design(run, scale)
        result.update(rep, ok=True)
    except BuildError as e:
        result.update(getattr(e, "report", None) or {}, ok=False, failure=str(e))
    except ValueError as e:
        result.update(ok=False, failure=str(e))
    if design is not None:
        t = design.topology
        result.update(layers=list(t.layers), n_neurons=t.n_neurons, n_links=t.n_links)
        if not result.get("ok"):
            result["budget"] = _budget(run, design)
    result["bench_seconds"] = round(time.perf_counter() - t0, 1)
    result["device"] = board(run.board).device.name
    try:
        result["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                          capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return result


def _budget(run: Run, design) -> dict:
    """The one-lane estimate of a design that did not build: what decides it."""
    from .build import board_bridge
    from .budget import estimate, silence
    from .lanes import with_lanes
    from .top import board
    try:
        d = with_lanes(design, 1)
    except ValueError:
        d = design
    e = estimate(silence(board_bridge(run.board, d)[0]), board(run.board).device)
    return e.as_dict()


def _cell(r: dict, key: str) -> str:
    res = r.get("resources") or {}
    cells = {"logic": ("ICESTORM_LC", "TRELLIS_COMB"), "bram": ("ICESTORM_RAM", "DP16KD"),
             "dsp": ("ICESTORM_DSP", "MULT18X18D"), "spram": ("ICESTORM_SPRAM",)}[key]
    for c in cells:
        if c in res:
            return f"{res[c]['used']}/{res[c]['available']}"
    return "-"


def format_table(results: list) -> str:
    from wuxing.golden.report import table
    rows = []
    for r in results:
        net = f"{r.get('network')}" + (f" f{r['fan_in']}" if r.get("fan_in") else "")
        if r.get("scale") and r.get("scale") != 1.0:
            net = "x".join(map(str, r.get("layers", [])))
        nl = f"{r.get('n_neurons', '?')}/{r.get('n_links', '?')}"
        meas, pred = r.get("cycles_per_sample"), r.get("cycles_per_sample_predicted")
        cyc = "-" if not (meas or pred) else (f"{meas:,}" if meas else "-") + (
            f" ({pred:,})" if pred else "")
        sps = r.get("samples_per_s")
        bound = r.get("multiplier_bound_samples_per_s")
        clock = (f"{r['clock_mhz']:.4g}" if r.get("clock_mhz") else "-")
        fmax = f"{r['fmax_mhz']:.1f}" if r.get("fmax_mhz") else "-"
        status = "ok" if r.get("ok") else (r.get("failure") or "failed")[:60]
        rows.append([r["board"], net, nl, r.get("arch"), r.get("lanes") or "-",
                     _cell(r, "logic"), _cell(r, "bram"), _cell(r, "dsp"), clock, fmax, cyc,
                     "-" if not sps else f"{sps:,.1f}", "-" if not bound else f"{bound:,.0f}",
                     status])
    return table(rows, ["board", "network", "neurons/links", "arch", "P", "logic", "BRAM",
                        "DSP", "clock MHz", "Fmax MHz", "clocks/sample (pred.)",
                        "samples/s", "mult. bound/s", "status"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m wuxing.boards.bench",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--set", choices=("quick", "full"), default="quick",
                    help="quick: the tiny network on the four boards (minutes); full: MODEL1, "
                         "fan-in-4 MODEL1, the UP5K budget (hours)")
    ap.add_argument("--arch", choices=("serial", "engine", "unrolled"),
                    help="network hardware (default: the engine if present, else serial)")
    ap.add_argument("--rerun", action="store_true", help="repeat runs that have a result")
    ap.add_argument("--list", action="store_true", help="list the runs and which are done")
    ap.add_argument("--only", metavar="TEXT", help="only the runs whose name contains TEXT")
    ap.add_argument("--no-cosim", action="store_true", help="predicted clocks only")
    ap.add_argument("--max-builds", type=int, default=4, help="per run, --lanes auto")
    ap.add_argument("--time-limit", type=float, default=60.0, metavar="MIN",
                    help="stop a build's tools after MIN minutes (default 60): under --lanes "
                         "auto a P that does not route in time counts as too large (MODEL1 "
                         "at P = 17 on the ECP5-85F fits but does not route)")
    ap.add_argument("--out", default=str(ROOT), help=f"results folder (default {ROOT})")
    args = ap.parse_args(argv)
    from .build import check_time_limit
    try:
        check_time_limit(args.time_limit)
    except ValueError:
        ap.error(f"--time-limit must be a positive number of minutes, not {args.time_limit:g}")
    from wuxing.golden.report import write_json
    runs = runs_for(args.set, args.arch)
    out = Path(args.out)
    res_dir = out / "boards"
    res_dir.mkdir(parents=True, exist_ok=True)
    results = []
    t_all = time.perf_counter()
    for i, run in enumerate(runs, 1):
        path = res_dir / f"{run.key}.json"
        if args.only and args.only not in run.key:   # not run now; in the table if measured
            if path.exists() and not args.list:
                results.append(json.loads(path.read_text()))
            continue
        done = path.exists() and not args.rerun
        if args.list:
            print(f"  [{i}/{len(runs)}] {run.key:45s} {'done' if done else 'to do'}"
                  f"  ({run.what})")
            continue
        if done:
            results.append(json.loads(path.read_text()))
            print(f"[{i}/{len(runs)}] {run.key}: done before ({path}), skipped", flush=True)
            continue
        print(f"[{i}/{len(runs)}] {run.key}: {run.what} ...", flush=True)
        t0 = time.perf_counter()
        r = run_one(run, out / "builds", None if args.no_cosim else "verilator",
                    args.max_builds, log=lambda msg: print(f"    {msg}", flush=True),
                    time_limit_min=args.time_limit)
        write_json(path, r)
        results.append(r)
        print(f"[{i}/{len(runs)}] {run.key}: {'ok' if r.get('ok') else r.get('failure')} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    if args.list:
        return 0
    print(f"\nboard bench, set {args.set} ({time.perf_counter() - t_all:.0f} s this time):")
    print(format_table(results))
    summary = out / f"boards-{args.set}.json"
    write_json(summary, dict(set=args.set, runs=results))
    print(f"results: {summary} (each run: {res_dir}/<run>.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
