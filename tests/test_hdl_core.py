# amaranth: UnusedElaboratable=no
# (the argument checks construct cores that raise before they could be used)
"""Fast checks of NeuronCore and Synapse in amaranth.sim against sim/reference.py."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from wuxing.golden.config import RunConfig
from wuxing.golden.fixedpoint import FixedFormat
from wuxing.golden.neuron import NeuronParams
from wuxing.hdl.fixed import hw_constants
from wuxing.hdl.neuron import NeuronCore
from wuxing.hdl.synapse import BspPipeline, Synapse
from wuxing.sim.reference import core_reference, synapse_bsp, synapse_weight


def run_core(dut, x, w, reverse, k_writes=()):
    """Drive the core in amaranth.sim; returns per step (E, D-before, integral, overflow)."""
    out = []

    async def bench(ctx):
        for addr, value in k_writes:
            ctx.set(dut.k_we, 1)
            ctx.set(dut.k_addr, addr)
            ctx.set(dut.k_wdata, value)
            await ctx.tick()
        if k_writes:
            ctx.set(dut.k_we, 0)
        ctx.set(dut.reverse, int(reverse))
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for xt, wt in zip(x, w):
            for i in range(5):
                ctx.set(dut.x[i], int(xt[i]))
                ctx.set(dut.w[i], int(wt[i]))
            d_before = [ctx.get(dut.d[i]) for i in range(5)]
            ctx.set(dut.step, 1)
            await ctx.tick()
            ctx.set(dut.step, 0)
            while not ctx.get(dut.done):
                await ctx.tick()
            integral = dut.r if reverse else dut.s
            out.append(([ctx.get(dut.e[i]) for i in range(5)], d_before,
                        [ctx.get(integral[i]) for i in range(5)], bool(ctx.get(dut.overflow))))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out


def compare_core(hw, out, ref):
    compared = 0
    for t, (e, d, s, o) in enumerate(out):
        for name, got, want in (("E", e, ref.E[t]), ("D", d, ref.D[t]),
                                ("integral", s, ref.integral[t])):
            assert got == list(want), f"step {t} {name}: RTL {got} != reference {list(want)}"
            compared += 5
        assert o == ref.overflow[t], f"step {t} overflow: RTL {o} != reference {ref.overflow[t]}"
        compared += 1
    return compared


def stimulus(hw, steps, seed, scale):
    rng = np.random.default_rng(seed)
    fmt = hw.fmt
    x = rng.integers(-scale, scale + 1, size=(steps, 5))
    wmax = 1 << (2 * fmt.width - 2)
    w = rng.integers(-wmax // 64, wmax // 64, size=(steps, 5))
    return x, w


@pytest.mark.parametrize("mult, pipeline", [("parallel", False), ("shared", False),
                                            ("parallel", True)])
@pytest.mark.parametrize("reverse", [False, True])
def test_core_matches_reference(mult, pipeline, reverse):
    hw = hw_constants()
    x, w = stimulus(hw, 12, seed=1 + reverse, scale=hw.fmt.one)
    out = run_core(NeuronCore(hw, mult=mult, pipeline=pipeline), x, w, reverse)
    assert compare_core(hw, out, core_reference(hw, x, w, reverse)) == 12 * 16


def test_core_saturates_and_sets_overflow():
    hw = hw_constants()
    fmt = hw.fmt
    # full-scale positive input and weighted input on every element
    x = np.full((10, 5), fmt.max_int)
    w = np.full((10, 5), (1 << (2 * fmt.width - 1)) - 1)
    out = run_core(NeuronCore(hw, pipeline=True), x, w, False)
    ref = core_reference(hw, x, w, False)
    compare_core(hw, out, ref)
    assert out[-1][3] and max(out[-1][0]) == hw.hi
    x = np.full((10, 5), fmt.min_int)  # full-scale negative
    w = np.zeros((10, 5), dtype=np.int64)
    out = run_core(NeuronCore(hw), x, w, True)
    compare_core(hw, out, core_reference(hw, x, w, True))
    assert out[-1][3] and min(out[-1][0]) == hw.lo


def test_core_zero_input_stays_at_fixed_point():
    hw = hw_constants()
    z = np.zeros((5, 5), dtype=np.int64)
    out = run_core(NeuronCore(hw, mult="shared"), z, z, False)
    compare_core(hw, out, core_reference(hw, z, z, False))
    assert all(e == list(hw.b0_int[False]) for e, *_ in out)


@pytest.mark.parametrize("mult", ["parallel", "shared"])
def test_core_k_registers(mult):
    neuron = NeuronParams(k1=(1.0, 0.9, 1.1, 1.0, 0.8), k2=0.5, k3=(0.5, 0.4, 0.6, 0.5, 0.5))
    hw = hw_constants(neuron=neuron)
    x, w = stimulus(hw, 8, seed=3, scale=hw.fmt.one // 2)
    new_k = ((4000, 4100, 4096, 3900, 4200), (2000, 2100, 2048, 1900, 2300),
             (2048, 1800, 2300, 2048, 2100))
    writes = [(5 * j + i, new_k[j][i]) for j in range(3) for i in range(5)]
    for reverse in (False, True):
        out = run_core(NeuronCore(hw, mult=mult, k_mode="reg"), x, w, reverse, writes)
        compare_core(hw, out, core_reference(hw, x, w, reverse, k=new_k))
    # without writes the registers hold the golden constants
    out = run_core(NeuronCore(hw, mult=mult, k_mode="reg"), x, w, True)
    compare_core(hw, out, core_reference(hw, x, w, True))


def test_core_other_format_and_h():
    hw = hw_constants(RunConfig(state_lo=-3.0, state_hi=3.0, steps=40),
                      fmt=FixedFormat(width=12, frac=8, coef_extra=4, acc_width=20), h=0.125)
    assert hw.h_shift == 3
    x, w = stimulus(hw, 10, seed=5, scale=hw.fmt.one * 2)
    out = run_core(NeuronCore(hw), x, w, False)
    compare_core(hw, out, core_reference(hw, x, w, False))


def test_synapse_weight_and_bsp():
    hw = hw_constants()
    fmt = hw.fmt
    dut = Synapse(hw)
    rng = np.random.default_rng(7)
    big = fmt.acc_max
    cases = [(0, 0, 0, 0, 0), (hw.c_hi, big, big, fmt.max_int, fmt.min_int),
             (hw.c_lo, -big, big, fmt.min_int, fmt.max_int), (hw.c_hi - 3, 1 << 14, 1 << 14, 5, -5),
             (hw.c_lo + 3, -(1 << 14), 1 << 14, -7, 7)]
    # around the end of the atan table: x = |S*R| >> 12 near x_limit
    lim = hw.table.x_limit << hw.bsp_shift_in
    for p in (lim - (1 << 11) - 1, lim - (1 << 11), lim, lim + 12345):
        s = 1 << 20
        cases.append((0, s, -(-p // s), 100, -100))
    for _ in range(30):
        cases.append((int(rng.integers(hw.c_lo, hw.c_hi + 1)),
                      int(rng.integers(-(1 << 18), 1 << 18)), int(rng.integers(-(1 << 18), 1 << 18)),
                      int(rng.integers(fmt.min_int, fmt.max_int + 1)),
                      int(rng.integers(fmt.min_int, fmt.max_int + 1))))
    checked = []

    async def bench(ctx):
        for c, s, r, d_src, d_dst in cases:
            ctx.set(dut.c_we, 1)
            ctx.set(dut.c_wdata, c)
            await ctx.tick()
            ctx.set(dut.c_we, 0)
            ctx.set(dut.s_src, s)
            ctx.set(dut.r_dst, r)
            ctx.set(dut.d_src, d_src)
            ctx.set(dut.d_dst, d_dst)
            for rev in (0, 1):
                ctx.set(dut.reverse, rev)
                await ctx.delay(1e-9)
                assert ctx.get(dut.w) == synapse_weight(hw, c, d_src, d_dst, bool(rev))
            delta, c_new = synapse_bsp(hw, c, s, r)
            ctx.set(dut.bsp, 1)
            await ctx.tick()
            ctx.set(dut.bsp, 0)
            for _ in range(Synapse.bsp_latency - 2):   # the update is a pipeline
                await ctx.tick()
            assert ctx.get(dut.delta) == delta, (c, s, r)
            assert ctx.get(dut.c) == c, (c, s, r)
            await ctx.tick()
            assert ctx.get(dut.c) == c_new, (c, s, r)
            checked.append(c_new)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(checked) == len(cases)
    assert hw.c_hi in checked and hw.c_lo in checked  # both clamps reached


@pytest.mark.parametrize("kwargs, message", [
    (dict(fmt=FixedFormat(width=6, frac=4, coef_extra=2, acc_width=12)), "does not fit"),
    (dict(h=0.3), "power of two"),
    (dict(cfg=RunConfig(steps=5000)), "integral can overflow"),
    (dict(neuron=NeuronParams(k1=9.0, k2=0.5, k3=0.5)), "does not fit"),
])
def test_hw_constants_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        hw_constants(**kwargs)


def test_core_and_synapse_reject_bad_arguments():
    hw = hw_constants()
    with pytest.raises(ValueError, match="mult"):
        NeuronCore(hw, mult="serial")
    with pytest.raises(ValueError, match="k_mode"):
        NeuronCore(hw, k_mode="rom")
    with pytest.raises(ValueError, match="pipeline"):
        NeuronCore(hw, mult="shared", pipeline=True)
    with pytest.raises(TypeError, match="hw"):
        NeuronCore("hw")
    with pytest.raises(ValueError, match="table"):
        Synapse(hw, table="none")
    with pytest.raises(ValueError, match="c_init"):
        Synapse(hw, c_init=hw.c_hi + 1)
    with pytest.raises(ValueError, match="bsp must be one of own, shared"):
        Synapse(hw, bsp="none")
    with pytest.raises(ValueError, match="tags"):
        BspPipeline(hw, tags=0)


def test_constant_compares_every_value():
    """less_than_const / greater_than_const (the narrowed compares of saturate_expr) against
    Python's < and > for every value of small signed and unsigned operands and constants
    below, inside and above their range (aligned, unaligned, powers of two and their
    neighbours)."""
    from amaranth.hdl import Module, Signal, signed, unsigned
    from wuxing.hdl.fixed import greater_than_const, less_than_const, saturate_expr
    consts = (-200, -129, -128, -127, -64, -48, -40, -17, -16, -15, -5, -4, -3, -2, -1, 0, 1,
              2, 3, 4, 5, 7, 8, 12, 16, 31, 32, 40, 64, 96, 100, 126, 127, 128, 129, 300)
    m, probes = Module(), []
    for shape in (signed(8), unsigned(7), signed(5)):
        w = shape.width
        values = range(-(1 << (w - 1)), 1 << (w - 1)) if shape.signed else range(1 << w)
        for c in consts:
            x, lt, gt, sat = Signal(shape), Signal(), Signal(), Signal(signed(10))
            m.d.comb += [lt.eq(less_than_const(x, c)), gt.eq(greater_than_const(x, c)),
                         sat.eq(saturate_expr(x, min(c, 3), max(c, 3))[0])]
            probes.append((x, lt, gt, sat, c, values))
    wrong, compared = [], 0

    async def bench(ctx):
        nonlocal compared
        for x, lt, gt, sat, c, values in probes:
            for v in values:
                ctx.set(x, v)
                compared += 1
                want = (int(v < c), int(v > c), min(max(v, min(c, 3)), max(c, 3)))
                if (ctx.get(lt), ctx.get(gt), ctx.get(sat)) != want:
                    wrong.append((x.shape(), c, v))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    print(f"{compared} values compared, {len(wrong)} wrong")
    assert compared == 14976 and wrong == []
