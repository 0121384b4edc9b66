"""cocotb bench of one Synapse (``wuxing_synapse``, own atan table) against sim/reference.

Per case: write C, set the two ends' D and integrals, compare the weighting in both
directions and dC, strobe the BSP update, compare the new C. Cases: zero, C at both clamps
pushed outwards, products at the ends of the atan table, random.

Environment: WUXING_DESIGN, WUXING_SEED, WUXING_RANDOM_CASES, WUXING_REPORT.
"""
from __future__ import annotations

import os

import cocotb
import numpy as np
from cocotb.triggers import Timer

from wuxing.hdl.generate import load_manifest
from wuxing.hdl.learning import default_shift_out
from wuxing.hdl.synapse import Synapse

from .checker import Checker
from .reference import synapse_bsp, synapse_weight
from .wrapper import Clocking


class SynapseTB:
    """Drives one Synapse inside the co-simulation wrapper (sim/wrapper.py)."""

    def __init__(self, dut):
        self.dut = dut
        self.clock = Clocking(dut)

    async def reset(self, hw):
        """Reset; the BSP of a batch of one at the RunConfig's step (no accumulator)."""
        d = self.dut
        self.clock.idle()
        d.rst.value = 1
        for n in ("c_we", "c_wdata", "reverse", "d_src", "d_dst", "s_src", "r_dst", "bsp",
                  "acc_mode", "batch_log2"):
            getattr(d, n).value = 0
        d.update.value = 1
        d.shift_out.value = default_shift_out(hw)
        await self.clock.run(1)
        d.rst.value = 0
        await self.clock.run(1)

    async def load(self, c, s, r, d_src, d_dst):
        d = self.dut
        d.c_we.value = 1
        d.c_wdata.value = int(c)
        await self.clock.run(1)
        d.c_we.value = 0
        d.s_src.value, d.r_dst.value = int(s), int(r)
        d.d_src.value, d.d_dst.value = int(d_src), int(d_dst)

    async def weight(self, reverse: bool) -> int:
        self.dut.reverse.value = int(reverse)
        await Timer(1, unit="ns")
        return self.dut.w.value.to_signed()

    async def update(self):
        """Strobe the BSP update and follow its pipeline (``Synapse.bsp_latency`` clocks):
        (dC, new C)."""
        d = self.dut
        d.bsp.value = 1
        await self.clock.run(1)
        d.bsp.value = 0
        await self.clock.run(Synapse.bsp_latency - 2)
        delta = d.delta.value.to_signed()
        await self.clock.run(1)
        return delta, d.c.value.to_signed()


def _cases(hw, rng, n_random):
    fmt, tab = hw.fmt, hw.table
    big = fmt.acc_max
    cases = [("zero", 0, 0, 0, 0, 0),
             ("C-at-max-pushed-up", hw.c_hi, big, big, fmt.max_int, fmt.min_int),
             ("C-at-min-pushed-down", hw.c_lo, -big, big, fmt.min_int, fmt.max_int),
             ("C-near-max", hw.c_hi - 3, 1 << 14, 1 << 14, 5, -5),
             ("C-near-min", hw.c_lo + 3, -(1 << 14), 1 << 14, -7, 7)]
    # |S * R| around the start and the end of the atan table (x = round_shift(|P|, shift_in))
    lim = tab.x_limit << max(0, hw.bsp_shift_in)
    for k, p in enumerate((1, (1 << max(0, hw.bsp_shift_in)) - 1, lim - (1 << 11) - 1,
                           lim - (1 << 11), lim - 1, lim, lim + 12345, 3 * lim)):
        s = 1 << 20
        r = -(-p // s)
        cases.append((f"table-end-{k}", 0, s, r, 100, -100))
        cases.append((f"table-end-{k}-negative", 0, -s, r, -100, 100))
    for k in range(n_random):
        cases.append((f"random-{k}", int(rng.integers(hw.c_lo, hw.c_hi + 1)),
                      int(rng.integers(fmt.acc_min, fmt.acc_max + 1)) >> int(rng.integers(0, 12)),
                      int(rng.integers(fmt.acc_min, fmt.acc_max + 1)) >> int(rng.integers(0, 12)),
                      int(rng.integers(fmt.min_int, fmt.max_int + 1)),
                      int(rng.integers(fmt.min_int, fmt.max_int + 1))))
    return cases


@cocotb.test()
async def synapse_matches_reference(dut):
    design, _ = load_manifest(os.environ["WUXING_DESIGN"])
    hw = design.hw()
    rng = np.random.default_rng(int(os.environ.get("WUXING_SEED", "0")))
    chk = Checker("synapse")
    tb = SynapseTB(dut)
    await tb.reset(hw)
    clamps = set()
    for name, c, s, r, d_src, d_dst in _cases(hw, rng, int(os.environ.get("WUXING_RANDOM_CASES",
                                                                         "50"))):
        await tb.load(c, s, r, d_src, d_dst)
        for reverse in (False, True):
            chk.check(name, "weight", "w reverse" if reverse else "w forward",
                      await tb.weight(reverse), synapse_weight(hw, c, d_src, d_dst, reverse))
        delta_ref, c_ref = synapse_bsp(hw, c, s, r)
        delta, c_new = await tb.update()
        chk.check(name, "bsp", "dC", delta, delta_ref)
        chk.check(name, "bsp", "C", c_new, c_ref)
        if c_ref in (hw.c_lo, hw.c_hi):
            clamps.add(c_ref)
        chk.run_done(name)
    chk.extra["clamps_reached"] = sorted(clamps)
    chk.write()
    dut._log.info(chk.summary())
    for msg in chk.messages():
        dut._log.error(msg)
    assert chk.ok, "\n".join([chk.summary(), *chk.messages()])
    assert clamps == {hw.c_lo, hw.c_hi}, "the cases did not reach both C clamps"
