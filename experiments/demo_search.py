"""Search for the demo network's settings (issue #11: >= 85 % held out in bit-exact fixed
point): a grid of changes to the recipe ``demo``, each trained on several seeds.

    python -m experiments.demo_search --vary KEY=V1,V2 [--vary ...] [--set KEY=V ...]
        [--seeds 0 1 2] [--fixed | --both] [--method gradient] [--jobs 2] --tag NAME
    python -m experiments.demo_search --reference --tag reference
    python -m experiments.demo_search --timing --tag timing

Every combination of the ``--vary`` values (a Cartesian product), on top of the recipe
``demo`` with the ``--set`` changes, is trained once per seed (the seed of C0 and of the
sample order; the topology's wiring seed is the key ``topo_seed``). Keys:

* any RunConfig field (``steps=48``, ``step=2**-3``, ``input_scale=0.25`` ...);
* the topology: ``layers=64x16x10``, ``fan_in=8`` (fan-out follows), ``fan_out=8``,
  ``link_counts=256+256`` (``fill``: the fill rule), ``topo_seed=0``, ``in_elem=0``,
  ``out_elem=0``;
* the run: ``epochs=20``, ``batch=8``, ``schedule=halve-on-worse:floor=-6``, ``lr=0.01``.

Results: ``experiments/results/demo_search_<tag>.json`` (every run's per-epoch held-out
accuracy, its final and best accuracy, seconds) and a table on the console: per setting the
final held-out accuracy per seed, mean and spread (max - min). Runs are spread over
``--jobs`` processes, each with one Numba thread. ``--reference``: what dense scikit-learn
classifiers reach on the same split (the scale of the task); ``--timing``: the seconds of the
demo's golden training with the former recipe and the current one, side by side.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .common import RESULTS, git_commit

TOPO_KEYS = ("layers", "fan_in", "fan_out", "link_counts", "topo_seed", "in_elem", "out_elem")
RUN_KEYS = ("epochs", "batch", "schedule", "lr")


def parse_value(key: str, text: str):
    """A ``--vary``/``--set`` value as the setting's type."""
    from wuxing.golden.config import parse_overrides
    if key == "layers":
        return tuple(int(v) for v in text.split("x"))
    if key == "link_counts":
        return None if text == "fill" else tuple(int(v) for v in text.split("+"))
    if key in ("fan_in", "fan_out", "topo_seed", "in_elem", "out_elem", "epochs", "batch"):
        return int(text)
    if key == "schedule":
        return text
    if key == "lr":
        return float(text)
    return parse_overrides([f"{key}={text}"])[key]


def run_one(job: dict) -> dict:
    """Train one setting on one seed (in a worker process)."""
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    from wuxing.golden.data import load_dataset
    from wuxing.golden.schedule import StepSchedule
    from wuxing.golden.topology import Topology
    from wuxing.golden.train import RECIPES, recipe_schedule, train
    r = RECIPES["demo"]
    ch = dict(job["changes"])
    base_t = r.build_topology()
    tkw = dict(layers=base_t.layers, fan_in=base_t.fan_in, fan_out=base_t.fan_out,
               link_counts=base_t.link_counts, seed=base_t.seed, in_elem=base_t.in_elem,
               out_elem=base_t.out_elem)
    for k in TOPO_KEYS:
        if k in ch:
            tkw["seed" if k == "topo_seed" else k] = ch[k]
    if "fan_in" in ch and "fan_out" not in ch:
        tkw["fan_out"] = ch["fan_in"]
    topo = Topology(name="demo-search", **tkw)
    cfg = r.cfg.replace(**{k: v for k, v in ch.items() if k not in TOPO_KEYS + RUN_KEYS})
    method = job["method"]
    schedule = StepSchedule.parse(ch["schedule"]) if "schedule" in ch else \
        recipe_schedule(r, method)
    t0 = time.perf_counter()
    res = train(topo, cfg, load_dataset(r.dataset), epochs=ch.get("epochs", r.epochs),
                batch=ch.get("batch", r.batch), seed=job["seed"], fixed=job["fixed"],
                fmt=r.fmt, method=method, lr=ch.get("lr", r.lr), schedule=schedule)
    acc = [h["test_acc"] for h in res.history]
    return dict(label=job["label"], changes={k: list(v) if isinstance(v, tuple) else v
                                             for k, v in job["changes"]},
                seed=job["seed"], fixed=job["fixed"], method=method, links=topo.n_links,
                link_counts=[q["links"] for q in topo.link_ratio()["pairs"]],
                final=acc[-1], best=max(acc), acc=acc,
                train_acc=[h["train_acc"] for h in res.history],
                step_exp=[h.get("step_exp") for h in res.history],
                overflow=res.history[-1]["overflow"],
                seconds=round(time.perf_counter() - t0, 1))


