"""The host link of a Wuxing board: framing, checksum and messages (pure Python).

One definition shared by the host driver (:mod:`boards.driver`) and by the gateware
(:mod:`boards.host`), whose byte-level behaviour this module is the reference of.

Framing (SLIP, RFC 1055, with a CRC)::

    frame   = END  slip_escape(payload || crc16_be(payload))  END
    END = 0xC0, ESC = 0xDB; inside a frame 0xC0 -> ESC 0xDC and 0xDB -> ESC 0xDD

* CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR),
  sent big-endian after the payload. Running the CRC over payload and CRC gives 0, which is
  what the receiver checks.
* The receiver drops a frame that fails its CRC, is shorter than 3 bytes, is longer than
  ``MAX_FRAME`` bytes, or holds an ESC followed by anything but 0xDC/0xDD. It resynchronises
  at the next END: garbage on the line costs at most the frame it lands in. Empty frames
  (END END) are ignored silently; every other dropped frame is counted.
* A command acts only after its whole frame has checked, and after all its values passed the
  range checks: nothing is ever half-written.

Messages (all integers little-endian; every number value is a signed 32-bit word)::

    request   = cmd u8, seq u8, arguments
    response  = cmd | 0x80 u8, seq u8, status u8, data

``seq`` is echoed so that the host can tell a late response from the current one. A dropped
request gets no response; the host times out and may repeat it. Every command is idempotent
except TRAIN; the STATUS train counter tells the host whether a TRAIN whose response was lost
took effect.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

__all__ = [
    "END", "ESC", "ESC_END", "ESC_ESC", "MAX_PAYLOAD", "MAX_FRAME", "MAX_CHUNK",
    "PROTOCOL_VERSION", "MAGIC",
    "Cmd", "Status", "STATUS_TEXT", "Flags",
    "crc16", "encode_frame", "FrameDecoder",
    "Request", "Response", "ProtocolError",
    "DeviceInfo", "design_hash",
    "pack_values", "unpack_values",
]

END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD
MAX_CHUNK = 64                                # values per WRITE_COEF / READ_COEF
MAX_PAYLOAD = 4 + 4 * MAX_CHUNK               # the longest request or response
MAX_FRAME = MAX_PAYLOAD + 2                   # payload + CRC, before escaping
PROTOCOL_VERSION = 1
MAGIC = b"WX"


class Cmd:
    """Command codes (the request's first byte; the response's is ``cmd | 0x80``)."""

    IDENTIFY = 0x01      # -> DeviceInfo
    WRITE_COEF = 0x02    # start u16, values i32 * k (1..MAX_CHUNK)
    READ_COEF = 0x03     # start u16, count u8 (1..MAX_CHUNK) -> values i32 * count
    WRITE_INPUT = 0x04   # values i32 * n_inputs
    FORWARD = 0x05       # -> flags u8
    READ_OUTPUT = 0x06   # -> values i32 * n_outputs (output integrals S)
    TRAIN = 0x07         # error values i32 * n_outputs -> flags u8 (reverse + BSP update)
    STATUS = 0x08        # -> flags u8, frames_ok u16, frames_dropped u16, train_steps u16

    NAMES = {1: "IDENTIFY", 2: "WRITE_COEF", 3: "READ_COEF", 4: "WRITE_INPUT", 5: "FORWARD",
             6: "READ_OUTPUT", 7: "TRAIN", 8: "STATUS"}


class Status:
    OK = 0
    UNKNOWN_COMMAND = 1
    BAD_LENGTH = 2
    BAD_RANGE = 3
    NO_FORWARD = 4


STATUS_TEXT = {
    Status.OK: "ok",
    Status.UNKNOWN_COMMAND: "unknown command",
    Status.BAD_LENGTH: "wrong message length",
    Status.BAD_RANGE: "index or value out of range",
    Status.NO_FORWARD: "no forward run since the last write (run FORWARD before TRAIN)",
}


class Flags:
    """Bits of the flags byte of FORWARD, TRAIN and STATUS."""

    FORWARD_OVERFLOW = 0x01   # a state saturated during the last forward run
    REVERSE_OVERFLOW = 0x02   # a state saturated during the last reverse run
    FORWARD_VALID = 0x04      # the integrals belong to the current input and coefficients


class ProtocolError(Exception):
    """A response that does not parse or does not answer the request."""


# ---------------------------------------------------------------------------------------
def _crc_table():
    t = []
    for b in range(256):
        c = b << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t.append(c & 0xFFFF)
    return t


_CRC_TABLE = _crc_table()


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (check value of b"123456789": 0x29B1)."""
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


def _escape(data: bytes) -> bytes:
    return data.replace(bytes([ESC]), bytes([ESC, ESC_ESC])).replace(
        bytes([END]), bytes([ESC, ESC_END]))


def encode_frame(payload: bytes) -> bytes:
    """One frame on the wire: END, escaped payload and CRC, END."""
    payload = bytes(payload)
    if not 1 <= len(payload) <= MAX_PAYLOAD:
        raise ValueError(f"a payload has 1..{MAX_PAYLOAD} bytes, not {len(payload)}")
    body = payload + crc16(payload).to_bytes(2, "big")
    return bytes([END]) + _escape(body) + bytes([END])


