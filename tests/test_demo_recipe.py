"""The demo network (recipe ``demo``): the default of ``wuxing train`` and ``wuxing demo``, it
learns in bit-exact fixed point, and its engine fits the ULX3S (not the iCEBreaker's UP5K)."""
import pytest

from wuxing.boards.budget import UP5K, estimate, silence
from wuxing.boards.build import board_bridge
from wuxing.boards.top import board
from wuxing.demo import DEMO_RECIPE
from wuxing.golden.train import DEFAULT_RECIPE, RECIPES, run_recipe
from wuxing.hdl.generate import Design


def test_demo_is_the_default_everywhere():
    assert DEMO_RECIPE == DEFAULT_RECIPE == "demo"
    r = RECIPES["demo"]
    t = r.build_topology()
    assert (t.layers, t.fan_in, t.n_links) == ((64, 24, 10), 8, 960)
    assert [q["links"] for q in t.link_ratio()["pairs"]] == [640, 320]
    assert (r.cfg.h_shift, r.cfg.steps, r.batch, r.epochs) == (1, 32, 16, 30)
    assert r.dataset == "digits" and r.fmt.reverse_dither and str(r.schedule) == "halve-on-worse"


def test_demo_network_fits_the_ulx3s_and_not_the_up5k():
    """`wuxing demo` builds the ULX3S: every memory of the engine in block RAM there; on the
    UP5K the engine's memories need more blocks than it has (the board's fit would move C,
    the slot table and the accumulators into LUT RAM, which the iCE40 does not have)."""
    r = RECIPES["demo"]
    design = Design(topology=r.build_topology(), cfg=r.cfg, fmt=r.fmt, arch="engine", lanes=1)
    bridge, fitted = board_bridge("ulx3s", design)
    est = estimate(silence(bridge), board("ulx3s").device)
    assert est.over() == [] and fitted.lut_memories == (), est.usage()
    assert design.resources().block_ram["ice40"] > UP5K.bram
    _, on_up5k = board_bridge("icebreaker", design)
    assert {"c_mem", "slot_rom", "bsp_acc"} <= set(on_up5k.lut_memories)


def test_demo_learns_in_fixed_point_in_two_epochs():
    res = run_recipe("demo", epochs=2, fixed=True)
    assert res.fixed
    assert res.history[0]["test_acc"] < 0.2
    assert res.history[-1]["test_acc"] > 0.45, res.table()


@pytest.mark.slow
def test_demo_recipe_reaches_84_percent_in_fixed_point_on_seed_0():
    # measured: 86.8 % mean over seeds 0-2, 84.7 % on seed 0, the lowest (docs/TRAINING.md);
    # fixed point is integer arithmetic, so seed 0 gives the same on every machine; the
    # 512-link network before ended at 84.7 % on it too (82.6 % over the seeds)
    res = run_recipe("demo", fixed=True, seed=0)
    assert res.history[-1]["test_acc"] >= 0.84, res.table()
