"""Learning on the chip (issue #10), host side: a dataset trained on the board, batch by
batch, with one TRAIN_SAMPLE frame per sample, the held-out accuracy measured on the chip
(EVAL_SAMPLE and its ``correct`` counter) and the chip's coefficients compared with the golden
model trained on the same samples (:class:`golden.onchip.ChipTrainer`).

Pure host code over a :class:`boards.driver.BoardDriver`: the same on a board (serial port),
on the simulated board behind a pseudo-terminal (``--sim``) and on a recorded session
(tests). ``wuxing train --on-chip`` (:mod:`boards.commands`) runs it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from wuxing.golden.errors import UserError
from wuxing.golden.network import FixedModel
from wuxing.golden.onchip import MAX_BATCH_LOG2, ChipTrainer

from .driver import BoardDriver
from .protocol import Flags

__all__ = ["OnChipPlan", "OnChipError", "train_on_chip", "design_for_recipe", "to_pixels",
           "plan_batches", "recipe_schedule"]


class OnChipError(UserError):
    """Training on the chip stopped (overflow, a coefficient that differs from the golden
    model's): the message says where; the last epoch's checkpoint stays as it was."""


def to_pixels(x) -> np.ndarray:
    """8-bit pixels of dataset inputs in [0, 1] (``golden.data`` scales pixels / 255):
    ``round(x * 255)``, the inverse of the chip's pixel table (``FixedModel.pixel_table``)."""
    x = np.asarray(x, np.float64)
    if x.size and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 1):
        raise ValueError("inputs must be in [0, 1] to be sent as 8-bit pixels")
    return np.rint(x * 255).astype(np.uint8)


def recipe_schedule(recipe, override=None):
    """The step schedule of a recipe (``override``: ``wuxing train --schedule``), or None
    where the recipes have none."""
    return override if override is not None else getattr(recipe, "schedule", None)


def design_for_recipe(name: str, arch: str = "serial", lanes: int = 1):
    """The hardware :class:`hdl.generate.Design` recipe ``name`` trains on the chip: its
    topology, run settings and fixed-point learning format (what ``wuxing build --recipe``
    builds)."""
    from wuxing.golden.train import RECIPES
    from wuxing.hdl.generate import Design
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(RECIPES)}")
    r = RECIPES[name]
    return Design(topology=r.build_topology(), cfg=r.cfg, fmt=r.fmt, arch=arch, lanes=lanes,
                  source=f"recipe {name}")


