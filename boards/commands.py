"""``wuxing build``, ``wuxing program``, ``wuxing run``: the board flow from the command line."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path

import numpy as np

from wuxing.golden.errors import UserError

from .build import AUTO_ROUTER, ROUTERS
from .top import BOARDS, board, openfpgaloader_path

SIM_LAYERS = (2, 2)     # the default network of `wuxing run --sim`
BUILD_LAYERS = (1, 1)   # the default network of `wuxing build --arch unrolled`: 2 neurons
BUILD_PRESET = "tiny"   # ... and of the serial network and the engine: 42 neurons


def _archs() -> tuple:
    from wuxing.hdl.generate import ARCHS
    return tuple(ARCHS)


def _arch(args) -> str:
    """--arch, else on a board the engine (when this generator has it) or the serial network:
    the unrolled Network does not fit an iCE40 at all and holds at most 4+4 neurons on an
    ECP5-85F; the engine's and the serial one's state is in RAM."""
    if getattr(args, "arch", None):
        return args.arch
    if getattr(args, "board", None) or getattr(args, "func", None) is cmd_build:
        return "engine" if "engine" in _archs() else "serial"
    return "unrolled"


def _lanes(args, arch: str):
    """--lanes as an int, or "auto"; None for the unrolled network (no lanes)."""
    text = getattr(args, "lanes", None) or "auto"
    if arch == "unrolled":
        if getattr(args, "lanes", None):
            raise UserError("--lanes applies to --arch engine (or serial: 1), not unrolled")
        return None
    if text == "auto":
        return "auto"
    try:
        p = int(text)
    except ValueError:
        raise UserError(f"--lanes takes a number of lanes or auto, not {text!r}") from None
    if p < 1:
        raise UserError(f"--lanes must be at least 1, not {p}")
    return p


def _topology(args, default):
    from wuxing.golden.topology import Topology, preset
    fan_in = getattr(args, "fan_in", None)
    extra = {} if fan_in is None else dict(fan_in=fan_in)
    if getattr(args, "topology", None):
        return preset(args.topology, **extra), f"topology preset {args.topology}"
    if getattr(args, "topology_file", None):
        t = Topology.load(args.topology_file)
        if fan_in is not None:
            spec = dict(t.spec(), fan_in=fan_in, fan_out=fan_in)
            t = Topology.from_spec(spec)
        return t, f"topology file {args.topology_file}"
    if args.layers:
        try:
            layers = tuple(int(v) for v in args.layers.split(","))
        except ValueError:
            raise UserError(f"--layers takes sizes like 2,2, not {args.layers!r}") from None
        return Topology(layers=layers, **extra), f"layers {args.layers}"
    if isinstance(default, str):
        return preset(default, **extra), f"topology preset {default}"
    return Topology(layers=default, **extra), "layers " + ",".join(map(str, default))


def _design(args):
    """The Design of the command line (topology, arch, ``--no-training``; the lanes are set by
    the caller)."""
    d = _design_of_args(args)
    if getattr(args, "no_training", False):
        import dataclasses
        try:
            d = dataclasses.replace(d, training=False)
            if getattr(args, "on_chip_training", False):
                d.require_on_chip_training()
        except ValueError as e:
            raise UserError(str(e)) from None
    return d


def _design_of_args(args):
    from wuxing.hdl.generate import Design, design_from_checkpoint
    arch = _arch(args)
    if getattr(args, "recipe", None):
        from .onchip import design_for_recipe
        if getattr(args, "fan_in", None) is not None:
            raise UserError("--fan-in changes the topology; a recipe has its own")
        d = design_for_recipe(args.recipe, arch=arch)
        try:        # a recipe's design is the one it trains on the chip (or its network alone)
            if not getattr(args, "no_training", False):
                d.require_on_chip_training()
        except ValueError as e:
            raise UserError(str(e)) from None
        return d
    if getattr(args, "checkpoint", None):
        if getattr(args, "fan_in", None) is not None:
            raise UserError("--fan-in changes the topology; a checkpoint has its own")
        d = design_from_checkpoint(args.checkpoint, mult=args.mult, arch=arch)
    else:
        if getattr(args, "func", None) is cmd_run:
            default = SIM_LAYERS
        else:
            default = BUILD_LAYERS if arch == "unrolled" else BUILD_PRESET
        topo, source = _topology(args, default)
        d = Design(topology=topo, mult=args.mult, arch=arch, source=source)
    if getattr(args, "on_chip_training", False):
        try:
            d.require_on_chip_training()
        except ValueError as e:
            raise UserError(str(e)) from None
    return d


def _clock(text, default):
    """--clock: a number of MHz, "auto", or the default (None)."""
    if text is None:
        return default
    if text == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise UserError(f"--clock takes MHz or auto, not {text!r}") from None


def _write_json(path, report):
    from wuxing.golden.report import write_json
    write_json(path, report)


def cmd_build(args) -> int:
    from wuxing.golden.report import check_output_dir, check_output_file

    from .build import (SEED_MAX, BuildError, board_build, check_seed, check_time_limit,
                        format_report)
    out = Path(args.out or Path("build") / "bitstream" / args.board)
    check_output_dir(out, "--out")
    if args.json:
        check_output_file(args.json, "--json")
    design = _design(args)
    lanes = _lanes(args, design.arch)
    if args.max_builds < 1:
        raise UserError(f"--max-builds must be at least 1, not {args.max_builds}")
    try:
        check_seed(args.seed)
    except ValueError:
        raise UserError(f"--seed must be from 0 to {SEED_MAX}, not {args.seed}") from None
    try:
        check_time_limit(args.time_limit)
    except ValueError:
        raise UserError(f"--time-limit must be a positive number of minutes, not "
                        f"{args.time_limit:g}") from None
    b = board(args.board)
    clock = _clock(args.clock, b.default_clock(design.arch))
    print(f"building {args.board}: {design.topology.n_neurons} neurons, "
          f"{design.topology.n_links} links, arch {design.arch}"
          + ("" if lanes is None else f", lanes {lanes}") +
          (f", clock {clock:g} MHz" if clock != "auto" else
           f", clock auto (from {b.default_clock(design.arch):g} MHz)") +
          " (the first YoWASP run compiles the tools, 40-90 s)", flush=True)
    try:
        r = board_build(args.board, design, lanes, out, clock_mhz=clock,
                        max_builds=args.max_builds,
                        simulator=None if args.no_cosim else args.simulator,
                        log=lambda msg: print(f"  {msg}", flush=True), router=args.router,
                        seed=args.seed, time_limit_min=args.time_limit)
    except BuildError as e:
        if args.json and getattr(e, "report", None):
            _write_json(args.json, e.report)
        raise UserError(str(e)) from None
    print(format_report(r))
    if args.json:
        _write_json(args.json, r)
    return 0


def program_command(board_name: str, bitstream: str) -> list[str]:
    """The exact programmer command for a board and bitstream."""
    b = board(board_name)
    argv = [a.format(bitstream=bitstream) for a in b.program]
    if argv[0] == "openFPGALoader":
        argv[0] = os.environ.get("OPENFPGALOADER") or openfpgaloader_path() or argv[0]
    return argv


def cmd_program(args) -> int:
    import subprocess
    b = board(args.board)
    bit = args.bitstream or str(Path("build") / "bitstream" / args.board /
                                f"wuxing.{b.bitstream_ext}")
    argv = program_command(args.board, bit)
    if args.dry_run:
        print(shlex.join(argv))
        if b.note:
            print(f"note: {b.note}")
        return 0
    if not Path(bit).exists():
        raise UserError(f"no bitstream at {bit}: run `wuxing build --board {args.board}` first")
    if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
        raise UserError(f"{argv[0]} is not installed ({b.note or 'install it first'})")
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        text = (r.stderr + r.stdout).lower()
        if any(s in text for s in ("device not found", "unable to open ftdi", "no dfu",
                                   "cannot find", "no device", "no such device")):
            raise UserError(f"no {args.board} board found on USB (is it plugged in, and "
                            f"may this user open it?); command: {shlex.join(argv)}")
        last = (r.stderr or r.stdout).strip().splitlines()
        raise UserError(f"programming failed (exit code {r.returncode}: "
                        f"{last[-1] if last else 'no output'}): {shlex.join(argv)}")
    sys.stdout.write(r.stdout)
    print(f"programmed {args.board} with {bit}")
    return 0


def _samples(args, design):
    from wuxing.golden.data import load_dataset
    name = args.dataset or "digits4"
    ds = load_dataset(name)
    n_in = design.topology.layers[0]
    if ds.n_inputs != n_in:
        raise UserError(f"dataset {name} has {ds.n_inputs} inputs, the network {n_in}")
    return ds


MAX_SAMPLES = 100_000        # --n and --train: samples a session runs


def _check_link_args(args):
    """--baud, --timeout, --retries (wuxing run, wuxing train --on-chip)."""
    if args.baud < 1:
        raise UserError(f"--baud must be positive, got {args.baud}")
    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise UserError(f"--timeout must be in (0, 3600] seconds, got {args.timeout}")
    if not 0 <= args.retries <= 100:
        raise UserError(f"--retries must be in 0..100, got {args.retries}")


def _check_run_args(args):
    """Counts, rates and output paths of ``wuxing run``, checked before any work."""
    from wuxing.golden.report import check_output_file
    for name in ("n", "train"):
        v = getattr(args, name)
        if not 0 <= v <= MAX_SAMPLES:
            raise UserError(f"--{name} must be in 0..{MAX_SAMPLES}, got {v}")
    _check_link_args(args)
    if args.faults:
        if not args.sim:
            raise UserError("--faults injects faults into the simulated link: use it with --sim")
        if not 0 < args.faults <= 0.2:
            raise UserError(f"--faults is a probability per byte in (0, 0.2], got {args.faults}")
    for flag in ("save", "json"):
        if getattr(args, flag):
            check_output_file(getattr(args, flag), f"--{flag}")


def _link_report(r) -> str:
    link, f = r.get("link", {}), r.get("faults")
    parts = []
    if f:
        counts = "; ".join(f"to {d.split('_')[1]}: " + ", ".join(f"{k} {v}" for k, v in
                                                                 c.items())
                           for d, c in f["counts"].items())
        parts.append(f"faults injected: {f['total']} ({counts})")
    st = r.get("status") or {}
    parts.append(f"frames dropped: device {st.get('frames_dropped', '?')}, host "
                 f"{link.get('host_frames_dropped', '?')}")
    parts.append(f"requests {link.get('requests', '?')}, resent {link.get('resent', '?')}; TRAIN "
                 f"confirmed by the train counter {link.get('train_confirmed', '?')}, TRAIN "
                 f"resent {link.get('train_resent', '?')}")
    return "link: " + "; ".join(parts)


def cmd_run(args) -> int:
    from wuxing.golden.checkpoint import Checkpoint, save_checkpoint
    from wuxing.golden.network import init_coefficients

    from .flow import golden_session, host_session, run_job
    from .lanes import with_lanes
    if not args.checkpoint and not args.sim:
        raise UserError("a real board needs --checkpoint (the design it was built from)")
    _check_run_args(args)
    design = _design(args)
    lanes = _lanes(args, design.arch)
    if lanes is not None:   # the integers are the same for every P: auto simulates one lane
        design = with_lanes(design, 1 if lanes == "auto" else lanes)
    model = design.model()
    if design.c_init is not None:
        C = np.asarray(design.c_init, np.int64)
    else:
        C = model.coef_to_int(init_coefficients(design.topology, design.cfg, args.seed))
    n_out = design.topology.layers[-1]
    if args.checkpoint or args.dataset:
        ds = _samples(args, design)
        if n_out > ds.n_classes:
            raise UserError(f"the network has {n_out} outputs, the dataset "
                            f"{ds.n_classes} classes")
        tr = min(args.train, len(ds.y_train))
        x = np.concatenate([ds.x_train[:tr], ds.x_test[:args.n]])
        labels = np.concatenate([ds.y_train[:tr], ds.y_test[:args.n]])
    else:   # no data for a made-up network: random inputs, random labels (seeded)
        rng = np.random.default_rng(args.seed)
        tr = args.train
        x = rng.uniform(0, 1, (tr + args.n, design.topology.layers[0]))
        labels = rng.integers(0, n_out, tr + args.n)
    target = getattr(design.cfg, "target", 1.0)
    targets = target * np.eye(n_out)[labels % n_out]
    x_int = model.input_to_int(x)

    def progress(i, n):
        print(f"\r  sample {i}/{n}", end="", file=sys.stderr, flush=True)

    if args.sim:
        job = dict(C_int=C.tolist(), x_int=x_int.tolist(), targets=targets.tolist(), train=tr,
                   retries=args.retries, faults=args.faults, fault_seed=args.fault_seed,
                   timeout_kcycles=args.timeout * 1000 if args.timeout else None)
        print(f"simulating the board ({args.simulator}): {tr} training steps, "
              f"{args.n} inference samples"
              + (f", {args.faults:g} faults per byte on the link" if args.faults else "")
              + " ...", flush=True)
        if args.simulator == "amaranth":
            from .driver import BoardDriver
            from .faults import FaultyTransport
            from .host import HostBridge
            from .pysim import PySimTransport
            from .sim import sim_timeout_kcycles
            bridge = HostBridge.for_design(design)
            link = sim = PySimTransport(bridge)
            if args.faults:
                link = FaultyTransport(sim, args.faults, seed=args.fault_seed)
            drv = BoardDriver(link, timeout=job["timeout_kcycles"] or
                              sim_timeout_kcycles(bridge.network, design), retries=args.retries)
            r = run_job(drv, model, job)
            r["cycles"] = sim.cycles
            if args.faults:
                r["faults"] = dict(total=link.total, counts=link.counts, bytes=link.bytes)
        else:
            from .sim import run_sim_session
            r = run_sim_session(design, job, args.simulator)
    else:
        from .driver import BoardDriver, SerialTransport
        drv = BoardDriver(SerialTransport(args.port, args.baud), timeout=args.timeout or 2.0,
                          retries=args.retries)
        try:
            r = host_session(drv, model, C, x_int, targets, train=tr, progress=progress)
            r["link"] = dict(drv.stats, host_frames_dropped=drv.decoder.frames_dropped)
        finally:
            drv.t.close()
            print(file=sys.stderr)
    print(r["info"])
    g = golden_session(model, C, x_int, targets, train=tr)
    out, gout = np.array(r["outputs"]), np.array(g["outputs"])
    wrong_c = int(np.sum(np.array(r["c_after"]) != g["c_after"]))
    mism = int(np.sum(out != gout)) + wrong_c
    compared = out.size + len(g["c_after"])
    pred = out[tr:].argmax(axis=1) if len(out) > tr else np.array([])
    acc = float(np.mean(pred == labels[tr:])) if len(pred) else float("nan")
    print(f"inference on {len(pred)} samples: accuracy {acc:.3f}; trained on the chip: "
          f"{tr} samples")
    print(_link_report(r))
    print(f"device vs golden model: {compared} integers compared, {mism} mismatches "
          f"({wrong_c} wrong coefficients)")
    summary = dict(accuracy=acc, n_inference=len(pred), n_train=tr, compared=compared,
                   mismatches=mism, wrong_coefficients=wrong_c, status=r.get("status"),
                   link=r.get("link"), faults=r.get("faults"))
    if args.save:
        ck = Checkpoint(topology=design.topology, cfg=design.cfg,
                        C=model.coef_to_real(np.array(r["c_after"])), neuron=design.neuron,
                        fmt=design.fmt, table=design.table, mode="fixed",
                        C_int=np.array(r["c_after"]),
                        dataset=args.dataset, extra=dict(trained_on="sim" if args.sim
                                                         else f"board {args.port}"))
        save_checkpoint(args.save, ck)
        print(f"coefficients read back from the device saved to {args.save}")
    if args.json:
        from wuxing.golden.report import write_json
        write_json(args.json, summary)
    return 0 if mism == 0 else 1


def add_commands(sub):
    names = ", ".join(BOARDS)

    def design_args(p, build: bool):
        from wuxing.golden.topology import PRESETS
        src = p.add_mutually_exclusive_group()
        src.add_argument("--topology", metavar="PRESET", choices=sorted(PRESETS),
                         help=f"topology preset ({', '.join(sorted(PRESETS))})")
        src.add_argument("--topology-file", metavar="JSON", help="custom topology (JSON spec)")
        src.add_argument("--layers", help="layer sizes, e.g. 2,2 (default: " +
                         ("the tiny preset; 1,1 with --arch unrolled)" if build else "2,2)"))
        src.add_argument("--checkpoint", help="the network of this checkpoint")
        from wuxing.golden.train import RECIPES
        src.add_argument("--recipe", choices=sorted(RECIPES),
                         help="the network, run settings and learning format a recipe trains "
                              "on the chip (wuxing train --on-chip --recipe R)")
        p.add_argument("--fan-in", type=int, metavar="F",
                       help="links an interface sums (the paper's adder), e.g. 4")
        archs = _archs()
        default_arch = "engine" if "engine" in archs else "serial"
        p.add_argument("--arch", choices=archs,
                       help="network hardware: " + ", ".join(archs) + " (default: "
                            + (default_arch if build else "unrolled") + ")")
        p.add_argument("--lanes", metavar="P|auto",
                       help="lanes of the engine (serial: 1); " +
                            ("auto (the default): the largest P that fits the board and meets "
                             "the clock, confirmed by builds" if build else
                             "auto (the default): 1 (the integers are those of any P)"))
        p.add_argument("--mult", choices=("parallel", "shared"), default="shared",
                       help="unrolled neuron multipliers: one step per clock, or shared "
                            "(5 clocks)")
        p.add_argument("--on-chip-training", action="store_true",
                       help="require the learning commands (TRAIN_SAMPLE, EVAL_SAMPLE: "
                            "every --arch has them; the unrolled network with constant K)")
        p.add_argument("--no-training", action="store_true",
                       help="leave the engine's learning units out (no TRAIN_SAMPLE/"
                            "EVAL_SAMPLE, registers 13-19, pixels, batch accumulators; BSP "
                            "with the build's step): the smaller design (--arch engine or "
                            "serial)")

    p = sub.add_parser("build", help="build a board bitstream (YoWASP) and report resources, "
                                     "clock and speed",
                       description="Build the board bitstream of a network (Yosys, nextpnr), "
                                   "the design clocked from the board's PLL; report the "
                                   "resources, the requested and achieved clock, Fmax, the "
                                   "clocks a training sample takes (co-simulation) and the "
                                   "training samples per second.")
    p.add_argument("--board", required=True, choices=sorted(BOARDS), help=names)
    design_args(p, build=True)
    p.add_argument("--clock", metavar="MHZ|auto",
                   help="the design clock the PLL makes (the closest it can, not above); "
                        "auto: the default, and while no build meets it (at most 3 times) "
                        "again at 95 %% of the Fmax reached; "
                        "default: the board's measured default for the architecture: " +
                        "; ".join(f"{n} " + ", ".join(f"{a} {c:g}" for a, c in
                                                      BOARDS[n].default_clock_mhz.items())
                                  for n in sorted(BOARDS)))
    p.add_argument("--max-builds", type=int, default=4, metavar="N",
                   help="--lanes auto: at most N builds to confirm the estimate (default 4)")
    p.add_argument("--no-cosim", action="store_true",
                   help="do not measure the clocks per sample in co-simulation (the report "
                        "then gives the predicted clocks)")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="simulator of the clocks-per-sample measurement (default verilator)")
    p.add_argument("--router", choices=("auto",) + ROUTERS, default="auto",
                   help=f"nextpnr's router; auto (default): {AUTO_ROUTER}, nextpnr's own "
                        "default (it routed MODEL1 at P = 4, 8 and 16 on the ECP5-85F; "
                        "router2 did not converge at P = 8)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="nextpnr's placer seed (default: nextpnr's own): another placement of "
                        "the same netlist, for a design that did not route")
    p.add_argument("--time-limit", type=float, metavar="MIN",
                   help="stop the tools after MIN minutes a build (default: no limit); the "
                        "build then fails with how far the router got, and --lanes auto "
                        "tries fewer lanes (MODEL1 at P = 17 on the ECP5-85F fits but had not "
                        "routed after an hour)")
    p.add_argument("--out", help="build folder (default build/bitstream/BOARD)")
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("program", help="flash a built bitstream onto a board")
    p.add_argument("--board", required=True, choices=sorted(BOARDS), help=names)
    p.add_argument("--bitstream", help="default build/bitstream/BOARD/wuxing.bin|bit")
    p.add_argument("--dry-run", action="store_true", help="print the command only")
    p.set_defaults(func=cmd_program)

    p = sub.add_parser("run", help="host flow on a board (--port) or the simulated board (--sim)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--port", help="serial port of the board, e.g. /dev/ttyUSB1")
    g.add_argument("--sim", action="store_true", help="the board gateware in cocotb")
    design_args(p, build=False)
    p.set_defaults(mult="parallel")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--timeout", type=float,
                   help="seconds to wait for one answer (default 2; with --sim: kilo-cycles, "
                        "default from the design's longest command)")
    p.add_argument("--retries", type=int, default=2,
                   help="times a request is sent again when no valid answer came (default 2)")
    # Icarus 11 is not offered: the board top does not run on it yet (docs/BOARDS.md)
    p.add_argument("--simulator", choices=("verilator", "amaranth"), default="verilator",
                   help="verilator (the generated Verilog, cocotb) or amaranth (the gateware "
                        "in Amaranth's simulator, in process: small networks)")
    p.add_argument("--faults", type=float, default=0.0, metavar="RATE",
                   help="with --sim: drop, flip, duplicate or insert bytes with this "
                        "probability per byte, both directions (a link test)")
    p.add_argument("--fault-seed", type=int, default=0, help="seed of the injected faults")
    p.add_argument("--dataset", help="digits, digits4, mnist, ... (inputs must match)")
    p.add_argument("--n", type=int, default=10, help="inference samples (held-out set)")
    p.add_argument("--train", type=int, default=0, help="training steps on the chip first")
    p.add_argument("--seed", type=int, default=0, help="initial coefficients without a "
                                                        "checkpoint")
    p.add_argument("--save", metavar="CKPT", help="save the coefficients read back")
    p.add_argument("--json", metavar="PATH", help="write the summary as JSON")
    p.set_defaults(func=cmd_run)
    add_onchip_options(sub)


# ---------------------------------------------------------------------------------------
# wuxing train --on-chip: the golden `train` command, extended here (boards sits above golden)
ONCHIP_DEFAULT_RECIPE = "tiny-digits4"


def _check_onchip_args(args):
    """The options of ``wuxing train --on-chip``, checked before any work."""
    if not (args.port or args.sim):
        raise UserError("--on-chip trains on a board: give --port PORT (the board's serial "
                        "port) or --sim (the simulated board)")
    if args.port and args.sim:
        raise UserError("--port and --sim exclude each other")
    refused = [flag for flag, given in (("--resume", args.resume),
                                        ("--method", args.method is not None),
                                        ("--checkpoint", args.checkpoint is not None))
               if given]
    if refused:
        raise UserError(f"--on-chip does not take {', '.join(refused)} (it trains the recipe "
                        f"from its initial coefficients, BSP in the chip's fixed point)")
    for name in ("max_samples", "n_train", "n_test", "batch"):
        v = getattr(args, name, None)
        if v is not None and v < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {v}")
    if args.check_every is not None and args.check_every < 0:
        raise UserError(f"--check-every must be 0 (epoch ends only) or more, got "
                        f"{args.check_every}")
    _check_link_args(args)


def onchip_setup(args):
    """(recipe name, design, dataset, plan, out paths) of ``wuxing train --on-chip``."""
    from wuxing.golden.commands import check_data_dir, check_topology_options, \
        topology_from_args
    from wuxing.golden.config import parse_overrides
    from wuxing.golden.data import load_dataset
    from wuxing.golden.report import check_output_dir, check_output_file
    from wuxing.golden.train import MAX_EPOCHS, RECIPES

    from .onchip import OnChipPlan, design_for_recipe, recipe_schedule
    _check_onchip_args(args)
    name = args.recipe or ONCHIP_DEFAULT_RECIPE
    r = RECIPES[name]
    check_topology_options(args)
    epochs = r.epochs if args.epochs is None else args.epochs
    if not 0 <= epochs <= MAX_EPOCHS:
        raise UserError(f"--epochs must be in 0..{MAX_EPOCHS}, got {epochs}")
    cfg = r.cfg.replace(**parse_overrides(args.set)) if args.set else r.cfg
    design = design_for_recipe(name, arch=args.arch or "serial")
    design.cfg = cfg
    if args.model or args.topology_file:
        design.topology = topology_from_args(args)
    dataset = args.dataset or r.dataset
    check_data_dir(dataset, args.data_dir)
    out = Path(args.out or f"runs/{name}-onchip")
    check_output_dir(out, "--out")
    paths = dict(checkpoint=out / "checkpoint.npz",
                 history=out / "history.json",
                 plot=Path(args.plot) if args.plot else out / "curve.png",
                 json=Path(args.json) if args.json else out / "summary.json")
    for key, p in paths.items():
        check_output_file(p, f"--{key}")
    if len({p.resolve() for p in paths.values()}) != len(paths):
        raise UserError("--json and --plot must name different files (and not "
                        "OUT/checkpoint.npz or OUT/history.json)")
    data = load_dataset(dataset, args.data_dir).subset(args.n_train, args.n_test)
    t = design.topology
    if data.n_inputs != t.layers[0] or data.n_classes > t.layers[-1]:
        raise UserError(f"dataset {dataset} ({data.n_inputs} inputs, {data.n_classes} classes) "
                        f"does not fit the network ({t.layers[0]} inputs, {t.layers[-1]} "
                        f"outputs)")
    batch = r.batch if args.batch is None else args.batch
    check_every = args.check_every if args.check_every is not None else (1 if args.sim else 0)
    plan = OnChipPlan(epochs=epochs, batch=batch, seed=0 if args.seed is None else args.seed,
                      max_samples=args.max_samples, check_every=check_every,
                      schedule=recipe_schedule(r, getattr(args, "schedule", None)),
                      allow_overflow=args.allow_overflow)
    return name, design, data, plan, paths


def cmd_train_on_chip(args) -> int:
    name, design, data, plan, paths = onchip_setup(args)
    r = onchip_run(name, design, data, plan, paths, port=args.port, baud=args.baud,
                   timeout=args.timeout, retries=args.retries,
                   simulator=args.simulator if args.sim else None, quiet=args.quiet)
    return 0 if r["mismatches"] == 0 else 1


def onchip_run(name, design, data, plan, paths, *, port=None, baud=115200, timeout=None,
               retries=2, simulator=None, quiet=False) -> dict:
    """Train recipe ``name``'s ``design`` on the chip: on the board at ``port``, or (with
    ``simulator``) on the simulated board behind a pseudo-terminal; writes the checkpoint
    set after every epoch and the summary (``paths``: checkpoint, history, plot, json);
    prints the report; returns the summary."""
    from wuxing.golden.checkpoint import Checkpoint, checkpoint_bytes
    from wuxing.golden.network import init_coefficients
    from wuxing.golden.report import render_json, render_plot, write_json, write_set

    from .driver import BoardDriver, SerialTransport
    from .onchip import to_pixels, train_on_chip
    model = design.model()
    t, cfg = design.topology, design.cfg
    C0 = model.coef_to_int(init_coefficients(t, cfg, plan.seed))
    px_train, px_test = to_pixels(data.x_train), to_pixels(data.x_test)
    where = f"the simulated board ({simulator})" if simulator else f"the board on {port}"
    print(f"training {t.spec()['name']} ({t.n_neurons} neurons, {t.n_links} links) on the chip "
          f"({where}) on {data.describe()}")
    print(f"BSP on the chip: {plan.epochs} epochs, batch {plan.batch}, seed {plan.seed}"
          + (f", at most {plan.max_samples} training samples" if plan.max_samples else "")
          + "; golden check " + (f"every {plan.check_every} batch(es)" if plan.check_every
                                 else "at epoch ends"), flush=True)
    label = f"on the chip ({'sim' if simulator else port})"
    extra = dict(recipe=name, on_chip="sim" if simulator else f"port {port}",
                 batch=plan.batch, seed=plan.seed, epochs=plan.epochs,
                 max_samples=plan.max_samples, dataset=data.describe())

    def write_outputs(rec, history):
        """The set after an epoch: checkpoint of the coefficients read back, history, plot."""
        C_int = np.asarray(rec["C_int"], np.int64)
        hist = [{k: v for k, v in h.items() if k != "C_int"} for h in history]
        ck = Checkpoint(topology=t, cfg=cfg, C=model.coef_to_real(C_int), neuron=design.neuron,
                        fmt=design.fmt, table=design.table, mode="fixed", C_int=C_int,
                        dataset=data.name, history=hist, extra=extra)
        x = [h["epoch"] for h in hist]
        png = render_plot({label: (x, [100 * h["test_acc"] for h in hist]),
                           "golden model, same coefficients": (
                               x, [100 * h["golden_test_acc"] for h in hist])},
                          title=f"{t.spec()['name']} trained on the chip, {data.name}")
        write_set({paths["checkpoint"]: checkpoint_bytes(ck),
                   paths["history"]: render_json(dict(extra, history=hist)),
                   paths["plot"]: png})

    bar = None      # made at the first sample (after the port opened)

    def progress(done, total):
        nonlocal bar
        if quiet:
            return
        if bar is None:
            from tqdm import tqdm
            bar = tqdm(total=total, unit="sample", file=sys.stderr, leave=False,
                       dynamic_ncols=True)
        bar.update(done - bar.n)

    def log(line):
        if bar is None:
            print(line, flush=True)
        else:
            bar.write(line)

    def session(port, answer_s):
        drv = BoardDriver(SerialTransport(port, baud), timeout=answer_s, retries=retries)
        try:
            return train_on_chip(drv, model, C0, px_train, data.y_train, px_test, data.y_test,
                                 plan, progress=progress, log=log, on_epoch=write_outputs,
                                 recipe=name)
        finally:
            drv.t.close()

    try:
        if simulator:
            from .sim import serve_sim_board
            print(f"starting the simulated board ({simulator}; built once per design) ...",
                  flush=True)
            with serve_sim_board(design, simulator) as (pty, answer_s):
                r = session(pty, timeout or answer_s)
        else:
            r = session(port, timeout or 2.0)
    finally:
        if bar is not None:
            bar.close()
    h = r["history"]
    print(r["info"])
    print(f"held-out accuracy on the chip: {100 * h[0]['test_acc']:.1f} % before, "
          f"{100 * h[-1]['test_acc']:.1f} % after {r['samples_trained']} training samples "
          f"({len(h) - 1} epochs); the golden model on the same coefficients "
          f"{100 * h[-1]['golden_test_acc']:.1f} %")
    rate = lambda v: "-" if v is None else f"{v:.1f}"   # noqa: E731
    print(f"speed: {rate(r['train_samples_per_s'])} training samples/s, "
          f"{rate(r['eval_samples_per_s'])} held-out samples/s (wall time, link included)")
    print(_link_report(r))
    print(f"chip vs golden model: {r['compared']} integers compared ("
          + ", ".join(f"{k} {v}" for k, v in r["compared_by_kind"].items())
          + f"; {r['coefficient_checks']} coefficient read-backs), {r['mismatches']} mismatches")
    summary = {k: v for k, v in r.items() if k != "C_int"}
    summary.update(recipe=name, where=extra["on_chip"], batch=plan.batch, epochs=plan.epochs,
                   check_every=plan.check_every, checkpoint=str(paths["checkpoint"]))
    write_json(paths["json"], summary)
    print(f"wrote {paths['checkpoint']}, {paths['history']}, {paths['plot']} (after every "
          f"epoch) and {paths['json']}")
    return summary


def add_onchip_options(sub):
    """``wuxing train --on-chip ...``: options added to the golden layer's ``train`` command,
    whose function it wraps (the golden layer knows no boards)."""
    p = sub.choices["train"]
    golden_train = p.get_default("func")
    p.description += (" With --on-chip: train on a board's chip (--port) or on the simulated "
                      "board (--sim) instead, checked against the golden model.")
    g = p.add_argument_group(
        "learning on the chip (--on-chip)",
        "train on a board's network (--arch): one TRAIN_SAMPLE frame per sample (8-bit pixels, "
        "the error formed on the chip), the batch size and step written to its registers, the "
        "held-out accuracy measured on the chip after every epoch, the coefficients read back "
        "into OUT/checkpoint.npz (with history.json and curve.png, after every epoch) and "
        "compared with the golden model trained on the same samples")
    g.add_argument("--on-chip", action="store_true",
                   help="train on the chip (with --port or --sim); default folder "
                        "runs/RECIPE-onchip, --json: the summary (default OUT/summary.json)")
    g.add_argument("--port", help="the board's serial port, e.g. /dev/ttyUSB1")
    g.add_argument("--sim", action="store_true",
                   help="the simulated board (Verilator) behind a pseudo-terminal: the same "
                        "serial path as a board")
    g.add_argument("--max-samples", type=int, metavar="N",
                   help="train on at most N samples in all (whole batches)")
    g.add_argument("--check-every", type=int, metavar="K",
                   help="read the coefficients back and compare them with the golden model "
                        "every K batches (default: 1 with --sim, 0 = at epoch ends only with "
                        "--port)")
    g.add_argument("--allow-overflow", action="store_true",
                   help="go on when a training sample saturates a state (default: stop, "
                        "keeping the last epoch's checkpoint)")
    g.add_argument("--baud", type=int, default=115200, help="--port: the UART rate of the "
                                                            "bitstream (default 115200)")
    g.add_argument("--timeout", type=float,
                   help="seconds to wait for one answer (default 2 with --port; with --sim "
                        "from the design's longest command)")
    g.add_argument("--retries", type=int, default=2,
                   help="times a request is sent again when no valid answer came (default 2)")
    g.add_argument("--simulator", choices=("verilator",), default="verilator",
                   help="--sim: the simulator (verilator)")
    g.add_argument("--arch", choices=_archs(),
                   help="the network hardware the board holds: " + ", ".join(_archs()) +
                        " (default serial: the engine with one lane; unrolled: one core a "
                        "neuron, one synapse a link, for small networks)")

    def train(args):
        if args.on_chip:
            return cmd_train_on_chip(args)
        given = [f for f, v in (("--port", args.port), ("--sim", args.sim),
                                ("--arch", args.arch),
                                ("--max-samples", args.max_samples),
                                ("--check-every", args.check_every),
                                ("--allow-overflow", args.allow_overflow)) if v]
        if given:
            raise UserError(f"{', '.join(given)} apply to --on-chip training only")
        return golden_train(args)

    p.set_defaults(func=train)

