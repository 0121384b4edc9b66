# amaranth: UnusedElaboratable=no
# (the argument checks construct cores that raise before they could be used)
"""Network in amaranth.sim: forward, reverse and BSP of a small network equal FixedModel's."""
import numpy as np
import pytest

from wuxing.golden.config import RunConfig
from wuxing.golden.fixedpoint import DEFAULT_FORMAT, LEARNING_FORMAT
from wuxing.golden.network import FixedModel, init_coefficients
from wuxing.golden.topology import Topology
from wuxing.hdl.fixed import hw_constants
from wuxing.hdl.network import MAGIC, Network

from control_port_bench import run_network


# the learning format (dithered reverse increments) with mult="parallel"
@pytest.mark.parametrize("mult, pipeline, fmt", [
    ("parallel", False, DEFAULT_FORMAT), ("shared", False, DEFAULT_FORMAT),
    ("parallel", True, DEFAULT_FORMAT), ("parallel", False, LEARNING_FORMAT)])
def test_network_matches_fixed_model(mult, pipeline, fmt):
    topo = Topology(layers=(3, 3, 2), seed=2)
    cfg = RunConfig(steps=10, c_init_lo=0.5, c_init_hi=3.0)
    hw = hw_constants(cfg, fmt=fmt)
    model = FixedModel(topo, cfg, fmt=fmt)
    rng = np.random.default_rng(0)
    c_int = model.coef_to_int(init_coefficients(topo, cfg, seed=1))
    x_int = model.input_to_int(rng.uniform(0, 1, (1, 3)))[0]
    err_int = hw.fmt.to_int(rng.uniform(-2, 2, 2))
    got = run_network(Network(topo, hw, mult=mult, pipeline=pipeline), c_int, x_int, err_int,
                      cfg.steps)
    fwd = model.forward(c_int, x_int)
    rev = model.reverse(c_int, err_int)
    assert got["magic"] == MAGIC
    assert got["S"] == fwd.S.reshape(-1).tolist()
    assert got["out"] == model.outputs(fwd)[0].tolist()
    assert got["over_f"] == fwd.overflow[0].astype(int).tolist()
    assert got["R"] == rev.S.reshape(-1).tolist()
    assert got["over_r"] == rev.overflow[0].astype(int).tolist()
    assert got["C"] == model.bsp_update(c_int, fwd.S, rev.S).tolist()
    assert got["C"] != c_int.tolist()  # the update did something


def test_network_rejects_bad_arguments():
    hw = hw_constants()
    topo = Topology(layers=(3, 3, 2))
    with pytest.raises(TypeError, match="topology"):
        Network("tiny", hw)
    with pytest.raises(ValueError, match="c_init"):
        Network(topo, hw, c_init=[0, 1])
    with pytest.raises(ValueError, match="no links"):
        Network(Topology(layers=(2, 2), link_counts=(0,)), hw)
    with pytest.raises(ValueError, match="at most"):
        Network(Topology(layers=(300, 10)), hw)
    with pytest.raises(ValueError, match="mult"):
        Network(topo, hw, mult="x")
