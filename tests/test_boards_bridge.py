"""The HostBridge gateware in Amaranth's simulator (boards.pysim): complete command frames
with a bad CRC, a wrong length or zero bytes are dropped and counted and write nothing; the
real driver runs a training session through a link that drops, flips, duplicates and
inserts bytes in both directions and ends with the golden model's coefficients."""
import numpy as np
import pytest

from wuxing.boards.driver import BoardDriver
from wuxing.boards.faults import FaultyTransport
from wuxing.boards.flow import golden_session, host_session
from wuxing.boards.host import HostBridge
from wuxing.boards.protocol import (END, Cmd, Flags, FrameDecoder, Request, Response, Status,
                                    crc32c, encode_frame, pack_values)
from wuxing.boards.pysim import PySimTransport
from wuxing.golden.config import RunConfig
from wuxing.golden.network import init_coefficients
from wuxing.golden.topology import Topology
from wuxing.hdl.generate import Design


def small_design(arch="unrolled"):
    return Design(topology=Topology(layers=(2, 2)), arch=arch, mult="parallel",
                  cfg=RunConfig(steps=16, target=0.5))


def exchange(sim: PySimTransport, frame: bytes, kcycles: float = 1.5) -> list[Response]:
    """Send raw bytes, return the responses that arrive within ``kcycles``."""
    sim.write(frame)
    dec = FrameDecoder()
    out = []
    end = sim.now() + kcycles
    while sim.now() < end:
        out += [Response.parse(p) for p in dec.feed(sim.read(end - sim.now()))]
    return out


def req(cmd, seq, args=b""):
    return Request(cmd, seq, args).payload()


def corrupted_writes(n_links, values):
    """WRITE_COEF frames of ``values`` (all links), each broken one way; their names."""
    good = encode_frame(req(Cmd.WRITE_COEF, 40, (0).to_bytes(4, "little") + pack_values(values)))
    body_crc = good[-5:-1]
    length_plus_one = (len(req(Cmd.WRITE_COEF, 40, bytes(4 + 4 * n_links))) + 1).to_bytes(
        2, "little")
    head = length_plus_one + req(Cmd.WRITE_COEF, 40, (0).to_bytes(4, "little") +
                                  pack_values(values))
    return {
        "crc byte flipped": good[:-2] + bytes([good[-2] ^ 0x01]) + good[-1:],
        "payload bit flipped": good[:10] + bytes([good[10] ^ 0x80]) + good[11:],
        "one zero before END": good[:-1] + b"\x00" + good[-1:],
        "four zeros before END": good[:-1] + bytes(4) + good[-1:],
        "byte dropped": good[:12] + good[13:],
        "byte duplicated": good[:12] + good[12:13] + good[12:],
        "length field too large, CRC recomputed": bytes([END]) + head +
            crc32c(head).to_bytes(4, "little") + bytes([END]),
        "crc of protocol 1 (no length field)": bytes([END]) + good[3:-5] + body_crc[:2] +
            bytes([END]),
    }


def test_broken_command_frames_write_nothing():
    d = small_design()
    sim = PySimTransport(HostBridge.for_design(d))
    n = d.topology.n_links
    read_all = encode_frame(req(Cmd.READ_COEF, 1, (0).to_bytes(4, "little") + bytes([n])))
    before = exchange(sim, read_all)[0].data
    # a forward run first: a write would clear FORWARD_VALID
    assert exchange(sim, encode_frame(req(Cmd.FORWARD, 2)))[0].status == Status.OK
    m = d.model()
    new = [m.c_hi] * n                         # in range: a good frame would write them
    cases = corrupted_writes(n, new)
    for name, frame in cases.items():
        assert exchange(sim, frame) == [], f"{name}: the bridge answered"
    st = exchange(sim, encode_frame(req(Cmd.STATUS, 3)))[0]
    flags = st.data[0]
    dropped = int.from_bytes(st.data[5:9], "little")
    assert dropped == len(cases), (dropped, list(cases))
    assert flags & Flags.FORWARD_VALID, "a broken frame cleared FORWARD_VALID: it acted"
    assert exchange(sim, read_all)[0].data == before, "a broken frame wrote coefficients"
    # the same write, unbroken, is taken: the test would see a write
    good = encode_frame(req(Cmd.WRITE_COEF, 41, (0).to_bytes(4, "little") + pack_values(new)))
    assert exchange(sim, good)[0].status == Status.OK
    after = exchange(sim, read_all)[0].data
    assert after != before and after == pack_values(new)
    print(f"{len(cases)} broken frames dropped and counted; {n} coefficients unchanged")


