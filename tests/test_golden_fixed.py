"""FixedModel against an independent integer reference written from its documented rules.

The reference below uses plain Python ints and scalar loops over steps, samples, neurons,
elements and links. It is written from the module docstrings of ``golden.network`` (the
hardware arithmetic), ``golden.neuron`` (element offsets), ``golden.fixedpoint`` (round half up,
saturation, formats) and ``golden.atan_table`` (the table); it re-derives the rounding rule and
the table instead of calling them, so that a change of either side shows up here.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from wuxing.golden.atan_table import AtanTable
from wuxing.golden.config import RunConfig
from wuxing.golden.fixedpoint import (LEARNING_FORMAT, FixedFormat, dither_offsets,
                                      dither_seed, wang32)
from wuxing.golden.network import FixedModel
from wuxing.golden.neuron import NeuronParams
from wuxing.golden.topology import Topology


# every test here runs with the Numba kernel and with the NumPy loop
pytestmark = pytest.mark.usefixtures("both_kernels")

# --- the documented rules, re-derived -------------------------------------------------------
def rshift_round(x: int, shift: int) -> int:
    """x * 2**-shift, round half up (add half an LSB, floor); exact left shift if shift <= 0."""
    if shift <= 0:
        return x << -shift
    return (x + (1 << (shift - 1))) >> shift


def clamp(x: int, lo: int, hi: int) -> int:
    return lo if x < lo else hi if x > hi else x


def to_int(value: float, frac: int, lo: int, hi: int) -> int:
    """Real to integer with ``frac`` fraction bits: round half up (exactly), saturate."""
    return clamp(math.floor(Fraction(value) * (1 << frac) + Fraction(1, 2)), lo, hi)


M32 = 0xFFFFFFFF


def ref_wang32(x: int) -> int:
    """Thomas Wang's hash32shift on a 32-bit unsigned int (Python ints, masked)."""
    x &= M32
    x = ((~x) + (x << 15)) & M32
    x ^= x >> 12
    x = (x + (x << 2)) & M32
    x ^= x >> 4
    x = (x + (x << 3) + (x << 11)) & M32
    x ^= x >> 16
    return x


def ref_dither(err_vector, t: int, n: int, e: int, bits: int) -> int:
    """The reverse run's rounding offset of element e of neuron n at step t (fixedpoint
    module docstring): seed = fold of the error vector from 0x9E3779B9."""
    seed = 0x9E3779B9
    for v in err_vector:
        seed = ref_wang32(seed ^ (v & M32))
    r = ref_wang32(ref_wang32((seed + t) & M32) ^ ((n << 3) | e))
    return r & ((1 << bits) - 1)


class RefFormat:
    def __init__(self, width, frac, coef_extra, acc_width, dither=False):
        self.F, self.ce, self.dither = frac, coef_extra, dither
        self.lo, self.hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
        self.acc_lo, self.acc_hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
        cw = width + coef_extra
        self.c_reg_lo, self.c_reg_hi = -(1 << (cw - 1)), (1 << (cw - 1)) - 1

    def state(self, v):
        return to_int(v, self.F, self.lo, self.hi)

    def coef(self, v):
        return to_int(v, self.F + self.ce, self.c_reg_lo, self.c_reg_hi)


def ref_neuron_maps(neuron: NeuronParams, fmt: RefFormat, reverse: bool):
    """Per element i: (lin source, K1, K2, quad partner, K3) as integers (neuron docstring)."""
    a, b = neuron.lin_offset, neuron.quad_offset
    q = fmt.state
    out = []
    for i in range(5):
        if not reverse:   # K1_i E_(i+a) - K2_i E_i - K3_i E_i E_(i+b)
            out.append(((i + a) % 5, q(neuron.k1[i]), q(neuron.k2[i]),
                        (i + b) % 5, q(neuron.k3[i])))
        else:             # K1_(i-a) F_(i-a) - K2_i F_i - K3_(i-b) F_i F_(i-b)
            out.append(((i - a) % 5, q(neuron.k1[(i - a) % 5]), q(neuron.k2[i]),
                        (i - b) % 5, q(neuron.k3[(i - b) % 5])))
    return out


