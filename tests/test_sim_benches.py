"""cocotb co-simulation benches, driven from pytest, on Icarus and Verilator.

Each test generates its design once (build/sim-designs/...) and builds it once per simulator
(build/sim/<dut>-<simulator>-<hash>). A missing simulator fails the test (the README promises
both; WUXING_ALLOW_MISSING_TOOLS=1 skips instead).
"""
import json

import pytest

from wuxing.golden.config import RunConfig
from wuxing.hdl.generate import load_manifest
from wuxing.sim.designs import ensure_design, standard_design
from wuxing.sim.runner import SIMULATORS, run_bench


@pytest.fixture(params=SIMULATORS)
def simulator(request, require_simulator):
    return require_simulator(request.param)


@pytest.fixture
def icarus(require_simulator):
    return require_simulator("icarus")


def passed(rep, at_least):
    msgs = [f"run {m['run']}, step {m['step']}, {m['signal']}: RTL {m['rtl']} != golden "
            f"{m['golden']}" for m in rep["first_mismatches"]]
    assert rep["mismatches"] == 0, "\n".join(msgs)
    assert rep["tests_failed"] == 0, f"bench failed, see {rep['build_dir']}/test.log"
    assert rep["compared"] >= at_least


def test_core_bench(simulator):
    rep = run_bench("core", ensure_design(standard_design("core")), simulator)
    passed(rep, 700)
    assert rep["benches"][0]["overflow_runs"] >= 2  # both saturation cases hit the flag


def test_synapse_bench(simulator):
    rep = run_bench("synapse", ensure_design(standard_design("synapse")), simulator)
    passed(rep, 250)
    assert len(rep["benches"][0]["clamps_reached"]) == 2


def test_small_network_bench(simulator):
    rep = run_bench("network", ensure_design(standard_design("network", "small", steps=20)),
                    simulator)
    passed(rep, 500)
    b = rep["benches"][0]
    assert b["runs"][1:] == ["zero-input", "full-scale", "full-scale-negative", "random-0"]
    assert b["overflow_runs"] >= 1


def test_core_bench_shared_and_k_registers(icarus):
    sim = icarus
    for mult, k_mode in (("shared", "const"), ("parallel", "reg"), ("shared", "reg")):
        rep = run_bench("core", ensure_design(standard_design("core", mult=mult, k_mode=k_mode)),
                        sim)
        passed(rep, 700)


def test_pipelined_core_and_network_benches(icarus):
    sim = icarus
    passed(run_bench("core", ensure_design(standard_design("core", pipeline=True)), sim), 700)
    passed(run_bench("network", ensure_design(standard_design("network", "small", steps=12,
                                                              pipeline=True)), sim), 500)


def test_small_network_shared_bench(icarus):
    rep = run_bench("network", ensure_design(standard_design("network", "small", steps=12,
                                                             mult="shared")), icarus)
    passed(rep, 500)


@pytest.mark.slow
def test_tiny_network_bench_icarus(icarus):
    rep = run_bench("network", ensure_design(standard_design("network", "tiny")), icarus,
                    env=dict(WUXING_RANDOM_CASES=0))
    passed(rep, 2000)


@pytest.mark.slow
def test_tiny_network_bench_verilator(require_simulator):
    require_simulator("verilator")
    rep = run_bench("network", ensure_design(standard_design("network", "tiny")), "verilator",
                    env=dict(WUXING_RANDOM_CASES=3, WUXING_SPEED_STEPS=20000))
    passed(rep, 4000)


def test_bench_reports_a_mismatch(tmp_path, icarus):
    """A design whose manifest disagrees with its Verilog (h = 1/8 instead of 1/4) must fail,
    naming the run, the step, the signal and both values."""
    src = ensure_design(standard_design("core"))
    design, man = load_manifest(src)
    (tmp_path / man["verilog"]).write_text((src / man["verilog"]).read_text())
    man["cfg"] = RunConfig.from_dict(man["cfg"]).replace(h_shift=3).as_dict()
    (tmp_path / "manifest.json").write_text(json.dumps(man))
    rep = run_bench("core", tmp_path, icarus)
    assert rep["mismatches"] > 0 and rep["tests_failed"] == 1
    m = rep["first_mismatches"][0]
    assert {"run", "step", "signal", "rtl", "golden"} <= set(m) and m["rtl"] != m["golden"]


@pytest.mark.parametrize("fmt", ["vcd", "fst"])
def test_waves_on_request(fmt, icarus):
    rep = run_bench("synapse", ensure_design(standard_design("synapse")), icarus, waves=fmt,
                    env=dict(WUXING_RANDOM_CASES=2))
    passed(rep, 50)
    assert rep["waves"] and all(w.endswith("." + fmt) for w in rep["waves"])
    with open(rep["waves"][0], "rb") as f:
        head = f.read(64)
    if fmt == "vcd":
        assert b"$date" in head or b"$version" in head or b"$timescale" in head
    else:
        assert not head.startswith(b"$")  # FST is binary


def test_run_bench_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown simulator"):
        run_bench("core", tmp_path, "modelsim")
    with pytest.raises(ValueError, match="unknown bench"):
        run_bench("cpu", tmp_path, "icarus")
    with pytest.raises(ValueError, match="waves"):
        run_bench("core", tmp_path, "icarus", waves="lxt")
