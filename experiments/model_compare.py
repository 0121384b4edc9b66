"""Experiment 2 (paper Fig. 4): MODEL1 (layers 784-839-283-96-32-10, LR 0.51 %) against MODEL2
(784-1048-353-119-40-10, MODEL1's link counts, LR 0.38 %) under BSP, same data, same settings
(a golden.train recipe), same seed.

    python -m experiments.model_compare --quick     # 2,000 / 1,000 MNIST samples, 4 epochs
    python -m experiments.model_compare             # MNIST 8,000 / 2,000, 6 epochs
"""
from __future__ import annotations

import time

from wuxing.golden.topology import preset

from .common import guarded, log, out_dir, parser, plt, save_figure, write_result
from .wuxing import add_set_option, bsp_setup, history_dict, train_topology

NAME = "model_compare"
CLAIM = ("Fig. 4 / section 3: MODEL2 (more neurons, free interfaces, LR 0.38 %) learns better "
         "than MODEL1 (LR 0.51 %) with the same training.")
EPOCHS = dict(smoke=1, quick=4, full=6)


def run(args) -> dict:
    started = time.time()
    m, rec, data, n_train, n_test, epochs = bsp_setup(args, EPOCHS)
    runs, summary = [], {}
    for name in ("model1", "model2"):
        for seed in range(args.seeds):
            topo = preset(name, seed=seed)
            lr = topo.link_ratio()["link_ratio"]
            log(f"{name} seed {seed}: {topo.n_links} links, LR {lr:.3%}, recipe {args.recipe}, "
                f"{epochs} epochs")
            res = train_topology(topo, rec, data, epochs=epochs, n_train=n_train, n_test=n_test,
                                 seed=seed, log=lambda s: log("  " + s))
            runs.append(dict(model=name, seed=seed, layers=topo.layers, n_links=topo.n_links,
                             link_ratio=lr, **history_dict(res)))
    for name in ("model1", "model2"):
        rs = [r for r in runs if r["model"] == name]
        summary[name] = dict(
            link_ratio=rs[0]["link_ratio"],
            final_test_acc=[r["test_acc"][-1] for r in rs],
            best_test_acc=[r["best_test_acc"] for r in rs],
            start_test_acc=[r["test_acc"][0] for r in rs])
    d1 = [r["test_acc"][-1] for r in runs if r["model"] == "model2"]
    d0 = [r["test_acc"][-1] for r in runs if r["model"] == "model1"]
    summary["model2_minus_model1_final"] = [b - a for a, b in zip(d0, d1)]
    nt = n_train or len(data.y_train)
    ns = n_test or len(data.y_test)
    settings = dict(recipe=args.recipe, overrides=args.set, run=rec.cfg.as_dict(), batch=rec.batch, epochs=epochs,
                    seeds=args.seeds, n_train=nt, n_test=ns)
    path = write_result(args, NAME, claim=CLAIM, dataset=f"{data.name}: {nt} train / {ns} held out",
                        settings=settings, runs=runs, summary=summary, started=started)
    plot(runs, out_dir(args) / f"{NAME}{args.tag}.png", f"{data.name} {nt}/{ns}", m,
         " ".join([args.recipe] + args.set))
    log(f"wrote {path}: {summary}")
    return summary


def plot(runs, path, dataset, m, rec):
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(7, 4.5))
    for r in runs:
        c = "C0" if r["model"] == "model1" else "C3"
        ax.plot(r["epoch"], r["test_acc"], "o-", color=c, alpha=0.8,
                label=f"{r['model'].upper()} (LR {r['link_ratio']:.2%}) seed {r['seed']}")
        tr = [(e, a) for e, a in zip(r["epoch"], r["train_acc"]) if a is not None]
        if tr:
            ax.plot(*zip(*tr), ":", color=c, alpha=0.8)
    ax.axhline(0.1, color="gray", ls=":", lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (solid: held out, dotted: training batches)")
    ax.set_title(f"Experiment 2 ({m}): MODEL1 vs MODEL2 under BSP, {dataset}, recipe {rec}",
                 fontsize=9)
    ax.grid(alpha=.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--recipe", default="model1-mnist",
                   help="golden.train recipe whose run settings and batch both models use")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, default=1)
    add_set_option(p)
    args = p.parse_args(argv)
    guarded(run, args)


if __name__ == "__main__":
    main()
