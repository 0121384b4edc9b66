"""Training a Wuxing network: BSP (the paper's method 2), float or bit-exact fixed point, and
the exact-gradient baseline.

One BSP step per batch (MODEL.md "Training method 2")::

    forward run (input held on)      -> S, y = outputs(S)
    error = err_scale * (target * onehot - y) -> reverse run -> R
    C <- bsp_update(C, S, R)            (G1 averaged over the batch)

In fixed-point mode the same step runs on :class:`~golden.network.FixedModel` (integer C
registers, batch a power of two) and the error is the chip's integer one,
``FixedModel.error_from_outputs`` of the output integrals and the labels.

``method="gradient"`` replaces BSP by the exact gradient of the output loss
(:mod:`golden.gradient`, backpropagation through time) with Adam: what the topology itself can
reach under the same run settings.

Named recipes (:data:`RECIPES`) hold the settings measured in docs/TRAINING.md. Run one with
``python -m golden.train --recipe NAME``.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from .config import RunConfig, power_of_two_exponent
from .data import Dataset, load_dataset
from .fixedpoint import DEFAULT_FORMAT, LEARNING_FORMAT, FixedFormat
from .network import FixedModel, FloatModel, init_coefficients
from .neuron import MODEL1_NEURON, NeuronParams
from .schedule import StepSchedule
from .topology import Topology, preset

__all__ = ["TrainResult", "TrainState", "Recipe", "RECIPES", "train", "evaluate", "run_recipe",
           "onehot", "MAX_EPOCHS", "StepSchedule", "DEFAULT_RECIPE"]

MAX_EPOCHS = 10_000


def onehot(labels, n: int) -> np.ndarray:
    return np.eye(n)[np.asarray(labels, np.int64)]


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    C: final coefficients (float64, or the integer C registers in fixed mode).
    C_real: final coefficients as real numbers (equal to C in float mode).
    history: one dict per epoch (epoch 0 = before training): epoch, train_acc and
        train_loss (on the batches seen during the epoch, before each update), test_acc,
        test_loss, seconds (cumulative), mean_abs_c, overflow (fraction of held-out samples
        whose forward run saturated a state), step_exp (the step 2**step_exp the epoch
        trained with; None for the gradient method), check_loss and check_errors (the loss
        and the fraction classified wrong on the step schedule's check samples at the end of
        the epoch, if its rule watches them; None otherwise), reverted (the step schedule
        returned to the best epoch's coefficients after this epoch; they are what was
        evaluated).
    best: the history entry with the highest test_acc; best_C: its coefficients.
    """

    C: np.ndarray
    C_real: np.ndarray
    history: list
    best: dict
    best_C: np.ndarray
    fixed: bool
    cfg: RunConfig
    method: str = "bsp"

    def table(self) -> str:
        rows = ["epoch  train_acc  test_acc  test_loss  mean|C|  overflow  step  seconds"]
        for h in self.history:
            tr = "" if h["train_acc"] is None else f"{100 * h['train_acc']:.1f} %"
            st = "" if h.get("step_exp") is None else f"2^{h['step_exp']}"
            st += "*" if h.get("reverted") else ""
            rows.append(f"{h['epoch']:5d}  {tr:>9}  {100 * h['test_acc']:6.1f} %  "
                        f"{h['test_loss']:9.4f}  {h['mean_abs_c']:7.3f}  "
                        f"{100 * h['overflow']:6.1f} %  {st:>5}  {h['seconds']:7.1f}")
        if any(h.get("reverted") for h in self.history):
            rows.append("(* the step schedule returned to the best epoch's coefficients)")
        return "\n".join(rows)


@dataclass
class TrainState:
    """What continues a run exactly after ``epoch`` epochs: the coefficients, the history, the
    best coefficients so far, the shuffling generator's state, (gradient method) Adam's
    state, and the step schedule's state with the coefficients it returns to
    (``schedule``, ``anchor_C``; see golden.schedule). :func:`train` hands one to
    ``on_epoch`` after every epoch and takes one back as ``resume``; golden.checkpoint
    stores it (``train_state``)."""

    epoch: int
    C: np.ndarray
    history: list
    best_C: np.ndarray
    rng_state: dict
    adam: dict | None = None     # m, v, t
    schedule: dict | None = None     # StepSchedule state: step_exp, best_loss, ...
    anchor_C: np.ndarray | None = None

    def as_dict(self) -> dict:
        return dict(epoch=self.epoch, rng_state=self.rng_state, best_C=self.best_C,
                    adam=self.adam, schedule=self.schedule, anchor_C=self.anchor_C)


