"""Checkpoints: a trained network in one versioned, self-checking file.

File format (version 1): a NumPy ``.npz`` archive (zip) holding

* ``meta``: UTF-8 JSON: ``format`` = ``"wuxing-checkpoint"``, ``version``, the topology spec
  and digest, the run settings (:class:`RunConfig`), the neuron parameters, the fixed-point
  format and atan table, the mode (``float`` or ``fixed``), the dataset, the training history,
  and ``sha256`` over the other members;
* ``C``: the coefficients as real numbers (float64), one per link, in topology order;
* ``C_int``: the coefficient registers (int64), in fixed mode;
* ``src_neuron``, ``src_elem``, ``dst_neuron``, ``dst_elem``: the links, so that a topology
  rebuilt from its spec is checked against the one that was trained.

Written atomically (temporary file in the same folder, fsync, rename). A file that is not a
checkpoint, is truncated, fails its checksum, has another version, or whose topology does not
rebuild to the stored links is refused with a :class:`CheckpointError` that says which.
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
from .report import atomic_write
from .topology import Topology

__all__ = ["Checkpoint", "CheckpointError", "save_checkpoint", "load_checkpoint",
           "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "wuxing-checkpoint"
FORMAT_VERSION = 1
_LINK_ARRAYS = ("src_neuron", "src_elem", "dst_neuron", "dst_elem")


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

    def __post_init__(self):
        if self.mode not in ("float", "fixed"):
            raise ValueError(f"mode must be 'float' or 'fixed', not {self.mode!r}")
        self.C = np.asarray(self.C, dtype=np.float64)
        if self.C.shape != (self.topology.n_links,):
            raise ValueError(f"C has shape {self.C.shape}, the topology has "
                             f"{self.topology.n_links} links")
        if self.mode == "fixed":
            if self.C_int is None:
                raise ValueError("a fixed-point checkpoint needs C_int")
            self.C_int = np.asarray(self.C_int, dtype=np.int64)
            if self.C_int.shape != self.C.shape:
                raise ValueError("C_int and C differ in shape")


def _digest(meta_wo_hash: bytes, arrays: dict) -> str:
    h = hashlib.sha256(meta_wo_hash)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return h.hexdigest()


def save_checkpoint(path, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` atomically; returns the path."""
    path = Path(path)
    t = ckpt.topology
    arrays = {"C": ckpt.C}
    if ckpt.C_int is not None:
        arrays["C_int"] = ckpt.C_int
    for name in _LINK_ARRAYS:
        arrays[name] = getattr(t, name).astype(np.int64)
    meta = {
        "format": FORMAT_NAME, "version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "topology": t.spec(), "topology_digest": t.digest(),
        "run": ckpt.cfg.as_dict(), "neuron": ckpt.neuron.as_dict(),
        "fixed_format": ckpt.fmt.as_dict(), "atan_table": ckpt.table.as_dict(),
        "mode": ckpt.mode, "dataset": ckpt.dataset, "history": ckpt.history,
        "extra": ckpt.extra,
    }
    body = json.dumps(meta, sort_keys=True).encode()
    meta["sha256"] = _digest(body, arrays)
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
             **arrays)
    return atomic_write(path, buf.getvalue())


def load_checkpoint(path) -> Checkpoint:
    """Read and check a checkpoint; raises :class:`CheckpointError` if it cannot be used."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise CheckpointError(f"{path} is not a Wuxing checkpoint (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
            NotImplementedError, RuntimeError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or not a "
                              f"checkpoint file: {e})") from None
    if "meta" not in arrays:
        raise CheckpointError(f"{path} is not a Wuxing checkpoint (no meta record)")
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
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
    try:
        return Checkpoint(topology=topo, cfg=cfg, C=arrays["C"], neuron=neuron, fmt=fmt,
                          table=table, mode=meta.get("mode", "float"),
                          C_int=arrays.get("C_int"), dataset=meta.get("dataset"),
                          history=meta.get("history", []), extra=meta.get("extra", {}))
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{path}: {e}") from None
