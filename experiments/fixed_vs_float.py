"""Experiment 6: the same BSP training in the bit-exact fixed-point golden model (default
format and narrower ones) against float, from the same initial coefficients and sample order.

Reported per format: the accuracy curve, and the divergence from float:
  * outputs: the same coefficients run through FixedModel and FloatModel (the float-trained
    final C and the initial C): mean / max |y_fixed - y_float| and argmax agreement;
  * one update: at C0, on a few training batches, the fixed-point BSP change of C against
    float's for the same batch (cosine, norm ratio, share of links float moves and fixed
    point leaves unchanged);
  * training: the relative distance between the fixed-trained and float-trained final C, and
    the cosine between their total changes (C_final - C0).

Formats are (width, frac) with coef_extra 8; the integral width is 24 for the default format
and frac + 12 (at least width) for the others, so that S never saturates at 80 steps.

    python -m experiments.fixed_vs_float --quick                 # tiny network on digits4
    python -m experiments.fixed_vs_float                         # same, more epochs, 2 seeds
    python -m experiments.fixed_vs_float --quick --recipe model1-mnist --formats 16,12 12,8
"""
from __future__ import annotations

import time

import numpy as np

from wuxing.golden.data import load_dataset
from wuxing.golden.fixedpoint import DEFAULT_FORMAT, FixedFormat
from wuxing.golden.network import FixedModel, FloatModel, init_coefficients
from wuxing.golden.train import onehot

from .common import guarded, log, mode, out_dir, parser, plt, save_figure, write_result
from .wuxing import add_set_option, history_dict, recipe, train_topology

NAME = "fixed_vs_float"
CLAIM = ("Users choose a fixed-point format for their FPGA: how much accuracy and agreement "
         "with float does each format keep?")
FORMATS = ((16, 12), (14, 10), (12, 8), (10, 6), (8, 4))
SIZES = dict(smoke=(64, 64), quick=(None, None), full=(None, None))
EPOCHS = dict(smoke=1, quick=5, full=20)
MODEL1_SIZES = dict(smoke=(64, 64), quick=(1000, 500), full=(4000, 1000))


def make_format(width, frac) -> FixedFormat:
    if (width, frac) == (DEFAULT_FORMAT.width, DEFAULT_FORMAT.frac):
        return DEFAULT_FORMAT
    return FixedFormat(width=width, frac=frac, coef_extra=DEFAULT_FORMAT.coef_extra,
                       acc_width=min(31, max(width, frac + 12)))


def output_divergence(topo, cfg, fmt, C_real, x):
    fl = FloatModel(topo, cfg, dtype=np.float64)
    fx = FixedModel(topo, cfg, fmt=fmt)
    yf = fl.outputs(fl.forward(C_real, x))
    yx = fx.outputs_real(fx.forward(fx.coef_to_int(C_real), fx.input_to_int(x)))
    d = np.abs(yx - yf)
    return dict(mean_abs_dy=float(d.mean()), max_abs_dy=float(d.max()),
                rel_dy=float(np.linalg.norm(yx - yf) / max(np.linalg.norm(yf), 1e-300)),
                argmax_agreement=float(np.mean(yx.argmax(1) == yf.argmax(1))),
                n_compared=int(d.size))


