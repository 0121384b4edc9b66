"""Framing gateware against the Python reference (boards.protocol), byte for byte: the same
streams (good, random, and with faults of every kind) into both, the same frames and counts
out."""
import random

from amaranth.sim import Simulator
from hypothesis import given, settings
from hypothesis import strategies as st

from wuxing.boards.faults import FAULT_KINDS, apply_faults
from wuxing.boards.link import FrameReceiver, FrameSender, crc32c_terms
from wuxing.boards.protocol import (CRC_POLY_REFLECTED, END, MAX_PAYLOAD, FrameDecoder,
                                    crc_register, encode_frame)


def test_crc_terms_equal_the_reference_register():
    """The gateware's XOR terms of one CRC-32C byte step against the table-driven reference,
    for random registers and every byte value."""
    terms = crc32c_terms()
    rng = random.Random(2)
    for byte in range(256):
        reg = rng.getrandbits(32)
        got = 0
        for j, (c_set, d_set) in enumerate(terms):
            bit = sum((reg >> i) & 1 for i in c_set) + sum((byte >> i) & 1 for i in d_set)
            got |= (bit & 1) << j
        assert got == crc_register(bytes([byte]), reg)
    assert CRC_POLY_REFLECTED == 0x82F63B78


def run_receiver(stream, max_payload=34):
    """Feed ``stream`` (one byte every other cycle) into a FrameReceiver; returns the
    payloads it reported and its counters."""
    dut = FrameReceiver(max_payload)
    buf, frames, counters = {}, [], {}

    async def bench(ctx):
        for b in stream:
            ctx.set(dut.data, b)
            ctx.set(dut.valid, 1)
            await ctx.tick()
            ctx.set(dut.valid, 0)
            await ctx.tick()
        await ctx.tick().repeat(2)
        counters["ok"] = ctx.get(dut.frames_ok)
        counters["dropped"] = ctx.get(dut.frames_dropped)

    async def watch(ctx):
        async for _, _, we, a, d, done, n in ctx.tick().sample(
                dut.wr_en, dut.wr_addr, dut.wr_data, dut.done, dut.length):
            if we:
                buf[a] = d
            if done:
                frames.append(bytes(buf[i] for i in range(n)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_process(watch)
    sim.run()
    return frames, counters


def reference(stream, max_payload=34):
    dec = FrameDecoder(max_payload)
    out = dec.feed(stream)
    return out, {"ok": dec.frames_ok, "dropped": dec.frames_dropped}


def test_receiver_matches_reference_on_corrupted_streams():
    rng = random.Random(7)
    stream = bytearray()
    for i in range(12):
        msg = bytes(rng.choice([0xC0, 0xDB, 0xDC, 0xDD, rng.randrange(256)])
                    for _ in range(rng.randrange(1, 30)))
        f = bytearray(encode_frame(msg))
        if i % 3 == 1:
            f[rng.randrange(1, len(f) - 1)] ^= 0x10
        if i % 4 == 2:
            f[1:1] = bytes(rng.randrange(256) for _ in range(5))
        stream += f
    stream += bytes([END]) + bytes(50) + bytes([END])      # an overlong frame
    stream += bytes([END]) + encode_frame(bytes(35))[1:]   # a payload one byte too long
    stream += encode_frame(b"ok")
    got, cnt = run_receiver(bytes(stream))
    want, want_cnt = reference(bytes(stream))
    assert got == want and cnt == want_cnt
    assert len(want) >= 5 and want_cnt["dropped"] >= 4


@settings(max_examples=15, deadline=None)
@given(st.binary(max_size=120))
def test_receiver_matches_reference_on_random_bytes(stream):
    stream = stream + encode_frame(b"\x01\x02")
    assert run_receiver(stream) == reference(stream)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=34), min_size=1, max_size=4), st.data())
def test_receiver_matches_reference_on_faulty_frames(msgs, data):
    """Frames with bytes dropped, flipped, duplicated or inserted (also on the ENDs): the
    gateware accepts and counts exactly what the reference does, and neither accepts a
    changed payload."""
    stream = b"".join(encode_frame(m) for m in msgs)
    faults = []
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(FAULT_KINDS))
        faults.append((data.draw(st.integers(0, len(stream) - 1)), kind,
                       data.draw(st.integers(1 if kind == "flip" else 0, 255))))
    bad = apply_faults(stream, faults) + encode_frame(b"\x05")
    got, cnt = run_receiver(bad)
    want, want_cnt = reference(bad)
    assert (got, cnt) == (want, want_cnt)
    assert all(p in msgs or p == b"\x05" for p in got)


def run_sender(payloads, stall_every=3):
    dut = FrameSender()
    out = []

    async def feed(ctx):
        for p in payloads:
            ctx.set(dut.length, len(p))
            for b in p:
                ctx.set(dut.data, b)
                ctx.set(dut.valid, 1)
                await ctx.tick().until(dut.ready)
            ctx.set(dut.valid, 0)
            await ctx.tick().repeat(4)
        await ctx.tick().repeat(60)

    async def sink(ctx):
        n = 0
        async for _, _, v, d, r in ctx.tick().sample(dut.tx_valid, dut.tx_data, dut.tx_ready):
            if v and r:                      # a byte was taken at this clock edge
                out.append(d)
            n += 1
            ctx.set(dut.tx_ready, n % stall_every != 0)   # the UART is not always ready

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(feed)
    sim.add_process(sink)
    sim.run()
    return bytes(out)


def test_sender_matches_encode_frame():
    rng = random.Random(3)
    payloads = [bytes([0xC0]), bytes([0xDB, 0xC0, 0x00]), bytes(range(256)) + bytes(6),
                bytes(rng.randrange(256) for _ in range(33)), bytes([0xDB] * 5)]
    assert len(payloads[2]) == MAX_PAYLOAD
    got = run_sender(payloads)
    assert got == b"".join(encode_frame(p) for p in payloads)