def references() -> dict:
    """What dense classifiers of scikit-learn reach on the same split (held-out accuracy):
    the scale of the task, not a Wuxing network. Least squares on one-hot targets (the loss BSP
    follows), logistic regression, and an MLP with one hidden layer of 16."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neural_network import MLPClassifier
    from wuxing.golden.data import load_dataset
    d = load_dataset("digits")
    x, y, xt, yt = d.x_train, d.y_train, d.x_test, d.y_test
    ls = Ridge(alpha=1.0).fit(x, np.eye(10)[y])
    out = {"least squares (ridge 1), 640 weights + 10 biases":
           float(np.mean(np.argmax(ls.predict(xt), 1) == yt))}
    for c in (0.1, 1.0):
        m = LogisticRegression(C=c, max_iter=3000).fit(x, y)
        out[f"logistic regression C={c:g}"] = float(m.score(xt, yt))
    m = MLPClassifier((16,), max_iter=2000, random_state=0).fit(x, y)
    out["MLP 64-16-10 (dense, 1,210 weights), Adam"] = float(m.score(xt, yt))
    return out


FORMER_DEMO = dict(epochs=20, batch=8, link_counts=(256, 256), h_shift=2)   # before issue #11


def timing() -> dict:
    """Seconds of the demo's golden training (float, then fixed point, seed 0: what ``wuxing
    demo`` stage 1 does) for the former recipe and the current one, one after the other under
    the same load."""
    import dataclasses
    from wuxing.golden.data import load_dataset
    from wuxing.golden.train import RECIPES, train
    new = RECIPES["demo"]
    old = dataclasses.replace(new, epochs=FORMER_DEMO["epochs"], batch=FORMER_DEMO["batch"],
                              topology_overrides=dict(link_counts=FORMER_DEMO["link_counts"]),
                              cfg=new.cfg.replace(h_shift=FORMER_DEMO["h_shift"]))
    data, out = load_dataset(new.dataset), {}
    for name, r in (("former demo", old), ("demo", new)):
        t0, acc = time.perf_counter(), []
        for fixed in (False, True):
            res = train(r.build_topology(), r.cfg, data, epochs=r.epochs, batch=r.batch, seed=0,
                        fixed=fixed, fmt=r.fmt, schedule=r.schedule)
            acc.append(res.history[-1]["test_acc"])
        out[name] = dict(seconds=round(time.perf_counter() - t0, 1), float_acc=acc[0],
                         fixed_acc=acc[1])
    return out


def label_of(changes) -> str:
    def show(v):
        if isinstance(v, tuple):
            return "x".join(map(str, v))
        return f"{v:g}" if isinstance(v, float) else str(v)
    return " ".join(f"{k}={show(v)}" for k, v in changes) or "(recipe demo)"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.demo_search",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                   help="a setting and its values (the grid is every combination)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=V",
                   help="a change to the recipe demo common to every run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--fixed", action="store_true", help="bit-exact fixed point (FixedModel)")
    p.add_argument("--both", action="store_true", help="float and fixed point")
    p.add_argument("--method", choices=("bsp", "gradient"), default="bsp")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--tag", required=True, help="result file demo_search_<tag>.json")
    p.add_argument("--timing", action="store_true",
                   help="instead: seconds of the demo's golden training, former recipe and "
                        "current one side by side")
    p.add_argument("--reference", action="store_true",
                   help="instead: what dense scikit-learn classifiers reach on the same split")
    a = p.parse_args(argv)
    if a.timing or a.reference:
        key, doc = ("timing", timing()) if a.timing else ("references", references())
        for k, v in doc.items():
            print(f"{k}: float + fixed point {v['seconds']} s (held out "
                  f"{100 * v['float_acc']:.1f} / {100 * v['fixed_acc']:.1f} %)" if a.timing
                  else f"{k}: {100 * v:.1f} %")
        out = RESULTS / f"demo_search_{a.tag}.json"
        out.write_text(json.dumps({"experiment": "demo_search", key: doc,
                                   "command": "python -m experiments.demo_search " + " ".join(
                                       sys.argv[1:] if argv is None else argv)},
                                  indent=1) + "\n")
        print(f"wrote {out}")
        return 0
    try:
        common = [(k, parse_value(k, v)) for k, _, v in (s.partition("=") for s in a.set)]
        axes = []
        for s in a.vary:
            k, _, vals = s.partition("=")
            axes.append([(k, parse_value(k, v)) for v in vals.split(",")])
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    modes = (False, True) if a.both else (a.fixed,)
    jobs = []
    for combo in itertools.product(*axes) if axes else [()]:
        changes = tuple(common) + tuple(combo)
        for fixed in modes:
            for seed in a.seeds:
                jobs.append(dict(changes=changes, label=label_of(changes), seed=seed,
                                 fixed=fixed, method=a.method))
    t0 = time.time()
    out = RESULTS / f"demo_search_{a.tag}.json"
    runs = []
    with ProcessPoolExecutor(max_workers=a.jobs) as ex:
        for r in ex.map(run_one, jobs):
            runs.append(r)
            print(f"{'fixed' if r['fixed'] else 'float'} s{r['seed']} {r['label']}: final "
                  f"{100 * r['final']:.1f} % best {100 * r['best']:.1f} % ({r['seconds']} s)",
                  flush=True)
            _write(out, a, runs, t0)
    print()
    print("| setting | mode | links | final per seed | mean | spread | best epoch acc (mean) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in summarise(runs):
        print(f"| {row['label']} | {row['mode']} | {row['links']} | "
              f"{', '.join(f'{100 * v:.1f}' for v in row['finals'])} | "
              f"{100 * row['mean']:.1f} % | {100 * row['spread']:.1f} | "
              f"{100 * row['best_mean']:.1f} % |")
    print(f"wrote {out}")
    return 0


def summarise(runs) -> list:
    rows = {}
    for r in runs:
        mode = ("fixed" if r["fixed"] else "float") + \
            (" gradient" if r["method"] == "gradient" else "")
        rows.setdefault((r["label"], mode), []).append(r)
    out = []
    for (label, mode), rs in rows.items():
        finals = [r["final"] for r in rs]
        out.append(dict(label=label, mode=mode, links=rs[0]["links"],
                        seeds=[r["seed"] for r in rs], finals=finals,
                        mean=sum(finals) / len(finals), spread=max(finals) - min(finals),
                        best_mean=sum(r["best"] for r in rs) / len(rs)))
    return out


def base_settings() -> dict:
    """The recipe ``demo`` the changes apply to (it changes with the recipe)."""
    from wuxing.golden.train import RECIPES
    r = RECIPES["demo"]
    t = r.build_topology()
    return dict(layers=list(t.layers), fan_in=t.fan_in, fan_out=t.fan_out,
                link_counts=[q["links"] for q in t.link_ratio()["pairs"]], topo_seed=t.seed,
                epochs=r.epochs, batch=r.batch, schedule=str(r.schedule), lr=r.lr,
                cfg=r.cfg.as_dict())


def _write(path: Path, a, runs, t0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dict(
        experiment="demo_search",
        command="python -m experiments.demo_search " + " ".join(sys.argv[1:]),
        base_recipe="demo", base=base_settings(), git_commit=git_commit(),
        elapsed_s=round(time.time() - t0, 1),
        summary=summarise(runs), runs=runs), indent=1) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