class FrameDecoder:
    """Streaming frame decoder: feed bytes, get the payloads of the frames that check.

    ``frames_ok`` counts good frames, ``frames_dropped`` frames refused (bad CRC, bad escape,
    too short, too long). The gateware receiver does the same, byte for byte.
    """

    def __init__(self, max_frame: int = MAX_FRAME):
        self.max_frame = max_frame
        self.frames_ok = 0
        self.frames_dropped = 0
        self._buf = bytearray()
        self._esc = False
        self._bad = False
        self._started = False   # any byte since the last END (so END END is not a frame)

    def feed(self, data: bytes) -> list[bytes]:
        out = []
        for b in bytes(data):
            if b == END:
                if self._started:
                    if self._bad or self._esc or len(self._buf) < 3 or crc16(self._buf) != 0:
                        self.frames_dropped += 1
                    else:
                        self.frames_ok += 1
                        out.append(bytes(self._buf[:-2]))
                self._buf.clear()
                self._esc = self._bad = self._started = False
                continue
            self._started = True
            if self._bad:
                continue
            if self._esc:
                self._esc = False
                if b == ESC_END:
                    b = END
                elif b == ESC_ESC:
                    b = ESC
                else:
                    self._bad = True
                    continue
            elif b == ESC:
                self._esc = True
                continue
            if len(self._buf) >= self.max_frame:
                self._bad = True
                continue
            self._buf.append(b)
        return out


# ---------------------------------------------------------------------------------------
def pack_values(values) -> bytes:
    """Integers as signed 32-bit little-endian words (ValueError if one does not fit)."""
    vals = [int(v) for v in values]
    for v in vals:
        if not -(1 << 31) <= v < (1 << 31):
            raise ValueError(f"value {v} does not fit a signed 32-bit word")
    return struct.pack(f"<{len(vals)}i", *vals)


def unpack_values(data: bytes) -> list[int]:
    if len(data) % 4:
        raise ProtocolError(f"{len(data)} bytes is not a whole number of 32-bit values")
    return list(struct.unpack(f"<{len(data) // 4}i", data))


@dataclass(frozen=True)
class Request:
    cmd: int
    seq: int
    args: bytes = b""

    def payload(self) -> bytes:
        return bytes([self.cmd & 0xFF, self.seq & 0xFF]) + bytes(self.args)

    @classmethod
    def parse(cls, payload: bytes) -> "Request":
        if len(payload) < 2:
            raise ProtocolError("a request has at least 2 bytes")
        return cls(payload[0], payload[1], bytes(payload[2:]))


@dataclass(frozen=True)
class Response:
    cmd: int
    seq: int
    status: int
    data: bytes = b""

    def payload(self) -> bytes:
        return bytes([(self.cmd | 0x80) & 0xFF, self.seq & 0xFF, self.status & 0xFF]) + self.data

    @classmethod
    def parse(cls, payload: bytes) -> "Response":
        if len(payload) < 3 or not payload[0] & 0x80:
            raise ProtocolError(f"not a response: {bytes(payload[:8]).hex()}")
        return cls(payload[0] & 0x7F, payload[1], payload[2], bytes(payload[3:]))


# ---------------------------------------------------------------------------------------
_INFO = struct.Struct("<2sBBBBBBHHHHHB8s8s")


@dataclass(frozen=True)
class DeviceInfo:
    """The IDENTIFY answer: what network the device holds, and in which number format."""

    protocol_version: int
    width: int
    frac: int
    coef_extra: int
    acc_width: int
    h_shift: int
    steps: int
    n_inputs: int
    n_outputs: int
    n_links: int
    n_neurons: int
    max_chunk: int
    topology_hash: bytes      # first 8 bytes of Topology.digest()
    design_hash: bytes        # first 8 bytes of design_hash(): topology, settings, formats

    def pack(self) -> bytes:
        return _INFO.pack(MAGIC, self.protocol_version, self.width, self.frac, self.coef_extra,
                          self.acc_width, self.h_shift, self.steps, self.n_inputs,
                          self.n_outputs, self.n_links, self.n_neurons, self.max_chunk,
                          self.topology_hash, self.design_hash)

    @classmethod
    def unpack(cls, data: bytes) -> "DeviceInfo":
        if len(data) != _INFO.size:
            raise ProtocolError(f"IDENTIFY data has {len(data)} bytes, expected {_INFO.size}")
        f = _INFO.unpack(data)
        if f[0] != MAGIC:
            raise ProtocolError(f"not a Wuxing device (magic {f[0]!r})")
        return cls(*f[1:])

    @classmethod
    def for_design(cls, topology, cfg, neuron, fmt, table) -> "DeviceInfo":
        return cls(PROTOCOL_VERSION, fmt.width, fmt.frac, fmt.coef_extra, fmt.acc_width,
                   cfg.h_shift, cfg.steps, topology.layers[0], topology.layers[-1],
                   topology.n_links, topology.n_neurons, MAX_CHUNK,
                   bytes.fromhex(topology.digest())[:8],
                   design_hash(topology, cfg, neuron, fmt, table))

    def describe(self) -> str:
        return (f"Wuxing device, protocol {self.protocol_version}: {self.n_neurons} neurons, "
                f"{self.n_links} links, {self.n_inputs} inputs, {self.n_outputs} outputs, "
                f"Q{self.width - self.frac - 1}.{self.frac}, {self.steps} steps of "
                f"h=2^-{self.h_shift}, topology {self.topology_hash.hex()}, "
                f"design {self.design_hash.hex()}")


def design_hash(topology, cfg, neuron, fmt, table) -> bytes:
    """8 bytes identifying everything the chip's arithmetic depends on."""
    doc = dict(topology=topology.digest(), run=cfg.as_dict(), neuron=neuron.as_dict(),
               fmt=fmt.as_dict(), table=table.as_dict())
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).digest()[:8]
