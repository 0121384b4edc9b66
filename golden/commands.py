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
    from .report import check_output_file, table, write_json
    if args.json:
        check_output_file(args.json, "--json")
    check_topology_options(args)
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


# data sources that read a folder (--data-dir)
_FOLDER_SOURCES = ("mnist", "fashion-mnist")
# the options --resume refuses: the run's settings are the checkpoint's
_RUN_OPTIONS = dict(recipe="--recipe", dataset="--dataset", data_dir="--data-dir",
                    model="--model", topology_file="--topology-file", fan_in="--fan-in",
                    topology_seed="--topology-seed", set="--set", batch="--batch",
                    seed="--seed", method="--method", n_train="--n-train",
                    n_test="--n-test", schedule="--schedule")


def check_counts(args, names):
    """ValueError unless each named option (if given) is a positive count."""
    for name in names:
        v = getattr(args, name, None)
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {v}")


def check_data_dir(dataset: str, data_dir):
    if data_dir is not None and dataset not in _FOLDER_SOURCES:
        raise ValueError(f"--data-dir is read by the datasets {', '.join(_FOLDER_SOURCES)}; "
                         f"the dataset here is {dataset} (pass --dataset mnist to use it)")


def check_topology_options(args):
    """--fan-in and --topology-seed change a preset or a topology file: refused without one
    (they would be ignored) and checked against their limits before any work."""
    from .topology import MAX_FAN
    chosen = getattr(args, "model", None) or getattr(args, "topology_file", None)
    for name, flag in (("fan_in", "--fan-in"), ("topology_seed", "--topology-seed")):
        if getattr(args, name, None) is not None and not chosen:
            raise ValueError(f"{flag} changes a topology: give --model or --topology-file "
                             f"with it (the recipe's topology is fixed)")
    if args.fan_in is not None and not 1 <= args.fan_in <= MAX_FAN:
        raise ValueError(f"--fan-in must be in 1..{MAX_FAN}, got {args.fan_in}")
    if args.topology_seed is not None and args.topology_seed < 0:
        raise ValueError(f"--topology-seed must be non-negative, got {args.topology_seed}")


def _train_outputs(args, recipe: str, fixed: bool):
    """(checkpoint, history, plot) paths, checked before any work and distinct."""
    from pathlib import Path

    from .report import check_output_dir, check_output_file
    out = Path(args.out or f"runs/{recipe}{'-fixed' if fixed else ''}")
    check_output_dir(out, "--out")
    paths = (Path(args.checkpoint) if args.checkpoint else out / "checkpoint.npz",
             Path(args.json) if args.json else out / "history.json",
             Path(args.plot) if args.plot else out / "curve.png")
    for p, flag in zip(paths, ("--checkpoint", "--json", "--plot")):
        check_output_file(p, flag)
    if len({p.resolve() for p in paths}) != 3:
        raise ValueError("--checkpoint, --json and --plot must name three different files")
    return paths


