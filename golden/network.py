"""Forward and reverse runs of a whole Wuxing network, and the BSP update of every link.

Two models with one structure:

* :class:`FloatModel`: the float reference (NumPy, float32 or float64).
* :class:`FixedModel`: the bit-exact model of the hardware arithmetic (int64, every rounding
  and saturation of :mod:`golden.fixedpoint` and :mod:`golden.atan_table`).

State layout: ``(5, n_neurons, batch)``, element-major, so that the element offsets of the
equations are contiguous slices of a cyclically padded array.

One Euler step ``t`` (both models, both directions)::

    D_t   = E_t - B0
    S    += D_t                       (integral, times h when read as a real number)
    u     = sum over links C * D_t(other end)  + external input
    E_t+1 = sat(E_t + h * (K1 E_lin - K2 E - K3 E E_quad + u))

Fixed point, per element (F = frac bits, k = h_shift, all integers)::

    q     = round_shift(E * E_quad, F)
    acc   = K1 * E_lin - K2 * E - K3 * q + sum((C >> coef_extra) * D) + (x << F)
    E'    = sat(E + round_shift(acc, F + k), lo, hi)       overflow flag if clamped
    S     = sat(S + D, acc_min, acc_max)

With ``fmt.reverse_dither`` (:data:`golden.fixedpoint.LEARNING_FORMAT`) the reverse run's
increment is ``(acc + r) >> (F + k)``, ``r`` the pseudo-random offset in ``[0, 2**(F + k))``
of :mod:`golden.fixedpoint` (a hash of the run's error vector, the step and the element).

The error the chip feeds the reverse run (:meth:`FixedModel.error_from_outputs`; M, s from
:attr:`FixedModel.output_scale`, ``err_scale = 2**e``)::

    y     = round_shift(S_out * M, s)                  (S_out / steps, or S_out * h)
    err   = sat(shift(target_int * onehot(label) - y, e), min_int, max_int)

BSP in fixed point (per link, batch of 2**j samples in order b = 0..2**j-1, step 2**m with m
the RunConfig's or given per update; s_in, s_out from :meth:`FixedModel.bsp_shifts`)::

    s_in  = 2F + 2k - log2(kt) - table_frac            (the table input of one sample)
    p_b   = sign(S_src R_dst) * round_shift(|S_src R_dst|, s_in)       (G1 * kt, table_frac)
    A     = sat32(A + sat32(p_b))                      (a 32-bit accumulator per link, A0 = 0)
    x     = round_shift(|A|, j)
    y     = atan_table(x)
    dC    = sign(A) * round_shift(y, table_frac + log2(kt) - m - F - coef_extra)
    C     = clamp(C + dC, Cmin, Cmax)

A batch of one gives exactly ``round_shift(|S R|, s_in)`` (the accumulator only saturates
where the table does). Larger batches round each sample's product before the sum instead of
the exact sum once: at most one table LSB from the exact rule (docs/TRAINING.md).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .atan_table import DEFAULT_TABLE, AtanTable
from .config import RunConfig, power_of_two_exponent
from .fixedpoint import DEFAULT_FORMAT, FixedFormat, dither_offsets, dither_seed, round_shift
from .neuron import MODEL1_NEURON, N_ELEMENTS, NeuronParams
from .topology import Topology

__all__ = ["RunResult", "FloatModel", "FixedModel", "init_coefficients", "BSP_ACC_BITS"]

BSP_ACC_BITS = 32
"""Width of the chip's per-link BSP accumulator (signed, saturating)."""
BSP_ACC_MIN, BSP_ACC_MAX = -(1 << (BSP_ACC_BITS - 1)), (1 << (BSP_ACC_BITS - 1)) - 1


@dataclass
class RunResult:
    """Integrals of one run: ``S`` (5, n_neurons, batch), real (float) or integer (fixed);
    ``overflow`` per neuron and sample: a state hit the saturation range."""

    S: np.ndarray
    overflow: np.ndarray
    final_state: np.ndarray


