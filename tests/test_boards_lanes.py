"""The --lanes auto search (boards.lanes) on model boards: an estimate and a build outcome per
lane count given as plain functions, so every branch of the search is exercised without a
tool run; and the budget model (boards.budget) against real builds' block RAM counts."""
# amaranth: UnusedElaboratable=no
import math

import pytest

from wuxing.boards.lanes import Attempt, LaneSearchError, search_lanes, with_lanes


class Model:
    """A board on which ``P`` lanes need ``per_lane * P + base`` block RAMs (estimated) and
    ``true_factor`` times that in a real build; Fmax falls by ``fmax_drop`` MHz per lane."""

    def __init__(self, avail=100, per_lane=10, base=5, true_factor=1.0, clock=75.0,
                 fmax0=90.0, fmax_drop=0.0, refuse_above=None):
        self.avail, self.per_lane, self.base = avail, per_lane, base
        self.true_factor, self.clock = true_factor, clock
        self.fmax0, self.fmax_drop, self.refuse_above = fmax0, fmax_drop, refuse_above
        self.built = []

    def est(self, p):
        return self.per_lane * p + self.base

    def estimate(self, p, scale):
        if self.refuse_above and p > self.refuse_above:
            raise ValueError(f"P={p} too large for the topology")
        used = self.est(p) * ((scale or {}).get("bram", 1.0))
        return [f"bram {math.ceil(used)}/{self.avail}"] if used > self.avail else []

    def build(self, p):
        self.built.append(p)
        used = math.ceil(self.est(p) * self.true_factor)
        fmax = self.fmax0 - self.fmax_drop * p
        rep = dict(lanes=p, fmax_mhz=fmax,
                   usage_vs_estimate=dict(bram=dict(used=used, estimated=self.est(p),
                                                    available=self.avail)))
        if used > self.avail:
            rep["failure"] = f"does not fit: bram {used}/{self.avail}"
        elif fmax < self.clock:
            rep["failure"] = f"misses timing: Fmax {fmax:.1f} MHz < {self.clock} MHz"
        if "failure" in rep:
            e = RuntimeError(rep["failure"])
            e.report = rep
            raise e
        return rep


def test_estimate_right_first_build_wins():
    m = Model()                       # 10 P + 5 <= 100: P = 9
    rep, tried = search_lanes(64, m.estimate, m.build, slack=0.0)
    assert rep["lanes"] == 9 and m.built == [9]
    assert [a.lanes for a in tried if a.outcome == "estimate over"]  # the bisection's probes
    assert all(a.lanes > 9 for a in tried if a.outcome == "estimate over")


def test_underestimate_steps_down_by_calibration():
    m = Model(true_factor=1.3)        # real: 13 P + 6.5: P = 7 fits (97.5), P = 8 does not
    rep, tried = search_lanes(64, m.estimate, m.build, slack=0.0)
    assert m.built[0] == 9 and rep["lanes"] == 7
    fails = [a for a in tried if a.outcome == "does not fit"]
    assert fails and "bram" in fails[0].reason
    # the calibrated estimate jumps straight to 7 (1.3 x 75 = 97.5); then 8 is tried upwards
    assert m.built[:2] == [9, 7]
    assert rep["lanes"] == max(p for p in m.built if math.ceil(m.est(p) * 1.3) <= 100)


def test_timing_miss_bisects_and_refines_upwards():
    m = Model(fmax0=90.0, fmax_drop=2.0)   # Fmax >= 75 while P <= 7
    rep, tried = search_lanes(64, m.estimate, m.build, max_builds=6, slack=0.0)
    assert rep["lanes"] == 7
    assert [a.outcome for a in tried if a.report is not None][0] == "misses timing"
    assert 9 in m.built and 7 in m.built and len(m.built) <= 6


def test_build_budget_is_respected_and_no_fit_is_an_error():
    m = Model(fmax0=60.0)             # no P meets 75 MHz
    with pytest.raises(LaneSearchError) as e:
        search_lanes(64, m.estimate, m.build, max_builds=3)
    assert len(m.built) == 3 and "misses timing" in str(e.value)
    assert all(isinstance(a, Attempt) for a in e.value.attempts)


