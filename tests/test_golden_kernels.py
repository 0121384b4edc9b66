"""The compiled kernels (golden.kernels) against the NumPy run loops and a plain-Python loop.

Three independent implementations of one run: the Numba kernel, the NumPy loop of
golden.network, and the scalar integer reference of test_golden_fixed (plain Python ints,
written from the docstrings). Fixed point: equal integers, counted. Float: the kernel and the
NumPy loop give the same float32/float64 bit patterns (compared as unsigned integers).
"""
from __future__ import annotations

import numpy as np
import pytest
from test_golden_fixed import RefFormat, as_nested, random_coefficients, random_inputs, ref_run

from wuxing.golden import kernels
from wuxing.golden.config import RunConfig
from wuxing.golden.fixedpoint import LEARNING_FORMAT, FixedFormat
from wuxing.golden.network import FixedModel, FloatModel, init_coefficients
from wuxing.golden.neuron import NeuronParams
from wuxing.golden.topology import Topology, preset

needs_numba = pytest.mark.skipif(not kernels.AVAILABLE, reason="numba is not importable")


def _random_case(seed):
    """Random format (half of them with the reverse dither), settings, neuron and topology
    (fan-in 1, 2 or 3)."""
    rng = np.random.default_rng(5000 + seed)
    width = int(rng.integers(10, 19))
    fmt = FixedFormat(width, width - 4 - int(rng.integers(0, 3)), int(rng.integers(0, 9)),
                      int(rng.integers(width, min(width + 10, 31) + 1)),
                      reverse_dither=seed % 4 >= 2)      # the learning format's dither
    cfg = RunConfig(h_shift=int(rng.integers(1, 4)), steps=int(rng.integers(5, 25)),
                    state_lo=-float(rng.integers(1, 6)), state_hi=float(rng.integers(2, 8)),
                    c_min=-float(rng.integers(1, 5)), c_max=float(rng.integers(1, 5)))
    neuron = NeuronParams(k1=float(rng.choice([0.75, 1.0, 1.5])), k2=0.5,
                          k3=float(rng.choice([0.25, 0.5, 1.0])),
                          lin_offset=int(rng.choice([-1, 1, 2, -2])),
                          quad_offset=int(rng.choice([-2, 2, 1, -1])))
    fan_in = (1, 2, 3)[seed % 3]
    layers = tuple(int(n) for n in rng.integers(1, 6, int(rng.integers(2, 5))))
    topo = Topology(layers=layers, fan_in=fan_in, seed=seed, in_elem=int(rng.integers(0, 5)),
                    out_elem=int(rng.integers(0, 5)))
    return rng, fmt, cfg, neuron, topo


def _results(res):
    return [res.S, res.overflow, res.final_state]


