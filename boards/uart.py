"""UART receiver and transmitter (8 data bits, no parity, 1 stop bit) in Amaranth.

The board's USB UART (an FTDI channel on iCEBreaker and ULX3S) runs at ``clk / divisor`` baud.
In simulation the same components run with a small divisor (a few clocks per bit), so the
whole host link, pins included, is exercised without slowing the simulator down.
"""
from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UARTRx", "UARTTx", "baud_divisor"]


def _check_divisor(divisor):
    if not isinstance(divisor, int) or isinstance(divisor, bool):
        raise TypeError(f"divisor must be an int, not {type(divisor).__name__}")
    if divisor < 4:
        raise ValueError(f"divisor must be at least 4 clocks per bit, not {divisor}")


def baud_divisor(clk_hz: float, baud: int) -> int:
    """Clocks per bit for ``baud`` at ``clk_hz``; ValueError if the rate error exceeds 2 %."""
    if baud <= 0 or clk_hz <= 0:
        raise ValueError("clock and baud rate must be positive")
    div = round(clk_hz / baud)
    if div < 4:
        raise ValueError(f"{baud} baud is too fast for a {clk_hz / 1e6:g} MHz clock")
    err = abs(clk_hz / div - baud) / baud
    if err > 0.02:
        raise ValueError(f"{baud} baud from {clk_hz / 1e6:g} MHz is off by {err:.1%}")
    return div


class UARTRx(wiring.Component):
    """UART receiver.

    Parameters: ``divisor``: clocks per bit (>= 4).

    Ports: ``rx`` (in, the pin, idle high, synchronised inside); ``data`` (out, 8 bits) with
    ``valid`` (out, one-cycle strobe per received byte); ``error`` (out, one-cycle strobe when a
    byte's stop bit was low: that byte is dropped).
    """

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "data": Out(8), "valid": Out(1),
                          "error": Out(1)})

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(self.divisor + self.divisor // 2 + 1))
        bits = Signal(4)
        shreg = Signal(8)
        m.d.sync += [self.valid.eq(0), self.error.eq(0)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # sample the middle of the start bit
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):
                    m.next = "IDLE"      # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)),
                                 timer.eq(self.divisor - 1), bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(rx):
                        m.d.sync += [self.data.eq(shreg), self.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.error.eq(1)
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(rx):           # wait for the line to go idle again
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """UART transmitter.

    Parameters: ``divisor``: clocks per bit (>= 4).

    Ports: ``data`` (in, 8 bits), ``valid`` (in) and ``ready`` (out): a byte is taken when both
    are high; ``tx`` (out, the pin, idle high).
    """

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__({"data": In(8), "valid": In(1), "ready": Out(1), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        shreg = Signal(10, init=0x3FF)   # stop, 8 data (LSB first), start; shifted out LSB first
        count = Signal(range(11))
        m.d.comb += self.ready.eq(count == 0)
        m.d.comb += self.tx.eq(shreg[0])
        with m.If(count == 0):
            with m.If(self.valid):
                m.d.sync += [shreg.eq((1 << 9) | (self.data << 1)), count.eq(10),
                             timer.eq(self.divisor - 1)]
        with m.Else():
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Else():
                m.d.sync += [shreg.eq((1 << 9) | (shreg >> 1)), count.eq(count - 1),
                             timer.eq(self.divisor - 1)]
        return m
