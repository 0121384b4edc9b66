"""Fused compiled kernels (Numba) of the FloatModel and FixedModel runs.

:func:`float_run` and :func:`fixed_run` compute exactly what ``_float_run_chunk`` and
``_fixed_run_chunk`` of :mod:`golden.network` compute, in one compiled pass per Euler step
instead of some twenty NumPy passes over the state:

* the batch is cut into chunks (:func:`chunk_size`: one per thread, at most
  :data:`MAX_CHUNK` samples); chunks run in parallel on Numba's threads (samples are
  independent), each on its own arrays ``[row, sample]`` (sample innermost and contiguous,
  padded to whole vectors of :data:`LANES`), row ``e * N + n`` as in the NumPy layout, so that
  one element plane (element ``e`` of every neuron) is one contiguous block;
* a step handles the five planes in turn: one flat vector loop over the plane for
  ``S += E - B0`` and the neuron's own terms, one short loop per link received (a CSR list per
  receiving row, in the order of the NumPy path's slots: by link index, so float sums are added
  in the same order), the inputs, then one flat loop for the new state and its saturation into
  a second buffer (the links read the old one). ``D = E - B0`` is recomputed where it is read:
  the same float or integer as the NumPy ``D`` array.

Float: the operations of ``_float_run_chunk``, in its order and precision (float32 stays
float32; ``fastmath=False``, so no contraction into FMA and no reassociation). The result is
the same floats; the tests compare them bit for bit. Fixed: the integer step of the
:mod:`golden.network` docstring; integer sums are exact in any order. Arrays and arithmetic
are int32 when ``_fixed_int_type`` proves that no value of the run can reach 2**31, else
int64, as in the NumPy loop: the state update uses same-width intrinsics (``_add``, ``_mul``,
...), because Numba's own integer arithmetic widens int32 to int64 and so halves the vector
lanes (measured: 1.5x the speed of the widened loop).

The learning format's dithered reverse increments (``FixedFormat.reverse_dither``) are
implemented too: the same hash of the error vector, step and element as
:mod:`golden.fixedpoint`, in int64 arithmetic mod 2**32.

Numba compiles each signature on first use (float32, float64, int32, int64; 5-12 s each here,
``python -m wuxing.golden.bench`` measures it) and caches the machine code on disk
(``cache=True``; a later process loads it in well under a second) in ``$NUMBA_CACHE_DIR`` or,
if that is not set, ``~/.cache/wuxing/numba`` (``$XDG_CACHE_HOME`` respected), not in the
source tree. When Numba is not importable, :data:`AVAILABLE` is False and the models use the
NumPy path.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["AVAILABLE", "IMPORT_ERROR", "LANES", "MAX_CHUNK", "KERNELS", "chunk_size",
           "resolve_kernel", "float_run", "fixed_run", "cache_dir"]

KERNELS = ("auto", "numba", "numpy")
ENV = "WUXING_KERNEL"

# A chunk's arrays are padded to whole multiples of LANES samples, so that every inner loop
# runs whole vectors (LLVM's AVX-512 loop body takes 32 float32 or int32 values; a shorter
# trip runs its 4-wide remainder loop). Samples per chunk: the batch split evenly over the
# threads, at most MAX_CHUNK (a chunk's three state arrays of MODEL1 at 64 float32 samples
# take 7.8 MB). A run of at most SERIAL_VALUES values per step (5 * N * batch) is one chunk on
# the calling thread: too little work to pay for waking threads (on a busy machine a parallel
# region waits for its slowest thread). Measured, MODEL1's forward run in float32 on one
# thread: 1.6e9 element-updates/s with chunks of 32 or of 64 samples; before the padding (and
# the plane-wise loops), chunks of 16 samples, run by LLVM's remainder loop, made 1.0e9 on two
# threads where chunks of 32 made 1.86e9.
LANES = 32
MAX_CHUNK = 64
SERIAL_VALUES = 1 << 16


def chunk_size(batch: int, threads: int, rows: int, max_chunk: int | None = None) -> int:
    """Samples per chunk: ``batch`` over ``threads`` (rounded up to LANES), at most
    ``max_chunk`` (default :data:`MAX_CHUNK`); the whole batch if ``rows * batch`` is at most
    :data:`SERIAL_VALUES`."""
    if rows * batch <= SERIAL_VALUES:
        return max(1, batch)
    per_thread = -(-batch // max(threads, 1))
    per_thread = -(-per_thread // LANES) * LANES
    return max(1, min(per_thread, max_chunk or MAX_CHUNK))


def cache_dir() -> Path:
    """Where Numba keeps the compiled kernels (unless ``NUMBA_CACHE_DIR`` is set)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "wuxing" / "numba"


