"""Checkpoints: a trained network in one versioned, self-checking file.

File format (version 1): a NumPy ``.npz`` archive (zip) holding

* ``meta``: UTF-8 JSON: ``format`` = ``"wuxing-checkpoint"``, ``version``, the topology spec
  and digest, the run settings (:class:`RunConfig`), the neuron parameters, the fixed-point
  format and atan table, the mode (``float`` or ``fixed``), the dataset, the training history,
  and ``sha256`` over the other members;
* ``C``: the coefficients as real numbers (float64), one per link, in topology order;
* ``C_int``: the coefficient registers (int64), in fixed mode;
* ``src_neuron``, ``src_elem``, ``dst_neuron``, ``dst_elem``: the links, so that a topology
  rebuilt from its spec is checked against the one that was trained;
* optionally the state that continues an unfinished training run exactly (``wuxing train
  --resume``): ``meta["train_state"]`` (epochs done, the shuffling generator's state, Adam's
  step count, the step schedule's state) and the arrays ``train_best_C``, ``train_adam_m``,
  ``train_adam_v``, ``train_anchor_C`` (the coefficients the step schedule returns to).

Written atomically (temporary file in the same folder, fsync, rename). A file that is not a
regular file, not a checkpoint, truncated, fails its checksum, has another version, holds
members or settings of the wrong kind, coefficients that are not finite or outside their
range, or whose topology does not rebuild to the stored links is refused with a
:class:`CheckpointError` that says which.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atan_table import DEFAULT_TABLE, AtanTable
from .config import RunConfig
from .fixedpoint import DEFAULT_FORMAT, FixedFormat
from .neuron import MODEL1_NEURON, NeuronParams
from .report import atomic_write, read_regular_file
from .topology import Topology

__all__ = ["Checkpoint", "CheckpointError", "save_checkpoint", "load_checkpoint",
           "checkpoint_bytes", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "wuxing-checkpoint"
FORMAT_VERSION = 1
_LINK_ARRAYS = ("src_neuron", "src_elem", "dst_neuron", "dst_elem")
_STATE_ARRAYS = ("train_best_C", "train_adam_m", "train_adam_v", "train_anchor_C")
_MEMBERS = {"meta", "C", "C_int", *_LINK_ARRAYS, *_STATE_ARRAYS}
MAX_MEMBER_BYTES = 256 << 20     # no member of a checkpoint is larger (MAX_LINKS x 8 bytes = 8 MiB)
MAX_CHECKPOINT_BYTES = 1 << 30   # a checkpoint file, read whole


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why."""


@dataclass
class Checkpoint:
    topology: Topology
    cfg: RunConfig
    C: np.ndarray
    neuron: NeuronParams = MODEL1_NEURON
    fmt: FixedFormat = DEFAULT_FORMAT
    table: AtanTable = DEFAULT_TABLE
    mode: str = "float"
    C_int: np.ndarray | None = None
    dataset: str | None = None
    history: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    # an unfinished run's state (golden.train.TrainState as a dict), or None
    train_state: dict | None = None

    def __post_init__(self):
        if self.mode not in ("float", "fixed"):
            raise ValueError(f"mode must be 'float' or 'fixed', not {self.mode!r}")
        if self.dataset is not None and not isinstance(self.dataset, str):
            raise ValueError(f"dataset must be a name or null, not {self.dataset!r}")
        if not isinstance(self.history, list) or not all(isinstance(h, dict)
                                                         for h in self.history):
            raise ValueError("history must be a list of per-epoch records")
        if not isinstance(self.extra, dict):
            raise ValueError("extra must be a JSON object")
        self.C = np.asarray(self.C, dtype=np.float64)
        if self.C.shape != (self.topology.n_links,):
            raise ValueError(f"C has shape {self.C.shape}, the topology has "
                             f"{self.topology.n_links} links")
        if not np.all(np.isfinite(self.C)):
            raise ValueError(f"C holds {int(np.sum(~np.isfinite(self.C)))} values that are "
                             f"not finite")
        lo, hi = self.cfg.c_min, self.cfg.c_max
        # (in fixed mode the registers are checked, exactly; C is their real value)
        if self.mode == "float" and self.C.size and (self.C.min() < lo or self.C.max() > hi):
            raise ValueError(f"C holds values outside the clamp range [{lo}, {hi}] of its "
                             f"run settings ({self.C.min():g} .. {self.C.max():g})")
        if self.mode == "fixed":
            if self.C_int is None:
                raise ValueError("a fixed-point checkpoint needs C_int")
            self.C_int = np.asarray(self.C_int)
            if self.C_int.dtype.kind not in "iu":
                raise ValueError(f"C_int must hold integers, not {self.C_int.dtype}")
            self.C_int = self.C_int.astype(np.int64)
            if self.C_int.shape != self.C.shape:
                raise ValueError("C_int and C differ in shape")
            c_lo, c_hi = self.fmt.coef_to_int(lo), self.fmt.coef_to_int(hi)
            if self.C_int.size and (self.C_int.min() < c_lo or self.C_int.max() > c_hi):
                raise ValueError(f"C_int holds registers outside [{c_lo}, {c_hi}] (the C range "
                                 f"of its run settings)")
        if self.train_state is not None:
            _check_train_state(self.train_state, self.topology.n_links, len(self.history))


