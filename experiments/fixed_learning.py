"""Issue #11, part 1: fixed-point learning mechanisms for deep networks, side by side.

At MODEL1's depth the 16-bit golden model leaves about half of the links that float BSP moves
without an update (REPORT.md experiment 6): the reverse signal shrinks ~5-fold per layer
towards the input, so the reverse states of the first hidden layers move by less than half an
LSB per Euler step and their integrals R stay exactly zero. Each candidate below is a cheap
change of the hardware arithmetic; this script measures, per candidate and against float64
BSP from the same coefficients and samples:

* one BSP update at C0 (several training batches): cosine and norm ratio of the fixed-point
  change of C against float's, and the share of links float moves that fixed point leaves at
  zero ("frozen"), in total and per layer pair;
* a short training run (the same C0 and sample order as float): held-out accuracy per epoch.

The candidates run through :class:`Prototype`, a compact sparse-matrix integer model written
for this comparison; for the settings the golden model implements it is checked against
:class:`golden.network.FixedModel` at the start of every run (equal integers, counted).

    python -m experiments.fixed_learning --quick           # MODEL1, MODEL1 fan-in 4, tiny
    python -m experiments.fixed_learning --smoke           # seconds (tests)
    python -m experiments.fixed_learning --quick --nets model1 --candidates baseline rgain
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from wuxing.golden.atan_table import DEFAULT_TABLE
from wuxing.golden.config import power_of_two_exponent
from wuxing.golden.data import load_dataset
from wuxing.golden.fixedpoint import (FixedFormat, dither_offsets, dither_seed, round_shift,
                                      wang32)
from wuxing.golden.network import FixedModel, FloatModel, init_coefficients
from wuxing.golden.neuron import MODEL1_NEURON
from wuxing.golden.train import onehot, train

from .common import guarded, log, mode, out_dir, parser, plt, save_figure, write_result

NAME = "fixed_learning"
CLAIM = ("Issue #11: which cheap change of the hardware arithmetic lets bit-exact fixed-point "
         "BSP follow float on deep networks?")


@dataclass(frozen=True)
class Candidate:
    """One fixed-point learning mechanism (see the module docstring of the report)."""

    name: str
    width: int = 16
    frac: int = 12
    coef_extra: int = 8
    acc_width: int = 24
    state_extra: int = 0           # extra fraction bits kept in E (operands: top width bits)
    reverse_shift: int = 0         # left shift of the reverse link input into every layer
                                   # but the input layer (pairs 1..), undone in the BSP shift
    dither: tuple = ()             # "euler" (Euler increment), "bsp" (table input)
    dither_key: str = "run"        # euler seed per run: "run" counter, "err" (hash of the
                                   # run's input vector) or "step_row" (no seed)
    dither_runs: str = "both"      # dither "both" runs or the "reverse" run only
    batch_sum: str = "acc32"       # BSP batch sum: "acc32" (golden) or "exact" (int64)
    operand: str = "floor"         # multiplier operand of E: "floor" (E >> X) or "round"
    cost: str = ""

    def fmt(self) -> FixedFormat:
        return FixedFormat(self.width, self.frac, self.coef_extra, self.acc_width)

    def golden_format(self) -> FixedFormat | None:
        """The golden FixedFormat computing exactly this candidate, or None if golden has
        no such setting."""
        dith = "euler" in self.dither
        if (self.state_extra or self.reverse_shift or "bsp" in self.dither
                or self.batch_sum != "acc32"
                or (dith and (self.dither_runs, self.dither_key) != ("reverse", "err"))):
            return None
        return replace(self.fmt(), reverse_dither=dith)


class Prototype:
    """Integer forward/reverse runs and BSP of a :class:`Candidate` (batch in columns).

    Rows are flat interfaces ``e * N + n``. Per step (F = frac, k = h_shift, X = state_extra,
    E holds F + X fraction bits, its multiplier operand Et = E >> X)::

        D = E - (B0 << X);  S = sat(S + D)            (integrals carry the X extra bits)
        Dt = Et - B0;  q = round_shift(Et * Et_quad, F)
        acc = K1 Et_lin - K2 Et - K3 q + ((sum C_mul Dt) << g_row) + (x << F)
        E = sat(E + rnd(acc, F + k - X))   rnd = round_shift, or (acc + r) >> s (dither)

    ``g_row`` is the reverse shift of the layer pair whose reverse run feeds the row (0 in
    forward runs). BSP of a link of pair p: P = sum_b S_src R_dst, shifted into the table by
    ``s_in + 2 X + G_(p+1)`` with G the reverse shifts accumulated from the output layer.
    """

    def __init__(self, topo, cfg, cand: Candidate, neuron=MODEL1_NEURON, table=DEFAULT_TABLE):
        self.topo, self.cfg, self.cand, self.neuron, self.table = topo, cfg, cand, neuron, table
        self.gold = FixedModel(topo, cfg, neuron, cand.fmt(), table, threads=1)
        g, fmt = self.gold, cand.fmt()
        self.fmt = fmt
        N = topo.n_neurons
        self.N, self.R = N, 5 * N
        X = cand.state_extra
        self.X = X
        self.acc_lo = fmt.acc_min << X
        self.acc_hi = ((fmt.acc_max + 1) << X) - 1
        self.lo, self.hi = g.lo << X, g.hi << X
        L = topo.n_links
        self.W = {}
        for rev in (False, True):
            to, fr = g._link_rows(rev)
            self.W[rev] = (to, fr)
        self.layer_row = np.tile(topo.neuron_layer, 5)
        n_pairs = len(topo.layers) - 1
        # pair 0 feeds the input layer's reverse states, which no update reads
        self.shifts = np.array([0] + [cand.reverse_shift] * (n_pairs - 1), np.int64)
        # reverse rows of layer p receive from pair p; the output layer receives nothing
        self.row_shift = np.where(self.layer_row < n_pairs,
                                  self.shifts[np.minimum(self.layer_row, n_pairs - 1)], 0)
        # accumulated gain of the reverse signal at layer l: sum of shifts of pairs >= l
        G = np.concatenate([np.cumsum(self.shifts[::-1])[::-1], [0]])
        self.link_gain = G[topo.pair + 1]
        self.src_flat, self.dst_flat = g.src_flat, g.dst_flat
        self.L = L
        self.runs = 0     # run counter of the dithered Euler increment

    def _matrix(self, C_int, reverse):
        to, fr = self.W[reverse]
        c = self.fmt.coef_mul_operand(np.asarray(C_int, np.int64))
        return sp.csr_matrix((c, (to, fr)), shape=(self.R, self.R), dtype=np.int64)

    def _run(self, C_int, ext_rows, ext, reverse):
        cfg, fmt, X, N = self.cfg, self.fmt, self.X, self.N
        F, k = fmt.frac, cfg.h_shift
        B = ext.shape[0]
        W = self._matrix(C_int, reverse)
        b0 = np.repeat(np.asarray(self.gold.b0_int[reverse], np.int64), N)[:, None]
        k1, k2, k3 = (np.repeat(np.asarray(v, np.int64), N)[:, None]
                      for v in self.gold.k_int[reverse])
        lin, quad = self.gold._offsets(reverse)
        rows = np.arange(self.R)
        e_of, n_of = np.divmod(rows, N)
        lin_rows = ((e_of + lin) % 5) * N + n_of
        quad_rows = ((e_of + quad) % 5) * N + n_of
        E = np.repeat(b0 << X, B, axis=1)
        S = np.zeros_like(E)
        over = np.zeros((N, B), bool)
        xin = np.zeros_like(E)
        xin[ext_rows] = np.asarray(ext, np.int64).T << F
        gshift = (self.row_shift if reverse else np.zeros(self.R, np.int64))[:, None]
        sh = F + k - X
        dith = "euler" in self.cand.dither and (reverse or self.cand.dither_runs == "both")
        if dith:
            seeds = self._dither_seeds(ext, B)
        for t in range(cfg.steps):
            D = E - (b0 << X)
            S = np.clip(S + D, self.acc_lo, self.acc_hi)
            Et = E >> X if self.cand.operand == "floor" else round_shift(E, X)
            Dt = Et - b0
            q = round_shift(Et * Et[quad_rows], F)
            acc = k1 * Et[lin_rows] - k2 * Et - k3 * q + ((W @ Dt) << gshift) + xin
            if dith and sh > 0:
                inc = (acc + dither_offsets(seeds, t, self.gold.dither_index, sh).astype(np.int64)) >> sh
            else:
                inc = round_shift(acc, sh)
            E = E + inc
            bad = (E < self.lo) | (E > self.hi)
            if bad.any():
                over |= bad.reshape(5, N, B).any(axis=0)
                E = np.clip(E, self.lo, self.hi)
        return S.reshape(5, N, B), over.T

    def _dither_seeds(self, ext, B):
        """Per sample: the 32-bit seed of the run's dither sequence."""
        key = self.cand.dither_key
        run_id = self.runs
        self.runs += 1
        if key == "step_row":         # the same pattern in every run
            return np.zeros(B, np.uint32)
        if key == "run":              # a run counter (one per sample)
            return wang32(np.arange(B, dtype=np.uint32) + np.uint32(run_id * B))
        return dither_seed(ext)       # "err": the golden rule, a fold of the run's input

    def forward(self, C_int, x_int):
        return self._run(C_int, self.gold.in_flat, x_int, False)

    def reverse(self, C_int, err_int):
        return self._run(C_int, self.gold.out_flat, err_int, True)

    def outputs_real(self, S):
        y = S.reshape(self.R, -1)[self.gold.out_flat].T.astype(np.float64)
        y = y / float(1 << (self.fmt.frac + self.X)) * self.cfg.h
        return y / self.cfg.T if self.cfg.output_mean else y

    def error(self, S, labels):
        """The chip's integer error (golden ``error_from_outputs``) of the output integrals,
        their X extra bits rounded off first."""
        out = round_shift(S.reshape(self.R, -1)[self.gold.out_flat].T, self.X)
        return self.gold.error_from_outputs(out, labels)

    def bsp_delta(self, S, R, update=0):
        """dC per link. ``batch_sum`` "acc32": per-sample products brought to the table input
        (sign and magnitude), summed in a saturating 32-bit accumulator, shifted by j (the
        golden rule); "exact": the exact int64 sum, shifted once (the rule before #11)."""
        s = S.reshape(self.R, -1)[self.src_flat]
        r = R.reshape(self.R, -1)[self.dst_flat]
        B = s.shape[1]
        j = power_of_two_exponent(B, "batch")
        s_in1, s_out = self.gold.bsp_shifts(1)
        shift = (s_in1 + 2 * self.X + self.link_gain)[:, None]
        dither = "bsp" in self.cand.dither
        if self.cand.batch_sum == "exact":
            prod = np.sum(s * r, axis=1, keepdims=True)
            shift = shift + j
        else:
            prod = s * r
        mag = np.abs(prod)
        assert shift.min() >= 0, "left shifts are not needed by the candidates"
        if dither:
            rnd = wang32(np.arange(self.L, dtype=np.uint32) ^ np.uint32(wang32(update)))
            half = rnd.astype(np.int64)[:, None] & ((np.int64(1) << shift) - 1)
        else:
            half = np.where(shift > 0, np.int64(1) << np.maximum(shift - 1, 0), 0)
        p = (mag + half) >> shift
        if self.cand.batch_sum == "exact":
            A = np.where(prod < 0, -p, p)[:, 0]
            x = np.abs(A)
        else:
            p = np.minimum(p, (1 << 31) - 1)
            A = np.zeros(self.L, np.int64)
            for b in range(B):
                A = np.clip(A + np.where(prod[:, b] < 0, -p[:, b], p[:, b]),
                            -(1 << 31), (1 << 31) - 1)
            x = round_shift(np.abs(A), j)
        d = round_shift(self.table.lookup(x), s_out)
        return np.where(A < 0, -d, d)

    def coef_to_int(self, C):
        return self.gold.coef_to_int(C)

    def coef_to_real(self, C):
        return self.gold.coef_to_real(C)

    def input_to_int(self, x):
        return self.gold.input_to_int(x)


