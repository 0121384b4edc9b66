"""Learning on the chip (issue #10) on the unrolled Network in amaranth.sim, beside the
TRAIN_SAMPLE / EVAL_SAMPLE batches of tests/test_hdl_engine_train.py: the batch-one BSP
command (op 2) with the step register; no learning with K registers at region 8."""
import numpy as np
from amaranth.sim import Simulator

from wuxing.golden.network import FixedModel
from wuxing.golden.topology import Topology
from wuxing.hdl.fixed import hw_constants
from wuxing.hdl.network import INFO, OP_BSP, OP_FORWARD, OP_REVERSE, Network, address
from control_port_bench import port_access
from test_hdl_engine_train import chip_config


def test_unrolled_bsp_command_takes_the_step_register():
    """Op 2 (BSP of a batch of one from the host's error) with the step register at the
    RunConfig's step and at 2**3 times it: golden ``bsp_update`` with that step_exp; the
    accumulators are neither read nor changed (a TRAIN_SAMPLE batch of one after it)."""
    topo = Topology(layers=(3, 2), seed=1)
    cfg = chip_config(steps=8)
    hw = hw_constants(cfg)
    model = FixedModel(topo, cfg)
    rng = np.random.default_rng(5)
    c_int = rng.integers(hw.c_lo // 2, hw.c_hi // 2, topo.n_links)
    x = model.input_to_int(rng.uniform(0, 1, (1, 3)))[0]
    err = rng.integers(-2000, 2000, 2)
    want, got = [], []
    for step_exp in (hw.step_exp, hw.step_exp + 3):
        fwd = model.forward(c_int, x[None, :])
        rev = model.reverse(c_int, err[None, :])
        want.append(model.bsp_update(c_int, fwd.S, rev.S, step_exp).tolist())
    dut = Network(topo, hw)

    async def bench(ctx):
        write, read = port_access(ctx, dut)

        async def command(op):
            await write(address("info", INFO["command"]), op)
            while not ctx.get(dut.done):
                await ctx.tick()
        for step_exp in (hw.step_exp, hw.step_exp + 3):
            await write(address("info", INFO["step_exp"]), step_exp)
            for l, c in enumerate(c_int):
                await write(address("coef", l), int(c))
            for i, v in enumerate(x):
                await write(address("input", i), int(v))
            await command(OP_FORWARD)
            for k, v in enumerate(err):
                await write(address("error", k), int(v))
            await command(OP_REVERSE)
            await command(OP_BSP)
            got.append([await read(address("coef", l)) for l in range(topo.n_links)])
        got.append([ctx.get(s.acc) for s in dut.synapses])
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got[:2] == want and want[0] != want[1] != c_int.tolist()
    assert got[2] == [0] * topo.n_links
    print(f"op 2 with two steps: {2 * topo.n_links} C compared, equal")


def test_unrolled_network_with_k_registers_does_not_learn():
    from amaranth.back import rtlil
    cell = "cell \\top.learning"                    # the learning registers' instance
    net = Network(Topology(layers=(2, 2)), hw_constants(), k_mode="reg")
    assert not net.learns and cell not in rtlil.convert(net)
    net = Network(Topology(layers=(2, 2)), hw_constants())
    assert net.learns and cell in rtlil.convert(net)
