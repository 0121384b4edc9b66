"""Host driver of a Wuxing board: one class over a byte transport.

Transports: :class:`SerialTransport` (a real board, pyserial), ``boards.tb_host.SimTransport``
(the board's gateware in cocotb), :class:`ReplayTransport` (a recorded session, for tests),
:class:`RecordingTransport` (wraps another and records both directions) and
``boards.faults.FaultyTransport`` (wraps another and corrupts bytes at a set rate).

A link that fails ends in a :class:`LinkError` (a :class:`~wuxing.golden.errors.UserError`:
the ``wuxing`` command prints it as one line) that says what happened and what to check.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from wuxing.golden.errors import UserError
from wuxing.golden.network import FixedModel

from .protocol import (MAX_CHUNK, MAX_PAYLOAD, PROTOCOL_VERSION, SAMPLE_FORMAT, STATUS_FORMAT,
                       STATUS_TEXT, WRITABLE_REGS, Cmd, DeviceInfo, Flags, FrameDecoder,
                       ProtocolError, Request, Response, Status, design_hash, encode_frame,
                       max_payload_for, pack_values, sample_args, unpack_values)

__all__ = ["Transport", "SerialTransport", "RecordingTransport", "ReplayTransport",
           "BoardDriver", "LinkError", "DeviceError", "NoResponse", "error_for_outputs"]


class LinkError(UserError):
    """The board did not answer as a Wuxing board must (the message says what to check)."""


class DeviceError(LinkError):
    """The device answered with a status other than OK."""


class NoResponse(LinkError):
    """No valid response within the timeout (after the retries)."""


class Transport:
    """A byte pipe to the device: ``write(data)``, ``read(timeout) -> bytes`` (what arrived,
    possibly nothing), ``now()`` (a clock in the unit of ``timeout``), ``close()``."""

    where = "the device"

    def write(self, data: bytes):
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:
        raise NotImplementedError

    def now(self) -> float:
        return time.monotonic()

    def close(self):
        pass


class SerialTransport(Transport):
    """A serial port (the board's USB UART) through pyserial."""

    def __init__(self, port: str, baud: int = 115200):
        import serial
        self.where = f"the board on {port}"
        try:
            self.ser = serial.Serial(port, baud, timeout=0.05)
        except (serial.SerialException, ValueError, OSError) as e:
            raise LinkError(f"cannot open serial port {port}: {e}") from None

    def write(self, data):
        import serial
        try:
            self.ser.write(data)
            self.ser.flush()
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"writing to {self.where} failed: {e} (was it unplugged?)") from None

    def read(self, timeout):
        import serial
        try:
            self.ser.timeout = timeout
            first = self.ser.read(1)
            if not first:
                return b""
            return first + self.ser.read(self.ser.in_waiting)
        except (serial.SerialException, OSError) as e:
            raise LinkError(f"reading from {self.where} failed: {e} (was it unplugged?)") \
                from None

    def close(self):
        self.ser.close()


class RecordingTransport(Transport):
    """Passes through to ``inner`` and records every write and read (for fixtures)."""

    def __init__(self, inner: Transport):
        self.inner = inner
        self.where = inner.where
        self.log = []

    def write(self, data):
        self.log.append(["host", bytes(data).hex()])
        self.inner.write(data)

    def read(self, timeout):
        data = self.inner.read(timeout)
        if data:
            self.log.append(["device", data.hex()])
        return data

    def now(self):
        return self.inner.now()

    def save(self, path, meta: dict):
        from wuxing.golden.report import write_json
        write_json(path, dict(meta=meta, log=self.log))


class ReplayTransport(Transport):
    """Replays a recorded session: checks that the host writes exactly the recorded bytes and
    answers with the recorded device bytes. Its clock is virtual: a read that finds no
    device bytes is a timeout that elapsed. :meth:`check_finished` says whether the whole
    recording was used."""

    where = "the recorded session"

    def __init__(self, path):
        rec = json.loads(Path(path).read_text())
        self.meta = rec["meta"]
        self.log = [(who, bytes.fromhex(h)) for who, h in rec["log"]]
        self.pos = 0
        self.clock = 0.0

    def write(self, data):
        if self.pos >= len(self.log) or self.log[self.pos][0] != "host":
            raise AssertionError(f"the host wrote {bytes(data).hex()} where the recording "
                                 f"has no host write (entry {self.pos})")
        want = self.log[self.pos][1]
        if bytes(data) != want:
            raise AssertionError(f"entry {self.pos}: the host wrote {bytes(data).hex()}, "
                                 f"the recording has {want.hex()}")
        self.pos += 1

    def read(self, timeout):
        if self.pos < len(self.log) and self.log[self.pos][0] == "device":
            self.pos += 1
            return self.log[self.pos - 1][1]
        self.clock += max(timeout, 1e-3)
        return b""

    def now(self):
        return self.clock

    @property
    def finished(self) -> bool:
        return self.pos == len(self.log)

    def check_finished(self):
        """AssertionError unless every recorded entry was replayed."""
        if not self.finished:
            raise AssertionError(f"the session used {self.pos} of the {len(self.log)} recorded "
                                 f"entries; next: {self.log[self.pos][0]} "
                                 f"{self.log[self.pos][1].hex()}")


