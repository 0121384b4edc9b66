"""The host link's framing and messages (protocol 2): round trips, and the decoder against
random and corrupted byte streams (hypothesis, bounded in examples and time).

The property that matters: no frame with inserted, dropped, duplicated or flipped bytes is
ever accepted with a changed payload, so a corrupted request can never become a write.
"""
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wuxing.boards.faults import FAULT_KINDS, apply_faults
from wuxing.boards.protocol import (CRC_RESIDUE, END, ESC, MAX_CHUNK, MAX_FRAME, MAX_PAYLOAD,
                                    PROTOCOL_VERSION, Cmd, DeviceInfo, FrameDecoder,
                                    ProtocolError, Request, Response, crc32c, crc_register,
                                    encode_frame, pack_values, unpack_values)

BOUNDED = settings(max_examples=300, deadline=2000,
                   suppress_health_check=[HealthCheck.too_slow])
payloads = st.binary(min_size=1, max_size=MAX_PAYLOAD)


def faults_for(frame: bytes, data, max_faults: int):
    """A hypothesis draw of 1..max_faults faults at positions strictly inside the frame."""
    n = data.draw(st.integers(1, max_faults))
    out = []
    for _ in range(n):
        kind = data.draw(st.sampled_from(FAULT_KINDS))
        pos = data.draw(st.integers(1, len(frame) - 2))
        value = data.draw(st.integers(1 if kind == "flip" else 0, 255))
        out.append((pos, kind, value))
    return out


def test_crc_check_value_and_residue():
    assert crc32c(b"123456789") == 0xE3069283          # the published CRC-32C check value
    assert crc32c(b"") == 0
    # the receiver's test: the register after a body that checks is one constant
    for body in (b"\x01", b"\x01\x02\xc0\xdb", bytes(range(200))):
        assert crc_register(body + crc32c(body).to_bytes(4, "little")) == CRC_RESIDUE
    assert CRC_RESIDUE != 0


def test_frame_bytes_exactly():
    """The wire format of protocol 2, byte for byte."""
    assert PROTOCOL_VERSION == 2
    payload = bytes([Cmd.STATUS, 0x07])
    body = b"\x02\x00" + payload
    want = bytes([END]) + body + struct.pack("<I", crc32c(body)) + bytes([END])
    assert encode_frame(payload) == want
    frame = encode_frame(bytes([END, ESC, 0x41]))
    assert frame[0] == END and frame[-1] == END
    assert END not in frame[1:-1]
    assert frame[3:7] == bytes([ESC, 0xDC, ESC, 0xDD])


def test_payload_length_limits():
    with pytest.raises(ValueError):
        encode_frame(b"")
    with pytest.raises(ValueError):
        encode_frame(bytes(MAX_PAYLOAD + 1))
    assert FrameDecoder().feed(encode_frame(bytes(MAX_PAYLOAD))) == [bytes(MAX_PAYLOAD)]
    # the longest request: WRITE_COEF with a 32-bit start and MAX_CHUNK values
    req = Request(Cmd.WRITE_COEF, 1, (2**20 - 64).to_bytes(4, "little") +
                  pack_values(range(MAX_CHUNK)))
    assert len(req.payload()) == MAX_PAYLOAD


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
    assert all(1 <= len(p) <= MAX_PAYLOAD for p in out)
    assert dec.feed(encode_frame(msg)) == [msg]


@BOUNDED
@given(payloads, st.data())
def test_one_fault_never_yields_a_wrong_payload(msg, data):
    """One byte of a frame dropped, flipped, duplicated or inserted: the decoder gives the
    original payload or nothing; and it is dropped unless the fault left the body intact (an
    END doubled or dropped next to the frame's own)."""
    frame = encode_frame(msg)
    bad = apply_faults(frame, faults_for(frame, data, 1))
    dec = FrameDecoder()
    out = dec.feed(bad)
    assert all(p == msg for p in out)
    assert dec.feed(encode_frame(b"next")) == [b"next"]      # the link resynchronises


