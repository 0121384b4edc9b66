"""Shared pieces of the BSP experiments (2, 3, 4, 6): the recipe settings, a training call
through :func:`golden.train.train`, and the adder topologies."""
from __future__ import annotations

import dataclasses

from wuxing.golden.config import parse_overrides
from wuxing.golden.data import load_dataset
from wuxing.golden.topology import preset
from wuxing.golden.train import RECIPES, train

from .common import mode

# sample counts of the three variants (n_train, n_test); None = the whole part
SIZES = dict(smoke=(64, 64), quick=(2000, 1000), full=(None, None))


def recipe(name: str, overrides=None):
    """The golden.train recipe ``name``, its run settings changed by ``overrides``
    (a list of ``KEY=VALUE`` strings, see :func:`golden.config.parse_overrides`)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    rec = RECIPES[name]
    if overrides:
        rec = dataclasses.replace(rec, cfg=rec.cfg.replace(**parse_overrides(overrides)))
    return rec


def bsp_setup(args, epochs_by_mode: dict):
    """What experiments 2-4 start from: (variant, recipe with the --set changes, dataset,
    n_train, n_test, epochs); sample counts from :data:`SIZES`, epochs from --epochs or
    ``epochs_by_mode[variant]``."""
    m = mode(args)
    n_train, n_test = SIZES[m]
    return (m, recipe(args.recipe, args.set), load_dataset(args.dataset), n_train, n_test,
            args.epochs or epochs_by_mode[m])


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


def adder_topology(fan_in: int, seed: int = 0, name: str = "model1"):
    return preset(name, fan_in=fan_in, seed=seed)