def update_agreement(topo, cfg, fmt, C_real, x, labels, batch, n_batches=4, seed=0):
    """One BSP update from ``C_real`` (rounded to the format) on ``n_batches`` random training
    batches, fixed point against float64 on the same batch and the same C."""
    fl = FloatModel(topo, cfg, dtype=np.float64)
    fx = FixedModel(topo, cfg, fmt=fmt)
    Ci = fx.coef_to_int(C_real)
    Cr = fx.coef_to_real(Ci)
    rng = np.random.default_rng(seed)
    cos, ratio, frozen = [], [], []
    for _ in range(n_batches):
        i = rng.choice(len(labels), batch, replace=False)
        tb = onehot(labels[i], topo.layers[-1]) * cfg.target
        res = fl.forward(Cr, x[i])
        d_float = fl.bsp_update(Cr, res.S, fl.reverse(Cr, fl.error(fl.outputs(res), tb)).S) - Cr
        rx = fx.forward(Ci, fx.input_to_int(x[i]))
        d_fixed = fx.coef_to_real(fx.bsp_delta(rx.S, fx.reverse(Ci, fx.error_int(rx, tb)).S))
        cos.append(float(d_fixed @ d_float / max(np.linalg.norm(d_fixed) * np.linalg.norm(d_float),
                                                 1e-300)))
        ratio.append(float(np.linalg.norm(d_fixed) / max(np.linalg.norm(d_float), 1e-300)))
        frozen.append(float(np.mean((d_fixed == 0) & (d_float != 0))))
    return dict(cosine=cos, norm_ratio=ratio, frozen_share=frozen, batch=batch)


def run(args) -> dict:
    started = time.time()
    m = mode(args)
    rec = recipe(args.recipe, args.set)
    data = load_dataset(rec.dataset)
    topo = rec.build_topology()
    n_train, n_test = (MODEL1_SIZES if topo.n_neurons > 200 else SIZES)[m]
    epochs = args.epochs or EPOCHS[m]
    formats = [tuple(int(v) for v in s.split(",")) for s in args.formats] if args.formats \
        else (FORMATS[:2] if m == "smoke" else FORMATS)
    seeds = args.seeds or (2 if m == "full" else 1)
    cfg = rec.cfg
    xprobe = data.x_test[:n_test][:256]
    runs = []
    for seed in range(seeds):
        C0 = init_coefficients(topo, cfg, seed)
        log(f"seed {seed}: float, recipe {args.recipe}, {epochs} epochs")
        fres = train_topology(topo, rec, data, epochs=epochs, n_train=n_train, n_test=n_test,
                              seed=seed, log=lambda s: log("  " + s))
        runs.append(dict(format="float32", seed=seed, **history_dict(fres)))
        dC_float = fres.C_real - C0
        for width, frac in formats:
            fmt = make_format(width, frac)
            log(f"seed {seed}: fixed {fmt.describe()}")
            try:
                xres = train_topology(topo, rec, data, epochs=epochs, n_train=n_train,
                                      n_test=n_test, seed=seed, fixed=True, fmt=fmt,
                                      log=lambda s: log("  " + s))
            except ValueError as e:
                log(f"  not trainable in this format: {e}")
                runs.append(dict(format=f"{width},{frac}", seed=seed, error=str(e)))
                continue
            dC_fixed = xres.C_real - C0
            div = dict(
                at_init=output_divergence(topo, cfg, fmt, C0, xprobe),
                update_at_init=update_agreement(topo, cfg, fmt, C0, data.x_train[:n_train],
                                                data.y_train[:n_train], rec.batch, seed=seed),
                at_float_final=output_divergence(topo, cfg, fmt, fres.C_real, xprobe),
                c_rel_distance=float(np.linalg.norm(xres.C_real - fres.C_real)
                                     / np.linalg.norm(fres.C_real)),
                c_change_cosine=float(dC_fixed @ dC_float / max(
                    np.linalg.norm(dC_fixed) * np.linalg.norm(dC_float), 1e-300)))
            log(f"  outputs vs float (float-trained C): mean |dy| "
                f"{div['at_float_final']['mean_abs_dy']:.2e}, argmax agreement "
                f"{div['at_float_final']['argmax_agreement']:.3f}; C change cosine "
                f"{div['c_change_cosine']:.3f}")
            runs.append(dict(format=f"{width},{frac}", fmt=fmt.as_dict(), describe=fmt.describe(),
                             seed=seed, divergence=div, **history_dict(xres)))
    summary = {}
    for name in ["float32"] + [f"{w},{f}" for w, f in formats]:
        rs = [r for r in runs if r["format"] == name and "error" not in r]
        if not rs:
            summary[name] = dict(error=[r["error"] for r in runs if r["format"] == name][0])
            continue
        s = dict(final_test_acc=float(np.mean([r["test_acc"][-1] for r in rs])),
                 best_test_acc=float(np.mean([r["best_test_acc"] for r in rs])))
        if name != "float32":
            s.update(argmax_agreement=float(np.mean(
                [r["divergence"]["at_float_final"]["argmax_agreement"] for r in rs])),
                mean_abs_dy=float(np.mean([r["divergence"]["at_float_final"]["mean_abs_dy"]
                                           for r in rs])),
                c_change_cosine=float(np.mean([r["divergence"]["c_change_cosine"] for r in rs])),
                update_cosine=float(np.mean([r["divergence"]["update_at_init"]["cosine"]
                                             for r in rs])),
                update_norm_ratio=float(np.mean([r["divergence"]["update_at_init"]["norm_ratio"]
                                                 for r in rs])),
                update_frozen_share=float(np.mean(
                    [r["divergence"]["update_at_init"]["frozen_share"] for r in rs])),
                c_rel_distance=float(np.mean([r["divergence"]["c_rel_distance"] for r in rs])))
        summary[name] = s
    nt = n_train or len(data.y_train)
    ns = n_test or len(data.y_test)
    settings = dict(recipe=args.recipe, overrides=args.set, topology=topo.spec(), run=cfg.as_dict(), batch=rec.batch,
                    epochs=epochs, seeds=seeds, formats=formats, n_train=nt, n_test=ns,
                    probe_samples=len(xprobe))
    path = write_result(args, NAME, claim=CLAIM, dataset=f"{data.name}: {nt} train / {ns} held out",
                        settings=settings, runs=runs, summary=summary, started=started)
    plot(runs, summary, out_dir(args) / f"{NAME}{args.tag}.png", f"{data.name} {nt}/{ns}", m,
         " ".join([args.recipe] + args.set))
    log(f"wrote {path}")
    for k, v in summary.items():
        log(f"{k}: {v}")
    return summary


