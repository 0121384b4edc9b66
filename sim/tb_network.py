"""cocotb bench of a whole network (``wuxing_network``) against golden FixedModel.

Per case: load C, the input and the error vectors through the control port, run forward, read
every forward integral, the outputs and the overflow flags; run reverse, read every reverse
integral and flag; run the BSP update, read every C. For the network engine the clocks of each
command are compared with the scheduler's prediction (the manifest's ``cycles``). Each value is compared (integer equality)
with ``golden.network.FixedModel`` on the same topology, settings and coefficients. The design
runs each command on its own: Python only loads the stimulus and reads the results.

Environment: WUXING_DESIGN (folder with manifest.json), WUXING_SEED, WUXING_RANDOM_CASES,
WUXING_EDGE_CASES (0: only the random cases),
WUXING_SPEED_STEPS (optional: one long forward run, timed), WUXING_REPORT (JSON-lines output).
"""
from __future__ import annotations

import os
import time

import cocotb
import numpy as np

from wuxing.hdl.generate import load_manifest
from wuxing.hdl.network import INFO, MAGIC, OP_BSP, OP_FORWARD, OP_REVERSE, address

from .checker import Checker
from .wrapper import Clocking


class NetworkTB:
    """Drives and reads the Network control port (docs/HARDWARE.md) inside the co-simulation
    wrapper (sim/wrapper.py): every access is one request of one clock, a command one request
    that runs until ``done``."""

    def __init__(self, dut, read_latency: int = 1):
        self.dut = dut
        self.clock = Clocking(dut)
        self.cycles = 0  # clocks of the commands
        self.read_latency = read_latency

    async def reset(self):
        d = self.dut
        self.clock.idle()
        d.rst.value = 1
        d.we.value = 0
        d.start.value = 0
        d.op.value = 0
        d.addr.value = 0
        d.wdata.value = 0
        await self.clock.run(2)
        d.rst.value = 0
        await self.clock.run(1)

    async def write(self, addr: int, value: int):
        d = self.dut
        d.addr.value = addr
        d.wdata.value = int(value)
        d.we.value = 1
        await self.clock.run(1)
        d.we.value = 0

    async def write_many(self, region: str, values):
        for i, v in enumerate(values):
            await self.write(address(region, i), v)

    async def read_many(self, addrs) -> list:
        """Pipelined reads: one address per clock, rdata ``read_latency`` clocks later."""
        d, lat = self.dut, self.read_latency
        addrs = list(addrs)
        out = []
        for i in range(len(addrs) + lat - 1):
            if i < len(addrs):
                d.addr.value = addrs[i]
            await self.clock.run(1)
            if i >= lat - 1:
                out.append(d.rdata.value.to_signed())
        return out

    async def read_region(self, region: str, n: int) -> list:
        return await self.read_many([address(region, i) for i in range(n)])

    async def command(self, op: int, register: bool = False) -> int:
        """Start a command (with ``start`` and ``op``, or ``register``: a write of the
        command register, the host's way and the only one for op 4) and wait for done (the
        design runs alone); returns its clocks, the strobe's included."""
        d = self.dut
        if register:
            d.addr.value = address("info", INFO["command"])
            d.wdata.value = op
            d.we.value = 1
        else:
            d.op.value = op
            d.start.value = 1
        cycles = await self.clock.run(1)
        d.start.value = 0
        d.we.value = 0
        if not d.done.value:
            cycles += await self.clock.run_until("done")
        self.cycles += cycles
        return cycles


def _cases(design, model, rng, n_random, edge_cases=True):
    """(name, C, x, err) of the runs: edge cases (unless ``edge_cases`` is false), then random
    ones."""
    fmt, t = design.fmt, design.topology
    n_in, n_out, L = t.layers[0], t.layers[-1], t.n_links
    c0 = np.asarray(design.c_init, dtype=np.int64)
    cases = [("zero-input", c0, np.zeros(n_in, np.int64), np.zeros(n_out, np.int64)),
             ("full-scale", np.where(np.arange(L) % 2 == 0, model.c_hi, model.c_lo),
              np.full(n_in, fmt.max_int), np.full(n_out, fmt.min_int)),
             ("full-scale-negative", np.full(L, model.c_hi),
              np.full(n_in, fmt.min_int), np.full(n_out, fmt.max_int))]
    if not edge_cases:
        cases = []
    for k in range(n_random):
        c = rng.integers(model.c_lo, model.c_hi + 1, L)
        x = model.input_to_int(rng.uniform(0, 1, (1, n_in)))[0]
        err = fmt.to_int(rng.uniform(-1.5, 1.5, n_out))
        cases.append((f"random-{k}", c, x, err))
    return cases


