"""The host flow, the same on a real board and in simulation: load coefficients, run inference
on samples, or train on the chip, read the coefficients back. Pure host code over a
:class:`boards.driver.BoardDriver`; the golden model gives the expected integers.
"""
from __future__ import annotations

import numpy as np

from wuxing.golden.network import FixedModel

from .driver import BoardDriver, DeviceError, error_for_outputs
from .protocol import Cmd, pack_values

__all__ = ["host_session", "golden_session", "run_job", "negative_checks"]


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


def negative_checks(drv: BoardDriver, model: FixedModel) -> dict:
    """Requests the device must refuse without changing anything: the status text of each
    refusal, and whether the coefficients read back unchanged."""
    out = {}
    before = drv.read_coefficients().tolist()
    drv.write_coefficients(before)        # a write: the forward integrals are stale now
    n = len(before)
    n_in = model.topology.layers[0]
    cases = {
        "coef_out_of_range": (Cmd.WRITE_COEF, (0).to_bytes(4, "little") +
                              pack_values([0, model.c_hi + 1])),
        "coef_index_past_end": (Cmd.WRITE_COEF, (n - 1).to_bytes(4, "little") +
                                pack_values([1, 2])),
        "input_index_past_end": (Cmd.WRITE_INPUT, n_in.to_bytes(4, "little") +
                                 pack_values([0])),
        "input_wrong_length": (Cmd.WRITE_INPUT, b"\x00\x00\x00"),
        "unknown_command": (0x55, b""),
        "train_without_forward": (Cmd.TRAIN, pack_values([0] * model.topology.layers[-1])),
    }
    for name, (cmd, args) in cases.items():
        try:
            drv.call(cmd, args)
            out[name] = "accepted"
        except DeviceError as e:
            out[name] = str(e)
    out["coefficients_unchanged"] = drv.read_coefficients().tolist() == before
    return out


def run_job(drv: BoardDriver, model: FixedModel, job: dict) -> dict:
    """The session a job describes (``boards.sim``): line noise first (``garbage``, hex),
    :func:`host_session`, then the refusals (``negative``); or, with ``onchip``, training on
    the chip (:func:`onchip_session`). Run the same way against the simulated board and
    against a recording of it."""
    if job.get("garbage"):
        drv.t.write(bytes.fromhex(job["garbage"]))
    if job.get("onchip"):
        return onchip_session(drv, model, job["onchip"])
    targets = job.get("targets")
    result = host_session(drv, model, np.array(job["C_int"], np.int64),
                          np.array(job["x_int"], np.int64),
                          targets=None if targets is None else np.array(targets, np.float64),
                          train=job.get("train", 0))
    if job.get("negative"):
        result["negative"] = negative_checks(drv, model)
        result["status_after_negative"] = drv.status()
    result["link"] = dict(drv.stats, host_frames_dropped=drv.decoder.frames_dropped)
    return result


def onchip_session(drv: BoardDriver, model: FixedModel, spec: dict) -> dict:
    """Training on the chip (:func:`boards.onchip.train_on_chip`) as a job: ``spec`` holds
    ``C_int``, the pixels and labels (``px_train``, ``y_train``, ``px_test``, ``y_test``) and
    ``plans`` (OnChipPlan fields), run one after the other, each from the coefficients the
    previous one left on the chip. Returns the result of each run (``runs``) and the clocks
    each TRAIN_SAMPLE / EVAL_SAMPLE took where the transport counts clocks."""
    from .onchip import OnChipPlan, train_on_chip
    C = np.asarray(spec["C_int"], np.int64)
    data = [np.asarray(spec[k], np.int64) for k in ("px_train", "y_train", "px_test",
                                                    "y_test")]
    data[0], data[2] = data[0].astype(np.uint8), data[2].astype(np.uint8)
    runs = []
    for p in spec["plans"]:
        r = train_on_chip(drv, model, C, *data, OnChipPlan(**p), log=lambda line: None)
        C = np.asarray(r["C_int"], np.int64)
        r["C_int"] = C.tolist()
        runs.append(r)
    out = dict(runs=runs, compared=sum(r["compared"] for r in runs),
               mismatches=sum(r["mismatches"] for r in runs), status=drv.status())
    if spec.get("timing") and hasattr(drv.t, "cycles"):
        out["timing"] = sample_clocks(drv, data[0][0], int(data[1][0]), spec["timing"])
    return out


def sample_clocks(drv: BoardDriver, pixels, label: int, n: int) -> dict:
    """Simulated clocks per TRAIN_SAMPLE and per EVAL_SAMPLE, request to answer (``n`` of
    each, the mean), on a transport that counts clocks (``cycles``): with the UART's byte
    times in the transport (``rx_gap``, ``tx_stall``) the link-limited figure, with a byte
    a clock the compute-limited one."""
    out = {}
    for name, call in (("train_sample", drv.train_pixels), ("eval_sample", drv.eval_pixels)):
        call(pixels, label)                     # counters known, nothing left to ask
        c0 = drv.t.cycles
        for _ in range(n):
            call(pixels, label)
        out[name] = (drv.t.cycles - c0) / n
    return out
