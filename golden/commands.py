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


def cmd_train(args) -> int:
    import sys
    from pathlib import Path

    from .checkpoint import Checkpoint, save_checkpoint
    from .config import parse_overrides
    from .data import load_dataset
    from .report import plot_curves, write_json
    from .train import RECIPES, train

    r = RECIPES[args.recipe]
    cfg = r.cfg.replace(**parse_overrides(args.set)) if args.set else r.cfg
    topo = topology_from_args(args) if (args.model or args.topology_file) else r.build_topology()
    dataset = args.dataset or r.dataset
    data = load_dataset(dataset, args.data_dir)
    out = Path(args.out or f"runs/{args.recipe}{'-fixed' if args.fixed else ''}")
    ckpt_path = Path(args.checkpoint) if args.checkpoint else out / "checkpoint.npz"
    json_path = Path(args.json) if args.json else out / "history.json"
    plot_path = Path(args.plot) if args.plot else out / "curve.png"
    epochs = r.epochs if args.epochs is None else args.epochs
    batch = r.batch if args.batch is None else args.batch
    fixed = args.fixed or r.fixed
    method = args.method or r.method
    print(f"training {topo.spec()['name']} ({topo.n_neurons} neurons, {topo.n_links} links) on "
          f"{data.describe()}")
    print(f"method {method}, {'fixed point' if fixed else 'float'}, {epochs} epochs, batch "
          f"{batch}, seed {args.seed}")
    print("settings: " + ", ".join(f"{k}={v}" for k, v in cfg.as_dict().items()))
    bar = None
    if not args.quiet:
        from tqdm import tqdm
        bar = tqdm(total=1, unit="batch", file=sys.stderr, leave=False, dynamic_ncols=True)

    def progress(done, total):
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    def log(line):
        (bar.write if bar is not None else print)(line)

    try:
        res = train(topo, cfg, data, epochs=epochs, batch=batch, seed=args.seed, fixed=fixed,
                    method=method, lr=r.lr, n_train=args.n_train, n_test=args.n_test,
                    progress=progress, log=log)
    finally:
        if bar is not None:
            bar.close()
    hist = res.history
    ckpt = Checkpoint(topology=topo, cfg=cfg, C=res.C_real, mode="fixed" if fixed else "float",
                      C_int=res.C if fixed else None, dataset=dataset, history=hist,
                      extra=dict(recipe=args.recipe, method=method, seed=args.seed,
                                 epochs=epochs, batch=batch))
    save_checkpoint(ckpt_path, ckpt)
    write_json(json_path, dict(recipe=args.recipe, dataset=dataset, method=method,
                               fixed=fixed, seed=args.seed, epochs=epochs, batch=batch,
                               topology=topo.spec(), run=cfg.as_dict(), history=hist,
                               best=res.best, checkpoint=str(ckpt_path)))
    plot_curves(plot_path, {f"{method}{' fixed' if fixed else ''} (held out)":
                            ([h["epoch"] for h in hist], [100 * h["test_acc"] for h in hist])},
                title=f"{topo.spec()['name']} on {dataset}")
    final, best = hist[-1], res.best
    print(f"held-out accuracy: {100 * hist[0]['test_acc']:.1f} % before, "
          f"{100 * final['test_acc']:.1f} % after {epochs} epochs "
          f"(best {100 * best['test_acc']:.1f} % at epoch {best['epoch']}), "
          f"{final['seconds']:.0f} s")
    print(f"wrote {ckpt_path}, {json_path}, {plot_path}")
    return 0


def cmd_eval(args) -> int:
    import numpy as np

    from .checkpoint import load_checkpoint
    from .data import load_dataset
    from .network import FixedModel, FloatModel
    from .report import write_json
    from .train import evaluate

    ck = load_checkpoint(args.checkpoint)
    dataset = args.dataset or ck.dataset
    if not dataset:
        raise ValueError("the checkpoint names no dataset: pass --dataset")
    data = load_dataset(dataset, args.data_dir)
    if data.n_inputs != ck.topology.layers[0]:
        raise ValueError(f"dataset {dataset} has {data.n_inputs} inputs, the checkpoint's "
                         f"network takes {ck.topology.layers[0]}")
    fixed = args.fixed or ck.mode == "fixed"
    if fixed:
        model = FixedModel(ck.topology, ck.cfg, ck.neuron, ck.fmt, ck.table)
        C = ck.C_int if ck.C_int is not None else model.coef_to_int(ck.C)
    else:
        model = FloatModel(ck.topology, ck.cfg, ck.neuron, dtype=np.float32)  # as trained
        C = ck.C
    x, y = data.x_test[:args.n_test], data.y_test[:args.n_test]
    acc, loss, ov = evaluate(model, C, x, y, return_overflow=True)
    print(f"{args.checkpoint}: {ck.topology.spec()['name']}, {'fixed point' if fixed else 'float'}"
          f", {dataset} held out ({len(y)} samples): accuracy {100 * acc:.2f} %, "
          f"loss {loss:.4f}, saturated runs {100 * ov:.1f} %")
    if args.json:
        write_json(args.json, dict(checkpoint=str(args.checkpoint), dataset=dataset,
                                   fixed=fixed, samples=len(y), accuracy=acc, loss=loss,
                                   overflow=ov))
    return 0


def add_commands(sub):
    from .data import SOURCES
    from .train import RECIPES, add_run_args

    p = sub.add_parser("train", help="train a network with BSP (golden model)",
                       description="Train a Wuxing network with backward signal propagation "
                                   "(or the exact-gradient baseline) in the golden model. "
                                   "Writes a checkpoint, the per-epoch results as JSON and a "
                                   "PNG learning curve.")
    p.add_argument("--recipe", default="tiny-digits4", choices=sorted(RECIPES),
                   help="measured settings to start from (default: tiny-digits4); "
                        + "; ".join(f"{k}: {v.description}" for k, v in RECIPES.items()))
    p.add_argument("--dataset", choices=sorted(SOURCES), help="override the recipe's dataset")
    p.add_argument("--data-dir", help="folder with MNIST-format IDX files (mnist, fashion-mnist)")
    add_topology_args(p, default=None)
    add_run_args(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a run setting (RunConfig field), e.g. --set steps=64")
    p.add_argument("--out", help="output folder (default runs/RECIPE)")
    p.add_argument("--checkpoint", help="checkpoint path (default OUT/checkpoint.npz)")
    p.add_argument("--json", help="per-epoch results (default OUT/history.json)")
    p.add_argument("--plot", help="learning curve PNG (default OUT/curve.png)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint on held-out data",
                       description="Evaluate a checkpoint (float or fixed point) on the held-out "
                                   "part of its dataset or another one.")
    p.add_argument("checkpoint")
    p.add_argument("--dataset", choices=sorted(SOURCES))
    p.add_argument("--data-dir")
    p.add_argument("--fixed", action="store_true",
                   help="evaluate a float checkpoint in the fixed-point model (quantised C)")
    p.add_argument("--n-test", type=int)
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=cmd_eval)


    p = sub.add_parser("topology", help="print links and link ratio of a topology",
                       description="Print the links and the link ratio per layer pair and "
                                   "overall (the paper's 'average LR').")
    add_topology_args(p, default="model1")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    p.set_defaults(func=cmd_topology)
