"""nextpnr's router of a build (``wuxing build --router``): the automatic choice (router2 for
a large network on an ECP5, where router1 did not converge on MODEL1) and that the choice
reaches the nextpnr command of the build script. Fast: the build is planned, not run."""
import subprocess
import sys

import pytest

from wuxing.boards.build import (ROUTER2_LINKS, board_build, build_bitstream, choose_router,
                                 format_report, nextpnr_options)
from wuxing.boards.top import board
from wuxing.golden.topology import Topology, preset
from wuxing.hdl.generate import Design


def test_choose_router_automatic_and_explicit():
    model1 = preset("model1").n_links
    tiny = preset("tiny").n_links
    assert model1 == 4711 and tiny == 80
    for auto in (None, "auto"):
        assert choose_router("ecp5", model1, auto) == "router2"
        assert choose_router("ecp5", ROUTER2_LINKS, auto) == "router2"
        assert choose_router("ecp5", ROUTER2_LINKS - 1, auto) == "router1"
        assert choose_router("ecp5", tiny, auto) == "router1"
        assert choose_router("ice40", model1, auto) == "router1"
    assert choose_router("ecp5", model1, "router1") == "router1"
    assert choose_router("ice40", tiny, "router2") == "router2"
    with pytest.raises(ValueError, match="auto, router1 or router2, not 'router3'"):
        choose_router("ecp5", tiny, "router3")
    assert nextpnr_options("router2").split()[:3] == ["--timing-allow-fail", "--router",
                                                       "router2"]
    with pytest.raises(ValueError, match="router1 or router2, not 'auto'"):
        nextpnr_options("auto")


def _planned(monkeypatch):
    """Boards whose ``platform().build`` plans the build (no tools run); the plans made."""
    plans = []
    cls = type(board("ulx3s"))
    assert type(board("icebreaker")) is cls
    make = cls.platform

    def platform(self):
        p = make(self)
        real = p.build

        def build(top, **kw):
            kw.pop("do_program", None)
            plans.append(real(top, do_build=False, **kw))
        p.build = build
        return p
    monkeypatch.setattr(cls, "platform", platform)
    return plans


def _nextpnr_line(plan, name="wuxing"):
    script = plan.files[f"build_{name}.sh"]
    script = script.decode() if isinstance(script, bytes) else script
    return next(line for line in script.splitlines() if "NEXTPNR" in line and "--json" in line)


@pytest.mark.parametrize("board_name, threshold, router, expect", [
    ("ulx3s", 8, None, "router2"),            # the 8 links at the threshold: auto, router2
    ("ulx3s", 9, None, "router1"),
    ("ulx3s", ROUTER2_LINKS, None, "router1"),
    ("ulx3s", 8, "router1", "router1"),
    ("icebreaker", 8, None, "router1"),
    ("icebreaker", ROUTER2_LINKS, "router2", "router2"),
])
def test_the_router_reaches_the_nextpnr_command(board_name, threshold, router, expect,
                                                monkeypatch, tmp_path):
    """A small network (8 links) with the auto threshold moved to it, or the router given."""
    import wuxing.boards.build as build
    monkeypatch.setattr(build, "ROUTER2_LINKS", threshold)
    plans = _planned(monkeypatch)
    d = Design(topology=Topology(layers=(2, 2)), arch="serial", training=False)
    assert d.topology.n_links == 8
    r = build_bitstream(board_name, d, tmp_path, router=router)
    assert len(plans) == 1
    line = _nextpnr_line(plans[0])
    assert f"--router {expect}" in line, line
    assert line.count("--router") == 1 and "--timing-allow-fail" in line, line
    assert r["router"] == expect


def test_board_build_refuses_a_bad_router_before_building(monkeypatch, tmp_path):
    plans = _planned(monkeypatch)
    d = Design(topology=Topology(layers=(2, 2)), arch="serial", training=False)
    with pytest.raises(ValueError, match="not 'fast'"):
        board_build("ulx3s", d, 1, tmp_path, router="fast")
    assert plans == []


def test_format_report_names_the_router():
    r = dict(board="ulx3s", fpga="ECP5", n_neurons=4, n_links=4, arch="serial", lanes=1,
             resources={}, luts=1, ffs=1, dsps=1, pll=None, clock_mhz=25.0,
             clock_requested_mhz=25.0, oscillator_mhz=25.0, fmax_mhz=None, seconds=1.0,
             bitstream=None, router="router2")
    assert "(nextpnr router2)" in format_report(r)


def test_cli_router_option():
    run = [sys.executable, "-m", "wuxing.cli", "build", "--board", "ulx3s"]
    r = subprocess.run(run + ["--help"], capture_output=True, text=True, timeout=120)
    assert "--router {auto,router1,router2}" in r.stdout, r.stdout
    r = subprocess.run(run + ["--router", "router3"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "invalid choice: 'router3'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
