"""The engine's scheduler, tables and pipeline timing, without gateware (hdl/engine/*.py)."""
import dataclasses

import numpy as np
import pytest

from wuxing.golden.topology import Topology, preset
from wuxing.hdl.engine.memories import MemorySpec, block_rams
from wuxing.hdl.engine.schedule import RMW_GAP, compile_schedule
from wuxing.hdl.engine.tables import (Layout, c_words, lmap_layout, lmap_words, nmap_layout,
                                      nmap_words, slot_layout, slot_words)
from wuxing.hdl.engine.timing import LINK, engine_timing, port_conflicts

CASES = [((3, 2), 1, 1), ((3, 2), 1, 3), ((4, 3, 2), 2, 1), ((4, 3, 2), 2, 3),
         ((4, 3, 2), 2, 8), ((7, 5, 3), 2, 8), ((16, 16, 10), 1, 8), ((5, 4, 3), 2, 5)]


def _topo(layers, fan_in):
    return Topology(layers=layers, fan_in=fan_in, seed=3)


@pytest.mark.parametrize("layers, fan_in, lanes", CASES)
def test_every_row_and_link_once_no_port_conflict(layers, fan_in, lanes):
    t = _topo(layers, fan_in)
    s = compile_schedule(t, lanes)
    N, L, P = t.n_neurons, t.n_links, lanes
    # neurons: every one in one bank at a distinct local index, at most ceil(N / P) a bank
    assert s.counts.sum() == N and s.counts.max() == s.nb == -(-N // P)
    pairs = set(zip(s.bank.tolist(), s.local.tolist()))
    assert len(pairs) == N and all(0 <= j < s.counts[b] for b, j in pairs)
    # every row (element, neuron) is one local row of its bank: the neuron phase visits it once
    rows = {(int(s.bank[n]), int(s.local_row(n, e))) for n in range(N) for e in range(5)}
    assert len(rows) == 5 * N
    # every link exactly once on each side, in the same slot; per slot a bank serves one
    # read and a lane takes one link
    src_b, dst_b = s.bank[t.src_neuron], s.bank[t.dst_neuron]
    assert s.src_valid.sum() == s.dst_valid.sum() == L
    assert np.all(s.src_valid[src_b, s.slot]) and np.all(s.dst_valid[dst_b, s.slot])
    assert np.array_equal(s.dst_link[dst_b, s.slot], np.arange(L))
    assert np.array_equal(s.src_row[src_b, s.slot], s.local_row(t.src_neuron, t.src_elem))
    assert np.array_equal(s.dst_row[dst_b, s.slot], s.local_row(t.dst_neuron, t.dst_elem))
    assert np.array_equal(s.src_peer[src_b, s.slot], dst_b)
    assert np.array_equal(s.dst_peer[dst_b, s.slot], src_b)
    assert len(set(zip(s.slot.tolist(), src_b.tolist()))) == L   # one read a bank a slot
    assert len(set(zip(s.slot.tolist(), dst_b.tolist()))) == L   # one link a lane a slot
    # the read-modify-write gap between links into one row (either direction), and the first
    # link of each row flagged
    for ends, key in ((t.dst_elem * N + t.dst_neuron, "dst_first"),
                      (t.src_elem * N + t.src_neuron, "src_first")):
        banks = dst_b if key == "dst_first" else src_b
        for r in np.unique(ends):
            sl = np.sort(s.slot[ends == r])
            assert np.all(np.diff(sl) >= RMW_GAP)
            flags = getattr(s, key)[banks[ends == r], s.slot[ends == r]]
            assert flags.sum() == 1 and flags[np.argmin(s.slot[ends == r])]
    assert s.slots == s.degree + s.idle_slots >= s.link_lower_bound()
    # the pipeline: no port used twice in a clock, no read before the write it needs
    assert port_conflicts(s.nb, s.slots, 3, engine_timing(24, 16)) == []


def _replay_link_phase(s, words, c_words_, D, reverse):
    """Clock by clock, the lanes' link pipeline driven by the packed slot tables only: each
    slot, every bank serves a D (and its C), every lane takes a word from a bank, multiplies and
    read-modify-writes its U memory (read at LINK['u_read'], written at LINK['u_write'])."""
    lay = slot_layout(s)
    tabs = [lay.unpack(w) for w in words]
    P, T = s.lanes, s.slots
    U = [dict() for _ in range(P)]
    pending = []     # (clock, lane, row, value) writes
    reads = []       # (clock, lane, row, first, product)
    for c in range(T):
        served = {}
        for b in range(P):
            tb = tabs[b]
            if reverse and tb["dst_valid"][c]:
                served[b] = (D[b][tb["dst_row"][c]], c_words_[b][c])
            if not reverse and tb["src_valid"][c]:
                served[b] = (D[b][tb["src_row"][c]], None)
        for b in range(P):
            tb = tabs[b]
            side = "src" if reverse else "dst"
            if tb[f"{side}_valid"][c]:
                d, c_remote = served[tb[f"{side}_peer"][c]]
                coef = c_remote if reverse else c_words_[b][c]
                reads.append((c + LINK["u_read"], b, tb[f"{side}_row"][c],
                              tb[f"{side}_first"][c], coef * d))
    for clock in range(T + LINK["u_write"] + 1):
        # a read addressed in this clock samples the memory at its closing edge, the same
        # edge at which this clock's write lands: it sees only earlier writes
        for rd in [r for r in reads if r[0] == clock]:
            _, b, row, first, prod = rd
            old = 0 if first else U[b].get(row, 0)
            pending.append((clock + LINK["u_write"] - LINK["u_read"], b, row, old + prod))
        for w in [p for p in pending if p[0] == clock]:
            U[w[1]][w[2]] = w[3]
        pending = [p for p in pending if p[0] != clock]
    for w in pending:
        U[w[1]][w[2]] = w[3]
    return U


@pytest.mark.parametrize("layers, fan_in, lanes", CASES)
@pytest.mark.parametrize("reverse", [False, True])
def test_tables_replayed_give_the_link_sums(layers, fan_in, lanes, reverse):
    t = _topo(layers, fan_in)
    s = compile_schedule(t, lanes)
    rng = np.random.default_rng(lanes)
    N, L = t.n_neurons, t.n_links
    d_rows = rng.integers(-1000, 1000, 5 * N)          # D of every (element, neuron) row
    coef = rng.integers(-500, 500, L)
    D = [dict() for _ in range(lanes)]
    for n in range(N):
        for e in range(5):
            D[s.bank[n]][int(s.local_row(n, e))] = int(d_rows[e * N + n])
    U = _replay_link_phase(s, slot_words(s), c_words(s, coef), D, reverse)
    to = (t.src_elem if reverse else t.dst_elem) * N + (t.src_neuron if reverse else
                                                         t.dst_neuron)
    frm = (t.dst_elem if reverse else t.src_elem) * N + (t.dst_neuron if reverse else
                                                         t.src_neuron)
    want = np.zeros(5 * N, np.int64)
    np.add.at(want, to, coef * d_rows[frm])
    compared = 0
    for r in np.unique(to):
        n, e = r % N, r // N
        assert U[s.bank[n]][int(s.local_row(n, e))] == want[r]
        compared += 1
    assert compared == np.unique(to).size > 0


@pytest.mark.parametrize("gap", range(1, RMW_GAP))
def test_replay_finds_a_short_gap(gap):
    """The replay can fail: tables scheduled with a gap shorter than RMW_GAP between two links
    into one row (none; one less than the pipeline needs) give wrong sums (the second read
    does not see the first write)."""
    t = _topo((4, 3, 2), 2)
    s = compile_schedule(t, 3, rmw_gap=gap)
    N = t.n_neurons
    rng = np.random.default_rng(0)
    d_rows, coef = rng.integers(1, 1000, 5 * N), rng.integers(1, 500, t.n_links)
    D = [dict() for _ in range(3)]
    for n in range(N):
        for e in range(5):
            D[s.bank[n]][int(s.local_row(n, e))] = int(d_rows[e * N + n])
    U = _replay_link_phase(s, slot_words(s), c_words(s, coef), D, False)
    to = t.dst_elem * N + t.dst_neuron
    want = np.zeros(5 * N, np.int64)
    np.add.at(want, to, coef * d_rows[t.src_elem * N + t.src_neuron])
    wrong = sum(U[s.bank[r % N]][int(s.local_row(r % N, r // N))] != want[r]
                for r in np.unique(to))
    assert wrong > 0


def test_pipeline_check_finds_a_short_drain():
    t = engine_timing(24, 16)
    assert port_conflicts(3, 5, 2, t) == []
    assert port_conflicts(3, 5, 2, dataclasses.replace(t, neuron_drain=t.neuron_drain - 1))
    assert port_conflicts(3, 5, 2, dataclasses.replace(t, link_drain=t.link_drain - 1))


def test_cycles_replayed_clock_by_clock():
    """The run's clock count, counted phase by phase from the issue clocks the sequencer
    gives, equals Schedule.run_cycles (the amaranth.sim tests measure it on the gateware)."""
    t = _topo((4, 3, 2), 2)
    s = compile_schedule(t, 3)
    tm = engine_timing(24, 16)
    for steps in (0, 1, 5):
        clock = tm.start
        clock += 5 * s.nb + tm.load_drain
        for _ in range(steps):
            clock += s.slots + tm.link_drain + 5 * s.nb + tm.neuron_drain
        clock += tm.finish
        assert clock == s.run_cycles(tm, steps)
    assert s.bsp_cycles(tm) == tm.start + s.slots * tm.bsp_slot + tm.bsp_drain + tm.finish


def test_model1_schedules_near_the_bound():
    for fan_in, lanes in ((1, 48), (4, 48)):
        s = compile_schedule(preset("model1", fan_in=fan_in), lanes)
        assert s.nb == 43
        # within 5 % of ceil(L / P) slots, idle slots included
        assert s.slots <= 1.05 * s.link_lower_bound()


def test_maps_and_layouts():
    t = _topo((7, 5, 3), 2)
    s = compile_schedule(t, 3)
    nm = nmap_layout(s).unpack(nmap_words(s))
    assert np.array_equal(nm["bank"], s.bank) and np.array_equal(nm["local"], s.local)
    lm = lmap_layout(s).unpack(lmap_words(s))
    assert np.array_equal(lm["lane"], s.lane) and np.array_equal(lm["slot"], s.slot)
    lay = Layout([("a", 3), ("b", 0), ("c", 2)])
    assert lay.width == 5 and lay.unpack(lay.pack(a=[5, 1], c=[3, 0]))["c"].tolist() == [3, 0]
    with pytest.raises(ValueError, match="does not fit"):
        lay.pack(a=[8])
    cw = c_words(s, np.arange(t.n_links) + 1)
    assert sorted(v for lane in cw for v in lane if v) == list(range(1, t.n_links + 1))


def test_block_ram_estimate():
    assert block_rams(MemorySpec("m", 1, 512, 36, "1r1w", ""), "ecp5") == 1
    assert block_rams(MemorySpec("m", 1, 513, 36, "1r1w", ""), "ecp5") == 2
    assert block_rams(MemorySpec("m", 2, 257, 18, "2r", ""), "ecp5") == 2
    assert block_rams(MemorySpec("m", 1, 256, 16, "1r1w", ""), "ice40") == 1
    assert block_rams(MemorySpec("m", 1, 257, 18, "2r", ""), "ice40") == 2 * 3
    with pytest.raises(ValueError, match="family"):
        block_rams(MemorySpec("m", 1, 1, 1, "1r", ""), "virtex")


def test_schedule_argument_errors():
    t = _topo((3, 2), 1)
    with pytest.raises(ValueError, match="more than the topology can use"):
        compile_schedule(t, 6)
    with pytest.raises(ValueError, match="at least 1"):
        compile_schedule(t, 0)
    with pytest.raises(TypeError, match="lanes"):
        compile_schedule(t, 2.0)
    with pytest.raises(TypeError, match="topology"):
        compile_schedule("tiny", 2)
    with pytest.raises(ValueError, match="no links"):
        compile_schedule(Topology(layers=(2, 2), link_counts=(0,)), 1)
    bad = _topo((3, 2), 1)
    bad.dst_neuron = bad.dst_neuron.copy()
    bad.dst_elem = bad.dst_elem.copy()
    bad.dst_neuron[0], bad.dst_elem[0] = 0, bad.in_elem    # a link into an input's input row
    with pytest.raises(ValueError, match="external input"):
        compile_schedule(bad, 1)


@pytest.mark.parametrize("fan_in, links", [(None, 4711), (4, 18844)])
def test_bsp_accumulators_are_counted(fan_in, links):
    """The batch accumulators of on-chip learning: 32 bits per link (by slot, in every lane),
    in Design.resources() and the block RAM estimate."""
    from wuxing.golden.topology import preset
    from wuxing.hdl.engine.memories import block_rams
    from wuxing.hdl.generate import Design
    topo = preset("model1", fan_in=fan_in)
    assert topo.n_links == links
    for lanes in (1, 32):
        r = Design(topology=topo, arch="engine", lanes=lanes).resources()
        acc = next(m for m in r.memories if m.name == "bsp_acc")
        T = r.cycles["link_slots"]
        assert (acc.count, acc.depth, acc.width) == (lanes, T, 32)
        assert acc.bits == lanes * T * 32 >= links * 32
        if lanes == 1:
            assert acc.bits == links * 32          # one slot a link
        without = Design(topology=topo, arch="engine", lanes=lanes,
                         lut_memories=("bsp_acc",)).resources()
        assert (r.block_ram["ecp5"] - without.block_ram["ecp5"]
                == block_rams(acc, "ecp5") > 0)
