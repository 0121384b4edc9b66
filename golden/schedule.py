"""The BSP step schedule: which power-of-two step ``2**step_exp`` each epoch trains with.

The hardware holds the step as its exponent (a shift, ``step_exp``), so every rule here
changes the step by whole powers of two, between epochs. A rule is named by a short text a
user can give (``wuxing train --schedule RULE``):

``constant``
    the RunConfig's step for the whole run (what the recipes did before issue #11).
``halve-every:N``
    a fixed decay: the step halves after every N epochs (epochs 1..N at the start step,
    N+1..2N at half of it, ...).
``halve-on-worse``
    after every epoch, measure the loss of the coefficients on the *check samples* (the
    first ``check`` samples of the training set, default 2,000; ``:check=N``; with
    ``:watch=errors`` their classification error instead; with ``:validate=N`` the check
    samples are the last N training samples, held back from training); if it is
    higher than the lowest of the earlier epochs, halve the step and return the
    coefficients to the end of that best epoch (``revert``). BSP collapses suddenly
    (docs/TRAINING.md: the loss of MODEL1 rose 500-fold within one epoch at step 2^0, and
    also at step 2^-3 after 7 epochs), so going back to the last good coefficients and going
    on at half the step is what keeps a collapse from being carried on. Only training data
    steers it: the held-out set stays a measurement. With ``:every=N`` the step also halves
    after every N-th epoch that was not worse (a decay under the rule: epochs that fit the
    training data better can still generalise worse at a large step).

Every rule takes ``:floor=E``: the step never goes below ``2**E`` (default -12). The state
a rule carries between epochs is a small dict (:meth:`StepSchedule.start`,
:meth:`StepSchedule.after_epoch`) that golden.checkpoint stores with the training state, so a
resumed run continues with exactly the steps of an uninterrupted one.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StepSchedule", "RULES", "WATCHES", "DEFAULT_FLOOR"]

RULES = ("constant", "halve-every", "halve-on-worse")
WATCHES = ("loss", "errors")   # what halve-on-worse measures on the check samples
DEFAULT_FLOOR = -12
DEFAULT_CHECK = 2000     # training samples whose loss halve-on-worse watches


@dataclass(frozen=True)
class StepSchedule:
    """A step rule (see the module text). ``every``: epochs per halving (``halve-every``;
    with ``halve-on-worse`` a halving every N epochs besides the ones on worse, 0: none);
    ``floor``: the smallest step exponent; ``revert``: ``halve-on-worse`` returns to the best
    epoch's coefficients when it halves; ``check``: the training samples whose loss
    ``halve-on-worse`` watches; ``watch``: "loss" (their mean loss) or "errors" (the fraction
    of them classified wrong); ``validate``: if > 0, the last ``validate`` training samples
    are held back from training and are the check samples (a validation split of the
    training data) instead of the first ``check`` samples."""

    rule: str = "constant"
    every: int = 0
    floor: int = DEFAULT_FLOOR
    revert: bool = True
    check: int = DEFAULT_CHECK
    watch: str = "loss"
    validate: int = 0

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"unknown step schedule {self.rule!r}; choose from "
                             f"{', '.join(RULES)}")
        for name in ("every", "floor", "check", "validate"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"schedule {name} must be an int, not {type(v).__name__}")
        if (self.rule == "halve-every") and self.every < 1:
            raise ValueError("halve-every needs every >= 1 epochs (halve-every:N)")
        if self.rule == "constant" and self.every:
            raise ValueError("the constant rule takes no every")
        if self.every < 0:
            raise ValueError(f"schedule every must be >= 0 epochs, got {self.every}")
        if not -24 <= self.floor <= 8:
            raise ValueError(f"schedule floor must be in -24..8 (RunConfig's step range), got "
                             f"{self.floor}")
        if not isinstance(self.revert, bool):
            raise TypeError("schedule revert must be a bool")
        if self.watch not in WATCHES:
            raise ValueError(f"schedule watch must be one of {', '.join(WATCHES)}, not "
                             f"{self.watch!r}")
        if self.validate < 0:
            raise ValueError(f"schedule validate must be >= 0 samples, got {self.validate}")
        if self.validate and self.rule != "halve-on-worse":
            raise ValueError("only halve-on-worse reads check samples (validate=N)")
        if self.validate and self.check != DEFAULT_CHECK:
            raise ValueError("validate=N makes the held-back samples the check samples; it "
                             "takes no check=N")
        if self.check < 1:
            raise ValueError(f"schedule check must be at least 1 sample, got {self.check}")

    @property
    def watches_check(self) -> bool:
        """Whether :meth:`after_epoch` needs a measure of the check samples (``watch``)."""
        return self.rule == "halve-on-worse"

    # -- the text form -----------------------------------------------------------------
    @classmethod
    def parse(cls, text: str) -> "StepSchedule":
        """``constant``, ``halve-every:N``, ``halve-on-worse``, each optionally followed by
        ``:floor=E`` (and ``halve-on-worse`` by ``:no-revert``, ``:check=N`` and
        ``:watch=errors``, ``:validate=N``)."""
        if not isinstance(text, str) or not text:
            raise ValueError("a step schedule is a rule name, e.g. halve-on-worse")
        rule, *parts = text.split(":")
        kw = {}
        for p in parts:
            if p.startswith("floor="):
                kw["floor"] = _int(p[6:], "floor", text)
            elif p == "no-revert" and rule == "halve-on-worse":
                kw["revert"] = False
            elif p.startswith("check=") and rule == "halve-on-worse":
                kw["check"] = _int(p[6:], "check", text)
            elif p.startswith("watch=") and rule == "halve-on-worse":
                kw["watch"] = p[6:]
            elif p.startswith("validate=") and rule == "halve-on-worse":
                kw["validate"] = _int(p[9:], "validate", text)
            elif p.startswith("every=") and rule == "halve-on-worse":
                kw["every"] = _int(p[6:], "every", text)
            elif rule == "halve-every" and "every" not in kw and "=" not in p:
                kw["every"] = _int(p, "the epochs per halving", text)
            else:
                raise ValueError(f"step schedule {text!r}: cannot read {p!r} (forms: constant, "
                                 f"halve-every:N, halve-on-worse, each with :floor=E; "
                                 f"halve-on-worse also :no-revert, :check=N, "
                                 f":watch=errors, :validate=N, :every=N)")
        return cls(rule=rule, **kw)

    def __str__(self) -> str:
        s = self.rule + (f":{self.every}" if self.rule == "halve-every" else "")
        if self.rule == "halve-on-worse" and not self.revert:
            s += ":no-revert"
        if self.rule == "halve-on-worse" and self.check != DEFAULT_CHECK:
            s += f":check={self.check}"
        if self.rule == "halve-on-worse" and self.watch != "loss":
            s += f":watch={self.watch}"
        if self.validate:
            s += f":validate={self.validate}"
        if self.rule == "halve-on-worse" and self.every:
            s += f":every={self.every}"
        return s + (f":floor={self.floor}" if self.floor != DEFAULT_FLOOR else "")

    # -- the rule ----------------------------------------------------------------------
    def start(self, step_exp: int, loss: float | None = None) -> dict:
        """The state before epoch 1 of a run whose RunConfig step is ``2**step_exp`` and
        whose initial coefficients have the check loss ``loss`` (``halve-on-worse``: epoch 1
        must do better, or it is undone too; None: epoch 1 is taken as it comes)."""
        if not isinstance(step_exp, int) or isinstance(step_exp, bool):
            raise TypeError(f"step_exp must be an int, not {type(step_exp).__name__}")
        return dict(step_exp=max(step_exp, self.floor),
                    best_loss=None if loss is None else float(loss), best_epoch=0, halvings=0)

    def after_epoch(self, state: dict, epoch: int, loss: float | None) -> tuple[dict, bool]:
        """(the state for the next epoch, whether to return to the best epoch's coefficients)
        after ``epoch`` (1, 2, ...) ended with coefficients whose loss on the check samples
        is ``loss`` (only ``halve-on-worse`` reads it)."""
        st = dict(state)
        revert = False
        if self.rule == "halve-every":
            if epoch % self.every == 0:
                st = self._halve(st)
        elif self.rule == "halve-on-worse":
            best = st["best_loss"]
            if best is not None and not loss <= best:   # a NaN loss is worse too
                st = self._halve(st)
                revert = self.revert
            else:
                st.update(best_loss=float(loss), best_epoch=epoch)
                if self.every and epoch % self.every == 0:
                    st = self._halve(st)
        return st, revert

    def _halve(self, st: dict) -> dict:
        if st["step_exp"] > self.floor:
            st.update(step_exp=st["step_exp"] - 1, halvings=st["halvings"] + 1)
        return st


def _int(s: str, what: str, text: str) -> int:
    try:
        return int(s)
    except ValueError:
        raise ValueError(f"step schedule {text!r}: {what} must be an integer, got "
                         f"{s!r}") from None
