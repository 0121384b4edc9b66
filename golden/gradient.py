"""The exact gradient of the output loss with respect to every coefficient C.

Backpropagation through time through the Euler steps of :class:`~golden.network.FloatModel`'s
forward run, saturation included, in float64. The loss of one sample is

    L = 0.5 * sum_k (target_k - y_k)^2,      y = FloatModel.outputs (output integral, / T)

and a batch's loss is the mean over its samples. The forward recurrence (flat state ``x``,
``5 * n_neurons`` rows, element-major as in FloatModel)::

    D_t     = x_t - B0,   S = h * sum_{t < steps} D_t
    z_t     = x_t + h * (K1 x_t[lin] - K2 x_t - K3 x_t x_t[quad] + W D_t + ext)
    x_{t+1} = clip(z_t, state_lo, state_hi)

The adjoint ``lam_t = dL/dx_t`` runs backwards::

    g_t   = lam_{t+1} * [state_lo <= z_t <= state_hi]
    lam_t = h * dL/dS + g_t + h * J_t^T g_t

and ``dL/dC(link src -> dst) = h * sum_t g_t[dst] * D_t[src]``.

Used to check BSP against the true gradient (:func:`cosine`) and as a baseline trainer
(``method="gradient"`` in :func:`golden.train.train`).
"""
from __future__ import annotations

import numpy as np

from .network import FloatModel

__all__ = ["Gradient", "loss", "loss_and_gradient", "finite_difference", "bsp_direction",
           "cosine", "Adam"]


class Gradient:
    """BPTT through the float model. Build once per (topology, cfg, neuron); call with C."""

    def __init__(self, model: FloatModel):
        if not isinstance(model, FloatModel):
            raise TypeError(f"model must be a FloatModel, not {type(model).__name__}")
        self.model = model
        t, neuron, N = model.topology, model.neuron, model.N
        src, _, partner, _ = neuron.offsets(False)
        k1, k2, k3 = neuron.coefficients(False)
        e = np.repeat(np.arange(5), N)
        n = np.tile(np.arange(N), 5)
        self.lin = np.asarray(src)[e] * N + n       # element i reads its lin source
        self.quad = np.asarray(partner)[e] * N + n  # ... and its quadratic partner
        # scatters along lin/quad are gathers along the inverse permutations
        self.lin_inv = np.argsort(self.lin)
        self.quad_inv = np.argsort(self.quad)
        self.k1 = np.repeat(k1, N)[:, None]
        self.k2 = np.repeat(k2, N)[:, None]
        self.k3 = np.repeat(k3, N)[:, None]
        self.b0 = np.repeat(neuron.fixed_point(False), N)[:, None]
        self.n_links = t.n_links

    def _W(self, C):
        m = self.model
        return m._matrix(np.asarray(C, np.float64), False, np.float64)

    def forward(self, C, x, keep=False):
        """Outputs y (batch, n_out); with ``keep`` also the states and clip masks."""
        m, cfg = self.model, self.model.cfg
        x = m._check_batch(x, m.topology.layers[0], "input")
        B, n = x.shape[0], 5 * m.N
        W = self._W(C)
        X = np.repeat(self.b0, B, axis=1)
        S = np.zeros((n, B))
        ext = np.zeros((n, B))
        ext[m.in_flat] = (x * cfg.input_scale).T
        h = cfg.h
        xs, masks = [], []
        for _ in range(cfg.steps):
            D = X - self.b0
            S += D
            f = self.k1 * X[self.lin] - self.k2 * X - self.k3 * X * X[self.quad] + W @ D + ext
            Z = X + h * f
            if keep:
                xs.append(X)
                masks.append((Z >= cfg.state_lo) & (Z <= cfg.state_hi))
            X = np.clip(Z, cfg.state_lo, cfg.state_hi)
        S *= h
        y = S[m.out_flat].T
        if cfg.output_mean:
            y = y / cfg.T
        return (y, xs, masks) if keep else y

    def loss_and_gradient(self, C, x, target, chunk: int = 16):
        """(mean loss, dL/dC (n_links,), outputs y) for a batch; ``target`` (batch, n_out)."""
        m, cfg = self.model, self.model.cfg
        x = m._check_batch(x, m.topology.layers[0], "input")
        target = np.asarray(target, np.float64).reshape(x.shape[0], -1)
        B = x.shape[0]
        grad = np.zeros(self.n_links)
        total, ys = 0.0, []
        WT = self._W(C).T.tocsr()
        h = cfg.h
        scale = (1.0 / cfg.T) if cfg.output_mean else 1.0
        for a in range(0, B, chunk):
            xb, tb = x[a:a + chunk], target[a:a + chunk]
            y, xs, masks = self.forward(C, xb, keep=True)
            ys.append(y)
            total += 0.5 * np.sum((tb - y) ** 2)
            gS = np.zeros((5 * m.N, len(xb)))
            gS[m.out_flat] = ((y - tb) * scale).T
            lam = np.zeros_like(gS)
            hgS = h * gS
            for t in range(cfg.steps - 1, -1, -1):
                X = xs[t]
                g = lam * masks[t]
                D = X - self.b0
                grad += h * np.einsum("lb,lb->l", g[m.dst_flat], D[m.src_flat])
                # J^T g: linear term scattered to lin sources, quadratic to both factors
                jt = (self.k1 * g)[self.lin_inv]
                jt -= (self.k2 + self.k3 * X[self.quad]) * g
                jt -= (self.k3 * X * g)[self.quad_inv]
                jt += WT @ g
                lam = hgS + g + h * jt
        return total / B, grad / B, np.concatenate(ys)