def _check_train_state(st, n_links: int, n_history: int):
    """ValueError unless ``st`` is a training state that fits the checkpoint."""
    if not isinstance(st, dict):
        raise ValueError("train_state must be a JSON object")
    epoch = st.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch != n_history - 1:
        raise ValueError(f"train_state: epoch {epoch!r} does not match the {n_history} "
                         f"history records")
    rs = st.get("rng_state")
    if not isinstance(rs, dict) or rs.get("bit_generator") != "PCG64":
        raise ValueError("train_state: not a PCG64 generator state")
    best = np.asarray(st.get("best_C"))
    if best.shape != (n_links,) or (best.dtype.kind == "f" and not np.all(np.isfinite(best))):
        raise ValueError("train_state: best_C is not one finite value per link")
    adam = st.get("adam")
    if adam is not None:
        if not isinstance(adam, dict) or not isinstance(adam.get("t"), int):
            raise ValueError("train_state: adam must hold m, v and the step count t")
        for k in ("m", "v"):
            a = np.asarray(adam.get(k))
            if a.shape != (n_links,) or not np.all(np.isfinite(a)):
                raise ValueError(f"train_state: adam {k} is not one finite value per link")
    sched = st.get("schedule")
    if sched is not None:
        if not isinstance(sched, dict) or not isinstance(sched.get("step_exp"), int) or \
                not isinstance(sched.get("best_epoch"), int) or \
                not isinstance(sched.get("halvings"), int) or \
                not isinstance(sched.get("best_loss"), (float, int, type(None))):
            raise ValueError("train_state: the step schedule's state is not step_exp, "
                             "best_loss, best_epoch, halvings")
        anchor = np.asarray(st.get("anchor_C"))
        if anchor.shape != (n_links,) or (anchor.dtype.kind == "f" and
                                          not np.all(np.isfinite(anchor))):
            raise ValueError("train_state: anchor_C is not one finite value per link")


