"""The BSP step schedule (golden.schedule): its rules on hand-made loss curves, its text form,
and a scheduled run that resumes exactly."""
import math

import numpy as np
import pytest

from wuxing.golden.config import RunConfig
from wuxing.golden.data import load_dataset
from wuxing.golden.schedule import StepSchedule
from wuxing.golden.topology import preset
from wuxing.golden.train import train


def walk(schedule, losses, start=0):
    """(step exponent each epoch trained with, epochs after which it reverted)."""
    st = schedule.start(start)
    steps, reverts = [], []
    for epoch, loss in enumerate(losses, 1):
        steps.append(st["step_exp"])
        st, rev = schedule.after_epoch(st, epoch, loss)
        if rev:
            reverts.append(epoch)
    return steps, reverts, st


def test_constant_never_changes():
    steps, reverts, _ = walk(StepSchedule(), [5, 1, 9, 9, math.nan, 0.1], start=-3)
    assert steps == [-3] * 6 and reverts == []


def test_halve_every_n_epochs_down_to_the_floor():
    steps, reverts, st = walk(StepSchedule.parse("halve-every:2:floor=-2"), [1.0] * 9)
    assert steps == [0, 0, -1, -1, -2, -2, -2, -2, -2]
    assert reverts == [] and st["halvings"] == 2


def test_halve_on_worse_halves_and_reverts_only_on_a_rise():
    # falls, a collapse at epoch 4, recovers below the best, a tie, a small rise, NaN
    losses = [0.9, 0.5, 0.4, 7.0, 0.39, 0.39, 0.3901, 0.2, math.nan]
    steps, reverts, st = walk(StepSchedule.parse("halve-on-worse"), losses)
    assert steps == [0, 0, 0, 0, -1, -1, -1, -2, -2]
    assert reverts == [4, 7, 9]
    assert st["best_epoch"] == 8 and st["best_loss"] == 0.2 and st["halvings"] == 3


def test_halve_on_worse_compares_with_the_best_not_the_last():
    # 0.5 then 0.6 (worse than 0.5: halve), 0.55 (still worse than the best 0.5: halve again)
    steps, reverts, _ = walk(StepSchedule.parse("halve-on-worse"), [0.5, 0.6, 0.55, 0.4])
    assert steps == [0, 0, -1, -2] and reverts == [2, 3]


def test_halve_on_worse_without_revert_and_floor():
    steps, reverts, st = walk(StepSchedule.parse("halve-on-worse:no-revert:floor=-1"),
                              [1, 2, 3, 4], start=0)
    assert steps == [0, 0, -1, -1] and reverts == [] and st["halvings"] == 1


def test_halve_on_worse_every_n_also_halves_after_the_nth_epoch_that_was_not_worse():
    # epochs 1-3 better; 4 better and the 4th: halve (no revert); 5 worse: halve and revert;
    # 6, 7 better; 8 better and the 8th: halve
    losses = [0.9, 0.8, 0.7, 0.6, 0.65, 0.5, 0.4, 0.3, 0.2]
    steps, reverts, st = walk(StepSchedule.parse("halve-on-worse:every=4"), losses)
    assert steps == [0, 0, 0, 0, -1, -2, -2, -2, -3]
    assert reverts == [5] and st["halvings"] == 3 and st["best_epoch"] == 9
    # a 4th epoch that is worse halves once, not twice
    steps, reverts, _ = walk(StepSchedule.parse("halve-on-worse:every=4"), [3, 2, 1, 4, 0])
    assert steps == [0, 0, 0, 0, -1] and reverts == [4]


def test_halve_on_worse_undoes_a_first_epoch_worse_than_the_start():
    st = StepSchedule.parse("halve-on-worse").start(-1, loss=0.5)
    st, rev = StepSchedule.parse("halve-on-worse").after_epoch(st, 1, 0.8)
    assert rev and st["step_exp"] == -2 and st["best_epoch"] == 0