# --- the candidates -------------------------------------------------------------------------
_DITHER_REV = dict(dither=("euler",), dither_runs="reverse", dither_key="err")
CANDIDATES = {c.name: c for c in (
    Candidate("baseline", cost="none: today's gateware (Q3.12, 16-bit states, 24-bit integrals, "
              "C registers 24 bits, round half up)"),
    Candidate("state+4", state_extra=4, operand="round",
              cost="cheap: state words 20 bits, integrals 28 bits, one rounding adder for the "
                   "multiplier operand; the BSP product grows to 28 x 28 bits"),
    Candidate("state+4 floor", state_extra=4,
              cost="as state+4 without the rounding adder (operand = top bits, floor)"),
    Candidate("rgain 1", reverse_shift=1,
              cost="cheap: a per-layer shift of the reverse link sum (+1 accumulator bit) and a "
                   "per-pair BSP shift table; the gains are per network"),
    Candidate("rgain 2", reverse_shift=2, cost="as rgain 1 (+2 accumulator bits)"),
    Candidate("dither bsp", dither=("bsp",),
              cost="a hash per link update (BSP unit only)"),
    Candidate("dither step,row", dither=("euler",), dither_key="step_row",
              cost="a 32-bit shift/add/xor hash per lane, keyed by (step, element) only"),
    Candidate("dither run", dither=("euler",), dither_key="run",
              cost="a hash per lane and a run counter register the host must track; "
                   "forward runs (inference) become run-dependent"),
    Candidate("dither rev run", dither=("euler",), dither_runs="reverse", dither_key="run",
              cost="a hash per lane and a run counter register the host must track"),
    Candidate("learning", **_DITHER_REV,
              cost="a hash per lane (6 shift/add/xor stages on 32 bits, no multiplier) in the "
                   "reverse run; the seed folds the 10 error inputs once per run; no new "
                   "state, forward runs unchanged"),
    Candidate("learning exact-sum", batch_sum="exact", **_DITHER_REV,
              cost="learning with the previous exact int64 batch sum: a 48 + j bit "
                   "accumulator per link instead of 32"),
    Candidate("q3.14", width=18, frac=14, acc_width=26,
              cost="expensive on iCE40 (18 x 18 products: 4 passes of its 16 x 16 DSP), "
                   "native on ECP5; every memory word +2 bits"),
    Candidate("coef+4", coef_extra=12, cost="cheap: C registers 28 bits"),
)}
TRAINED = dict(smoke=("baseline", "learning"),
               quick=dict(model1=tuple(CANDIDATES),
                          **{n: ("baseline", "state+4", "rgain 1", "dither rev run", "learning",
                                 "q3.14") for n in ("model1-fan4", "tiny")}))