def test_out_of_range_and_past_the_end_refused_by_status():
    d = small_design()
    sim = PySimTransport(HostBridge.for_design(d))
    m = d.model()
    n, n_in = d.topology.n_links, d.topology.layers[0]
    for cmd, start, vals, status in [
            (Cmd.WRITE_COEF, 0, [0, m.c_hi + 1], Status.BAD_RANGE),
            (Cmd.WRITE_COEF, n - 1, [1, 2], Status.BAD_RANGE),
            (Cmd.WRITE_COEF, 2**32 - 1, [1], Status.BAD_RANGE),     # start wraps nowhere
            (Cmd.WRITE_INPUT, n_in - 1, [0, 0], Status.BAD_RANGE),
            (Cmd.WRITE_INPUT, 0, [m.fmt.max_int + 1], Status.BAD_RANGE)]:
        r = exchange(sim, encode_frame(req(cmd, 7, start.to_bytes(4, "little") +
                                            pack_values(vals))))
        assert [x.status for x in r] == [status], (cmd, start, vals, r)
    r = exchange(sim, encode_frame(req(Cmd.READ_COEF, 8, (0).to_bytes(4, "little") +
                                        bytes([n + 1]))))
    assert [x.status for x in r] == [Status.BAD_RANGE]
    r = exchange(sim, encode_frame(req(Cmd.READ_COEF, 9, (0).to_bytes(2, "little") + b"\x01")))
    assert [x.status for x in r] == [Status.BAD_LENGTH]       # a protocol-1 start field


def fault_session(rate, n_samples, seed, timeout=1.0, retries=12):
    """A training session through a FaultyTransport. ``retries`` bounds the tries of one
    request: at a 2 % byte fault rate a STATUS exchange (about 35 bytes) fails half the
    time, so 12 retries leave about 1e-4 per request."""
    d = small_design()
    m = d.model()
    sim = PySimTransport(HostBridge.for_design(d))
    link = FaultyTransport(sim, rate, seed=seed)
    drv = BoardDriver(link, timeout=timeout, retries=retries)
    rng = np.random.default_rng(seed)
    C = m.coef_to_int(init_coefficients(d.topology, d.cfg, seed))
    x = m.input_to_int(rng.uniform(0, 1, (n_samples, 2)))
    targets = d.cfg.target * np.eye(2)[rng.integers(0, 2, n_samples)]
    train = n_samples - 2
    r = host_session(drv, m, C, x, targets, train=train)
    g = golden_session(m, C, x, targets, train=train)
    wrong_c = int(np.sum(np.array(r["c_after"]) != np.array(g["c_after"])))
    wrong_out = int(np.sum(np.array(r["outputs"]) != np.array(g["outputs"])))
    return dict(wrong_c=wrong_c, wrong_out=wrong_out, compared=len(C) + np.size(g["outputs"]),
                faults=link.total, counts=link.counts, device=r["status"],
                host_dropped=drv.decoder.frames_dropped, stats=drv.stats, train=train,
                changed=r["c_after"] != C.tolist())


def _report(res):
    s = res["stats"]
    print(f"{res['train']} training steps: {res['faults']} faults injected {res['counts']}; "
          f"frames dropped: device {res['device']['frames_dropped']}, host "
          f"{res['host_dropped']}; requests {s['requests']}, resent {s['resent']}, TRAIN "
          f"confirmed by the counter {s['train_confirmed']}, TRAIN resent {s['train_resent']}; "
          f"{res['compared']} integers compared, {res['wrong_c']} wrong coefficients, "
          f"{res['wrong_out']} wrong outputs")


