"""FloatModel against a plain float64 reference; float against fixed point; BSP by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from wuxing.golden.config import RunConfig
from wuxing.golden.fixedpoint import DEFAULT_FORMAT
from wuxing.golden.network import FixedModel, FloatModel, init_coefficients
from wuxing.golden.neuron import NeuronParams
from wuxing.golden.topology import Topology


# every test here runs with the Numba kernel and with the NumPy loop
pytestmark = pytest.mark.usefixtures("both_kernels")

def ref_float_run(topo: Topology, neuron: NeuronParams, cfg: RunConfig, C, ext, reverse):
    """Explicit Euler of the whole network in float64 with a dense link matrix, written from
    the docstrings of golden.network and golden.neuron. ext: (batch, n_inputs or n_outputs).
    Returns S, overflow (batch, N), final E, each in the model's layout (5, N, batch)."""
    N, B = topo.n_neurons, ext.shape[0]
    W = np.zeros((5 * N, 5 * N))            # W[dst, src]: u_dst += C * D_src
    for l in range(topo.n_links):
        s = topo.src_elem[l] * N + topo.src_neuron[l]
        d = topo.dst_elem[l] * N + topo.dst_neuron[l]
        W[d, s] += C[l]
    if reverse:                             # v_src += C * D^_dst
        W = W.T
        ext_rows = topo.out_elem * N + topo.output_neurons
    else:
        ext_rows = topo.in_elem * N + topo.input_neurons
    a, b = neuron.lin_offset, neuron.quad_offset
    k1, k2, k3 = (np.array(k) for k in (neuron.k1, neuron.k2, neuron.k3))
    b0 = neuron.fixed_point(reverse)
    E = np.repeat(b0, N * B).reshape(5, N, B)
    S = np.zeros((5, N, B))
    over = np.zeros((N, B), bool)
    for _ in range(cfg.steps):
        D = E - b0[:, None, None]
        S += D
        u = (W @ D.reshape(5 * N, B)).reshape(5 * N, B)
        u[ext_rows] += ext.T
        u = u.reshape(5, N, B)
        dE = np.empty_like(E)
        for i in range(5):
            if not reverse:
                dE[i] = (k1[i] * E[(i + a) % 5] - k2[i] * E[i]
                         - k3[i] * E[i] * E[(i + b) % 5] + u[i])
            else:
                dE[i] = (k1[(i - a) % 5] * E[(i - a) % 5] - k2[i] * E[i]
                         - k3[(i - b) % 5] * E[i] * E[(i - b) % 5] + u[i])
        E = E + cfg.h * dE
        o = (E < cfg.state_lo) | (E > cfg.state_hi)
        over |= o.any(axis=0)
        E = np.clip(E, cfg.state_lo, cfg.state_hi)
    return S * cfg.h, over.T, E


NEURONS = [NeuronParams(),
           NeuronParams(k1=(1.0, 0.9, 1.1, 1.05, 0.95), k2=(0.5, 0.45, 0.55, 0.5, 0.52),
                        k3=(0.5, 0.6, 0.4, 0.45, 0.55)),
           NeuronParams(k1=1.5, k2=0.25, k3=1.0, lin_offset=2, quad_offset=1)]


@pytest.mark.parametrize("neuron", range(len(NEURONS)))
@pytest.mark.parametrize("cmax", [1.0, 3.0])
def test_float_model_equals_reference(neuron, cmax, small_topologies):
    neuron = NEURONS[neuron]
    cfg = RunConfig(steps=40, c_init_lo=0.5 * cmax, c_init_hi=cmax)
    rng = np.random.default_rng(int(cmax * 10) + neuron.lin_offset)
    saturated = False
    for topo in small_topologies:
        C = init_coefficients(topo, cfg, seed=3)
        x = rng.uniform(0, 1, (5, topo.layers[0])) * cmax
        err = rng.uniform(-1, 1, (5, topo.layers[-1])) * cmax
        for dtype, rtol in ((np.float64, 1e-12), (np.float32, 2e-4)):
            m = FloatModel(topo, cfg, neuron, dtype=dtype)
            for reverse, ext in ((False, x), (True, err)):
                res = (m.reverse if reverse else m.forward)(C, ext)
                S, over, E = ref_float_run(topo, neuron, cfg, C, ext, reverse)
                assert res.S.dtype == dtype
                scale = max(1.0, float(np.abs(S).max()))
                np.testing.assert_allclose(res.S, S, rtol=0, atol=rtol * scale * 10)
                np.testing.assert_allclose(res.final_state, E, rtol=0, atol=rtol * 10)
                if dtype == np.float64:
                    assert np.array_equal(res.overflow, over)
                    saturated |= bool(over.any())
    if cmax == 3.0:
        assert saturated, "the large-C case never reached the state limits"


