"""Experiment 1 (paper Fig. 3): accuracy of an MLP with MODEL1's layer sizes against the
link ratio LR (random fraction of connections kept in every layer pair), plus the MLP on
MODEL1's own neuron-level connection graph (LR 0.51 %, every neuron reachable).

    python -m experiments.link_ratio            # full: MNIST 8,000/2,000, 20 epochs, 3 seeds
    python -m experiments.link_ratio --quick    # 2,000/1,000 samples, 5 epochs, 1 seed
    python -m experiments.link_ratio --dataset fashion-mnist --n-train 20000 --epochs 3 --seeds 1 --tag _fashion
"""
from __future__ import annotations

import time

import numpy as np

from wuxing.golden.data import load_dataset
from wuxing.golden.topology import preset

from .common import guarded, log, mode, out_dir, parser, plt, save_figure, write_result
from .mlp import mask_link_ratio, random_masks, topology_masks, train_mlp

NAME = "link_ratio"
LAYERS = (784, 839, 283, 96, 32, 10)
RATIOS = (1.0, 0.30, 0.10, 0.05, 0.03, 0.01, 0.0051)
CLAIM = ("Fig. 3: learning degrades sharply below LR 10 % and is almost impossible below 3 %.")


def run(args) -> dict:
    started = time.time()
    data = load_dataset(args.dataset)
    m = mode(args)
    if m == "smoke":
        data, epochs, seeds, ratios = data.subset(300, 200), 1, 1, (1.0, 0.0051)
    elif m == "quick":
        data, epochs, seeds, ratios = data.subset(2000, 1000), 5, 1, RATIOS
    else:
        epochs, seeds, ratios = 20, 3, RATIOS
    epochs = args.epochs or epochs
    seeds = args.seeds or seeds
    if args.n_train or args.n_test:
        data = data.subset(args.n_train, args.n_test)
    log(f"{NAME} ({m}): {data.describe()}, {epochs} epochs, {seeds} seed(s)")
    configs = [(f"LR {r:g}", "random", r) for r in ratios] + [("MODEL1 graph", "model1", None)]
    runs = []
    for label, kind, r in configs:
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            masks = (random_masks(LAYERS, r, rng) if kind == "random"
                     else topology_masks(preset("model1", seed=seed)))
            lr = mask_link_ratio(masks)
            reach = int((masks[-1].sum(0) > 0).sum())
            log(f"{label} seed {seed}: LR {lr:.4%}, {int(sum(mk.sum() for mk in masks))} "
                f"connections, outputs with an input: {reach}/10")
            hist = train_mlp(masks, data, epochs, seed=seed, log=log if m == "full" else None)
            log(f"  final train {hist['train_acc'][-1]:.3f} test {hist['test_acc'][-1]:.3f}")
            runs.append(dict(label=label, kind=kind, target_lr=r, link_ratio=lr, seed=seed,
                             connections=[int(mk.sum()) for mk in masks],
                             outputs_reachable=reach, **hist))
    summary = {}
    for label, _, _ in configs:
        rs = [r for r in runs if r["label"] == label]
        summary[label] = dict(
            link_ratio=float(np.mean([r["link_ratio"] for r in rs])),
            final_test_acc_mean=float(np.mean([r["test_acc"][-1] for r in rs])),
            final_test_acc_std=float(np.std([r["test_acc"][-1] for r in rs])),
            final_train_acc_mean=float(np.mean([r["train_acc"][-1] for r in rs])),
            best_test_acc_mean=float(np.mean([max(r["test_acc"]) for r in rs])))
    settings = dict(layers=LAYERS, epochs=epochs, seeds=seeds, batch=64, optimiser="Adam 1e-3",
                    activation="ReLU, softmax cross-entropy",
                    init="N(0, 2/kept fan-in)", n_train=len(data.y_train),
                    n_test=len(data.y_test))
    path = write_result(args, NAME, claim=CLAIM, dataset=data.describe(), settings=settings,
                        runs=runs, summary=summary, started=started)
    plot(runs, summary, out_dir(args) / f"{NAME}{args.tag}.png", data.describe(), m)
    log(f"wrote {path}")
    for k, v in summary.items():
        log(f"{k:14s} LR {v['link_ratio']:.4%}  test {v['final_test_acc_mean']:.3f} "
            f"+- {v['final_test_acc_std']:.3f}  train {v['final_train_acc_mean']:.3f}")
    return summary


def plot(runs, summary, path, dataset, m):
    pyplot = plt()
    fig, (a1, a2) = pyplot.subplots(1, 2, figsize=(12, 4.5))
    labels = list(summary)
    cmap = pyplot.get_cmap("viridis")
    for i, label in enumerate(labels):
        rs = [r for r in runs if r["label"] == label]
        acc = np.mean([r["train_acc"] for r in rs], axis=0)
        a1.plot(rs[0]["epoch"], acc, color=cmap(i / max(1, len(labels) - 1)),
                ls="--" if rs[0]["kind"] == "model1" else "-",
                label=f"{label} ({summary[label]['link_ratio']:.2%})")
    a1.set_xlabel("epoch")
    a1.set_ylabel("training accuracy")
    a1.set_title("MLP, MODEL1 layer sizes: training accuracy")
    a1.legend(fontsize=8)
    a1.grid(alpha=.3)
    rnd = [lb for lb in labels if not lb.startswith("MODEL1")]
    xs = [summary[lb]["link_ratio"] for lb in rnd]
    ys = [summary[lb]["final_test_acc_mean"] for lb in rnd]
    es = [summary[lb]["final_test_acc_std"] for lb in rnd]
    a2.errorbar(xs, ys, yerr=es, marker="o", label="random mask per layer pair")
    if "MODEL1 graph" in summary:
        s = summary["MODEL1 graph"]
        a2.errorbar([s["link_ratio"]], [s["final_test_acc_mean"]], yerr=[s["final_test_acc_std"]],
                    marker="s", color="C3", ls="", label="MODEL1's connection graph")
    a2.axhline(0.1, color="gray", ls=":", label="chance")
    a2.set_xscale("log")
    a2.set_xlabel("link ratio LR")
    a2.set_ylabel("held-out accuracy after training")
    a2.set_title("accuracy against link ratio")
    a2.legend(fontsize=8)
    a2.grid(alpha=.3, which="both")
    save_figure(fig, path, f"Experiment 1 ({m}): {dataset}")


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--dataset", default="mnist", help="mnist or fashion-mnist")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--n-train", type=int, default=None, help="use the first N training samples")
    p.add_argument("--n-test", type=int, default=None, help="use the first N held-out samples")
    args = p.parse_args(argv)
    guarded(run, args)


if __name__ == "__main__":
    main()
