# amaranth: UnusedElaboratable=no
"""The PLL solvers (boards.pll) against settings the vendor-rule tools print, every range of
every solution re-checked, and the board clock plan and lock reset (boards.top)."""
import math

import pytest

from wuxing.boards.pll import (ECP5_RANGES, ICE40_RANGES, PLLParams, ice40_filter_range,
                               solve, solve_ecp5, solve_ice40)

# icepll (icestorm) outputs published with designs that use them:
# (f_in, f_out) -> (DIVR, DIVF, DIVQ, FILTER_RANGE)
ICEPLL = {
    (12, 96): (0, 63, 3, 1),      # iCEstick, "icepll -i 12 -o 96"
    (96, 16): (2, 31, 6, 3),
    (48, 16): (2, 63, 6, 1),
    (48, 24): (0, 15, 5, 4),
    (48, 60): (0, 19, 4, 4),      # "icepll -i 48"
    (48, 100): (2, 49, 3, 1),
    (48, 150): (1, 24, 2, 2),
    (16, 50): (0, 49, 4, 1),
}
# ecppll (Project Trellis) outputs: (f_in, f_out) -> (CLKI_DIV, CLKFB_DIV, CLKOP_DIV,
# CLKOP_CPHASE); 25 MHz: ULX3S designs ("ecppll -i 25 -o F"), 12 -> 16: an ECP5 evaluation
# board design ("ecppll -i 12 -o 16")
ECPPLL = {
    (25, 120): (5, 24, 5, 2), (25, 110): (5, 22, 5, 2), (25, 100): (1, 4, 6, 2),
    (25, 95): (5, 19, 6, 3), (25, 90): (5, 18, 7, 3), (25, 85): (5, 17, 7, 3),
    (25, 80): (5, 16, 7, 3), (25, 75): (1, 3, 8, 4), (25, 70): (5, 14, 9, 4),
    (25, 65): (5, 13, 9, 4), (25, 60): (5, 12, 10, 4), (25, 50): (1, 2, 12, 5),
    (25, 40): (5, 8, 15, 7), (12, 16): (3, 4, 37, 18),
}


@pytest.mark.parametrize("fin,fout", sorted(ICEPLL))
def test_ice40_matches_icepll(fin, fout):
    p = solve_ice40(fin, fout)
    q = p.params
    assert (q["DIVR"], q["DIVF"], q["DIVQ"], q["FILTER_RANGE"]) == ICEPLL[fin, fout]
    assert p.f_out == pytest.approx(fout, abs=1e-9)
    p.check()


@pytest.mark.parametrize("fin,fout", sorted(ECPPLL))
def test_ecp5_matches_ecppll(fin, fout):
    p = solve_ecp5(fin, fout)
    q = p.params
    assert (q["CLKI_DIV"], q["CLKFB_DIV"], q["CLKOP_DIV"], q["CLKOP_CPHASE"]) == ECPPLL[fin, fout]
    assert p.f_out == pytest.approx(fout, abs=1e-9)
    assert q["FEEDBK_PATH"] == "CLKOP"
    p.check()


def _grid(lo, hi, step):
    n = int(round((hi - lo) / step))
    return [round(lo + i * step, 3) for i in range(n + 1)]


@pytest.mark.parametrize("fin", [12.0, 25.0, 48.0])
def test_every_solution_keeps_every_range(fin):
    """A sweep of requests: each setting passes the independent range check, the achieved
    frequency is the dividers', "at_most" never exceeds the request and is never farther
    from it than needed (no setting of the grid search lies between)."""
    family = "ice40" if fin == 12.0 else "ecp5"
    lo, hi = (16.5, 120.0) if family == "ice40" else (10.5, 200.0)
    checked = 0
    for f in _grid(lo, hi, 0.7):
        near = solve(family, fin, f)
        near.check()
        under = solve(family, fin, f, mode="at_most")
        under.check()
        assert under.f_out <= f + 1e-9
        assert abs(near.f_out - f) <= abs(under.f_out - f) + 1e-9
        checked += 2
    assert checked > 200


def test_ice40_at_most_is_the_best_under_the_request():
    """Brute force over the datasheet ranges: no setting lies between the answer and the
    request."""
    want = 25.3
    p = solve_ice40(12, want, mode="at_most")
    best = 0.0
    r = ICE40_RANGES
    for divr in range(16):
        pfd = 12 / (divr + 1)
        if not r["f_pfd"][0] <= pfd <= r["f_pfd"][1]:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not r["f_vco"][0] <= vco <= r["f_vco"][1]:
                continue
            for divq in range(1, 7):
                f = vco / 2 ** divq
                if f <= want:
                    best = max(best, f)
    assert p.f_out == pytest.approx(best) and p.f_out == pytest.approx(25.125)


def test_filter_range_boundaries():
    assert [ice40_filter_range(f) for f in (10, 16.99, 17, 25.9, 26, 43.9, 44, 65.9, 66,
                                            100.9, 101, 133)] == [1, 1, 2, 2, 3, 3, 4, 4, 5,
                                                                 5, 6, 6]


