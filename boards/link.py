"""Gateware of the host link's framing (protocol 2): the SLIP receiver and sender around a
length-prefixed, CRC-32C-checked body.

Byte-for-byte the behaviour of :class:`boards.protocol.FrameDecoder` and
:func:`boards.protocol.encode_frame` (the tests feed both the same streams).
"""
from __future__ import annotations

from functools import reduce

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .protocol import (CRC_BYTES, CRC_INIT, CRC_POLY_REFLECTED, CRC_RESIDUE, CRC_XOROUT, END,
                       ESC, ESC_END, ESC_ESC, LENGTH_BYTES, MAX_PAYLOAD)

__all__ = ["crc32c_terms", "crc32c_next", "FrameReceiver", "FrameSender"]


def crc32c_terms() -> list[tuple[frozenset, frozenset]]:
    """The CRC-32C register after one byte as XORs of inputs: for every new register bit, the
    set of old register bits and the set of byte bits it is the XOR of (reflected: the byte
    enters LSB first, the register shifts right)."""
    reg = [(frozenset([i]), frozenset()) for i in range(32)]
    for i in range(8):
        fb = (reg[0][0], reg[0][1] ^ {i})
        reg = reg[1:] + [(frozenset(), frozenset())]
        reg = [(r[0] ^ fb[0], r[1] ^ fb[1]) if CRC_POLY_REFLECTED >> j & 1 else r
               for j, r in enumerate(reg)]
    return reg


_TERMS = crc32c_terms()


def crc32c_next(crc, byte):
    """The CRC-32C register after one more byte, as a combinational expression (one flat XOR
    per bit, from :func:`crc32c_terms`)."""
    bits = []
    for c_set, d_set in _TERMS:
        terms = [crc[i] for i in sorted(c_set)] + [byte[i] for i in sorted(d_set)]
        bits.append(reduce(lambda a, b: a ^ b, terms) if terms else Const(0, 1))
    return Cat(*bits)


