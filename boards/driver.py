"""Host driver of a Wuxing board: one class over a byte transport.

Transports: :class:`SerialTransport` (a real board, pyserial), ``boards.tb_host.SimTransport``
(the board's gateware in cocotb), :class:`ReplayTransport` (a recorded session, for tests),
and :class:`RecordingTransport` (wraps another and records both directions).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from wuxing.golden.network import FixedModel

from .protocol import (MAX_CHUNK, STATUS_TEXT, Cmd, DeviceInfo, FrameDecoder, ProtocolError,
                       Request, Response, Status, design_hash, encode_frame, pack_values,
                       unpack_values)

__all__ = ["Transport", "SerialTransport", "RecordingTransport", "ReplayTransport",
           "BoardDriver", "DeviceError", "NoResponse", "error_for_outputs"]


class DeviceError(Exception):
    """The device answered with a status other than OK."""


class NoResponse(Exception):
    """No valid response within the timeout (after the retries)."""


class Transport:
    """A byte pipe to the device: ``write(data)``, ``read(timeout) -> bytes`` (what arrived,
    possibly nothing), ``close()``."""

    def write(self, data: bytes):
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:
        raise NotImplementedError

    def close(self):
        pass


class SerialTransport(Transport):
    """A serial port (the board's USB UART) through pyserial."""

    def __init__(self, port: str, baud: int = 115200):
        import serial
        try:
            self.ser = serial.Serial(port, baud, timeout=0.05)
        except serial.SerialException as e:
            raise ValueError(f"cannot open serial port {port}: {e}") from None

    def write(self, data):
        self.ser.write(data)
        self.ser.flush()

    def read(self, timeout):
        self.ser.timeout = timeout
        first = self.ser.read(1)
        if not first:
            return b""
        return first + self.ser.read(self.ser.in_waiting)

    def close(self):
        self.ser.close()


class RecordingTransport(Transport):
    """Passes through to ``inner`` and records every write and read (for fixtures)."""

    def __init__(self, inner: Transport):
        self.inner = inner
        self.log = []

    def write(self, data):
        self.log.append(["host", bytes(data).hex()])
        self.inner.write(data)

    def read(self, timeout):
        data = self.inner.read(timeout)
        if data:
            self.log.append(["device", data.hex()])
        return data

    def save(self, path, meta: dict):
        Path(path).write_text(json.dumps(dict(meta=meta, log=self.log), indent=0) + "\n")


class ReplayTransport(Transport):
    """Replays a recorded session: checks that the host writes exactly the recorded bytes and
    answers with the recorded device bytes."""

    def __init__(self, path):
        rec = json.loads(Path(path).read_text())
        self.meta = rec["meta"]
        self.log = [(who, bytes.fromhex(h)) for who, h in rec["log"]]
        self.pos = 0

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
        return b""

    @property
    def finished(self) -> bool:
        return self.pos == len(self.log)


def error_for_outputs(model: FixedModel, out_int, target) -> np.ndarray:
    """The error vector the host sends for TRAIN: the golden model's integer error
    (``FixedModel.error_from_targets``, the same integers as ``error_from_outputs`` for
    ``target * onehot(label)``) of the integrals read from the device (batch of one)."""
    out_int = np.asarray(out_int, dtype=np.int64).reshape(1, -1)
    return model.error_from_targets(out_int, np.asarray(target, np.float64).reshape(1, -1))[0]


class BoardDriver:
    """Commands of :mod:`boards.protocol` over a :class:`Transport`.

    ``timeout``: seconds (or, for the simulation transport, its own unit) to wait for one
    response; ``retries``: how often an idempotent request is repeated when no response came.
    """

    def __init__(self, transport: Transport, timeout: float = 2.0, retries: int = 2):
        if not isinstance(transport, Transport):
            raise TypeError(f"transport must be a Transport, not {type(transport).__name__}")
        self.t = transport
        self.timeout, self.retries = timeout, retries
        self.seq = 0
        self.decoder = FrameDecoder()
        self.info: DeviceInfo | None = None

    # -- the request/response exchange -----------------------------------------------------
    def _receive(self, cmd: int, seq: int) -> Response | None:
        deadline = time.monotonic() + self.timeout
        while True:
            data = self.t.read(max(0.0, deadline - time.monotonic()))
            for payload in self.decoder.feed(data):
                try:
                    r = Response.parse(payload)
                except ProtocolError:
                    continue
                if r.cmd == cmd and r.seq == seq:
                    return r
                # a late answer to an earlier request: skip it
            if not data and time.monotonic() >= deadline:
                return None

    def call(self, cmd: int, args: bytes = b"", retry: bool = True) -> bytes:
        self.seq = (self.seq + 1) & 0xFF
        frame = encode_frame(Request(cmd, self.seq, args).payload())
        for _ in range(1 + (self.retries if retry else 0)):
            self.t.write(frame)
            r = self._receive(cmd, self.seq)
            if r is not None:
                if r.status != Status.OK:
                    raise DeviceError(f"{Cmd.NAMES.get(cmd, cmd)}: "
                                      f"{STATUS_TEXT.get(r.status, r.status)}")
                return r.data
        raise NoResponse(f"no response to {Cmd.NAMES.get(cmd, cmd)} "
                         f"(is the board programmed with a Wuxing bitstream?)")

    # -- commands ---------------------------------------------------------------------------
    def identify(self) -> DeviceInfo:
        self.info = DeviceInfo.unpack(self.call(Cmd.IDENTIFY))
        return self.info

    def status(self) -> dict:
        d = self.call(Cmd.STATUS)
        if len(d) != 7:
            raise ProtocolError("STATUS data has the wrong length")
        return dict(flags=d[0], frames_ok=int.from_bytes(d[1:3], "little"),
                    frames_dropped=int.from_bytes(d[3:5], "little"),
                    train_steps=int.from_bytes(d[5:7], "little"))

    def _need_info(self) -> DeviceInfo:
        return self.info or self.identify()

    def write_coefficients(self, C_int, start: int = 0):
        vals = [int(v) for v in np.asarray(C_int).reshape(-1)]
        for i in range(0, len(vals), MAX_CHUNK):
            chunk = vals[i:i + MAX_CHUNK]
            self.call(Cmd.WRITE_COEF, (start + i).to_bytes(2, "little") + pack_values(chunk))

    def read_coefficients(self, start: int = 0, count: int | None = None) -> np.ndarray:
        if count is None:
            count = self._need_info().n_links - start
        out = []
        for i in range(start, start + count, MAX_CHUNK):
            n = min(MAX_CHUNK, start + count - i)
            out += unpack_values(self.call(Cmd.READ_COEF, i.to_bytes(2, "little") + bytes([n])))
        return np.array(out, dtype=np.int64)

    def write_input(self, x_int):
        self.call(Cmd.WRITE_INPUT, pack_values(np.asarray(x_int).reshape(-1)))

    def forward(self) -> int:
        return self.call(Cmd.FORWARD)[0]

    def read_outputs(self) -> np.ndarray:
        return np.array(unpack_values(self.call(Cmd.READ_OUTPUT)), dtype=np.int64)

    def train(self, err_int) -> int:
        """Reverse run with ``err_int`` and the BSP update (batch of one). TRAIN is not repeated
        blindly: if its response is lost, the device's train counter says whether it ran."""
        before = self.status()["train_steps"]
        try:
            return self.call(Cmd.TRAIN, pack_values(np.asarray(err_int).reshape(-1)),
                             retry=False)[0]
        except NoResponse:
            if self.status()["train_steps"] == (before + 1) & 0xFFFF:
                return 0
            raise

    # -- flows --------------------------------------------------------------------------------
    def check_design(self, topology, cfg, neuron, fmt, table) -> DeviceInfo:
        """IDENTIFY and compare with the design the host expects; ValueError if it differs."""
        info = self.identify()
        want = design_hash(topology, cfg, neuron, fmt, table)
        if info.design_hash != want:
            raise ValueError(
                f"the device holds another design ({info.design_hash.hex()}, topology "
                f"{info.topology_hash.hex()}) than the checkpoint ({want.hex()}, topology "
                f"{topology.digest()[:16]}): build and program the bitstream of this checkpoint")
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
