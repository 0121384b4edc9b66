"""The demo network (recipe ``demo``): the default of ``wuxing train`` and ``wuxing demo``, it
learns in bit-exact fixed point, and it fits the iCEBreaker's UP5K with the engine."""
import pytest

from wuxing.boards.budget import UP5K, estimate, silence
from wuxing.boards.build import board_bridge
from wuxing.demo import DEMO_RECIPE
from wuxing.golden.train import DEFAULT_RECIPE, RECIPES, run_recipe
from wuxing.hdl.generate import Design


def test_demo_is_the_default_everywhere():
    assert DEMO_RECIPE == DEFAULT_RECIPE == "demo"
    r = RECIPES["demo"]
    t = r.build_topology()
    assert (t.layers, t.fan_in, t.n_links) == ((64, 16, 10), 8, 512)
    assert [q["links"] for q in t.link_ratio()["pairs"]] == [224, 288]
    assert (r.cfg.h_shift, r.cfg.steps, r.batch, r.epochs) == (1, 32, 16, 30)
    assert r.dataset == "digits" and r.fmt.reverse_dither and str(r.schedule) == "halve-on-worse"


def test_demo_network_fits_the_up5k_with_the_engine():
    r = RECIPES["demo"]
    design = Design(topology=r.build_topology(), cfg=r.cfg, fmt=r.fmt, arch="engine", lanes=1)
    est = estimate(silence(board_bridge("icebreaker", design)[0]), UP5K)
    assert est.over() == [], est.usage()
    assert est.bram <= UP5K.bram and est.multipliers <= UP5K.multipliers


def test_demo_learns_in_fixed_point_in_two_epochs():
    res = run_recipe("demo", epochs=2, fixed=True)
    assert res.fixed
    assert res.history[0]["test_acc"] < 0.2
    assert res.history[-1]["test_acc"] > 0.45, res.table()


@pytest.mark.slow
def test_demo_recipe_reaches_82_percent_in_fixed_point():
    # measured: 82.6 % mean over seeds 0-2, 84.7 % on seed 0 (docs/TRAINING.md); fixed point
    # is integer arithmetic, so seed 0 gives the same on every machine; the former recipe
    # ended at 80.2 % on it
    res = run_recipe("demo", fixed=True, seed=0)
    assert res.history[-1]["test_acc"] >= 0.82, res.table()
