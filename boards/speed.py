"""Training speed of a board design: clocks per sample measured in co-simulation, samples per
second at the PLL clock, and the limits beside them.

* :func:`measure_cycles`: the cocotb whole-network bench (``sim/tb_network.py``) on the same
  design (the network the board top holds): one random case of forward run, reverse run and
  BSP update, every value compared with the golden model; the clocks of each command from its
  ``start`` strobe to ``done`` (the case's ``cycles``).
* :func:`speed_fields`: the report fields: ``cycles`` (per command, measured and predicted),
  ``cycles_per_sample`` (forward + reverse + BSP), ``cycles_per_sample_predicted``,
  ``samples_per_s`` (at ``clock_mhz``), ``multiplies_per_sample``,
  ``multiplier_bound_samples_per_s`` (multipliers x clock / multiplies) and
  ``link_bound_samples_per_s`` (the UART: the 32-bit inputs, outputs and errors of a sample,
  10 bits a byte, framing not counted: no protocol can beat it at that baud rate).
"""
from __future__ import annotations

import dataclasses
import time

from .budget import multiplier_bound, multiplies_per_sample, predicted_cycles

__all__ = ["measure_cycles", "speed_fields", "COMMANDS"]

COMMANDS = ("forward", "reverse", "bsp")


def measure_cycles(design, simulator: str = "verilator") -> dict:
    """Clocks of a forward run, a reverse run and a BSP update of ``design``'s network in
    co-simulation (one case of the network bench, compared with the golden model).

    Returns ``{forward, reverse, bsp, per_sample, compared, mismatches, simulator,
    build_seconds, seconds}``; ValueError if the simulator is missing or the bench found a
    mismatch (a design that computes wrong integers has no speed worth reporting)."""
    from wuxing.sim.designs import ensure_design
    from wuxing.sim.runner import run_bench, simulator_missing
    reason = simulator_missing(simulator)
    if reason:
        raise ValueError(reason)
    # the same hardware: no reset values means all zero; the source note is not hardware
    # (one co-simulation build serves every board that holds this network)
    design = dataclasses.replace(design, source="boards.speed", c_init=(
        [0] * design.topology.n_links if design.c_init is None else design.c_init))
    t0 = time.perf_counter()
    rep = run_bench("network", ensure_design(design), simulator,
                    env=dict(WUXING_EDGE_CASES=0, WUXING_RANDOM_CASES=1))
    if rep["mismatches"]:
        raise ValueError(f"co-simulation of the design found {rep['mismatches']} mismatches "
                         f"with the golden model ({rep['build_dir']})")
    case = rep["benches"][0]["cases"][0]          # one random case: its commands' clocks
    out = {k: int(case["cycles"][k]) for k in COMMANDS}
    out.update(per_sample=sum(out[k] for k in COMMANDS), compared=rep["compared"],
               mismatches=rep["mismatches"], simulator=simulator,
               build_seconds=round(rep["build_seconds"], 1),
               seconds=round(time.perf_counter() - t0, 1))
    return out


def speed_fields(design, network, device, clock_mhz: float, baud: int,
                 measured: dict | None) -> dict:
    """The speed fields of a build report (see the module docstring). ``network``: the
    design's network component (its predicted cycles); ``measured``: :func:`measure_cycles`'
    result, or None (not measured: ``samples_per_s`` then uses the prediction and
    ``samples_per_s_from`` says so)."""
    pred = predicted_cycles(network)
    t = design.topology
    cycles = {k: dict(measured=None if measured is None else measured[k],
                      predicted=None if pred is None else pred[k]) for k in COMMANDS}
    per_sample = None if measured is None else measured["per_sample"]
    per_sample_pred = None if pred is None else sum(pred[k] for k in COMMANDS)
    basis = per_sample or per_sample_pred
    mults = multiplies_per_sample(design)
    link_bits = 32 * (t.layers[0] + 2 * t.layers[-1]) * 10 / 8
    return dict(
        cycles=cycles, cycles_per_sample=per_sample,
        cycles_per_sample_predicted=per_sample_pred,
        cycles_measured_with=None if measured is None else dict(
            simulator=measured["simulator"], compared=measured["compared"],
            mismatches=measured["mismatches"]),
        samples_per_s=None if not basis else clock_mhz * 1e6 / basis,
        samples_per_s_from=None if not basis else ("co-simulation" if per_sample else
                                                   "prediction"),
        multiplies_per_sample=mults, multipliers_available=device.multipliers,
        multiplier_bound_samples_per_s=multiplier_bound(device, clock_mhz, mults),
        link_bound_samples_per_s=baud / link_bits)
