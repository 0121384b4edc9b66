"""NeuronCore: one Wuxing neuron, the five-element fixed-point Euler integrator.

Per element ``i`` and step (the arithmetic of :mod:`golden.network`, F = frac, k = h_shift)::

    D     = E - B0
    S     = sat(S + D, acc_min, acc_max)            (R in a reverse run)
    q     = round_shift(E * E_quad, F)
    acc   = K1 * E_lin - K2 * E - K3 * q + w + (x << F)
    E'    = sat(E + round_shift(acc, F + k), lo, hi)   overflow flag (sticky) if clamped

``E_lin``, ``E_quad`` and the K each element sees come from ``NeuronParams.offsets(reverse)``.
"""
from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from wuxing.golden.neuron import N_ELEMENTS

from .fixed import HwConstants, check_types, round_shift_expr, saturate_expr

__all__ = ["NeuronCore", "MULT_MODES", "K_MODES"]

MULT_MODES = ("parallel", "shared")
K_MODES = ("const", "reg")


def weight_width(hw: HwConstants, links_per_element: int) -> int:
    """Bits of the sum of ``links_per_element`` products (C >> coef_extra) * D."""
    return 2 * hw.fmt.width + 1 + max(0, (links_per_element - 1).bit_length())


class NeuronCore(wiring.Component):
    """One neuron (see the module docstring for the arithmetic).

    Parameters
    ----------
    hw: :class:`hdl.fixed.HwConstants` from :func:`hdl.fixed.hw_constants` (format, K, B0, h,
        state range: all from the golden model).
    mult: ``"parallel"`` (one Euler step per clock, 4 multipliers per element) or ``"shared"``
        (one element per clock, 5 clocks a step, one set of 4 multipliers).
    k_mode: ``"const"`` (K1/K2/K3 as constants) or ``"reg"`` (writable registers, reset to the
        golden values).
    links_per_element: most links summed into one element's weighted input (sets its width).
    pipeline: with ``mult="parallel"``, register the products: two clocks a step, a shorter
        critical path (``ready`` is low during the second clock).

    Ports: see docs/HARDWARE.md (start, reverse, step, ready, done, x, w, e, d, s, r, overflow,
    and k_we/k_addr/k_wdata with ``k_mode="reg"``).
    """

    def __init__(self, hw: HwConstants, *, mult: str = "parallel", k_mode: str = "const",
                 links_per_element: int = 1, pipeline: bool = False):
        check_types(hw=(hw, HwConstants), links_per_element=(links_per_element, int),
                    pipeline=(pipeline, bool))
        if pipeline and mult != "parallel":
            raise ValueError("pipeline applies to mult='parallel' only")
        if mult not in MULT_MODES:
            raise ValueError(f"mult must be one of {', '.join(MULT_MODES)}, not {mult!r}")
        if k_mode not in K_MODES:
            raise ValueError(f"k_mode must be one of {', '.join(K_MODES)}, not {k_mode!r}")
        if not 1 <= links_per_element <= 64:
            raise ValueError(f"links_per_element must be in 1..64, not {links_per_element}")
        if hw.fmt.reverse_dither and (mult != "parallel" or pipeline):
            raise ValueError("the reverse dither (reverse_dither) is built for "
                             "mult='parallel' without pipeline only")
        self.hw, self.mult, self.k_mode, self.pipeline = hw, mult, k_mode, pipeline
        fmt = hw.fmt
        self.weight_width = weight_width(hw, links_per_element)
        ports = {
            "start": In(1), "reverse": In(1), "step": In(1),
            "ready": Out(1), "done": Out(1), "overflow": Out(1),
            "x": In(signed(fmt.width)).array(N_ELEMENTS),
            "w": In(signed(self.weight_width)).array(N_ELEMENTS),
            "e": Out(signed(fmt.width)).array(N_ELEMENTS),
            "d": Out(signed(hw.d_width)).array(N_ELEMENTS),
            "s": Out(signed(fmt.acc_width)).array(N_ELEMENTS),
            "r": Out(signed(fmt.acc_width)).array(N_ELEMENTS),
        }
        if k_mode == "reg":
            ports.update(k_we=In(1), k_addr=In(4), k_wdata=In(signed(fmt.width)))
        if fmt.reverse_dither:   # the reverse run's offsets r (golden fixedpoint.dither_offsets)
            ports.update(dither=In(unsigned(fmt.frac + hw.h_shift)).array(N_ELEMENTS))
        super().__init__(ports)

    # the datapath of one element ----------------------------------------------------------
    def _element(self, m, name, e, e_lin, e_quad, k1, k2, k3, w, x, capture=None, r=None):
        """(E', clamped) of one element; named signals keep the Verilog small and readable.
        ``r``: the dither offset of the reverse run (``reverse_dither``), added instead of
        half an LSB.

        Widths come from magnitude bounds of every term, so nothing is ever truncated (the
        golden model computes in int64 without limits)."""
        F, k, W = self.hw.fmt.frac, self.hw.h_shift, self.hw.fmt.width
        half = 1 << (W - 1)                             # largest |E|, |K|
        q_max = (half * half + (1 << (F - 1))) >> F     # largest |round_shift(E*E_quad, F)|
        acc_max = (2 * half * half + half * q_max + (1 << (self.weight_width - 1))
                   + (half << F))
        sum_max = half + (acc_max >> (F + k)) + 1
        q = Signal(signed(q_max.bit_length() + 1), name=f"{name}_q")
        m.d.comb += q.eq(round_shift_expr(e * e_quad, F))
        part = Signal(signed(acc_max.bit_length() + 1), name=f"{name}_part")
        m.d.comb += part.eq(k1 * e_lin - k2 * e + w + (x << F))
        if capture is not None:  # pipelined: products registered, the sum a clock later
            q_r, part_r = Signal.like(q, name=f"{name}_q_r"), Signal.like(part, name=f"{name}_part_r")
            with m.If(capture):
                m.d.sync += [q_r.eq(q), part_r.eq(part)]
            q, part = q_r, part_r
        acc = Signal(signed(acc_max.bit_length() + 1), name=f"{name}_acc")
        m.d.comb += acc.eq(part - k3 * q)
        e_sum = Signal(signed(sum_max.bit_length() + 1), name=f"{name}_sum")
        inc = round_shift_expr(acc, F + k)
        if r is not None:
            inc = Mux(self.reverse, (acc + r) >> (F + k), inc)
        m.d.comb += e_sum.eq(e + inc)
        return saturate_expr(e_sum, self.hw.lo, self.hw.hi)

    def elaborate(self, platform):
        m = Module()
        hw, fmt = self.hw, self.hw.fmt
        W = fmt.width
        n = N_ELEMENTS
        rev = self.reverse

        E = [Signal(signed(W), name=f"E{i}", init=hw.b0_int[False][i]) for i in range(n)]
        S = [Signal(signed(fmt.acc_width), name=f"S{i}") for i in range(n)]
        R = [Signal(signed(fmt.acc_width), name=f"R{i}") for i in range(n)]
        over = Signal()
        done = Signal()
        m.d.comb += [self.overflow.eq(over), self.done.eq(done)]
        m.d.sync += done.eq(0)

        # K as each element sees it, by mode
        if self.k_mode == "const":
            def k_of(which, i):
                f, r = hw.k_int[False][which][i], hw.k_int[True][which][i]
                return Const(f, signed(W)) if f == r else Mux(rev, Const(r, signed(W)),
                                                              Const(f, signed(W)))
        else:
            kreg = [[Signal(signed(W), name=f"K{j + 1}_{i}", init=hw.k_own[j][i])
                     for i in range(n)] for j in range(3)]
            with m.If(self.k_we):
                with m.Switch(self.k_addr):
                    for j in range(3):
                        for i in range(n):
                            with m.Case(5 * j + i):
                                m.d.sync += kreg[j][i].eq(self.k_wdata)
            index = {0: hw.k1_index, 1: {False: tuple(range(n)), True: tuple(range(n))},
                     2: hw.k3_index}

            def k_of(which, i):
                f, r = index[which][False][i], index[which][True][i]
                kf, kr = kreg[which][f], kreg[which][r]
                return kf if f == r else Mux(rev, kr, kf)

        def sel(table_f, table_r, i):
            f, r = table_f[i], table_r[i]
            return E[f] if f == r else Mux(rev, E[r], E[f])

        b0 = [Mux(rev, hw.b0_int[True][i], hw.b0_int[False][i]) for i in range(n)]
        D = [Signal(signed(hw.d_width), name=f"D{i}") for i in range(n)]
        for i in range(n):
            m.d.comb += [D[i].eq(E[i] - b0[i]), self.d[i].eq(D[i]), self.e[i].eq(E[i]),
                         self.s[i].eq(S[i]), self.r[i].eq(R[i])]

        # the integral of the mode accumulates D (saturating)
        s_new, r_new = [], []
        for i in range(n):
            s_sum = Signal(signed(fmt.acc_width + 1), name=f"S{i}_sum")
            r_sum = Signal(signed(fmt.acc_width + 1), name=f"R{i}_sum")
            m.d.comb += [s_sum.eq(S[i] + D[i]), r_sum.eq(R[i] + D[i])]
            s_new.append(saturate_expr(s_sum, fmt.acc_min, fmt.acc_max)[0])
            r_new.append(saturate_expr(r_sum, fmt.acc_min, fmt.acc_max)[0])

        def accumulate_stmts(m, i):
            with m.If(rev):
                m.d.sync += R[i].eq(r_new[i])
            with m.Else():
                m.d.sync += S[i].eq(s_new[i])

        busy = Signal()
        m.d.comb += self.ready.eq(~busy)

        # datapath (combinational), then the control that commits it
        capture = None
        if self.pipeline:
            capture = Signal()  # the step is taken: its products go into the stage registers
            m.d.comb += capture.eq(~busy & ~self.start & self.step)
        if self.mult == "parallel":
            results = [self._element(m, f"el{i}", E[i], sel(hw.src[False], hw.src[True], i),
                                     sel(hw.partner[False], hw.partner[True], i),
                                     k_of(0, i), k_of(1, i), k_of(2, i), self.w[i], self.x[i],
                                     capture, self.dither[i] if fmt.reverse_dither else None)
                       for i in range(n)]
        else:
            j = Signal(range(n), name="elem")
            E_arr = Array(E)
            src = Array(Mux(rev, hw.src[True][i], hw.src[False][i]) for i in range(n))
            partner = Array(Mux(rev, hw.partner[True][i], hw.partner[False][i])
                            for i in range(n))
            K = [Array(k_of(which, i) for i in range(n)) for which in range(3)]
            e_new, clamped = self._element(
                m, "el", E_arr[j], E_arr[src[j]], E_arr[partner[j]], K[0][j], K[1][j], K[2][j],
                Array(self.w)[j], Array(self.x)[j])
            e_next = [Signal(signed(W), name=f"E{i}_next") for i in range(n - 1)]

        with m.If(busy):  # a step in progress takes neither start nor step
            if self.pipeline:  # second clock: commit the step
                for i in range(n):
                    m.d.sync += E[i].eq(results[i][0])
                m.d.sync += [over.eq(over | _any([c for _, c in results])), done.eq(1),
                             busy.eq(0)]
        with m.Elif(self.start):
            m.d.sync += over.eq(0)
            for i in range(n):
                m.d.sync += E[i].eq(b0[i])
                with m.If(rev):
                    m.d.sync += R[i].eq(0)
                with m.Else():
                    m.d.sync += S[i].eq(0)
        with m.Elif(self.step):
            if self.mult == "parallel" and self.pipeline:
                m.d.sync += busy.eq(1)
                for i in range(n):
                    accumulate_stmts(m, i)
            elif self.mult == "parallel":
                for i in range(n):
                    m.d.sync += E[i].eq(results[i][0])
                    accumulate_stmts(m, i)
                m.d.sync += [over.eq(over | _any([c for _, c in results])), done.eq(1)]
            else:
                m.d.sync += [busy.eq(1), j.eq(0)]
        if self.mult == "shared":
            with m.If(busy):
                m.d.sync += [over.eq(over | clamped), j.eq(j + 1)]
                with m.Switch(j):
                    for i in range(n):
                        with m.Case(i):
                            accumulate_stmts(m, i)
                            if i < n - 1:
                                m.d.sync += e_next[i].eq(e_new)
                            else:  # all elements computed from the old E: commit together
                                m.d.sync += [E[k].eq(e_next[k]) for k in range(n - 1)]
                                m.d.sync += [E[n - 1].eq(e_new), busy.eq(0), done.eq(1),
                                             j.eq(0)]
        return m


def _any(bits):
    out = bits[0]
    for b in bits[1:]:
        out = out | b
    return out