def ref_run(topo: Topology, neuron, fmt: RefFormat, cfg: RunConfig, C: list, ext: list,
            reverse: bool):
    """One run. ``ext[b][k]``: integer input of input neuron k (forward) or error of output
    neuron k (reverse). Returns S[b][n][i], overflow[b][n], E[b][n][i] as nested lists."""
    N = topo.n_neurons
    F, k = fmt.F, cfg.h_shift
    maps = ref_neuron_maps(neuron, fmt, reverse)
    b0 = [fmt.state(v) for v in neuron.fixed_point(reverse)]
    lo, hi = fmt.state(cfg.state_lo), fmt.state(cfg.state_hi)
    if reverse:
        ext_at = {(int(n), int(topo.out_elem)): j for j, n in enumerate(topo.output_neurons)}
    else:
        ext_at = {(int(n), int(topo.in_elem)): j for j, n in enumerate(topo.input_neurons)}
    links = list(zip(topo.src_neuron.tolist(), topo.src_elem.tolist(),
                     topo.dst_neuron.tolist(), topo.dst_elem.tolist(), C))
    S_all, over_all, E_all = [], [], []
    for sample in ext:
        E = [[b0[i] for i in range(5)] for _ in range(N)]
        S = [[0] * 5 for _ in range(N)]
        over = [False] * N
        for t in range(cfg.steps):
            D = [[E[n][i] - b0[i] for i in range(5)] for n in range(N)]
            for n in range(N):
                for i in range(5):
                    S[n][i] = clamp(S[n][i] + D[n][i], fmt.acc_lo, fmt.acc_hi)
            acc = [[0] * 5 for _ in range(N)]
            for sn, se, dn, de, c in links:
                w = c >> fmt.ce                       # top bits of the register: floor
                if reverse:
                    acc[sn][se] += w * D[dn][de]
                else:
                    acc[dn][de] += w * D[sn][se]
            for (n, i), j in ext_at.items():
                acc[n][i] += sample[j] << F
            newE = [[0] * 5 for _ in range(N)]
            for n in range(N):
                for i in range(5):
                    src, k1, k2, partner, k3 = maps[i]
                    q = rshift_round(E[n][i] * E[n][partner], F)
                    a = acc[n][i] + k1 * E[n][src] - k2 * E[n][i] - k3 * q
                    if reverse and fmt.dither:    # floor of (a + r) / 2**(F + k)
                        e = E[n][i] + ((a + ref_dither(sample, t, n, i, F + k)) >> (F + k))
                    else:
                        e = E[n][i] + rshift_round(a, F + k)
                    if e < lo or e > hi:
                        over[n] = True
                        e = clamp(e, lo, hi)
                    newE[n][i] = e
            E = newE
        S_all.append(S)
        over_all.append(over)
        E_all.append(E)
    return S_all, over_all, E_all


def ref_atan_entries(table: AtanTable):
    n = 1 << (table.range_log2 + table.seg_log2)
    return [math.floor(math.atan(i / (1 << table.seg_log2)) * (1 << table.table_frac) + 0.5)
            for i in range(n + 1)]


def ref_atan(x: int, table: AtanTable, entries) -> int:
    """Odd, interpolated between entries, holds the last entry at and beyond the range."""
    mag = abs(x)
    fb = table.table_frac - table.seg_log2
    if mag >= (len(entries) - 1) << fb:
        y = entries[-1]
    else:
        i, r = mag >> fb, mag & ((1 << fb) - 1)
        y = entries[i] + rshift_round((entries[i + 1] - entries[i]) * r, fb)
    return -y if x < 0 else y


ACC32_LO, ACC32_HI = -(1 << 31), (1 << 31) - 1


def ref_bsp(topo, fmt: RefFormat, cfg, table, C, S, R, c_lo, c_hi, step_log2=None):
    """S[b][n][i], R[b][n][i] integrals; returns the new C list. Batch of 2**j: each sample's
    product brought to the table input of a batch of one (sign and magnitude, round half up),
    summed in sample order in a saturating 32-bit accumulator, then shifted by j."""
    B = len(S)
    j = B.bit_length() - 1
    assert 1 << j == B
    kt_log2 = round(math.log2(cfg.kt))
    if step_log2 is None:
        step_log2 = round(math.log2(cfg.step))
    s_in = 2 * fmt.F + 2 * cfg.h_shift - kt_log2 - table.table_frac
    s_out = table.table_frac + kt_log2 - step_log2 - fmt.F - fmt.ce
    entries = ref_atan_entries(table)
    out = []
    for l, c in enumerate(C):
        sn, se = int(topo.src_neuron[l]), int(topo.src_elem[l])
        dn, de = int(topo.dst_neuron[l]), int(topo.dst_elem[l])
        A = 0
        for b in range(B):
            P = S[b][sn][se] * R[b][dn][de]
            p = clamp(rshift_round(abs(P), s_in), 0, ACC32_HI)
            A = clamp(A + (-p if P < 0 else p), ACC32_LO, ACC32_HI)
        x = rshift_round(abs(A), j)
        y = ref_atan(x, table, entries)
        d = rshift_round(y, s_out)
        out.append(clamp(c + (-d if A < 0 else d), c_lo, c_hi))
    return out


