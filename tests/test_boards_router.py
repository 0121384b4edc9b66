"""nextpnr's router of a build (``wuxing build --router``): the automatic choice (router1,
which routed MODEL1's engine at P = 4, 8 and 16 on the ECP5-85F; router2 did not converge at
P = 8) and that the choice reaches the nextpnr command of the build script. Fast: the build
is planned, not run."""
import subprocess
import sys

import pytest

from pathlib import Path

from wuxing.boards.build import (AUTO_ROUTER, BuildError, board_build, build_bitstream,
                                 choose_router, format_report, nextpnr_options,
                                 parse_nextpnr_log)
from wuxing.boards.top import board
from wuxing.golden.topology import Topology
from wuxing.hdl.generate import Design


def test_choose_router_automatic_and_explicit():
    for auto in (None, "auto"):
        assert choose_router(auto) == AUTO_ROUTER == "router1"
    assert choose_router("router1") == "router1"
    assert choose_router("router2") == "router2"
    with pytest.raises(ValueError, match="auto, router1 or router2, not 'router3'"):
        choose_router("router3")
    assert nextpnr_options("router2").split()[:3] == ["--timing-allow-fail", "--router",
                                                       "router2"]
    with pytest.raises(ValueError, match="router1 or router2, not 'auto'"):
        nextpnr_options("auto")


def _planned(monkeypatch):
    """Builds that only plan (their files extracted, no tool run); the plans made."""
    import wuxing.boards.build as build_mod
    plans = []
    cls = type(board("ulx3s"))
    assert type(board("icebreaker")) is cls
    make = cls.platform

    def platform(self):
        p = make(self)
        real = p.build

        def build(top, **kw):
            assert kw.pop("do_build") is False    # build_bitstream runs the script itself
            plans.append(real(top, do_build=False, **kw))
            return plans[-1]
        p.build = build
        p.has_required_tools = lambda: True
        return p
    monkeypatch.setattr(cls, "platform", platform)
    monkeypatch.setattr(build_mod, "run_build_script", lambda *a, **kw: None)
    return plans


def _nextpnr_line(plan, name="wuxing"):
    script = plan.files[f"build_{name}.sh"]
    script = script.decode() if isinstance(script, bytes) else script
    return next(line for line in script.splitlines() if "NEXTPNR" in line and "--json" in line)


@pytest.mark.parametrize("board_name, auto, router, expect", [
    ("ulx3s", "router1", None, "router1"),
    ("ulx3s", "router2", None, "router2"),       # auto follows AUTO_ROUTER
    ("ulx3s", "router2", "auto", "router2"),
    ("ulx3s", "router2", "router1", "router1"),  # a router given wins
    ("icebreaker", "router1", None, "router1"),
    ("icebreaker", "router1", "router2", "router2"),
])
def test_the_router_reaches_the_nextpnr_command(board_name, auto, router, expect,
                                                monkeypatch, tmp_path):
    """A small network (8 links) with the automatic router set to ``auto``, or the router
    given."""
    import wuxing.boards.build as build
    monkeypatch.setattr(build, "AUTO_ROUTER", auto)
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


FIX = Path(__file__).parent / "fixtures" / "boards"