def error_for_outputs(model: FixedModel, out_int, target) -> np.ndarray:
    """The error vector the host sends for TRAIN: the golden model's integer error
    (``FixedModel.error_from_targets``, the same integers as ``error_from_outputs`` for
    ``target * onehot(label)``) of the integrals read from the device (batch of one)."""
    out_int = np.asarray(out_int, dtype=np.int64).reshape(1, -1)
    return model.error_from_targets(out_int, np.asarray(target, np.float64).reshape(1, -1))[0]


class BoardDriver:
    """Commands of :mod:`boards.protocol` over a :class:`Transport`.

    ``timeout``: how long (in the transport's clock unit: seconds, or kilo-cycles in
    simulation) to wait for one response, even while garbage keeps arriving; ``retries``: how
    often a request is sent again when no valid response came. Idempotent requests are
    simply repeated; TRAIN is repeated only when the device's train counter (STATUS) shows
    that it did not run. ``stats`` counts what the link cost: requests, resent requests,
    TRAINs confirmed through the counter, late responses skipped (and ``decoder``
    the frames that arrived broken).
    """

    def __init__(self, transport: Transport, timeout: float = 2.0, retries: int = 2):
        if not isinstance(transport, Transport):
            raise TypeError(f"transport must be a Transport, not {type(transport).__name__}")
        if not timeout > 0 or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"timeout must be positive and retries a non-negative int, got "
                             f"{timeout!r}, {retries!r}")
        self.t = transport
        self.timeout, self.retries = timeout, retries
        self.seq = 0
        self.decoder = FrameDecoder()
        self.info: DeviceInfo | None = None
        self.stats = dict(requests=0, resent=0, train_resent=0, train_confirmed=0,
                          late_responses=0)
        # the device's counters as the host last knew them (None: unknown, read on need):
        # what tells a lost answer of TRAIN_SAMPLE / EVAL_SAMPLE from a lost request
        self._known = dict(train_steps=None, samples=None)
        self._heard = 0      # bytes received since the last valid response

    # -- the request/response exchange -----------------------------------------------------
    def _receive(self, cmd: int, seq: int) -> Response | None:
        """The response to (cmd, seq), or None when the timeout passed (whatever arrives
        meanwhile: a line that never goes quiet does not hold the host)."""
        deadline = self.t.now() + self.timeout
        while True:
            left = deadline - self.t.now()
            if left <= 0:
                return None
            data = self.t.read(left)
            self._heard += len(data)
            for payload in self.decoder.feed(data):
                try:
                    r = Response.parse(payload)
                except ProtocolError:
                    continue
                if r.cmd == cmd and r.seq == seq:
                    self._heard = 0
                    return r
                self.stats["late_responses"] += 1      # an answer to an earlier request

    def _exchange(self, cmd: int, args: bytes, tries: int) -> Response:
        self.seq = (self.seq + 1) & 0xFF
        frame = encode_frame(Request(cmd, self.seq, args).payload(), self.max_payload)
        dropped_before = self.decoder.frames_dropped
        for attempt in range(tries):
            self.stats["requests"] += 1
            self.stats["resent"] += attempt > 0
            self.t.write(frame)
            r = self._receive(cmd, self.seq)
            if r is not None:
                return r
        broken = self.decoder.frames_dropped - dropped_before
        name = Cmd.NAMES.get(cmd, hex(cmd))
        what = f"no answer from {self.t.where} to {name} ({tries} tries, {self.timeout} each)"
        if self._heard == 0:
            hint = ("the line is silent: check that the board is plugged in, that this is its "
                    "UART port, and that it is programmed with a Wuxing bitstream "
                    "(wuxing program --board NAME)")
        elif broken:
            hint = (f"{self._heard} bytes arrived in {broken} broken frames: check the baud "
                    f"rate (--baud, 115200 for the Wuxing bitstreams), the cable, and that the "
                    f"bitstream speaks protocol {PROTOCOL_VERSION} (rebuild it with this "
                    f"toolkit)")
        else:
            hint = (f"{self._heard} bytes arrived but no Wuxing frame: check the port and the "
                    f"baud rate (--baud), and that the board runs a Wuxing bitstream of "
                    f"protocol {PROTOCOL_VERSION}")
        raise NoResponse(f"{what}: {hint}")

    def call(self, cmd: int, args: bytes = b"", retry: bool = True,
             expect: int | None = None) -> bytes:
        """Send a request, return the response data; ``expect``: the data length it must
        have (ProtocolError otherwise)."""
        r = self._exchange(cmd, args, 1 + (self.retries if retry else 0))
        name = Cmd.NAMES.get(cmd, hex(cmd))
        if r.status != Status.OK:
            raise DeviceError(f"{self.t.where} refused {name}: "
                              f"{STATUS_TEXT.get(r.status, f'status {r.status}')} (check that "
                              f"the board's bitstream was built for this network)")
        if expect is not None and len(r.data) != expect:
            raise ProtocolError(f"{self.t.where} answered {name} with {len(r.data)} data bytes, "
                                f"a Wuxing protocol {PROTOCOL_VERSION} device sends {expect}: "
                                f"rebuild and program the bitstream with this toolkit")
        return r.data

    # -- commands ---------------------------------------------------------------------------
    def identify(self) -> DeviceInfo:
        self.info = DeviceInfo.unpack(self.call(Cmd.IDENTIFY))
        return self.info

    def status(self) -> dict:
        d = self.call(Cmd.STATUS, expect=STATUS_FORMAT.size)
        flags, ok, dropped, steps = STATUS_FORMAT.unpack(d)
        return dict(flags=flags, frames_ok=ok, frames_dropped=dropped, train_steps=steps)

    def _need_info(self) -> DeviceInfo:
        return self.info or self.identify()

    @property
    def max_payload(self) -> int:
        """The longest request the device takes (a sample once IDENTIFY told its inputs)."""
        return max_payload_for(self.info.n_inputs) if self.info else MAX_PAYLOAD

    # -- learning on the chip: registers and one-frame samples ------------------------------
    @staticmethod
    def _reg_index(name: str) -> int:
        from wuxing.hdl.network import INFO
        if name not in INFO:
            raise ValueError(f"no register {name!r} in region 7; known: {', '.join(INFO)}")
        return INFO[name]

    def read_reg(self, name: str) -> int:
        """A region-7 register (hdl.network.INFO name), e.g. ``correct``."""
        return unpack_values(self.call(Cmd.READ_REG, bytes([self._reg_index(name)]),
                                       expect=4))[0]

    def write_reg(self, name: str, value: int):
        """A writable region-7 register (protocol.WRITABLE_REGS), e.g. ``batch_log2``."""
        if name not in WRITABLE_REGS:
            raise ValueError(f"register {name!r} is not writable; writable: "
                             f"{', '.join(WRITABLE_REGS)}")
        self.call(Cmd.WRITE_REG, bytes([self._reg_index(name)]) + pack_values([value]),
                  expect=0)
        if name in self._known:
            self._known[name] = int(value) & 0xFFFFFFFF

    def _counter(self, name: str) -> int:
        if name == "train_steps":
            return self.status()["train_steps"]
        return self.read_reg(name) & 0xFFFFFFFF

    def _sample(self, cmd: int, pixels, label: int) -> tuple[int, int]:
        """TRAIN_SAMPLE or EVAL_SAMPLE: (flags, predicted). Neither is repeated blindly (each
        moves the device's counters): when an answer is lost, the counter (STATUS train_steps
        for TRAIN_SAMPLE, the ``samples`` register for EVAL_SAMPLE) says whether it ran; if
        it did, the predicted register and the STATUS flags give the answer."""
        args = sample_args(label, pixels)
        n_in = self._need_info().n_inputs
        if len(args) != 2 + n_in:
            raise ValueError(f"a sample has {n_in} pixels, not {len(args) - 2}")
        name = "train_steps" if cmd == Cmd.TRAIN_SAMPLE else "samples"
        before = self._known[name]
        for attempt in range(1 + self.retries):
            if attempt:
                self.stats["train_resent"] += 1
            try:
                flags, pred = SAMPLE_FORMAT.unpack(self.call(cmd, args, retry=False,
                                                             expect=SAMPLE_FORMAT.size))
                break
            except NoResponse:
                if before is None:
                    raise          # nothing to tell a lost answer from a lost request
                now = self._counter(name)
                if now == (before + 1) & 0xFFFFFFFF:
                    self.stats["train_confirmed"] += 1
                    flags = self.status()["flags"] & Flags.SAMPLE_OVERFLOW
                    pred = self.read_reg("predicted")
                    break
                if now != before:
                    raise ProtocolError(
                        f"the {name} counter of {self.t.where} moved from {before} to {now} "
                        f"for one {Cmd.NAMES[cmd]}: another host is using the board?") from None
        else:
            raise NoResponse(f"{self.t.where} did not run {Cmd.NAMES[cmd]} after "
                             f"{1 + self.retries} tries: check the line")
        if before is not None:
            self._known[name] = (before + 1) & 0xFFFFFFFF
        if cmd == Cmd.TRAIN_SAMPLE:     # it counts in ``samples`` too (golden.onchip)
            self._known["samples"] = None
        return flags, pred

    def train_pixels(self, pixels, label: int) -> tuple[int, int]:
        """TRAIN_SAMPLE: one training sample on the chip (8-bit pixels, label): forward,
        error on the chip, reverse, accumulate; C changes when the batch is full. Returns
        (flags, predicted class before the update)."""
        if self._known["train_steps"] is None:
            self._known["train_steps"] = self.status()["train_steps"]
        return self._sample(Cmd.TRAIN_SAMPLE, pixels, label)

    def eval_pixels(self, pixels, label: int) -> tuple[int, int]:
        """EVAL_SAMPLE: forward run, predicted class, the correct/samples counters."""
        return self._sample(Cmd.EVAL_SAMPLE, pixels, label)

    def _write_values(self, cmd: int, values):
        vals = [int(v) for v in np.asarray(values).reshape(-1)]
        for i in range(0, len(vals), MAX_CHUNK):
            self.call(cmd, i.to_bytes(4, "little") + pack_values(vals[i:i + MAX_CHUNK]),
                      expect=0)

    def write_coefficients(self, C_int):
        """All coefficient registers, in chunks of MAX_CHUNK."""
        self._write_values(Cmd.WRITE_COEF, C_int)

    def read_coefficients(self, start: int = 0, count: int | None = None) -> np.ndarray:
        if count is None:
            count = self._need_info().n_links - start
        out = []
        for i in range(start, start + count, MAX_CHUNK):
            n = min(MAX_CHUNK, start + count - i)
            out += unpack_values(self.call(Cmd.READ_COEF, i.to_bytes(4, "little") + bytes([n]),
                                           expect=4 * n))
        return np.array(out, dtype=np.int64)

    def write_input(self, x_int):
        """The input registers (state format), in chunks of MAX_CHUNK."""
        self._write_values(Cmd.WRITE_INPUT, x_int)

    def forward(self) -> int:
        return self.call(Cmd.FORWARD, expect=1)[0]

    def read_outputs(self) -> np.ndarray:
        n = self._need_info().n_outputs
        return np.array(unpack_values(self.call(Cmd.READ_OUTPUT, expect=4 * n)), np.int64)

    def train(self, err_int) -> int:
        """Reverse run with ``err_int`` and the BSP update (batch of one); returns the flags.

        TRAIN is the one request that is not idempotent, so it is never repeated blindly:
        when its response is lost, the STATUS train counter says whether it ran (the device
        takes one request at a time, so STATUS answers after a TRAIN that arrived). If it ran,
        the flags come from STATUS; if not, TRAIN is sent again (up to ``retries`` times)."""
        args = pack_values(np.asarray(err_int).reshape(-1))
        before = self.status()["train_steps"]
        for attempt in range(1 + self.retries):
            if attempt:
                self.stats["train_resent"] += 1
            try:
                return self.call(Cmd.TRAIN, args, retry=False, expect=1)[0]
            except NoResponse:
                st = self.status()
                if st["train_steps"] == (before + 1) & 0xFFFFFFFF:
                    self.stats["train_confirmed"] += 1
                    return st["flags"]
                if st["train_steps"] != before:
                    raise ProtocolError(
                        f"the train counter of {self.t.where} moved from {before} to "
                        f"{st['train_steps']} for one TRAIN: another host is using the board?"
                    ) from None
        raise NoResponse(f"{self.t.where} did not run TRAIN after {1 + self.retries} tries "
                         f"(its train counter stayed at {before}): check the line")

    # -- flows --------------------------------------------------------------------------------
    def check_design(self, topology, cfg, neuron, fmt, table, *, against="the checkpoint",
                     remedy="build and program the bitstream of this checkpoint"
                     ) -> DeviceInfo:
        """IDENTIFY and compare with the design the host expects; LinkError if it differs
        (``against``: what the host's design came from; ``remedy``: what to do)."""
        info = self.identify()
        want = design_hash(topology, cfg, neuron, fmt, table)
        if info.design_hash != want:
            raise LinkError(
                f"{self.t.where} holds another design ({info.design_hash.hex()}, topology "
                f"{info.topology_hash.hex()}) than {against} ({want.hex()}, topology "
                f"{topology.hardware_digest()[:16]}): {remedy}")
        return info

    def infer(self, x_int) -> tuple[np.ndarray, int]:
        """One sample: write the input, run forward, read the output integrals."""
        self.write_input(x_int)
        flags = self.forward()
        return self.read_outputs(), flags

    def train_sample(self, model: FixedModel, x_int, target) -> tuple[np.ndarray, int]:
        """One training step on the chip: forward, the host's error, reverse + BSP update."""
        out, flags = self.infer(x_int)
        err = error_for_outputs(model, out, target)
        flags |= self.train(err)
        return out, flags
