"""A testbench helper shared by the network tests (not a test module): drive the control port
of a Network or SerialNetwork through a forward run, a reverse run and a BSP update."""
from amaranth.sim import Simulator

from wuxing.hdl.network import INFO, address


def run_network(dut, c_int, x_int, err_int, steps):
    got = {}
    N, L = dut.topology.n_neurons, dut.topology.n_links

    async def bench(ctx):
        async def write(addr, value):
            ctx.set(dut.addr, addr)
            ctx.set(dut.wdata, int(value))
            ctx.set(dut.we, 1)
            await ctx.tick()
            ctx.set(dut.we, 0)

        async def read(addr):
            ctx.set(dut.addr, addr)
            await ctx.tick()
            return ctx.get(dut.rdata)

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
        for i, v in enumerate(x_int):
            await write(address("input", i), v)
        for k, v in enumerate(err_int):
            await write(address("error", k), v)
        got["fwd_cycles"] = await command(0)
        got["S"] = [await read(address("fwd_integral", k)) for k in range(5 * N)]
        got["out"] = [await read(address("output", k)) for k in range(len(err_int))]
        got["over_f"] = [await read(address("overflow", g)) for g in range(N)]
        await command(1)
        got["R"] = [await read(address("rev_integral", k)) for k in range(5 * N)]
        got["over_r"] = [await read(address("overflow", g)) for g in range(N)]
        got["bsp_cycles"] = await command(2)
        got["C"] = [await read(address("coef", l)) for l in range(L)]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got
