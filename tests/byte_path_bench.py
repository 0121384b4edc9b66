"""cocotb bench (not a test module; tests/test_sim_benches.py runs it): the board's
``SimTransport`` over the wrapper's byte path (sim/wrapper.py) against the bench that woke
cocotb per byte (run until ``tx_valid``, record the byte, stall ``tx_stall`` clocks, go on),
here a Python model of it, on a small echo design (``tests/fixtures/sim/echo.v``): every byte
it receives it offers back. Each write and read of a script is done by both; the bytes read
and the clock counts are written to WUXING_BYTE_PATH_OUT (JSON) for the test to compare.

Environment: WUXING_BYTE_PATH_OUT (JSON out), WUXING_BYTE_PATH_CASE (JSON: [rx_gap,
tx_stall]).
"""
import json
import os
import random
from collections import deque

import cocotb

from wuxing.boards.protocol import END
from wuxing.boards.tb_host import SimTransport, _reset


class EchoModel:
    """echo.v clock by clock: a FIFO; ``tx_valid`` while it holds a byte, ``tx_data`` its
    head; at a clock edge the head leaves if ``tx_ready``, a byte enters if ``rx_valid``."""

    def __init__(self):
        self.fifo = deque()

    @property
    def tx_valid(self):
        return bool(self.fifo)

    def edge(self, rx_valid, rx_data, tx_ready):
        if self.fifo and tx_ready:
            self.fifo.popleft()
        if rx_valid:
            self.fifo.append(rx_data)


class PerByteBench:
    """The former SimTransport (a request a byte), on :class:`EchoModel`."""

    def __init__(self, rx_gap, tx_stall):
        self.m, self.rx_gap, self.tx_stall = EchoModel(), rx_gap, tx_stall
        self.received, self.cycles, self.offered = bytearray(), 0, False
        self.rx_valid, self.rx_data = 0, 0

    def _clock(self, n):
        if self.offered and self.tx_stall:
            for _ in range(self.tx_stall):
                self.m.edge(0, self.rx_data, 0)
            self.cycles += self.tx_stall
        ran = 0
        while ran < n:
            self.m.edge(self.rx_valid, self.rx_data, 1)
            ran += 1
            if self.m.tx_valid:
                break
        self.cycles += ran
        self.offered = self.m.tx_valid
        if self.offered:
            self.received.append(self.m.fifo[0])
        return ran

    def send(self, data):
        for b in data:
            self.rx_valid, self.rx_data = 1, b
            self._clock(1)
            self.rx_valid = 0
            n = self.rx_gap - 1
            while n > 0:
                n -= self._clock(n)

    def collect(self, clocks):
        r = self.received
        while clocks > 0 and not (len(r) >= 2 and r[-1] == END and any(b != END for b in r)):
            clocks -= self._clock(clocks)
        out = bytes(r)
        r.clear()
        return out


def script(rng):
    """(write bytes | None, read clocks) steps: frames, END without a body, a timeout, 300
    bytes (more than one buffer each way), a frame followed by the next one's start."""
    noise = bytes(rng.choice([END, rng.randrange(256)]) for _ in range(300))
    return [(b"\x11\x22\xc0", 100), (b"\xc0\xc0", 20), (None, 7), (noise, 50), (None, 400),
            (b"\x01\xc0\x02\x03", 3), (None, 9), (b"\xc0", 30), (None, 1),
            (bytes(range(0xB0, 0xD0)) + b"\xc0", 5), (None, 2000)]


@cocotb.test()
async def byte_path(dut):
    rx_gap, tx_stall = json.loads(os.environ["WUXING_BYTE_PATH_CASE"])
    sim = SimTransport(dut, rx_gap=rx_gap, tx_stall=tx_stall)
    await _reset(dut, sim.clock)
    ref = PerByteBench(rx_gap, tx_stall)
    steps = []
    for data, clocks in script(random.Random(rx_gap * 100 + tx_stall)):
        if data is not None:
            await sim._send(data)
            ref.send(data)
        got = await sim._collect(clocks)
        want = ref.collect(clocks)
        steps.append(dict(read=got.hex(), cycles=sim.cycles, ref_read=want.hex(),
                          ref_cycles=ref.cycles))
    with open(os.environ["WUXING_BYTE_PATH_OUT"], "w") as f:
        json.dump(dict(steps=steps, requests=sim.clock.requests), f)
