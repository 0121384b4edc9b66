"""The crossbar: lane ``b`` takes the word of the bank it selects, registered.

Every clock each lane names one bank (``sel[b]``) and receives that bank's word a clock later
(``o[b]``). The schedule guarantees that a bank is named by at most one lane per clock when it
matters, so a plain P:1 multiplexer per lane suffices (no arbitration).

The multiplexer is a binary tree of 2:1 choices, one select bit a level (:func:`mux_tree`):
Yosys maps an ``Array`` index (``$shiftx``) of 32 words of 36 bits to about 64 LUT4 per output
bit on the ECP5, the tree to about 32 (measured: 73,478 against 37,442 LUT4 for the crossbar
of 32 lanes alone, synth_ecp5), and the crossbar grows as P squared: at P = 32 it is the
largest part of the engine.
"""
from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Crossbar", "mux_tree"]


def mux_tree(words, sel):
    """``words[sel]`` as a tree of 2:1 multiplexers (bit ``k`` of ``sel`` chooses at level
    ``k``); a ``sel`` beyond the last word gives one of the words (the schedule never asks)."""
    level, k = list(words), 0
    if not level:
        raise ValueError("mux_tree needs at least one word")
    while len(level) > 1:
        level = [Mux(sel[k], level[j + 1], level[j]) if j + 1 < len(level) else level[j]
                 for j in range(0, len(level), 2)]
        k += 1
    return level[0]


class Crossbar(wiring.Component):
    """``ports`` lanes and banks of ``width``-bit words. Ports: ``i`` (in, per bank), ``sel``
    (in, per lane), ``o`` (out, per lane, registered)."""

    def __init__(self, ports: int, width: int):
        if not isinstance(ports, int) or ports < 1:
            raise ValueError(f"ports must be a positive int, got {ports!r}")
        self.ports, self.width = ports, width
        super().__init__({"i": In(width).array(ports), "sel": In(range(max(2, ports))).array(ports),
                          "o": Out(width).array(ports)})

    def elaborate(self, platform):
        m = Module()
        for b in range(self.ports):    # (data: no reset)
            o = Signal(self.width, name=f"o{b}", reset_less=True)
            m.d.sync += o.eq(mux_tree(self.i, self.sel[b]))
            m.d.comb += self.o[b].eq(o)
        return m
