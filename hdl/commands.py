"""``wuxing generate``: Verilog for a core, a synapse or a network, with a manifest."""
from __future__ import annotations

import time

__all__ = ["add_commands", "add_design_args", "design_from_args", "lanes_arg", "describe_arch"]


def add_design_args(p, with_what: bool = True):
    """Options that choose a design (shared by ``generate`` and ``compare``)."""
    from wuxing.golden.topology import PRESETS
    if with_what:
        p.add_argument("--what", choices=("core", "synapse", "network"), default="network",
                       help="what to generate (default: network)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--topology", metavar="PRESET", choices=sorted(PRESETS),
                     help="topology preset (default: tiny)")
    src.add_argument("--topology-file", metavar="JSON", help="custom topology (JSON spec)")
    src.add_argument("--checkpoint", metavar="PATH",
                     help="a trained checkpoint: its topology, settings and coefficients")
    p.add_argument("--fan-in", type=lanes_arg, metavar="N",
                   help="with --topology: the preset with this fan-in (the adder; e.g. "
                        "--topology model1 --fan-in 4)")
    p.add_argument("--steps", type=int, help="Euler steps per run (default: the run settings')")
    p.add_argument("--arch", choices=("unrolled", "engine", "serial"), default="unrolled",
                   help="network: every neuron and link its own hardware (unrolled), the "
                        "network engine of P parallel lanes with the state in RAM (engine), "
                        "or the engine with one lane (serial)")
    p.add_argument("--format", dest="fmt_name", choices=("default", "learning"),
                   help="fixed-point format without --checkpoint: default (round half up), or "
                        "learning (golden LEARNING_FORMAT: the reverse run's increments "
                        "dithered; --arch engine/serial only). With --checkpoint: its own")
    p.add_argument("--lanes", type=lanes_arg, metavar="P",
                   help="--arch engine: parallel lanes, 1 .. the number of neurons "
                        "(default 1)")
    p.add_argument("--mult", choices=("parallel", "shared"), default="parallel",
                   help="multipliers: one step per clock, or one element per clock")
    p.add_argument("--k", dest="k_mode", choices=("const", "reg"), default="const",
                   help="K1/K2/K3 as constants or as writable registers")
    p.add_argument("--pipeline", action="store_true",
                   help="parallel cores with registered products: 2 clocks a step, higher Fmax")
    p.add_argument("--on-chip-training", action="store_true",
                   help="require the learning commands (TRAIN_SAMPLE, EVAL_SAMPLE: every "
                        "--arch has them): an error for --arch unrolled --k reg (its K "
                        "registers take the pixel region)")
    p.add_argument("--no-training", action="store_true",
                   help="leave the engine's learning units out (no TRAIN_SAMPLE/EVAL_SAMPLE, "
                        "registers 13-19, pixels, batch accumulators; BSP with the build's "
                        "step): the smaller design (--arch engine or serial)")


def lanes_arg(text: str) -> int:
    """``--lanes``: a positive integer."""
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return value


def _lanes(args) -> int:
    lanes = getattr(args, "lanes", None)
    if lanes is not None and args.arch != "engine":
        raise ValueError(f"--lanes needs --arch engine (the {args.arch} network has no lanes)")
    return 1 if lanes is None else lanes


def describe_arch(d) -> str:
    """One phrase for a design's architecture."""
    if d.arch == "engine":
        return f"engine, {d.lanes} lane{'s' if d.lanes != 1 else ''}"
    if d.arch == "serial":
        return "serial (the engine with one lane)"
    return f"mult={d.mult}{' (pipelined)' if d.pipeline else ''}, k={d.k_mode}"


def design_from_args(args, what=None):
    from wuxing.golden.config import RunConfig
    from wuxing.golden.fixedpoint import DEFAULT_FORMAT, LEARNING_FORMAT
    from wuxing.golden.network import FixedModel, init_coefficients
    from wuxing.golden.topology import Topology, preset
    from .generate import Design, design_from_checkpoint

    what = what or args.what
    fmt_name = getattr(args, "fmt_name", None)
    fan_in = getattr(args, "fan_in", None)
    if fan_in is not None and (getattr(args, "checkpoint", None)
                               or getattr(args, "topology_file", None)):
        raise ValueError("--fan-in applies to a --topology preset")
    if fmt_name and getattr(args, "checkpoint", None):
        raise ValueError("--format applies without --checkpoint (a checkpoint carries its "
                         "format)")
    if getattr(args, "checkpoint", None):
        d = design_from_checkpoint(args.checkpoint, what, args.mult, args.k_mode,
                                   args.pipeline, arch=args.arch, lanes=_lanes(args))
    else:
        if getattr(args, "topology_file", None):
            topo = Topology.load(args.topology_file)
            source = f"topology file {args.topology_file}"
        else:
            name = getattr(args, "topology", None) or "tiny"
            topo = preset(name, fan_in=fan_in)
            source = f"topology preset {name}" + (f", fan-in {fan_in}" if fan_in else "")
        cfg = RunConfig()
        fmt = LEARNING_FORMAT if fmt_name == "learning" else DEFAULT_FORMAT
        d = Design(what=what, topology=topo, cfg=cfg, mult=args.mult, k_mode=args.k_mode,
                   pipeline=args.pipeline, source=source, arch=args.arch,
                   lanes=_lanes(args), fmt=fmt)
        d.c_init = [int(c) for c in FixedModel(topo, cfg, fmt=fmt).coef_to_int(
            init_coefficients(topo, cfg, seed=0))]
    if getattr(args, "steps", None) is not None:
        d.cfg = d.cfg.replace(steps=args.steps)
    if getattr(args, "no_training", False):
        import dataclasses
        d = dataclasses.replace(d, training=False)
    if getattr(args, "on_chip_training", False):
        d.require_on_chip_training()
    return d


def cmd_generate(args) -> int:
    from wuxing.golden.report import check_output_dir

    from .generate import write_design
    check_output_dir(args.out, "--out")
    d = design_from_args(args)
    t0 = time.perf_counter()
    out = args.out
    man = write_design(d, out)
    print(f"generate: {man['what']} ({man['top']}), {describe_arch(d)}, "
          f"{d.fmt.describe()}")
    if d.what == "network":
        print(f"  {d.source}: {man['n_neurons']} neurons, {man['n_links']} links, "
              f"{man['n_inputs']} inputs, {man['n_outputs']} outputs, {d.cfg.steps} steps")
    if "cycles" in man:
        c = man["cycles"]
        print(f"  clocks: {c['step']:,} a step ({c['link_slots']} link slots, "
              f"{c['neuron_rows']} neuron rows), {c['run']:,} a forward run, "
              f"{c['reverse_run']:,} a reverse run, {c['bsp']:,} a BSP "
              f"update, {c['sample']:,} a training sample")
        if "train_sample" in c and d.on_chip_training:
            print(f"  on-chip learning: {c['train_sample']:,} clocks a TRAIN_SAMPLE, "
                  f"{c['eval_sample']:,} an EVAL_SAMPLE")
    print(f"  wrote {out}/{man['verilog']} ({man['lines']} lines) and {out}/manifest.json "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


def add_commands(sub):
    p = sub.add_parser("generate", help="write Verilog for a core, a synapse or a network",
                       description="Generate Verilog (Amaranth) for one NeuronCore, one Synapse "
                                   "or a whole network, and a manifest of the parameters.")
    add_design_args(p)
    p.add_argument("--out", default="build/verilog", help="output folder (default: build/verilog)")
    p.set_defaults(func=cmd_generate)