@BOUNDED
@given(payloads, st.data())
def test_many_faults_never_yield_a_wrong_payload(msg, data):
    frame = encode_frame(msg)
    bad = apply_faults(frame, faults_for(frame, data, 8))
    out = FrameDecoder().feed(bad)
    assert all(p == msg for p in out)


@BOUNDED
@given(st.lists(payloads, min_size=2, max_size=5), st.data())
def test_faulty_stream_yields_a_subsequence(msgs, data):
    """A stream of frames with faults anywhere (also on the ENDs between frames): what comes
    out is some of the frames sent, unchanged and in order; nothing else."""
    stream = b"".join(encode_frame(m) for m in msgs)
    bad = apply_faults(stream, faults_for(stream, data, 10))
    out = FrameDecoder().feed(bad + bytes([END]))
    it = iter(msgs)
    assert all(any(p == m for m in it) for p in out), (out, msgs)


def test_zero_bytes_before_end_are_refused():
    """Protocol 1's hole: zero bytes inserted before END passed its CRC-16 in 2,000 of 2,000
    frames. Here every count of zeros, anywhere in the frame, is refused."""
    rng = random.Random(5)
    dec = FrameDecoder()
    tried = 0
    for _ in range(500):
        msg = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
        frame = encode_frame(msg)
        for zeros in (1, 2, 4, 8):
            for pos in (len(frame) - 1, 1, rng.randrange(1, len(frame) - 1)):
                bad = frame[:pos] + bytes(zeros) + frame[pos:]
                assert dec.feed(bad) == []
                tried += 1
    assert dec.frames_dropped == tried == 6000
    # the case: a 2-value coefficient write plus four zero bytes is not a 3-value one
    write = Request(Cmd.WRITE_COEF, 9, (0).to_bytes(4, "little") + pack_values([5, 6]))
    frame = encode_frame(write.payload())
    assert FrameDecoder().feed(frame[:-1] + bytes(4) + frame[-1:]) == []


@settings(max_examples=300, deadline=2000)
@given(st.binary(min_size=0, max_size=MAX_FRAME + 4))
def test_explicit_check_equals_the_residue_check(body):
    """The reference compares the CRC field with the CRC it computes; the gateware tests the
    register against CRC_RESIDUE. Over any body the two verdicts agree."""
    dec = FrameDecoder()
    dec._buf = bytearray(body)
    explicit = dec._check() is not None
    length = int.from_bytes(body[:2], "little")
    residue = (len(body) >= 7 and len(body) == length + 6 and len(body) <= MAX_FRAME and
               crc_register(body) == CRC_RESIDUE)
    assert explicit == residue


def test_seeded_corruption_rate():
    """Many corrupted frames (one or two faults of any kind): none decodes to a wrong
    payload; all but the few whose fault left the body intact are dropped."""
    rng = random.Random(1)
    dec = FrameDecoder()
    wrong = passed = 0
    for _ in range(3000):
        msg = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        f = encode_frame(msg)
        faults = [(rng.randrange(1, len(f) - 1), rng.choice(FAULT_KINDS), rng.randrange(1, 256))
                  for _ in range(rng.randrange(1, 3))]
        out = dec.feed(apply_faults(f, faults))
        wrong += sum(p != msg for p in out)
        passed += len(out)
    assert wrong == 0
    assert passed == 0 and dec.frames_dropped >= 3000


@BOUNDED
@given(st.binary(min_size=0, max_size=2000))
def test_random_streams_are_bounded_and_counted(stream):
    dec = FrameDecoder()
    out = dec.feed(stream + bytes([END]))
    for p in out:
        assert 1 <= len(p) <= MAX_PAYLOAD
    assert dec.frames_ok == len(out)
    assert dec.frames_ok + dec.frames_dropped <= stream.count(END) + 1


