"""Shared pieces of the BSP experiments (2, 3, 4, 6): the recipe settings, a training call
through :func:`golden.train.train`, and the adder topologies."""
from __future__ import annotations

import dataclasses

import numpy as np

from golden.config import RunConfig

from golden.topology import preset
from golden.train import RECIPES, train

# sample counts of the three variants (n_train, n_test); None = the whole part
SIZES = dict(smoke=(64, 64), quick=(2000, 1000), full=(None, None))


def recipe(name: str, overrides=None):
    """The golden.train recipe ``name``, its run settings changed by ``overrides``
    (a list of ``KEY=VALUE`` strings, see :func:`parse_overrides`)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    rec = RECIPES[name]
    if overrides:
        rec = dataclasses.replace(rec, cfg=rec.cfg.replace(**parse_overrides(overrides)))
    return rec


def parse_overrides(items) -> dict:
    """``["step=0.25", "target=0.1"]`` -> {"step": 0.25, "target": 0.1} (typed like RunConfig)."""
    types = {f.name: f.type for f in dataclasses.fields(RunConfig)}
    out = {}
    for it in items:
        key, sep, val = it.partition("=")
        if not sep or key not in types:
            raise ValueError(f"--set needs KEY=VALUE with KEY one of {', '.join(types)}; "
                             f"got {it!r}")
        t = str(types[key])
        out[key] = (val.lower() in ("1", "true", "yes") if "bool" in t
                    else int(val) if "int" in t else val if "str" in t else float(val))
    return out


def add_set_option(p):
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change one run setting of the recipe (repeatable), e.g. --set step=0.25")


def history_dict(res) -> dict:
    """Per-epoch curves of a golden.train.TrainResult as lists."""
    h = res.history
    return dict(epoch=[e["epoch"] for e in h], train_acc=[e["train_acc"] for e in h],
                test_acc=[e["test_acc"] for e in h], test_loss=[e["test_loss"] for e in h],
                mean_abs_c=[e["mean_abs_c"] for e in h], overflow=[e["overflow"] for e in h],
                seconds=[e["seconds"] for e in h], best_test_acc=res.best["test_acc"],
                best_epoch=res.best["epoch"])


def train_topology(topology, rec, data, *, epochs, n_train, n_test, seed=0, fixed=False,
                   fmt=None, cfg=None, method="bsp", lr=None, log=None):
    kw = dict(epochs=epochs, batch=rec.batch, seed=seed, fixed=fixed, n_train=n_train,
              n_test=n_test, log=log, method=method, lr=rec.lr if lr is None else lr)
    if fmt is not None:
        kw["fmt"] = fmt
    return train(topology, cfg or rec.cfg, data, **kw)


def dedup_links(topology, seed=0):
    """Make every (source interface, target interface) pair carry at most one link.

    golden.topology's fill rule with ``fan_in > 1`` can draw the same pair of interfaces
    twice, which the network models refuse. Swapping the targets of two links of the same
    layer pair keeps every interface's fan-in and fan-out, so it changes nothing else.
    Returns the number of swaps.
    """
    rng = np.random.default_rng(seed)
    t = topology
    swaps = 0
    for _ in range(1000):
        key = ((t.src_neuron * 5 + t.src_elem) * (5 * t.n_neurons)
               + t.dst_neuron * 5 + t.dst_elem)
        _, first, counts = np.unique(key, return_index=True, return_counts=True)
        dup = np.setdiff1d(np.arange(len(key)), first)
        if len(dup) == 0:
            return swaps
        for i in dup:
            same = np.flatnonzero(t.pair == t.pair[i])
            j = rng.choice(same)
            t.dst_neuron[i], t.dst_neuron[j] = t.dst_neuron[j], t.dst_neuron[i]
            t.dst_elem[i], t.dst_elem[j] = t.dst_elem[j], t.dst_elem[i]
            swaps += 1
    raise RuntimeError("could not remove duplicate links")


def adder_topology(fan_in: int, seed: int = 0, name: str = "model1"):
    t = preset(name, fan_in=fan_in, seed=seed)
    dedup_links(t, seed)
    return t

