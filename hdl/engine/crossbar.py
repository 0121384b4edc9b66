"""The crossbar: lane ``b`` takes the word of the bank it selects, registered.

Every clock each lane names one bank (``sel[b]``) and receives that bank's word a clock later
(``o[b]``). The schedule guarantees that a bank is named by at most one lane per clock when it
matters, so a plain P:1 multiplexer per lane suffices (no arbitration).
"""
from __future__ import annotations

from amaranth.hdl import Array, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Crossbar"]


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
        banks = Array(self.i)
        for b in range(self.ports):
            if self.ports == 1:
                m.d.sync += self.o[b].eq(self.i[0])
            else:
                m.d.sync += self.o[b].eq(banks[self.sel[b]])
        return m
