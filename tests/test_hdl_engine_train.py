"""Learning on the chip (issue #10) in amaranth.sim: the error unit and the argmax/counter
unit alone against golden, then the TRAIN_SAMPLE / EVAL_SAMPLE commands of the engine and of
the unrolled Network over several batches (batch 1 and 4, the error formed on the chip, pixels
through region 8): every C after every batch, the error, predicted/correct/samples/batch_fill
after every sample equal to golden.onchip.ChipTrainer, and the engine's clocks equal to the
scheduler's."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from wuxing.golden.config import RunConfig
from wuxing.golden.fixedpoint import DEFAULT_FORMAT, LEARNING_FORMAT
from wuxing.golden.network import FixedModel
from wuxing.golden.topology import Topology
from wuxing.hdl.engine import NetworkEngine
from wuxing.hdl.learning import ArgmaxCounter, ErrorUnit
from wuxing.hdl.fixed import hw_constants
from wuxing.hdl.network import INDEX_BITS, INFO, REGION_PIXELS, Network, address
from control_port_bench import port_access
from train_bench import compare, run_training


def chip_config(steps=20):
    # outputs that differ from sample to sample (the predicted class changes), a step that
    # moves C in a few batches
    return RunConfig(steps=steps, input_scale=16.0, step=2.0 ** -2, output_mean=False)


@pytest.mark.parametrize("cfg", [
    RunConfig(steps=20), RunConfig(steps=24, err_scale=4.0),
    RunConfig(steps=20, output_mean=False, err_scale=0.25, target=0.75)])
def test_error_unit_matches_golden(cfg):
    hw = hw_constants(cfg)
    model = FixedModel(Topology(layers=(1, 3)), cfg)
    fmt = hw.fmt
    rng = np.random.default_rng(1)
    S = np.concatenate([[0, fmt.acc_max, fmt.acc_min, 1, -1],
                        rng.integers(-2 ** 12, 2 ** 12, 60),
                        rng.integers(fmt.acc_min, fmt.acc_max + 1, 60)])
    target = rng.integers(0, 2, S.size)
    unit = ErrorUnit(hw)
    got = []

    async def bench(ctx):           # one value a clock, the errors ErrorUnit.latency later
        for k in range(S.size + unit.latency):
            if k < S.size:
                ctx.set(unit.integral, int(S[k]))
                ctx.set(unit.is_target, int(target[k]))
            await ctx.tick()
            if k >= unit.latency - 1 and len(got) < S.size:
                got.append(ctx.get(unit.error))
    sim = Simulator(unit)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # one output per sample: label 0 = target, an output of a 3-class net with label 1 not
    want = [int(model.error_from_outputs(np.array([[s, 0, 0]]), [0 if t else 1])[0, 0])
            for s, t in zip(S, target)]
    assert len(got) == S.size == 125 and got == want
    assert fmt.min_int in want and fmt.max_int in want     # both saturations reached


def test_argmax_counter_matches_golden_predict():
    rng = np.random.default_rng(2)
    n = 5
    passes = [rng.integers(-3, 4, n) for _ in range(30)]        # many ties
    passes += [np.full(n, 7), np.array([-9, -9, -2, -2, -9])]
    labels = rng.integers(0, n, len(passes))
    unit = ArgmaxCounter(n, 24, 32)
    got = []

    async def bench(ctx):
        ctx.set(unit.wdata, 1000)
        ctx.set(unit.set_correct, 1)
        ctx.set(unit.set_samples, 1)
        await ctx.tick()
        ctx.set(unit.set_correct, 0)
        ctx.set(unit.set_samples, 0)
        for vals, y in zip(passes, labels):
            ctx.set(unit.label, int(y))
            for i, v in enumerate(vals):
                ctx.set(unit.value, int(v))
                ctx.set(unit.index, i)
                ctx.set(unit.valid, 1)
                await ctx.tick()
            ctx.set(unit.valid, 0)
            ctx.set(unit.finish, 1)
            await ctx.tick()
            ctx.set(unit.finish, 0)
            got.append((ctx.get(unit.predicted), ctx.get(unit.correct), ctx.get(unit.samples)))
    sim = Simulator(unit)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    pred = FixedModel.predict(np.array(passes))
    correct = 1000 + np.cumsum(pred == labels)
    want = [(int(p), int(c), 1001 + k) for k, (p, c) in enumerate(zip(pred, correct))]
    assert got == want and len(got) == 32
    assert 0 < int(np.sum(pred == labels)) < 32


# a small odd-sized network, fan-in 1 and 2, P = 1 and 3, batches of 1 and 4; the unrolled
# Network (lanes None: one NeuronCore a neuron, one Synapse a link) with fan-in 1 and 2
@pytest.mark.parametrize("fan_in, lanes, batch_log2, fmt_name, topo_seed", [
    (1, 1, 2, "default", 2), (1, 3, 0, "default", 2), (2, 3, 2, "default", 1),
    (2, 1, 0, "learning", 1), (1, 3, 2, "learning", 2),
    (1, None, 0, "default", 2), (2, None, 2, "default", 1), (2, None, 2, "learning", 2)])
def test_engine_trains_on_chip(fan_in, lanes, batch_log2, fmt_name, topo_seed):
    fmt = LEARNING_FORMAT if fmt_name == "learning" else DEFAULT_FORMAT
    topo = Topology(layers=(5, 4, 3), fan_in=fan_in, seed=topo_seed)
    cfg = chip_config()
    hw = hw_constants(cfg, fmt=fmt)
    model = FixedModel(topo, cfg, fmt=fmt)
    rng = np.random.default_rng(topo_seed)
    c_int = rng.integers(hw.c_lo, hw.c_hi + 1, topo.n_links)
    B = 1 << batch_log2
    n = 3 * B if B > 1 else 4
    pixels = rng.integers(0, 256, (n + 3, 5))
    labels = rng.integers(0, 3, n + 3)
    dut = Network(topo, hw) if lanes is None else NetworkEngine(topo, hw, lanes=lanes)
    got, want = run_training(dut, model, c_int, pixels[:n], labels[:n], batch_log2,
                             evals=list(zip(pixels[n:], labels[n:])))
    compared, mismatches = compare(got, want)
    arch = "unrolled" if lanes is None else f"P={lanes}"
    print(f"fan-in {fan_in}, {arch}, batch {B}, {fmt_name}: {len(want['C'])} batches, "
          f"{compared} values compared (C {sum(map(len, want['C']))}), {mismatches} "
          f"mismatches")
    assert mismatches == 0 and got["C_end"] == want["C_end"]
    assert len(want["C"]) == (3 if B > 1 else 4)
    assert want["C"][-1] != c_int.tolist()                        # learning changed C
    preds = [c[0] for c in want["counters"]]
    assert len(set(preds)) > 1 and 0 < want["counters"][-1][1] < n + 3
    if lanes is not None:       # the engine's clocks are predicted
        cyc = dut.cycles()
        assert set(got["train_cycles"]) == {cyc["train_sample"]}
        assert set(got["eval_cycles"]) == {cyc["eval_sample"]}
    assert got["step_exp"] == hw.step_exp                          # the reset value


@pytest.mark.parametrize("arch", ["engine", "unrolled"])
def test_engine_learning_registers(arch):
    """The registers read back; batch_log2 outside 0..8 is ignored; a negative step_exp;
    the counters set by the host; region 8 reads 0 and its write lands as the pixel's input
    integer; a step_exp register that moves C further than the RunConfig's."""
    topo = Topology(layers=(4, 3, 2), seed=3)
    cfg = RunConfig(steps=4)
    hw = hw_constants(cfg)
    dut = NetworkEngine(topo, hw, lanes=2) if arch == "engine" else Network(topo, hw)
    seen = {}

    async def bench(ctx):
        write, read = port_access(ctx, dut)

        def info(name):
            return address("info", INFO[name])
        await write(info("batch_log2"), 8)
        await write(info("batch_log2"), 9)            # ignored
        await write(info("batch_log2"), -1)           # ignored
        await write(info("step_exp"), -7)
        await write(info("label"), 1)
        await write(info("correct"), 41)
        await write(info("samples"), 99)
        seen["regs"] = [await read(info(k)) for k in ("batch_log2", "step_exp", "label",
                                                      "correct", "samples", "batch_fill",
                                                      "predicted")]
        await write((REGION_PIXELS << INDEX_BITS) | 2, 200)
        seen["pixel_read"] = await read((REGION_PIXELS << INDEX_BITS) | 2)
        seen["input"] = await read(address("input", 2))
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen["regs"] == [8, -7, 1, 41, 99, 0, 0]
    assert seen["pixel_read"] == 0
    assert seen["input"] == FixedModel(topo, cfg).pixel_table[200] != 0


def test_engine_step_register_scales_the_update():
    """TRAIN_SAMPLE with the step register at RunConfig's step and at 2**4 times it: each
    equal to golden with that step_exp, and different from each other."""
    topo = Topology(layers=(5, 4, 3), seed=2)
    cfg = chip_config(steps=8)
    hw = hw_constants(cfg)
    model = FixedModel(topo, cfg)
    rng = np.random.default_rng(4)
    c_int = rng.integers(hw.c_lo // 4, hw.c_hi // 4, topo.n_links)
    pixels, labels = rng.integers(0, 256, (2, 5)), rng.integers(0, 3, 2)
    results = []
    for step_exp in (None, hw.step_exp + 4):
        got, want = run_training(NetworkEngine(topo, hw, lanes=3), model, c_int, pixels,
                                 labels, 0, step_exp=step_exp)
        assert got["C"] == want["C"] and len(want["C"]) == 2
        results.append(want["C"][-1])
    assert results[0] != results[1]
