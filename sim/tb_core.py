"""cocotb bench of one NeuronCore (``wuxing_core``) against sim/reference.core_reference.

Each run holds its inputs, starts the core at its fixed point and lets it step on its own
(``step`` held high); the bench then compares E, D, the integral and the overflow flag. One
run per direction is also checked after every step.

Environment: WUXING_DESIGN, WUXING_SEED, WUXING_RANDOM_CASES, WUXING_REPORT.
"""
from __future__ import annotations

import os

import cocotb
import numpy as np

from wuxing.golden.neuron import N_ELEMENTS
from wuxing.hdl.generate import build_component, load_manifest

from .checker import Checker
from .reference import core_reference
from .wrapper import Clocking


class CoreTB:
    """Drives start/step/x/w of a NeuronCore (inside the co-simulation wrapper,
    sim/wrapper.py) and reads its state."""

    def __init__(self, dut, mult: str, pipeline: bool = False):
        self.dut, self.mult = dut, mult
        self.one_clock_steps = mult == "parallel" and not pipeline
        self.clock = Clocking(dut)

    async def reset(self):
        d = self.dut
        self.clock.idle()
        d.rst.value = 1
        d.start.value = 0
        d.step.value = 0
        d.reverse.value = 0
        for i in range(N_ELEMENTS):
            getattr(d, f"x__{i}").value = 0
            getattr(d, f"w__{i}").value = 0
        await self.clock.run(2)
        d.rst.value = 0
        await self.clock.run(1)

    async def begin(self, reverse: bool, x, w):
        d = self.dut
        d.reverse.value = int(reverse)
        for i in range(N_ELEMENTS):
            getattr(d, f"x__{i}").value = int(x[i])
            getattr(d, f"w__{i}").value = int(w[i])
        d.start.value = 1
        await self.clock.run(1)
        d.start.value = 0

    async def run(self, steps: int):
        """``steps`` Euler steps with ``step`` held high: one request (one-clock steps) or
        one a step (shared or pipelined: until ``done``), never one a clock."""
        d = self.dut
        d.step.value = 1
        if self.one_clock_steps:
            await self.clock.run(steps)
        else:
            for _ in range(steps):
                await self.clock.run_until("done")
        d.step.value = 0
        await self.clock.run(1)

    def read(self, reverse: bool):
        d = self.dut
        vec = lambda n: [getattr(d, f"{n}__{i}").value.to_signed() for i in range(N_ELEMENTS)]
        return dict(E=vec("e"), D=vec("d"), integral=vec("r" if reverse else "s"),
                    overflow=int(d.overflow.value))


def _cases(hw, weight_width, rng, n_random, steps):
    fmt = hw.fmt
    z = np.zeros(N_ELEMENTS, np.int64)
    wmax = (1 << (weight_width - 1)) - 1
    cases = [("zero-forward", False, z, z), ("zero-reverse", True, z, z),
             ("full-scale-positive", False, np.full(5, fmt.max_int), np.full(5, wmax)),
             ("full-scale-negative", True, np.full(5, fmt.min_int), np.full(5, -wmax - 1)),
             ("max-input-forward", False, np.full(5, fmt.max_int), z),
             ("min-input-reverse", True, np.full(5, fmt.min_int), z)]
    for k in range(n_random):
        amp = int(rng.integers(1, fmt.max_int))
        wamp = int(rng.integers(1, 1 << (2 * fmt.width - 2)))
        cases.append((f"random-{k}", bool(k % 2), rng.integers(-amp, amp + 1, 5),
                      rng.integers(-wamp, wamp + 1, 5)))
    return [(name, rev, x, w, steps) for name, rev, x, w in cases]


@cocotb.test()
async def core_matches_reference(dut):
    design, _ = load_manifest(os.environ["WUXING_DESIGN"])
    hw = design.hw()
    core = build_component(design)
    rng = np.random.default_rng(int(os.environ.get("WUXING_SEED", "0")))
    steps = design.cfg.steps
    chk = Checker(f"core ({design.mult}{', pipelined' if design.pipeline else ''}, "
                  f"k={design.k_mode})")
    tb = CoreTB(dut, design.mult, design.pipeline)
    await tb.reset()
    n_random = int(os.environ.get("WUXING_RANDOM_CASES", "4"))
    # one run per direction checked after every step
    for reverse in (False, True):
        name = f"stepwise-{'reverse' if reverse else 'forward'}"
        x = rng.integers(-hw.fmt.one, hw.fmt.one, 5)
        w = rng.integers(-(1 << 26), 1 << 26, 5)
        n = min(steps, 20)
        ref = core_reference(hw, [x] * n, [w] * n, reverse)
        await tb.begin(reverse, x, w)
        for t in range(n):
            before = tb.read(reverse)["D"]
            await tb.run(1)
            got = tb.read(reverse)
            chk.check(name, t, "D", before, ref.D[t])
            chk.check(name, t, "E", got["E"], ref.E[t])
            chk.check(name, t, "integral", got["integral"], ref.integral[t])
            chk.check(name, t, "overflow", got["overflow"], int(ref.overflow[t]))
        chk.run_done(name)
    saw_overflow = 0
    for name, reverse, x, w, n in _cases(hw, core.weight_width, rng, n_random, steps):
        ref = core_reference(hw, [x] * n, [w] * n, reverse)
        await tb.begin(reverse, x, w)
        await tb.run(n)
        got = tb.read(reverse)
        chk.check(name, n, "E", got["E"], ref.E[-1])
        chk.check(name, n, "integral", got["integral"], ref.integral[-1])
        chk.check(name, n, "overflow", got["overflow"], int(ref.overflow[-1]))
        # D after the last step: E - B0 of the mode
        chk.check(name, n, "D", got["D"],
                  [ref.E[-1][i] - hw.b0_int[reverse][i] for i in range(N_ELEMENTS)])
        saw_overflow += int(ref.overflow[-1])
        chk.run_done(name)
    chk.extra["overflow_runs"] = saw_overflow
    chk.write()
    dut._log.info(chk.summary())
    for msg in chk.messages():
        dut._log.error(msg)
    assert chk.ok, "\n".join([chk.summary(), *chk.messages()])