def cmd_train(args) -> int:
    import sys

    from .checkpoint import Checkpoint, checkpoint_bytes, load_checkpoint
    from .config import parse_overrides
    from .data import load_dataset
    from .fixedpoint import DEFAULT_FORMAT
    from .report import render_json, render_plot, write_set
    from .schedule import StepSchedule
    from .train import DEFAULT_RECIPE, MAX_EPOCHS, RECIPES, TrainState, recipe_schedule, train

    check_counts(args, ("batch", "n_train", "n_test"))
    if args.epochs is not None and not 0 <= args.epochs <= MAX_EPOCHS:
        raise ValueError(f"--epochs must be in 0..{MAX_EPOCHS}, got {args.epochs}")
    resume = None
    if args.resume:
        given = [flag for name, flag in _RUN_OPTIONS.items() if getattr(args, name, None)
                 is not None]
        if args.fixed:
            given.append("--fixed")
        if given:
            raise ValueError(f"--resume continues the checkpoint's run with its own settings: "
                             f"drop {', '.join(given)} (only --epochs, --out and the output "
                             f"paths may be given)")
    recipe_name = args.recipe or DEFAULT_RECIPE
    if args.resume:
        from pathlib import Path
        ck_path = Path(args.checkpoint) if args.checkpoint else Path(
            args.out or f"runs/{recipe_name}") / "checkpoint.npz"
        ck = load_checkpoint(ck_path)
        if ck.train_state is None:
            raise ValueError(f"{ck_path} holds no training state to resume (it was not written "
                             f"by wuxing train)")
        x = ck.extra
        recipe_name, method, seed = x.get("recipe"), x.get("method"), x.get("seed")
        batch, fixed, lr = x.get("batch"), ck.mode == "fixed", x.get("lr", 0.01)
        if recipe_name not in RECIPES or method not in ("bsp", "gradient") or \
                not isinstance(seed, int) or not isinstance(batch, int):
            raise ValueError(f"{ck_path}: its run settings (recipe, method, seed, batch) are "
                             f"incomplete; it cannot be resumed")
        # a checkpoint written before step schedules existed trained at a constant step
        schedule = StepSchedule.parse(x.get("schedule", "constant"))
        topo, cfg, dataset, data_dir = ck.topology, ck.cfg, ck.dataset, x.get("data_dir")
        fmt = ck.fmt
        n_train, n_test = x.get("n_train"), x.get("n_test")
        epochs = x.get("epochs") if args.epochs is None else args.epochs
        st = ck.train_state
        resume = TrainState(epoch=st["epoch"], C=ck.C_int if fixed else ck.C,
                            history=ck.history, best_C=st["best_C"], rng_state=st["rng_state"],
                            adam=st["adam"], schedule=st.get("schedule"),
                            anchor_C=st.get("anchor_C"))
        if resume.epoch >= epochs:
            print(f"{ck_path}: the run has done {resume.epoch} epochs of the {epochs} asked "
                  f"for; nothing to do (ask for more with --epochs)")
            return 0
    else:
        r = RECIPES[recipe_name]
        check_topology_options(args)
        cfg = r.cfg.replace(**parse_overrides(args.set)) if args.set else r.cfg
        dataset = args.dataset or r.dataset
        data_dir = args.data_dir
        check_data_dir(dataset, data_dir)
        topo = topology_from_args(args) if (args.model or args.topology_file) else \
            r.build_topology()
        if topo.unlinked_pairs():
            pair = topo.unlinked_pairs()[0]
            raise ValueError(f"layer pair {pair}->{pair + 1} of the topology has no links: its "
                             f"output cannot learn from its input")
        epochs = r.epochs if args.epochs is None else args.epochs
        batch = r.batch if args.batch is None else args.batch
        fixed = args.fixed or r.fixed
        fmt = r.fmt if fixed else DEFAULT_FORMAT     # the recipes' learning format
        method = args.method or r.method
        seed = 0 if args.seed is None else args.seed
        lr, n_train, n_test = r.lr, args.n_train, args.n_test
        if args.schedule is not None and method != "bsp":
            raise ValueError("--schedule changes the BSP step; the gradient method has none")
        schedule = recipe_schedule(r, method, args.schedule)
    ckpt_path, json_path, plot_path = _train_outputs(args, recipe_name, fixed)
    data = load_dataset(dataset, data_dir)
    print(f"training {topo.spec()['name']} ({topo.n_neurons} neurons, {topo.n_links} links) on "
          f"{data.describe()}")
    print(f"method {method}, {'fixed point' if fixed else 'float'}, {epochs} epochs, batch "
          f"{batch}, seed {seed}, step schedule {schedule}" +
          (f"; resuming after epoch {resume.epoch}" if resume else ""))
    if schedule.validate:
        print(f"the step schedule validates on the last {schedule.validate} training samples, "
              f"held back from training")
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

    extra = dict(recipe=recipe_name, method=method, seed=seed, epochs=epochs, batch=batch,
                 lr=lr, n_train=n_train, n_test=n_test, schedule=str(schedule),
                 data_dir=None if data_dir is None else str(data_dir))
    label = f"{method}{' fixed' if fixed else ''} (held out)"

    def write_outputs(state: TrainState):
        """The set after an epoch: checkpoint (with the state that resumes the run), history
        and plot, written to temporaries and renamed together."""
        hist = state.history
        C_real = state.C if not fixed else None
        if fixed:
            from .network import FixedModel
            C_real = FixedModel(topo, cfg, fmt=fmt).coef_to_real(state.C)
        ck = Checkpoint(topology=topo, cfg=cfg, C=C_real, fmt=fmt,
                        mode="fixed" if fixed else "float",
                        C_int=state.C if fixed else None, dataset=dataset, history=hist,
                        extra=extra, train_state=state.as_dict())
        best = max(hist, key=lambda h: h["test_acc"])
        doc = dict(recipe=recipe_name, dataset=dataset, method=method, fixed=fixed, seed=seed,
                   epochs=epochs, epochs_done=state.epoch, batch=batch,
                   schedule=str(schedule), topology=topo.spec(),
                   run=cfg.as_dict(), history=hist, best=best, checkpoint=str(ckpt_path))
        png = render_plot({label: ([h["epoch"] for h in hist],
                                   [100 * h["test_acc"] for h in hist])},
                          title=f"{topo.spec()['name']} on {dataset}")
        write_set({ckpt_path: checkpoint_bytes(ck), json_path: render_json(doc),
                   plot_path: png})

    try:
        res = train(topo, cfg, data, epochs=epochs, batch=batch, seed=seed, fixed=fixed,
                    fmt=fmt, method=method, lr=lr, n_train=n_train, n_test=n_test,
                    progress=progress, log=log, on_epoch=write_outputs, resume=resume,
                    schedule=schedule)
    finally:
        if bar is not None:
            bar.close()
    hist = res.history
    final, best = hist[-1], res.best
    print(f"held-out accuracy: {100 * hist[0]['test_acc']:.1f} % before, "
          f"{100 * final['test_acc']:.1f} % after {epochs} epochs "
          f"(best {100 * best['test_acc']:.1f} % at epoch {best['epoch']}), "
          f"{final['seconds']:.0f} s")
    print(f"wrote {ckpt_path}, {json_path}, {plot_path} (after every epoch)")
    return 0