def net_setup(name: str, m: str):
    """(topology, RunConfig, dataset name, batch, n_train, n_test, epochs) of a network."""
    from wuxing.golden.topology import preset
    from wuxing.golden.train import RECIPES
    if name == "tiny":
        rec = RECIPES["tiny-digits4"]
        sizes = dict(smoke=(64, 64, 1), quick=(None, None, 8), full=(None, None, 15))[m]
        return (rec.build_topology(), rec.cfg, rec.dataset, rec.batch) + sizes
    rec = RECIPES["model1-mnist"]
    sizes = dict(smoke=(64, 64, 1), quick=(2000, 500, 2), full=(4000, 1000, 3))[m]
    if name == "model1":
        return (rec.build_topology(), rec.cfg, rec.dataset, rec.batch) + sizes
    if name == "model1-fan4":   # C0, C range and step / sqrt(4) (REPORT.md experiment 4)
        c = rec.cfg
        cfg = c.replace(c_init_lo=c.c_init_lo / 2, c_init_hi=c.c_init_hi / 2,
                        c_min=c.c_min / 2, c_max=c.c_max / 2, step=c.step / 2)
        return (preset("model1", fan_in=4, fan_out=4), cfg, rec.dataset, rec.batch) + sizes
    raise ValueError(f"unknown network {name!r}; choose from model1, model1-fan4, tiny")


