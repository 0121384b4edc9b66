"""cocotb test of the board gateware (``wuxing_board``: HostBridge + Network) driven by the real
host driver: the bytes go in and out at the UART boundary (rx_data/rx_valid, tx_data/tx_valid/
tx_ready), the driver runs in a bridge thread, exactly as it runs against a serial port.

Environment: WUXING_HOST_JOB (JSON: the session, see boards.sim), WUXING_HOST_RESULT (JSON out).
"""
from __future__ import annotations

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

try:
    from cocotb import bridge, resume
except ImportError:          # cocotb 2.1 keeps them in a private module
    from cocotb._bridge import bridge, resume

from .driver import BoardDriver, RecordingTransport, Transport
from .faults import FaultyTransport
from .flow import run_job


class SimTransport(Transport):
    """The byte stream at the UART boundary of the simulated board. ``read(timeout)`` and
    ``now()``: in thousands of clock cycles (simulation time, not wall time)."""

    where = "the simulated board"

    def __init__(self, dut, rx_gap: int = 1, tx_stall: int = 0):
        self.dut, self.rx_gap, self.tx_stall = dut, rx_gap, tx_stall
        self.received = bytearray()
        self.cycles = 0

    async def _monitor(self):
        d = self.dut
        n = 0
        while True:
            await RisingEdge(d.clk)
            self.cycles += 1
            if str(d.tx_valid.value) == "1" and str(d.tx_ready.value) == "1":
                self.received.append(int(d.tx_data.value))
            n += 1
            # a UART is not always ready: stall one clock in tx_stall + 1
            d.tx_ready.value = 0 if (self.tx_stall and n % (self.tx_stall + 1) == 0) else 1

    def start(self):
        cocotb.start_soon(self._monitor())

    async def _send(self, data: bytes):
        d = self.dut
        for b in data:
            await FallingEdge(d.clk)
            d.rx_data.value = b
            d.rx_valid.value = 1
            await FallingEdge(d.clk)
            d.rx_valid.value = 0
            for _ in range(self.rx_gap - 1):
                await FallingEdge(d.clk)

    async def _collect(self, max_cycles: int) -> bytes:
        d = self.dut
        for _ in range(max_cycles):
            # a complete frame: something, then a closing END
            if len(self.received) >= 2 and self.received[-1] == 0xC0 and \
                    any(b != 0xC0 for b in self.received):
                break
            await RisingEdge(d.clk)
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


async def _reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.rx_valid.value = 0
    dut.rx_data.value = 0
    dut.tx_ready.value = 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)


@cocotb.test()
async def host_flow(dut):
    from wuxing.hdl.generate import load_manifest
    with open(os.environ["WUXING_HOST_JOB"]) as f:
        job = json.load(f)
    design, manifest = load_manifest(job["design_dir"])
    model = design.model()
    await _reset(dut)
    sim = SimTransport(dut, rx_gap=job.get("rx_gap", 1), tx_stall=job.get("tx_stall", 0))
    sim.start()
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