try:
    import numba
    from numba import njit, prange
    from numba.core import types
    from numba.extending import intrinsic
    IMPORT_ERROR = None
except ImportError as e:  # the NumPy loops still run
    numba = None
    IMPORT_ERROR = e
AVAILABLE = numba is not None


def resolve_kernel(kernel: str | None) -> str:
    """``"numba"`` or ``"numpy"``: the run loop a model uses.

    ``kernel`` None takes ``$WUXING_KERNEL`` (default ``auto``); ``auto`` is numba when it is
    importable, else numpy; ``numba`` without Numba is an error.
    """
    if kernel is None:
        kernel = os.environ.get(ENV, "auto") or "auto"
        what = f"${ENV}"
    else:
        what = "kernel"
    if kernel not in KERNELS:
        raise ValueError(f"{what} must be one of {', '.join(KERNELS)}, not {kernel!r}")
    if kernel == "auto":
        return "numba" if AVAILABLE else "numpy"
    if kernel == "numba" and not AVAILABLE:
        raise ValueError(f"kernel 'numba' asked for but numba is not importable "
                         f"({IMPORT_ERROR}); install numba or use kernel 'numpy'")
    return kernel


if AVAILABLE:
    if not os.environ.get("NUMBA_CACHE_DIR"):
        # read when a cache=True function is defined (below), not when it is first called
        numba.config.CACHE_DIR = str(cache_dir())

    @njit(cache=True, nogil=True)
    def _chunk_arrays(b0, N, ext, s0, used, lanes):
        """A chunk's arrays, ``[row, sample]`` flat (row = e * N + n), sample count padded to
        whole vectors: B0 per row, E (= B0), E', S (= 0), acc and overflow (one plane, [n,
        sample]), the chunk's external inputs ``[k, sample]``."""
        R, X = 5 * N, ext.shape[1]
        b0row = np.empty(R, b0.dtype)
        for r in range(R):
            b0row[r] = b0[r // N]
        cb = (used + lanes - 1) // lanes * lanes
        E = np.empty(R * cb, b0.dtype)
        for r in range(R):
            E[r * cb:(r + 1) * cb] = b0row[r]
        xe = np.zeros(X * cb, b0.dtype)
        for k in range(X):
            for j in range(used):
                xe[k * cb + j] = ext[s0 + j, k]
        return (cb, b0row, E, np.empty(R * cb, b0.dtype), np.zeros(R * cb, b0.dtype),
                np.empty(N * cb, b0.dtype), np.zeros(N * cb, np.uint8), xe)

    @njit(cache=True, nogil=True)
    def _add_links_and_inputs(acc, E, b0row, ptr, to, frm, w, ext_rows, xe, e, N, cb):
        """acc += w * D(other end) for every link into plane e, row by row in link order,
        then += the external inputs of the plane (after the links, as the NumPy loops add)."""
        for p in range(ptr[e * N], ptr[(e + 1) * N]):
            a, sb, bs, wp = (to[p] - e * N) * cb, frm[p] * cb, b0row[frm[p]], w[p]
            Aa, Es = acc[a:a + cb], E[sb:sb + cb]     # views: index from range(), vector loop
            for j in range(cb):
                Aa[j] += (Es[j] - bs) * wp
        for k in range(ext_rows.size):
            if e * N <= ext_rows[k] < (e + 1) * N:
                a = (ext_rows[k] - e * N) * cb
                Aa, Xk = acc[a:a + cb], xe[k * cb:(k + 1) * cb]
                for j in range(cb):
                    Aa[j] += Xk[j]

    @njit(cache=True, nogil=True)
    def _plane(E, S, En, e, lin_e, quad_e, P):
        """Views of element plane e: E, S, E', and the planes E_lin and E_quad it reads (an
        index from range() into a view is known non-negative: the loops vectorise)."""
        le, qe = lin_e[e], quad_e[e]
        return (E[e * P:(e + 1) * P], S[e * P:(e + 1) * P], En[e * P:(e + 1) * P],
                E[le * P:(le + 1) * P], E[qe * P:(qe + 1) * P])

    @njit(cache=True, nogil=True)
    def _write_chunk(S, E, over, scale, N, cb, s0, used, S_out, over_out, E_out):
        """The chunk's samples into the outputs (S times ``scale``)."""
        for r in range(5 * N):
            for j in range(used):
                S_out[r, s0 + j] = S[r * cb + j] * scale
                E_out[r, s0 + j] = E[r * cb + j]
        for n in range(N):
            for j in range(used):
                over_out[s0 + j, n] = over[n * cb + j]

    @njit(fastmath=False, cache=True, nogil=True)
    def _float_chunk(b0, hk1, hk2, hk3, lin_e, quad_e, N, ptr, to, frm, w, ext_rows, ext,
                     steps, lo, hi, h, s0, used, lanes, S_out, over_out, E_out):
        """Samples s0 .. s0 + used - 1 of a float run, written into the outputs."""
        cb, b0row, E, En, S, acc, over, xe = _chunk_arrays(b0, N, ext, s0, used, lanes)
        P = N * cb                                    # values of one element plane
        for _ in range(steps):
            for e in range(5):
                be, k1, k2, k3 = b0[e], hk1[e], hk2[e], hk3[e]
                Ee, Se, Ene, El, Eq = _plane(E, S, En, e, lin_e, quad_e, P)
                # D = E - B0; S += D; h (K1 E_lin - (K2 + K3 E_quad) E)
                for i in range(P):
                    x = Ee[i]
                    Se[i] += x - be
                    acc[i] = El[i] * k1 - (Eq[i] * k3 + k2) * x
                # + h C D(other end) + h x
                _add_links_and_inputs(acc, E, b0row, ptr, to, frm, w, ext_rows, xe, e, N, cb)
                # E' = sat(E + acc); overflow flag per neuron and sample
                for i in range(P):
                    y = Ee[i] + acc[i]
                    over[i] |= (y < lo) | (y > hi)
                    Ene[i] = min(max(y, lo), hi)
            E, En = En, E
        _write_chunk(S, E, over, h, N, cb, s0, used, S_out, over_out, E_out)

    def _same_width(name, build):
        """An intrinsic ``name(a, b)`` for two integers of one type: the machine operation at
        that width, wrapping like NumPy's arithmetic in the array's dtype. Numba's own
        arithmetic widens int32 to int64 (8 lanes a vector instead of 16); the int32 arrays are
        used only where _fixed_int_type proves nothing wraps, so both give the same integers."""
        def typer(typingctx, a, b):
            if isinstance(a, types.Integer) and a == b:
                return a(a, b), lambda context, builder, sig, args: build(builder, *args)
            return None
        typer.__name__ = name
        return intrinsic(typer)

    _add = _same_width("_add", lambda b, x, y: b.add(x, y))
    _sub = _same_width("_sub", lambda b, x, y: b.sub(x, y))
    _mul = _same_width("_mul", lambda b, x, y: b.mul(x, y))
    _shr = _same_width("_shr", lambda b, x, y: b.ashr(x, y))   # shift counts below the width

    @njit(cache=True, nogil=True)
    def _wang32(x):
        """golden.fixedpoint.wang32 of one value in [0, 2**32), in int64 arithmetic mod 2**32
        (every intermediate stays below 2**47)."""
        m = 0xFFFFFFFF
        x = ((x ^ m) + (x << 15)) & m             # ~x + (x << 15)
        x ^= x >> 12
        x = (x + (x << 2)) & m
        x ^= x >> 4
        x = (x * 2057) & m                        # x + (x << 3) + (x << 11)
        x ^= x >> 16
        return x

    @njit(cache=True, nogil=True)
    def _dithered_update(Ee, Ene, acc, over, step_hash, e, N, cb, shift_e, lo, hi):
        """E' = sat(E + ((acc + r) >> (F + k))), r = wang32(step_hash ^ ((n << 3) | e)) masked
        to F + k bits (golden.fixedpoint's dither; step_hash = wang32(seed + t) per sample)."""
        mask = (np.int64(1) << shift_e) - 1
        for n in range(N):
            idx = (n << 3) | e
            a, b = n * cb, (n + 1) * cb
            En_, E_, A_, O_ = Ene[a:b], Ee[a:b], acc[a:b], over[a:b]
            for j in range(cb):
                r = _wang32(step_hash[j] ^ idx) & mask
                y = E_[j] + ((A_[j] + r) >> shift_e)
                O_[j] |= (y < lo) | (y > hi)
                En_[j] = min(max(y, lo), hi)

    @njit(fastmath=False, cache=True, nogil=True)
    def _fixed_chunk(b0, k1v, k2v, k3v, lin_e, quad_e, N, ptr, to, frm, W, ext_rows, ext,
                     steps, lo, hi, F, shift_e, half_q, half_e, acc_lo, acc_hi, seeds, dither,
                     s0, used, lanes, S_out, over_out, E_out):
        """Samples s0 .. s0 + used - 1 of a fixed-point run (``ext``: x << F), written into
        the outputs; ``dither``: the reverse run's dithered increments with the per-sample
        ``seeds`` (golden.fixedpoint.dither_seed)."""
        cb, b0row, E, En, S, acc, over, xe = _chunk_arrays(b0, N, ext, s0, used, lanes)
        P = N * cb
        step_hash = np.zeros(cb, np.int64)
        for t in range(steps):
            if dither:
                for j in range(used):
                    step_hash[j] = _wang32((np.int64(seeds[s0 + j]) + t) & 0xFFFFFFFF)
            for e in range(5):
                be, k1, k2, k3 = b0[e], k1v[e], k2v[e], k3v[e]
                Ee, Se, Ene, El, Eq = _plane(E, S, En, e, lin_e, quad_e, P)
                for i in range(P):
                    x = Ee[i]
                    # S = sat(S + D) (a no-op unless the integral can reach the range)
                    Se[i] = min(max(_add(Se[i], _sub(x, be)), acc_lo), acc_hi)
                    # K1 E_lin - K2 E - K3 round_shift(E E_quad, F)
                    q = _shr(_add(_mul(x, Eq[i]), half_q), F)
                    acc[i] = _sub(_sub(_mul(El[i], k1), _mul(k3, q)), _mul(k2, x))
                # + (C >> coef_extra) D(other end) + (x << F)
                _add_links_and_inputs(acc, E, b0row, ptr, to, frm, W, ext_rows, xe, e, N, cb)
                if dither:
                    _dithered_update(Ee, Ene, acc, over, step_hash, e, N, cb, shift_e, lo, hi)
                    continue
                # E' = sat(E + round_shift(acc, F + h_shift))
                for i in range(P):
                    y = _add(Ee[i], _shr(_add(acc[i], half_e), shift_e))
                    over[i] |= (y < lo) | (y > hi)
                    Ene[i] = min(max(y, lo), hi)
            E, En = En, E
        _write_chunk(S, E, over, S.dtype.type(1), N, cb, s0, used, S_out, over_out, E_out)

    # The parallel drivers only split the batch: a chunk is a plain compiled call (its loops
    # vectorise; written inside the parfor body, they did not: captured scalars)
    @njit(parallel=True, cache=True, nogil=True)
    def _float_kernel(b0, hk1, hk2, hk3, lin_e, quad_e, N, ptr, to, frm, w, ext_rows, ext,
                      steps, lo, hi, h, chunk, lanes, S_out, over_out, E_out):
        B = ext.shape[0]
        for c in prange((B + chunk - 1) // chunk):
            _float_chunk(b0, hk1, hk2, hk3, lin_e, quad_e, N, ptr, to, frm, w, ext_rows, ext,
                         steps, lo, hi, h, c * chunk, min(chunk, B - c * chunk), lanes, S_out,
                         over_out, E_out)

    @njit(parallel=True, cache=True, nogil=True)
    def _fixed_kernel(b0, k1v, k2v, k3v, lin_e, quad_e, N, ptr, to, frm, W, ext_rows, ext,
                      steps, lo, hi, F, shift_e, half_q, half_e, acc_lo, acc_hi, seeds, dither,
                      chunk, lanes, S_out, over_out, E_out):
        B = ext.shape[0]
        for c in prange((B + chunk - 1) // chunk):
            _fixed_chunk(b0, k1v, k2v, k3v, lin_e, quad_e, N, ptr, to, frm, W, ext_rows, ext,
                         steps, lo, hi, F, shift_e, half_q, half_e, acc_lo, acc_hi, seeds,
                         dither, c * chunk,
                         min(chunk, B - c * chunk), lanes, S_out, over_out, E_out)


def _links(model, reverse: bool):
    """CSR of the links by receiving row: (ptr (R + 1,), receiving row, sending row, link
    index), within a row in link order (the NumPy path's slot order); cached on the model."""
    cache = model.__dict__.setdefault("_kernel_links", {})
    key = bool(reverse)
    if key not in cache:
        to_rows, from_rows = model._link_rows(reverse)
        order = np.argsort(to_rows, kind="stable")
        R = 5 * model.N
        ptr = np.searchsorted(to_rows[order], np.arange(R + 1)).astype(np.int64)
        cache[key] = (ptr, to_rows[order].astype(np.int64), from_rows[order].astype(np.int64),
                      order.astype(np.int64))
    return cache[key]


def _element_maps(model, reverse):
    lin, quad = model._offsets(reverse)
    e = np.arange(5)
    return (e + lin) % 5, (e + quad) % 5


def _set_threads(model):
    numba.set_num_threads(max(1, min(model.threads, numba.config.NUMBA_NUM_THREADS)))


def _run_chunks(model, one_chunk, parallel, args, B, dtype, chunk):
    """Allocate the outputs and run: one chunk on this thread, or the parallel driver."""
    N = model.N
    S, E = np.empty((5 * N, B), dtype), np.empty((5 * N, B), dtype)
    over = np.empty((B, N), np.uint8)
    chunk = chunk or chunk_size(B, model.threads, 5 * N)
    if chunk >= B:                        # a plain call: no threads to wake
        one_chunk(*args, 0, B, LANES, S, over, E)
    else:
        _set_threads(model)
        parallel(*args, chunk, LANES, S, over, E)
    return S.reshape(5, N, B), over.view(bool), E.reshape(5, N, B)


def float_run(model, C, ext_flat, ext, reverse, chunk: int | None = None):
    """A FloatModel run by the compiled kernel: (S, overflow (batch, N), final state), each
    equal to ``_float_run_chunk``'s for the same arguments."""
    cfg, N, dt = model.cfg, model.N, model.dtype
    h = float(cfg.h)
    hk1, hk2, hk3 = ((h * np.asarray(k, np.float64)).astype(dt) for k in model._coef(reverse))
    b0 = np.ascontiguousarray(np.ravel(model.b0[reverse]), dt)
    ptr, to, frm, links = _links(model, reverse)
    w = (h * np.asarray(C, np.float64)[links]).astype(dt)
    ext_h = np.ascontiguousarray((np.asarray(ext, np.float64) * h).astype(dt))
    lin_e, quad_e = _element_maps(model, reverse)
    args = (b0, hk1, hk2, hk3, lin_e, quad_e, N, ptr, to, frm, w, np.asarray(ext_flat, np.int64),
            ext_h, cfg.steps, dt.type(cfg.state_lo), dt.type(cfg.state_hi), dt.type(h))
    return _run_chunks(model, _float_chunk, _float_kernel, args, ext_h.shape[0], dt, chunk)


def fixed_run(model, C_int, ext_flat, ext_int, reverse, chunk: int | None = None):
    """A FixedModel run by the compiled kernel: (S, overflow (batch, N), final state) as
    int64, equal to ``_fixed_run_chunk``'s for the same arguments."""
    from .fixedpoint import dither_seed
    from .network import _fixed_int_type
    cfg, N, fmt = model.cfg, model.N, model.fmt
    C_mul = fmt.coef_mul_operand(np.asarray(C_int, dtype=np.int64))
    ext_int = np.ascontiguousarray(ext_int, np.int64)
    b0_64 = np.asarray(np.ravel(model.b0_int[reverse]), np.int64)
    it = _fixed_int_type(model, C_mul, ext_int, reverse, True)
    ptr, to, frm, links = _links(model, reverse)
    k1, k2, k3 = (np.asarray(k, np.int64).astype(it) for k in model.k_int[reverse])
    B = ext_int.shape[0]
    lin_e, quad_e = _element_maps(model, reverse)
    ext_F = (ext_int << np.int64(fmt.frac)).astype(it)        # x << F, as the NumPy loop
    dither = bool(reverse and fmt.reverse_dither)             # golden.fixedpoint's dither
    seeds = dither_seed(ext_int) if dither else np.zeros(B, np.uint32)
    args = (b0_64.astype(it), k1, k2, k3, lin_e, quad_e, N, ptr, to, frm,
            C_mul[links].astype(it), np.asarray(ext_flat, np.int64), ext_F,
            cfg.steps, it(model.lo), it(model.hi), it(fmt.frac), it(fmt.frac + cfg.h_shift),
            it(1 << (fmt.frac - 1)), it(1 << (fmt.frac + cfg.h_shift - 1)), it(fmt.acc_min),
            it(fmt.acc_max), seeds, dither)
    S, over, E = _run_chunks(model, _fixed_chunk, _fixed_kernel, args, B, it, chunk)
    return S.astype(np.int64), over, E.astype(np.int64)