# --- measurements -------------------------------------------------------------------------
def _cos(a, b):
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-300))


def cross_check(topo, cfg, cand, x, labels) -> int:
    """The prototype against golden FixedModel on one batch (forward S, reverse R, dC):
    AssertionError unless equal; returns the number of integers compared."""
    gf = cand.golden_format()
    pr = Prototype(topo, cfg, cand)
    g = FixedModel(topo, cfg, fmt=gf)
    C = g.coef_to_int(init_coefficients(topo, cfg, 0))
    S, _ = pr.forward(C, pr.input_to_int(x))
    f = g.forward(C, g.input_to_int(x))
    R, _ = pr.reverse(C, pr.error(S, labels))
    r = g.reverse(C, g.error_from_outputs(g.outputs(f), labels))
    d1, d2 = pr.bsp_delta(S, R), g.bsp_delta(f.S, r.S)
    for a, b, what in ((S, f.S, "S"), (R, r.S, "R"), (d1, d2, "dC")):
        assert np.array_equal(a, b), f"{cand.name}: prototype {what} differs from golden"
    return int(S.size + R.size + d1.size)


def update_agreement(topo, cfg, cand, C_real, x, labels, batch, n_batches=4, seed=0):
    """One BSP update from ``C_real`` (rounded to the C registers) on ``n_batches`` random
    training batches: the candidate's change of C against float64 BSP's on the same batch."""
    fl = FloatModel(topo, cfg, dtype=np.float64)
    pr = Prototype(topo, cfg, cand)
    Ci = pr.coef_to_int(C_real)
    Cr = pr.coef_to_real(Ci)
    rng = np.random.default_rng(seed)
    n_pairs = len(topo.layers) - 1
    out = dict(cosine=[], norm_ratio=[], frozen=[], frozen_pair=[], cosine_pair=[])
    for u in range(n_batches):
        i = rng.choice(len(labels), batch, replace=False)
        tb = onehot(labels[i], topo.layers[-1]) * cfg.target
        res = fl.forward(Cr, x[i])
        d_float = fl.bsp_update(Cr, res.S, fl.reverse(Cr, fl.error(fl.outputs(res), tb)).S) - Cr
        S, _ = pr.forward(Ci, pr.input_to_int(x[i]))
        R, _ = pr.reverse(Ci, pr.error(S, labels[i]))
        d_fixed = pr.coef_to_real(pr.bsp_delta(S, R, update=u))
        moved = d_float != 0
        fr = (d_fixed == 0) & moved
        out["cosine"].append(_cos(d_fixed, d_float))
        out["norm_ratio"].append(float(np.linalg.norm(d_fixed)
                                       / max(np.linalg.norm(d_float), 1e-300)))
        out["frozen"].append(float(fr.sum() / max(moved.sum(), 1)))
        out["frozen_pair"].append([float(fr[topo.pair == p].sum()
                                         / max(moved[topo.pair == p].sum(), 1))
                                   for p in range(n_pairs)])
        out["cosine_pair"].append([_cos(d_fixed[topo.pair == p], d_float[topo.pair == p])
                                   for p in range(n_pairs)])
    return out


