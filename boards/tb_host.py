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
import numpy as np

try:
    from cocotb import bridge, resume
except ImportError:          # cocotb 2.1 keeps them in a private module
    from cocotb._bridge import bridge, resume

from wuxing.sim.wrapper import Clocking

from .driver import BoardDriver, RecordingTransport, Transport
from .flow import host_session


class SimTransport(Transport):
    """The byte stream at the UART boundary of the simulated board. ``read(timeout)``: the
    timeout counts in thousands of clock cycles (simulation time, not wall time).

    The board runs inside the co-simulation wrapper (sim/wrapper.py): the clock runs inside the
    simulation until the device offers a byte (``tx_valid``) or the clocks asked for are done,
    so cocotb wakes once per byte, not once per clock. A byte offered is taken by the next
    clock edge (``tx_ready`` high); ``tx_stall`` > 0 holds ``tx_ready`` low for that many clocks
    first (a UART is not always ready)."""

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
    design, _ = load_manifest(job["design_dir"])
    model = design.model()
    sim = SimTransport(dut, rx_gap=job.get("rx_gap", 1), tx_stall=job.get("tx_stall", 0))
    await _reset(dut, sim.clock)
    transport = RecordingTransport(sim) if job.get("record") else sim
    # the timeout counts kilo-cycles here: a forward run plus a response is a few thousand
    drv = BoardDriver(transport, timeout=job.get("timeout_kcycles", 50), retries=1)

    def run():
        result = {}
        if job.get("garbage"):
            # line noise and a broken frame first: the link must resynchronise
            transport.write(bytes.fromhex(job["garbage"]))
        result.update(host_session(drv, model, np.array(job["C_int"], np.int64),
                                   np.array(job["x_int"], np.int64),
                                   targets=np.array(job["targets"], np.float64)
                                   if job.get("targets") is not None else None,
                                   train=job.get("train", 0)))
        if job.get("negative"):
            result["negative"] = _negative_checks(drv, model)
            result["status_after_negative"] = drv.status()
        return result

    result = await bridge(run)()
    result["cycles"] = sim.cycles
    if job.get("record"):
        transport.save(job["record"], dict(design_dir=os.path.basename(job["design_dir"]),
                                           job={k: v for k, v in job.items()
                                                if k not in ("record", "design_dir")},
                                           manifest=design.manifest()))
    with open(os.environ["WUXING_HOST_RESULT"], "w") as f:
        json.dump(result, f)


def _negative_checks(drv, model):
    """Requests the device must refuse without changing anything."""
    from .driver import DeviceError
    from .protocol import Cmd, pack_values
    out = {}
    before = drv.read_coefficients().tolist()
    drv.write_coefficients(before)        # a write: the forward integrals are stale now
    n = len(before)
    cases = {
        "coef_out_of_range": (Cmd.WRITE_COEF, (0).to_bytes(2, "little") +
                              pack_values([0, model.c_hi + 1])),
        "coef_index_past_end": (Cmd.WRITE_COEF, (n - 1).to_bytes(2, "little") +
                                pack_values([1, 2])),
        "input_wrong_length": (Cmd.WRITE_INPUT, pack_values([0])),
        "unknown_command": (0x55, b""),
        "train_without_forward": (Cmd.TRAIN, pack_values([0] * model.topology.layers[-1])),
    }
    for name, (cmd, args) in cases.items():
        try:
            drv.call(cmd, args)
            out[name] = "accepted"
        except DeviceError as e:
            out[name] = str(e)
    out["coefficients_unchanged"] = drv.read_coefficients().tolist() == before
    return out
