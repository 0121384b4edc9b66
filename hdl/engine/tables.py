"""The contents of the engine's tables and the widths of its words (pure Python).

* Slot table (one per bank, ``T`` words, read at the slot index): the bank's two roles in
  that slot: source side of a link (``src_*``) and target side of a link (``dst_*``).
* Neuron map (``N`` words): neuron -> (bank, local neuron), for the control port.
* Link map (``L`` words): link -> (lane, slot), for the control port's coefficient region.
* C memory contents (one per lane, ``T`` words): the reset C of the link the lane holds at
  each slot.

A :class:`Layout` names the bit fields of a word; the gateware slices words with the same
layout, so the packing here and the unpacking there cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wuxing.golden.neuron import N_ELEMENTS

from .schedule import Schedule

__all__ = ["Layout", "slot_layout", "slot_words", "nmap_layout", "nmap_words", "lmap_layout",
           "lmap_words", "c_words", "EngineWidths", "engine_widths", "bits"]


def bits(n: int) -> int:
    """Bits of an unsigned field holding 0..n; 0 when n is 0 (a field that is always 0)."""
    return int(n).bit_length()


class Layout:
    """Named bit fields of a memory word, low bits first: ``Layout([("a", 3), ("b", 0)])``.
    Fields of width 0 take no bits and read as 0."""

    def __init__(self, fields):
        self.fields = {}
        off = 0
        for name, width in fields:
            if width < 0:
                raise ValueError(f"field {name} has a negative width")
            self.fields[name] = (off, int(width))
            off += int(width)
        self.width = max(1, off)

    def pack(self, **values) -> list:
        """Words (Python ints) from equal-length arrays per field (missing fields are 0)."""
        n = len(next(iter(values.values())))
        words = [0] * n
        for name, (off, w) in self.fields.items():
            if w == 0 or name not in values:
                continue
            v = np.asarray(values[name]).astype(np.int64)
            if v.size and (v.min() < 0 or v.max() >= (1 << w)):
                raise ValueError(f"field {name} does not fit {w} bits")
            for i, x in enumerate(v.tolist()):
                words[i] |= x << off
        return words

    def unpack(self, words) -> dict:
        """Field arrays from words (the inverse of :meth:`pack`)."""
        w = [int(x) for x in words]
        return {name: np.array([(x >> off) & ((1 << width) - 1) for x in w], np.int64)
                for name, (off, width) in self.fields.items()}


def slot_layout(s: Schedule) -> Layout:
    rb, pb = bits(N_ELEMENTS * s.nb - 1), bits(s.lanes - 1)
    return Layout([("src_valid", 1), ("src_first", 1), ("src_row", rb), ("src_peer", pb),
                   ("dst_valid", 1), ("dst_first", 1), ("dst_row", rb), ("dst_peer", pb)])


def slot_words(s: Schedule) -> list:
    """Per bank, the slot table's words (a list of P lists of T ints)."""
    lay = slot_layout(s)
    return [lay.pack(**{k: getattr(s, k)[b] for k in lay.fields}) for b in range(s.lanes)]


def nmap_layout(s: Schedule) -> Layout:
    return Layout([("bank", bits(s.lanes - 1)), ("local", bits(s.nb - 1))])


def nmap_words(s: Schedule) -> list:
    return nmap_layout(s).pack(bank=s.bank, local=s.local)


def lmap_layout(s: Schedule) -> Layout:
    return Layout([("lane", bits(s.lanes - 1)), ("slot", bits(s.slots - 1))])


def lmap_words(s: Schedule) -> list:
    return lmap_layout(s).pack(lane=s.lane, slot=s.slot)


def c_words(s: Schedule, c_init) -> list:
    """Per lane, the C memory's reset contents: the C of the link it holds at each slot
    (signed ints; 0 in idle slots)."""
    c = np.asarray(c_init, np.int64)
    return [[int(c[l]) if l >= 0 else 0 for l in s.dst_link[b].tolist()]
            for b in range(s.lanes)]


@dataclass(frozen=True)
class EngineWidths:
    """Word widths of the datapath (bits, signed unless said), from the format and bounds."""

    width: int        # E, D, C as multiplied
    acc: int          # S, R
    coef: int         # C register
    u: int            # U: the exact sum of a row's link products (and the input << F)
    neuron_acc: int   # the Euler step's sum before rounding
    payload: int      # crossbar word: (D, C) in runs, S in BSP
    e_word: int       # E memory word: E and the neuron's sticky overflow flag


def engine_widths(hw, fan: int) -> EngineWidths:
    """Widths for constants ``hw`` (:class:`hdl.fixed.HwConstants`) and ``fan``, the most links
    any row sums (in either direction). Bounds are exact worst cases: FixedModel computes in
    int64, so nothing may wrap."""
    fmt = hw.fmt
    W, F = fmt.width, fmt.frac
    c_mul = max(abs(hw.c_lo), abs(hw.c_hi)) >> fmt.coef_extra
    c_mul = max(c_mul + 1, 1)
    u_max = max(fan * c_mul * hw.max_abs_d, (1 << (W - 1)) << F)
    u = u_max.bit_length() + 1
    e_max = max(abs(hw.lo), abs(hw.hi), *(abs(v) for d in (0, 1) for v in hw.b0_int[d]))
    q_max = (e_max * e_max + (1 << (F - 1))) >> F
    k_max = [max(abs(v) for d in (0, 1) for v in hw.k_int[d][i]) for i in range(3)]
    acc_max = k_max[0] * e_max + k_max[1] * e_max + k_max[2] * (q_max + 1) + u_max
    return EngineWidths(width=W, acc=fmt.acc_width, coef=fmt.coef_width, u=u,
                        neuron_acc=acc_max.bit_length() + 2,
                        payload=max(2 * W, fmt.acc_width), e_word=W + 1)
