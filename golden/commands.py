"""``wuxing topology``, ``wuxing train``, ``wuxing eval`` and ``wuxing demo``."""
from __future__ import annotations

import argparse

from .topology import PRESETS, Topology, preset

__all__ = ["add_commands", "topology_from_args", "add_topology_args"]


def add_topology_args(p: argparse.ArgumentParser, default: str | None = "tiny"):
    g = p.add_argument_group("topology")
    g.add_argument("--model", "--topology", dest="model", default=default,
                   choices=sorted(PRESETS), help=f"topology preset (default: {default})")
    g.add_argument("--topology-file", metavar="JSON",
                   help="custom topology: a JSON object with layers, and optionally "
                        "link_counts, in_elem, out_elem, fan_in, fan_out, seed")
    g.add_argument("--fan-in", type=int, help="links an incoming interface may sum (the adder)")
    g.add_argument("--topology-seed", type=int, help="seed of the interface pairing")


def topology_from_args(args) -> Topology:
    if getattr(args, "topology_file", None):
        t = Topology.load(args.topology_file)
        if args.fan_in is not None or args.topology_seed is not None:
            spec = t.spec()
            if args.fan_in is not None:
                spec.update(fan_in=args.fan_in, fan_out=args.fan_in)
            if args.topology_seed is not None:
                spec.update(seed=args.topology_seed)
            t = Topology.from_spec(spec)
        return t
    return preset(args.model, fan_in=args.fan_in,
                  fan_out=args.fan_in, seed=args.topology_seed)


def cmd_topology(args) -> int:
    from .report import table, write_json
    t = topology_from_args(args)
    lr = t.link_ratio()
    print(f"topology {t.spec()['name']}: layers {list(t.layers)}, {t.n_neurons} neurons, "
          f"input element {t.in_elem}, output element {t.out_elem}, fan-in {t.fan_in}, "
          f"seed {t.seed}")
    rows = [(p["pair"], f"{p['sizes'][0]} x {p['sizes'][1]}", p["links"], p["possible"],
             f"{100 * p['link_ratio']:.3f} %") for p in lr["pairs"]]
    rows.append(("all", "", lr["links"], lr["possible"], f"{100 * lr['link_ratio']:.3f} %"))
    print(table(rows, ["pair", "neurons", "links", "possible", "link ratio"]))
    print(f"\n{lr['links']} links, link ratio {100 * lr['link_ratio']:.3f} %, "
          f"digest {t.digest()[:16]}")
    if args.json:
        write_json(args.json, dict(spec=t.spec(), digest=t.digest(), **lr))
        print(f"wrote {args.json}")
    return 0


def add_commands(sub):
    p = sub.add_parser("topology", help="print links and link ratio of a topology",
                       description="Print the links and the link ratio per layer pair and "
                                   "overall (the paper's 'average LR').")
    add_topology_args(p, default="model1")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    p.set_defaults(func=cmd_topology)
