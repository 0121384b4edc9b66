"""The host flow, the same on a real board and in simulation: load coefficients, run inference
on samples, or train on the chip, read the coefficients back. Pure host code over a
:class:`boards.driver.BoardDriver`; the golden model gives the expected integers.
"""
from __future__ import annotations

import numpy as np

from wuxing.golden.network import FixedModel

from .driver import BoardDriver, error_for_outputs

__all__ = ["host_session", "golden_session"]


def host_session(drv: BoardDriver, model: FixedModel, C_int, x_int, targets=None,
                 train: int = 0, progress=None) -> dict:
    """On the device: write ``C_int``, read it back; run the samples ``x_int`` (n, n_inputs):
    the first ``train`` of them as training steps (with ``targets``), the rest as inference.
    Returns the integers read (outputs per sample, flags, coefficients before/after)."""
    t, cfg = model.topology, model.cfg
    info = drv.check_design(t, cfg, model.neuron, model.fmt, model.table)
    drv.write_coefficients(C_int)
    c_back = drv.read_coefficients()
    outputs, flags = [], []
    for i, x in enumerate(np.asarray(x_int)):
        if i < train:
            out, f = drv.train_sample(model, x, targets[i])
        else:
            out, f = drv.infer(x)
        outputs.append(out)
        flags.append(f)
        if progress:
            progress(i + 1, len(x_int))
    c_after = drv.read_coefficients()
    return dict(info=info.describe(), c_written=np.asarray(C_int).tolist(),
                c_read_back=c_back.tolist(), outputs=np.array(outputs).tolist(),
                flags=flags, c_after=c_after.tolist(), status=drv.status())


def golden_session(model: FixedModel, C_int, x_int, targets=None, train: int = 0) -> dict:
    """What :func:`host_session` must read, from the golden fixed-point model (batch of one,
    the same order of forward, error, reverse and update)."""
    C = np.asarray(C_int, np.int64).copy()
    outputs = []
    for i, x in enumerate(np.asarray(x_int)):
        fwd = model.forward(C, x[None, :])
        out = model.outputs(fwd)[0]
        outputs.append(out)
        if i < train:
            err = error_for_outputs(model, out, targets[i])
            rev = model.reverse(C, err[None, :])
            C = model.bsp_update(C, fwd.S, rev.S)
    return dict(outputs=np.array(outputs).tolist(), c_after=C.tolist())