def test_parse_how_far_routing_got():
    """Excerpts of real nextpnr-ecp5 logs (the numbers read by eye from them): MODEL1 at
    P = 16 stopped while router2 / router1 routed, and a routed build."""
    r2 = parse_nextpnr_log((FIX / "ecp5_model1_router2_unfinished.tim").read_text())
    assert not r2["routed"]
    assert r2["routing"] == dict(router="router2", iteration=5, wires=903225, overused=29088,
                                 overuse=30099)
    assert r2["placement_fmax_mhz"] == {"$glbnet$bridge.clk": (40.90, 28.57)}
    assert r2["resources"]["DP16KD"] == (176, 208)
    r1 = parse_nextpnr_log((FIX / "ecp5_model1_router1_unfinished.tim").read_text())
    assert not r1["routed"]
    assert r1["routing"] == dict(router="router1", arcs=219150, arcs_left=197112)
    assert r1["placement_fmax_mhz"] == {"$glbnet$bridge.clk": (31.27, 50.0)}
    ok = parse_nextpnr_log((FIX / "ecp5_routed_router1.tim").read_text())
    assert ok["routed"]
    assert ok["routing"] == dict(router="router1", arcs=49510, arcs_left=0)
    # the post-placement estimate and the routed Fmax (a "Warning:" line when it fails)
    assert ok["placement_fmax_mhz"] == {"$glbnet$bridge.clk": (22.05, 25.0)}
    assert ok["fmax_mhz"] == {"$glbnet$bridge.clk": (23.50, 25.0)}
    placed_only = parse_nextpnr_log((FIX / "ulx3s_1x1.tim").read_text())
    assert placed_only["routing"] is None and not placed_only["routed"]


def _stopped_in_router2(monkeypatch, timed_out=False):
    """The ULX3S's tools replaced by the log of the MODEL1 build that nextpnr left in
    router2 (stopped from outside: the build script's exit status -15; ``timed_out``: by the
    build's own time limit)."""
    import wuxing.boards.build as build_mod
    cls = type(board("ulx3s"))
    make = cls.platform

    def platform(self):
        p = make(self)
        p.has_required_tools = lambda: True
        return p

    def run(build_dir, script, time_limit_min=None):
        log = (FIX / "ecp5_model1_router2_unfinished.tim").read_text()
        (Path(build_dir) / "wuxing.tim").write_text(log)
        if timed_out:
            raise build_mod.BuildTimeout(f"the tools did not finish within {time_limit_min:g} "
                                         f"minutes")
        raise subprocess.CalledProcessError(-15, ["sh", "build_wuxing.sh"])
    monkeypatch.setattr(cls, "platform", platform)
    monkeypatch.setattr(build_mod, "run_build_script", run)


def test_a_build_stopped_while_routing_says_how_far(monkeypatch, tmp_path):
    """nextpnr stopped in router2 (the log of the MODEL1 build): the build fails with how far
    the router got and the post-placement estimate, which is not reported as the Fmax."""
    _stopped_in_router2(monkeypatch)
    d = Design(topology=Topology(layers=(2, 2)), arch="serial", training=False)
    with pytest.raises(BuildError) as e:
        build_bitstream("ulx3s", d, tmp_path)
    msg = str(e.value)
    assert ("routing did not finish (router2 iteration 5: 29,088 of 903,225 wires overused; "
            "post-placement estimate 40.90 MHz)") in msg, msg
    r = e.value.report
    assert r["fmax_mhz"] is None and r["fmax_by_clock"] == {}
    assert r["fmax_placement_mhz"] == 40.90 and r["routed"] is False
    assert r["routing"]["overused"] == 29088 and r["router"] == "router1"   # 8 links: auto


def test_a_build_over_its_time_limit_says_how_far(monkeypatch, tmp_path):
    _stopped_in_router2(monkeypatch, timed_out=True)
    d = Design(topology=Topology(layers=(2, 2)), arch="serial", training=False)
    with pytest.raises(BuildError) as e:
        build_bitstream("ulx3s", d, tmp_path, time_limit_min=45)
    r = e.value.report
    assert r["failure"] == ("routing did not finish (router2 iteration 5: 29,088 of 903,225 "
                            "wires overused; post-placement estimate 40.90 MHz); the tools "
                            "did not finish within 45 minutes")
    assert r["time_limit_min"] == 45 and r["fmax_mhz"] is None