@needs_numba
@pytest.mark.parametrize("seed", range(12))
def test_fixed_kernel_equals_numpy_and_python(seed):
    """Kernel == NumPy == plain-Python integers; batch 3 (2 chunks of 2 and padding)."""
    rng, fmt_, cfg, neuron, topo = _random_case(seed)
    fmt = RefFormat(fmt_.width, fmt_.frac, fmt_.coef_extra, fmt_.acc_width,
                    fmt_.reverse_dither)
    k = FixedModel(topo, cfg, neuron, fmt_, kernel="numba", threads=2)
    n = FixedModel(topo, cfg, neuron, fmt_, kernel="numpy")
    assert (k.kernel, n.kernel) == ("numba", "numpy")
    C = random_coefficients(rng, topo.n_links, fmt.coef(cfg.c_min), fmt.coef(cfg.c_max),
                            big=seed % 2 == 1)
    kind = ("full", "pixels", "zero")[seed % 3]
    x = random_inputs(rng, 3, topo.layers[0], fmt, kind)
    err = random_inputs(rng, 3, topo.layers[-1], fmt, "full")
    compared, saturated = 0, False
    for reverse, ext in ((False, x), (True, err)):
        run_k = kernels.fixed_run(k, np.array(C), k.out_flat if reverse else k.in_flat,
                                  np.array(ext), reverse, chunk=2)
        res_n = (n.reverse if reverse else n.forward)(np.array(C), np.array(ext))
        want = ref_run(topo, neuron, fmt, cfg, C, ext, reverse)
        got = (as_nested(run_k[0]), run_k[1].astype(bool).tolist(), as_nested(run_k[2]))
        assert got == want, f"kernel != Python reference ({topo.layers}, {fmt_}, {cfg})"
        for a, b in zip(run_k, _results(res_n)):
            assert a.dtype == b.dtype and np.array_equal(a, b), "kernel != NumPy"
            compared += a.size
        saturated |= bool(run_k[1].any())
    assert compared > 0
    if kind == "full":
        assert saturated, "the full-scale case saturated no state"


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(6))
def test_float_kernel_bit_identical(seed, dtype):
    """The same float bits as the NumPy loop: random topologies and neurons, saturation."""
    rng, _, cfg, neuron, topo = _random_case(seed)
    cfg = cfg.replace(c_init_lo=0.5, c_init_hi=float(rng.choice([1.0, 3.0])))
    C = init_coefficients(topo, cfg, seed)
    k = FloatModel(topo, cfg, neuron, dtype=dtype, kernel="numba")
    n = FloatModel(topo, cfg, neuron, dtype=dtype, kernel="numpy")
    x = rng.uniform(0, 2, (37, topo.layers[0]))
    err = rng.uniform(-2, 2, (37, topo.layers[-1]))
    uint = np.uint32 if dtype == np.float32 else np.uint64
    compared = 0
    for fk, fn, ext in ((k.forward, n.forward, x), (k.reverse, n.reverse, err)):
        a, b = fk(C, ext), fn(C, ext)
        for u, v in ((a.S, b.S), (a.final_state, b.final_state)):
            assert u.dtype == v.dtype == dtype
            assert np.array_equal(u.view(uint), v.view(uint)), (
                f"max difference {np.abs(u - v).max()}")
            compared += u.size
        assert np.array_equal(a.overflow, b.overflow)
    assert compared == 2 * 2 * 5 * topo.n_neurons * 37


@needs_numba
def test_model1_kernel_equals_numpy():
    """MODEL1 (fan-in 1, 2,044 neurons), 80 steps, both directions, float32 and fixed (and the
    learning format's dithered reverse run); batch 40 (two chunks in parallel, 32 and 8)."""
    topo, cfg = preset("model1"), RunConfig()
    rng = np.random.default_rng(1)
    C = init_coefficients(topo, cfg, 1)
    x = rng.uniform(0, 1, (40, 784))
    err = rng.uniform(-1, 1, (40, 10))
    assert kernels.chunk_size(40, 2, 5 * topo.n_neurons) == 32
    compared = 0
    for fmt in (FixedFormat(), LEARNING_FORMAT):          # reverse run dithered in the second
        fk, fn = (FixedModel(topo, cfg, fmt=fmt, kernel=kern, threads=2)
                  for kern in ("numba", "numpy"))
        Ci, xi, ei = fk.coef_to_int(C), fk.input_to_int(x), fk.fmt.to_int(err)
        runs = [(fk.reverse(Ci, ei), fn.reverse(Ci, ei))]
        if fmt is LEARNING_FORMAT:
            assert not np.array_equal(runs[0][0].S, FixedModel(topo, cfg).reverse(Ci, ei).S)
        else:
            runs.append((fk.forward(Ci, xi), fn.forward(Ci, xi)))
        for a, b in runs:
            for u, v in zip(_results(a), _results(b)):
                assert np.array_equal(u, v)
                compared += u.size
    gk, gn = (FloatModel(topo, cfg, kernel=kern, threads=2) for kern in ("numba", "numpy"))
    for a, b in ((gk.forward(C, x), gn.forward(C, x)), (gk.reverse(C, err), gn.reverse(C, err))):
        assert np.array_equal(a.S.view(np.uint32), b.S.view(np.uint32))
        assert np.array_equal(a.final_state.view(np.uint32), b.final_state.view(np.uint32))
        compared += a.S.size + a.final_state.size
    assert compared == 5 * 2 * 5 * topo.n_neurons * 40 + 3 * 2044 * 40


