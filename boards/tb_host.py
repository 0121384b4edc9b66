"""cocotb test of the board gateware (``wuxing_board``: HostBridge + Network) driven by the real
host driver: the bytes go in and out at the UART boundary (rx_data/rx_valid, tx_data/tx_valid/
tx_ready), the driver runs in a bridge thread, exactly as it runs against a serial port. The
board runs inside the co-simulation wrapper (sim/wrapper.py) with its byte path: cocotb wakes
per frame sent and per answer collected, not per byte.

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

from wuxing.sim.wrapper import BytePath, Clocking

from .driver import BoardDriver, RecordingTransport, Transport
from .faults import FaultyTransport
from .flow import run_job
from .protocol import END


class SimTransport(Transport):
    """The byte stream at the UART boundary of the simulated board. ``read(timeout)`` and
    ``now()``: in thousands of clock cycles (simulation time, not wall time).

    The board runs inside the co-simulation wrapper with its byte path (sim/wrapper.py,
    :class:`~wuxing.sim.wrapper.BytePath`): a write is one request that presents the bytes to
    ``rx_data``/``rx_valid``, one every ``rx_gap`` clocks; a read is one request that runs
    the clock until the device has offered a whole frame (``tx_valid``) or the clocks asked
    for are done. A byte offered is taken by the next clock edge (``tx_ready`` high);
    ``tx_stall`` > 0 holds ``tx_ready`` low for that many clocks first (a UART is not always
    ready), and the bytes being received wait meanwhile. Bytes the device offers while the
    host writes are kept for the next read."""

    where = "the simulated board"

    def __init__(self, dut, rx_gap: int = 1, tx_stall: int = 0):
        self.dut, self.rx_gap, self.tx_stall = dut, rx_gap, tx_stall
        self.clock = Clocking(dut)
        self.path = None        # the byte path, from the first exchange on (after the reset)
        self.received = bytearray()
        self.cycles = 0

    def _path(self) -> BytePath:
        if self.path is None:
            self.path = BytePath(self.clock, self.rx_gap, self.tx_stall, END)
        return self.path

    async def _send(self, data: bytes):
        path = self._path()
        before = path.cycles
        self.received += await path.send(data)
        self.cycles += path.cycles - before

    def _frame_complete(self) -> bool:
        """Something, then a closing END."""
        r = self.received
        return len(r) >= 2 and r[-1] == END and any(b != END for b in r)

    async def _collect(self, max_cycles: int) -> bytes:
        d = self.dut
        if not self._frame_complete():
            path = self._path()
            before = path.cycles
            got, _ = await path.collect(max_cycles, until_frame=True,
                                        primed=any(b != END for b in self.received))
            self.received += got
            self.cycles += path.cycles - before
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
    dut.rst.value = 1        # the byte path holds rx_valid low and tx_ready high meanwhile
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