@cocotb.test()
async def network_matches_golden(dut):
    design, man = load_manifest(os.environ["WUXING_DESIGN"])
    model = design.model()
    t, cfg = design.topology, design.cfg
    N, L = t.n_neurons, t.n_links
    n_in, n_out = t.layers[0], t.layers[-1]
    rng = np.random.default_rng(int(os.environ.get("WUXING_SEED", "0")))
    chk = Checker(f"network {t.spec()['name']} ({N} neurons, {L} links)")
    tb = NetworkTB(dut, int(man.get("read_latency", 1)))
    await tb.reset()

    info = await tb.read_many([address("info", INFO[k]) for k in
                               ("magic", "n_inputs", "n_outputs", "n_neurons", "n_links",
                                "steps")])
    chk.check("info", "-", "info", info, [MAGIC, n_in, n_out, N, L, cfg.steps])
    chk.check("reset", "-", "C", await tb.read_region("coef", L), list(design.c_init))
    chk.run_done("info")

    n_random = int(os.environ.get("WUXING_RANDOM_CASES", "1"))
    edge = os.environ.get("WUXING_EDGE_CASES", "1") != "0"
    predicted = man.get("cycles")     # the engine's scheduler: clocks of a run and a BSP
    wall = time.perf_counter()
    for name, c, x, err in _cases(design, model, rng, n_random, edge):
        await tb.write_many("coef", c)
        await tb.write_many("input", x)
        await tb.write_many("error", err)
        chk.check(name, "load", "C", await tb.read_region("coef", L), c.tolist())
        fwd = model.forward(c, x)
        rev = model.reverse(c, err)
        c_new = model.bsp_update(c, fwd.S, rev.S)

        cycles = dict(forward=await tb.command(OP_FORWARD))
        chk.check(name, f"forward after {cfg.steps}", "S",
                  await tb.read_region("fwd_integral", 5 * N), fwd.S.reshape(-1).tolist())
        chk.check(name, f"forward after {cfg.steps}", "output",
                  await tb.read_region("output", n_out), model.outputs(fwd)[0].tolist())
        chk.check(name, f"forward after {cfg.steps}", "overflow",
                  await tb.read_region("overflow", N), fwd.overflow[0].astype(int).tolist())
        cycles["reverse"] = await tb.command(OP_REVERSE)
        chk.check(name, f"reverse after {cfg.steps}", "R",
                  await tb.read_region("rev_integral", 5 * N), rev.S.reshape(-1).tolist())
        chk.check(name, f"reverse after {cfg.steps}", "overflow",
                  await tb.read_region("overflow", N), rev.overflow[0].astype(int).tolist())
        cycles["bsp"] = await tb.command(OP_BSP)
        chk.check(name, "bsp", "C", await tb.read_region("coef", L), c_new.tolist())
        if predicted:
            chk.check(name, "commands", "clocks", list(cycles.values()),
                      [predicted["run"], predicted.get("reverse_run", predicted["run"]),
                       predicted["bsp"]])
        chk.extra.setdefault("overflow_runs", 0)
        chk.extra["overflow_runs"] += int(fwd.overflow.any()) + int(rev.overflow.any())
        chk.extra.setdefault("clamped_c", 0)
        chk.extra["clamped_c"] += int(np.sum((c_new == model.c_lo) | (c_new == model.c_hi)))
        chk.extra.setdefault("cases", []).append(
            dict(name=name, C=c.tolist(), x=np.asarray(x).tolist(), err=np.asarray(err).tolist(),
                 cycles=cycles))
        chk.run_done(name)
    chk.extra["compare_cycles"] = tb.cycles
    chk.extra["requests"] = tb.clock.requests
    chk.extra["compare_seconds"] = time.perf_counter() - wall

    speed_steps = int(os.environ.get("WUXING_SPEED_STEPS", "0"))
    if not 0 <= speed_steps < 1 << 16:
        raise ValueError(f"WUXING_SPEED_STEPS={speed_steps}: the steps register holds 1..65535")
    if speed_steps:
        c = np.asarray(design.c_init, dtype=np.int64)
        x = model.input_to_int(rng.uniform(0, 1, (1, n_in)))[0]
        await tb.write_many("coef", c)
        await tb.write_many("input", x)
        await tb.write(address("info", INFO["steps"]), speed_steps)
        t0, cpu0 = time.perf_counter(), time.process_time()
        cycles = await tb.command(OP_FORWARD)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        long_model = type(model)(t, cfg.replace(steps=speed_steps), design.neuron, design.fmt,
                                 design.table)
        fwd = long_model.forward(c, x)
        chk.check("speed", f"forward after {speed_steps}", "S",
                  await tb.read_region("fwd_integral", 5 * N), fwd.S.reshape(-1).tolist())
        chk.run_done("speed")
        # wall time and the simulator process's CPU time (on a shared machine the first
        # counts the waits for a core too)
        chk.extra.update(speed_cycles=cycles, speed_seconds=seconds, speed_cpu_seconds=cpu,
                         cycles_per_second=cycles / seconds,
                         cycles_per_cpu_second=cycles / max(cpu, 1e-9))

    chk.write()
    dut._log.info(chk.summary())
    for msg in chk.messages():
        dut._log.error(msg)
    assert chk.ok, "\n".join([chk.summary(), *chk.messages()])