def test_the_build_script_is_stopped_at_its_time_limit(tmp_path):
    """A script whose tool outlives the limit: it and its child are stopped."""
    import time

    from wuxing.boards.build import BuildTimeout, run_build_script
    (tmp_path / "slow.sh").write_text("sleep 60 &\necho $! > child.pid\nwait\n")
    t0 = time.monotonic()
    with pytest.raises(BuildTimeout, match="within 0.02 minutes"):
        run_build_script(tmp_path, "slow", 0.02)
    assert time.monotonic() - t0 < 20
    child = Path("/proc") / (tmp_path / "child.pid").read_text().strip() / "stat"
    time.sleep(0.2)
    # gone, or a zombie that nobody has reaped yet (state Z): not running
    assert not child.exists() or child.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    (tmp_path / "fails.sh").write_text("exit 3\n")
    with pytest.raises(subprocess.CalledProcessError):
        run_build_script(tmp_path, "fails")
    (tmp_path / "ok.sh").write_text("echo done > out.txt\n")
    run_build_script(tmp_path, "ok", 1)
    assert (tmp_path / "out.txt").read_text() == "done\n"
    for bad in (0, -1, float("inf"), True, "5"):
        with pytest.raises(ValueError, match="positive number of minutes"):
            run_build_script(tmp_path, "ok", bad)


def test_a_failed_board_build_reports_the_predicted_speed(monkeypatch, tmp_path):
    """`wuxing build` of a design that did not route still says what it would do: the
    scheduler's clocks of a sample and the samples/s at the asked clock, marked as such."""
    from wuxing.boards.build import board_build
    _stopped_in_router2(monkeypatch)
    d = Design(topology=Topology(layers=(3, 2, 2)), arch="engine", training=False)
    with pytest.raises(BuildError) as e:
        board_build("ulx3s", d, 2, tmp_path, clock_mhz=40)
    r = e.value.report
    assert r["lanes"] == 2 and r["routed"] is False
    from wuxing.boards.build import fit_to_board
    from wuxing.boards.lanes import with_lanes
    cyc = fit_to_board("ulx3s", with_lanes(d, 2)).resources().cycles
    assert r["cycles_per_sample_predicted"] == cyc["sample"] > 0
    assert r["cycles_per_sample"] is None                     # nothing measured
    assert r["samples_per_s"] == pytest.approx(r["clock_mhz"] * 1e6 / cyc["sample"])
    assert r["samples_per_s_from"] == "prediction, at the asked clock (not built)"


@pytest.mark.parametrize("seed", [None, 0, 7, 2 ** 31 - 1])
def test_the_placer_seed_reaches_the_nextpnr_command(seed, monkeypatch, tmp_path):
    plans = _planned(monkeypatch)
    d = Design(topology=Topology(layers=(2, 2)), arch="serial", training=False)
    r = build_bitstream("ulx3s", d, tmp_path, seed=seed)
    line = _nextpnr_line(plans[0])
    if seed is None:
        assert "--seed" not in line, line
    else:
        assert f" --seed {seed} " in line + " ", line
        assert line.count("--seed") == 1
    assert r["seed"] == seed
    assert (f", seed {seed})" in format_report(dict(r, seconds=1.0))) == (seed is not None)


@pytest.mark.parametrize("seed", [-1, 2 ** 31, 1.5, True, "3"])
def test_a_bad_placer_seed_is_refused_before_building(seed, monkeypatch, tmp_path):
    plans = _planned(monkeypatch)
    d = Design(topology=Topology(layers=(2, 2)), arch="serial", training=False)
    with pytest.raises(ValueError, match="placer seed must be an integer"):
        board_build("ulx3s", d, 1, tmp_path, seed=seed)
    assert plans == []


def test_cli_seed_option():
    run = [sys.executable, "-m", "wuxing.cli", "build", "--board", "ulx3s"]
    r = subprocess.run(run + ["--help"], capture_output=True, text=True, timeout=120)
    assert "--seed N" in r.stdout, r.stdout
    r = subprocess.run(run + ["--seed", "-3"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "--seed must be from 0 to 2147483647, not -3" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