def test_overlong_short_and_bad_escape_are_dropped():
    dec = FrameDecoder()
    assert dec.feed(bytes([END]) + bytes(MAX_FRAME + 1) + bytes([END])) == []
    assert dec.feed(bytes([END, ESC, 0x00, 0x01, 0x02, END])) == []
    assert dec.feed(bytes([END, END, END])) == []         # empty frames are not counted
    body = b"\x00\x00"                                     # a length-0 body with its CRC
    assert dec.feed(bytes([END]) + body + crc32c(body).to_bytes(4, "little") +
                    bytes([END])) == []
    assert dec.frames_dropped == 3


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=40))
@settings(max_examples=100, deadline=1000)
def test_messages_round_trip(cmd, seq, args):
    cmd &= 0x7F
    assert Request.parse(Request(cmd, seq, args).payload()) == Request(cmd, seq, args)
    r = Response(cmd, seq, 3, args)
    assert Response.parse(r.payload()) == r


def _info(topology, cfg=None):
    from wuxing.golden.atan_table import DEFAULT_TABLE
    from wuxing.golden.config import RunConfig
    from wuxing.golden.fixedpoint import DEFAULT_FORMAT
    from wuxing.golden.neuron import MODEL1_NEURON
    return DeviceInfo.for_design(topology, cfg or RunConfig(), MODEL1_NEURON, DEFAULT_FORMAT,
                                 DEFAULT_TABLE)


def test_values_and_info():
    vals = [0, 1, -1, 2**31 - 1, -2**31]
    assert unpack_values(pack_values(vals)) == vals
    with pytest.raises(ValueError):
        pack_values([2**31])
    with pytest.raises(ProtocolError):
        unpack_values(b"\x00\x01\x02")
    with pytest.raises(ProtocolError):
        Response.parse(b"\x01\x00\x00")
    from wuxing.golden.config import RunConfig
    from wuxing.golden.topology import preset
    t = preset("tiny")
    info = _info(t)
    assert DeviceInfo.unpack(info.pack()) == info
    assert len(info.pack()) == DeviceInfo.SIZE == 44
    assert info.n_links == t.n_links and info.topology_hash.hex() == t.hardware_digest()[:16]
    assert _info(t, RunConfig(steps=40)).design_hash != info.design_hash
    with pytest.raises(ProtocolError, match="not a Wuxing board"):
        DeviceInfo.unpack(b"XX" + info.pack()[2:])
    with pytest.raises(ProtocolError, match="speaks Wuxing protocol 1"):
        DeviceInfo.unpack(b"WX\x01" + info.pack()[3:])
    with pytest.raises(ProtocolError, match="has 20 bytes"):
        DeviceInfo.unpack(info.pack()[:20])


def test_info_holds_the_largest_networks():
    """MODEL1 in its fan-in-4 form (2,044 neurons, 18,844 links): every count survives the
    IDENTIFY fields (protocol 1's u16 fields would not have held 5 x 2,044 integrals' worth
    of indices, nor the links of larger fan-ins)."""
    from wuxing.golden.topology import preset
    from wuxing.hdl.network import INDEX_BITS
    t = preset("model1", fan_in=4)
    info = DeviceInfo.unpack(_info(t).pack())
    assert (info.n_neurons, info.n_links, info.n_inputs, info.n_outputs) == (2044, 18844,
                                                                             784, 10)
    assert info.index_bits == INDEX_BITS
    big = preset("model1", fan_in=16)
    assert big.n_links > 65535
    assert DeviceInfo.unpack(_info(big).pack()).n_links == big.n_links


