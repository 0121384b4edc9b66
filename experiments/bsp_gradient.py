"""Experiment 5: how close is the BSP update of C to the true gradient of the output error?

For a batch of samples, the BSP update of every link is ``step * atan(kt * G1) / kt`` with
``G1 = mean_b S_src * R_dst`` (golden.network.FloatModel.bsp_update). The true descent
direction is ``-dL/dC`` with ``L = 0.5 * mean_b sum_k (target_k - y_k)^2``, taken here by
central finite differences of the float64 golden model (per sample at once: every sample's
output depends only on C and its own input, so one pass over the links gives the per-sample
gradients of the whole batch).

Parts:
  A  cosine against the run length T (steps x h) at the start of training;
  B  cosine across BSP training of the tiny network (16, 16, 10) on digits4;
  C  MODEL.md's check network {8, 6, 4, 2} with inputs ~U(0, 0.05) (reproduces its table);
  D  MODEL1 on MNIST with a golden.train recipe: BSP against the exact gradient
     (golden.gradient, backpropagation through time) at the start and after BSP training.

    python -m experiments.bsp_gradient            # full (about 10 minutes)
    python -m experiments.bsp_gradient --quick
"""
from __future__ import annotations

import time

import numpy as np

from wuxing.golden.config import RunConfig
from wuxing.golden.data import load_dataset
from wuxing.golden.network import FloatModel, init_coefficients
from wuxing.golden.topology import Topology, preset

from .common import guarded, log, mode, out_dir, parser, plt, save_figure, write_result
from .wuxing import add_set_option, recipe

NAME = "bsp_gradient"
CLAIM = ("Central claim: backward signal propagation (the reverse run and G1 = S_src * R_dst) "
         "can stand in for the chain rule, i.e. the BSP update follows the gradient.")


def per_sample_gradients(model: FloatModel, C, x, target, eps=1e-5):
    """(n_links, batch) of -d/dC of 0.5 * sum_k (target_k - y_k)^2, per sample, by central
    finite differences."""
    g = np.zeros((len(C), len(x)))
    for i in range(len(C)):
        Cp, Cm = C.copy(), C.copy()
        Cp[i] += eps
        Cm[i] -= eps
        lp = 0.5 * np.sum((target - model.outputs(model.forward(Cp, x))) ** 2, axis=1)
        lm = 0.5 * np.sum((target - model.outputs(model.forward(Cm, x))) ** 2, axis=1)
        g[i] = -(lp - lm) / (2 * eps)
    return g


def bsp_per_sample(model: FloatModel, C, x, target):
    """(n_links, batch) of S_src * R_dst per sample (G1 before the batch mean), and y."""
    res = model.forward(C, x)
    y = model.outputs(res)
    rev = model.reverse(C, model.error(y, target))
    s, r = model.link_ends(res.S, rev.S)
    return s.astype(np.float64) * r, y, res, rev


