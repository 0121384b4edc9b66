# amaranth: UnusedElaboratable=no
# (the argument checks construct cores that raise before they could be used)
"""SerialNetwork (the network engine with one lane) in amaranth.sim: forward, reverse and BSP
equal FixedModel's, bit for bit."""
import pytest

from wuxing.golden.topology import Topology
from wuxing.hdl.fixed import hw_constants
from wuxing.hdl.network import MAGIC, check_buildable
from wuxing.hdl.serial import SerialNetwork

from control_port_bench import compare_with_golden


# fan_in=2: two links into (and out of) some interfaces, so the link walk sums several
@pytest.mark.parametrize("layers, seed, fan_in", [((3, 2), 0, 1), ((4, 3, 2), 1, 1),
                                                  ((4, 3, 2), 3, 2)])
def test_serial_matches_fixed_model(layers, seed, fan_in):
    topo = Topology(layers=layers, seed=seed, fan_in=fan_in)
    compared, mismatches, dut, got, (fwd, rev, c_int) = compare_with_golden(
        lambda hw, c_init: SerialNetwork(topo, hw, c_init=c_init), topo, 6, seed)
    assert mismatches == 0, f"{mismatches} of {compared} values differ"
    assert got["magic"] == MAGIC
    # the run exercised what it claims to: saturation, a change of C
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
    # the dithered reverse rounding of the learning format: built by the engine (serial
    # included, tests/test_hdl_engine.py) and the unrolled network with mult="parallel"
    # (tests/test_hdl_network.py), refused by its shared or pipelined cores
    from wuxing.golden.fixedpoint import LEARNING_FORMAT
    from wuxing.hdl.network import Network
    for kw in (dict(mult="shared"), dict(pipeline=True)):
        with pytest.raises(ValueError, match="reverse_dither"):
            Network(topo, hw_constants(fmt=LEARNING_FORMAT), **kw)


def test_design_arch_serial_and_engine_round_trip():
    from amaranth.hdl import Fragment

    from wuxing.hdl.engine import NetworkEngine
    from wuxing.hdl.generate import Design, build_component
    d = Design(topology=Topology(layers=(3, 2)), arch="serial")
    serial = build_component(d)
    assert isinstance(serial, SerialNetwork) and serial.lanes == 1
    Fragment.get(serial, None)   # elaborates
    back = Design.from_manifest(d.manifest())
    assert back.arch == "serial" and back.lanes == 1
    e = Design(topology=Topology(layers=(3, 2)), arch="engine", lanes=3)
    assert e.manifest()["lanes"] == 3 and Design.from_manifest(e.manifest()).lanes == 3
    engine = build_component(e)
    assert isinstance(engine, NetworkEngine) and engine.lanes == 3
    Fragment.get(engine, None)
    with pytest.raises(ValueError, match="arch"):
        Design(topology=Topology(layers=(3, 2)), arch="folded")
    with pytest.raises(ValueError, match="applies to a network"):
        Design(what="core", arch="serial")
    with pytest.raises(ValueError, match="needs arch='engine'"):
        Design(topology=Topology(layers=(3, 2)), arch="serial", lanes=2)
    with pytest.raises(ValueError, match="lanes must be a positive int"):
        Design(topology=Topology(layers=(3, 2)), arch="engine", lanes=0)