def test_one_lane_over_the_estimate_builds_nothing():
    m = Model(avail=10, base=50)      # 60 blocks for P = 1 on a 10-block device
    with pytest.raises(LaneSearchError, match="even one lane does not fit: bram 60/10"):
        search_lanes(8, m.estimate, m.build)
    assert m.built == []


def test_slack_tries_a_slightly_over_estimate_and_steps_down():
    m = Model()                       # estimate allows 11 within 15 %; the build says 9
    rep, _ = search_lanes(64, m.estimate, m.build)
    assert m.built == [11, 9, 10] and rep["lanes"] == 9


def test_slack_lets_a_slightly_over_estimate_build():
    m = Model(avail=100, per_lane=10, base=8, true_factor=0.9)  # P = 10: 108 est., 98 real
    rep, _ = search_lanes(10, m.estimate, m.build)
    assert rep["lanes"] == 10


def test_a_build_that_does_not_route_steps_down_one_lane():
    m = Model()                       # estimate: P = 9; P > 7 fit but do not route in time
    fits = m.build

    def build(p):
        if p > 7:
            m.built.append(p)
            e = RuntimeError("stopped")
            e.report = dict(lanes=p, failure="routing did not finish (router1: 1,000 of "
                                             "9,000 arcs left); the tools did not finish "
                                             "within 60 minutes")
            raise e
        return fits(p)
    rep, tried = search_lanes(64, m.estimate, build, slack=0.0)
    assert m.built == [9, 8, 7] and rep["lanes"] == 7
    assert [a.outcome for a in tried if a.report is not None] == \
        ["does not route", "does not route", "built"]


def test_generator_refusals_are_recorded():
    m = Model(refuse_above=4)
    rep, tried = search_lanes(64, m.estimate, m.build)
    assert rep["lanes"] == 4
    assert any(a.outcome == "refused" and "too large" in a.reason for a in tried)


def test_serial_is_the_one_lane_case():
    from wuxing.golden.topology import Topology
    from wuxing.hdl.generate import Design
    d = Design(topology=Topology(layers=(2, 2)), arch="serial")
    assert with_lanes(d, 1) is d or with_lanes(d, 1) == d
    with pytest.raises(ValueError, match="--lanes 1"):
        with_lanes(d, 2)
    with pytest.raises(ValueError, match="no lanes"):
        with_lanes(Design(topology=Topology(layers=(2, 2))), 1)


# block RAMs nextpnr placed for board tops with the serial network (the engine with one lane,
# every memory in block RAM), measured 2026-12-01 with `wuxing build --board B --layers L
# --arch serial --no-cosim --json R` (the report's resources DP16KD / ICESTORM_RAM):
# (layers, board family) -> blocks; the estimate may not be below them, nor more than 15 % above
# + 2. The former SerialNetwork's (E and S/R in SPRAM) were 9, 28, 20, 37 on the UP5K and 7 on
# the ECP5; those networks but tiny need 84-136 blocks now and do not fit the UP5K.
# Re-measured the same way after on-chip training (its BSP accumulators, the bridge's sample
# frame buffer): 18, 28 (the UP5K builds placed these before failing on logic: 7,162 and
# 7,382 of 5,280 cells) and 8 (15, 25, 6 before).
MEASURED_BRAM = {((16, 16, 10), "ice40"): 18, ((35, 38, 13, 4, 2, 10), "ice40"): 28,
                 ((16, 16, 10), "ecp5"): 8}


@pytest.mark.parametrize("layers,family", sorted(MEASURED_BRAM))
def test_budget_estimate_brackets_measured_block_ram(layers, family):
    import warnings

    from wuxing.boards.budget import estimate
    from wuxing.boards.build import board_bridge
    from wuxing.boards.top import board
    from wuxing.golden.topology import Topology
    from wuxing.hdl.generate import Design
    warnings.simplefilter("ignore")
    d = Design(topology=Topology(layers=layers), arch="serial")
    name = "icebreaker" if family == "ice40" else "ulx3s"
    e = estimate(board_bridge(name, d)[0], board(name).device)
    real = MEASURED_BRAM[layers, family]
    assert real <= e.bram <= real * 1.15 + 2, (e.bram, real)
    assert e.spram == 0 and e.multipliers == 1     # the engine has no SPRAM memory


