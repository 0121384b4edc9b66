"""Experiment 3: the Wuxing network against an MLP at the same link ratio.

MODEL1 trained by BSP (a golden.train recipe) against, on the same samples and epochs:
  * the MLP of experiment 1 with a random 0.51 % mask (every layer pair at LR 0.51 %);
  * the MLP on MODEL1's own neuron-level connection graph (same connections, ordinary
    neurons, backpropagation): separates "few connections" from "Wuxing neurons + BSP";
  * MODEL1 trained with the exact gradient (golden.gradient, BPTT + Adam): what the Wuxing
    topology and dynamics can reach with the chain rule instead of BSP (fewer epochs: a BPTT
    step costs about 7 BSP steps);
  * the dense MLP (LR 100 %) as the ceiling.

    python -m experiments.wuxing_vs_mlp --quick     # 2,000 / 1,000 MNIST samples, 4 epochs
    python -m experiments.wuxing_vs_mlp             # MNIST 8,000 / 2,000, 6 epochs (3 for BPTT)
"""
from __future__ import annotations

import json
import time

import numpy as np

from wuxing.golden.topology import preset

from .common import guarded, log, out_dir, parser, plt, save_figure, write_result
from .link_ratio import LAYERS
from .mlp import mask_link_ratio, random_masks, topology_masks, train_mlp
from .model_compare import EPOCHS
from .wuxing import add_set_option, bsp_setup, history_dict, recipe, train_topology

NAME = "wuxing_vs_mlp"
CLAIM = ("Section 3: at LR 0.51 % the Wuxing network (MODEL1, BSP) still learns 'a substantial "
         "amount' where an MLP at the same LR fails.")


def reuse_model1(args, m, epochs, n_train, n_test):
    """MODEL1's BSP curve from experiment 2's result file, if it ran with the same settings."""
    path = out_dir(args) / f"model_compare{args.tag}.json"
    if args.no_reuse or not path.exists():
        return None
    rec = json.loads(path.read_text())
    s = rec["settings"]
    if (rec["quick"] != m or s["recipe"] != args.recipe or s["epochs"] != epochs
            or not rec["dataset"].startswith(args.dataset) or s["run"] != recipe(args.recipe, args.set).cfg.as_dict()):
        return None
    for r in rec["runs"]:
        if r["model"] == "model1" and r["seed"] == 0:
            log(f"MODEL1 BSP curve reused from {path.name} (same recipe, data and epochs)")
            return r
    return None


def run(args) -> dict:
    started = time.time()
    m, rec, data, n_train, n_test, epochs = bsp_setup(args, EPOCHS)
    sub = data.subset(n_train, n_test)
    topo = preset("model1", seed=0)
    runs = []
    r = reuse_model1(args, m, epochs, n_train, n_test)
    if r is None:
        log(f"MODEL1 BSP, recipe {args.recipe}, {epochs} epochs")
        res = train_topology(topo, rec, data, epochs=epochs, n_train=n_train, n_test=n_test,
                             log=lambda s: log("  " + s))
        r = dict(history_dict(res))
    runs.append(dict(label="MODEL1, BSP", kind="wuxing", link_ratio=topo.link_ratio()["link_ratio"],
                     **{k: r[k] for k in ("epoch", "train_acc", "test_acc")}))
    # BPTT costs ~7x a BSP step on MODEL1: fewer epochs keep the run within budget
    grad_epochs = args.grad_epochs or min(epochs, dict(smoke=1, quick=1, full=3)[m])
    if not args.no_gradient:
        log(f"MODEL1, exact gradient (Adam lr {args.grad_lr}), {grad_epochs} epochs")
        res = train_topology(topo, rec, data, epochs=grad_epochs, n_train=n_train, n_test=n_test,
                             method="gradient", lr=args.grad_lr, log=lambda s: log("  " + s))
        h = history_dict(res)
        runs.append(dict(label="MODEL1, exact gradient", kind="wuxing",
                         link_ratio=topo.link_ratio()["link_ratio"],
                         **{k: h[k] for k in ("epoch", "train_acc", "test_acc")}))
    mlps = [("MLP, random mask LR 0.51 %", random_masks(LAYERS, 0.0051, np.random.default_rng(0))),
            ("MLP on MODEL1's graph", topology_masks(topo)),
            ("MLP, dense", random_masks(LAYERS, 1.0, np.random.default_rng(0)))]
    for label, masks in mlps:
        log(f"{label}, {epochs} epochs")
        h = train_mlp(masks, sub, epochs, seed=0)
        log(f"  held-out {h['test_acc'][-1]:.3f}")
        runs.append(dict(label=label, kind="mlp", link_ratio=mask_link_ratio(masks), **h))
    summary = {r["label"]: dict(link_ratio=r["link_ratio"], final_test_acc=r["test_acc"][-1],
                                best_test_acc=max(r["test_acc"])) for r in runs}
    nt, ns = len(sub.y_train), len(sub.y_test)
    settings = dict(recipe=args.recipe, overrides=args.set, run=rec.cfg.as_dict(), batch=rec.batch, epochs=epochs,
                    n_train=nt, n_test=ns, grad_lr=args.grad_lr, grad_epochs=grad_epochs,
                    mlp="see experiments/mlp.py (ReLU, softmax CE, Adam 1e-3, batch 64)")
    path = write_result(args, NAME, claim=CLAIM, dataset=f"{data.name}: {nt} train / {ns} held out",
                        settings=settings, runs=runs, summary=summary, started=started)
    plot(runs, out_dir(args) / f"{NAME}{args.tag}.png", f"{data.name} {nt}/{ns}", m)
    log(f"wrote {path}")
    for k, v in summary.items():
        log(f"{k:32s} LR {v['link_ratio']:.3%} final {v['final_test_acc']:.3f} best {v['best_test_acc']:.3f}")
    return summary


def plot(runs, path, dataset, m):
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(9.5, 4.5))
    for i, r in enumerate(runs):
        ax.plot(r["epoch"], r["test_acc"], "o-" if r["kind"] == "wuxing" else "s--",
                color=f"C{i}", label=f"{r['label']} (LR {r['link_ratio']:.2%})")
    ax.axhline(0.1, color="gray", ls=":", lw=1, label="chance")
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"Experiment 3 ({m}): Wuxing MODEL1 against MLPs, {dataset}", fontsize=9)
    ax.grid(alpha=.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # outside: the curves fill the box
    save_figure(fig, path)


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--recipe", default="model1-mnist")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--grad-lr", type=float, default=0.01,
                   help="Adam learning rate of the exact-gradient run")
    p.add_argument("--grad-epochs", type=int, default=None,
                   help="epochs of the exact-gradient run (default 1 quick, 3 full)")
    p.add_argument("--no-gradient", action="store_true", help="skip the exact-gradient run")
    p.add_argument("--no-reuse", action="store_true",
                   help="train MODEL1 by BSP even if experiment 2 has the same run")
    add_set_option(p)
    args = p.parse_args(argv)
    guarded(run, args)


if __name__ == "__main__":
    main()