def test_check_catches_broken_settings():
    good = solve_ice40(12, 24)
    for change, msg in ((dict(DIVQ=7), "DIVQ"), (dict(FILTER_RANGE=3), "FILTER_RANGE"),
                        (dict(DIVF=10), "f_vco")):
        bad = PLLParams(good.family, good.f_in, good.f_requested, good.f_out, good.f_pfd,
                        good.f_vco, {**good.params, **change})
        with pytest.raises(ValueError, match=msg):
            bad.check()
    e = solve_ecp5(25, 50)
    bad = PLLParams(e.family, e.f_in, e.f_requested, e.f_out, e.f_pfd, e.f_vco,
                    {**e.params, "CLKOP_DIV": 20})
    with pytest.raises(ValueError, match="f_vco"):     # 50 * 20 = 1000 MHz VCO
        bad.check()
    bad = PLLParams(e.family, e.f_in, e.f_requested, 60.0, e.f_pfd, e.f_vco, e.params)
    with pytest.raises(ValueError, match="f_out"):     # not what the dividers give
        bad.check()


def test_requests_outside_the_ranges_say_so():
    with pytest.raises(ValueError, match="output must be 16..275 MHz, not 12 MHz"):
        solve_ice40(12, 12)
    with pytest.raises(ValueError, match="input"):
        solve_ice40(5, 24)
    with pytest.raises(ValueError, match="no iCE40 PLL setting gives at most 16 MHz"):
        solve_ice40(12, 16, mode="at_most")         # 15.94 would be below the output range
    with pytest.raises(ValueError, match="output must be 10..400 MHz"):
        solve_ecp5(25, 500)
    with pytest.raises(ValueError, match="mode"):
        solve_ecp5(25, 50, mode="up")
    with pytest.raises(TypeError):
        solve_ice40("12", 24)
    with pytest.raises(ValueError, match="family"):
        solve("gowin", 27, 50)
    assert ECP5_RANGES["f_vco"] == (400.0, 800.0)


def test_clock_plan_per_board():
    from wuxing.boards.top import BOARDS, plan_clock
    for name, b in BOARDS.items():
        assert b.platform().default_clk_frequency == b.osc_mhz * 1e6
        for arch in ("serial", "unrolled"):
            plan = plan_clock(name, b.default_clock(arch))
            assert plan.mhz <= plan.requested_mhz
            if plan.pll is not None:
                plan.pll.check()
                assert plan.pll.family == b.family
    osc = plan_clock("icebreaker", 12)
    assert osc.pll is None and osc.mhz == 12
    with pytest.raises(ValueError, match="icebreaker: .*16..275 MHz"):
        plan_clock("icebreaker", 13)
    with pytest.raises(ValueError, match="positive"):
        plan_clock("ulx3s", -1)


def test_lock_reset_holds_until_lock_and_hold_clocks():
    """In the Amaranth simulator: reset while unlocked, released ``hold`` clocks (plus the
    synchroniser) after the lock, reasserted when the lock is lost."""
    from amaranth.sim import Simulator

    from wuxing.boards.top import LockReset
    dut = LockReset(hold=5)
    seen = []

    async def bench(ctx):
        for _ in range(6):
            await ctx.tick()
            seen.append(("unlocked", ctx.get(dut.rst)))
        ctx.set(dut.lock, 1)
        for i in range(12):
            await ctx.tick()
            seen.append((f"locked+{i + 1}", ctx.get(dut.rst)))
        ctx.set(dut.lock, 0)
        for i in range(4):
            await ctx.tick()
            seen.append((f"lost+{i + 1}", ctx.get(dut.rst)))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    rst = dict(seen)
    assert all(v == 1 for k, v in seen if k == "unlocked")
    released = [k for k, v in seen if k.startswith("locked") and v == 0]
    # two synchroniser stages, 5 hold clocks, one register: released 8 clocks after lock
    assert released and released[0] == "locked+8", seen
    assert all(rst[f"locked+{i}"] == 0 for i in range(8, 13))
    assert rst["lost+3"] == 1 and rst["lost+4"] == 1
    with pytest.raises(ValueError):
        LockReset(0)
    with pytest.raises(TypeError):
        LockReset(2.5)


def test_board_top_baud_divisor_follows_the_pll():
    from wuxing.boards.top import BoardTop, plan_clock
    from wuxing.boards.host import HostBridge
    from wuxing.golden.topology import Topology
    from wuxing.hdl.generate import Design
    import warnings
    warnings.simplefilter("ignore")
    br = HostBridge.for_design(Design(topology=Topology(layers=(2, 2)), arch="serial"))
    for board_name, mhz in (("icebreaker", 24), ("ulx3s", 50), ("icebreaker", 12)):
        top = BoardTop(br, plan_clock(board_name, mhz))
        assert top.divisor == round(mhz * 1e6 / 115200)
    with pytest.raises(TypeError, match="ClockPlan"):
        BoardTop(br, 24)
    assert math.isclose(plan_clock("orangecrab", 75).mhz, 74.6667, rel_tol=1e-4)