def exact_sum_delta(model: FixedModel, S, R):
    """dC by the batch rule before issue #11: the exact int64 sum of the products, shifted
    into the table once (``round_shift(|sum_b S R|, s_in + j)``)."""
    s, r = model.link_ends(S, R)
    P = np.sum(s * r, axis=1)
    j = power_of_two_exponent(s.shape[1], "batch")
    s_in, s_out = model.bsp_shifts(1)
    d = round_shift(model.table.lookup(round_shift(np.abs(P), s_in + j)), s_out)
    return np.where(P < 0, -d, d)


def batch_rule_agreement(topo, cfg, fmt, C_real, x, labels, batch, n_batches=4, seed=0):
    """The 32-bit accumulator rule against the exact int64 sum, on the same integrals."""
    g = FixedModel(topo, cfg, fmt=fmt)
    C = g.coef_to_int(C_real)
    rng = np.random.default_rng(seed)
    diff, n, maxd, cos = 0, 0, 0, []
    for _ in range(n_batches):
        i = rng.choice(len(labels), batch, replace=False)
        f = g.forward(C, g.input_to_int(x[i]))
        r = g.reverse(C, g.error_from_outputs(g.outputs(f), labels[i]))
        a, b = g.bsp_delta(f.S, r.S), exact_sum_delta(g, f.S, r.S)
        diff += int(np.sum(a != b))
        n += a.size
        maxd = max(maxd, int(np.abs(a - b).max()))
        cos.append(_cos(a.astype(np.float64), b.astype(np.float64)))
    return dict(links_compared=n, links_different=diff, share_different=diff / n,
                max_abs_difference_lsb=maxd, cosine=float(np.mean(cos)), batch=batch)