def test_float_bsp_matches_formula(small_topologies, rng):
    topo = small_topologies[1]
    cfg = RunConfig(kt=0.5, step=0.125, c_min=-1.0, c_max=1.0)
    m = FloatModel(topo, cfg, dtype=np.float64)
    N = topo.n_neurons
    S, R = rng.normal(0, 2, (2, 5, N, 4))
    C = rng.uniform(-1, 1, topo.n_links)
    got = m.bsp_update(C, S, R)
    for l in range(topo.n_links):
        g1 = np.mean(S[topo.src_elem[l], topo.src_neuron[l]] * R[topo.dst_elem[l],
                                                                 topo.dst_neuron[l]])
        want = min(1.0, max(-1.0, C[l] + 0.125 * math.atan(0.5 * g1) / 0.5))
        assert got[l] == pytest.approx(want, abs=1e-15)


# --- float against fixed point --------------------------------------------------------
def _float_vs_fixed(topo, cfg, seed):
    rng = np.random.default_rng(seed)
    C = init_coefficients(topo, cfg, seed=seed)
    fl = FloatModel(topo, cfg, dtype=np.float64)
    fx = FixedModel(topo, cfg)
    C_int = fx.coef_to_int(C)
    C_q = fx.coef_to_real(C_int)            # the same coefficients for both models
    x = rng.uniform(0, 1, (8, topo.layers[0]))
    x_int = fx.input_to_int(x)
    x_q = x_int / DEFAULT_FORMAT.one
    f_fl, f_fx = fl.forward(C_q, x_q), fx.forward(C_int, x_int)
    y_fl, y_fx = fl.outputs(f_fl), fx.outputs_real(f_fx)
    err = rng.uniform(-0.5, 0.5, (8, topo.layers[-1]))
    e_int = fx.fmt.to_int(err)
    r_fl, r_fx = fl.reverse(C_q, e_int / DEFAULT_FORMAT.one), fx.reverse(C_int, e_int)
    s_err = np.abs(f_fx.S * cfg.h / DEFAULT_FORMAT.one - f_fl.S).max()
    r_err = np.abs(r_fx.S * cfg.h / DEFAULT_FORMAT.one - r_fl.S).max()
    return (float(np.abs(y_fx - y_fl).max()), float(s_err), float(r_err),
            float(np.abs(y_fl).max()), float(np.abs(r_fl.S).max()))


def test_float_vs_fixed_tiny(tiny):
    y_err, s_err, r_err, y_max, r_max = _float_vs_fixed(tiny, RunConfig(), seed=0)
    # measured: output (mean signal) error 2.2e-4 with outputs up to 0.15; integral errors
    # 1.03e-2 forward, 9.7e-3 reverse with integrals up to 8.8 (80 steps; LSB 2.4e-4 x h).
    assert y_max > 1e-2 and r_max > 1.0, "signals too small for the comparison to mean much"
    assert y_err < 1e-3
    assert s_err < 4e-2 and r_err < 4e-2


def test_float_vs_fixed_random_small():
    topo = Topology(layers=(6, 5, 4, 3), seed=11)
    cfg = RunConfig(c_init_lo=0.5, c_init_hi=1.5, steps=60)
    y_err, s_err, r_err, y_max, r_max = _float_vs_fixed(topo, cfg, seed=4)
    # measured: output error 7.7e-4 with outputs up to 1.76; integral errors 3.1e-2 forward,
    # 7.1e-3 reverse with reverse integrals up to 6.1.
    assert y_max > 0.5 and r_max > 1.0
    assert y_err < 3e-3
    assert s_err < 0.1 and r_err < 0.1


# --- BSP on a two-link network, by hand -----------------------------------------------------
@pytest.fixture(scope="module")
def two_links():
    t = Topology(layers=(1, 1), link_counts=(2,), seed=0)
    assert t.n_links == 2
    return t


def _integrals(topo, S_src, R_dst, dtype):
    """S and R arrays (5, N, 1) holding the given values at each link's two ends."""
    S = np.zeros((5, topo.n_neurons, 1), dtype)
    R = np.zeros_like(S)
    for l in range(topo.n_links):
        S[topo.src_elem[l], topo.src_neuron[l], 0] = S_src[l]
        R[topo.dst_elem[l], topo.dst_neuron[l], 0] = R_dst[l]
    return S, R


def test_bsp_by_hand_float(two_links):
    cfg = RunConfig(kt=2.0, step=0.25, c_min=-1.0, c_max=1.0)
    m = FloatModel(two_links, cfg, dtype=np.float64)
    # link 0: G1 = 1.5 * 0.5 = 0.75, G2 = atan(1.5) / 2 = 0.4913, C: 0.1 -> 0.1 + 0.1228
    # link 1: G1 = -0.75 (sign symmetry), C: -0.1 -> -0.1 - 0.1228
    S, R = _integrals(two_links, [1.5, -1.5], [0.5, 0.5], np.float64)
    got = m.bsp_update(np.array([0.1, -0.1]), S, R)
    g2 = math.atan(2.0 * 0.75) / 2.0
    assert got == pytest.approx([0.1 + 0.25 * g2, -0.1 - 0.25 * g2], abs=1e-15)
    # clamps: a large G1 pushes C past c_max / c_min, which hold
    S, R = _integrals(two_links, [40.0, -40.0], [40.0, 40.0], np.float64)
    assert m.bsp_update(np.array([0.9, -0.9]), S, R).tolist() == [1.0, -1.0]
    # zero integral at one end: no change
    S, R = _integrals(two_links, [0.0, 3.0], [5.0, 0.0], np.float64)
    assert m.bsp_update(np.array([0.3, -0.7]), S, R).tolist() == [0.3, -0.7]


