"""Experiment 4: the adder (paper section 3, proposed only). An interface takes the sum of
``fan_in`` incoming links (and an outgoing interface feeds ``fan_out = fan_in`` links), on
MODEL1's layer sizes; each topology is trained by BSP with the same recipe, and the MLP is
trained on the very same neuron-level connection graph, so the accuracy-against-LR curves of
the two training methods sit side by side.

Link ratio is reported two ways: interface links / possible neuron pairs (the paper's LR, can
exceed 100 % in the last pair at large fan-in) and distinct connected neuron pairs / possible
(comparable with the MLP's LR).

    python -m experiments.adder --quick     # fan-in 1, 2, 4, 8; 2,000 / 1,000 MNIST, 3 epochs
    python -m experiments.adder             # fan-in 1, 2, 4, 8; 8,000 / 2,000, 3 epochs

``--scale-with-fan-in`` divides C0, the C range and the BSP step by the fan-in (the recipe's
settings diverge at fan-in 4 and more).
"""
from __future__ import annotations

import json
import time



from .common import guarded, log, out_dir, parser, plt, save_figure, write_result
from .mlp import mask_link_ratio, topology_masks, train_mlp
from .wuxing import add_set_option, adder_topology, bsp_setup, history_dict, train_topology

NAME = "adder"
CLAIM = ("Section 3 (proposed, not built in the paper): an adder in front of each synapse "
         "raises LR and with it the learning ability.")
FAN_INS = dict(smoke=(1, 2), quick=(1, 2, 4, 8), full=(1, 2, 4, 8))
EPOCHS = dict(smoke=1, quick=3, full=3)


def run(args) -> dict:
    started = time.time()
    m, rec, data, n_train, n_test, epochs = bsp_setup(args, EPOCHS)
    sub = data.subset(n_train, n_test)
    fan_ins = tuple(args.fan_in) if args.fan_in else FAN_INS[m]
    cfg = rec.cfg
    runs = []
    for f in fan_ins:
        topo = adder_topology(f, seed=0)
        lr_if = topo.link_ratio()["link_ratio"]
        masks = topology_masks(topo)
        lr_n = mask_link_ratio(masks)
        c = cfg
        if args.scale_c_init:  # keep the summed input of an interface the same size
            c = cfg.replace(c_init_lo=cfg.c_init_lo / f, c_init_hi=cfg.c_init_hi / f)
        if args.scale_with_fan_in:  # ... and its changes: C0, C range and step all / f
            c = scale_with_fan_in(cfg, f, args.scale_exponent)
        log(f"fan-in {f}: {topo.n_links} links, LR {lr_if:.3%} (neuron pairs {lr_n:.3%})")
        res = train_topology(topo, rec, data, epochs=epochs, n_train=n_train, n_test=n_test,
                             cfg=c, log=lambda s: log("  " + s))
        h = history_dict(res)
        log(f"  MLP on the same graph, {epochs} epochs")
        hm = train_mlp(masks, sub, epochs, seed=0)
        log(f"  MLP held-out {hm['test_acc'][-1]:.3f}")
        runs.append(dict(fan_in=f, n_links=topo.n_links, link_ratio=lr_if,
                         neuron_link_ratio=lr_n, bsp=h, mlp=hm,
                         c_init=(c.c_init_lo, c.c_init_hi), c_range=(c.c_min, c.c_max),
                         step=c.step))
    summary = {f"fan-in {r['fan_in']}": dict(
        link_ratio=r["link_ratio"], neuron_link_ratio=r["neuron_link_ratio"],
        bsp_final=r["bsp"]["test_acc"][-1], bsp_best=r["bsp"]["best_test_acc"],
        mlp_final=r["mlp"]["test_acc"][-1]) for r in runs}
    nt, ns = len(sub.y_train), len(sub.y_test)
    settings = dict(recipe=args.recipe, overrides=args.set, run=cfg.as_dict(), batch=rec.batch, epochs=epochs,
                    fan_ins=fan_ins, scale_c_init=args.scale_c_init,
                    scale_with_fan_in=args.scale_with_fan_in,
                    scale_exponent=args.scale_exponent, n_train=nt, n_test=ns,
                    topology="preset model1 with fan_in = fan_out = f, seed 0 (golden.topology "
                             "never joins two interfaces twice)")
    path = write_result(args, NAME, claim=CLAIM, dataset=f"{data.name}: {nt} train / {ns} held out",
                        settings=settings, runs=runs, summary=summary, started=started)
    plot(runs, out_dir(args), args.tag, f"{data.name} {nt}/{ns}", m)
    log(f"wrote {path}")
    for k, v in summary.items():
        log(f"{k}: LR {v['link_ratio']:.3%} BSP {v['bsp_final']:.3f} MLP {v['mlp_final']:.3f}")
    return summary