def _check(res, min_faults):
    _report(res)
    assert res["faults"] >= min_faults
    assert res["device"]["frames_dropped"] + res["host_dropped"] > 0
    assert res["stats"]["resent"] > 0
    assert res["device"]["train_steps"] == res["train"]       # every TRAIN ran exactly once
    assert res["changed"], "training changed nothing: the comparison would be empty"
    assert res["wrong_c"] == 0 and res["wrong_out"] == 0


def test_training_through_a_faulty_link_ends_exact():
    """Faults at 1 % of the bytes, both directions, a 10-step training session (seconds)."""
    _check(fault_session(0.01, 12, seed=3), min_faults=10)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_long_training_through_a_faulty_link_ends_exact(seed):
    _check(fault_session(0.02, 60, seed=seed, retries=20), min_faults=100)


def test_no_read_while_the_network_runs():
    """The memories read unspecified values while the network runs (docs/HARDWARE.md); the
    bridge never reads them then: a request that arrives during a run is dropped and counted
    (the host repeats it), and no response byte (the only time the bridge reads) leaves while
    the network is busy."""
    d = small_design("serial")
    bridge = HostBridge.for_design(d)
    sim = PySimTransport(bridge)
    overlap, busy_cycles = [], [0]

    async def monitor(ctx):
        async for _, _, busy, tx_valid in ctx.tick().sample(bridge.network.busy,
                                                           bridge.tx_valid):
            busy_cycles[0] += busy
            if busy and tx_valid:
                overlap.append(sim.cycles)

    sim.sim.add_process(monitor)
    n = d.topology.n_links
    read_all = encode_frame(req(Cmd.READ_COEF, 2, (0).to_bytes(4, "little") + bytes([n])))
    # FORWARD, and right behind it a READ_COEF that arrives while the run goes on
    got = exchange(sim, encode_frame(req(Cmd.FORWARD, 1)) + read_all, kcycles=12)
    assert [(r.cmd, r.status) for r in got] == [(Cmd.FORWARD, Status.OK)]
    st = exchange(sim, encode_frame(req(Cmd.STATUS, 3)))[0]
    assert int.from_bytes(st.data[5:9], "little") == 1          # the READ_COEF, dropped
    again = exchange(sim, read_all)
    assert [(r.cmd, r.status, len(r.data)) for r in again] == [(Cmd.READ_COEF, Status.OK,
                                                                 4 * n)]
    assert busy_cycles[0] > 1000 and overlap == []


def test_chunked_coefficients_and_inputs():
    """More than MAX_CHUNK links and inputs: WRITE_COEF/READ_COEF and WRITE_INPUT in chunks at
    32-bit starts (0, 64, ...); the coefficients read back, and a forward run's outputs equal
    the golden model's (and differ for another input: the inputs arrived where they must)."""
    d = Design(topology=Topology(layers=(20, 20)), arch="serial", cfg=RunConfig(steps=2))
    assert d.topology.n_links > 64
    m = d.model()
    drv = BoardDriver(PySimTransport(HostBridge.for_design(d)), timeout=40, retries=0)
    C = m.coef_to_int(init_coefficients(d.topology, d.cfg, 4))
    drv.write_coefficients(C)
    assert drv.read_coefficients().tolist() == C.tolist()
    assert drv.read_coefficients(64, 10).tolist() == C[64:74].tolist()

    # 66 inputs, one output: input 65 has a link (the second chunk reaches the output)
    d = Design(topology=Topology(layers=(66, 1)), arch="serial",
               cfg=RunConfig(steps=6, input_scale=4.0))
    assert 65 in d.topology.src_neuron
    m = d.model()
    drv = BoardDriver(PySimTransport(HostBridge.for_design(d)), timeout=80, retries=0)
    C = m.coef_to_int(init_coefficients(d.topology, d.cfg, 5))
    drv.write_coefficients(C)
    x = m.input_to_int(np.random.default_rng(5).uniform(0, 1, (2, 66)))
    x[1, :64] = x[0, :64]                       # the samples differ in the second chunk only
    outs = [drv.infer(xi)[0].tolist() for xi in x]
    want = m.outputs(m.forward(C, x)).tolist()
    assert outs == want
    assert want[0] != want[1]
    assert drv.stats["resent"] == 0
