"""The host link's framing and messages: round trips, and the decoder against random and
corrupted byte streams (hypothesis, bounded in examples and time)."""
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wuxing.boards.protocol import (END, ESC, MAX_FRAME, MAX_PAYLOAD, DeviceInfo, FrameDecoder,
                             ProtocolError, Request, Response, crc16, encode_frame,
                             pack_values, unpack_values)

BOUNDED = settings(max_examples=200, deadline=2000,
                   suppress_health_check=[HealthCheck.too_slow])
payloads = st.binary(min_size=1, max_size=MAX_PAYLOAD)


def test_crc_check_value_and_residue():
    assert crc16(b"123456789") == 0x29B1          # the published CRC-16/CCITT-FALSE check
    data = b"\x01\x02\xc0\xdb"
    assert crc16(data + crc16(data).to_bytes(2, "big")) == 0


def test_escaping_of_special_bytes():
    frame = encode_frame(bytes([END, ESC, 0x41]))
    assert frame[0] == END and frame[-1] == END
    assert END not in frame[1:-1]
    assert frame[1:5] == bytes([ESC, 0xDC, ESC, 0xDD])


def test_payload_length_limits():
    with pytest.raises(ValueError):
        encode_frame(b"")
    with pytest.raises(ValueError):
        encode_frame(bytes(MAX_PAYLOAD + 1))
    assert FrameDecoder().feed(encode_frame(bytes(MAX_PAYLOAD))) == [bytes(MAX_PAYLOAD)]


@BOUNDED
@given(st.lists(payloads, min_size=1, max_size=6), st.integers(1, 40))
def test_round_trip_any_chunking(msgs, chunk):
    stream = b"".join(encode_frame(m) for m in msgs)
    dec = FrameDecoder()
    got = []
    for i in range(0, len(stream), chunk):
        got += dec.feed(stream[i:i + chunk])
    assert got == msgs
    assert dec.frames_ok == len(msgs) and dec.frames_dropped == 0


@BOUNDED
@given(st.binary(max_size=600), payloads)
def test_garbage_then_resync(garbage, msg):
    """Whatever came before, the first good frame after an END comes through intact."""
    dec = FrameDecoder()
    out = dec.feed(garbage)
    assert all(len(p) <= MAX_FRAME - 2 for p in out)
    assert dec.feed(encode_frame(msg)) == [msg]


@BOUNDED
@given(payloads, st.data())
def test_corrupted_frame_never_yields_a_wrong_payload(msg, data):
    """Flip, drop or insert bytes of a frame: the decoder gives the original or nothing
    (a CRC-16 misses a random corruption with probability 2**-16: the seeds are fixed)."""
    frame = bytearray(encode_frame(msg))
    kind = data.draw(st.sampled_from(["flip", "drop", "insert"]))
    pos = data.draw(st.integers(1, len(frame) - 2))
    if kind == "flip":
        frame[pos] ^= data.draw(st.integers(1, 255))
    elif kind == "drop":
        del frame[pos]
    else:
        frame.insert(pos, data.draw(st.integers(0, 255)))
    dec = FrameDecoder()
    out = dec.feed(bytes(frame))
    assert all(p == msg for p in out)
    # the link resynchronises: the next frame arrives
    assert dec.feed(encode_frame(b"next")) == [b"next"]


@BOUNDED
@given(st.binary(min_size=0, max_size=2000))
def test_random_streams_are_bounded_and_counted(stream):
    dec = FrameDecoder()
    out = dec.feed(stream + bytes([END]))
    for p in out:
        assert 1 <= len(p) <= MAX_FRAME - 2
    assert dec.frames_ok == len(out)
    assert dec.frames_ok + dec.frames_dropped <= stream.count(END) + 1


def test_overlong_and_bad_escape_are_dropped():
    dec = FrameDecoder()
    body = bytes(MAX_FRAME + 1)
    assert dec.feed(bytes([END]) + body + bytes([END])) == []
    assert dec.feed(bytes([END, ESC, 0x00, 0x01, 0x02, END])) == []
    assert dec.feed(bytes([END, END, END])) == []         # empty frames are not counted
    assert dec.frames_dropped == 2


def test_seeded_corruption_rate():
    """Many corrupted frames: none decodes to a wrong payload; most are dropped."""
    rng = random.Random(1)
    dec = FrameDecoder()
    wrong = 0
    for _ in range(2000):
        msg = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        f = bytearray(encode_frame(msg))
        f[rng.randrange(1, len(f) - 1)] ^= 1 << rng.randrange(8)
        wrong += sum(p != msg for p in dec.feed(bytes(f)))
    assert wrong == 0
    assert dec.frames_dropped >= 1990


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=40))
@settings(max_examples=100, deadline=1000)
def test_messages_round_trip(cmd, seq, args):
    cmd &= 0x7F
    assert Request.parse(Request(cmd, seq, args).payload()) == Request(cmd, seq, args)
    r = Response(cmd, seq, 3, args)
    assert Response.parse(r.payload()) == r


def test_values_and_info():
    vals = [0, 1, -1, 2**31 - 1, -2**31]
    assert unpack_values(pack_values(vals)) == vals
    with pytest.raises(ValueError):
        pack_values([2**31])
    with pytest.raises(ProtocolError):
        unpack_values(b"\x00\x01\x02")
    with pytest.raises(ProtocolError):
        Response.parse(b"\x01\x00\x00")
    from wuxing.golden.atan_table import DEFAULT_TABLE
    from wuxing.golden.config import RunConfig
    from wuxing.golden.fixedpoint import DEFAULT_FORMAT
    from wuxing.golden.neuron import MODEL1_NEURON
    from wuxing.golden.topology import preset
    t = preset("tiny")
    info = DeviceInfo.for_design(t, RunConfig(), MODEL1_NEURON, DEFAULT_FORMAT, DEFAULT_TABLE)
    assert DeviceInfo.unpack(info.pack()) == info
    assert info.n_links == t.n_links and info.topology_hash.hex() == t.digest()[:16]
    other = DeviceInfo.for_design(t, RunConfig(steps=40), MODEL1_NEURON, DEFAULT_FORMAT,
                                  DEFAULT_TABLE)
    assert other.design_hash != info.design_hash
    with pytest.raises(ProtocolError):
        DeviceInfo.unpack(b"XX" + info.pack()[2:])
