"""The host link of a Wuxing board: framing, checksum and messages (pure Python).

One definition shared by the host driver (:mod:`boards.driver`) and by the gateware
(:mod:`boards.link`, :mod:`boards.host`), whose byte-level behaviour this module is the
reference of.

Framing (protocol version 2: SLIP, RFC 1055, around a length-prefixed, CRC-32C-checked body)::

    frame   = END  slip_escape(body)  END
    body    = length u16 LE  ||  payload (length bytes, 1..MAX_PAYLOAD)  ||  crc u32 LE
    crc     = CRC-32C(length || payload)
    END = 0xC0, ESC = 0xDB; inside a frame 0xC0 -> ESC 0xDC and 0xDB -> ESC 0xDD

* CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected, initial value 0xFFFFFFFF, final XOR
  0xFFFFFFFF; check value of b"123456789": 0xE3069283). The non-zero initial value and final
  XOR make leading and trailing zero bytes change the check (protocol 1's CRC-16 without a
  final XOR accepted zeros inserted before END); the polynomial has Hamming distance 6 over
  the longest body, so up to 5 flipped bits, and any burst of up to 32 bits, are always
  detected; other corruptions pass with probability 2**-32.
* The length field makes every frame whose byte count changed (a byte dropped, inserted or
  duplicated, an escape broken) fail before the CRC is even needed.
* The receiver drops a frame whose length field differs from the bytes received, whose CRC
  fails, that is longer than ``MAX_FRAME`` bytes, or that holds an ESC followed by anything
  but 0xDC/0xDD. It resynchronises at the next END: garbage on the line costs at most the
  frame it lands in. Empty frames (END END) are ignored silently; every other dropped frame
  is counted.
* A command acts only after its whole frame has checked, and after all its values passed the
  range checks: nothing is ever half-written.

Messages (all integers little-endian; every number value is a signed 32-bit word)::

    request   = cmd u8, seq u8, arguments
    response  = cmd | 0x80 u8, seq u8, status u8, data

``seq`` is echoed so that the host can tell a late response from the current one. A dropped
request gets no response; the host times out and may repeat it. Every command is idempotent
except TRAIN; the STATUS train counter tells the host whether a TRAIN whose response was lost
took effect.

Coefficient indices (WRITE_COEF/READ_COEF ``start``) and the sizes of IDENTIFY are 32-bit
fields: the control port's index (``wuxing.hdl.network.INDEX_BITS``, 20 bits) reaches every
coefficient and integral of MODEL1 and its fan-in forms, and the protocol is not the limit.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

from wuxing.golden.errors import UserError

__all__ = [
    "END", "ESC", "ESC_END", "ESC_ESC", "MAX_PAYLOAD", "MAX_FRAME", "MAX_CHUNK",
    "PROTOCOL_VERSION", "MAGIC", "LENGTH_BYTES", "CRC_BYTES", "CRC_RESIDUE",
    "Cmd", "Status", "STATUS_TEXT", "Flags", "STATUS_FORMAT",
    "crc32c", "encode_frame", "FrameDecoder", "SAMPLE_HEAD", "SAMPLE_FORMAT",
    "max_payload_for", "sample_args", "WRITABLE_REGS",
    "Request", "Response", "ProtocolError",
    "DeviceInfo", "design_hash",
    "pack_values", "unpack_values",
]

END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD
MAX_CHUNK = 64                                # values per WRITE_COEF / READ_COEF
# the longest payload: WRITE_COEF = cmd, seq, start u32, MAX_CHUNK values
MAX_PAYLOAD = 2 + 4 + 4 * MAX_CHUNK
LENGTH_BYTES, CRC_BYTES = 2, 4
MAX_FRAME = LENGTH_BYTES + MAX_PAYLOAD + CRC_BYTES   # a body's bytes, before escaping
# TRAIN_SAMPLE / EVAL_SAMPLE: cmd, seq, label u16, then one 8-bit pixel per input
SAMPLE_HEAD = 2 + 2
# their answer: flags u8 (Flags.SAMPLE_OVERFLOW), predicted class u16 (the chip's register)
SAMPLE_FORMAT = struct.Struct("<BH")
PROTOCOL_VERSION = 2
MAGIC = b"WX"


class Cmd:
    """Command codes (the request's first byte; the response's is ``cmd | 0x80``)."""

    IDENTIFY = 0x01      # -> DeviceInfo
    WRITE_COEF = 0x02    # start u32, values i32 * k (1..MAX_CHUNK)
    READ_COEF = 0x03     # start u32, count u8 (1..MAX_CHUNK) -> values i32 * count
    WRITE_INPUT = 0x04   # start u32, values i32 * k (1..MAX_CHUNK), state format
    FORWARD = 0x05       # -> flags u8
    READ_OUTPUT = 0x06   # -> values i32 * n_outputs (output integrals S)
    TRAIN = 0x07         # error values i32 * n_outputs (<= MAX_CHUNK) -> flags u8 (reverse +
                         # BSP update, batch of one)
    STATUS = 0x08        # -> flags u8, frames_ok u32, frames_dropped u32, train_steps u32
                         # (train_steps counts TRAIN and TRAIN_SAMPLE)
    # learning on the chip (issue #10): one sample in one frame
    TRAIN_SAMPLE = 0x09  # label u16, pixels u8 * n_inputs -> SAMPLE_FORMAT (engine op 3:
                         # forward, error on chip, reverse, accumulate, C at a batch's end)
    EVAL_SAMPLE = 0x0A   # label u16, pixels u8 * n_inputs -> SAMPLE_FORMAT (engine op 4:
                         # forward, predicted, the correct/samples counters)
    READ_REG = 0x0B      # index u8 (region 7) -> value i32
    WRITE_REG = 0x0C     # index u8 (one of WRITABLE_REGS), value i32

    NAMES = {1: "IDENTIFY", 2: "WRITE_COEF", 3: "READ_COEF", 4: "WRITE_INPUT", 5: "FORWARD",
             6: "READ_OUTPUT", 7: "TRAIN", 8: "STATUS", 9: "TRAIN_SAMPLE", 10: "EVAL_SAMPLE",
             11: "READ_REG", 12: "WRITE_REG"}


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

# the region-7 registers WRITE_REG may write (hdl.network.INFO names; any other index,
# the command register above all, is refused: a run starts only through the bridge's commands)
WRITABLE_REGS = ("steps", "batch_log2", "step_exp", "label", "correct", "samples")

# STATUS data: flags u8, frames_ok u32, frames_dropped u32, train_steps u32 (wrapping)
STATUS_FORMAT = struct.Struct("<BIII")


class Flags:
    """Bits of the flags byte of FORWARD, TRAIN and STATUS."""

    FORWARD_OVERFLOW = 0x01   # a state saturated during the last forward run
    REVERSE_OVERFLOW = 0x02   # a state saturated during the last reverse run
    FORWARD_VALID = 0x04      # the integrals belong to the current input and coefficients
    SAMPLE_OVERFLOW = 0x08    # the last TRAIN_SAMPLE / EVAL_SAMPLE: a state saturated in its
                              # runs (in its answer and in STATUS)


class ProtocolError(UserError):
    """A response that does not parse or does not answer the request."""


# ---------------------------------------------------------------------------------------
CRC_POLY_REFLECTED = 0x82F63B78       # 0x1EDC6F41 bit-reversed (CRC-32C, LSB first)
CRC_INIT = CRC_XOROUT = 0xFFFFFFFF


def _crc_table():
    t = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ CRC_POLY_REFLECTED if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_TABLE = _crc_table()


def crc_register(data: bytes, reg: int = CRC_INIT) -> int:
    """The CRC-32C shift register after ``data`` (no final XOR): what the gateware holds."""
    for b in data:
        reg = (reg >> 8) ^ _CRC_TABLE[(reg ^ b) & 0xFF]
    return reg


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data`` (check value of b"123456789": 0xE3069283)."""
    return crc_register(data) ^ CRC_XOROUT


