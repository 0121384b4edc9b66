"""``wuxing generate``: Verilog for a core, a synapse or a network, with a manifest."""
from __future__ import annotations

import time

__all__ = ["add_commands", "add_design_args", "design_from_args"]


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
    p.add_argument("--steps", type=int, help="Euler steps per run (default: the run settings')")
    p.add_argument("--arch", choices=("unrolled", "serial"), default="unrolled",
                   help="network: every neuron and link its own hardware (unrolled), or one "
                        "time-multiplexed datapath with the state in RAM (serial)")
    p.add_argument("--mult", choices=("parallel", "shared"), default="parallel",
                   help="multipliers: one step per clock, or one element per clock")
    p.add_argument("--k", dest="k_mode", choices=("const", "reg"), default="const",
                   help="K1/K2/K3 as constants or as writable registers")
    p.add_argument("--pipeline", action="store_true",
                   help="parallel cores with registered products: 2 clocks a step, higher Fmax")


def design_from_args(args, what=None):
    from wuxing.golden.config import RunConfig
    from wuxing.golden.network import FixedModel, init_coefficients
    from wuxing.golden.topology import Topology, preset
    from .generate import Design, design_from_checkpoint

    what = what or args.what
    if getattr(args, "checkpoint", None):
        d = design_from_checkpoint(args.checkpoint, what, args.mult, args.k_mode,
                                   args.pipeline, arch=args.arch)
    else:
        if getattr(args, "topology_file", None):
            topo = Topology.load(args.topology_file)
            source = f"topology file {args.topology_file}"
        else:
            name = getattr(args, "topology", None) or "tiny"
            topo = preset(name)
            source = f"topology preset {name}"
        cfg = RunConfig()
        d = Design(what=what, topology=topo, cfg=cfg, mult=args.mult, k_mode=args.k_mode,
                   pipeline=args.pipeline, source=source, arch=args.arch)
        d.c_init = [int(c) for c in FixedModel(topo, cfg).coef_to_int(
            init_coefficients(topo, cfg, seed=0))]
    if getattr(args, "steps", None) is not None:
        d.cfg = d.cfg.replace(steps=args.steps)
    return d


def cmd_generate(args) -> int:
    from wuxing.golden.report import check_output_dir

    from .generate import write_design
    check_output_dir(args.out, "--out")
    d = design_from_args(args)
    t0 = time.perf_counter()
    out = args.out
    man = write_design(d, out)
    arch = "serial (one time-multiplexed datapath)" if d.arch == "serial" else (
        f"mult={d.mult}{' (pipelined)' if d.pipeline else ''}, k={d.k_mode}")
    print(f"generate: {man['what']} ({man['top']}), {arch}, "
          f"{d.fmt.describe()}")
    if d.what == "network":
        print(f"  {d.source}: {man['n_neurons']} neurons, {man['n_links']} links, "
              f"{man['n_inputs']} inputs, {man['n_outputs']} outputs, {d.cfg.steps} steps")
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
