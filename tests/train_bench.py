"""A testbench helper (not a test module): drive a NetworkEngine's learning commands through
its control port in amaranth.sim and compare with golden.onchip.ChipTrainer."""
import numpy as np
from amaranth.sim import Simulator

from wuxing.golden.onchip import ChipTrainer
from wuxing.hdl.network import (INFO, OP_EVAL_SAMPLE, OP_TRAIN_SAMPLE, REGION_PIXELS,
                                address)
from wuxing.hdl.network import INDEX_BITS
from control_port_bench import port_access


def run_training(dut, model, c_int, pixels, labels, batch_log2, step_exp=None, evals=()):
    """TRAIN_SAMPLE on each (pixels, label) (pixels through region 8), then EVAL_SAMPLE on
    each of ``evals``; the chip's C read after every batch, the counters after every sample,
    the error after every TRAIN_SAMPLE. Returns (got, want): dicts of lists."""
    got = {"C": [], "counters": [], "err": [], "train_cycles": [], "eval_cycles": []}
    want = {"C": [], "counters": [], "err": []}
    gold = ChipTrainer(model, c_int, batch_log2, step_exp)
    L, n_out = dut.topology.n_links, dut.topology.layers[-1]
    names = ("predicted", "correct", "samples", "batch_fill")

    async def bench(ctx):
        write, read = port_access(ctx, dut)

        async def command(op):      # through the command register, as the host does
            await write(address("info", INFO["command"]), op)
            cycles = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                cycles += 1
            return cycles

        await write(address("info", INFO["steps"]), model.cfg.steps)
        for l, c in enumerate(c_int):
            await write(address("coef", l), c)
        await write(address("info", INFO["batch_log2"]), batch_log2)
        if step_exp is not None:
            await write(address("info", INFO["step_exp"]), step_exp)
        got["step_exp"] = await read(address("info", INFO["step_exp"]))
        for op, samples in ((OP_TRAIN_SAMPLE, zip(pixels, labels)), (OP_EVAL_SAMPLE, evals)):
            for px, y in samples:
                for i, p in enumerate(px):
                    await write((REGION_PIXELS << INDEX_BITS) | i, p)
                await write(address("info", INFO["label"]), y)
                x = model.pixel_to_int(np.asarray(px))
                if op == OP_TRAIN_SAMPLE:
                    got["train_cycles"].append(await command(op))
                    ended = gold.train_sample(x, int(y))
                    got["err"].append([await read(address("error", k))
                                       for k in range(n_out)])
                    want["err"].append([int(v) for v in gold.error[0]])
                    if ended:
                        got["C"].append([await read(address("coef", l)) for l in range(L)])
                        want["C"].append([int(v) for v in gold.C])
                else:
                    got["eval_cycles"].append(await command(op))
                    gold.eval_sample(x, int(y))
                got["counters"].append([await read(address("info", INFO[k])) for k in names])
                want["counters"].append([gold.predicted, gold.correct, gold.samples,
                                         gold.batch_fill])
        got["C_end"] = [await read(address("coef", l)) for l in range(L)]
        want["C_end"] = [int(v) for v in gold.C]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got, want


def compare(got, want):
    """(values compared, mismatches) of the C, counters and errors of :func:`run_training`."""
    compared = mismatches = 0
    for key in ("C", "counters", "err"):
        assert len(got[key]) == len(want[key]) > 0
        for g, w in zip(got[key], want[key]):
            compared += len(w)
            mismatches += sum(int(a != b) for a, b in zip(g, w))
    return compared, mismatches
