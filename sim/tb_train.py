"""cocotb bench of learning on the chip (``wuxing_network`` of any ``--arch``; the unrolled one
with constant K) against golden.onchip.ChipTrainer (issue #10).

Per batch size 2**j of WUXING_BATCH_LOG2 (e.g. "0,2"): C back to the design's reset values,
the counters set to 0, ``batch_log2`` written; then WUXING_TRAIN_BATCHES batches of
TRAIN_SAMPLE: per sample the 8-bit pixels through region 8 and the label, the command through
the command register (the host's way), and read back: the error (region 1) and
predicted/correct/samples/batch_fill after every sample, every C after every batch. Then
WUXING_EVAL_SAMPLES EVAL_SAMPLE commands (the counters). The clocks of each command are
compared with the scheduler's prediction (the manifest's ``cycles``: train_sample,
eval_sample; the engine's: the unrolled network has no clock prediction, its clocks are
reported). Every value is an integer compared with ChipTrainer on the same samples.

Environment: WUXING_DESIGN, WUXING_SEED, WUXING_BATCH_LOG2, WUXING_TRAIN_BATCHES,
WUXING_EVAL_SAMPLES, WUXING_REPORT.
"""
from __future__ import annotations

import os
import time

import cocotb
import numpy as np

from wuxing.golden.onchip import ChipTrainer
from wuxing.hdl.generate import load_manifest
from wuxing.hdl.network import (INDEX_BITS, INFO, OP_EVAL_SAMPLE, OP_TRAIN_SAMPLE,
                                REGION_PIXELS, address)

from .checker import Checker
from .tb_network import NetworkTB

COUNTERS = ("predicted", "correct", "samples", "batch_fill")


@cocotb.test()
async def training_matches_golden(dut):
    design, man = load_manifest(os.environ["WUXING_DESIGN"])
    model = design.model()
    t = design.topology
    L, n_in, n_out = t.n_links, t.layers[0], t.layers[-1]
    rng = np.random.default_rng(int(os.environ.get("WUXING_SEED", "0")))
    chk = Checker(f"on-chip training {t.spec()['name']} ({t.n_neurons} neurons, {L} links)")
    tb = NetworkTB(dut, int(man.get("read_latency", 1)))
    await tb.reset()
    predicted = man.get("cycles")     # the engine's clock prediction
    c0 = np.asarray(design.c_init, np.int64)
    batches = int(os.environ.get("WUXING_TRAIN_BATCHES", "3"))
    n_eval = int(os.environ.get("WUXING_EVAL_SAMPLES", "3"))
    wall = time.perf_counter()
    chk.extra["c_compared"] = 0
    for j in (int(v) for v in os.environ.get("WUXING_BATCH_LOG2", "0,2").split(",")):
        run = f"batch-{1 << j}"
        await tb.write_many("coef", c0)
        await tb.write(address("info", INFO["batch_log2"]), j)
        await tb.write(address("info", INFO["correct"]), 0)
        await tb.write(address("info", INFO["samples"]), 0)
        gold = ChipTrainer(model, c0, batch_log2=j)
        n = batches << j
        pixels = rng.integers(0, 256, (n + n_eval, n_in))
        labels = rng.integers(0, n_out, n + n_eval)
        for k, (px, y) in enumerate(zip(pixels, labels)):
            train = k < n
            for i, p in enumerate(px):
                await tb.write((REGION_PIXELS << INDEX_BITS) | i, p)
            await tb.write(address("info", INFO["label"]), y)
            x = model.pixel_to_int(px)
            if train:
                clocks = await tb.command(OP_TRAIN_SAMPLE, register=True)
                ended = gold.train_sample(x, int(y))
                chk.check(run, k, "error", await tb.read_region("error", n_out),
                          gold.error[0].tolist())
                if predicted:
                    chk.check(run, k, "clocks", clocks, predicted["train_sample"])
                chk.extra["train_clocks"] = clocks
                if ended:
                    chk.check(run, k, "C", await tb.read_region("coef", L), gold.C.tolist())
                    chk.extra["c_compared"] += L
            else:
                clocks = await tb.command(OP_EVAL_SAMPLE, register=True)
                gold.eval_sample(x, int(y))
                if predicted:
                    chk.check(run, k, "clocks", clocks, predicted["eval_sample"])
                chk.extra["eval_clocks"] = clocks
            chk.check(run, k, "counters",
                      await tb.read_many([address("info", INFO[c]) for c in COUNTERS]),
                      [gold.predicted, gold.correct, gold.samples, gold.batch_fill])
        chk.extra.setdefault("batches", []).append(
            dict(batch=1 << j, samples=n, eval_samples=n_eval, correct=gold.correct,
                 changed_c=int(np.sum(gold.C != c0))))
        chk.run_done(run)
    chk.extra["compare_cycles"] = tb.cycles
    chk.extra["compare_seconds"] = time.perf_counter() - wall
    chk.write()
    dut._log.info(chk.summary())
    for msg in chk.messages():
        dut._log.error(msg)
    assert chk.ok, "\n".join([chk.summary(), *chk.messages()])