def _model(topology, cfg, neuron, fixed, fmt):
    if fixed:
        return FixedModel(topology, cfg, neuron, fmt)
    return FloatModel(topology, cfg, neuron, dtype=np.float32)


def _outputs(model, C, x):
    """(real outputs y, overflow per sample) of a forward run."""
    if isinstance(model, FixedModel):
        res = model.forward(C, model.input_to_int(x))
        return model.outputs_real(res), res.overflow.any(axis=1)
    res = model.forward(C, x)
    return model.outputs(res), res.overflow.any(axis=1)


def evaluate(model, C, x, y, batch: int = 256, *, return_overflow: bool = False):
    """(accuracy, mean loss) of ``model`` with coefficients ``C`` on inputs ``x``, labels ``y``.

    Prediction = argmax of the outputs; loss = mean of 0.5 * sum (target * onehot - y)^2
    (``target`` from the model's RunConfig). Works for a
    FloatModel (real C) and a FixedModel (integer C registers).
    """
    x = np.asarray(x)
    y = np.asarray(y, np.int64)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} inputs but {len(y)} labels")
    if len(x) == 0:
        raise ValueError("nothing to evaluate")
    n_out = model.topology.layers[-1]
    correct, total_loss, over = 0, 0.0, 0
    for a in range(0, len(x), batch):
        out, ov = _outputs(model, C, x[a:a + batch])
        t = model.cfg.target * onehot(y[a:a + batch], n_out)
        correct += int(np.sum(np.argmax(out, axis=1) == y[a:a + batch]))
        total_loss += float(np.sum(0.5 * np.sum((t - out) ** 2, axis=1)))
        over += int(ov.sum())
    acc, lo = correct / len(x), total_loss / len(x)
    return (acc, lo, over / len(x)) if return_overflow else (acc, lo)


