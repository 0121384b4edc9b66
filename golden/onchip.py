"""The integers of learning on the chip (issue #10): a sequence of TRAIN_SAMPLE and
EVAL_SAMPLE commands, built from :class:`golden.network.FixedModel`'s functions.

What the chip does for one TRAIN_SAMPLE (docs/HARDWARE.md, "Learning on the chip")::

    S      = forward(C, x)                         the inputs in region 0 (or region 8 pixels)
    out    = outputs(S)
    pred   = predict(out)                          the largest output integral, lowest index
    correct += (pred == label); samples += 1
    err    = error_from_outputs(out, label)        left in region 1
    R      = reverse(C, err)
    A      = sat32(A + bsp_accumulate(S, R))       per link (a batch of one: sat32(p))
    fill  += 1
    if fill >= 2**j:                               (batch_log2 = j)
        C = bsp_update_from_accumulator(C, A, j, step_exp);  A = 0;  fill = 0

EVAL_SAMPLE: the forward run, pred, correct and samples; nothing else changes. The counters
are 32-bit registers on the chip (they wrap after 2**32 samples; this model does not).

Within a batch C does not change, so after a batch C equals
``FixedModel.bsp_update(C, S_batch, R_batch, step_exp)`` of the batch's integrals run all
at once (tested).
"""
from __future__ import annotations

import numpy as np

from .network import BSP_ACC_MAX, BSP_ACC_MIN, FixedModel

__all__ = ["ChipTrainer", "MAX_BATCH_LOG2"]

MAX_BATCH_LOG2 = 8
"""The largest batch the chip's ``batch_log2`` register takes: 2**8 = 256 samples."""


class ChipTrainer:
    """The learning state of the chip: C, the per-link accumulators ``A``, ``batch_fill``,
    the registers ``batch_log2`` and ``step_exp``, and ``predicted``, ``correct``,
    ``samples``. ``C_int``: the coefficients at the start; ``step_exp``: None = the
    RunConfig's step exponent (the register's reset value)."""

    def __init__(self, model: FixedModel, C_int, batch_log2: int = 0,
                 step_exp: int | None = None):
        if not isinstance(model, FixedModel):
            raise TypeError(f"model must be a FixedModel, not {type(model).__name__}")
        if (not isinstance(batch_log2, (int, np.integer)) or isinstance(batch_log2, bool)
                or not 0 <= batch_log2 <= MAX_BATCH_LOG2):
            raise ValueError(f"batch_log2 must be an int in 0..{MAX_BATCH_LOG2}, got "
                             f"{batch_log2!r}")
        C = np.asarray(C_int)
        if C.shape != (model.topology.n_links,) or not np.issubdtype(C.dtype, np.integer):
            raise ValueError(f"C_int must be {model.topology.n_links} integers, got shape "
                             f"{C.shape} of {C.dtype}")
        self.model = model
        self.C = C.astype(np.int64).copy()
        self.A = np.zeros_like(self.C)
        self.batch_log2 = int(batch_log2)
        self.step_exp = model._step_exp(step_exp)
        self.batch_fill = 0
        self.predicted = 0
        self.correct = 0
        self.samples = 0

    def _classify(self, x_int, label: int):
        m = self.model
        n = m.topology.layers[-1]
        if not isinstance(label, (int, np.integer)) or not 0 <= label < n:
            raise ValueError(f"label must be an int in 0..{n - 1}, got {label!r}")
        res = m.forward(self.C, np.asarray(x_int, np.int64).reshape(1, -1))
        out = m.outputs(res)
        self.predicted = int(m.predict(out)[0])
        self.correct += int(self.predicted == label)
        self.samples += 1
        return res, out

    def eval_sample(self, x_int, label: int) -> int:
        """EVAL_SAMPLE: the predicted class (the counters updated)."""
        self._classify(x_int, label)
        return self.predicted

    def train_sample(self, x_int, label: int) -> bool:
        """TRAIN_SAMPLE: True when this sample ended a batch (C updated)."""
        m = self.model
        res, out = self._classify(x_int, label)
        self.error = m.error_from_outputs(out, [label])
        rev = m.reverse(self.C, self.error)
        self.A = np.clip(self.A + m.bsp_accumulate(res.S, rev.S), BSP_ACC_MIN, BSP_ACC_MAX)
        self.batch_fill += 1
        if self.batch_fill < (1 << self.batch_log2):
            return False
        self.C = m.bsp_update_from_accumulator(self.C, self.A, self.batch_log2, self.step_exp)
        self.A[:] = 0
        self.batch_fill = 0
        return True

    def train(self, X_int, labels) -> list:
        """TRAIN_SAMPLE for each row of ``X_int`` in order: the list of C after each batch
        that ended (copies)."""
        out = []
        for x, y in zip(np.asarray(X_int), np.asarray(labels)):
            if self.train_sample(x, int(y)):
                out.append(self.C.copy())
        return out
