"""What the FPGAs we build for offer: logic, block RAM and its shapes, SPRAM, multipliers.

One inventory for every layer that budgets a design: the board flow (boards.budget, boards.top)
and the synthesis bench (sim.bench) import it from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Device", "UP5K", "ECP5_85F", "DEVICES"]


@dataclass(frozen=True)
class Device:
    """What an FPGA offers. ``bram_shapes``: the (width, depth) a block RAM can take;
    ``spram_shape``: that of one SPRAM block (iCE40 UltraPlus), or None."""

    name: str
    logic: int                     # LUT4 (logic cells on the iCE40)
    logic_name: str
    bram: int
    bram_bits: int
    bram_shapes: tuple
    multipliers: int
    multiplier_width: int
    spram: int = 0
    spram_shape: tuple | None = None
    # the nextpnr cell names of each resource (the build report's keys)
    cells: dict = field(default_factory=dict)


UP5K = Device("iCE40 UP5K", logic=5280, logic_name="logic cells", bram=30, bram_bits=4096,
              bram_shapes=((16, 256), (8, 512), (4, 1024), (2, 2048)),
              multipliers=8, multiplier_width=16, spram=4, spram_shape=(16, 16384),
              cells=dict(logic="ICESTORM_LC", bram="ICESTORM_RAM", multipliers="ICESTORM_DSP",
                         spram="ICESTORM_SPRAM"))
ECP5_85F = Device("ECP5 LFE5U-85F", logic=83640, logic_name="LUT4", bram=208, bram_bits=18432,
                  bram_shapes=((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192),
                               (1, 16384)),
                  multipliers=156, multiplier_width=18,
                  cells=dict(logic="TRELLIS_COMB", bram="DP16KD", multipliers="MULT18X18D"))

DEVICES = {d.name: d for d in (UP5K, ECP5_85F)}