def cos(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")


def compare(model: FloatModel, C, x, target, exact=None) -> dict:
    """Cosines and norm ratios of BSP against the finite-difference gradient."""
    g1, y, res, rev = bsp_per_sample(model, C, x, target)
    grad = per_sample_gradients(model, C, x, target)
    cfg = model.cfg
    per = [cos(g1[:, b], grad[:, b]) for b in range(len(x))]
    g1m, gm = g1.mean(1), grad.mean(1)
    upd = model.bsp_update(C, res.S, rev.S) - C  # the applied update (atan, step, clamp)
    out = dict(cos_per_sample_mean=float(np.nanmean(per)),
               cos_per_sample_median=float(np.nanmedian(per)),
               cos_per_sample_min=float(np.nanmin(per)),
               cos_batch_G1=cos(g1m, gm),
               cos_batch_update=cos(upd, gm),
               sign_agreement=float(np.mean(np.sign(g1m) == np.sign(gm))),
               norm_ratio_G1=float(np.linalg.norm(g1m) / np.linalg.norm(gm)),
               norm_ratio_per_sample=[float(np.linalg.norm(g1[:, b]) / np.linalg.norm(grad[:, b]))
                                      for b in range(len(x))],
               err_scale=cfg.err_scale, loss=float(0.5 * np.mean(np.sum((target - y) ** 2, 1))),
               overflow=float(res.overflow.mean()))
    if exact is not None:
        ge = exact(model, C, x, target)
        out["exact_vs_fd_max_rel"] = float(np.max(np.abs(ge - gm)) / np.max(np.abs(gm)))
    return out


def part_a(stepss, topo, data, n, cfg, seed, target_scale):
    rows = []
    C0 = init_coefficients(topo, cfg, seed)
    x = data.x_test[:n]
    t = np.eye(10)[data.y_test[:n]] * target_scale
    for steps in stepss:
        model = FloatModel(topo, cfg.replace(steps=steps), dtype=np.float64)
        r = compare(model, C0, x, t)
        r.update(steps=steps, T=steps * cfg.h)
        log(f"A steps {steps:4d} (T {steps * cfg.h:g}): cos/sample {r['cos_per_sample_mean']:.3f} "
            f"batch {r['cos_batch_G1']:.3f} norm ratio {r['norm_ratio_G1']:.3g}")
        rows.append(r)
    return rows


def part_b(topo, data, cfg, seed, epochs, batch, target_scale, probe_n, checkpoints_per_epoch):
    model = FloatModel(topo, cfg, dtype=np.float64)
    C = init_coefficients(topo, cfg, seed)
    rng = np.random.default_rng(seed)
    probe_x = data.x_test[:probe_n]
    probe_t = np.eye(10)[data.y_test[:probe_n]] * target_scale
    eye = np.eye(10) * target_scale

    def accuracy(C):
        y = model.outputs(model.forward(C, data.x_test))
        return float(np.mean(y.argmax(1) == data.y_test))

    rows = []
    n = len(data.y_train)
    nb = -(-n // batch)
    marks = set(np.linspace(0, nb, checkpoints_per_epoch + 1).astype(int)[1:])
    r = compare(model, C, probe_x, probe_t)
    r.update(epoch=0.0, accuracy=accuracy(C))
    rows.append(r)
    log(f"B epoch 0: acc {r['accuracy']:.3f} cos/sample {r['cos_per_sample_mean']:.3f} "
        f"batch {r['cos_batch_G1']:.3f}")
    for ep in range(epochs):
        order = rng.permutation(n)
        for k in range(nb):
            b = order[k * batch:(k + 1) * batch]
            res = model.forward(C, data.x_train[b])
            err = model.error(model.outputs(res), eye[data.y_train[b]])
            C = model.bsp_update(C, res.S, model.reverse(C, err).S)
            if k + 1 in marks:
                r = compare(model, C, probe_x, probe_t)
                r.update(epoch=ep + (k + 1) / nb, accuracy=accuracy(C))
                rows.append(r)
                log(f"B epoch {r['epoch']:.2f}: acc {r['accuracy']:.3f} "
                    f"cos/sample {r['cos_per_sample_mean']:.3f} batch {r['cos_batch_G1']:.3f} "
                    f"norm ratio {r['norm_ratio_G1']:.3g}")
    return rows


def part_c(stepss, n, seed):
    topo = Topology(layers=(8, 6, 4, 2), seed=seed)
    cfg = RunConfig()
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.05, (n, 8))
    t = rng.uniform(0, 0.05, (n, 2))
    C0 = init_coefficients(topo, cfg, seed)
    rows = []
    for steps in stepss:
        model = FloatModel(topo, cfg.replace(steps=steps), dtype=np.float64)
        r = compare(model, C0, x, t)
        r.update(steps=steps, T=steps * cfg.h)
        log(f"C {{8,6,4,2}} steps {steps}: cos/sample {r['cos_per_sample_mean']:.3f} "
            f"norm ratio {r['norm_ratio_G1']:.3g}")
        rows.append(r)
    return rows


def part_d(recipe_name, overrides, n_probe, n_train, rounds, seed=0):
    """MODEL1: cosine of the BSP direction and the exact BPTT gradient, batch and per sample,
    at the start and after each round of BSP training (golden.train) on ``n_train`` samples."""
    from wuxing.golden.gradient import Gradient, bsp_direction
    from wuxing.golden.train import train
    rec = recipe(recipe_name, overrides)
    topo = rec.build_topology()
    data = load_dataset(rec.dataset)
    model = FloatModel(topo, rec.cfg, dtype=np.float64)
    grad = Gradient(model)
    x = data.x_test[:n_probe]
    t = np.eye(10)[data.y_test[:n_probe]] * getattr(rec.cfg, "target", 1.0)
    C = init_coefficients(topo, rec.cfg, seed)
    rows = []
    for k in range(rounds + 1):
        if k:
            res = train(topo, rec.cfg, data, epochs=1, batch=rec.batch, seed=seed + k, C0=C,
                        n_train=n_train, n_test=n_probe)
            C = res.C
        lo, g, _ = grad.loss_and_gradient(C, x, t)
        b = bsp_direction(model, C, x, t)
        pairs = [(bsp_direction(model, C, x[i:i + 1], t[i:i + 1]),
                  -grad.loss_and_gradient(C, x[i:i + 1], t[i:i + 1])[1])
                 for i in range(min(4, n_probe))]
        per = [cos(a, b) for a, b in pairs]
        r = dict(samples_trained=k * n_train, cos_batch_G1=cos(b, -g),
                 cos_per_sample_mean=float(np.mean(per)),
                 sign_agreement=float(np.mean(np.sign(b) == np.sign(-g))),
                 norm_ratio_G1=float(np.linalg.norm(b) / np.linalg.norm(g)), loss=lo,
                 norm_ratio_per_sample=[float(np.linalg.norm(a) / np.linalg.norm(b))
                                        for a, b in pairs],
                 accuracy=float(np.mean(grad.forward(C, x).argmax(1) == data.y_test[:n_probe])))
        log(f"D MODEL1 after {r['samples_trained']} samples: cos batch {r['cos_batch_G1']:.3f} "
            f"per sample {r['cos_per_sample_mean']:.3f} norm ratio {r['norm_ratio_G1']:.3g}")
        rows.append(r)
    return rows


def run(args) -> dict:
    started = time.time()
    m = mode(args)
    data = load_dataset("digits4")
    topo = preset("tiny")
    target_scale = args.target_scale
    cfg = RunConfig(step=args.step)
    if m == "smoke":
        stepss, n, epochs, probe, cpe, cstepss = (20, 80), 4, 1, 4, 1, (40,)
        data = data.subset(64, 64)
    elif m == "quick":
        stepss, n, epochs, probe, cpe, cstepss = (20, 40, 80, 160), 16, 2, 16, 2, (40, 80, 200)
    else:
        stepss, n, epochs, probe, cpe, cstepss = (10, 20, 40, 80, 160, 320), 32, 10, 32, 2, \
            (40, 80, 200)
    log(f"{NAME} ({m}): tiny {topo.layers}, {topo.n_links} links, {data.describe()}")
    a = part_a(stepss, topo, data, n, cfg, 0, target_scale)
    b = part_b(topo, data, cfg, 0, epochs, 16, target_scale, probe, cpe)
    c = part_c(cstepss, max(n, 8), 0)
    d_cfg = list(dict(smoke=(4, 32, 1), quick=(16, 500, 2), full=(32, 2000, 4))[m])
    if args.model1_samples:
        d_cfg[1] = args.model1_samples
    if args.model1_rounds:
        d_cfg[2] = args.model1_rounds
    d = part_d(args.recipe, args.set, *d_cfg) if not args.no_model1 else []
    summary = dict(
        T_sweep={r["steps"]: r["cos_per_sample_mean"] for r in a},
        training_cos_first=b[0]["cos_per_sample_mean"],
        training_cos_last=b[-1]["cos_per_sample_mean"],
        training_cos_min=min(r["cos_per_sample_mean"] for r in b),
        training_cos_batch_mean=float(np.mean([r["cos_batch_G1"] for r in b])),
        training_acc_first=b[0]["accuracy"], training_acc_last=b[-1]["accuracy"],
        modelmd_network={r["steps"]: r["cos_per_sample_mean"] for r in c},
        model1_cos_batch=[r["cos_batch_G1"] for r in d])
    settings = dict(topology="tiny (16,16,10)", n_links=topo.n_links, run=cfg.as_dict(),
                    target=f"one-hot x {target_scale}", batch=16, probe_samples=probe,
                    fd="central, eps 1e-5, float64", loss="0.5*sum_k (target_k - y_k)^2",
                    y="output integral / T (output_mean)")
    settings["model1_part"] = dict(recipe=args.recipe, run=recipe(args.recipe, args.set).cfg.as_dict(),
                                   overrides=args.set,
                                   probe_samples=d_cfg[0], samples_per_round=d_cfg[1],
                                   rounds=d_cfg[2], gradient="golden.gradient (BPTT)")
    runs = dict(T_sweep=a, training=b, modelmd_network=c, model1=d)
    path = write_result(args, NAME, claim=CLAIM, dataset=data.describe(), settings=settings,
                        runs=runs, summary=summary, started=started)
    plot(runs, out_dir(args) / f"{NAME}{args.tag}.png", m)
    log(f"wrote {path}")
    return summary


def plot(runs, path, m):
    pyplot = plt()
    from matplotlib.ticker import ScalarFormatter
    fig, (a1, a2, a3) = pyplot.subplots(1, 3, figsize=(16, 4.5))
    a = runs["T_sweep"]
    T = [r["T"] for r in a]
    a1.plot(T, [r["cos_per_sample_mean"] for r in a], "o-", label="tiny/digits4, per sample (mean)")
    a1.plot(T, [r["cos_batch_G1"] for r in a], "s--", label="tiny/digits4, batch mean G1")
    c = runs["modelmd_network"]
    a1.plot([r["T"] for r in c], [r["cos_per_sample_mean"] for r in c], "^-",
            label="{8,6,4,2}, inputs U(0,0.05)")
    a1.set_xscale("log")
    a1.xaxis.set_major_formatter(ScalarFormatter())
    a1.xaxis.set_minor_formatter(ScalarFormatter())
    a1.tick_params(axis="x", which="minor", labelsize=7)
    a1.set_xlabel("run length T = steps x h (h = 0.25)")
    a1.set_ylabel("cosine(BSP G1, -dL/dC)")
    a1.set_ylim(-0.15, 1.05)
    a1.set_title("at initialisation, against T", fontsize=10)
    a1.grid(alpha=.3, which="both")
    a1.legend(fontsize=8)
    b = runs["training"]
    ep = [r["epoch"] for r in b]
    a2.plot(ep, [r["cos_per_sample_mean"] for r in b], "o-", label="cosine per sample (mean)")
    a2.plot(ep, [r["cos_batch_G1"] for r in b], "s--", label="cosine of the batch update")
    a2.plot(ep, [r["sign_agreement"] for r in b], ":", label="sign agreement")
    a2.plot(ep, [r["accuracy"] for r in b], "k-", lw=2, label="held-out accuracy")
    a2.set_xlabel("epoch of BSP training")
    a2.set_ylim(-0.15, 1.05)
    a2.set_title("across BSP training: tiny (16,16,10), digits4, T = 20", fontsize=10)
    a2.grid(alpha=.3)
    a2.legend(fontsize=8)
    d = runs.get("model1") or []
    if d:
        n = [r["samples_trained"] for r in d]
        a3.plot(n, [r["cos_batch_G1"] for r in d], "s--", label="cosine of the batch G1")
        a3.plot(n, [r["cos_per_sample_mean"] for r in d], "o-", label="cosine per sample (mean)")
        a3.plot(n, [r["sign_agreement"] for r in d], ":", label="sign agreement")
        a3.plot(n, [r["accuracy"] for r in d], "k-", lw=2, label="probe accuracy")
        a3.legend(fontsize=8)
    low = min([-0.1] + [r[k] for r in d for k in ("cos_batch_G1", "cos_per_sample_mean")])
    a3.set_ylim(low - 0.05, 1.05)  # BSP can turn against the gradient late in training
    a3.set_xlabel("MNIST samples of BSP training")
    a3.set_title("across BSP training: MODEL1, MNIST, exact BPTT gradient", fontsize=10)
    a3.grid(alpha=.3)
    save_figure(fig, path, f"Experiment 5 ({m}): BSP update against the true gradient")


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--target-scale", type=float, default=0.1)
    p.add_argument("--step", type=float, default=2.0 ** -4)
    p.add_argument("--recipe", default="model1-mnist", help="golden.train recipe of part D")
    p.add_argument("--no-model1", action="store_true", help="skip part D")
    p.add_argument("--model1-samples", type=int, default=None,
                   help="part D: MNIST samples of BSP training per round (default 2,000 full)")
    p.add_argument("--model1-rounds", type=int, default=None,
                   help="part D: rounds of BSP training between measurements (default 4 full)")
    add_set_option(p)
    args = p.parse_args(argv)
    guarded(run, args)


if __name__ == "__main__":
    main()