# --- helpers ----------------------------------------------------------------------------
def as_nested(arr):
    """(5, N, B) model array to [b][n][i] lists."""
    return np.transpose(arr, (2, 1, 0)).tolist()


def random_coefficients(rng, n, c_lo, c_hi, big=False):
    if big:   # mostly near the clamps, so that states saturate
        C = rng.choice([c_lo, c_hi], n) + rng.integers(-3, 4, n)
    else:
        C = rng.integers(c_lo, c_hi + 1, n)
    C = np.clip(C, c_lo, c_hi)
    C[: min(2, n)] = [c_lo, c_hi][: min(2, n)]    # both clamps always present
    return [int(c) for c in C]


def random_inputs(rng, batch, n, fmt: RefFormat, kind):
    if kind == "zero":
        x = np.zeros((batch, n), np.int64)
    elif kind == "full":     # full-scale positive, negative, zero and mixtures
        x = rng.choice([fmt.lo, fmt.hi, 0, fmt.hi // 2], (batch, n))
    else:                    # realistic: pixels in [0, 1]
        x = rng.integers(0, (1 << fmt.F) + 1, (batch, n))
    return [[int(v) for v in row] for row in x]


CASES = [
    # (format, cfg overrides, neuron, coefficient size, input kind)
    (FixedFormat(), {}, NeuronParams(), False, "pixels"),
    (FixedFormat(), {}, NeuronParams(), True, "full"),
    (FixedFormat(), dict(h_shift=3, steps=25), NeuronParams(), False, "zero"),
    (FixedFormat(12, 8, 4, 16), dict(h_shift=1, steps=20), NeuronParams(), True, "full"),
    (FixedFormat(16, 12, 8, 16), {}, NeuronParams(), True, "full"),     # S saturates
    (FixedFormat(18, 13, 0, 20), dict(state_lo=-2.0, state_hi=3.0), NeuronParams(), True,
     "full"),
    (FixedFormat(10, 6, 3, 12), dict(h_shift=2, steps=30), NeuronParams(), False, "pixels"),
    (FixedFormat(), dict(steps=30),
     NeuronParams(k1=(1.0, 0.9, 1.1, 1.05, 0.95), k2=(0.5, 0.45, 0.55, 0.5, 0.52),
                  k3=(0.5, 0.6, 0.4, 0.45, 0.55)), False, "pixels"),
    (FixedFormat(), dict(steps=30),
     NeuronParams(k1=1.5, k2=0.25, k3=1.0, lin_offset=2, quad_offset=1), True, "full"),
    # the learning format: the reverse run's increments dithered
    (LEARNING_FORMAT, {}, NeuronParams(), False, "pixels"),
    (LEARNING_FORMAT, {}, NeuronParams(), True, "full"),
    (FixedFormat(12, 8, 4, 16, reverse_dither=True), dict(h_shift=1, steps=20),
     NeuronParams(), False, "pixels"),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_fixed_runs_equal_reference(case, small_topologies):
    fmt_, over_cfg, neuron, big, kind = CASES[case]
    rng = np.random.default_rng(100 + case)
    fmt = RefFormat(fmt_.width, fmt_.frac, fmt_.coef_extra, fmt_.acc_width,
                    fmt_.reverse_dither)
    cfg = RunConfig(**{"steps": 24, **over_cfg})
    c_lo, c_hi = fmt.coef(cfg.c_min), fmt.coef(cfg.c_max)
    compared = 0
    any_overflow = any_sat = False
    for topo in small_topologies:
        m = FixedModel(topo, cfg, neuron, fmt_)
        C = random_coefficients(rng, topo.n_links, c_lo, c_hi, big)
        batch = 3
        x = random_inputs(rng, batch, topo.layers[0], fmt, kind)
        err = random_inputs(rng, batch, topo.layers[-1], fmt, kind)
        for reverse, ext in ((False, x), (True, err)):
            res = (m.reverse if reverse else m.forward)(np.array(C), np.array(ext))
            S, over, E = ref_run(topo, neuron, fmt, cfg, C, ext, reverse)
            assert res.S.dtype.kind == "i" and res.final_state.dtype.kind == "i"
            got = (as_nested(res.S), res.overflow.astype(bool).tolist(),
                   as_nested(res.final_state))
            n = res.S.size + res.overflow.size + res.final_state.size
            assert got == (S, over, E), (
                f"{topo.name} {'reverse' if reverse else 'forward'}: FixedModel differs from "
                f"the reference ({n} integers compared)")
            compared += n
            any_overflow |= bool(np.any(over))
            any_sat |= bool(np.any(np.abs(res.S) == -fmt.acc_lo) or np.any(res.S == fmt.acc_hi))
    assert compared > 0
    if kind == "full":   # these cases are there to exercise saturation
        assert any_overflow, "the saturating case did not saturate any state"
    if case == 4:
        assert any_sat, "the short-accumulator case did not saturate any integral"
    print(f"case {case}: {compared} integers equal")


@pytest.mark.parametrize("kt,step,batch", [(1.0, 2.0 ** -8, 1), (1.0, 2.0 ** -8, 4),
                                           (4.0, 2.0 ** -4, 2), (0.5, 1.0, 8),
                                           (2.0 ** -6, 2.0 ** -12, 4)])
def test_bsp_update_equals_reference(kt, step, batch, small_topologies):
    fmt_ = FixedFormat()
    fmt = RefFormat(fmt_.width, fmt_.frac, fmt_.coef_extra, fmt_.acc_width)
    cfg = RunConfig(kt=kt, step=step, steps=20)
    table = AtanTable()
    assert ref_atan_entries(table) == table.entries().tolist(), "atan table entries differ"
    c_lo, c_hi = fmt.coef(cfg.c_min), fmt.coef(cfg.c_max)
    rng = np.random.default_rng(int(kt * 1000) + batch)
    compared = 0
    for topo in small_topologies:
        m = FixedModel(topo, cfg, fmt=fmt_, table=table)
        N = topo.n_neurons
        # integrals: small, large, saturated, zero and of both signs
        scale = rng.choice([1, 1 << 6, 1 << 12, 1 << 18, fmt.acc_hi], (2, 5, N, batch))
        SR = rng.integers(-1 << 8, (1 << 8) + 1, (2, 5, N, batch)) * scale
        SR = np.clip(SR, fmt.acc_lo, fmt.acc_hi)
        SR[:, :, ::3] = 0
        S, R = SR
        C = random_coefficients(rng, topo.n_links, c_lo, c_hi)
        C[2:4] = [c_hi - 1, c_lo + 1][: len(C[2:4])]   # updates that clamp
        got = m.bsp_update(np.array(C), S, R)
        want = ref_bsp(topo, fmt, cfg, table, C, as_nested(S), as_nested(R), c_lo, c_hi)
        assert got.tolist() == want, (f"{topo.name}: bsp_update differs from the reference "
                                      f"({len(want)} integers compared)")
        compared += len(want)
    assert compared > 0


def test_bsp_after_real_runs(small_topologies):
    """The integrals of actual runs, through bsp_update, against the reference end to end."""
    fmt_ = FixedFormat()
    fmt = RefFormat(16, 12, 8, 24)
    cfg = RunConfig(steps=20, step=2.0 ** -2, kt=2.0 ** -4)
    topo = small_topologies[0]
    m = FixedModel(topo, cfg, fmt=fmt_)
    rng = np.random.default_rng(9)
    C = random_coefficients(rng, topo.n_links, fmt.coef(cfg.c_min), fmt.coef(cfg.c_max))
    x = random_inputs(rng, 4, topo.layers[0], fmt, "pixels")
    err = random_inputs(rng, 4, topo.layers[-1], fmt, "full")
    f = m.forward(np.array(C), np.array(x))
    r = m.reverse(np.array(C), np.array(err))
    S, _, _ = ref_run(topo, NeuronParams(), fmt, cfg, C, x, False)
    R, _, _ = ref_run(topo, NeuronParams(), fmt, cfg, C, err, True)
    want = ref_bsp(topo, fmt, cfg, AtanTable(), C, S, R, fmt.coef(cfg.c_min),
                   fmt.coef(cfg.c_max))
    got = m.bsp_update(np.array(C), f.S, r.S).tolist()
    assert got == want, f"{len(want)} integers compared"
    assert got != C, "the update changed nothing: the test would not see an error"


@pytest.mark.parametrize("seed", range(12))
def test_fixed_random_sweep(seed):
    """Random format, run settings, neuron, topology, coefficients and inputs."""
    rng = np.random.default_rng(1000 + seed)
    width = int(rng.integers(10, 21))
    frac = width - 4 - int(rng.integers(0, 3))               # 3..5 integer bits
    fmt_ = FixedFormat(width, frac, int(rng.integers(0, 9)),
                       int(rng.integers(width, min(width + 10, 31) + 1)),
                       reverse_dither=bool(seed % 4 >= 2))
    lo = -float(rng.integers(1, 6))
    cfg = RunConfig(h_shift=int(rng.integers(1, 4)), steps=int(rng.integers(5, 30)),
                    state_lo=lo, state_hi=float(rng.integers(2, 8)),
                    c_min=-float(rng.integers(1, 5)), c_max=float(rng.integers(1, 5)))
    k3 = float(rng.choice([0.25, 0.5, 0.75, 1.0]))
    neuron = NeuronParams(k1=float(rng.choice([0.75, 1.0, 1.5])), k2=0.5, k3=k3,
                          lin_offset=int(rng.choice([-1, 1, 2, -2])),
                          quad_offset=int(rng.choice([-2, 2, 1, -1])))
    layers = tuple(int(n) for n in rng.integers(1, 5, int(rng.integers(2, 5))))
    topo = Topology(layers=layers, seed=seed, in_elem=int(rng.integers(0, 5)),
                    out_elem=int(rng.integers(0, 5)))
    fmt = RefFormat(fmt_.width, fmt_.frac, fmt_.coef_extra, fmt_.acc_width,
                    fmt_.reverse_dither)
    m = FixedModel(topo, cfg, neuron, fmt_)
    C = random_coefficients(rng, topo.n_links, fmt.coef(cfg.c_min), fmt.coef(cfg.c_max),
                            big=bool(seed % 2))
    kind = ["pixels", "full", "zero"][seed % 3]
    x = random_inputs(rng, 2, topo.layers[0], fmt, kind)
    err = random_inputs(rng, 2, topo.layers[-1], fmt, "full")
    compared = 0
    for reverse, ext in ((False, x), (True, err)):
        res = (m.reverse if reverse else m.forward)(np.array(C, np.int64),
                                                    np.array(ext, np.int64))
        want = ref_run(topo, neuron, fmt, cfg, C, ext, reverse)
        got = (as_nested(res.S), res.overflow.astype(bool).tolist(),
               as_nested(res.final_state))
        n = res.S.size + res.overflow.size + res.final_state.size
        assert got == want, f"{topo.layers} {fmt_} {cfg}: differs ({n} integers compared)"
        compared += n
    assert compared > 0


def test_int32_path_equals_int64_path(small_topologies, monkeypatch):
    """FixedModel computes in int32 when its worst-case bound allows: the same integers as
    int64, here at full-scale inputs, coefficients at the clamps and saturating states."""
    import wuxing.golden.network as gn
    fmt_ = FixedFormat()
    cfg = RunConfig(steps=30)
    fmt = RefFormat(16, 12, 8, 24)
    results, compared = {}, 0
    for it in ("auto", np.int64):
        if it is np.int64:
            monkeypatch.setattr(gn, "_fixed_int_type", lambda *a: np.int64)
        out = []
        for topo in small_topologies:
            m = FixedModel(topo, cfg, fmt=fmt_)
            C = np.array(random_coefficients(np.random.default_rng(topo.n_links), topo.n_links,
                                             m.c_lo, m.c_hi, big=True))
            if it == "auto":
                assert gn._fixed_int_type(m, fmt_.coef_mul_operand(C),
                                          np.array([[fmt.lo]]), False, False) is np.int32
            x = np.full((3, topo.layers[0]), fmt.hi)
            x[1] = fmt.lo
            e = np.full((3, topo.layers[-1]), fmt.lo)
            f, r = m.forward(C, x), m.reverse(C, e)
            out += [f.S, f.overflow, f.final_state, r.S, r.overflow, r.final_state]
            assert f.overflow.any() and f.S.dtype == np.int64
        results[str(it)] = out
    for a, b in zip(*results.values()):
        assert np.array_equal(a, b)
        compared += a.size
    assert compared > 1000, f"{compared} integers compared"


# --- the chip's integer error, the batch accumulator, the step at run time -------------------
def ref_output_scale(steps: int, width: int, output_mean: bool, h_shift: int):
    """(M, s): M / 2**s is 1/steps, M = round(2**s / steps) the largest below 2**(width-1),
    factors of two cancelled; without output_mean y = S * h: (1, h_shift)."""
    if not output_mean:
        return 1, h_shift
    best = None
    for s in range(0, 64):
        M = math.floor(Fraction(1 << s, steps) + Fraction(1, 2))
        if M >= 1 << (width - 1):
            break
        best = (M, s)
    M, s = best
    while M % 2 == 0 and s > 0:
        M, s = M // 2, s - 1
    return M, s


def ref_error(out_int, labels, target_int, M, s, err_log2, lo, hi):
    out = []
    for row, lab in zip(out_int, labels):
        e = []
        for k, S in enumerate(row):
            y = rshift_round(S * M, s)
            d = (target_int if k == lab else 0) - y
            d = d << err_log2 if err_log2 >= 0 else rshift_round(d, -err_log2)
            e.append(clamp(d, lo, hi))
        out.append(e)
    return out


@pytest.mark.parametrize("fmt_,over", [
    (FixedFormat(), dict(target=0.1)),
    (FixedFormat(), dict(target=1.0, err_scale=2.0)),
    (FixedFormat(), dict(steps=64, target=0.1, err_scale=8.0)),
    (FixedFormat(), dict(steps=20, output_mean=False, err_scale=0.5)),
    (FixedFormat(12, 8, 4, 20), dict(steps=25, h_shift=3, target=0.25)),
    (FixedFormat(18, 14, 8, 26), dict(steps=80, target=0.1)),
    (FixedFormat(), dict(steps=1, target=0.5)),
])
def test_error_from_outputs_equals_reference(fmt_, over):
    cfg = RunConfig(**over)
    topo = Topology(layers=(3, 6))
    m = FixedModel(topo, cfg, fmt=fmt_)
    fmt = RefFormat(fmt_.width, fmt_.frac, fmt_.coef_extra, fmt_.acc_width)
    M, s = ref_output_scale(cfg.steps, fmt_.width, cfg.output_mean, cfg.h_shift)
    assert m.output_scale == (M, s)
    rng = np.random.default_rng(cfg.steps * 7 + fmt_.width)
    n = 6
    # integrals from zero to the accumulator's limits, of both signs, and ties of the rounding
    S = rng.integers(-1 << 10, 1 << 10, (64, n)) * rng.choice([1, 1 << 6, 1 << 12], (64, n))
    S[0], S[1] = fmt.acc_hi, fmt.acc_lo
    S[2] = np.arange(n) * (1 << max(s - 1, 0))
    labels = rng.integers(0, n, 64)
    t_int = to_int(cfg.target, fmt.F, fmt.lo, fmt.hi)
    want = ref_error(S.tolist(), labels.tolist(), t_int, M, s,
                     round(math.log2(cfg.err_scale)), fmt.lo, fmt.hi)
    got = m.error_from_outputs(S, labels)
    assert got.dtype.kind == "i" and got.tolist() == want, f"{S.size} integers compared"
    assert (got == fmt.hi).any() and (got == fmt.lo).any()      # saturation was exercised
    # the target-vector form gives the same integers for target * onehot
    tv = cfg.target * np.eye(n)[labels]
    assert m.error_from_targets(S, tv).tolist() == want
    # y approximates S / steps (S * h without output_mean) to within one LSB where it fits
    y = m.output_values(S)
    real = S / cfg.steps if cfg.output_mean else S / 2.0 ** cfg.h_shift
    fits = np.abs(real) < 1 << (fmt_.width - 1)
    assert np.all(np.abs(y - real)[fits] <= 1.0)


def test_error_from_outputs_rejects_bad_shapes():
    m = FixedModel(Topology(layers=(2, 3)), RunConfig())
    with pytest.raises(ValueError, match="labels"):
        m.error_from_outputs(np.zeros((2, 3), np.int64), [0, 3])
    with pytest.raises(ValueError, match="one label per sample"):
        m.error_from_outputs(np.zeros((2, 3), np.int64), [0])
    with pytest.raises(ValueError, match="err_scale"):
        FixedModel(Topology(layers=(2, 3)), RunConfig(err_scale=3.0))


def test_integer_error_near_the_float_error(small_topologies):
    """The integer error differs from quantising the float error by at most one LSB."""
    topo = small_topologies[0]
    cfg = RunConfig(target=0.1, steps=40)
    m = FixedModel(topo, cfg)
    rng = np.random.default_rng(4)
    C = m.coef_to_int(rng.uniform(-2, 2, topo.n_links))
    x = m.input_to_int(rng.uniform(0, 1, (16, topo.layers[0])))
    res = m.forward(C, x)
    labels = rng.integers(0, topo.layers[-1], 16)
    tv = cfg.target * np.eye(topo.layers[-1])[labels]
    via_float = m.fmt.to_int(cfg.err_scale * (tv - m.outputs_real(res)))
    got = m.error_from_outputs(m.outputs(res), labels)
    assert np.abs(got - via_float).max() <= 1 and got.size == 16 * topo.layers[-1]


@pytest.mark.parametrize("step_log2", [-12, -3, 0, 2])
def test_bsp_step_exponent_at_run_time(step_log2, small_topologies):
    """bsp_update(..., step_exp=e) is the update of a model built with step 2**e."""
    topo = small_topologies[1]
    cfg = RunConfig(kt=4.0, step=2.0 ** -8, steps=20)
    m = FixedModel(topo, cfg)
    m_e = FixedModel(topo, cfg.replace(step=2.0 ** step_log2))
    fmt = RefFormat(16, 12, 8, 24)
    rng = np.random.default_rng(step_log2 + 20)
    S = rng.integers(-1 << 16, 1 << 16, (5, topo.n_neurons, 4))
    R = rng.integers(-1 << 12, 1 << 12, (5, topo.n_neurons, 4))
    C = random_coefficients(rng, topo.n_links, m.c_lo, m.c_hi)
    got = m.bsp_update(np.array(C), S, R, step_exp=step_log2)
    want = ref_bsp(topo, fmt, cfg, AtanTable(), C, as_nested(S), as_nested(R), m.c_lo, m.c_hi,
                   step_log2=step_log2)
    assert got.tolist() == want == m_e.bsp_update(np.array(C), S, R).tolist()
    assert m.bsp_update(np.array(C), S, R).tolist() == m.bsp_update(np.array(C), S, R,
                                                                      step_exp=-8).tolist()
    with pytest.raises(TypeError, match="step_exp"):
        m.bsp_delta(S, R, step_exp=0.5)


def test_bsp_batch_one_is_the_exact_product_rule(small_topologies):
    """Batch 1: the accumulator gives the integers of x = round_shift(|S R|, s_in) exactly,
    including products far beyond 32 bits (the table saturates either way)."""
    topo = small_topologies[0]
    cfg = RunConfig(kt=2.0 ** -6, step=2.0 ** -2, steps=20)
    m = FixedModel(topo, cfg)
    rng = np.random.default_rng(5)
    compared = 0
    for scale in (1, 1 << 10, 1 << 20, (1 << 23) - 1):
        S = rng.integers(-scale, scale + 1, (5, topo.n_neurons, 1))
        R = rng.integers(-scale, scale + 1, (5, topo.n_neurons, 1))
        s, r = m.link_ends(S, R)
        P = [int(a) * int(b) for a, b in zip(s[:, 0], r[:, 0])]
        s_in, s_out = m.bsp_shifts(1)
        t = ref_atan_entries(m.table)
        want = []
        for p in P:
            d = rshift_round(ref_atan(rshift_round(abs(p), s_in), m.table, t), s_out)
            want.append(-d if p < 0 else d)
        assert m.bsp_delta(S, R).tolist() == want
        compared += len(want)
    assert compared == 4 * topo.n_links


def test_bsp_accumulator_saturates_in_sample_order():
    """Partial sums beyond 32 bits saturate, in sample order (the order is defined)."""
    topo = Topology(layers=(1, 1))
    cfg = RunConfig(kt=2.0 ** -8, steps=20)    # s_in(batch 1) = 2*12 + 4 + 8 - 16 = 20
    m = FixedModel(topo, cfg)
    assert m.bsp_shifts(1)[0] == 20
    S = np.zeros((5, 2, 4), np.int64)
    R = np.zeros((5, 2, 4), np.int64)
    sf, df = m.src_flat[0], m.dst_flat[0]
    # per-sample products of +-2**50 -> 2**30 each at the table input
    vals = [1, 1, 1, -1]
    for b, v in enumerate(vals):
        S.reshape(10, 4)[sf, b] = 1 << 25
        R.reshape(10, 4)[df, b] = v << 25
    A = m.bsp_accumulate(S, R)
    # 2**30 + 2**30 saturates at 2**31 - 1, + 2**30 stays there, - 2**30 -> 2**31 - 1 - 2**30
    assert A.tolist() == [(1 << 31) - 1 - (1 << 30)] + [0] * (topo.n_links - 1)
    C = [0] * topo.n_links
    want = ref_bsp(topo, RefFormat(16, 12, 8, 24), cfg, m.table, C, as_nested(S),
                   as_nested(R), m.c_lo, m.c_hi)
    assert m.bsp_update(np.array(C), S, R).tolist() == want
    # the exact sum (2**31) would have given a larger table input: the order matters
    assert int(A[0]) < 2 * (1 << 30)


# --- the dither of the learning format ------------------------------------------------------
def test_wang32_and_dither_offsets_equal_reference():
    rng = np.random.default_rng(11)
    xs = np.concatenate([[0, 1, M32, 0x80000000, 0x9E3779B9],
                         rng.integers(0, 1 << 32, 2000, dtype=np.uint64)]).astype(np.uint32)
    assert wang32(xs).tolist() == [ref_wang32(int(v)) for v in xs]
    assert wang32(12345) == ref_wang32(12345)
    err = rng.integers(-(1 << 15), 1 << 15, (6, 10))
    err[0] = 0
    err[1, 3] = -(1 << 15)
    seeds = dither_seed(err)
    index = np.array([(n << 3) | e for e in range(5) for n in range(7)], np.uint32)
    compared = 0
    for t in (0, 1, 79, 1 << 20):
        for bits in (1, 14, 31, 32):
            got = dither_offsets(seeds, t, index, bits)
            want = [[ref_dither(err[b].tolist(), t, int(i) >> 3, int(i) & 7, bits)
                     for b in range(len(err))] for i in index]
            assert got.tolist() == want
            compared += got.size
    assert compared == 4 * 4 * len(index) * len(err)


def test_dither_offsets_are_uniform():
    """Over many elements and steps the offsets are uniform on [0, 2**bits): the mean of
    (a + r) >> bits is a / 2**bits for a force a below one LSB."""
    index = np.arange(4096, dtype=np.uint32)
    seeds = dither_seed(np.array([[3, -7, 100]]))
    r = np.concatenate([dither_offsets(seeds, t, index, 14)[:, 0] for t in range(40)])
    assert abs(r.mean() / (1 << 13) - 1) < 0.01
    counts = np.bincount(r >> 10, minlength=16)       # 16 bins of equal width
    assert counts.min() > 0.9 * counts.mean() and counts.max() < 1.1 * counts.mean()
    a = 1000                                           # 0.061 of an LSB at 14 bits
    assert abs(np.mean((a + r) >> 14) - a / (1 << 14)) < 0.005


def test_learning_format_changes_only_the_reverse_run(small_topologies):
    """LEARNING_FORMAT: forward runs, the error and the BSP rule are DEFAULT_FORMAT's
    integers; the reverse run differs (dithered) and its integrals are not all zero where
    round half up leaves them at zero."""
    topo = small_topologies[1]
    cfg = RunConfig(steps=40)
    m0, m1 = FixedModel(topo, cfg), FixedModel(topo, cfg, fmt=LEARNING_FORMAT)
    rng = np.random.default_rng(3)
    C = m0.coef_to_int(rng.uniform(-1, 1, topo.n_links))
    x = m0.input_to_int(rng.uniform(0, 1, (4, topo.layers[0])))
    f0, f1 = m0.forward(C, x), m1.forward(C, x)
    assert np.array_equal(f0.S, f1.S) and np.array_equal(f0.final_state, f1.final_state)
    err = np.ones((4, topo.layers[-1]), np.int64)       # a force of 1/4 LSB per step
    r0, r1 = m0.reverse(C, err), m1.reverse(C, err)
    assert not r0.S.any(), "round half up: an input of 1 LSB never moves a state at h = 1/4"
    assert r1.S.any()
    assert np.array_equal(m0.bsp_delta(f0.S, r1.S), m1.bsp_delta(f0.S, r1.S))
    assert FixedFormat().as_dict() == dict(width=16, frac=12, coef_extra=8, acc_width=24)
    assert FixedFormat(**LEARNING_FORMAT.as_dict()) == LEARNING_FORMAT