def test_bsp_by_hand_fixed(two_links):
    # default format Q3.12, h = 1/4, C register 20 fraction bits; kt = 1, step = 2**-8
    cfg = RunConfig()
    m = FixedModel(two_links, cfg)
    assert m.bsp_shifts(1) == (12, 4)        # 2*12 + 2*2 + 0 - 0 - 16 and 16 + 0 + 8 - 12 - 8
    # S = R = 2**14 (real 2**14 / 2**12 * h = 1.0): P = 2**28, x = 2**16 = 1.0 exactly,
    # y = table[16] = round(atan(1) * 2**16) = 51472, dC = (51472 + 8) >> 4 = 3217
    # (real 3217 / 2**20 = 0.003068 = 2**-8 * pi / 4)
    assert round(math.atan(1.0) * 65536) == 51472
    S, R = _integrals(two_links, [1 << 14, -(1 << 14)], [1 << 14, 1 << 14], np.int64)
    C = np.array([1000, -1000])
    assert m.bsp_update(C, S, R).tolist() == [1000 + 3217, -1000 - 3217]
    # between entries: x = 1 + 1/32 (67584): i = 16, r = 2048 of 4096,
    # y = t16 + round((t17 - t16) / 2)
    t16, t17 = round(math.atan(1.0) * 65536), round(math.atan(17 / 16) * 65536)
    y = t16 + ((t17 - t16) * 2048 + 2048 >> 12)
    S, R = _integrals(two_links, [67584, -67584], [1 << 12, 1 << 12], np.int64)  # P = x << 12
    d = (y + 8) >> 4
    assert m.bsp_update(C, S, R).tolist() == [1000 + d, -1000 - d]
    # saturation beyond |x| = 16: the last entry, atan(16)
    y_sat = round(math.atan(16.0) * 65536)
    S, R = _integrals(two_links, [(1 << 23) - 1, -(1 << 23)], [1 << 22, 1 << 22],
                      np.int64)
    d = (y_sat + 8) >> 4
    assert m.bsp_update(C, S, R).tolist() == [1000 + d, -1000 - d]
    # clamps at Cmin / Cmax (4.0 = 4 << 20)
    c_hi = 4 << 20
    assert m.c_hi == c_hi and m.c_lo == -c_hi
    C = np.array([c_hi - 10, -c_hi + 10])
    S, R = _integrals(two_links, [1 << 14, -(1 << 14)], [1 << 14, 1 << 14], np.int64)
    assert m.bsp_update(C, S, R).tolist() == [c_hi, -c_hi]
    # a product below half an LSB of the table input rounds to no change
    S, R = _integrals(two_links, [1, -1], [2047, 2047], np.int64)
    assert m.bsp_update(np.array([5, -5]), S, R).tolist() == [5, -5]


# --- chunked, threaded runs ------------------------------------------------------------------
@pytest.mark.parametrize("cls", ["float", "fixed"])
def test_batch_split_and_threads_change_no_bit(cls, small_topologies, monkeypatch):
    import wuxing.golden.network as gn
    topo = small_topologies[3]                         # fan-in 2: two link slots
    cfg = RunConfig(steps=30, c_init_lo=1.0, c_init_hi=2.0)
    C = init_coefficients(topo, cfg, seed=1)
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (11, topo.layers[0]))
    err = rng.uniform(-1, 1, (11, topo.layers[-1]))
    make = ((lambda th: FloatModel(topo, cfg, threads=th)) if cls == "float"
            else (lambda th: FixedModel(topo, cfg, threads=th)))
    if cls == "fixed":
        fx = make(1)
        C, x, err = fx.coef_to_int(C), fx.input_to_int(x), fx.fmt.to_int(err)
    whole = make(1)
    want = [whole.forward(C, x), whole.reverse(C, err)]
    monkeypatch.setattr(gn, "_CHUNK_VALUES", 3 * 5 * topo.n_neurons)   # chunks of 3 samples
    assert len(gn._batch_chunks(11, 5 * topo.n_neurons, 2)) == 4
    for threads in (1, 2):
        m = make(threads)
        for res, ref in zip([m.forward(C, x), m.reverse(C, err)], want):
            for a, b in ((res.S, ref.S), (res.overflow, ref.overflow),
                         (res.final_state, ref.final_state)):
                assert a.shape == b.shape and a.dtype == b.dtype
                assert np.array_equal(a, b), f"threads={threads}: results differ"
    assert any(r.overflow.any() for r in want) and not all(r.overflow.all() for r in want)


def test_threads_argument_checked(tiny):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            FloatModel(tiny, threads=bad)