def scale_with_fan_in(cfg, f: int, exponent: float = 1.0):
    """``cfg`` with the initial |C|, the C clamp range and the BSP step divided by
    ``f ** exponent``. Exponent 1: an interface summing ``f`` links of equal sign starts, and
    moves per update, like one link at fan-in 1 (for a power-of-two ``f`` the step stays a
    power of two, as the hardware shifts need); exponent 0.5 keeps the size of a sum of ``f``
    random-sign terms instead."""
    d = float(f) ** exponent
    return cfg.replace(c_init_lo=cfg.c_init_lo / d, c_init_hi=cfg.c_init_hi / d,
                       c_min=cfg.c_min / d, c_max=cfg.c_max / d, step=cfg.step / d)


def plot(runs, folder, tag, dataset, m):
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(7.5, 4.5))
    x = [r["neuron_link_ratio"] for r in runs]
    ax.plot(x, [r["bsp"]["test_acc"][-1] for r in runs], "o-", color="C3",
            label="Wuxing + adder, BSP")
    ax.plot(x, [r["mlp"]["test_acc"][-1] for r in runs], "s--", color="C0",
            label="MLP on the same connection graph")
    for r, xx in zip(runs, x):
        ax.annotate(f"fan-in {r['fan_in']}", (xx, r["bsp"]["test_acc"][-1]), fontsize=7,
                    textcoords="offset points", xytext=(3, 5))
    lr_file = folder / f"link_ratio{tag}.json"
    if not lr_file.exists():
        lr_file = folder / "link_ratio.json"
    if lr_file.exists():  # experiment 1's MLP curve, for reference (its own data and epochs)
        rec = json.loads(lr_file.read_text())
        rows = [(v["link_ratio"], v["final_test_acc_mean"]) for k, v in rec["summary"].items()
                if k.startswith("LR")]
        rows.sort()
        ax.plot(*zip(*rows), "^:", color="gray",
                label=f"exp. 1: MLP, random masks ({rec['quick']} run, {rec['dataset'][:24]})")
    ax.axhline(0.1, color="gray", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("link ratio (connected neuron pairs / possible)")
    ax.set_ylabel("held-out accuracy after training")
    ax.set_ylim(0, 1)
    ax.set_title(f"Experiment 4 ({m}): the adder on MODEL1's layer sizes, {dataset}", fontsize=9)
    ax.grid(alpha=.3, which="both")
    ax.legend(fontsize=8)
    save_figure(fig, folder / f"{NAME}{tag}.png")


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--recipe", default="model1-mnist")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--fan-in", type=int, nargs="+", default=None)
    p.add_argument("--scale-c-init", action="store_true",
                   help="divide the initial |C| range by the fan-in")
    p.add_argument("--scale-with-fan-in", action="store_true",
                   help="divide the initial |C| range, the C clamp range and the BSP step by "
                        "the fan-in (to the power --scale-exponent)")
    p.add_argument("--scale-exponent", type=float, default=1.0,
                   help="with --scale-with-fan-in: divide by fan-in ** EXPONENT (default 1)")
    add_set_option(p)
    args = p.parse_args(argv)
    guarded(run, args)


if __name__ == "__main__":
    main()