@dataclass
class OnChipPlan:
    """What to train: ``epochs`` passes of ``batch`` (a power of two) samples per update over
    the training pixels, shuffled per epoch from ``seed``; at most ``max_samples`` training
    samples in all (whole batches); the golden check every ``check_every`` batches (0: at
    epoch ends only); ``schedule``: the recipe's step schedule (``golden.schedule.
    StepSchedule``; None: the RunConfig's step throughout); ``allow_overflow``: go on when a
    sample saturates a state (else stop).

    The schedule runs as in golden training, between epochs, through the chip's
    ``step_exp`` register. ``halve-on-worse`` steers by the training loss, which the chip
    does not report (it answers the predicted class, not the outputs): on the chip its loss
    is the training error rate (1 - the accuracy of the chip's predictions on the epoch's
    samples, each before its update), and a return to the best epoch writes that epoch's
    coefficients back to the chip."""

    epochs: int
    batch: int
    seed: int = 0
    max_samples: int | None = None
    check_every: int = 1
    schedule: object = None
    allow_overflow: bool = False
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("epochs", "batch", "check_every", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be a non-negative int, got {v!r}")
        j = self.batch.bit_length() - 1
        if self.batch < 1 or self.batch != 1 << j or j > MAX_BATCH_LOG2:
            raise ValueError(f"the chip's batch is a power of two up to 2**{MAX_BATCH_LOG2}, "
                             f"not {self.batch}")
        if getattr(self.schedule, "validate", 0):
            raise ValueError("on the chip the step schedule steers by the epoch's training "
                             "error; its :validate=N split is for golden training only")
        if self.max_samples is not None and self.max_samples < self.batch:
            raise ValueError(f"--max-samples {self.max_samples} is less than one batch "
                             f"({self.batch})")

    @property
    def batch_log2(self) -> int:
        return self.batch.bit_length() - 1


def plan_batches(plan: OnChipPlan, n_train: int) -> list[np.ndarray]:
    """The sample indices of every epoch (whole batches; the order drawn per epoch from the
    plan's seed; the epochs after ``max_samples`` is reached are empty)."""
    rng = np.random.default_rng(plan.seed + 1)
    per_epoch = (n_train // plan.batch) * plan.batch
    left = per_epoch * plan.epochs if plan.max_samples is None else \
        (plan.max_samples // plan.batch) * plan.batch
    out = []
    for _ in range(plan.epochs):
        order = rng.permutation(n_train)[:min(per_epoch, left)]
        left -= len(order)
        out.append(order)
    return out


def _golden_accuracy(model: FixedModel, C, x_int, labels, chunk: int = 256):
    """(accuracy, predicted classes) of the golden model on held-out samples."""
    pred = []
    for a in range(0, len(x_int), chunk):
        pred.append(model.predict(model.outputs(model.forward(C, x_int[a:a + chunk]))))
    pred = np.concatenate(pred) if pred else np.zeros(0, np.int64)
    return (float(np.mean(pred == labels)) if len(labels) else float("nan")), pred


def train_on_chip(drv: BoardDriver, model: FixedModel, C0, px_train, y_train, px_test, y_test,
                  plan: OnChipPlan, *, progress=None, log=print, on_epoch=None,
                  recipe: str | None = None) -> dict:
    """Train on the device behind ``drv`` and check it against the golden model.

    ``C0``: the starting coefficient registers; ``px_*``: 8-bit pixels (n, n_inputs),
    ``y_*``: labels. After epoch 0 (before training) and every epoch: the held-out accuracy
    measured on the chip (EVAL_SAMPLE, the ``correct`` counter) beside the golden model's,
    every predicted class compared; the coefficients read back and compared; then
    ``on_epoch(record)`` (the checkpoint set). Every ``plan.check_every`` batches the
    coefficients are read back and compared with the golden model trained on the same
    samples. ``recipe``: the name the design came from (the message when the board holds
    another design). Returns the summary (history, compared, mismatches, link, speed)."""
    t = model.topology
    if recipe is None:
        info = drv.check_design(t, model.cfg, model.neuron, model.fmt, model.table,
                                against="the host's design")
    else:
        info = drv.check_design(t, model.cfg, model.neuron, model.fmt, model.table,
                                against=f"recipe {recipe}",
                                remedy=f"build and program its bitstream (wuxing build "
                                       f"--board NAME --recipe {recipe}; wuxing program)")
    C0 = np.asarray(C0, np.int64)
    golden = ChipTrainer(model, C0, plan.batch_log2)
    x_test_int = model.pixel_to_int(px_test)
    counts = dict(coefficients=0, predictions=0, counters=0)
    wrong = dict(coefficients=0, predictions=0, counters=0)
    history, checks = [], 0
    t_train = t_eval = 0.0
    n_trained = n_evaluated = overflows = 0
    t0 = time.perf_counter()

    def compare(kind, chip, gold):
        chip, gold = np.asarray(chip).reshape(-1), np.asarray(gold).reshape(-1)
        counts[kind] += chip.size
        bad = int(np.sum(chip != gold))
        wrong[kind] += bad
        return bad

    def check_coefficients(where: str) -> np.ndarray:
        nonlocal checks
        C = drv.read_coefficients()
        checks += 1
        bad = compare("coefficients", C, golden.C)
        if bad:
            log(f"  {where}: {bad} of {C.size} coefficients differ from the golden model "
                f"(the golden model continues from the chip's)")
            golden.C = C.copy()
        return C

    def evaluate_on_chip() -> dict:
        nonlocal t_eval, n_evaluated
        t1 = time.perf_counter()
        drv.write_reg("correct", 0)
        drv.write_reg("samples", 0)
        preds = np.zeros(len(y_test), np.int64)
        ovf = 0
        for i, (px, y) in enumerate(zip(px_test, y_test)):
            f, preds[i] = drv.eval_pixels(px, int(y))
            ovf += bool(f & Flags.SAMPLE_OVERFLOW)
        correct, samples = drv.read_reg("correct"), drv.read_reg("samples")
        t_eval += time.perf_counter() - t1
        n_evaluated += len(y_test)
        acc_g, pred_g = _golden_accuracy(model, golden.C, x_test_int, np.asarray(y_test))
        compare("predictions", preds, pred_g)
        compare("counters", [correct, samples], [int(np.sum(pred_g == y_test)), len(y_test)])
        n = max(1, samples)
        return dict(test_acc=correct / n, golden_test_acc=acc_g, test_correct=correct,
                    test_samples=samples, test_overflow=ovf / max(1, len(y_test)))

    if drv.read_reg("batch_fill"):
        # a batch left unfinished (an interrupted run): no command clears the chip's
        # accumulators, so one sample at batch 1 ends that batch; C is written next anyway
        log("the chip holds an unfinished batch: one sample at batch 1 empties its "
            "accumulators")
        drv.write_reg("batch_log2", 0)
        drv.train_pixels(px_train[0], int(y_train[0]))
    drv.write_coefficients(C0)
    compare("coefficients", drv.read_coefficients(), C0)
    drv.write_reg("batch_log2", plan.batch_log2)
    epochs_idx = plan_batches(plan, len(y_train))
    total = sum(len(e) for e in epochs_idx)
    rec = dict(epoch=0, train_acc=None, step_exp=None, samples_trained=0,
               seconds=time.perf_counter() - t0, **evaluate_on_chip())
    rec["C_int"] = check_coefficients("before training")
    history.append(rec)
    log(_epoch_line(rec))
    if on_epoch:
        on_epoch(rec, history)
    step_exp = None
    batches_done = 0
    sched = plan.schedule
    scheduled = sched is not None and sched.rule != "constant"
    state = sched.start(model.step_exp) if scheduled else None
    anchor_C = history[0]["C_int"]
    for epoch, order in enumerate(epochs_idx, start=1):
        if not len(order):
            break
        want = state["step_exp"] if scheduled else model.step_exp
        if want != step_exp:
            drv.write_reg("step_exp", want)
            golden.step_exp = step_exp = want
        correct = 0
        t1 = time.perf_counter()
        for b in range(0, len(order), plan.batch):
            for i in order[b:b + plan.batch]:
                f, pred = drv.train_pixels(px_train[i], int(y_train[i]))
                golden.train_sample(model.pixel_to_int(px_train[i])[None, :], int(y_train[i]))
                compare("predictions", [pred], [golden.predicted])
                correct += int(pred == y_train[i])
                n_trained += 1
                if f & Flags.SAMPLE_OVERFLOW:
                    overflows += 1
                    if not plan.allow_overflow:
                        raise OnChipError(
                            f"a state saturated on the chip during training (epoch {epoch}, "
                            f"sample {n_trained}): the run stops and the checkpoint of epoch "
                            f"{epoch - 1} stays; lower the step or pass --allow-overflow")
                if progress:
                    progress(n_trained, total)
            batches_done += 1
            if plan.check_every and batches_done % plan.check_every == 0:
                check_coefficients(f"epoch {epoch}, batch {b // plan.batch + 1}")
        t_train += time.perf_counter() - t1
        train_acc = correct / len(order)
        reverted = False
        if scheduled:
            state, reverted = sched.after_epoch(state, epoch, 1.0 - train_acc)
            if reverted:      # back to the best epoch's coefficients, on chip and golden
                drv.write_coefficients(anchor_C)
                golden.C = np.asarray(anchor_C, np.int64).copy()
        rec = dict(epoch=epoch, train_acc=train_acc, step_exp=step_exp, reverted=reverted,
                   samples_trained=n_trained, **evaluate_on_chip())
        rec["C_int"] = check_coefficients(f"end of epoch {epoch}")
        if scheduled and not reverted and state.get("best_epoch") == epoch:
            anchor_C = rec["C_int"]
        rec["seconds"] = time.perf_counter() - t0
        history.append(rec)
        log(_epoch_line(rec))
        if on_epoch:
            on_epoch(rec, history)
    status = drv.status()
    compared, mismatches = sum(counts.values()), sum(wrong.values())
    return dict(
        info=info.describe(), history=[{k: v for k, v in h.items() if k != "C_int"}
                                       for h in history],
        C_int=history[-1]["C_int"], compared=compared, mismatches=mismatches,
        compared_by_kind=counts, mismatches_by_kind=wrong, coefficient_checks=checks,
        samples_trained=n_trained, samples_evaluated=n_evaluated,
        overflow_samples=overflows,
        train_samples_per_s=n_trained / t_train if t_train else None,
        eval_samples_per_s=n_evaluated / t_eval if t_eval else None,
        seconds=time.perf_counter() - t0, status=status,
        link=dict(drv.stats, host_frames_dropped=drv.decoder.frames_dropped))


def _epoch_line(h: dict) -> str:
    tr = "   -  " if h["train_acc"] is None else f"{100 * h['train_acc']:5.1f}%"
    return (f"epoch {h['epoch']:3d}  train (chip) {tr}  held-out on the chip "
            f"{100 * h['test_acc']:5.1f}% ({h['test_correct']}/{h['test_samples']}), golden "
            f"model {100 * h['golden_test_acc']:5.1f}%  samples {h['samples_trained']}")
