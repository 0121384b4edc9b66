# amaranth: UnusedElaboratable=no
# (the argument checks construct engines that raise before they could be used)
"""NetworkEngine in amaranth.sim: forward, reverse, BSP equal FixedModel's, bit for bit, for
P in {1, 3, 8} and fan-in 1 and 2; clocks equal the scheduler's prediction; the control port
while busy; the BSP unit alone; argument checks."""
import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from wuxing.golden.config import RunConfig
from wuxing.golden.fixedpoint import DEFAULT_FORMAT, LEARNING_FORMAT
from wuxing.golden.network import FixedModel
from wuxing.golden.topology import Topology
from wuxing.hdl.engine import NetworkEngine
from wuxing.hdl.engine.bsp import BspUnit
from wuxing.hdl.engine.timing import bsp_stages
from wuxing.hdl.fixed import hw_constants
from wuxing.hdl.network import INDEX_BITS, INFO, MAGIC, address
from control_port_bench import compare_with_golden, port_access, run_network


def compare_engine(topo, lanes, steps, seed, fmt=DEFAULT_FORMAT):
    return compare_with_golden(
        lambda hw, c_init: NetworkEngine(topo, hw, lanes=lanes, c_init=c_init),
        topo, steps, seed, fmt)


# odd sizes: link counts that are not multiples of P; fan-in 2 sums two links into a row
@pytest.mark.parametrize("layers, fan_in, lanes", [
    ((3, 2), 1, 1), ((4, 3, 2), 2, 1), ((5, 4, 3), 1, 3), ((4, 3, 2), 2, 3),
    ((7, 5, 3), 1, 8), ((5, 4, 3), 2, 8)])
def test_engine_matches_fixed_model(layers, fan_in, lanes):
    topo = Topology(layers=layers, fan_in=fan_in, seed=3)
    compared, mismatches, dut, got, (fwd, rev, c_int) = compare_engine(topo, lanes, 6, lanes)
    print(f"{layers} fan-in {fan_in}, P={lanes}: {compared} values compared, "
          f"{mismatches} mismatches")
    assert mismatches == 0 and compared > 50
    assert got["magic"] == MAGIC
    # the run exercised saturation and a change of C
    assert fwd.overflow.any() or rev.overflow.any()
    assert got["C"] != c_int.tolist()
    # the gateware takes exactly the clocks the scheduler predicts
    cyc = dut.cycles(6)
    assert (got["fwd_cycles"], got["rev_cycles"], got["bsp_cycles"]) == (
        cyc["run"], cyc["reverse_run"], cyc["bsp"])


@pytest.mark.parametrize("lanes, fmt", [(1, DEFAULT_FORMAT), (3, LEARNING_FORMAT)])
def test_engine_without_training_units(lanes, fmt):
    """``training=False`` (``--no-training``): forward, reverse and BSP give FixedModel's
    integers (BSP with the build's step), in the scheduler's clocks; the learning commands do
    nothing, registers 13-19 read 0, region 8 takes no writes; no accumulator or pixel
    memory."""
    from wuxing.hdl.network import OP_EVAL_SAMPLE, OP_TRAIN_SAMPLE, REGION_PIXELS, TRAIN_INFO
    topo = Topology(layers=(4, 3, 2), fan_in=2, seed=3)
    compared, mismatches, dut, got, _ = compare_with_golden(
        lambda hw, c_init: NetworkEngine(topo, hw, lanes=lanes, c_init=c_init, training=False),
        topo, 6, 3, fmt)
    print(f"P={lanes} without training units: {compared} values compared, "
          f"{mismatches} mismatches")
    assert mismatches == 0 and compared > 50
    cyc = dut.cycles(6)
    assert (got["fwd_cycles"], got["rev_cycles"], got["bsp_cycles"]) == (
        cyc["run"], cyc["reverse_run"], cyc["bsp"])
    names = {m.name for m in dut.resources().memories}
    assert "bsp_acc" not in names and "pixels" not in names and "e_mem" in names
    seen = {}

    async def bench(ctx):
        write, read = port_access(ctx, dut)
        for name in TRAIN_INFO:
            await write(address("info", INFO[name]), 1)
            seen[name] = await read(address("info", INFO[name]))
        before = await read(address("input", 0))
        await write((REGION_PIXELS << INDEX_BITS) | 0, 255)
        seen["input after a pixel write"] = (await read(address("input", 0))) - before
        for op in (OP_TRAIN_SAMPLE, OP_EVAL_SAMPLE):
            await write(address("info", INFO["command"]), op)
            busy = []
            for _ in range(4):
                busy.append(ctx.get(dut.busy))
                await ctx.tick()
            seen[f"busy after op {op}"] = sum(busy)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert set(seen.values()) == {0} and len(seen) == len(TRAIN_INFO) + 3, seen