def init_coefficients(topology: Topology, cfg: RunConfig, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mag = rng.uniform(cfg.c_init_lo, cfg.c_init_hi, topology.n_links)
    if cfg.c_init_sign == "random":
        mag *= rng.choice([-1.0, 1.0], topology.n_links)
    return np.clip(mag, cfg.c_min, cfg.c_max)


def _check_threads(threads):
    if threads is None:
        return max(1, min(os.cpu_count() or 1, 8))
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    return threads


def _resolve_kernel(kernel):
    from .kernels import resolve_kernel   # imports numba (0.3 s): only when a model is made
    return resolve_kernel(kernel)


# Element values per chunk: a chunk's working set (seven (5 * N, chunk) arrays, 2.3 MB in float32
# for MODEL1 and 8 samples) should about fit a core's L2 cache, while the per-call overhead
# of NumPy stays small. Measured on MODEL1, float32, CPU time: chunks of 8 samples ran 1.4x
# the speed of one whole-batch array, 16 1.2x, 32 1.0x.
_CHUNK_VALUES = 80_000


def _batch_chunks(batch: int, rows: int, threads: int):
    """Contiguous [a, b) sample ranges of about _CHUNK_VALUES values each; at most
    ``threads`` of them run at once (see _map_threads)."""
    per_chunk = max(1, -(-_CHUNK_VALUES // max(rows, 1)))
    n = max(1, -(-batch // per_chunk))
    edges = [batch * i // n for i in range(n + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a] or [(0, 0)]


def _map_threads(fn, items):
    if len(items) == 1:
        return [fn(*items[0])]
    with ThreadPoolExecutor(max_workers=min(len(items), items[0][0].threads)) as ex:
        return list(ex.map(lambda it: fn(*it), items))


def _cyclic_pieces(shift: int):
    """Element i reads element (i + shift) mod 5: (destination, source) slice pairs."""
    s = shift % N_ELEMENTS
    if s == 0:
        return [(slice(0, N_ELEMENTS), slice(0, N_ELEMENTS))]
    return [(slice(0, N_ELEMENTS - s), slice(s, N_ELEMENTS)),
            (slice(N_ELEMENTS - s, N_ELEMENTS), slice(0, s))]


def _float_run_chunk(model, C, ext_flat, ext, reverse):
    """One FloatModel run of a chunk of samples: (S, overflow (batch, N), final state).

    The Euler step of the module docstring, rearranged to touch each array as few times as
    possible: h is folded into the coefficients and the input; the links are gathers: for
    every interface, slot j holds the row of its j-th link's other end (or a zero row) and
    h * C of that link, so ``sum_j gather_j(D) * hC_j`` is the link input of every interface
    at once; the saturation test is a min/max reduction, the clamp only when it is needed.
    """
    cfg, N, dt = model.cfg, model.N, model.dtype
    B, R = ext.shape[0], N_ELEMENTS * N
    h = float(cfg.h)
    hk1, hk2, hk3 = ((h * np.asarray(k, np.float64)).astype(dt)[:, None, None]
                     for k in model._coef(reverse))
    b0 = model.b0[reverse]
    lin, quad = (_cyclic_pieces(o) for o in model._offsets(reverse))
    E = np.empty((N_ELEMENTS, N, B), dtype=dt)
    E[...] = b0
    S = np.zeros_like(E)
    Dz = np.zeros((R + 1, B), dtype=dt)          # D and, last, the zero row
    D = Dz[:R].reshape(E.shape)
    acc, tmp = np.empty_like(E), np.empty_like(E)
    acc2 = acc.reshape(R, B)
    # the link terms as full operands (a broadcast multiply is several times slower)
    slots = []
    for rows, links, a, b in model._link_slots(reverse):
        hC = np.empty((rows.size, B), dtype=dt)
        hC[...] = np.where(links >= 0, h * np.asarray(C, np.float64)[links], 0.0
                           ).astype(dt)[:, None]
        slots.append((rows, hC, np.empty_like(hC), acc[:, a:b]))
    ext_rows = np.asarray(ext_flat, np.int64)
    ext_h = np.ascontiguousarray((np.asarray(ext, np.float64) * h).T.astype(dt))
    if ext_rows.size and np.array_equal(ext_rows, np.arange(ext_rows[0],
                                                            ext_rows[0] + ext_rows.size)):
        ext_rows = slice(int(ext_rows[0]), int(ext_rows[0]) + ext_rows.size)  # one block
    over = np.zeros((N, B), dtype=bool)
    lo, hi = dt.type(cfg.state_lo), dt.type(cfg.state_hi)
    for _ in range(cfg.steps):
        np.subtract(E, b0, out=D)
        S += D
        # h * (K1 E_lin - (K2 + K3 E_quad) E)
        for d, src in lin:
            np.multiply(E[src], hk1[d], out=acc[d])
        for d, src in quad:
            np.multiply(E[src], hk3[d], out=tmp[d])
        tmp += hk2
        tmp *= E
        acc -= tmp
        # + h * sum C D(other end) + h * external input
        for rows, hC, G, acc_ab in slots:
            np.take(Dz, rows, axis=0, out=G)
            G *= hC
            acc_ab += G.reshape(acc_ab.shape)
        acc2[ext_rows] += ext_h
        E += acc
        if E.size and (E.min() < lo or E.max() > hi):
            over |= ((E < lo) | (E > hi)).any(axis=0)
            np.clip(E, lo, hi, out=E)
    S *= dt.type(h)
    return S, over.T, E


def _fixed_int_type(model, C_mul, ext_int, reverse, clamp_S):
    """np.int32 if no intermediate of this run can reach 2**31, else np.int64.

    Worst case of every value of the step, from the state range, B0, K, the coefficients
    and inputs actually given: with int32 the run is the same integers at half the memory
    traffic.
    """
    fmt, cfg, F = model.fmt, model.cfg, model.fmt.frac
    b0 = [int(v) for v in np.ravel(model.b0_int[reverse])]
    k1, k2, k3 = (max(abs(int(v)) for v in np.ravel(k)) for k in model.k_int[reverse])
    e_max = max(abs(model.lo), abs(model.hi), *(abs(v) for v in b0))
    d_max = max(model.hi - min(b0), max(b0) - model.lo, 0)
    prod = e_max * e_max + (1 << (F - 1))
    q = (prod >> F) + 1
    c_max = int(np.abs(C_mul).max()) if C_mul.size else 0
    x_max = (int(np.abs(ext_int).max()) if ext_int.size else 0) << F
    fan = len(model._link_slots(reverse))
    acc = (k1 * e_max + k2 * e_max + k3 * q + fan * c_max * d_max + x_max
           + (1 << (F + cfg.h_shift)))          # the rounding offset: half, or a dither < 2**(F+k)
    s_max = (max(fmt.acc_max, -fmt.acc_min) + d_max) if clamp_S else cfg.steps * d_max
    e_new = e_max + (acc >> (F + cfg.h_shift)) + 1
    bound = max(prod, k3 * q, c_max * d_max, acc, s_max, e_new)
    return np.int32 if bound < 2 ** 31 - 1 else np.int64


def _fixed_run_chunk(model, C_int, ext_flat, ext_int, reverse):
    """One FixedModel run of a chunk of samples: (S, overflow (batch, N), final state).

    Exactly the integer step of the module docstring, in the order of operations of
    :func:`_float_run_chunk` (integer sums are exact in any order). The integrals are clamped
    only if ``steps`` times the largest possible ``|D|`` can reach the accumulator's range:
    otherwise the clamp can never act. Arithmetic is int32 when :func:`_fixed_int_type`
    proves nothing can overflow it, else int64; results are int64.
    """
    cfg, N, fmt = model.cfg, model.N, model.fmt
    B, R = ext_int.shape[0], N_ELEMENTS * N
    F = fmt.frac
    C_mul = fmt.coef_mul_operand(np.asarray(C_int, dtype=np.int64))
    b0_64 = np.asarray(model.b0_int[reverse], dtype=np.int64)
    max_d = max(model.hi - int(b0_64.min()), int(b0_64.max()) - model.lo, 0)
    clamp_S = cfg.steps * max_d > min(fmt.acc_max, -fmt.acc_min)
    it = _fixed_int_type(model, C_mul, ext_int, reverse, clamp_S)
    k1, k2, k3 = (np.array(k, dtype=it)[:, None, None] for k in model.k_int[reverse])
    b0 = b0_64.astype(it)[:, None, None]
    lin, quad = (_cyclic_pieces(o) for o in model._offsets(reverse))
    E = np.empty((N_ELEMENTS, N, B), dtype=it)
    E[...] = b0
    S = np.zeros_like(E)
    Dz = np.zeros((R + 1, B), dtype=it)          # D and, last, the zero row
    D = Dz[:R].reshape(E.shape)
    acc, q = np.empty_like(E), np.empty_like(E)
    acc2 = acc.reshape(R, B)
    slots = []
    for rows, links, a, b in model._link_slots(reverse):
        W = np.empty((rows.size, B), dtype=it)
        W[...] = np.where(links >= 0, C_mul[links], 0).astype(it)[:, None]
        slots.append((rows, W, np.empty_like(W), acc[:, a:b]))
    ext_rows = np.asarray(ext_flat, np.int64)
    ext_F = (np.ascontiguousarray(ext_int.T).astype(np.int64) << np.int64(F)).astype(it)
    if ext_rows.size and np.array_equal(ext_rows, np.arange(ext_rows[0],
                                                            ext_rows[0] + ext_rows.size)):
        ext_rows = slice(int(ext_rows[0]), int(ext_rows[0]) + ext_rows.size)  # one block
    half_q, half_e = it(1 << (F - 1)), it(1 << (F + cfg.h_shift - 1))
    shift_q, shift_e = it(F), it(F + cfg.h_shift)
    acc_lo, acc_hi = it(fmt.acc_min), it(fmt.acc_max)
    over = np.zeros((N, B), dtype=bool)
    lo, hi = it(model.lo), it(model.hi)
    dither_seeds = dither_index = None
    if reverse and fmt.reverse_dither:
        dither_seeds = dither_seed(ext_int)
        dither_index = model.dither_index
    for t in range(cfg.steps):
        np.subtract(E, b0, out=D)
        S += D
        if clamp_S:
            np.clip(S, acc_lo, acc_hi, out=S)
        # q = round_shift(E * E_quad, F)
        for d, src in quad:
            np.multiply(E[d], E[src], out=q[d])
        q += half_q
        q >>= shift_q
        q *= k3
        # acc = K1 E_lin - K2 E - K3 q + sum (C >> coef_extra) D + (x << F)
        for d, src in lin:
            np.multiply(E[src], k1[d], out=acc[d])
        acc -= q
        np.multiply(E, k2, out=q)
        acc -= q
        for rows, W, G, acc_ab in slots:
            np.take(Dz, rows, axis=0, out=G)
            G *= W
            acc_ab += G.reshape(acc_ab.shape)
        acc2[ext_rows] += ext_F
        # E += round_shift(acc, F + h_shift), or the dithered (acc + r) >> (F + h_shift)
        if dither_seeds is None:
            acc += half_e
        else:
            np.add(acc2, dither_offsets(dither_seeds, t, dither_index, F + cfg.h_shift),
                   out=acc2, casting="unsafe")     # offsets < 2**(F + h_shift) <= 2**31
        acc >>= shift_e
        E += acc
        if E.size and (E.min() < lo or E.max() > hi):
            over |= ((E < lo) | (E > hi)).any(axis=0)
            np.clip(E, lo, hi, out=E)
    return S.astype(np.int64), over.T, E.astype(np.int64)


class _Base:
    def __init__(self, topology: Topology, cfg: RunConfig = RunConfig(),
                 neuron: NeuronParams = MODEL1_NEURON):
        if not isinstance(topology, Topology):
            raise TypeError(f"topology must be a Topology, not {type(topology).__name__}")
        if not isinstance(cfg, RunConfig):
            raise TypeError(f"cfg must be a RunConfig, not {type(cfg).__name__}")
        if not isinstance(neuron, NeuronParams):
            raise TypeError(f"neuron must be a NeuronParams, not {type(neuron).__name__}")
        self.topology, self.cfg, self.neuron = topology, cfg, neuron
        N = topology.n_neurons
        self.N = N
        t = topology
        self.src_flat = (t.src_elem * N + t.src_neuron).astype(np.int64)
        self.dst_flat = (t.dst_elem * N + t.dst_neuron).astype(np.int64)
        self.in_flat = t.in_elem * N + t.input_neurons
        self.out_flat = t.out_elem * N + t.output_neurons
        L = t.n_links
        # CSR structure of W[dst, src] = C, and of its transpose; data = C[perm]
        fwd = sp.csr_matrix((np.arange(1, L + 1, dtype=np.float64),
                             (self.dst_flat, self.src_flat)), shape=(5 * N, 5 * N))
        rev = sp.csr_matrix((np.arange(1, L + 1, dtype=np.float64),
                             (self.src_flat, self.dst_flat)), shape=(5 * N, 5 * N))
        fwd.sum_duplicates(), rev.sum_duplicates()
        if fwd.nnz != L:
            raise ValueError("topology has two links between the same pair of interfaces")
        self._fwd = (fwd.indices.copy(), fwd.indptr.copy(), fwd.data.astype(np.int64) - 1)
        self._rev = (rev.indices.copy(), rev.indptr.copy(), rev.data.astype(np.int64) - 1)
        # cyclic padding of 2 on each side: X[2 + j] = E[j mod 5] for j in [-2, 7)
        self._p = 2
        self._slots = {}

    def _link_rows(self, reverse: bool):
        """(rows that receive, rows that send) of every link, flat indices into (5 * N)."""
        return (self.src_flat, self.dst_flat) if reverse else (self.dst_flat, self.src_flat)

    def _link_slots(self, reverse: bool):
        """The links as gathers, one slot per link an interface receives at most.

        Returns [(rows, links, a, b)]: only neurons a..b-1 receive links in this slot; for the
        interface of element e of neuron n (flat index ``e * (b - a) + n - a``), ``rows`` is the
        flat row (into 5 * N) of the other end of its j-th incoming link, or 5 * N (a zero row),
        and ``links`` that link's index, or -1.
        """
        key = bool(reverse)
        if key not in self._slots:
            to_rows, from_rows = self._link_rows(reverse)
            R, N = 5 * self.N, self.N
            order = np.argsort(to_rows, kind="stable")
            t_sorted = to_rows[order]
            first = np.searchsorted(t_sorted, t_sorted, side="left")
            rank = np.arange(t_sorted.size) - first       # j: which link of its interface
            slots = []
            for j in range(int(rank.max()) + 1 if rank.size else 0):
                sel = rank == j
                to_j, from_j, link_j = t_sorted[sel], from_rows[order[sel]], order[sel]
                e, n = np.divmod(to_j, N)
                a, b = int(n.min()), int(n.max()) + 1
                at = e * (b - a) + n - a
                rows = np.full(5 * (b - a), R, dtype=np.intp)
                links = np.full(5 * (b - a), -1, dtype=np.int64)
                rows[at], links[at] = from_j, link_j
                slots.append((rows, links, a, b))
            self._slots[key] = slots
        return self._slots[key]

    def _matrix(self, C, reverse: bool, dtype):
        idx, ptr, perm = self._rev if reverse else self._fwd
        n = 5 * self.N
        return sp.csr_matrix((np.asarray(C)[perm].astype(dtype), idx, ptr), shape=(n, n))

    def _offsets(self, reverse: bool):
        a, b = self.neuron.lin_offset, self.neuron.quad_offset
        if reverse:
            a, b = -a, -b
        return ((a + 2) % 5) - 2, ((b + 2) % 5) - 2  # the same element, as -2..2

    def _views(self, X, reverse: bool):
        """E, E_lin, E_quad as slices of the padded state X (shape (9, N, B))."""
        p = self._p
        a, b = self._offsets(reverse)
        return X[p:p + 5], X[p + a:p + a + 5], X[p + b:p + b + 5]

    def _refresh_pad(self, X, reverse: bool):
        """Copy the wrapped-around elements into the padding the offsets read."""
        a, b = self._offsets(reverse)
        lo, hi = max(0, -min(a, b)), max(0, max(a, b))
        if lo:
            X[2 - lo:2] = X[7 - lo:7]
        if hi:
            X[7:7 + hi] = X[2:2 + hi]

    def _coef(self, reverse: bool):
        k1, k2, k3 = self.neuron.coefficients(reverse)
        return k1, k2, k3

    def _check_batch(self, x, n, what):
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != n:
            raise ValueError(f"{what} must have shape (batch, {n}), got {np.shape(x)}")
        return x

    def link_ends(self, S, R):
        """Per link and sample: the forward integral at its source, reverse at its target."""
        S2 = S.reshape(5 * self.N, -1)
        R2 = R.reshape(5 * self.N, -1)
        return S2[self.src_flat], R2[self.dst_flat]


class FloatModel(_Base):
    """The float reference: a NumPy vectorised Euler integrator of the whole network.

    ``threads``: the batch is split into chunks run in parallel threads (NumPy releases the
    GIL); None picks one thread per core. Samples are independent, so the split does not
    change a single bit of the result.

    ``kernel``: the run loop: ``"numba"`` (the fused compiled kernel of :mod:`golden.kernels`,
    the same floats), ``"numpy"`` (``_float_run_chunk``), ``"auto"`` (numba when importable);
    None reads ``$WUXING_KERNEL`` (default auto). The chosen one is ``self.kernel``.
    """

    def __init__(self, topology, cfg=RunConfig(), neuron=MODEL1_NEURON, dtype=np.float32,
                 threads: int | None = None, kernel: str | None = None):
        super().__init__(topology, cfg, neuron)
        self.dtype = np.dtype(dtype)
        self.threads = _check_threads(threads)
        self.kernel = _resolve_kernel(kernel)
        self.b0 = {r: neuron.fixed_point(r).astype(self.dtype)[:, None, None]
                   for r in (False, True)}

    def _run(self, C, ext_flat, ext, reverse):
        ext = np.asarray(ext)
        if self.kernel == "numba":
            from . import kernels
            return RunResult(*kernels.float_run(self, C, ext_flat, ext, reverse))
        B = ext.shape[0]
        chunks = _batch_chunks(B, 5 * self.N, self.threads)
        pieces = [(self, C, ext_flat, ext[a:b], reverse) for a, b in chunks]
        parts = _map_threads(_float_run_chunk, pieces)
        return RunResult(S=np.concatenate([p[0] for p in parts], axis=2),
                         overflow=np.concatenate([p[1] for p in parts], axis=0),
                         final_state=np.concatenate([p[2] for p in parts], axis=2))

    def forward(self, C, x) -> RunResult:
        """Forward run with inputs ``x`` (batch, n_inputs), pixels in [0, 1]."""
        x = self._check_batch(x, self.topology.layers[0], "input")
        return self._run(C, self.in_flat, x * self.cfg.input_scale, reverse=False)

    def reverse(self, C, err) -> RunResult:
        """Reverse run with the error (batch, n_outputs) held on the output elements."""
        err = self._check_batch(err, self.topology.layers[-1], "error")
        return self._run(C, self.out_flat, err, reverse=True)

    def outputs(self, res: RunResult) -> np.ndarray:
        S = res.S.reshape(5 * self.N, -1)[self.out_flat].T.astype(np.float64)
        return S / self.cfg.T if self.cfg.output_mean else S

    def error(self, y, target) -> np.ndarray:
        return self.cfg.err_scale * (np.asarray(target, dtype=np.float64) - y)

    def bsp_update(self, C, S, R, step_exp: int | None = None) -> np.ndarray:
        """New coefficients after one BSP update (G1 averaged over the batch); ``step_exp``:
        the step ``2**step_exp`` of this update (default: the RunConfig's step), as in
        :meth:`FixedModel.bsp_update`."""
        cfg = self.cfg
        if step_exp is None:
            step = cfg.step
        elif isinstance(step_exp, (int, np.integer)) and not isinstance(step_exp, bool):
            step = 2.0 ** int(step_exp)
        else:
            raise TypeError(f"step_exp must be an int, not {type(step_exp).__name__}")
        s, r = self.link_ends(S, R)
        g1 = np.mean(s.astype(np.float64) * r, axis=1)
        g2 = np.arctan(cfg.kt * g1) / cfg.kt
        return np.clip(C + step * g2, cfg.c_min, cfg.c_max)


class FixedModel(_Base):
    """The bit-exact integer model of the hardware (``threads`` and ``kernel`` as in
    :class:`FloatModel`; the numba kernel gives the same integers)."""

    def __init__(self, topology, cfg=RunConfig(), neuron=MODEL1_NEURON,
                 fmt: FixedFormat = DEFAULT_FORMAT, table: AtanTable = DEFAULT_TABLE,
                 threads: int | None = None, kernel: str | None = None):
        super().__init__(topology, cfg, neuron)
        self.threads = _check_threads(threads)
        self.kernel = _resolve_kernel(kernel)
        if not isinstance(fmt, FixedFormat):
            raise TypeError(f"fmt must be a FixedFormat, not {type(fmt).__name__}")
        self.fmt, self.table = fmt, table
        for name in ("state_lo", "state_hi"):
            if not fmt.fits(getattr(cfg, name)):
                raise ValueError(f"{name}={getattr(cfg, name)} does not fit {fmt.describe()}")
        for name in ("c_min", "c_max"):
            if not fmt.fits(getattr(cfg, name)):
                raise ValueError(f"{name}={getattr(cfg, name)} does not fit {fmt.describe()}")
        self.kt_exp = power_of_two_exponent(cfg.kt, "kt")
        if table.x_limit > BSP_ACC_MAX:
            raise ValueError(f"the atan table's input range ({table.x_limit}) exceeds the "
                             f"{BSP_ACC_BITS}-bit BSP accumulator")
        self.step_exp = power_of_two_exponent(cfg.step, "step")
        self.err_exp = power_of_two_exponent(cfg.err_scale, "err_scale")
        self.target_int = int(fmt.to_int(cfg.target))
        if fmt.reverse_dither and fmt.frac + cfg.h_shift > 32:
            raise ValueError("reverse_dither needs frac + h_shift <= 32 (a 32-bit hash)")
        # the dither's element index (n << 3) | e, in the (5, N) state layout
        self.dither_index = ((np.arange(self.N, dtype=np.uint32)[None, :] << np.uint32(3))
                             | np.arange(5, dtype=np.uint32)[:, None]).reshape(-1)
        self.lo = fmt.to_int(cfg.state_lo)
        self.hi = fmt.to_int(cfg.state_hi)
        self.c_lo = fmt.coef_to_int(cfg.c_min)
        self.c_hi = fmt.coef_to_int(cfg.c_max)
        self.k_int = {r: tuple(fmt.to_int(k) for k in self._coef(r)) for r in (False, True)}
        self.b0_int = {r: fmt.to_int(neuron.fixed_point(r)) for r in (False, True)}

    # conversions the host does --------------------------------------------------------
    def input_to_int(self, x):
        x = self._check_batch(x, self.topology.layers[0], "input")
        return self.fmt.to_int(np.asarray(x, dtype=np.float64) * self.cfg.input_scale)

    def coef_to_int(self, C):
        return np.clip(self.fmt.coef_to_int(C), self.c_lo, self.c_hi)

    def coef_to_real(self, C_int):
        return self.fmt.to_real(C_int, self.fmt.coef_frac)

    def outputs(self, res: RunResult) -> np.ndarray:
        """Output integrals as integers (batch, n_outputs)."""
        return res.S.reshape(5 * self.N, -1)[self.out_flat].T.copy()

    def outputs_real(self, res: RunResult) -> np.ndarray:
        y = self.outputs(res).astype(np.float64) * self.cfg.h / self.fmt.one
        return y / self.cfg.T if self.cfg.output_mean else y

    # the error, in integers (what the chip computes from its output integrals) ------------
    @property
    def output_scale(self) -> tuple[int, int]:
        """``(M, s)`` with ``y = round_shift(S * M, s)``: an output integral ``S`` (frac bits,
        times h) as the output value ``y`` (frac bits). ``output_mean``: ``M / 2**s`` is
        ``1 / steps`` rounded to a positive ``width``-bit multiplier operand (the largest
        ``s`` with ``M = round(2**s / steps) < 2**(width-1)``, then factors of two cancelled:
        a power-of-two ``steps`` gives ``M = 1``, a plain shift). Otherwise ``y = S * h``:
        ``(1, h_shift)``."""
        if not self.cfg.output_mean:
            return 1, self.cfg.h_shift
        steps, lim = self.cfg.steps, 1 << (self.fmt.width - 1)
        s = 0
        while (((1 << (s + 1)) + steps // 2) // steps) < lim:
            s += 1
        M = ((1 << s) + steps // 2) // steps        # round half up of 2**s / steps
        while M % 2 == 0 and s > 0:
            M, s = M // 2, s - 1
        return M, s

    def output_values(self, out_int) -> np.ndarray:
        """Output values ``y = round_shift(S * M, s)`` (frac bits) of output integrals."""
        M, s = self.output_scale
        return round_shift(np.asarray(out_int, np.int64) * np.int64(M), s)

    def error_from_outputs(self, out_int, labels) -> np.ndarray:
        """The reverse input the chip forms from its output integrals and the label::

            y   = round_shift(S * M, s)                              (output_scale)
            err = sat(shift(target_int * onehot(label) - y, e), min_int, max_int)

        ``target_int = to_int(cfg.target)``, ``err_scale = 2**e`` (``shift``: left by ``e``,
        or ``round_shift`` by ``-e``), saturated to the state format. ``out_int`` (batch,
        n_outputs), ``labels`` (batch,). Integer operations only.
        """
        out_int = np.asarray(out_int, np.int64)
        labels = np.asarray(labels, np.int64)
        n = self.topology.layers[-1]
        if out_int.ndim != 2 or out_int.shape[1] != n or labels.shape != out_int.shape[:1]:
            raise ValueError(f"need output integrals (batch, {n}) and one label per sample, "
                             f"got {out_int.shape} and {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= n):
            raise ValueError(f"labels must be in 0..{n - 1}")
        t = np.where(np.arange(n)[None, :] == labels[:, None], self.target_int, 0)
        return self._error(out_int, t)

    def error_from_targets(self, out_int, target) -> np.ndarray:
        """:meth:`error_from_outputs` with a target vector per sample (each entry quantised
        with ``to_int``) instead of a label: the same integers for ``target * onehot``."""
        out_int = np.asarray(out_int, np.int64)
        return self._error(out_int, self.fmt.to_int(np.asarray(target, np.float64)))

    def _error(self, out_int, t_int):
        e = self.err_exp
        d = np.asarray(t_int, np.int64) - self.output_values(out_int)
        d = round_shift(d, -e)
        return np.clip(d, self.fmt.min_int, self.fmt.max_int)

    def error_int(self, res: RunResult, target) -> np.ndarray:
        """The error vector of a forward run for target vectors (:meth:`error_from_targets`)."""
        return self.error_from_targets(self.outputs(res), target)

    # runs -----------------------------------------------------------------------------
    def _run(self, C_int, ext_flat, ext_int, reverse):
        ext_int = np.asarray(ext_int, np.int64)
        if self.kernel == "numba":
            from . import kernels
            return RunResult(*kernels.fixed_run(self, C_int, ext_flat, ext_int, reverse))
        chunks = _batch_chunks(ext_int.shape[0], 5 * self.N, self.threads)
        pieces = [(self, C_int, ext_flat, ext_int[a:b], reverse) for a, b in chunks]
        parts = _map_threads(_fixed_run_chunk, pieces)
        return RunResult(S=np.concatenate([p[0] for p in parts], axis=2),
                         overflow=np.concatenate([p[1] for p in parts], axis=0),
                         final_state=np.concatenate([p[2] for p in parts], axis=2))

    def forward(self, C_int, x_int) -> RunResult:
        """Forward run; ``x_int`` (batch, n_inputs) integers with ``frac`` fraction bits."""
        x_int = self._check_batch(x_int, self.topology.layers[0], "input")
        return self._run(C_int, self.in_flat, np.asarray(x_int, np.int64), reverse=False)

    def reverse(self, C_int, err_int) -> RunResult:
        err_int = self._check_batch(err_int, self.topology.layers[-1], "error")
        return self._run(C_int, self.out_flat, np.asarray(err_int, np.int64), reverse=True)

    def bsp_shifts(self, batch: int = 1, step_exp: int | None = None):
        """(shift into the table input, shift from the table output to C's LSBs) for a batch
        of ``batch`` (a power of two) and the step ``2**step_exp`` (default: the RunConfig's)."""
        j = power_of_two_exponent(batch, "batch size")
        fmt, tab = self.fmt, self.table
        step_exp = self._step_exp(step_exp)
        s_in = 2 * fmt.frac + 2 * self.cfg.h_shift + j - self.kt_exp - tab.table_frac
        s_out = tab.table_frac + self.kt_exp - step_exp - fmt.frac - fmt.coef_extra
        return s_in, s_out

    def _step_exp(self, step_exp):
        if step_exp is None:
            return self.step_exp
        if not isinstance(step_exp, (int, np.integer)) or isinstance(step_exp, bool):
            raise TypeError(f"step_exp must be an int, not {type(step_exp).__name__}")
        return int(step_exp)

    def bsp_accumulate(self, S_int, R_int) -> np.ndarray:
        """The per-link BSP accumulator after a batch (int64 holding 32-bit values)::

            p_b = sign(S_src R_dst) * round_shift(|S_src R_dst|, s_in(batch 1))
            A   = sat32(... sat32(sat32(p_0) + sat32(p_1)) ... + sat32(p_(B-1)))

        summed in sample order (saturation makes the order part of the definition)."""
        s, r = self.link_ends(S_int, R_int)
        s_in1, _ = self.bsp_shifts(1)
        prod = s * r
        mag = np.abs(prod)
        if s_in1 >= 0:
            p = np.minimum(round_shift(mag, s_in1), BSP_ACC_MAX)
        else:   # a left shift: saturate first (int64 must not wrap)
            big = mag > (BSP_ACC_MAX >> min(-s_in1, 62))
            p = np.where(big, BSP_ACC_MAX, np.where(big, 0, mag) << np.int64(min(-s_in1, 62)))
        p = np.where(prod < 0, -p, p)
        if p.shape[1] == 1:
            return p[:, 0]
        csum = np.cumsum(p, axis=1)           # exact while no partial sum leaves 32 bits
        if csum.min() >= BSP_ACC_MIN and csum.max() <= BSP_ACC_MAX:
            return csum[:, -1]
        A = np.zeros(p.shape[0], np.int64)
        for b in range(p.shape[1]):
            A = np.clip(A + p[:, b], BSP_ACC_MIN, BSP_ACC_MAX)
        return A

    def bsp_delta(self, S_int, R_int, step_exp: int | None = None) -> np.ndarray:
        """Signed integer change of every C (before the clamp) from integrals of a batch of
        ``2**j`` samples: ``x = round_shift(|A|, j)`` of the accumulator
        (:meth:`bsp_accumulate`), ``dC = sign(A) * round_shift(atan_table(x), s_out)``.
        ``step_exp``: the step ``2**step_exp`` of this update (default: the RunConfig's)."""
        batch = np.shape(S_int)[-1]
        j = power_of_two_exponent(batch, "batch size")
        return self.bsp_delta_from_accumulator(self.bsp_accumulate(S_int, R_int), j, step_exp)

    def bsp_delta_from_accumulator(self, A, batch_log2: int, step_exp: int | None = None):
        """``dC = sign(A) * round_shift(atan_table(round_shift(|A|, j)), s_out)`` of per-link
        accumulators ``A`` (:meth:`bsp_accumulate`, or the chip's after a batch of ``2**j``
        samples). The shift into C's LSBs is limited to ``BSP_SHIFT_OUT_LIMITS`` of the
        table output width: beyond them round_shift gives 0, or a left shift that moves C to
        its clamp either way (int64 stays exact)."""
        _, s_out = self.bsp_shifts(1, step_exp)
        lo, hi = self.bsp_shift_out_limits()
        A = np.asarray(A, np.int64)
        x = round_shift(np.abs(A), int(batch_log2))
        d = round_shift(self.table.lookup(x), min(max(s_out, lo), hi))
        return np.where(A < 0, -d, d)

    def bsp_shift_out_limits(self) -> tuple[int, int]:
        """(lowest, highest) shift from the table output to C's LSBs that changes a result:
        a table output ``y`` < 2**(tw) rounds to 0 from a shift of tw + 1 on, and ``y << k``
        with ``k >= coef_width + 1`` moves any C beyond its clamp (y >= 1), so the chip
        clamps its step register's shift to this range with the same C."""
        tw = int(self.table.entries()[-1]).bit_length()
        return -(self.fmt.coef_width + 1), tw + 1

    def bsp_update_from_accumulator(self, C_int, A, batch_log2: int,
                                    step_exp: int | None = None) -> np.ndarray:
        """``clip(C + bsp_delta_from_accumulator(A, j, step_exp))``: the update at a batch's
        end."""
        return np.clip(np.asarray(C_int, np.int64)
                       + self.bsp_delta_from_accumulator(A, batch_log2, step_exp),
                       self.c_lo, self.c_hi)

    # learning on the chip (issue #10): the integers of its TRAIN_SAMPLE / EVAL_SAMPLE ------
    @staticmethod
    def predict(out_int) -> np.ndarray:
        """The predicted class of each sample: the index of its largest output integral, the
        lowest index on ties (the chip's ``predicted`` register). ``out_int`` (batch, n)."""
        out_int = np.asarray(out_int, np.int64)
        if out_int.ndim != 2 or out_int.shape[1] < 1:
            raise ValueError(f"need output integrals (batch, n_outputs), got {out_int.shape}")
        return np.argmax(out_int, axis=1)

    @property
    def pixel_table(self) -> np.ndarray:
        """The input integer of each 8-bit pixel value 0..255: ``input_to_int(p / 255)``,
        the scaling of golden.data (pixels / 255.0). The chip's region 8 holds this table."""
        p = np.arange(256, dtype=np.float64)[None, :] / 255.0
        return self.fmt.to_int(p * self.cfg.input_scale)[0].astype(np.int64)

    def pixel_to_int(self, pixels) -> np.ndarray:
        """Input integers of 8-bit pixels (ints 0..255, any shape): :attr:`pixel_table`."""
        p = np.asarray(pixels)
        if not np.issubdtype(p.dtype, np.integer) or (p.size and (p.min() < 0 or p.max() > 255)):
            raise ValueError("pixels must be integers in 0..255")
        return self.pixel_table[p.astype(np.int64)]

    def bsp_update(self, C_int, S_int, R_int, step_exp: int | None = None) -> np.ndarray:
        return np.clip(np.asarray(C_int, np.int64) + self.bsp_delta(S_int, R_int, step_exp),
                       self.c_lo, self.c_hi)