def test_the_start_is_never_below_the_floor():
    assert StepSchedule.parse("halve-every:1:floor=-4").start(-8)["step_exp"] == -4


@pytest.mark.parametrize("text", ["constant", "halve-every:3", "halve-on-worse",
                                  "halve-on-worse:no-revert", "halve-every:1:floor=-6",
                                  "halve-on-worse:floor=-3", "halve-on-worse:every=4",
                                  "halve-on-worse:watch=errors:validate=1000:every=3"])
def test_text_form_round_trips(text):
    assert str(StepSchedule.parse(text)) == text


@pytest.mark.parametrize("text,msg", [
    ("halve", "unknown step schedule"), ("", "rule name"), ("halve-every", "every >= 1"),
    ("halve-every:0", "every >= 1"), ("halve-every:x", "must be an integer"),
    ("constant:3", "cannot read"), ("halve-on-worse:floor=9", "floor must be in"),
    ("constant:no-revert", "cannot read"), ("halve-every:2:3", "cannot read"),
    ("halve-on-worse:every=-1", "every must be >= 0"), ("constant:every=2", "cannot read"),
    ("halve-every:every=2", "cannot read")])
def test_bad_rules_are_refused(text, msg):
    with pytest.raises(ValueError, match=msg):
        StepSchedule.parse(text)


# -- in train() ------------------------------------------------------------------------------
# target 1 and a large step: the training loss rises in epoch 2 (float and fixed), so the rule
# acts early (docs/TRAINING.md: target 1 drives BSP off the gradient)
CFG = RunConfig(steps=32, target=1.0, kt=1.0, step=2.0 ** 2, c_min=-2.0, c_max=2.0)


@pytest.fixture(scope="module")
def digits4():
    return load_dataset("digits4")


def run(digits4, epochs, fixed, resume=None, on_epoch=None,
        schedule=StepSchedule.parse("halve-on-worse")):
    return train(preset("tiny"), CFG, digits4, epochs=epochs, batch=8, seed=3, fixed=fixed,
                 n_train=256, n_test=64, schedule=schedule, resume=resume, on_epoch=on_epoch)


@pytest.mark.parametrize("fixed", [False, True], ids=["float", "fixed"])
def test_a_scheduled_run_resumes_exactly(digits4, fixed):
    states = []
    full = run(digits4, 6, fixed, on_epoch=states.append)
    steps = [h["step_exp"] for h in full.history[1:]]
    # the step is large on purpose: the rule acts within these 6 epochs, so resuming after
    # epoch 3 has a schedule state to carry
    assert any(h["reverted"] for h in full.history), steps
    assert steps[0] == 2 and steps[-1] < 2
    part = run(digits4, 6, fixed, resume=states[3])
    assert np.array_equal(part.C, full.C)
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in full.history]
    assert [{k: v for k, v in h.items() if k != "seconds"} for h in part.history] == strip
    # the schedule state is what carries it: resuming with a reset one differs
    reset = states[3]
    reset = type(reset)(**{**reset.__dict__, "schedule": StepSchedule.parse(
        "halve-on-worse").start(2)})
    other = run(digits4, 6, fixed, resume=reset)
    assert not np.array_equal(other.C, full.C)


def test_a_run_with_every_n_resumes_exactly(digits4):
    every = StepSchedule.parse("halve-on-worse:every=2")
    states = []
    full = run(digits4, 6, False, on_epoch=states.append, schedule=every)
    plain = run(digits4, 6, False)
    assert [h["step_exp"] for h in full.history] != [h["step_exp"] for h in plain.history]
    part = run(digits4, 6, False, resume=states[3], schedule=every)
    assert np.array_equal(part.C, full.C)
    assert [h["step_exp"] for h in part.history] == [h["step_exp"] for h in full.history]


def test_a_revert_returns_to_the_best_epochs_coefficients(digits4):
    states = []
    res = run(digits4, 6, False, on_epoch=states.append)
    for h, st in zip(res.history[1:], states[1:]):
        if h["reverted"]:
            best = st.schedule["best_epoch"]
            assert np.array_equal(st.C, states[best].C)
            assert h["test_acc"] == res.history[best]["test_acc"]