# the register after a body whose CRC checks: the receiver's test, whatever the payload
CRC_RESIDUE = crc_register(b"\x00" + crc32c(b"\x00").to_bytes(CRC_BYTES, "little"))


def _escape(data: bytes) -> bytes:
    return data.replace(bytes([ESC]), bytes([ESC, ESC_ESC])).replace(
        bytes([END]), bytes([ESC, ESC_END]))


def max_payload_for(n_inputs: int) -> int:
    """The longest request payload of a device with ``n_inputs`` inputs: a WRITE_COEF of
    MAX_CHUNK values, or a TRAIN_SAMPLE / EVAL_SAMPLE (SAMPLE_HEAD + one byte per input)."""
    if not isinstance(n_inputs, int) or isinstance(n_inputs, bool) or n_inputs < 1:
        raise ValueError(f"n_inputs must be a positive int, not {n_inputs!r}")
    return max(MAX_PAYLOAD, SAMPLE_HEAD + n_inputs)


def sample_args(label: int, pixels) -> bytes:
    """The arguments of TRAIN_SAMPLE / EVAL_SAMPLE: label u16 LE, one byte per pixel."""
    px = bytes(int(p) for p in pixels)      # ValueError for a pixel outside 0..255
    if not 0 <= int(label) < 1 << 16:
        raise ValueError(f"label {label} does not fit 16 bits")
    return int(label).to_bytes(2, "little") + px