# one atan ROM for 4 or 8 lanes: the lanes read it in turns, the BSP slot is longer
@pytest.mark.parametrize("lanes_per_table", [4, 8])
def test_engine_shared_atan_tables(lanes_per_table):
    topo = Topology(layers=(5, 4, 3), fan_in=2, seed=3)
    compared, mismatches, dut, got, (fwd, rev, c_int) = compare_with_golden(
        lambda hw, c_init: NetworkEngine(topo, hw, lanes=8, c_init=c_init,
                                         lanes_per_table=lanes_per_table), topo, 5, 8)
    assert mismatches == 0 and compared > 50 and got["C"] != c_int.tolist()
    assert got["bsp_cycles"] == dut.cycles()["bsp"]
    # (2 clocks longer for each further pair of lanes on one ROM)
    pair = bsp_stages(dut.hw.fmt.acc_width, dut.hw.fmt.width, 0, 2)["slot"]
    assert dut.timing.bsp_slot == pair + lanes_per_table - 2
    atan = [mem for mem in dut.resources().memories if mem.name == "atan"]
    assert atan[0].count == 8 // lanes_per_table     # atan ROMs


# the fixed-point learning format: the reverse run's increments dithered (golden
# LEARNING_FORMAT); forward and BSP as before
@pytest.mark.parametrize("layers, fan_in, lanes", [((4, 3, 2), 2, 1), ((5, 4, 3), 1, 3),
                                                   ((5, 4, 3), 2, 8)])
def test_engine_learning_format(layers, fan_in, lanes):
    topo = Topology(layers=layers, fan_in=fan_in, seed=3)
    compared, mismatches, dut, got, (fwd, rev, c_int) = compare_engine(
        topo, lanes, 7, lanes, fmt=LEARNING_FORMAT)
    print(f"{layers} fan-in {fan_in}, P={lanes}, LEARNING_FORMAT: {compared} values compared, "
          f"{mismatches} mismatches")
    assert mismatches == 0 and compared > 50
    # the dither changed the reverse integrals: round half up gives other integers
    plain = FixedModel(topo, RunConfig(steps=7)).reverse(c_int, np.array(got["err"]))
    assert np.sum(plain.S != rev.S) > 5
    cyc = dut.cycles(7)
    assert cyc["reverse_run"] > cyc["run"]       # the seed of the dither
    assert (got["fwd_cycles"], got["rev_cycles"], got["bsp_cycles"]) == (
        cyc["run"], cyc["reverse_run"], cyc["bsp"])