def train_candidate(topo, cfg, cand, data, *, epochs, batch, n_train, n_test, seed=0,
                    log=None):
    """BSP training with golden.train.train's C0 and sample order: through golden.train
    when golden implements the candidate, else through the prototype (same loop)."""
    gf = cand.golden_format()
    if gf is not None:
        res = train(topo, cfg, data, epochs=epochs, batch=batch, seed=seed, fixed=True,
                    fmt=gf, n_train=n_train, n_test=n_test,
                    log=(lambda s: log(f"  {cand.name}: {s}")) if log else None)
        return dict(test_acc=[h["test_acc"] for h in res.history], C_real=res.C_real,
                    engine="golden")
    pr = Prototype(topo, cfg, cand)
    g = pr.gold
    xtr, ytr = data.x_train[:n_train], data.y_train[:n_train]
    xte, yte = data.x_test[:n_test], data.y_test[:n_test]
    C = g.coef_to_int(init_coefficients(topo, cfg, seed))
    rng = np.random.default_rng(seed + 1)
    per_epoch = len(xtr) // batch
    t0 = time.perf_counter()

    def held_out():
        correct = 0
        for a in range(0, len(xte), 256):
            S, _ = pr.forward(C, pr.input_to_int(xte[a:a + 256]))
            correct += int(np.sum(pr.outputs_real(S).argmax(1) == yte[a:a + 256]))
        return correct / len(xte)

    acc = [held_out()]
    update = 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(xtr))
        for b in range(per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            S, _ = pr.forward(C, pr.input_to_int(xtr[idx]))
            R, _ = pr.reverse(C, pr.error(S, ytr[idx]))
            C = np.clip(C + pr.bsp_delta(S, R, update=update), g.c_lo, g.c_hi)
            update += 1
        acc.append(held_out())
        if log:
            log(f"  {cand.name}: epoch {epoch} held-out {100 * acc[-1]:.1f} % "
                f"({time.perf_counter() - t0:.0f} s)")
    return dict(test_acc=acc, C_real=g.coef_to_real(C), engine="prototype")


# --- the experiment -------------------------------------------------------------------------
def run(args) -> dict:
    started = time.time()
    m = mode(args)
    nets = args.nets or ["model1", "model1-fan4", "tiny"]
    names = args.candidates or list(CANDIDATES)
    for n in names:
        if n not in CANDIDATES:
            raise ValueError(f"unknown candidate {n!r}; choose from {', '.join(CANDIDATES)}")
    results = {}
    for net in nets:
        topo, cfg, dname, batch, n_train, n_test, epochs = net_setup(net, m)
        epochs = args.epochs or epochs
        data = load_dataset(dname)
        xtr, ytr = data.x_train[:n_train], data.y_train[:n_train]
        C0 = init_coefficients(topo, cfg, 0)
        log(f"{net}: {topo.n_neurons} neurons, {topo.n_links} links, {dname} "
            f"{len(ytr)} / {len(data.y_test[:n_test])}, batch {batch}, {epochs} epochs")
        checked = {n: cross_check(topo, cfg, CANDIDATES[n], xtr[:batch], ytr[:batch])
                   for n in names if CANDIDATES[n].golden_format() is not None}
        log(f"  prototype = golden FixedModel for {', '.join(checked)}: "
            f"{sum(checked.values())} integers equal")
        fres = train(topo, cfg, data, epochs=epochs, batch=batch, n_train=n_train,
                     n_test=n_test, seed=0)
        dC_float = fres.C_real - C0
        net_res = dict(topology=topo.spec(), run=cfg.as_dict(), batch=batch, epochs=epochs,
                       n_train=len(ytr), n_test=len(data.y_test[:n_test]), cross_check=checked,
                       float=dict(test_acc=[h["test_acc"] for h in fres.history]),
                       batch_rule=batch_rule_agreement(topo, cfg, CANDIDATES["learning"]
                                                       .golden_format(), C0, xtr, ytr, batch),
                       candidates={})
        log(f"  float: held-out {[round(100 * h['test_acc'], 1) for h in fres.history]}")
        trained = TRAINED["smoke"] if m == "smoke" else (
            TRAINED["quick"].get(net, ()) if m == "quick" else tuple(CANDIDATES))
        for n in names:
            cand = CANDIDATES[n]
            u = update_agreement(topo, cfg, cand, C0, xtr, ytr, batch,
                                 n_batches=2 if m == "smoke" else 4)
            r = dict(cost=cand.cost, update=u,
                     update_cosine=float(np.mean(u["cosine"])),
                     update_norm_ratio=float(np.mean(u["norm_ratio"])),
                     update_frozen=float(np.mean(u["frozen"])),
                     update_frozen_pair=np.mean(u["frozen_pair"], axis=0).tolist())
            if n in trained or args.candidates:
                t = train_candidate(topo, cfg, cand, data, epochs=epochs, batch=batch,
                                    n_train=n_train, n_test=n_test, log=log)
                dC = t["C_real"] - C0
                r.update(test_acc=t["test_acc"], engine=t["engine"],
                         c_change_cosine=_cos(dC, dC_float),
                         c_rel_distance=float(np.linalg.norm(t["C_real"] - fres.C_real)
                                              / np.linalg.norm(fres.C_real)))
            log(f"  {n}: update cosine {r['update_cosine']:.3f}, frozen "
                f"{100 * r['update_frozen']:.1f} %"
                + (f", held-out {100 * r['test_acc'][-1]:.1f} %, C-change cosine "
                   f"{r['c_change_cosine']:.3f}" if "test_acc" in r else ""))
            net_res["candidates"][n] = r
        results[net] = net_res
    summary = {net: dict(float=res["float"]["test_acc"][-1],
                         **{n: {k: c[k] for k in ("update_cosine", "update_frozen",
                                                  "c_change_cosine") if k in c}
                            | ({"final_test_acc": c["test_acc"][-1]} if "test_acc" in c
                               else {})
                            for n, c in res["candidates"].items()})
               for net, res in results.items()}
    path = write_result(args, NAME, claim=CLAIM, dataset=", ".join(
        f"{net}: {r['n_train']} / {r['n_test']}" for net, r in results.items()),
        settings=dict(nets=nets, candidates={n: CANDIDATES[n].__dict__ for n in names}),
        runs=results, summary=summary, started=started)
    plot(results, out_dir(args) / f"{NAME}{args.tag}.png", m)
    log(f"wrote {path}")
    return summary


def plot(results, path, m):
    pyplot = plt()
    nets = list(results)
    fig, axes = pyplot.subplots(2, len(nets), figsize=(5.2 * len(nets), 8), squeeze=False)
    for col, net in enumerate(nets):
        res = results[net]
        a1, a2 = axes[0, col], axes[1, col]
        a1.plot(range(len(res["float"]["test_acc"])), res["float"]["test_acc"], "k-", lw=2.5,
                label="float")
        for i, (n, c) in enumerate(res["candidates"].items()):
            if "test_acc" in c:
                a1.plot(range(len(c["test_acc"])), c["test_acc"], "--", color=f"C{i % 10}",
                        lw=2 if n == "learning" else 1, label=n)
        a1.set_title(f"{net}: held-out accuracy", fontsize=9)
        a1.set_xlabel("epoch")
        a1.grid(alpha=.3)
        a1.legend(fontsize=6)
        names = list(res["candidates"])
        xs = np.arange(len(names))
        a2.bar(xs - 0.2, [res["candidates"][n]["update_frozen"] for n in names], 0.4,
               label="links frozen (one update at C0)")
        a2.bar(xs + 0.2, [res["candidates"][n].get("c_change_cosine", np.nan) for n in names],
               0.4, label="cosine of the C change vs float (training)")
        a2.plot(xs, [res["candidates"][n]["update_cosine"] for n in names], "kx",
                label="update cosine vs float (at C0)")
        a2.set_xticks(xs, names, rotation=60, ha="right", fontsize=7)
        a2.set_ylim(0, 1.05)
        a2.grid(alpha=.3, axis="y")
        a2.legend(fontsize=6)
    save_figure(fig, path, f"Fixed-point learning candidates ({m})")


def main(argv=None):
    p = parser(__doc__)
    p.add_argument("--nets", nargs="+", choices=("model1", "model1-fan4", "tiny"),
                   help="networks (default: all three)")
    p.add_argument("--candidates", nargs="+", metavar="NAME",
                   help="candidates to measure and train (default: all; quick trains a "
                        f"subset on model1-fan4 and tiny). Names: {', '.join(CANDIDATES)}")
    p.add_argument("--epochs", type=int, default=None)
    args = p.parse_args(argv)
    guarded(run, args)


if __name__ == "__main__":
    main()
