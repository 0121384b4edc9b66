"""Reference models of one core and one synapse, built from the golden primitives.

The whole network is checked against ``golden.network.FixedModel`` itself. A single core or
synapse has inputs FixedModel cannot take directly (an arbitrary weighted input per element,
arbitrary integrals at a link's ends), so these functions apply the same golden primitives
(``round_shift``, ``saturate``, ``AtanTable.lookup``, ``FixedModel.bsp_shifts`` through
:func:`hdl.fixed.hw_constants`) in the order ``golden/network.py`` defines. The core reference
is itself checked against FixedModel in the tests (tests/test_sim_reference.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from wuxing.golden.fixedpoint import round_shift, saturate
from wuxing.golden.neuron import N_ELEMENTS

from wuxing.hdl.fixed import HwConstants

__all__ = ["CoreTrace", "core_reference", "synapse_weight", "synapse_bsp"]


@dataclass
class CoreTrace:
    """Per step (after the step): E, D (before the step), the integral, the overflow flag."""

    E: list = field(default_factory=list)
    D: list = field(default_factory=list)
    integral: list = field(default_factory=list)
    overflow: list = field(default_factory=list)


def core_reference(hw: HwConstants, x, w, reverse: bool, k=None) -> CoreTrace:
    """Run one core from its fixed point: ``x[t][i]``, ``w[t][i]`` per step t and element i.

    ``k`` = (K1, K2, K3) in the neuron's own element order (default: the golden constants).
    """
    fmt = hw.fmt
    F = fmt.frac
    if k is None:
        k1, k2, k3 = hw.k_int[reverse]
    else:
        own = k
        k1 = [own[0][hw.k1_index[reverse][i]] for i in range(N_ELEMENTS)]
        k2 = list(own[1])
        k3 = [own[2][hw.k3_index[reverse][i]] for i in range(N_ELEMENTS)]
    b0 = hw.b0_int[reverse]
    src, partner = hw.src[reverse], hw.partner[reverse]
    E = list(b0)
    S = [0] * N_ELEMENTS
    over = False
    trace = CoreTrace()
    for xt, wt in zip(x, w):
        D = [E[i] - b0[i] for i in range(N_ELEMENTS)]
        S = [saturate(S[i] + D[i], fmt.acc_min, fmt.acc_max) for i in range(N_ELEMENTS)]
        new = []
        for i in range(N_ELEMENTS):
            q = round_shift(E[i] * E[partner[i]], F)
            acc = (k1[i] * E[src[i]] - k2[i] * E[i] - k3[i] * q + int(wt[i])
                   + (int(xt[i]) << F))
            e = E[i] + round_shift(acc, F + hw.h_shift)
            over |= not hw.lo <= e <= hw.hi
            new.append(saturate(e, hw.lo, hw.hi))
        E = new
        trace.E.append(list(E))
        trace.D.append(D)
        trace.integral.append(list(S))
        trace.overflow.append(over)
    return trace


def synapse_weight(hw: HwConstants, c: int, d_src: int, d_dst: int, reverse: bool) -> int:
    """``(C >> coef_extra) * D`` of the end the signal comes from."""
    return hw.fmt.coef_mul_operand(c) * (d_dst if reverse else d_src)


def synapse_bsp(hw: HwConstants, c: int, s_src: int, r_dst: int):
    """(dC, new C) of one BSP update with a batch of one (golden ``FixedModel.bsp_delta``)."""
    p = int(s_src) * int(r_dst)
    x = round_shift(abs(p), hw.bsp_shift_in)
    y = hw.table.lookup(x)
    d = round_shift(int(y), hw.bsp_shift_out)
    delta = -d if p < 0 else d
    return delta, saturate(int(c) + delta, hw.c_lo, hw.c_hi)