def test_engine_control_port_while_busy():
    """While a run is busy: memory regions read 0, the status register reads busy, writes
    are ignored; after done the values are there."""
    topo = Topology(layers=(4, 3, 2), seed=3)
    hw = hw_constants(RunConfig(steps=3))
    dut = NetworkEngine(topo, hw, lanes=3)
    lat = dut.read_latency
    seen = {}

    async def bench(ctx):
        async def read(addr):
            ctx.set(dut.addr, addr)
            await ctx.tick().repeat(lat)
            return ctx.get(dut.rdata)

        async def write(addr, v):
            ctx.set(dut.addr, addr)
            ctx.set(dut.wdata, v)
            ctx.set(dut.we, 1)
            await ctx.tick()
            ctx.set(dut.we, 0)
        await write(address("coef", 1), 1234)
        await write(address("input", 0), 4096)
        ctx.set(dut.op, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        seen["busy_reads"] = [await read(address(r, 1)) for r in
                              ("coef", "input", "fwd_integral", "rev_integral", "output",
                               "overflow")]
        seen["status"] = await read(address("info", INFO["status"]))
        seen["magic"] = await read(address("info", INFO["magic"]))
        await write(address("coef", 1), 999)          # ignored: busy
        seen["busy"] = ctx.get(dut.busy)
        while not ctx.get(dut.done):
            await ctx.tick()
        await ctx.tick()
        seen["after"] = [await read(address("coef", 1)), await read(address("input", 0)),
                         await read(address("info", INFO["status"]) )]
        seen["s_nonzero"] = any([await read(address("fwd_integral", k)) for k in range(45)])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen["busy"] == 1
    assert seen["busy_reads"] == [0] * 6
    assert seen["status"] & 1 == 1 and seen["magic"] == MAGIC
    assert seen["after"][:2] == [1234, 4096] and seen["after"][2] & 1 == 0
    assert seen["s_nonzero"]


@pytest.mark.parametrize("lanes", [1, 3])
def test_engine_sees_a_write_in_the_clock_of_start(lanes):
    """A control-port write in the same clock as ``start`` (input 0, the first row the run
    loads in its lane) lands before the run reads it: the integrals equal FixedModel's."""
    topo = Topology(layers=(4, 3, 2), seed=3)
    cfg = RunConfig(steps=3)
    hw = hw_constants(cfg)
    model = FixedModel(topo, cfg)
    rng = np.random.default_rng(5)
    c_int = rng.integers(hw.c_lo, hw.c_hi + 1, topo.n_links)
    x_int = hw.fmt.to_int(rng.uniform(0.5, 2, topo.layers[0]))
    dut = NetworkEngine(topo, hw, lanes=lanes, c_init=c_int)
    got = {}

    async def bench(ctx):
        write, read = port_access(ctx, dut)
        for i in range(1, len(x_int)):
            await write(address("input", i), x_int[i])
        ctx.set(dut.addr, address("input", 0))
        ctx.set(dut.wdata, int(x_int[0]))
        ctx.set(dut.we, 1)
        ctx.set(dut.op, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.we, 0)
        ctx.set(dut.start, 0)
        while not ctx.get(dut.done):
            await ctx.tick()
        got["S"] = [await read(address("fwd_integral", k))
                    for k in range(5 * topo.n_neurons)]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = model.forward(c_int, x_int).S.reshape(-1).tolist()
    without_input0 = model.forward(c_int, np.concatenate([[0], x_int[1:]])).S.reshape(-1)
    assert want != without_input0.tolist()      # input 0 changes the integrals
    mismatches = sum(int(a != b) for a, b in zip(got["S"], want))
    print(f"P={lanes}: {len(want)} integrals compared, {mismatches} mismatches")
    assert len(got["S"]) == len(want) and mismatches == 0


def bsp_unit_with_multiplier(hw):
    """A BspUnit on its own W x W multiplier, registered as the lane's (MUL_LATENCY)."""
    W = hw.fmt.width
    unit = BspUnit(hw)
    m = Module()
    m.submodules.unit = unit
    a, b = Signal(signed(W)), Signal(signed(W))
    prod = Signal(signed(2 * W))
    m.d.sync += [a.eq(unit.mul_a), b.eq(unit.mul_b), prod.eq(a * b)]
    m.d.comb += unit.prod.eq(prod)
    return m, unit


def test_bsp_unit_matches_golden():
    """The BSP unit alone, on its own W x W multiplier: C' of FixedModel.bsp_update for random
    S, R (up to the integral range, both signs, zeros), C (up to the clamps)."""
    cfg = RunConfig()
    hw = hw_constants(cfg)
    fmt = hw.fmt
    topo = Topology(layers=(1, 1))
    model = FixedModel(topo, cfg)
    rng = np.random.default_rng(5)
    cases = [(fmt.acc_max, fmt.acc_max, hw.c_hi), (fmt.acc_min, fmt.acc_max, hw.c_lo),
             (0, 12345, 17), (-3, 0, -5)]
    for mag in (2 ** 8, 2 ** 14, 2 ** 20, 2 ** 23):
        for _ in range(6):
            cases.append((int(rng.integers(-mag, mag)), int(rng.integers(-mag, mag)),
                          int(rng.integers(hw.c_lo, hw.c_hi + 1))))
    m, unit = bsp_unit_with_multiplier(hw)
    st = unit.stages
    entries = [int(v) for v in hw.table.entries()]
    got = []

    async def bench(ctx):
        ctx.set(unit.update, 1)            # the batch-one command: no accumulator, update C
        ctx.set(unit.shift_out, hw.bsp_shift_out)
        for s, r, c in cases:
            ctx.set(unit.c_old, c)
            data = 0
            for sub in range(st["slot"]):
                ctx.set(unit.sub, sub)
                ctx.set(unit.tab_data, data)
                if sub == st["magnitudes"]:
                    ctx.set(unit.s, s)
                    ctx.set(unit.r, r)
                if sub == st["c_write"]:
                    got.append(ctx.get(unit.c_new))
                addr = ctx.get(unit.tab_addr)
                await ctx.tick()
                data = entries[addr]          # a synchronous ROM: data a clock later

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = [int(model.bsp_update(np.array([c]), np.full((5, 2, 1), s), np.full((5, 2, 1), r))[0])
            for s, r, c in cases]
    assert len(got) == len(cases) > 20
    assert got == want
    assert len(set(want) - {c for _, _, c in cases}) > 10      # the updates changed C


@pytest.mark.parametrize("batch_log2, step_exp", [(2, None), (3, -3), (1, 5), (2, -40),
                                                 (1, 20), (1, 30), (2, -16), (5, 8),
                                                 (1, -22)])
def test_bsp_unit_accumulates_a_batch(batch_log2, step_exp):
    """The BSP unit alone in accumulate mode: per link a batch of 2**j samples (S, R up to the
    integral range, products that saturate the 32-bit accumulator), A written back after each
    sample, C updated at the batch's end: A equal to golden bsp_accumulate after every
    sample, C' to bsp_update (the step register's shift clamped as golden's)."""
    cfg = RunConfig(kt=2.0 ** 2)      # s_in small: products that saturate the accumulator
    hw = hw_constants(cfg)
    fmt = hw.fmt
    model = FixedModel(Topology(layers=(1, 1)), cfg)
    step = model._step_exp(step_exp)
    lo, hi = hw.shift_out_limits
    shift = min(max(model.bsp_shifts(1, step)[1], lo), hi)
    rng = np.random.default_rng(batch_log2)
    B = 1 << batch_log2
    links = []
    for mag in (2 ** 10, 2 ** 18, 2 ** 23):
        for _ in range(4):
            links.append((rng.integers(-mag, mag, B), rng.integers(-mag, mag, B),
                          int(rng.integers(hw.c_lo, hw.c_hi + 1))))
    links.append((np.full(B, fmt.acc_max), np.full(B, fmt.acc_max), 0))   # saturates A
    links.append((np.full(B, fmt.acc_min), np.full(B, fmt.acc_max), 5))
    m, unit = bsp_unit_with_multiplier(hw)
    st = unit.stages
    entries = [int(v) for v in hw.table.entries()]
    got_A, got_C = [], []

    async def bench(ctx):
        ctx.set(unit.acc_mode, 1)
        ctx.set(unit.batch_log2, batch_log2)
        ctx.set(unit.shift_out, shift)
        for S, R, c in links:
            A = 0
            for k in range(B):
                ctx.set(unit.c_old, c)
                ctx.set(unit.a_old, A)
                ctx.set(unit.update, int(k == B - 1))
                data = 0
                for sub in range(st["slot"]):
                    ctx.set(unit.sub, sub)
                    ctx.set(unit.tab_data, data)
                    if sub == st["magnitudes"]:
                        ctx.set(unit.s, int(S[k]))
                        ctx.set(unit.r, int(R[k]))
                    if sub == st["squash"]:
                        A = ctx.get(unit.a_write)
                        got_A.append(A if k < B - 1 else None)
                    if sub == st["c_write"] and k == B - 1:
                        got_C.append(ctx.get(unit.c_new))
                    addr = ctx.get(unit.tab_addr)
                    await ctx.tick()
                    data = entries[addr]

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want_A, want_C = [], []
    for S, R, c in links:
        Sg, Rg = np.zeros((5, 2, B), np.int64), np.zeros((5, 2, B), np.int64)
        Sg[model.topology.src_elem[0], 0] = S
        Rg[model.topology.dst_elem[0], 1] = R
        for k in range(1, B):
            want_A.append(int(model.bsp_accumulate(Sg[..., :k], Rg[..., :k])[0]))
        want_A.append(None)
        want_C.append(int(model.bsp_update(np.array([c]), Sg, Rg, step)[0]))
    print(f"j={batch_log2} step_exp={step}: {len(want_A) - len(links)} accumulators and "
          f"{len(want_C)} C compared")
    assert got_A == want_A and got_C == want_C and len(want_C) == len(links)
    a_seen = [v for v in want_A if v is not None]
    assert max(a_seen) == (1 << 31) - 1 and min(a_seen) <= -(1 << 31) + 1   # both ends
    if lo + 5 < shift < hi - 5:   # (at the ends of the shift range C saturates or stays)
        assert len(set(want_C) - {c for _, _, c in links}) > 5      # the updates changed C


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_engine_rejects_bad_arguments():
    hw = hw_constants()
    topo = Topology(layers=(3, 2))
    with pytest.raises(ValueError, match="more than the topology can use"):
        NetworkEngine(topo, hw, lanes=6)
    with pytest.raises(ValueError, match="at least 1"):
        NetworkEngine(topo, hw, lanes=0)
    with pytest.raises(TypeError, match="lanes"):
        NetworkEngine(topo, hw, lanes="8")
    with pytest.raises(TypeError, match="topology"):
        NetworkEngine("tiny", hw)
    with pytest.raises(ValueError, match="c_init"):
        NetworkEngine(topo, hw, c_init=[0, 1])
    with pytest.raises(ValueError, match="no links"):
        NetworkEngine(Topology(layers=(2, 2), link_counts=(0,)), hw)
    # a topology that does not fit the control port's 20-bit index
    big = Topology(layers=(2, 2))
    big.layers = (2, 300000)     # claims more neurons than 2**20 / 5 integrals can address
    with pytest.raises(ValueError, match="at most"):
        NetworkEngine(big, hw)


def test_engine_resources_and_cycles_api():
    topo = Topology(layers=(7, 5, 3), fan_in=2, seed=3)
    dut = NetworkEngine(topo, hw_constants(), lanes=3)
    r = dut.resources()
    names = {m.name for m in r.memories}
    assert {"e_mem", "sr_mem", "u_mem", "c_mem", "slot_rom", "atan", "link_map",
            "neuron_map"} <= names
    assert r.multipliers == 3 and r.block_ram["ecp5"] > 0 and r.block_ram["ice40"] > 0
    c = dut.cycles()
    assert c["sample"] == c["run"] + c["reverse_run"] + c["bsp"] and r.cycles == c
    assert r.as_dict()["memories"][0]["bits"] > 0


def test_dither_hash_and_seed():
    """The three parts of wang32 equal golden's hash; DitherSeed folds the errors and hashes
    each step as golden.fixedpoint.dither_seed / dither_offsets define."""
    from amaranth.hdl import Module, Signal

    from wuxing.golden.fixedpoint import dither_seed, wang32
    from wuxing.hdl.engine.dither import DitherSeed, seed_clocks, wang32_stage
    m = Module()
    x = Signal(32)
    y = x
    for k in range(3):
        z = Signal(32)
        m.d.comb += z.eq(wang32_stage(y, k))
        y = z
    values = [0, 1, 0xFFFFFFFF, 0x9E3779B9, 12345678, 0x80000000]
    got = []

    async def hash_bench(ctx):
        for v in values:
            ctx.set(x, v)
            await ctx.delay(1e-6)
            got.append(ctx.get(y))
    sim = Simulator(m)
    sim.add_testbench(hash_bench)
    sim.run()
    assert got == [wang32(v) for v in values]

    errs = [-5, 300, -32768, 0, 32767]
    unit = DitherSeed(len(errs), 16)
    hashes = []

    async def seed_bench(ctx):
        for i, e in enumerate(errs):
            ctx.set(unit.err_we, 1)
            ctx.set(unit.err_index, i)
            ctx.set(unit.err_data, e)
            await ctx.tick()
        ctx.set(unit.err_we, 0)
        ctx.set(unit.fold, 1)
        await ctx.tick()
        ctx.set(unit.fold, 0)
        await ctx.tick().repeat(seed_clocks(len(errs)))
        hashes.append(ctx.get(unit.step_hash))
        for _ in range(3):
            ctx.set(unit.advance, 1)
            await ctx.tick()
            ctx.set(unit.advance, 0)
            await ctx.tick().repeat(8)
            hashes.append(ctx.get(unit.step_hash))
    sim = Simulator(unit)
    sim.add_clock(1e-6)
    sim.add_testbench(seed_bench)
    sim.run()
    seed = int(dither_seed(np.array([errs]))[0])
    assert hashes == [wang32((seed + t) & 0xFFFFFFFF) for t in range(4)]


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_design_resources_before_a_build():
    """Design.resources() (the scheduler alone) gives the engine's own numbers; memories kept
    out of block RAM leave the block count and still compute the same integers."""
    from wuxing.golden.topology import preset
    from wuxing.hdl.engine.memories import block_rams, lut_memories_for
    from wuxing.hdl.generate import Design, build_component
    d = Design(topology=preset("model1"), arch="engine", lanes=40)
    r = d.resources()
    assert r.cycles == NetworkEngine(preset("model1"), d.hw(), lanes=40).cycles()
    assert r.block_ram["ecp5"] > 208            # every memory in block RAM: too many
    lut = lut_memories_for(r.memories, "ecp5", 208)
    assert lut == ("slot_rom", "c_mem", "bsp_acc")   # the fewest, in LUT_MEMORY_ORDER
    d.lut_memories = lut
    r2 = d.resources()
    assert r2.block_ram["ecp5"] <= 208 and r2.lut_memory_bits > 0
    assert r2.block_ram["ecp5"] == sum(block_rams(m, "ecp5") for m in r2.memories
                                       if m.name not in lut)
    assert Design.from_manifest(d.manifest()).lut_memories == lut
    assert lut_memories_for(r.memories, "ecp5", 10) is None
    with pytest.raises(ValueError, match="lut_memories"):
        NetworkEngine(Topology(layers=(3, 2)), hw_constants(), lut_memories=("e_mem",))
    with pytest.raises(ValueError, match="estimates an engine"):
        Design(topology=Topology(layers=(3, 2))).resources()
    # the same integers with the slot table and C out of block RAM
    topo = Topology(layers=(5, 4, 3), fan_in=2, seed=3)
    hw = hw_constants(RunConfig(steps=4))
    model = FixedModel(topo, RunConfig(steps=4))
    c = np.arange(topo.n_links) * 997 % (2 * hw.c_hi) - hw.c_hi
    x = hw.fmt.to_int(np.linspace(0, 1, 5))
    err = hw.fmt.to_int(np.array([0.5, -0.25, 1.0]))
    e = build_component(Design(topology=topo, cfg=RunConfig(steps=4), arch="engine", lanes=3,
                               lut_memories=("slot_rom", "c_mem", "atan")))
    got = run_network(e, c, x, err, 4)
    fwd, rev = model.forward(c, x), model.reverse(c, err)
    assert got["S"] == fwd.S.reshape(-1).tolist() and got["R"] == rev.S.reshape(-1).tolist()
    assert got["C"] == model.bsp_update(c, fwd.S, rev.S).tolist()


@pytest.mark.parametrize("ports", [1, 3, 5, 8])
def test_crossbar_takes_the_selected_bank(ports):
    """Every lane gets the word of the bank it names, one clock later, for every bank (the
    multiplexer tree of crossbar.mux_tree; odd port counts leave a branch without a pair)."""
    from wuxing.hdl.engine.crossbar import Crossbar
    dut = Crossbar(ports, 6)
    checked = []

    async def bench(ctx):
        for shift in range(ports):
            for b in range(ports):
                ctx.set(dut.i[b], 7 * b + 1)
                ctx.set(dut.sel[b], (b + shift) % ports)
            await ctx.tick()
            for b in range(ports):
                assert ctx.get(dut.o[b]) == 7 * ((b + shift) % ports) + 1
                checked.append(b)
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(checked) == ports * ports


@pytest.mark.parametrize("lanes", [1, 3])
def test_sequencer_counts_the_rows_of_the_neuron_stages(lanes):
    """The control word's rd_* and wr_* fields: in a lane's registered copy they name the row
    that the lane's neuron stage NEURON["read"] / ["write"] holds (issued that many clocks
    before, e * nb + j), at every clock where the stage holds one, through two steps of a
    forward run and the start of the next run."""
    from wuxing.hdl.engine.schedule import compile_schedule
    from wuxing.hdl.engine.sequencer import ISSUE_NEURON, Sequencer
    from wuxing.hdl.engine.timing import NEURON, engine_timing
    from wuxing.hdl.network import OP_FORWARD
    topo = Topology(layers=(5, 4, 3), fan_in=1, seed=3)
    s = compile_schedule(topo, lanes)
    dut = Sequencer(s, engine_timing(DEFAULT_FORMAT.acc_width, DEFAULT_FORMAT.width))
    names = ("op", "e", "j", "rd_e", "rd_row", "wr_e", "wr_j", "wr_row")
    words = []        # the control word of each clock; a lane's copy has it a clock later

    async def bench(ctx):
        for _ in range(2):
            ctx.set(dut.steps, 2)
            ctx.set(dut.cmd_op, OP_FORWARD)
            ctx.set(dut.cmd, 1)
            await ctx.tick()
            ctx.set(dut.cmd, 0)
            while True:
                words.append({n: ctx.get(dut.ctl[n]) for n in names})
                await ctx.tick()
                if ctx.get(dut.done):
                    break
        for _ in range(NEURON["write"] + 2):
            words.append({n: ctx.get(dut.ctl[n]) for n in names})
            await ctx.tick()
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    checked = {"read": 0, "write": 0}
    for i, word in enumerate(words):
        for stage, fields in (("read", ("rd_e", None, "rd_row")),
                              ("write", ("wr_e", "wr_j", "wr_row"))):
            k = i - NEURON[stage]       # the lane's copy of word i is at its stage 0 at
            if k < 0 or words[k]["op"] != ISSUE_NEURON:    # clock i + 1: stage s at i + 1 + s
                continue
            e, j = words[k]["e"], words[k]["j"]
            assert word[fields[0]] == e and word[fields[2]] == e * s.nb + j
            if fields[1]:
                assert word[fields[1]] == j
            checked[stage] += 1
    # every neuron-phase row of the four steps, at both stages
    assert checked["read"] == checked["write"] == 4 * 5 * s.nb