class FrameReceiver(wiring.Component):
    """SLIP frame receiver with length and CRC checks, writing the payload into a buffer.

    Parameters: ``max_payload``: the longest payload accepted, in bytes.

    Ports:
    ``data``/``valid`` (in): received bytes, one-cycle strobes, no back-pressure;
    ``hold`` (in): the frame buffer is in use: a frame that ends now is dropped;
    ``wr_addr``/``wr_data``/``wr_en`` (out): writes into the frame buffer (payload at 0, then
    the CRC bytes);
    ``done`` (out): one-cycle strobe, a frame checked; ``length`` (out): its payload length;
    ``frames_ok``, ``frames_dropped`` (out, 32 bits, wrapping): counters.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD):
        if not isinstance(max_payload, int) or isinstance(max_payload, bool) or \
                not 1 <= max_payload < 1 << 16:
            raise ValueError(f"max_payload must be an int in 1..65535, not {max_payload!r}")
        self.max_payload = max_payload
        self.max_frame = LENGTH_BYTES + max_payload + CRC_BYTES
        super().__init__({
            "data": In(8), "valid": In(1), "hold": In(1),
            "wr_addr": Out(range(max_payload + CRC_BYTES)), "wr_data": Out(8), "wr_en": Out(1),
            "done": Out(1), "length": Out(range(max_payload + 1)),
            "frames_ok": Out(32), "frames_dropped": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        count = Signal(range(self.max_frame + 1))    # body bytes received
        crc = Signal(32, init=CRC_INIT)
        length = Signal(8 * LENGTH_BYTES)             # the length field
        esc = Signal()
        bad = Signal()
        started = Signal()
        byte = Signal(8)
        store = Signal()

        m.d.sync += self.done.eq(0)
        room = count != self.max_frame
        m.d.comb += [self.wr_addr.eq(count - LENGTH_BYTES), self.wr_data.eq(byte),
                     self.wr_en.eq(store & room & (count >= LENGTH_BYTES) & ~self.hold)]

        with m.If(self.valid):
            with m.If(self.data == END):
                with m.If(started):
                    ok = (~bad & ~esc & (count >= LENGTH_BYTES + 1 + CRC_BYTES) &
                          (count == length + LENGTH_BYTES + CRC_BYTES) &
                          (crc == CRC_RESIDUE) & ~self.hold)
                    with m.If(ok):
                        m.d.sync += [self.frames_ok.eq(self.frames_ok + 1), self.done.eq(1),
                                     self.length.eq(length)]
                    with m.Else():
                        m.d.sync += self.frames_dropped.eq(self.frames_dropped + 1)
                m.d.sync += [count.eq(0), crc.eq(CRC_INIT), esc.eq(0), bad.eq(0),
                             started.eq(0)]
            with m.Else():
                m.d.sync += started.eq(1)
                with m.If(~bad):
                    with m.If(esc):
                        m.d.sync += esc.eq(0)
                        with m.If(self.data == ESC_END):
                            m.d.comb += [byte.eq(END), store.eq(1)]
                        with m.Elif(self.data == ESC_ESC):
                            m.d.comb += [byte.eq(ESC), store.eq(1)]
                        with m.Else():
                            m.d.sync += bad.eq(1)
                    with m.Elif(self.data == ESC):
                        m.d.sync += esc.eq(1)
                    with m.Else():
                        m.d.comb += [byte.eq(self.data), store.eq(1)]
                with m.If(store):
                    with m.If(~room):
                        m.d.sync += bad.eq(1)
                    with m.Else():
                        m.d.sync += [count.eq(count + 1), crc.eq(crc32c_next(crc, byte))]
                        for i in range(LENGTH_BYTES):
                            with m.If(count == i):
                                m.d.sync += length[8 * i:8 * i + 8].eq(byte)
        return m


class FrameSender(wiring.Component):
    """SLIP frame sender: END, the escaped length (u16 LE), payload and CRC-32C (u32 LE), END.

    Ports:
    ``length`` (in): the payload's length, 1..MAX_PAYLOAD, held from the first byte offered
    until the frame is taken;
    ``data``/``valid``/``ready``: the payload bytes;
    ``tx_data``/``tx_valid``/``tx_ready``: the escaped bytes towards the UART transmitter.
    """

    def __init__(self):
        super().__init__({
            "length": In(8 * LENGTH_BYTES), "data": In(8), "valid": In(1), "ready": Out(1),
            "tx_data": Out(8), "tx_valid": Out(1), "tx_ready": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        crc = Signal(32, init=CRC_INIT)
        cur = Signal(8)            # the byte being sent
        length = Signal(8 * LENGTH_BYTES)
        n = Signal(8 * LENGTH_BYTES)   # bytes of the current part sent
        HEADER, PAYLOAD, CHECK = range(3)
        part = Signal(2)
        special = (cur == END) | (cur == ESC)
        # a body byte loaded into ``cur`` is folded into the CRC the clock after (one CRC
        # network for the length and payload bytes, not one per place that loads ``cur``)
        pending = Signal()
        with m.If(pending):
            m.d.sync += [crc.eq(crc32c_next(crc, cur)), pending.eq(0)]

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.valid):
                    m.d.sync += length.eq(self.length)
                    m.next = "START"
            with m.State("START"):
                with m.If(self.tx_ready):
                    first = length[:8]
                    m.d.sync += [cur.eq(first), crc.eq(CRC_INIT), pending.eq(1),
                                 part.eq(HEADER), n.eq(1)]
                    m.next = "BYTE"
            with m.State("TAKE"):
                with m.If(self.valid):
                    m.d.sync += [cur.eq(self.data), pending.eq(1), n.eq(n + 1)]
                    m.next = "BYTE"
            with m.State("BYTE"):
                with m.If(self.tx_ready):
                    with m.If(special):
                        m.next = "ESCAPED"
                    with m.Else():
                        m.next = "NEXT"
            with m.State("ESCAPED"):
                with m.If(self.tx_ready):
                    m.next = "NEXT"
            with m.State("NEXT"):
                with m.Switch(part):
                    with m.Case(HEADER):
                        with m.If(n == LENGTH_BYTES):
                            m.d.sync += [part.eq(PAYLOAD), n.eq(0)]
                            m.next = "TAKE"
                        with m.Else():
                            nxt = length.word_select(n[:1], 8)
                            m.d.sync += [cur.eq(nxt), pending.eq(1), n.eq(n + 1)]
                            m.next = "BYTE"
                    with m.Case(PAYLOAD):
                        with m.If(n == length):
                            # the check value, LSB first; `crc` then shifts out its bytes
                            check = crc ^ CRC_XOROUT
                            m.d.sync += [cur.eq(check[:8]), crc.eq(check >> 8),
                                         part.eq(CHECK), n.eq(1)]
                            m.next = "BYTE"
                        with m.Else():
                            m.next = "TAKE"
                    with m.Case(CHECK):
                        with m.If(n == CRC_BYTES):
                            m.next = "STOP"
                        with m.Else():
                            m.d.sync += [cur.eq(crc[:8]), crc.eq(crc >> 8), n.eq(n + 1)]
                            m.next = "BYTE"
            with m.State("STOP"):
                with m.If(self.tx_ready):
                    m.next = "IDLE"
        # the outputs as continuous assignments of the state (event-driven simulators see
        # them from time 0)
        edge = fsm.ongoing("START") | fsm.ongoing("STOP")
        in_byte = fsm.ongoing("BYTE")
        escaped = fsm.ongoing("ESCAPED")
        m.d.comb += [
            self.ready.eq(fsm.ongoing("TAKE")),
            self.tx_valid.eq(edge | in_byte | escaped),
            self.tx_data.eq(Mux(edge, END,
                                Mux(in_byte, Mux(special, ESC, cur),
                                    Mux(cur == ESC, ESC_ESC, ESC_END)))),
        ]
        return m