def plot(runs, summary, path, dataset, m, rec):
    pyplot = plt()
    fig, (a1, a2) = pyplot.subplots(1, 2, figsize=(12, 4.5))
    names = list(summary)
    for i, name in enumerate(names):
        for r in runs:
            if r["format"] == name and "error" not in r:
                a1.plot(r["epoch"], r["test_acc"], "-" if name == "float32" else "--",
                        color=f"C{i}", label=name if r["seed"] == 0 else None,
                        lw=2.5 if name == "float32" else 1.3)
    a1.set_xlabel("epoch")
    a1.set_ylabel("held-out accuracy")
    a1.set_title(f"BSP training, float32 and fixed (width,frac), recipe {rec}", fontsize=9)
    a1.grid(alpha=.3)
    a1.legend(fontsize=8)
    fx = [n for n in names if n != "float32" and "error" not in summary[n]]
    xs = np.arange(len(fx))
    a2.bar(xs - 0.2, [summary[n]["final_test_acc"] for n in fx], 0.4, label="final accuracy (fixed)")
    a2.bar(xs + 0.2, [summary[n]["argmax_agreement"] for n in fx], 0.4,
           label="argmax agreement with float (same C)")
    if "error" not in summary["float32"]:
        a2.axhline(summary["float32"]["final_test_acc"], color="k", ls="--", label="float32 accuracy")
    a2.set_xticks(xs, fx)
    a2.set_xlabel("format (width, frac)")
    a2.set_ylim(0, 1.05)
    a2.legend(fontsize=8)
    a2.grid(alpha=.3, axis="y")
    save_figure(fig, path, f"Experiment 6 ({m}): fixed point against float, {dataset}")


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--recipe", default="tiny-digits4")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--formats", nargs="+", default=None, metavar="WIDTH,FRAC")
    add_set_option(p)
    args = p.parse_args(argv)
    guarded(run, args)


if __name__ == "__main__":
    main()
