"""A testbench helper shared by the network tests (not a test module): drive the control port
of a Network or NetworkEngine (SerialNetwork included) through a forward run, a reverse run
and a BSP update."""
import numpy as np
from amaranth.sim import Simulator

from wuxing.golden.config import RunConfig
from wuxing.golden.fixedpoint import DEFAULT_FORMAT
from wuxing.golden.network import FixedModel
from wuxing.hdl.fixed import hw_constants
from wuxing.hdl.network import INFO, address


def port_access(ctx, dut):
    """(write, read): one control-port write of one clock; one read, ``read_latency``
    clocks."""
    async def write(addr, value):
        ctx.set(dut.addr, addr)
        ctx.set(dut.wdata, int(value))
        ctx.set(dut.we, 1)
        await ctx.tick()
        ctx.set(dut.we, 0)

    async def read(addr):
        ctx.set(dut.addr, addr)
        await ctx.tick().repeat(dut.read_latency)
        return ctx.get(dut.rdata)
    return write, read


def run_network(dut, c_int, x_int, err_int, steps):
    got = {}
    N, L = dut.topology.n_neurons, dut.topology.n_links

    async def bench(ctx):
        write, read = port_access(ctx, dut)

        async def command(op):
            ctx.set(dut.op, op)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                cycles += 1
            return cycles

        got["magic"] = await read(address("info", INFO["magic"]))
        await write(address("info", INFO["steps"]), steps)
        for l, c in enumerate(c_int):
            await write(address("coef", l), c)
        for k, v in enumerate(err_int):
            await write(address("error", k), v)
        # input 0 last, in the clock before the start: the first input the run loads
        for i in reversed(range(len(x_int))):
            await write(address("input", i), x_int[i])
        got["fwd_cycles"] = await command(0)
        got["S"] = [await read(address("fwd_integral", k)) for k in range(5 * N)]
        got["out"] = [await read(address("output", k)) for k in range(len(err_int))]
        got["over_f"] = [await read(address("overflow", g)) for g in range(N)]
        got["rev_cycles"] = await command(1)
        got["R"] = [await read(address("rev_integral", k)) for k in range(5 * N)]
        got["over_r"] = [await read(address("overflow", g)) for g in range(N)]
        got["bsp_cycles"] = await command(2)
        got["C"] = [await read(address("coef", l)) for l in range(L)]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


def compare_with_golden(make_dut, topo, steps, seed, fmt=DEFAULT_FORMAT):
    """``make_dut(hw, c_init)`` run forward, reverse and BSP through its control port and in
    FixedModel, with random C over the whole range (two at the clamps) and inputs beyond the
    state range: the first stimulus from ``seed`` on that saturates a state. Returns (values
    compared, mismatches, the dut, its results, (forward, reverse, C))."""
    cfg = RunConfig(steps=steps)
    hw = hw_constants(cfg, fmt=fmt)
    model = FixedModel(topo, cfg, fmt=fmt)
    L = topo.n_links
    for seed in range(seed, seed + 100):
        rng = np.random.default_rng(seed)
        c_int = rng.integers(hw.c_lo, hw.c_hi + 1, L)
        c_int[0], c_int[-1] = hw.c_hi, hw.c_lo
        x_int = hw.fmt.to_int(rng.uniform(-1, 12, topo.layers[0]))
        err_int = hw.fmt.to_int(rng.uniform(-8, 8, topo.layers[-1]))
        if (model.forward(c_int, x_int).overflow.any()
                or model.reverse(c_int, err_int).overflow.any()):
            break
    dut = make_dut(hw, rng.integers(hw.c_lo, hw.c_hi + 1, L))
    got = run_network(dut, c_int, x_int, err_int, steps)
    got["err"] = list(err_int)
    fwd, rev = model.forward(c_int, x_int), model.reverse(c_int, err_int)
    want = {"S": fwd.S.reshape(-1).tolist(), "out": model.outputs(fwd)[0].tolist(),
            "over_f": fwd.overflow[0].astype(int).tolist(), "R": rev.S.reshape(-1).tolist(),
            "over_r": rev.overflow[0].astype(int).tolist(),
            "C": model.bsp_update(c_int, fwd.S, rev.S).tolist()}
    assert all(len(got[k]) == len(want[k]) for k in want)
    compared = sum(len(v) for v in want.values())
    mismatches = sum(int(a != b) for k in want for a, b in zip(got[k], want[k]))
    return compared, mismatches, dut, got, (fwd, rev, c_int)