def test_clock_auto_retries_below_the_fmax_reached(monkeypatch, tmp_path):
    """--clock auto: a timing miss at the default clock is built again at 95 % of the Fmax
    reached, at most three times (the tool runs are replaced by a model: 40 MHz reachable,
    or a design whose Fmax follows the target down)."""
    from wuxing.boards import build as B
    from wuxing.golden.topology import Topology
    from wuxing.hdl.generate import Design
    clocks = []

    def model(board_name, design, lanes, out, clock, baud, max_builds, say, router, seed,
              time_limit_min=None):
        assert router == "router1" and seed is None   # --router auto on a small network
        clocks.append(clock)
        if clock > 40.0:
            e = B.BuildError(f"misses timing at {clock}")
            e.report = dict(failure=f"misses timing: Fmax 40.0 MHz < {clock} MHz",
                            fmax_mhz=40.0)
            raise e
        return dict(clock_mhz=clock, lanes=1, fmax_mhz=40.0), design, []
    monkeypatch.setattr(B, "_bitstream_at", model)
    d = Design(topology=Topology(layers=(3, 2)), arch="serial")
    r = B.board_build("ulx3s", d, "auto", tmp_path, clock_mhz="auto")
    assert clocks == [50.0, 38.0]
    assert r["clock_mhz"] == 38.0 and r["clock_lowered_from"][0]["fmax_mhz"] == 40.0
    assert r["cycles_per_sample"] is None and r["samples_per_s_from"] == "prediction"
    # a fixed clock is not lowered; a miss that is not timing is not retried
    clocks.clear()
    with pytest.raises(B.BuildError):
        B.board_build("ulx3s", d, "auto", tmp_path, clock_mhz=50.0)
    assert clocks == [50.0]

    def chasing(board_name, design, lanes, out, clock, baud, max_builds, say, router, seed,
              time_limit_min=None):
        clocks.append(clock)
        e = B.BuildError("misses timing")
        e.report = dict(failure="misses timing: ...", fmax_mhz=clock - 1.0)
        raise e
    monkeypatch.setattr(B, "_bitstream_at", chasing)
    clocks.clear()
    with pytest.raises(B.BuildError):
        B.board_build("ulx3s", d, "auto", tmp_path, clock_mhz="auto")
    assert len(clocks) == 1 + B.CLOCK_AUTO_ROUNDS


def test_fixed_lanes_above_the_board_limit_are_refused(tmp_path):
    """--lanes P with more lanes than the board has multipliers ends in one clear error
    before any build (a design type with a ``lanes`` field stands for the engine's)."""
    from dataclasses import dataclass

    from wuxing.boards.build import board_build
    from wuxing.golden.topology import Topology
    from wuxing.hdl.generate import Design

    @dataclass
    class EngineLike(Design):        # the engine's Design: arch "engine" with its lanes
        lanes: int = 1

        def __post_init__(self):
            pass
    small = EngineLike(topology=Topology(layers=(3, 2)), arch="engine")   # 5 neurons
    with pytest.raises(ValueError, match="6 lanes are too many for the ulx3s .* at most 5"):
        board_build("ulx3s", small, 6, tmp_path)
    big = EngineLike(topology=Topology(layers=(16, 16, 10)), arch="engine")
    with pytest.raises(ValueError, match="9 lanes are too many for the icebreaker .* at "
                                         "most 8 .* one of the 8 multipliers"):
        board_build("icebreaker", big, 9, tmp_path)
    assert not any(tmp_path.iterdir())       # nothing was built


def test_board_builds_fit_the_engine_to_block_ram():
    """An engine left to the tools' choice is fitted to the board's block RAM before a build
    (boards.build.fit_to_board): MODEL1 at P = 32 on the ECP5-85F needs 248 blocks with one
    atan ROM for two lanes and the BSP accumulators of on-chip training; one ROM for 16 lanes
    and the slot tables in logic bring it within 1 % headroom and the frame buffer; a design
    that names its own placement, and the serial network, are left as they are."""
    from wuxing.boards.build import BRAM_HEADROOM, fit_to_board
    from wuxing.golden.topology import preset
    from wuxing.hdl.generate import Design
    d = Design(topology=preset("model1"), arch="engine", lanes=32)
    assert d.resources().block_ram["ecp5"] == 248
    f = fit_to_board("ulx3s", d)
    assert (f.lanes_per_table, f.lut_memories) == (16, ("slot_rom",))
    assert f.resources().block_ram["ecp5"] <= 208 * (1 - BRAM_HEADROOM) - 1
    assert f.resources().cycles["sample"] > d.resources().cycles["sample"]   # BSP waits
    own = Design(topology=preset("model1"), arch="engine", lanes=32, lut_memories=("c_mem",))
    assert fit_to_board("ulx3s", own) is own
    small = Design(topology=preset("tiny"), arch="engine", lanes=4)
    assert fit_to_board("ulx3s", small) is small            # fits as it is