def encode_frame(payload: bytes, max_payload: int = MAX_PAYLOAD) -> bytes:
    """One frame on the wire: END, the escaped length, payload and CRC, END. ``max_payload``:
    the receiver's limit (:func:`max_payload_for` of a device)."""
    payload = bytes(payload)
    if not 1 <= len(payload) <= max_payload:
        raise ValueError(f"a payload has 1..{max_payload} bytes, not {len(payload)}")
    head = len(payload).to_bytes(LENGTH_BYTES, "little") + payload
    body = head + crc32c(head).to_bytes(CRC_BYTES, "little")
    return bytes([END]) + _escape(body) + bytes([END])


class FrameDecoder:
    """Streaming frame decoder: feed bytes, get the payloads of the frames that check.

    ``max_payload``: the longest payload accepted (a body of ``max_payload + 6`` bytes).
    ``frames_ok`` counts good frames, ``frames_dropped`` frames refused (length field not the
    bytes received, bad CRC, bad escape, too long). The gateware receiver does the same, byte
    for byte (tests/test_boards_link.py).
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        if not isinstance(max_payload, int) or not 1 <= max_payload < 1 << 16:
            raise ValueError(f"max_payload must be an int in 1..65535, not {max_payload!r}")
        self.max_payload = max_payload
        self.max_frame = LENGTH_BYTES + max_payload + CRC_BYTES
        self.frames_ok = 0
        self.frames_dropped = 0
        self._buf = bytearray()
        self._esc = False
        self._bad = False
        self._started = False   # any byte since the last END (so END END is not a frame)

    def _check(self) -> bytes | None:
        """The payload of the body in the buffer, or None if the frame must be dropped."""
        body = self._buf
        if self._bad or self._esc or len(body) < LENGTH_BYTES + 1 + CRC_BYTES:
            return None
        length = int.from_bytes(body[:LENGTH_BYTES], "little")
        if len(body) != LENGTH_BYTES + length + CRC_BYTES:
            return None
        if crc32c(body[:-CRC_BYTES]) != int.from_bytes(body[-CRC_BYTES:], "little"):
            return None
        return bytes(body[LENGTH_BYTES:-CRC_BYTES])

    def feed(self, data: bytes) -> list[bytes]:
        out = []
        for b in bytes(data):
            if b == END:
                if self._started:
                    payload = self._check()
                    if payload is None:
                        self.frames_dropped += 1
                    else:
                        self.frames_ok += 1
                        out.append(payload)
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
# IDENTIFY data: magic, version, width, frac, coef_extra, acc_width, h_shift, steps u16,
# n_inputs, n_outputs, n_links, n_neurons (u32), max_chunk u8, index_bits u8, 2 x 8 hash bytes
_INFO = struct.Struct("<2sBBBBBBHIIIIBB8s8s")


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
    index_bits: int           # the control port's index field (wuxing.hdl.network.INDEX_BITS)
    topology_hash: bytes      # first 8 bytes of Topology.hardware_digest()
    design_hash: bytes        # design_hash(): what the hardware computes

    SIZE = _INFO.size

    def pack(self) -> bytes:
        return _INFO.pack(MAGIC, self.protocol_version, self.width, self.frac, self.coef_extra,
                          self.acc_width, self.h_shift, self.steps, self.n_inputs,
                          self.n_outputs, self.n_links, self.n_neurons, self.max_chunk,
                          self.index_bits, self.topology_hash, self.design_hash)

    @classmethod
    def unpack(cls, data: bytes) -> "DeviceInfo":
        if len(data) >= 3 and data[:2] == MAGIC and data[2] != PROTOCOL_VERSION:
            raise ProtocolError(
                f"the device speaks Wuxing protocol {data[2]}, this host protocol "
                f"{PROTOCOL_VERSION}: build and program the bitstream with this toolkit")
        if len(data) != _INFO.size:
            raise ProtocolError(f"the device's IDENTIFY answer has {len(data)} bytes, a Wuxing "
                                f"protocol {PROTOCOL_VERSION} device sends {_INFO.size}: "
                                f"is the port a Wuxing board, programmed with this toolkit?")
        f = _INFO.unpack(data)
        if f[0] != MAGIC:
            raise ProtocolError(f"the device is not a Wuxing board (magic {f[0]!r}): check "
                                f"the port and the bitstream")
        return cls(*f[1:])

    @classmethod
    def for_design(cls, topology, cfg, neuron, fmt, table) -> "DeviceInfo":
        from wuxing.hdl.network import INDEX_BITS
        return cls(PROTOCOL_VERSION, fmt.width, fmt.frac, fmt.coef_extra, fmt.acc_width,
                   cfg.h_shift, cfg.steps, topology.layers[0], topology.layers[-1],
                   topology.n_links, topology.n_neurons, MAX_CHUNK, INDEX_BITS,
                   bytes.fromhex(topology.hardware_digest())[:8],
                   design_hash(topology, cfg, neuron, fmt, table))

    def describe(self) -> str:
        return (f"Wuxing device, protocol {self.protocol_version}: {self.n_neurons} neurons, "
                f"{self.n_links} links, {self.n_inputs} inputs, {self.n_outputs} outputs, "
                f"Q{self.width - self.frac - 1}.{self.frac}, {self.steps} steps of "
                f"h=2^-{self.h_shift}, topology {self.topology_hash.hex()}, "
                f"design {self.design_hash.hex()}")


def design_hash(topology, cfg, neuron, fmt, table) -> bytes:
    """8 bytes identifying what the hardware is: the topology's links (not its name or seed),
    the number format, the neuron constants, the atan table and the run settings the gateware
    uses (:meth:`RunConfig.hardware_dict`: not the host-only ones such as the target, the
    initial C range or the error scale, which the host applies)."""
    doc = dict(topology=topology.hardware_digest(), run=cfg.hardware_dict(),
               neuron=neuron.as_dict(), fmt=fmt.as_dict(), table=table.as_dict())
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).digest()[:8]
