"""Checkpoint round trip and refusal of damaged, foreign and mismatched files."""
import numpy as np
import pytest

from forge import resign
from wuxing.golden.checkpoint import (Checkpoint, CheckpointError, FORMAT_VERSION,
                                      load_checkpoint, save_checkpoint)
from wuxing.golden.config import RunConfig
from wuxing.golden.network import FixedModel, init_coefficients
from wuxing.golden.topology import preset


@pytest.fixture
def ckpt():
    t = preset("tiny")
    cfg = RunConfig(steps=16)
    C = init_coefficients(t, cfg, seed=3)
    C_int = FixedModel(t, cfg).coef_to_int(C)
    return Checkpoint(topology=t, cfg=cfg, C=C, mode="fixed", C_int=C_int, dataset="digits4",
                      history=[{"epoch": 0, "test_acc": 11.0}])


def test_round_trip(tmp_path, ckpt):
    p = save_checkpoint(tmp_path / "a.npz", ckpt)
    back = load_checkpoint(p)
    assert np.array_equal(back.C, ckpt.C)
    assert np.array_equal(back.C_int, ckpt.C_int)
    assert back.cfg == ckpt.cfg and back.fmt == ckpt.fmt and back.neuron == ckpt.neuron
    assert back.topology.digest() == ckpt.topology.digest()
    assert back.history == ckpt.history and back.mode == "fixed"
    assert not list(tmp_path.glob(".*tmp")), "temporary file left behind"


def test_truncated_refused(tmp_path, ckpt):
    p = save_checkpoint(tmp_path / "a.npz", ckpt)
    raw = p.read_bytes()
    for cut in (10, len(raw) // 3, len(raw) - 5):
        q = tmp_path / f"cut{cut}.npz"
        q.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError):
            load_checkpoint(q)


def test_every_flipped_byte_refused_or_harmless(tmp_path, ckpt):
    p = save_checkpoint(tmp_path / "a.npz", ckpt)
    raw = p.read_bytes()
    refused = 0
    for i in range(0, len(raw), 11):
        b = bytearray(raw)
        b[i] ^= 0x04
        q = tmp_path / "flip.npz"
        q.write_bytes(bytes(b))
        try:
            back = load_checkpoint(q)
        except CheckpointError:
            refused += 1
            continue
        # a flip in zip padding or a header's spare bytes may leave the content intact
        assert np.array_equal(back.C, ckpt.C) and np.array_equal(back.C_int, ckpt.C_int)
        assert back.cfg == ckpt.cfg
    assert refused > 0


def test_foreign_files_refused(tmp_path):
    q = tmp_path / "x.npz"
    q.write_text("hello")
    with pytest.raises(CheckpointError, match="not a Wuxing checkpoint"):
        load_checkpoint(q)
    np.savez(tmp_path / "plain.npz", a=np.arange(3))
    with pytest.raises(CheckpointError, match="not a Wuxing checkpoint .a member .a.npy."):
        load_checkpoint(tmp_path / "plain.npz")
    np.savez(tmp_path / "nometa.npz", C=np.zeros(3))
    with pytest.raises(CheckpointError, match="no meta"):
        load_checkpoint(tmp_path / "nometa.npz")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.npz")


def _rewrite(path, edit):
    """Re-save a checkpoint with its meta edited and a valid checksum (a forged file)."""
    resign(path, edit_meta=edit)


def test_version_and_topology_mismatch_refused(tmp_path, ckpt):
    p = save_checkpoint(tmp_path / "a.npz", ckpt)
    _rewrite(p, lambda m: m.update(version=FORMAT_VERSION + 1))
    with pytest.raises(CheckpointError, match="version"):
        load_checkpoint(p)
    p = save_checkpoint(tmp_path / "b.npz", ckpt)
    _rewrite(p, lambda m: m["topology"].update(seed=99))
    with pytest.raises(CheckpointError, match="does not match the stored links"):
        load_checkpoint(p)


def test_bad_construction():
    t = preset("tiny")
    with pytest.raises(ValueError, match="links"):
        Checkpoint(topology=t, cfg=RunConfig(), C=np.zeros(3))
    with pytest.raises(ValueError, match="C_int"):
        Checkpoint(topology=t, cfg=RunConfig(), C=np.zeros(t.n_links), mode="fixed")