# LUT cells nextpnr packed for board tops with the engine on the ECP5-85F (docs/BOARDS.md):
# (what, P, on-chip training) -> cells. The MODEL1 ones are the fit of budget.ENGINE_LOGIC (P =
# 20 with its slot tables and C out of block RAM: 276,080 bits); the others were not used for it.
MEASURED_ENGINE_LOGIC = {("model1", 4, True): 16_797, ("model1", 8, True): 26_600,
                         ("model1", 16, True): 51_339, ("demo", 8, True): 28_633,
                         ("model1-fan4", 2, True): 10_664, ("model1-fan4", 4, False): 13_943}
MODEL1_P20_LUT_MEMORIES = (276_080, 102_321)


def test_engine_logic_estimate_follows_the_builds():
    """The engine's logic estimate is the fit's on its three builds and within 25 % of the
    builds outside it (over for the one without the learning units, 20 %); the estimate of an
    engine design carries it; no fit for the iCE40."""
    import warnings

    from wuxing.boards.budget import engine_logic, estimate
    from wuxing.boards.build import board_bridge
    from wuxing.boards.top import board
    from wuxing.golden.topology import Topology
    from wuxing.hdl.generate import Design
    ecp5, ice40 = board("ulx3s").device, board("icebreaker").device
    for (what, p, _), cells in MEASURED_ENGINE_LOGIC.items():
        est = engine_logic(ecp5, p)
        if what == "model1":
            assert abs(est - cells) <= 1, (p, est, cells)
        else:
            assert abs(est / cells - 1) <= 0.25, (what, p, est, cells)
    bits, cells = MODEL1_P20_LUT_MEMORIES
    assert abs(engine_logic(ecp5, 20, bits) - cells) <= 1
    assert engine_logic(ecp5, 20, bits) > engine_logic(ecp5, 20) + 30_000
    grows = [engine_logic(ecp5, p) for p in range(1, 40)]
    assert grows == sorted(grows) and engine_logic(ecp5, 26) > ecp5.logic
    assert engine_logic(ice40, 2) is None
    warnings.simplefilter("ignore")
    d = Design(topology=Topology(layers=(3, 3, 2)), arch="engine", lanes=2)
    e = estimate(board_bridge("ulx3s", d)[0], ecp5)
    assert e.logic == engine_logic(ecp5, 2) and e.usage()["logic"] == (e.logic, 83_640)
    rom = Design(topology=Topology(layers=(3, 3, 2)), arch="engine", lanes=2,
                 lut_memories=("slot_rom",))
    bits = rom.resources().lut_memory_bits
    assert bits > 0
    assert estimate(board_bridge("ulx3s", rom)[0], ecp5).logic == engine_logic(ecp5, 2, bits)
    assert estimate(board_bridge("icebreaker", d)[0], ice40).logic is None


def test_the_board_bench_passes_its_time_limit(monkeypatch, tmp_path):
    """`python -m wuxing.boards.bench --time-limit MIN` reaches every build of a run."""
    import wuxing.boards.build as B
    from wuxing.boards.bench import Run, run_one
    seen = []

    def stopped(board_name, design, lanes, out, **kw):
        seen.append(kw["time_limit_min"])
        e = B.BuildError("ulx3s: the build failed (routing did not finish)")
        e.report = dict(failure="routing did not finish (router1: 5 of 9 arcs left); the tools "
                                "did not finish within 7 minutes", time_limit_min=7)
        raise e
    monkeypatch.setattr(B, "board_build", stopped)
    r = run_one(Run("ulx3s", "tiny", "engine", 1), tmp_path, None, 1, log=lambda m: None,
                time_limit_min=7)
    assert seen == [7] and r["ok"] is False and r["time_limit_min"] == 7
