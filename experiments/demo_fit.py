"""Which demo networks fit the iCEBreaker (UP5K) with the engine: block RAM of candidate
topologies for 8x8 digits, before any build.

    python -m experiments.demo_fit [--json PATH]

For each candidate: links, the engine's own estimate (``Design(..., arch="engine",
lanes=P).resources()``: block RAMs of the network's memories on the iCE40) and the board
budget (:func:`boards.budget.estimate` of the whole board design, host bridge included,
against the UP5K's 30 block RAMs), at P = 1 and 2 lanes, in the learning format the demo
trains with, at the run settings of the recipe ``demo`` (they set the clock counts, not the
memories). Seconds; nothing is built (``wuxing build`` confirms one).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from wuxing.boards.budget import UP5K, estimate, silence
from wuxing.boards.build import board_bridge
from wuxing.golden.fixedpoint import LEARNING_FORMAT
from wuxing.golden.topology import Topology, preset
from wuxing.golden.train import RECIPES
from wuxing.hdl.generate import Design

from .common import RESULTS

# (layers, fan-in, link counts or None for the fill rule)
CANDIDATES = [
    ((64, 10), 4, None), ((64, 10), 8, None), ((64, 10), 12, None), ((64, 10), 16, (512,)),
    ((64, 10), 16, None), ((64, 16, 10), 4, None), ((64, 16, 10), 6, None),
    ((64, 16, 10), 8, (256, 256)), ((64, 16, 10), 8, (224, 288)), ((64, 16, 10), 8, (320, 192)),
    ((64, 16, 10), 8, None),
    ((64, 24, 10), 4, None), ((64, 32, 10), 4, None), ((64, 32, 10), 8, (352, 160)),
]


def fit(t: Topology, lanes: int) -> dict:
    d = Design(topology=t, arch="engine", lanes=lanes, fmt=LEARNING_FORMAT,
               cfg=RECIPES["demo"].cfg)
    bridge, fitted = board_bridge("icebreaker", d)
    e = estimate(silence(bridge), UP5K)
    return dict(lanes=lanes, engine_bram_ice40=d.resources().block_ram["ice40"],
                board_bram=e.bram, board_bram_available=UP5K.bram, over=e.over(),
                moved_out_of_bram=list(fitted.lut_memories),
                clocks_per_sample=d.resources().cycles["sample"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.demo_fit",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--json", default=str(RESULTS / "demo_fit.json"))
    a = p.parse_args(argv)
    rows = []
    cands = [(t.layers, t.fan_in, None, t) for t in [preset("demo")]] + \
        [(lay, f, lc, Topology(layers=lay, fan_in=f, link_counts=lc))
         for lay, f, lc in CANDIDATES]
    print("| layers | fan-in | links per pair | P | engine BRAM (iCE40) | board BRAM / 30 | "
          "memories the board moves out of block RAM |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for lay, f, lc, t in cands:
        pairs = [q["links"] for q in t.link_ratio()["pairs"]]
        for lanes in (1, 2):
            r = fit(t, lanes)
            rows.append(dict(layers=list(lay), fan_in=f, link_counts=pairs, links=t.n_links,
                             preset="demo" if t.name == "demo" else None, **r))
            print(f"| {lay}{' (demo preset)' if t.name == 'demo' else ''} | {f} | {pairs} | "
                  f"{lanes} | {r['engine_bram_ice40']} | {r['board_bram']}"
                  f"{' (over)' if r['over'] else ''} | "
                  f"{', '.join(r['moved_out_of_bram']) or '-'} |")
    Path(a.json).write_text(json.dumps(dict(
        command="python -m experiments.demo_fit", device=UP5K.name, rows=rows), indent=1) + "\n")
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
