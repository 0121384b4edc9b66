"""golden.onchip.ChipTrainer and FixedModel.predict / pixel_table: the integers of the chip's
TRAIN_SAMPLE / EVAL_SAMPLE commands, against an independent plain-integer reference (Python
ints, the rules written out again) on random cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from wuxing.golden.config import RunConfig
from wuxing.golden.fixedpoint import LEARNING_FORMAT
from wuxing.golden.network import FixedModel
from wuxing.golden.onchip import ChipTrainer
from wuxing.golden.topology import Topology
from test_golden_fixed import ref_atan, ref_atan_entries, rshift_round

ACC_LO, ACC_HI = -(1 << 31), (1 << 31) - 1


def ref_predict(out):
    best = 0
    for i, v in enumerate(out):
        if v > out[best]:
            best = i
    return best


def ref_error(m: FixedModel, out, label):
    M, s = m.output_scale
    e = m.err_exp
    err = []
    for i, S in enumerate(out):
        y = rshift_round(int(S) * M, s)
        d = (m.target_int if i == label else 0) - y
        d = d << e if e >= 0 else rshift_round(d, -e)
        err.append(min(max(d, m.fmt.min_int), m.fmt.max_int))
    return err


def ref_train(m: FixedModel, C, X, labels, j, step_exp):
    """Plain ints: per sample the forward and reverse runs of FixedModel (tested elsewhere),
    then the accumulate / update rules of the chip written out per link."""
    C = [int(c) for c in C]
    A = [0] * len(C)
    fill, correct, preds, after = 0, 0, [], []
    entries = ref_atan_entries(m.table)
    s_in = 2 * m.fmt.frac + 2 * m.cfg.h_shift - m.kt_exp - m.table.table_frac
    s_out = m.table.table_frac + m.kt_exp - step_exp - m.fmt.frac - m.fmt.coef_extra
    for x, label in zip(X, labels):
        res = m.forward(np.array(C), x[None, :])
        out = [int(v) for v in m.outputs(res)[0]]
        p = ref_predict(out)
        preds.append(p)
        correct += p == label
        rev = m.reverse(np.array(C), np.array([ref_error(m, out, label)]))
        S, R = res.S.reshape(-1), rev.S.reshape(-1)
        for k in range(len(C)):
            prod = int(S[m.src_flat[k]]) * int(R[m.dst_flat[k]])
            mag = min(rshift_round(abs(prod), s_in), ACC_HI)
            A[k] = min(max(A[k] + (-mag if prod < 0 else mag), ACC_LO), ACC_HI)
        fill += 1
        if fill == 1 << j:
            for k in range(len(C)):
                y = ref_atan(rshift_round(abs(A[k]), j), m.table, entries)
                d = rshift_round(y, s_out)     # Python ints: any shift is exact
                C[k] = min(max(C[k] + (-d if A[k] < 0 else d), m.c_lo), m.c_hi)
                A[k] = 0
            fill = 0
            after.append(list(C))
    return after, preds, correct


@pytest.mark.parametrize("layers, fan_in, fmt_name, j, step_exp", [
    ((5, 4, 3), 1, "default", 0, None), ((5, 4, 3), 2, "default", 2, -3),
    ((4, 3, 2), 2, "learning", 1, 2),
    # steps beyond the clamped shift range: no change at all, and every changed C at a clamp
    ((5, 4, 3), 1, "learning", 2, -30), ((4, 3, 2), 1, "default", 0, 40)])
def test_chip_trainer_equals_plain_integer_reference(layers, fan_in, fmt_name, j, step_exp):
    topo = Topology(layers=layers, fan_in=fan_in, seed=4)
    fmt = LEARNING_FORMAT if fmt_name == "learning" else None
    cfg = RunConfig(steps=6, step=2.0 ** -2, kt=2.0 ** -4)
    m = FixedModel(topo, cfg, **({"fmt": fmt} if fmt else {}))
    rng = np.random.default_rng(sum(layers) + j)
    C0 = rng.integers(m.c_lo, m.c_hi + 1, topo.n_links)
    n = 3 * (1 << j) + (1 << j) // 2          # three batches and a part of one
    X = m.pixel_to_int(rng.integers(0, 256, (n, layers[0])))
    labels = rng.integers(0, layers[-1], n)
    tr = ChipTrainer(m, C0, batch_log2=j, step_exp=step_exp)
    got = tr.train(X, labels)
    want, preds, correct = ref_train(m, C0, X, labels, j, tr.step_exp)
    compared = sum(len(c) for c in want)
    mismatches = sum(int(a != b) for g, w in zip(got, want) for a, b in zip(g, w))
    print(f"{layers} fan-in {fan_in} {fmt_name} j={j}: {len(got)} batches, {compared} C "
          f"compared, {mismatches} mismatches")
    assert len(got) == len(want) == 3 and compared == 3 * topo.n_links and mismatches == 0
    assert tr.batch_fill == n - 3 * (1 << j) and tr.A.any() == (tr.batch_fill > 0)
    assert tr.samples == n and tr.correct == correct and tr.predicted == preds[-1]
    if step_exp == -30:
        assert all(np.array_equal(g, C0) for g in got)
    else:
        assert any(not np.array_equal(g, C0) for g in got)      # learning changed C
    if step_exp == 40:
        moved = got[-1] != C0
        assert moved.any() and set(got[-1][moved]) <= {m.c_lo, m.c_hi}


def test_chip_batch_equals_bsp_update_of_the_batch():
    """Within a batch C does not change: the batch's C equals FixedModel.bsp_update of the
    batch's integrals run at once (the existing batch rule)."""
    topo = Topology(layers=(5, 4, 3), fan_in=2, seed=1)
    cfg = RunConfig(steps=5)
    m = FixedModel(topo, cfg)
    rng = np.random.default_rng(0)
    C = rng.integers(m.c_lo, m.c_hi + 1, topo.n_links)
    X = m.pixel_to_int(rng.integers(0, 256, (8, 5)))
    labels = rng.integers(0, 3, 8)
    tr = ChipTrainer(m, C, batch_log2=2)
    got = tr.train(X, labels)
    Cb = C
    for b in range(2):
        xb, yb = X[4 * b:4 * b + 4], labels[4 * b:4 * b + 4]
        f = m.forward(Cb, xb)
        r = m.reverse(Cb, m.error_from_outputs(m.outputs(f), yb))
        Cb = m.bsp_update(Cb, f.S, r.S)
        assert got[b].tolist() == Cb.tolist()