@needs_numba
@pytest.mark.parametrize("kind", ["float", "fixed"])
def test_chunks_threads_and_int64_change_no_bit(kind, small_topologies, monkeypatch):
    """Chunk sizes (with padding), thread counts and the int64 path give the same values."""
    import wuxing.golden.network as gn
    topo = small_topologies[3]                       # fan-in 2
    cfg = RunConfig(steps=30, c_init_lo=1.0, c_init_hi=2.0)
    rng = np.random.default_rng(3)
    C = init_coefficients(topo, cfg, 2)
    x = rng.uniform(0, 1, (70, topo.layers[0]))
    if kind == "float":
        m = FloatModel(topo, cfg, kernel="numba")
        run, args = kernels.float_run, (C, m.in_flat, x)
    else:
        m = FixedModel(topo, cfg, kernel="numba")
        run, args = kernels.fixed_run, (m.coef_to_int(C), m.in_flat, m.input_to_int(x))
    want = run(m, *args, False, chunk=70)
    assert want[1].any() and not want[1].all(), "want some saturation, not all"
    variants = [(1, 1), (2, 5), (2, 32), (2, 33), (1, 64), (2, None)]
    for threads, chunk in variants:
        m.threads = threads
        got = run(m, *args, False, chunk=chunk)
        for a, b in zip(got, want):
            assert a.dtype == b.dtype and np.array_equal(a, b), (threads, chunk)
    if kind == "fixed":
        monkeypatch.setattr(gn, "_fixed_int_type", lambda *a: np.int64)
        got = run(m, *args, False)
        for a, b in zip(got, want):
            assert np.array_equal(a, b), "int64 path differs"


def test_kernel_choice(tiny, monkeypatch):
    monkeypatch.delenv("WUXING_KERNEL", raising=False)
    expect = "numba" if kernels.AVAILABLE else "numpy"
    assert FloatModel(tiny).kernel == expect and FixedModel(tiny).kernel == expect
    monkeypatch.setenv("WUXING_KERNEL", "numpy")
    assert FloatModel(tiny).kernel == "numpy"
    assert FixedModel(tiny, kernel="auto").kernel == expect   # the argument wins
    monkeypatch.setenv("WUXING_KERNEL", "fortran")
    with pytest.raises(ValueError, match="WUXING_KERNEL must be one of"):
        FloatModel(tiny)
    with pytest.raises(ValueError, match="kernel must be one of"):
        FixedModel(tiny, kernel="cuda")
    # without numba: auto falls back to NumPy; asking for numba is a clear error
    monkeypatch.setattr(kernels, "AVAILABLE", False)
    monkeypatch.setattr(kernels, "IMPORT_ERROR", ImportError("No module named 'numba'"))
    assert FloatModel(tiny, kernel="auto").kernel == "numpy"
    with pytest.raises(ValueError, match="numba is not importable"):
        FixedModel(tiny, kernel="numba")


def test_chunk_size():
    rows = 5 * 2044                                          # MODEL1
    assert kernels.chunk_size(64, 2, rows) == 32             # one chunk per thread
    assert kernels.chunk_size(40, 2, rows) == kernels.LANES  # whole vectors
    assert kernels.chunk_size(1000, 2, rows) == kernels.MAX_CHUNK
    assert kernels.chunk_size(64, 1, rows) == kernels.MAX_CHUNK
    assert kernels.chunk_size(64, 2, 5 * 42) == 64           # small: one chunk, no threads
    assert kernels.chunk_size(6, 2, rows) == 6


def test_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert kernels.cache_dir() == tmp_path
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kernels.cache_dir() == tmp_path / "xdg" / "wuxing" / "numba"