def _digest(meta_wo_hash: bytes, arrays: dict) -> str:
    h = hashlib.sha256(meta_wo_hash)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def save_checkpoint(path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` atomically; returns the path."""
    return atomic_write(path, checkpoint_bytes(ckpt))


def checkpoint_bytes(ckpt: Checkpoint) -> bytes:
    """The checkpoint file's bytes (for :func:`golden.report.write_set`)."""
    t = ckpt.topology
    arrays = {"C": ckpt.C}
    if ckpt.C_int is not None:
        arrays["C_int"] = ckpt.C_int
    for name in _LINK_ARRAYS:
        arrays[name] = getattr(t, name).astype(np.int64)
    state = None
    if ckpt.train_state is not None:
        st = ckpt.train_state
        state = dict(epoch=st["epoch"], rng_state=st["rng_state"],
                     adam_t=None if st.get("adam") is None else st["adam"]["t"])
        arrays["train_best_C"] = np.asarray(st["best_C"])
        if st.get("schedule") is not None:
            state["schedule"] = st["schedule"]
            arrays["train_anchor_C"] = np.asarray(st["anchor_C"])
        if st.get("adam") is not None:
            arrays["train_adam_m"] = np.asarray(st["adam"]["m"], np.float64)
            arrays["train_adam_v"] = np.asarray(st["adam"]["v"], np.float64)
    meta = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "topology": t.spec(), "topology_digest": t.digest(),
        "run": ckpt.cfg.as_dict(), "neuron": ckpt.neuron.as_dict(),
        "fixed_format": ckpt.fmt.as_dict(), "atan_table": ckpt.table.as_dict(),
        "mode": ckpt.mode, "dataset": ckpt.dataset, "history": ckpt.history,
        "extra": ckpt.extra,
    }
    if state is not None:
        meta["train_state"] = state
    body = json.dumps(meta, sort_keys=True).encode()
    meta["sha256"] = _digest(body, arrays)
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
             **arrays)
    return buf.getvalue()


def _members(path: Path, raw: bytes) -> dict:
    """The arrays of the archive ``raw`` (read from ``path``), after checking what it holds:
    only the members a checkpoint has, each an ``.npy`` array of bounded size."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or not a "
                              f"checkpoint file: {e})") from None
    names = {i.filename[:-4] if i.filename.endswith(".npy") else i.filename for i in infos}
    odd = sorted(i.filename for i in infos
                 if not i.filename.endswith(".npy") or i.filename[:-4] not in _MEMBERS)
    if odd:
        raise CheckpointError(f"{path} is not a Wuxing checkpoint (a member {odd[0]!r} that is "
                              f"not one of its NumPy arrays)")
    if len(names) != len(infos):
        raise CheckpointError(f"{path} holds a member twice")
    big = [i.filename for i in infos if i.file_size > MAX_MEMBER_BYTES]
    if big:
        raise CheckpointError(f"{path}: member {big[0]} is larger than the "
                              f"{MAX_MEMBER_BYTES >> 20} MiB a checkpoint member may have")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
            NotImplementedError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or not a "
                              f"checkpoint file: {e})") from None
    for k, a in arrays.items():
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "uif" or a.ndim != 1:
            raise CheckpointError(f"{path}: member {k} is not a 1-D array of numbers")
    return arrays


def _meta_fields(meta: dict, path: Path):
    """CheckpointError unless the meta record's fields have their kinds."""
    kinds = {"topology": dict, "run": dict, "neuron": dict, "fixed_format": dict,
             "atan_table": dict, "mode": str, "history": list, "extra": dict,
             "topology_digest": str}
    for k, kind in kinds.items():
        if not isinstance(meta.get(k), kind):
            raise CheckpointError(f"{path}: its meta record's {k!r} is not a "
                                  f"{kind.__name__}")


def load_checkpoint(path) -> Checkpoint:
    """Read and check a checkpoint; raises :class:`CheckpointError` if it cannot be used."""
    path = Path(path)
    raw = read_regular_file(path, MAX_CHECKPOINT_BYTES, "checkpoint", CheckpointError)
    if raw[:4] != b"PK\x03\x04":
        raise CheckpointError(f"{path} is not a Wuxing checkpoint (not an .npz archive)")
    arrays = _members(path, raw)
    if "meta" not in arrays:
        raise CheckpointError(f"{path} is not a Wuxing checkpoint (no meta record)")
    raw = arrays.pop("meta")
    if raw.dtype != np.uint8:
        raise CheckpointError(f"{path}: its meta record is not UTF-8 text")
    try:
        meta = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{path}: its meta record is damaged") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is not a Wuxing checkpoint")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {meta.get('version')}; "
                              f"this toolkit reads version {FORMAT_VERSION}")
    stored = meta.pop("sha256", None)
    body = json.dumps(meta, sort_keys=True).encode()
    if stored != _digest(body, arrays):
        raise CheckpointError(f"{path} fails its checksum: the file is damaged or was edited")
    _meta_fields(meta, path)
    try:
        topo = Topology.from_spec(meta["topology"])
        cfg = RunConfig.from_dict(meta["run"])
        neuron = NeuronParams(**meta["neuron"])
        fmt = FixedFormat(**meta["fixed_format"])
        table = AtanTable(**meta["atan_table"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its settings cannot be used: {e}") from None
    for name in _LINK_ARRAYS:
        if name not in arrays or not np.array_equal(arrays[name], getattr(topo, name)):
            raise CheckpointError(
                f"{path}: the topology rebuilt from its spec does not match the stored links "
                f"({name}); it was made by an incompatible version")
    if topo.digest() != meta.get("topology_digest"):
        raise CheckpointError(f"{path}: topology digest mismatch")
    state = meta.get("train_state")
    if state is not None:
        if not isinstance(state, dict) or "train_best_C" not in arrays:
            raise CheckpointError(f"{path}: its training state is incomplete")
        adam = None
        if state.get("adam_t") is not None:
            adam = dict(t=state["adam_t"], m=arrays.get("train_adam_m"),
                        v=arrays.get("train_adam_v"))
        sched = state.get("schedule")
        if sched is not None and "train_anchor_C" not in arrays:
            raise CheckpointError(f"{path}: its step schedule's state is incomplete")
        state = dict(epoch=state.get("epoch"), rng_state=state.get("rng_state"),
                     best_C=arrays["train_best_C"], adam=adam, schedule=sched,
                     anchor_C=arrays.get("train_anchor_C"))
    try:
        return Checkpoint(topology=topo, cfg=cfg, C=arrays["C"], neuron=neuron, fmt=fmt,
                          table=table, mode=meta["mode"],
                          C_int=arrays.get("C_int"), dataset=meta.get("dataset"),
                          history=meta["history"], extra=meta["extra"], train_state=state)
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: {e}") from None