def loss(model: FloatModel, C, x, target) -> float:
    """Mean over the batch of 0.5 * sum (target - y)^2, y from ``model.forward``."""
    y = model.outputs(model.forward(C, x))
    return float(np.mean(0.5 * np.sum((np.asarray(target, np.float64) - y) ** 2, axis=1)))


def loss_and_gradient(model: FloatModel, C, x, target):
    """(loss, dL/dC) by backpropagation through time; see :class:`Gradient`."""
    lo, g, _ = Gradient(model).loss_and_gradient(C, x, target)
    return lo, g


def finite_difference(model: FloatModel, C, x, target, links=None, eps: float = 1e-5):
    """Central finite differences of :func:`loss` for the given links (default: all)."""
    C = np.asarray(C, np.float64)
    links = np.arange(C.size) if links is None else np.asarray(links)
    out = np.empty(len(links))
    for i, k in enumerate(links):
        cp, cm = C.copy(), C.copy()
        cp[k] += eps
        cm[k] -= eps
        out[i] = (loss(model, cp, x, target) - loss(model, cm, x, target)) / (2 * eps)
    return out


def bsp_direction(model: FloatModel, C, x, target) -> np.ndarray:
    """The BSP G1 of every link (batch mean of S_src * R_dst), before the squash and step."""
    res = model.forward(C, x)
    y = model.outputs(res)
    err = model.error(y, target)
    rev = model.reverse(C, err)
    s, r = model.link_ends(res.S, rev.S)
    return np.mean(s.astype(np.float64) * r, axis=1)


def cosine(a, b) -> float:
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300))


class Adam:
    """Adam on a flat parameter vector (the exact-gradient baseline's optimiser)."""

    def __init__(self, lr: float = 1e-2, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, beta1, beta2, eps
        self.m = self.v = None
        self.t = 0

    def step(self, p, g):
        if self.m is None:
            self.m, self.v = np.zeros_like(p), np.zeros_like(p)
        self.t += 1
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        mh = self.m / (1 - self.b1 ** self.t)
        vh = self.v / (1 - self.b2 ** self.t)
        return p - self.lr * mh / (np.sqrt(vh) + self.eps)