def train(topology: Topology, cfg: RunConfig, data: Dataset, *, epochs: int, batch: int,
          seed: int = 0, neuron: NeuronParams = MODEL1_NEURON, fixed: bool = False,
          fmt: FixedFormat = DEFAULT_FORMAT, C0=None, progress=None, log=None,
          method: str = "bsp", lr: float = 0.01, n_train: int | None = None,
          n_test: int | None = None, on_epoch=None,
          resume: TrainState | None = None,
          schedule: StepSchedule | None = None) -> TrainResult:
    """Train ``topology`` on ``data`` and return a :class:`TrainResult`.

    Parameters
    ----------
    epochs, batch: passes over the training set and samples per update (in fixed mode a
        power of two). The last incomplete batch of an epoch is left out (the order is
        reshuffled every epoch from ``seed``).
    seed: seeds the initial coefficients (unless ``C0`` is given) and the shuffling.
    fixed: train the bit-exact FixedModel (format ``fmt``; the recipes use
        :data:`~golden.fixedpoint.LEARNING_FORMAT`); ``C0`` is then either integer registers
        or real coefficients (float dtype), which are quantised. The error of each sample is
        the chip's integer one, ``FixedModel.error_from_outputs``.
    progress: optional callable ``(done, total)`` called after every update.
    log: optional callable ``(text)`` called with one line per epoch.
    method: ``"bsp"`` (the paper's method 2) or ``"gradient"`` (exact gradient with Adam at
        learning rate ``lr``, float only).
    n_train, n_test: use only the first samples of each part (quick runs).
    on_epoch: optional callable ``(TrainState)`` called after every epoch (and epoch 0).
    resume: a :class:`TrainState` of this same run: training continues after its epoch, with
        the same numbers an uninterrupted run has (``C0`` is then ignored).
    schedule: the BSP step schedule (:class:`~golden.schedule.StepSchedule`; default
        constant: ``cfg.step`` throughout). A rule other than constant needs a power-of-two
        ``cfg.step`` (its start), in float as in fixed point.
    """
    if not isinstance(epochs, (int, np.integer)) or not 0 <= epochs <= MAX_EPOCHS:
        raise ValueError(f"epochs must be an integer in 0..{MAX_EPOCHS}, got {epochs!r}")
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    if method not in ("bsp", "gradient"):
        raise ValueError(f"method must be 'bsp' or 'gradient', got {method!r}")
    if fixed and method != "bsp":
        raise ValueError("the exact-gradient baseline runs in float only")
    schedule = StepSchedule() if schedule is None else schedule
    if not isinstance(schedule, StepSchedule):
        raise TypeError(f"schedule must be a StepSchedule, not {type(schedule).__name__}")
    if schedule.rule != "constant" and method != "bsp":
        raise ValueError("a step schedule changes the BSP step; the gradient method has none")
    if data.n_inputs != topology.layers[0]:
        raise ValueError(f"dataset {data.name} has {data.n_inputs} inputs but the topology's "
                         f"input layer has {topology.layers[0]} neurons")
    if data.n_classes > topology.layers[-1]:
        raise ValueError(f"dataset {data.name} has {data.n_classes} classes but the topology "
                         f"has {topology.layers[-1]} outputs")
    model = _model(topology, cfg, neuron, fixed, fmt)
    if fixed:
        model.bsp_shifts(batch)  # a clear error now if batch is not a power of two
    xtr, ytr = data.x_train[:n_train], data.y_train[:n_train]
    xte, yte = data.x_test[:n_test], data.y_test[:n_test]
    # the step schedule's check samples: the first training samples, or a validation split
    # held back from training (the held-out set is never one of them)
    if schedule.validate:
        if schedule.validate >= len(xtr):
            raise ValueError(f"the schedule holds back {schedule.validate} samples to validate "
                             f"on, but the training set has only {len(xtr)}")
        xchk, ychk = xtr[-schedule.validate:], ytr[-schedule.validate:]
        xtr, ytr = xtr[:-schedule.validate], ytr[:-schedule.validate]
    else:
        xchk, ychk = xtr[:schedule.check], ytr[:schedule.check]
    if len(xtr) < batch:
        raise ValueError(f"batch {batch} is larger than the training set ({len(xtr)})")
    n_out = topology.layers[-1]

    if C0 is None:
        C = init_coefficients(topology, cfg, seed)
    else:
        C = np.asarray(C0)
        if C.shape != (topology.n_links,):
            raise ValueError(f"C0 needs {topology.n_links} values, got shape {C.shape}")
    if fixed:
        C = model.coef_to_int(C) if C.dtype.kind == "f" else np.asarray(C, np.int64).copy()
    else:
        C = np.asarray(C, np.float64).copy()
    to_real = model.coef_to_real if fixed else (lambda c: c)

    grad = opt = None
    if method == "gradient":
        from .gradient import Adam, Gradient
        grad = Gradient(FloatModel(topology, cfg, neuron, dtype=np.float64))
        opt = Adam(lr)

    scheduled = schedule.rule != "constant"
    # the step schedule's state (None: the RunConfig's step throughout)
    sched = schedule.start(power_of_two_exponent(cfg.step, "step")) if scheduled else None
    anchor_C = None

    def check_of(C):
        """(loss, fraction classified wrong) on the step schedule's check samples (the first
        training samples, or the validation split), and the one the schedule watches."""
        acc, loss = evaluate(model, C, xchk, ychk)
        return loss, 1.0 - acc, (1.0 - acc if schedule.watch == "errors" else loss)

    rng = np.random.default_rng(seed + 1)
    per_epoch = len(xtr) // batch
    total, done = epochs * per_epoch, 0
    t0 = time.perf_counter()
    history = []
    first = 1
    if resume is not None:
        if resume.epoch > epochs:
            raise ValueError(f"the run to resume has done {resume.epoch} epochs, more than "
                             f"the {epochs} asked for")
        C = np.array(resume.C, dtype=C.dtype)
        if C.shape != (topology.n_links,):
            raise ValueError(f"the state to resume has {C.size} coefficients, the topology "
                             f"{topology.n_links} links")
        history = [dict(h) for h in resume.history]
        rng.bit_generator.state = resume.rng_state
        if opt is not None and resume.adam is not None:
            opt.m = np.array(resume.adam["m"], np.float64)
            opt.v = np.array(resume.adam["v"], np.float64)
            opt.t = int(resume.adam["t"])
        if scheduled:
            if resume.schedule is None or resume.anchor_C is None:
                raise ValueError("the state to resume holds no step-schedule state")
            sched = dict(resume.schedule)
            anchor_C = np.array(resume.anchor_C, dtype=C.dtype)
        first = resume.epoch + 1
        done = resume.epoch * per_epoch
        t0 -= history[-1]["seconds"]     # seconds stay cumulative over the whole run

    def record(epoch, train_acc, train_loss=None, step_exp=None, check=(None, None),
               reverted=False):
        acc, lo, ov = evaluate(model, C, xte, yte, return_overflow=True)
        h = dict(epoch=epoch, train_acc=train_acc, train_loss=train_loss, test_acc=acc,
                 test_loss=lo, seconds=time.perf_counter() - t0,
                 mean_abs_c=float(np.mean(np.abs(to_real(C)))), overflow=ov,
                 step_exp=step_exp, check_loss=check[0], check_errors=check[1],
                 reverted=reverted)
        history.append(h)
        if log:
            tr = "   -  " if train_acc is None else f"{100 * train_acc:5.1f}%"
            st = "" if step_exp is None else f"  step 2^{step_exp}"
            if reverted:
                st += f" (worse: back to epoch {sched['best_epoch']}'s C, step halved)"
            log(f"epoch {epoch:3d}  train {tr}  held-out {100 * acc:5.1f}%  loss {lo:.4f}  "
                f"mean|C| {h['mean_abs_c']:.3f}  overflow {100 * ov:.1f}%  "
                f"{h['seconds']:.0f}s{st}")
        return h

    def state(epoch):
        adam = None if opt is None or opt.m is None else dict(m=opt.m.copy(), v=opt.v.copy(),
                                                              t=opt.t)
        return TrainState(epoch=epoch, C=C.copy(), history=[dict(h) for h in history],
                          best_C=best_C.copy(), rng_state=rng.bit_generator.state, adam=adam,
                          schedule=None if sched is None else dict(sched),
                          anchor_C=None if anchor_C is None else anchor_C.copy())

    if resume is None:
        anchor_C = C.copy() if scheduled else None
        check = (None, None)
        if scheduled and schedule.watches_check:
            *check, watched = check_of(C)
            sched = schedule.start(sched["step_exp"], watched)
        best = record(0, None, check=check)
        best_C = C.copy()
        if on_epoch:
            on_epoch(state(0))
    else:
        # the first highest held-out accuracy, as the loop below keeps it
        best = max(history, key=lambda h: h["test_acc"])
        best_C = np.array(resume.best_C, dtype=C.dtype)
    for epoch in range(first, epochs + 1):
        order = rng.permutation(len(xtr))
        correct, loss_sum = 0, 0.0
        # the epoch's step: the schedule's, else the RunConfig's (recorded if a power of two)
        step_exp = sched["step_exp"] if sched is not None else \
            _exponent_or_none(cfg.step) if method == "bsp" else None
        for b in range(per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            xb, yb = xtr[idx], ytr[idx]
            tb = cfg.target * onehot(yb, n_out)
            if method == "gradient":
                _, g, out = grad.loss_and_gradient(C, xb, tb)
                C = np.clip(opt.step(C, g), cfg.c_min, cfg.c_max)
            elif fixed:
                res = model.forward(C, model.input_to_int(xb))
                out = model.outputs_real(res)
                rev = model.reverse(C, model.error_from_outputs(model.outputs(res), yb))
                C = model.bsp_update(C, res.S, rev.S, step_exp)
            else:
                res = model.forward(C, xb)
                out = model.outputs(res)
                rev = model.reverse(C, model.error(out, tb))
                C = model.bsp_update(C, res.S, rev.S, None if sched is None else step_exp)
            correct += int(np.sum(np.argmax(out, axis=1) == yb))
            loss_sum += float(np.sum(0.5 * np.sum((tb - out) ** 2, axis=1)))
            done += 1
            if progress:
                progress(done, total)
        reverted, check, watched = False, (None, None), None
        if sched is not None:
            if schedule.watches_check:
                *check, watched = check_of(C)
            sched, reverted = schedule.after_epoch(sched, epoch, watched)
            if reverted:
                C = anchor_C.copy()
            elif sched["best_epoch"] == epoch:
                anchor_C = C.copy()
        h = record(epoch, correct / (per_epoch * batch), loss_sum / (per_epoch * batch),
                   step_exp, check, reverted)
        if h["test_acc"] > best["test_acc"]:
            best, best_C = h, C.copy()
        if on_epoch:
            on_epoch(state(epoch))
    return TrainResult(C=C, C_real=to_real(C), history=history, best=best, best_C=best_C,
                       fixed=fixed, cfg=cfg, method=method)


# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipe:
    """A named, measured training setup (see docs/TRAINING.md)."""

    description: str
    topology: str
    cfg: RunConfig
    dataset: str
    epochs: int
    batch: int
    topology_overrides: dict = field(default_factory=dict)
    method: str = "bsp"
    lr: float = 0.01
    fixed: bool = False
    fmt: FixedFormat = LEARNING_FORMAT    # the number format of fixed-point training
    schedule: StepSchedule = StepSchedule()   # the BSP step over the epochs (from cfg.step)

    def build_topology(self) -> Topology:
        return preset(self.topology, **self.topology_overrides)


HALVE_ON_WORSE = StepSchedule("halve-on-worse")
DEFAULT_RECIPE = "demo"       # of `wuxing train` and `wuxing demo`

RECIPES = {
    # the default of `wuxing train` and `wuxing demo` (docs/TRAINING.md "The demo network")
    "demo": Recipe(
        description="demo network (64, 24, 10), fan-in 8, on 8x8 digits, BSP; the step "
                    "halves when the loss on the check samples gets worse",
        topology="demo", dataset="digits", epochs=30, batch=16, schedule=HALVE_ON_WORSE,
        cfg=RunConfig(h_shift=1, steps=32, target=0.1, input_scale=0.5, kt=2.0 ** 2,
                      step=2.0 ** -2, c_min=-1.0, c_max=1.0, c_init_hi=0.5)),
    # measured in docs/TRAINING.md; every step and kt is a power of two (the hardware shifts)
    "tiny-digits4": Recipe(
        description="tiny network (16, 16, 10) on 4x4 digits, BSP (float; fixed point learns "
                    "with the same settings)",
        topology="tiny", dataset="digits4", epochs=15, batch=8,
        cfg=RunConfig(target=0.1, kt=2.0 ** 6, step=2.0 ** -4, c_min=-2.0, c_max=2.0)),
    # MODEL1: h = 1/2 for 40 steps (T = 20, the window of 80 steps at h = 1/4), so the chip
    # trains a sample in about half the clocks; batch 16 and half the former C range (fewer
    # collapses) lift both recipes. Fan-in 4 also gains from h = 1/2, fan-in 1 loses to 80
    # steps at the same batch and range (docs/TRAINING.md "40 Euler steps at h = 1/2")
    "model1-mnist": Recipe(
        description="MODEL1 (fan-in 1) on MNIST (8,000 / 2,000), BSP; the step halves when "
                    "the loss on the check samples gets worse",
        topology="model1", dataset="mnist", epochs=10, batch=16,
        cfg=RunConfig(h_shift=1, steps=40, target=0.1, step=2.0 ** 0, kt=2.0 ** 4, c_min=-1.0,
                      c_max=1.0),
        schedule=HALVE_ON_WORSE),
    # fan-in 1's target (>= 65 %, no epoch 2 points below the one before) at twice the chip's
    # clocks a sample: 80 steps at h = 1/4 (the same T = 20), batch 8, the input at half scale
    # (0-5 % of samples reach a state limit instead of 72-83 %), and the step also halved
    # after every 4th epoch (the falls came at epoch 5 at step 2^0; docs/TRAINING.md)
    "model1-mnist-80": Recipe(
        description="MODEL1 (fan-in 1) on MNIST (8,000 / 2,000), BSP at 80 Euler steps of "
                    "h = 1/4; the step halves when the loss on the check samples gets worse "
                    "and after every 4th epoch",
        topology="model1", dataset="mnist", epochs=10, batch=8,
        cfg=RunConfig(h_shift=2, steps=80, target=0.1, input_scale=0.5, step=2.0 ** 0,
                      kt=2.0 ** 4, c_min=-1.0, c_max=1.0),
        schedule=StepSchedule("halve-on-worse", every=4)),
    # the adder: C0, the C range and the step divided by sqrt(fan-in) = 2 (docs/TRAINING.md)
    "model1-fan4-mnist": Recipe(
        description="MODEL1 with the adder (fan-in 4) on MNIST (8,000 / 2,000), BSP; the step "
                    "halves when the loss on the check samples gets worse",
        topology="model1", topology_overrides=dict(fan_in=4, fan_out=4), dataset="mnist",
        epochs=10, batch=16, schedule=HALVE_ON_WORSE,
        cfg=RunConfig(h_shift=1, steps=40, target=0.1, step=2.0 ** -1, kt=2.0 ** 4,
                      c_min=-0.5, c_max=0.5, c_init_hi=0.5)),
    "fashion-fan4": Recipe(
        description="MODEL1 with the adder (fan-in 4) on Fashion-MNIST (60,000 / 10,000), "
                    "BSP; the step halves when the loss on the check samples gets worse",
        topology="model1", topology_overrides=dict(fan_in=4, fan_out=4),
        dataset="fashion-mnist", epochs=10, batch=32, schedule=HALVE_ON_WORSE,
        cfg=RunConfig(target=0.1, step=2.0 ** -3, kt=2.0 ** 4, c_min=-1.0, c_max=1.0,
                      c_init_hi=0.5)),
    "model1-mnist-gradient": Recipe(
        description="MODEL1 on MNIST trained by the exact gradient (BPTT) with Adam: what the "
                    "topology reaches under the same run settings",
        topology="model1", dataset="mnist", epochs=3, batch=32, method="gradient", lr=0.01,
        cfg=RunConfig(target=0.1, step=2.0 ** 0, kt=2.0 ** 4, c_min=-2.0, c_max=2.0)),
}


def _exponent_or_none(step: float):
    """The exponent of a power-of-two step (recorded in the history), else None."""
    try:
        return power_of_two_exponent(step, "step")
    except ValueError:
        return None


def run_recipe(name: str, *, epochs=None, batch=None, seed=0, fixed=None, method=None,
               n_train=None, n_test=None, progress=None, log=None, data_dir=None,
               schedule: StepSchedule | None = None):
    """Train a named recipe (optionally overriding epochs, batch, seed, mode, method and
    step schedule)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    r = RECIPES[name]
    data = load_dataset(r.dataset, data_dir)
    return train(r.build_topology(), r.cfg, data,
                 epochs=r.epochs if epochs is None else epochs,
                 batch=r.batch if batch is None else batch, seed=seed,
                 fixed=r.fixed if fixed is None else fixed,
                 method=r.method if method is None else method, lr=r.lr, fmt=r.fmt,
                 n_train=n_train, n_test=n_test, progress=progress, log=log,
                 schedule=recipe_schedule(r, method, schedule))


def recipe_schedule(r: Recipe, method=None, schedule: StepSchedule | None = None):
    """The step schedule a run of recipe ``r`` uses: ``schedule`` if given, else the
    recipe's (constant for the gradient method, which has no BSP step)."""
    if schedule is not None:
        return schedule
    return StepSchedule() if (method or r.method) != "bsp" else r.schedule


def add_run_args(p):
    """The options that change a recipe's run (``python -m golden.train``, ``wuxing train``)."""
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--batch", type=int, help="override the recipe's batch size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fixed", action="store_true", help="train the bit-exact fixed-point model")
    p.add_argument("--method", choices=("bsp", "gradient"),
                   help="bsp (the paper's method 2) or gradient (exact-gradient baseline)")
    p.add_argument("--n-train", type=int, help="use only the first N training samples")
    p.add_argument("--n-test", type=int, help="use only the first N held-out samples")
    p.add_argument("--schedule", metavar="RULE", type=_schedule_arg,
                   help="the BSP step schedule (default: the recipe's): constant, "
                        "halve-every:N (halve the step after every N epochs) or "
                        "halve-on-worse (after an epoch whose loss on the first 2,000 "
                        "training samples, :check=N, is higher than the best epoch's: halve "
                        "the step and return to that epoch's coefficients; :watch=errors "
                        "watches their classification error instead, :validate=N checks on "
                        "the last N training samples held back from training, :no-revert "
                        "only halves, :every=N also halves after every N-th epoch that was "
                        "not worse); each takes :floor=E (smallest step 2**E)")


def _schedule_arg(text):
    try:
        return StepSchedule.parse(text)
    except (TypeError, ValueError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m wuxing.golden.train",
                                description="Train a named recipe and print the curve.")
    p.add_argument("--recipe", default=DEFAULT_RECIPE, choices=sorted(RECIPES))
    add_run_args(p)
    p.add_argument("--json", metavar="PATH", help="write the history as JSON")
    a = p.parse_args(argv)
    try:
        res = run_recipe(a.recipe, epochs=a.epochs, batch=a.batch, seed=a.seed,
                         fixed=True if a.fixed else None, method=a.method,
                         n_train=a.n_train, n_test=a.n_test, log=print, schedule=a.schedule)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(res.table())
    print(f"best held-out accuracy {100 * res.best['test_acc']:.1f} % at epoch "
          f"{res.best['epoch']}")
    if a.json:
        from .report import write_json
        write_json(a.json, dict(recipe=a.recipe, seed=a.seed, fixed=res.fixed,
                                method=res.method, cfg=res.cfg.as_dict(), history=res.history))
    return 0


if __name__ == "__main__":
    sys.exit(main())