def cmd_eval(args) -> int:
    import numpy as np

    from .checkpoint import load_checkpoint
    from .data import load_dataset
    from .network import FixedModel, FloatModel
    from .report import check_output_file, write_json
    from .train import evaluate

    check_counts(args, ("n_test",))
    if args.json:
        check_output_file(args.json, "--json")
    ck = load_checkpoint(args.checkpoint)
    dataset = args.dataset or ck.dataset
    if not dataset:
        raise ValueError("the checkpoint names no dataset: pass --dataset")
    data_dir = args.data_dir
    if data_dir is None and not args.dataset and isinstance(ck.extra.get("data_dir"), str):
        data_dir = ck.extra["data_dir"]       # the folder it was trained on
    check_data_dir(dataset, data_dir)
    data = load_dataset(dataset, data_dir)
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
    print(f"evaluating {len(y)} held-out samples, {ck.cfg.steps} steps a run ...", flush=True)
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
    p.add_argument("--recipe", choices=sorted(RECIPES),
                   help="measured settings to start from (default: demo); "
                        + "; ".join(f"{k}: {v.description}" for k, v in RECIPES.items()))
    p.add_argument("--dataset", choices=sorted(SOURCES), help="override the recipe's dataset")
    p.add_argument("--data-dir", help="folder with MNIST-format IDX files (mnist, fashion-mnist)")
    add_topology_args(p, default=None)
    add_run_args(p)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a run setting (RunConfig field), e.g. --set steps=64")
    p.add_argument("--out", help="output folder (default runs/RECIPE); the checkpoint, history "
                                 "and plot are written as a set after every epoch")
    p.add_argument("--checkpoint", help="checkpoint path (default OUT/checkpoint.npz)")
    p.add_argument("--json", help="per-epoch results (default OUT/history.json)")
    p.add_argument("--plot", help="learning curve PNG (default OUT/curve.png)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true",
                   help="continue the run whose checkpoint is at --checkpoint (default "
                        "OUT/checkpoint.npz) with its own settings, to --epochs in all; the "
                        "numbers equal an uninterrupted run's")
    p.set_defaults(func=cmd_train, seed=None)

    p = sub.add_parser("eval", help="evaluate a checkpoint on held-out data",
                       description="Evaluate a checkpoint (float or fixed point) on the held-out "
                                   "part of its dataset or another one.")
    p.add_argument("checkpoint")
    p.add_argument("--dataset", choices=sorted(SOURCES))
    p.add_argument("--data-dir")
    p.add_argument("--fixed", action="store_true",
                   help="evaluate a float checkpoint in the fixed-point model (quantised C)")
    p.add_argument("--n-test", type=int, help="use only the first N held-out samples")
    p.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    p.set_defaults(func=cmd_eval)


    p = sub.add_parser("topology", help="print links and link ratio of a topology",
                       description="Print the links and the link ratio per layer pair and "
                                   "overall (the paper's 'average LR').")
    add_topology_args(p, default="model1")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    p.set_defaults(func=cmd_topology)
