"""Fault injection on the host link: a transport that drops, flips, duplicates and inserts
bytes at a set rate, in both directions, and counts what it did.

Used by ``wuxing run --sim --faults RATE`` and the tests: a training session through it must
end with the same coefficients as the golden model (the framing drops every corrupted frame,
the driver repeats what it must).
"""
from __future__ import annotations

import random

from .driver import Transport

__all__ = ["FaultyTransport", "FAULT_KINDS", "faulty_byte", "apply_faults"]

FAULT_KINDS = ("drop", "flip", "duplicate", "insert")


def faulty_byte(kind: str, b: int, value: int) -> bytes:
    """What the byte ``b`` becomes under a fault: ``drop`` nothing; ``flip`` b XOR value
    (value 1..255); ``duplicate`` b twice; ``insert`` the byte ``value``, then b."""
    if kind == "drop":
        return b""
    if kind == "flip":
        if not 1 <= value <= 255:
            raise ValueError(f"a flip mask is 1..255, not {value}")
        return bytes([b ^ value])
    if kind == "duplicate":
        return bytes([b, b])
    if kind == "insert":
        return bytes([value & 0xFF, b])
    raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")


def apply_faults(data: bytes, faults) -> bytes:
    """``data`` with faults ``[(position, kind, value), ...]`` applied to the bytes at those
    positions of the original (at most one fault per position; later ones win)."""
    at = {pos: (kind, value) for pos, kind, value in faults}
    out = bytearray()
    for i, b in enumerate(bytes(data)):
        if i in at:
            kind, value = at[i]
            out += faulty_byte(kind, b, value)
        else:
            out.append(b)
    return bytes(out)


class FaultyTransport(Transport):
    """Wraps ``inner``; every byte in either direction meets a fault with probability
    ``rate`` (kind chosen uniformly from :data:`FAULT_KINDS`; ``insert`` adds a random byte
    before it, ``flip`` XORs it with a random non-zero mask). ``seed`` makes the faults
    reproducible. ``counts[direction][kind]``: the faults injected ("to_device",
    "to_host")."""

    def __init__(self, inner: Transport, rate: float, seed: int = 0):
        if not isinstance(inner, Transport):
            raise TypeError(f"inner must be a Transport, not {type(inner).__name__}")
        if not 0 <= rate < 1:
            raise ValueError(f"the fault rate is a probability per byte in [0, 1), got {rate}")
        self.inner, self.rate = inner, float(rate)
        self.where = inner.where
        self.rng = random.Random(seed)
        self.counts = {d: dict.fromkeys(FAULT_KINDS, 0) for d in ("to_device", "to_host")}
        self.bytes = dict(to_device=0, to_host=0)

    def corrupt(self, data: bytes, direction: str) -> bytes:
        out = bytearray()
        self.bytes[direction] += len(data)
        for b in bytes(data):
            if self.rng.random() >= self.rate:
                out.append(b)
                continue
            kind = self.rng.choice(FAULT_KINDS)
            self.counts[direction][kind] += 1
            out += faulty_byte(kind, b, self.rng.randrange(kind == "flip", 256))
        return bytes(out)

    @property
    def total(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def write(self, data):
        self.inner.write(self.corrupt(data, "to_device"))

    def read(self, timeout):
        return self.corrupt(self.inner.read(timeout), "to_host")

    def now(self):
        return self.inner.now()

    def close(self):
        self.inner.close()
