"""One Wuxing neuron: the forward and reverse five-element systems of MODEL.md.

Forward (element offsets ``a = lin_offset``, ``b = quad_offset``; defaults -1, -2)::

    dE_i/dt = K1_i E_(i+a) - K2_i E_i - K3_i E_i E_(i+b) + u_i

Reverse (each link reversed, each keeping its own parameter)::

    dF_i/dt = K1_(i-a) F_(i-a) - K2_i F_i - K3_(i-b) F_i F_(i-b) + v_i

With the defaults this is MODEL.md's reading: ``K1_(i+1) F_(i+1)`` and ``K3_(i+2) F_i F_(i+2)``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["NeuronParams", "MODEL1_NEURON", "N_ELEMENTS", "ELEMENT_NAMES"]

N_ELEMENTS = 5
ELEMENT_NAMES = ("wood", "fire", "earth", "metal", "water")


def _five(name, v):
    if np.isscalar(v):
        v = (float(v),) * N_ELEMENTS
    v = tuple(float(x) for x in v)
    if len(v) != N_ELEMENTS:
        raise ValueError(f"{name} needs {N_ELEMENTS} values, got {len(v)}")
    if not all(np.isfinite(x) and abs(x) <= 1e6 for x in v):
        raise ValueError(f"{name} values must be finite numbers within +-1e6, got {v}")
    return v


@dataclass(frozen=True)
class NeuronParams:
    """Per-element parameters K1, K2, K3 and the element offsets of the equations."""

    k1: tuple = (1.0,) * 5
    k2: tuple = (0.5,) * 5
    k3: tuple = (0.5,) * 5
    lin_offset: int = -1
    quad_offset: int = -2

    def __post_init__(self):
        for n in ("k1", "k2", "k3"):
            object.__setattr__(self, n, _five(n, getattr(self, n)))
        for n in ("lin_offset", "quad_offset"):
            v = getattr(self, n)
            if not isinstance(v, int) or v % N_ELEMENTS == 0:
                raise ValueError(f"{n} must be an int not divisible by 5, got {v!r}")
        if any(k <= 0 for k in self.k3):
            raise ValueError("K3 must be positive (it sets the fixed point B0 = (K1-K2)/K3)")

    # index maps: element i reads element idx[i]; K taken from element kidx[i]
    def offsets(self, reverse: bool):
        """(lin source, lin K index, quad partner, quad K index) per element, as tuples."""
        i = np.arange(N_ELEMENTS)
        a, b = self.lin_offset, self.quad_offset
        if not reverse:
            return (tuple((i + a) % 5), tuple(i), tuple((i + b) % 5), tuple(i))
        return (tuple((i - a) % 5), tuple((i - a) % 5), tuple((i - b) % 5), tuple((i - b) % 5))

    def coefficients(self, reverse: bool):
        """Arrays (K1, K2, K3) as seen by each element of the forward or reverse system."""
        src, k1i, partner, k3i = self.offsets(reverse)
        k1 = np.array(self.k1)[list(k1i)]
        k3 = np.array(self.k3)[list(k3i)]
        return k1, np.array(self.k2), k3

    def derivative(self, e, u=0.0, reverse=False):
        """Right-hand side for one neuron state ``e`` (5,) in float."""
        e = np.asarray(e, dtype=np.float64)
        src, _, partner, _ = self.offsets(reverse)
        k1, k2, k3 = self.coefficients(reverse)
        return k1 * e[list(src)] - k2 * e - k3 * e * e[list(partner)] + u

    def jacobian(self, e, reverse=False):
        src, _, partner, _ = self.offsets(reverse)
        k1, k2, k3 = self.coefficients(reverse)
        e = np.asarray(e, dtype=np.float64)
        j = np.zeros((5, 5))
        for i in range(5):
            j[i, src[i]] += k1[i]
            j[i, i] += -k2[i] - k3[i] * e[partner[i]]
            j[i, partner[i]] += -k3[i] * e[i]
        return j

    def fixed_point(self, reverse=False) -> np.ndarray:
        """The fixed point near B0 = (K1-K2)/K3 (exact when the parameters are equal)."""
        k1, k2, k3 = (np.array(x) for x in (self.k1, self.k2, self.k3))
        e = (k1 - k2) / k3
        if np.allclose(k1, k1[0]) and np.allclose(k2, k2[0]) and np.allclose(k3, k3[0]):
            return e
        for _ in range(50):  # Newton
            step = np.linalg.solve(self.jacobian(e, reverse), self.derivative(e, 0.0, reverse))
            e = e - step
            if np.max(np.abs(step)) < 1e-14:
                break
        return e

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(k1=list(self.k1), k2=list(self.k2), k3=list(self.k3))
        return d


MODEL1_NEURON = NeuronParams()
