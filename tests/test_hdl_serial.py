# amaranth: UnusedElaboratable=no
# (the argument checks construct cores that raise before they could be used)
"""SerialNetwork in amaranth.sim: forward, reverse and BSP equal FixedModel's, bit for bit."""
import numpy as np
import pytest

from wuxing.golden.config import RunConfig
from wuxing.golden.network import FixedModel
from wuxing.golden.topology import Topology
from wuxing.hdl.fixed import hw_constants
from wuxing.hdl.network import MAGIC, check_buildable
from wuxing.hdl.serial import SerialNetwork

from control_port_bench import run_network


def _compare(topo, cfg, seed, spram=False):
    hw = hw_constants(cfg)
    model = FixedModel(topo, cfg)
    rng = np.random.default_rng(seed)
    L = topo.n_links
    # random C over the whole range, two links at the clamps
    c_int = rng.integers(hw.c_lo, hw.c_hi + 1, L)
    c_int[0], c_int[-1] = hw.c_hi, hw.c_lo
    # inputs up to beyond the state range: some states saturate
    x_int = hw.fmt.to_int(rng.uniform(-1, 12, topo.layers[0]))
    err_int = hw.fmt.to_int(rng.uniform(-8, 8, topo.layers[-1]))
    dut = SerialNetwork(topo, hw, c_init=rng.integers(hw.c_lo, hw.c_hi + 1, L), spram=spram)
    got = run_network(dut, c_int, x_int, err_int, cfg.steps)
    fwd = model.forward(c_int, x_int)
    rev = model.reverse(c_int, err_int)
    want = {"S": fwd.S.reshape(-1).tolist(), "out": model.outputs(fwd)[0].tolist(),
            "over_f": fwd.overflow[0].astype(int).tolist(), "R": rev.S.reshape(-1).tolist(),
            "over_r": rev.overflow[0].astype(int).tolist(),
            "C": model.bsp_update(c_int, fwd.S, rev.S).tolist()}
    n = sum(len(v) for v in want.values())
    for key, v in want.items():
        assert got[key] == v, f"{key}: {n} values compared; got {got[key]} want {v}"
    assert got["magic"] == MAGIC
    return got, want, fwd, rev, c_int


# fan_in=2: two links into (and out of) some interfaces, so the link walk sums several
@pytest.mark.parametrize("layers, seed, fan_in", [((3, 2), 0, 1), ((4, 3, 2), 1, 1),
                                                  ((4, 3, 2), 3, 2)])
def test_serial_matches_fixed_model(layers, seed, fan_in):
    topo = Topology(layers=layers, seed=seed, fan_in=fan_in)
    got, want, fwd, rev, c_int = _compare(topo, RunConfig(steps=6), seed, spram=fan_in > 1)
    # the run exercised what it claims to: saturation, a change of C, a clamp of C
    assert fwd.overflow.any() or rev.overflow.any()
    assert got["C"] != c_int.tolist()


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_serial_rejects_bad_arguments():
    hw = hw_constants()
    topo = Topology(layers=(3, 2))
    with pytest.raises(TypeError, match="topology"):
        SerialNetwork("tiny", hw)
    with pytest.raises(ValueError, match="c_init"):
        SerialNetwork(topo, hw, c_init=[0, 1])
    with pytest.raises(ValueError, match="no links"):
        SerialNetwork(Topology(layers=(2, 2), link_counts=(0,)), hw)
    # the size limit (2**20 integrals, the control port's index) through the shared check
    with pytest.raises(ValueError, match="at most 4 neurons"):
        check_buildable(topo, hw, 4, 100, "serial")
    # the dithered reverse rounding of the learning format is not built by this network
    from wuxing.golden.fixedpoint import LEARNING_FORMAT
    with pytest.raises(ValueError, match="reverse_dither"):
        SerialNetwork(topo, hw_constants(fmt=LEARNING_FORMAT))


def test_design_arch_serial_round_trips():
    from wuxing.hdl.generate import Design, build_component
    d = Design(topology=Topology(layers=(3, 2)), arch="serial")
    assert isinstance(build_component(d), SerialNetwork)
    back = Design.from_manifest(d.manifest())
    assert back.arch == "serial"
    with pytest.raises(ValueError, match="arch"):
        Design(topology=Topology(layers=(3, 2)), arch="folded")
    with pytest.raises(ValueError, match="applies to a network"):
        Design(what="core", arch="serial")
