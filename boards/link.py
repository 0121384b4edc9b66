"""Gateware of the host link's framing: the SLIP + CRC-16 receiver and sender.

Byte-for-byte the behaviour of :class:`boards.protocol.FrameDecoder` and
:func:`boards.protocol.encode_frame` (the tests feed both the same streams).
"""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .protocol import END, ESC, ESC_END, ESC_ESC, MAX_FRAME

__all__ = ["crc16_next", "FrameReceiver", "FrameSender"]


def crc16_next(crc, byte):
    """CRC-16/CCITT-FALSE after one more byte, as a combinational expression (MSB first)."""
    c = [crc[i] for i in range(16)]
    for i in range(7, -1, -1):
        fb = c[15] ^ byte[i]
        n = [fb] + c[:15]            # shift left, feedback into bit 0
        n[5] = c[4] ^ fb
        n[12] = c[11] ^ fb
        c = n
    return Cat(*c)


class FrameReceiver(wiring.Component):
    """SLIP frame receiver with CRC check, writing the frame into a buffer.

    Parameters: ``max_frame``: longest frame (payload + CRC) accepted, in bytes.

    Ports:
    ``data``/``valid`` (in): received bytes, one-cycle strobes, no back-pressure;
    ``hold`` (in): the frame buffer is in use: a frame that ends now is dropped;
    ``wr_addr``/``wr_data``/``wr_en`` (out): writes into the frame buffer;
    ``done`` (out): one-cycle strobe, a frame checked; ``length`` (out): its payload length;
    ``frames_ok``, ``frames_dropped`` (out, 16 bits, wrapping): counters.
    """

    def __init__(self, max_frame: int = MAX_FRAME):
        if not isinstance(max_frame, int) or max_frame < 3:
            raise ValueError(f"max_frame must be an int >= 3, not {max_frame!r}")
        self.max_frame = max_frame
        addr = range(max_frame + 1)
        super().__init__({
            "data": In(8), "valid": In(1), "hold": In(1),
            "wr_addr": Out(addr), "wr_data": Out(8), "wr_en": Out(1),
            "done": Out(1), "length": Out(addr),
            "frames_ok": Out(16), "frames_dropped": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        count = Signal(range(self.max_frame + 1))
        crc = Signal(16, init=0xFFFF)
        esc = Signal()
        bad = Signal()
        started = Signal()
        byte = Signal(8)
        store = Signal()

        m.d.sync += self.done.eq(0)
        room = count != self.max_frame
        m.d.comb += [self.wr_addr.eq(count), self.wr_data.eq(byte),
                     self.wr_en.eq(store & room & ~self.hold)]

        with m.If(self.valid):
            with m.If(self.data == END):
                with m.If(started):
                    ok = ~bad & ~esc & (count >= 3) & (crc == 0) & ~self.hold
                    with m.If(ok):
                        m.d.sync += [self.frames_ok.eq(self.frames_ok + 1), self.done.eq(1),
                                     self.length.eq(count - 2)]
                    with m.Else():
                        m.d.sync += self.frames_dropped.eq(self.frames_dropped + 1)
                m.d.sync += [count.eq(0), crc.eq(0xFFFF), esc.eq(0), bad.eq(0),
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
                        m.d.sync += [count.eq(count + 1), crc.eq(crc16_next(crc, byte))]
        return m


class FrameSender(wiring.Component):
    """SLIP frame sender: END, the escaped payload, the escaped CRC (big-endian), END.

    Ports:
    ``data``/``valid``/``last``/``ready``: the payload bytes (``last`` on the final one);
    ``tx_data``/``tx_valid``/``tx_ready``: the escaped bytes towards the UART transmitter.
    """

    def __init__(self):
        super().__init__({
            "data": In(8), "valid": In(1), "last": In(1), "ready": Out(1),
            "tx_data": Out(8), "tx_valid": Out(1), "tx_ready": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        crc = Signal(16, init=0xFFFF)
        cur = Signal(8)       # the byte being sent (payload or CRC half)
        cur_last = Signal()   # the frame ends after `cur` (the CRC low byte)
        crc_hi = Signal()     # `cur` is the CRC high byte
        is_crc = Signal()
        special = (cur == END) | (cur == ESC)

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.valid):
                    m.next = "START"
            with m.State("START"):
                with m.If(self.tx_ready):
                    m.d.sync += crc.eq(0xFFFF)
                    m.next = "TAKE"
            with m.State("TAKE"):
                with m.If(self.valid):
                    m.d.sync += [cur.eq(self.data), crc.eq(crc16_next(crc, self.data)),
                                 is_crc.eq(0), cur_last.eq(0), crc_hi.eq(self.last)]
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
                with m.If(cur_last):
                    m.next = "STOP"
                with m.Elif(crc_hi):
                    # the payload is done: send the CRC high byte, then the low byte
                    m.d.sync += [cur.eq(crc[8:]), crc_hi.eq(0), is_crc.eq(1)]
                    m.next = "BYTE"
                with m.Elif(is_crc):
                    m.d.sync += [cur.eq(crc[:8]), cur_last.eq(1)]
                    m.next = "BYTE"
                with m.Else():
                    m.next = "TAKE"
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
