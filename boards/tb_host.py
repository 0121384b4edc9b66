"""cocotb test of the board gateware (``wuxing_board``: HostBridge + Network) driven by the real
host driver: the bytes go in and out at the UART boundary (rx_data/rx_valid, tx_data/tx_valid/
tx_ready), the driver runs in a bridge thread, exactly as it runs against a serial port. The
board runs inside the co-simulation wrapper (sim/wrapper.py): cocotb wakes per byte.

Environment: WUXING_HOST_JOB (JSON: the session, see boards.sim), WUXING_HOST_RESULT (JSON out).
"""
from __future__ import annotations

import json
import os

import cocotb

try:
    from cocotb import bridge, resume
except ImportError:          # cocotb 2.1 keeps them in a private module
    from cocotb._bridge import bridge, resume

from wuxing.sim.wrapper import Clocking

from .driver import BoardDriver, RecordingTransport, Transport
from .faults import FaultyTransport
from .flow import run_job


class SimTransport(Transport):
    """The byte stream at the UART boundary of the simulated board. ``read(timeout)`` and
    ``now()``: in thousands of clock cycles (simulation time, not wall time).

    The board runs inside the co-simulation wrapper (sim/wrapper.py): the clock runs inside the
    simulation until the device offers a byte (``tx_valid``) or the clocks asked for are done,
    so cocotb wakes once per byte, not once per clock. A byte offered is taken by the next
    clock edge (``tx_ready`` high); ``tx_stall`` > 0 holds ``tx_ready`` low for that many clocks
    first (a UART is not always ready)."""

    where = "the simulated board"

    def __init__(self, dut, rx_gap: int = 1, tx_stall: int = 0):
        self.dut, self.rx_gap, self.tx_stall = dut, rx_gap, tx_stall
        self.clock = Clocking(dut)
        self.received = bytearray()
        self.cycles = 0
        self._offered = False  # the device offers a byte that no clock edge has taken yet

    async def _clock(self, n: int) -> int:
        """Run up to ``n`` clocks; stop early once the device offers a byte, and record it.
        Returns the clocks run."""
        d = self.dut
        if self._offered and self.tx_stall:
            rx_valid = d.rx_valid.value
            d.rx_valid.value = 0
            d.tx_ready.value = 0
            await self.clock.run(self.tx_stall)
            self.cycles += self.tx_stall
            d.tx_ready.value = 1
            d.rx_valid.value = rx_valid
        ran = await self.clock.run(n, until=("tx_valid",))
        self.cycles += ran
        self._offered = str(d.tx_valid.value) == "1"
        if self._offered:
            self.received.append(int(d.tx_data.value))
        return ran

    async def _clocks(self, n: int):
        while n > 0:
            n -= await self._clock(n)

    async def _send(self, data: bytes):
        d = self.dut
        for b in data:
            d.rx_data.value = b
            d.rx_valid.value = 1
            await self._clock(1)
            d.rx_valid.value = 0
            await self._clocks(self.rx_gap - 1)

    def _frame_complete(self) -> bool:
        """Something, then a closing END."""
        r = self.received
        return len(r) >= 2 and r[-1] == 0xC0 and any(b != 0xC0 for b in r)

    async def _collect(self, max_cycles: int) -> bytes:
        d = self.dut
        left = max_cycles
        while left > 0 and not self._frame_complete():
            left -= await self._clock(left)
        out = bytes(self.received)
        self.received.clear()
        cocotb.log.debug("device -> host %s (ok %s dropped %s busy %s)", out.hex(),
                         d.frames_ok.value, d.frames_dropped.value, d.busy.value)
        return out

    def write(self, data):
        cocotb.log.debug("host -> device %s", bytes(data).hex())
        resume(self._send)(bytes(data))

    def read(self, timeout):
        return resume(self._collect)(max(1, int(timeout * 1000)))

    def now(self):
        return self.cycles / 1000


async def _reset(dut, clock):
    clock.idle()
    dut.rst.value = 1
    dut.rx_valid.value = 0
    dut.rx_data.value = 0
    dut.tx_ready.value = 1
    await clock.run(3)
    dut.rst.value = 0
    await clock.run(1)


@cocotb.test()
async def host_flow(dut):
    from wuxing.hdl.generate import load_manifest
    with open(os.environ["WUXING_HOST_JOB"]) as f:
        job = json.load(f)
    design, manifest = load_manifest(job["design_dir"])
    model = design.model()
    sim = SimTransport(dut, rx_gap=job.get("rx_gap", 1), tx_stall=job.get("tx_stall", 0))
    await _reset(dut, sim.clock)
    transport = sim
    if job.get("faults"):
        transport = faulty = FaultyTransport(sim, job["faults"], seed=job.get("fault_seed", 0))
    if job.get("record"):
        transport = RecordingTransport(transport)
    # the timeout counts kilo-cycles here (default: the design's longest answer, boards.sim)
    drv = BoardDriver(transport, timeout=job.get("timeout_kcycles") or
                      manifest["answer_kcycles"], retries=job.get("retries", 1))

    def run():
        return run_job(drv, model, job)

    try:
        result = await bridge(run)()
    except Exception as e:      # noqa: BLE001 - reported to the host process, one line
        from wuxing.golden.errors import UserError
        result = dict(error=str(e), user_error=isinstance(e, UserError),
                      error_type=type(e).__name__)
    result["cycles"] = sim.cycles
    if job.get("faults"):
        result["faults"] = dict(total=faulty.total, counts=faulty.counts, bytes=faulty.bytes)
    if job.get("record"):
        transport.save(job["record"], dict(design_dir=os.path.basename(job["design_dir"]),
                                           job={k: v for k, v in job.items()
                                                if k not in ("record", "design_dir")},
                                           manifest=design.manifest()))
    with open(os.environ["WUXING_HOST_RESULT"], "w") as f:
        json.dump(result, f)