def test_eval_sample_counts_without_learning():
    topo = Topology(layers=(4, 3, 2), seed=2)
    m = FixedModel(topo, RunConfig(steps=4))
    C = np.random.default_rng(1).integers(m.c_lo, m.c_hi + 1, topo.n_links)
    X = m.pixel_to_int(np.random.default_rng(2).integers(0, 256, (6, 4)))
    labels = [0, 1, 1, 0, 1, 0]
    tr = ChipTrainer(m, C)
    preds = [tr.eval_sample(x, y) for x, y in zip(X, labels)]
    want = [ref_predict(list(m.outputs(m.forward(C, x[None]))[0])) for x in X]
    assert preds == want and tr.samples == 6
    assert tr.correct == sum(p == y for p, y in zip(want, labels))
    assert tr.C.tolist() == C.tolist() and tr.batch_fill == 0


def test_predict_lowest_index_on_ties():
    out = np.array([[3, 7, 7], [-5, -5, -9], [0, 0, 0], [1, 2, 3]])
    assert FixedModel.predict(out).tolist() == [1, 0, 0, 2]
    assert [ref_predict(list(r)) for r in out] == [1, 0, 0, 2]
    with pytest.raises(ValueError):
        FixedModel.predict(np.zeros(3))


@pytest.mark.parametrize("input_scale", [1.0, 4.0, 20.0])
def test_pixel_table_is_the_datasets_scaling(input_scale):
    """Entry p = input_to_int(p / 255) (golden.data divides pixels by 255.0), by a plain
    reference: round half up of p / 255 * scale * 2**F, saturated."""
    m = FixedModel(Topology(layers=(3, 2)), RunConfig(input_scale=input_scale))
    F = m.fmt.frac
    want = [min(max(math.floor(p / 255.0 * input_scale * (1 << F) + 0.5), m.fmt.min_int),
                m.fmt.max_int) for p in range(256)]
    assert m.pixel_table.tolist() == want
    assert m.input_to_int(np.arange(3) / 255.0).tolist()[0] == want[:3]
    assert m.pixel_to_int(np.array([[0, 255, 7]])).tolist() == [[want[0], want[255], want[7]]]
    with pytest.raises(ValueError):
        m.pixel_to_int([256])
    with pytest.raises(ValueError):
        m.pixel_to_int([0.5])


def test_chip_trainer_rejects_bad_arguments():
    topo = Topology(layers=(3, 2))
    m = FixedModel(topo, RunConfig(steps=3))
    with pytest.raises(ValueError, match="batch_log2"):
        ChipTrainer(m, np.zeros(topo.n_links, np.int64), batch_log2=9)
    with pytest.raises(ValueError, match="C_int"):
        ChipTrainer(m, np.zeros(topo.n_links + 1, np.int64))
    with pytest.raises(TypeError):
        ChipTrainer("model", np.zeros(topo.n_links, np.int64))
    tr = ChipTrainer(m, np.zeros(topo.n_links, np.int64))
    with pytest.raises(ValueError, match="label"):
        tr.train_sample(np.zeros(3, np.int64), 2)