def test_the_gradient_method_takes_no_schedule(digits4):
    with pytest.raises(ValueError, match="gradient method has none"):
        train(preset("tiny"), CFG, digits4, epochs=1, batch=8, method="gradient",
              schedule=StepSchedule.parse("halve-every:1"))


def test_a_schedule_needs_a_power_of_two_step(digits4):
    with pytest.raises(ValueError, match="power of two"):
        train(preset("tiny"), CFG.replace(step=0.3), digits4, epochs=1, batch=8,
              schedule=StepSchedule.parse("halve-every:1"))


def test_watch_errors_text_form_and_check():
    s = StepSchedule.parse("halve-on-worse:check=500:watch=errors")
    assert (s.watch, s.check, s.revert) == ("errors", 500, True)
    assert StepSchedule.parse(str(s)) == s and str(s) == "halve-on-worse:check=500:watch=errors"
    assert StepSchedule.parse("halve-on-worse").watch == "loss"
    with pytest.raises(ValueError, match="watch must be one of loss, errors"):
        StepSchedule.parse("halve-on-worse:watch=accuracy")
    with pytest.raises(ValueError, match="cannot read"):
        StepSchedule.parse("halve-every:2:watch=errors")


def test_watch_errors_steers_by_the_check_samples_errors(digits4):
    res = run(digits4, 6, False, schedule=StepSchedule.parse("halve-on-worse:watch=errors"))
    h = res.history
    assert all(0.0 <= e["check_errors"] <= 1.0 and e["check_loss"] > 0 for e in h)
    # replay the rule on the recorded errors: the same steps and reverts as the run took
    # (each revert returns to the best epoch, whose errors then stand for the epoch)
    best, reverts = h[0]["check_errors"], 0
    for e, after in zip(h[1:], h[2:] + [None]):
        worse = not e["check_errors"] <= best
        assert e["reverted"] == worse
        if after is not None:
            assert after["step_exp"] == e["step_exp"] - worse
        best, reverts = (best, reverts + 1) if worse else (e["check_errors"], reverts)
    assert reverts >= 1    # the large step makes the rule act, as in the resume test


def test_validate_text_form_and_checks():
    s = StepSchedule.parse("halve-on-worse:validate=64:watch=errors")
    assert (s.validate, s.watch) == (64, "errors")
    assert StepSchedule.parse(str(s)) == s and "validate=64" in str(s)
    with pytest.raises(ValueError, match="validate must be >= 0"):
        StepSchedule.parse("halve-on-worse:validate=-1")
    with pytest.raises(ValueError, match="only halve-on-worse"):
        StepSchedule(rule="halve-every", every=2, validate=10)
    with pytest.raises(ValueError, match="takes no check=N"):   # it would be ignored
        StepSchedule.parse("halve-on-worse:check=500:validate=64")


def test_validate_holds_the_last_training_samples_back(digits4):
    from wuxing.golden.network import FloatModel, init_coefficients
    from wuxing.golden.train import evaluate
    totals = []
    res = train(preset("tiny"), CFG, digits4, epochs=3, batch=8, seed=3, n_train=256,
                n_test=64, schedule=StepSchedule.parse("halve-on-worse:validate=64"),
                progress=lambda done, total: totals.append(total))
    # trained on the first 192 samples only: 24 batches an epoch, not 32
    assert totals[-1] == 3 * 192 // 8
    # and checked on the 64 after them, from the start
    acc, loss = evaluate(FloatModel(preset("tiny"), CFG), init_coefficients(preset("tiny"), CFG, 3),
                         digits4.x_train[192:256], digits4.y_train[192:256])
    assert res.history[0]["check_loss"] == loss and res.history[0]["check_errors"] == 1.0 - acc
    with pytest.raises(ValueError, match="holds back 256 samples"):
        run(digits4, 1, False, schedule=StepSchedule.parse("halve-on-worse:validate=256"))
