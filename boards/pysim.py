"""The board gateware in Amaranth's own simulator, as a driver transport: no Verilog, no
external simulator, in process. Slower per clock than Verilator (``wuxing run --sim``), so it
serves small networks and short runs: the link tests and the fault-injection test.
"""
from __future__ import annotations

from collections import deque

from amaranth.sim import Simulator

from .driver import Transport
from .host import HostBridge
from .protocol import END

__all__ = ["PySimTransport"]


class PySimTransport(Transport):
    """The byte stream at the UART boundary of a :class:`HostBridge` in ``amaranth.sim``.

    Received bytes enter one every ``rx_gap`` clocks; ``tx_ready`` stalls one clock in
    ``tx_stall + 1`` (0: never). ``read(timeout)``: the timeout counts kilo-cycles of
    simulated time; it returns as soon as a frame has ended.
    """

    where = "the simulated board"

    def __init__(self, bridge: HostBridge, rx_gap: int = 2, tx_stall: int = 0,
                 chunk: int = 256):
        if not isinstance(bridge, HostBridge):
            raise TypeError(f"bridge must be a HostBridge, not {type(bridge).__name__}")
        self.bridge = bridge
        self.rx_gap, self.tx_stall, self.chunk = max(1, rx_gap), tx_stall, chunk
        self.pending: deque[int] = deque()
        self.received = bytearray()
        self.cycles = 0
        self.period = 1e-6
        self.sim = Simulator(bridge)
        self.sim.add_clock(self.period)
        self.sim.add_process(self._uart)
        self._time = 0.0

    async def _uart(self, ctx):
        b = self.bridge
        ctx.set(b.tx_ready, 1)
        async for _, _, tx_valid, tx_data, tx_ready in ctx.tick().sample(
                b.tx_valid, b.tx_data, b.tx_ready):
            self.cycles += 1
            if tx_valid and tx_ready:
                self.received.append(tx_data)
            send = self.pending and self.cycles % self.rx_gap == 0
            ctx.set(b.rx_valid, 1 if send else 0)
            if send:
                ctx.set(b.rx_data, self.pending.popleft())
            if self.tx_stall:
                ctx.set(b.tx_ready, 0 if self.cycles % (self.tx_stall + 1) == 0 else 1)

    def _frame_ended(self) -> bool:
        r = self.received
        return len(r) >= 2 and r[-1] == END and any(x != END for x in r)

    def run(self, cycles: int):
        """Advance the simulation by ``cycles`` clocks."""
        self._time += cycles * self.period
        self.sim.run_until(self._time)

    def write(self, data):
        self.pending.extend(bytes(data))

    def read(self, timeout):
        end = self.cycles + max(1, int(timeout * 1000))
        while self.cycles < end and not (self._frame_ended() and not self.pending):
            self.run(min(self.chunk, end - self.cycles))
        out = bytes(self.received)
        self.received.clear()
        return out

    def now(self):
        return self.cycles / 1000
