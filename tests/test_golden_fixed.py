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
from wuxing.golden.fixedpoint import FixedFormat
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


class RefFormat:
    def __init__(self, width, frac, coef_extra, acc_width):
        self.F, self.ce = frac, coef_extra
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
        for _ in range(cfg.steps):
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


def ref_bsp(topo, fmt: RefFormat, cfg, table, C, S, R, c_lo, c_hi):
    """S[b][n][i], R[b][n][i] integrals; returns the new C list."""
    B = len(S)
    j = B.bit_length() - 1
    assert 1 << j == B
    kt_log2 = round(math.log2(cfg.kt))
    step_log2 = round(math.log2(cfg.step))
    s_in = 2 * fmt.F + 2 * cfg.h_shift + j - kt_log2 - table.table_frac
    s_out = table.table_frac + kt_log2 - step_log2 - fmt.F - fmt.ce
    entries = ref_atan_entries(table)
    out = []
    for l, c in enumerate(C):
        sn, se = int(topo.src_neuron[l]), int(topo.src_elem[l])
        dn, de = int(topo.dst_neuron[l]), int(topo.dst_elem[l])
        P = sum(S[b][sn][se] * R[b][dn][de] for b in range(B))
        x = rshift_round(abs(P), s_in)
        y = ref_atan(x, table, entries)
        d = rshift_round(y, s_out)
        out.append(clamp(c + (-d if P < 0 else d), c_lo, c_hi))
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
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_fixed_runs_equal_reference(case, small_topologies):
    fmt_, over_cfg, neuron, big, kind = CASES[case]
    rng = np.random.default_rng(100 + case)
    fmt = RefFormat(fmt_.width, fmt_.frac, fmt_.coef_extra, fmt_.acc_width)
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
                       int(rng.integers(width, min(width + 10, 31) + 1)))
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
    fmt = RefFormat(fmt_.width, fmt_.frac, fmt_.coef_extra, fmt_.acc_width)
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