def test_design_hash_covers_what_the_hardware_is():
    """Host-only settings (the initial C range, the topology's name) keep the hash;
    everything the gateware is built from changes it (since on-chip learning, issue #10, the
    target, the error and input scales and how outputs are read too)."""
    from dataclasses import replace

    from wuxing.boards.protocol import design_hash
    from wuxing.golden.atan_table import DEFAULT_TABLE
    from wuxing.golden.config import HOST_ONLY_FIELDS, RunConfig
    from wuxing.golden.fixedpoint import DEFAULT_FORMAT
    from wuxing.golden.neuron import MODEL1_NEURON
    from wuxing.golden.topology import Topology
    t, cfg = Topology(layers=(3, 3, 2), seed=1), RunConfig()

    def h(topology=t, cfg=cfg, neuron=MODEL1_NEURON, fmt=DEFAULT_FORMAT, table=DEFAULT_TABLE):
        return design_hash(topology, cfg, neuron, fmt, table)

    base = h()
    host_only = dict(c_init_lo=0.25, c_init_hi=0.5, c_init_sign="positive")
    assert set(host_only) == HOST_ONLY_FIELDS
    for k, v in host_only.items():
        assert h(cfg=cfg.replace(**{k: v})) == base, k
    assert h(topology=Topology(layers=(3, 3, 2), seed=1, name="renamed")) == base
    hardware = dict(steps=40, h_shift=3, state_lo=-4.0, state_hi=6.0, c_min=-2.0, c_max=2.0,
                    kt=4.0, step=2.0 ** -6, target=0.1, err_scale=4.0, input_scale=2.0,
                    output_mean=False)
    for k, v in hardware.items():
        assert h(cfg=cfg.replace(**{k: v})) != base, k
    # a setting not named host-only (also one added later) is part of the hardware's hash
    assert set(cfg.hardware_dict()) == set(cfg.as_dict()) - HOST_ONLY_FIELDS
    assert h(topology=Topology(layers=(3, 3, 2), seed=2)) != base          # other links
    assert h(neuron=replace(MODEL1_NEURON, k2=(0.25,) * 5)) != base
    assert h(fmt=replace(DEFAULT_FORMAT, coef_extra=4)) != base
    assert h(table=replace(DEFAULT_TABLE, seg_log2=DEFAULT_TABLE.seg_log2 - 1)) != base


# -- learning on the chip: one sample in one frame ------------------------------------------
def test_sample_frame_carries_a_whole_mnist_sample():
    """TRAIN_SAMPLE / EVAL_SAMPLE: label u16 LE, then one byte per pixel; a device with 784
    inputs takes 788-byte payloads (the frame buffer of its bridge), others MAX_PAYLOAD."""
    from wuxing.boards.protocol import SAMPLE_FORMAT, SAMPLE_HEAD, max_payload_for, sample_args
    assert max_payload_for(16) == MAX_PAYLOAD
    assert max_payload_for(784) == SAMPLE_HEAD + 784 == 788
    pixels = bytes(random.Random(1).randrange(256) for _ in range(784))
    args = sample_args(7, pixels)
    assert args[:2] == b"\x07\x00" and args[2:] == pixels
    payload = Request(Cmd.TRAIN_SAMPLE, 3, args).payload()
    with pytest.raises(ValueError):
        encode_frame(payload)                       # longer than a small device's limit
    frame = encode_frame(payload, max_payload_for(784))
    dec = FrameDecoder(max_payload_for(784))
    assert dec.feed(frame) == [payload] and dec.frames_dropped == 0
    small = FrameDecoder()                           # a device without 784 inputs drops it
    assert small.feed(frame) == [] and small.frames_dropped == 1
    req = Request.parse(payload)
    assert (req.cmd, req.seq, int.from_bytes(req.args[:2], "little")) == (Cmd.TRAIN_SAMPLE, 3, 7)
    assert SAMPLE_FORMAT.unpack(b"\x08\x09\x00") == (8, 9)
    for bad in ((-1, b"\x00"), (1 << 16, b"\x00"), (0, [256]), (0, [-1])):
        with pytest.raises(ValueError):
            sample_args(*bad)
    with pytest.raises(ValueError):
        max_payload_for(0)
