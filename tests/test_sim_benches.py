# amaranth: UnusedElaboratable=no
"""cocotb co-simulation benches, driven from pytest, on Icarus and Verilator.

Each test generates its design once (build/sim-designs/...) and builds it once per simulator
(build/sim/<dut>-<simulator>-<hash>). A missing simulator fails the test (the README promises
both; WUXING_ALLOW_MISSING_TOOLS=1 skips instead). Every bench runs inside the co-simulation
wrapper (sim/wrapper.py).
"""
import gc
import json
import multiprocessing
from pathlib import Path

import pytest

from wuxing.golden.config import RunConfig
from wuxing.golden.fixedpoint import DEFAULT_FORMAT, LEARNING_FORMAT
from wuxing.golden.topology import Topology, preset
from wuxing.hdl.generate import build_component, load_manifest
from wuxing.sim.designs import ensure_design, standard_design
from wuxing.sim.netlist import children_first, simulation_netlist
from wuxing.sim.runner import (SIMULATORS, BenchError, VerilatorOptions, build_simulation,
                               run_bench)
from wuxing.sim.wrapper import (RX_BYTES, TX_BYTES, has_byte_path, verilator_public_ports,
                                verilog_ports, wrapper_name, wrapper_verilog)


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


# the network engine: P in {1, 3, 8}, fan-in 1 and 2; 12 neurons, link counts (20 and 40)
# that are not multiples of 3 or 8; P = 3 with the fixed-point learning format (dither)
@pytest.mark.parametrize("lanes, fan_in, fmt", [(1, 2, DEFAULT_FORMAT), (3, 1, LEARNING_FORMAT),
                                                (8, 2, DEFAULT_FORMAT)])
def test_engine_network_bench(simulator, lanes, fan_in, fmt):
    topo = Topology(layers=(5, 4, 3), fan_in=fan_in, seed=3, name=f"engine-fan{fan_in}")
    design = standard_design("network", topo, steps=12, arch="engine", lanes=lanes, fmt=fmt)
    rep = run_bench("network", ensure_design(design), simulator)
    passed(rep, 600)
    b = rep["benches"][0]
    assert b["runs"][1:] == ["zero-input", "full-scale", "full-scale-negative", "random-0"]
    assert b["overflow_runs"] >= 1
    print(f"engine P={lanes}, fan-in {fan_in}, {simulator}, dither {fmt.reverse_dither}: "
          f"{rep['compared']} values compared, {rep['mismatches']} mismatches")


# learning on the chip (issue #10): TRAIN_SAMPLE over batches of 1 and 4 and EVAL_SAMPLE,
# the error formed on the chip, pixels through region 8; every C after every batch; the
# engine and the unrolled network (its clocks reported, not predicted)
@pytest.mark.parametrize("arch, lanes, fan_in, fmt", [
    ("engine", 3, 2, DEFAULT_FORMAT), ("engine", 1, 1, LEARNING_FORMAT),
    ("unrolled", 1, 2, DEFAULT_FORMAT)])
def test_train_bench(simulator, arch, lanes, fan_in, fmt):
    topo = Topology(layers=(5, 4, 3), fan_in=fan_in, seed=1 if fan_in == 2 else 2,
                    name=f"train-fan{fan_in}")
    design = standard_design("network", topo, arch=arch, lanes=lanes, fmt=fmt)
    # outputs that change the predicted class from sample to sample, a step that moves C
    design.cfg = RunConfig(steps=20, input_scale=16.0, step=2.0 ** -2, output_mean=False)
    rep = run_bench("train", ensure_design(design), simulator,
                    env={"WUXING_BATCH_LOG2": "0,2", "WUXING_TRAIN_BATCHES": "3",
                         "WUXING_EVAL_SAMPLES": "3"})
    passed(rep, 250)
    b = rep["benches"][0]
    assert b["runs"] == ["batch-1", "batch-4"]
    assert [x["samples"] for x in b["batches"]] == [3, 12]
    assert all(x["changed_c"] > 0 for x in b["batches"])
    print(f"on-chip training, {arch} P={lanes}, fan-in {fan_in}, {simulator}, dither "
          f"{fmt.reverse_dither}: {rep['compared']} values compared ({b['c_compared']} C), "
          f"{rep['mismatches']} mismatches, {b['compare_cycles']} clocks in "
          f"{b['compare_seconds']:.1f} s ({b['train_clocks']} a TRAIN_SAMPLE, "
          f"{b['eval_clocks']} an EVAL_SAMPLE)")


def test_train_bench_refuses_a_network_without_learning(tmp_path, icarus):
    design = standard_design("network", "small", steps=4, k_mode="reg")   # K at region 8
    with pytest.raises(ValueError, match="no on-chip training"):
        run_bench("train", ensure_design(design), icarus)


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


@pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")
def test_small_serial_network_bench_and_its_clocks(simulator):
    """The serial network on both simulators: every value equal to the golden model, and the
    clocks of each command, counted by the wrapper from the start strobe to the done pulse,
    equal to SerialNetwork's timing (the engine's scheduler counts both ends)."""
    design = standard_design("network", "small", steps=6, arch="serial")
    rep = run_bench("network", ensure_design(design), simulator)
    passed(rep, 500)
    net = build_component(design)   # only its cycle counts
    run, bsp = net.cycles_per_run(), net.cycles_per_bsp()
    del net
    gc.collect()                      # its unused-elaboratable warning, here
    clocks = [case["cycles"] for case in rep["benches"][0]["cases"]]
    assert len(clocks) == 4
    assert clocks == [dict(forward=run, reverse=run, bsp=bsp)] * 4


def test_wrapper_ports_and_checks():
    text = (ensure_design(standard_design("network", "small")) / "wuxing_network.v").read_text()
    ports = {p.name: p for p in verilog_ports(text, "wuxing_network")}
    assert (ports["addr"].direction, ports["addr"].width) == ("input", 24)
    assert (ports["rdata"].direction, ports["rdata"].width) == ("output", 32)
    assert ports["done"].width == 1 and "clk" in ports
    w = wrapper_verilog(text, "wuxing_network", stop_on=("done", "tx_valid"))
    assert f"module {wrapper_name('wuxing_network')} (" in w
    assert "wx_stops = {done}" in w            # the design has no tx_valid: left out
    assert "  input [23:0] addr," in w and ".rdata(rdata)" in w
    with pytest.raises(ValueError, match="1-bit output"):
        wrapper_verilog(text, "wuxing_network", stop_on=("addr",))
    with pytest.raises(ValueError, match="not found"):
        verilog_ports(text, "no_such_module")
    with pytest.raises(ValueError, match="no clk"):
        wrapper_verilog("module m(a);\n  input a;\nendmodule\n", "m")


# a design with the byte boundary (tests/byte_path_bench.py runs it)
ECHO = Path(__file__).resolve().parent / "fixtures" / "sim" / "echo.v"


def test_wrapper_byte_path_only_for_the_whole_byte_boundary():
    """A design with rx_data/rx_valid/tx_data/tx_valid/tx_ready gets the byte path: the
    wrapper drives rx_data, rx_valid and tx_ready (no ports of the wrapper any more), has the
    byte path's ports, and its quiet condition reads busy; without one of the five ports (or
    with another width) the wrapper passes every port through as before."""
    text = ECHO.read_text()
    ports = verilog_ports(text, "echo")
    assert has_byte_path(ports)
    w = wrapper_verilog(text, "echo")
    for name in ("rx_data", "rx_valid", "tx_ready"):
        assert f"  input {name}," not in w and f"  input [7:0] {name}," not in w
        assert f"assign {name} = " in w
    assert "  output [7:0] tx_data," in w and "  output tx_valid," in w
    assert f"  input [{8 * RX_BYTES - 1}:0] wx_rx_data," in w
    assert f"  output reg [{8 * TX_BYTES - 1}:0] wx_tx_data," in w
    assert "if (!busy && !tx_valid && wx_rx_drained)" in w
    vlt = verilator_public_ports("echo", text)
    assert '"wx_tx_data"' in vlt and '"rx_valid"' not in vlt
    for cut in ("  input tx_ready;\n", "  input rx_valid;\n"):
        other = text.replace(cut, "")      # the declarations are what counts
        assert not has_byte_path(verilog_ports(other, "echo"))
        assert "input wx_io," not in wrapper_verilog(other, "echo")
    wide = text.replace("  input rx_valid;", "  input [1:0] rx_valid;")
    assert not has_byte_path(verilog_ports(wide, "echo"))
    assert "  input [1:0] rx_valid," in wrapper_verilog(wide, "echo")


def _build_in(root, sources, top):
    return build_simulation("synapse", sources, top, "icarus", root=root).cached


def test_build_is_reused_and_concurrent_builds_wait(tmp_path, icarus):
    """Two processes asking for the same build at once: one compiles, the other waits on the
    folder's lock and reuses it; a third call reuses it too, a different option does not."""
    sim = icarus
    design_dir = ensure_design(standard_design("synapse"))
    args = (tmp_path, [design_dir / "wuxing_synapse.v"], "wuxing_synapse")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        cached = pool.starmap(_build_in, [args, args])
    assert sorted(cached) == [False, True]
    again = build_simulation("synapse", args[1], args[2], sim, root=tmp_path)
    assert again.cached and again.seconds > 0
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 1
    waves = build_simulation("synapse", args[1], args[2], sim, waves="vcd", root=tmp_path)
    assert not waves.cached and waves.build_dir != again.build_dir


def test_verilator_options_are_checked():
    with pytest.raises(ValueError, match="cxx_opt"):
        VerilatorOptions(cxx_opt="-O9")
    with pytest.raises(ValueError, match="threads"):
        VerilatorOptions(threads=0)
    assert "--threads" in VerilatorOptions(threads=2).args()
    assert "--no-public-flat-rw" not in VerilatorOptions(public_ports_only=False).args()
    with pytest.raises(ValueError, match="pgo"):
        VerilatorOptions(pgo="yes")
    with pytest.raises(ValueError, match="optimize_netlist"):
        VerilatorOptions(optimize_netlist=1)
    design_dir = ensure_design(standard_design("synapse"))
    with pytest.raises(ValueError, match="profile run"):
        build_simulation("synapse", [design_dir / "wuxing_synapse.v"], "wuxing_synapse",
                         "verilator", verilator=VerilatorOptions(pgo=True))


def test_profile_guided_verilator_build(require_simulator, tmp_path):
    """A profile-guided build (VerilatorOptions.pgo): the bench's quick check runs on the
    instrumented model, the model is compiled again with its profile (the build log shows
    it), and the bench on that build passes; a profile run that fails stops the build with
    the run's error."""
    require_simulator("verilator")
    pgo = VerilatorOptions(pgo=True)
    rep = run_bench("network", ensure_design(standard_design("network", "small")), "verilator",
                    verilator=pgo, env=dict(WUXING_RANDOM_CASES=2))
    passed(rep, 100)
    build_dir = Path(rep["build_dir"])
    assert rep["verilator_options"]["pgo"] is True
    assert sorted(p.name for p in build_dir.glob("*.gcda"))     # the profile run's counts
    log = (build_dir / "build.log").read_text()
    assert "-fprofile-use" in log and "-fprofile-generate" not in log
    design_dir = ensure_design(standard_design("synapse"))
    with pytest.raises(BenchError, match="profile run of synapse failed .no workload"):
        build_simulation("synapse", [design_dir / "wuxing_synapse.v"], "wuxing_synapse",
                         "verilator", verilator=pgo, root=tmp_path,
                         profile=lambda build: RuntimeError("no workload"))


def test_simulation_netlist(require_simulator, tmp_path):
    """The netlist Verilator compiles by default (sim/netlist.py): one flattened module with the
    design's ports; the bench passes on it and on the Verilog as generated, with the same
    count of values compared; Verilog Yosys cannot read is an error naming Yosys's log."""
    require_simulator("verilator")
    # the design of test_small_network_bench: its default build is shared
    design_dir = ensure_design(standard_design("network", "small", steps=20))
    _, man = load_manifest(design_dir)
    source = design_dir / man["verilog"]
    net = simulation_netlist([source], "wuxing_network", tmp_path / "net")
    assert "Reprocessing" not in (tmp_path / "net" / "netlist.log").read_text()
    text = net.read_text()
    assert [ln.split("(")[0] for ln in text.splitlines() if ln.startswith("module ")] == \
        ["module wuxing_network"]
    assert set(verilog_ports(text, "wuxing_network")) == \
        set(verilog_ports(source.read_text(), "wuxing_network"))
    compared = []
    for optimize in (True, False):
        rep = run_bench("network", design_dir, "verilator",
                        verilator=VerilatorOptions(optimize_netlist=optimize),
                        env=dict(WUXING_RANDOM_CASES=2))
        passed(rep, 100)
        assert rep["verilator_options"]["optimize_netlist"] is optimize
        assert (Path(rep["build_dir"]) / "netlist" / "wuxing_network_sim.v").exists() \
            == optimize
        compared.append(rep["compared"])
    assert compared[0] == compared[1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOSYS", str(tmp_path / "no-yosys"))
        with pytest.raises(ValueError, match="simulation netlist needs Yosys"):
            build_simulation("network", [source], "wuxing_network", "verilator",
                             root=tmp_path)
    (tmp_path / "broken.v").write_text("module broken(input a;\nendmodule\n")
    with pytest.raises(RuntimeError, match="Yosys could not optimise broken.*netlist.log"):
        simulation_netlist([tmp_path / "broken.v"], "broken", tmp_path / "bad")


def test_simulation_netlist_reads_modules_children_first():
    """Yosys reads each module after the modules it instantiates (sim.netlist.children_first:
    the text of every module kept, only their order reversed), so its hierarchy pass never
    derives a module again (the path on which YoWASP's Yosys 0.70 read freed memory)."""
    text = ("/* header */\n(* top = 1 *)\nmodule top(a);\n  mid m ();\nendmodule\n"
            "module mid();\n  leaf l ();\nendmodule\nmodule leaf();\nendmodule\n")
    out = children_first(text)
    assert [ln for ln in out.splitlines() if ln.startswith("module")] == \
        ["module leaf();", "module mid();", "module top(a);"]
    assert sorted(out.splitlines()) == sorted(text.splitlines())
    assert out.index("(* top = 1 *)\nmodule top") > 0
    assert children_first("module x(); endmodule") == "module x(); endmodule"


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


# info 6, C at reset, after loading and after BSP 3 x 4711, S and R 2 x 10220, outputs 10,
# overflow flags 2 x 2044, clocks of the three commands 3
MODEL1_COMPARED = 6 + 3 * 4711 + 2 * 10220 + 10 + 2 * 2044 + 3


@pytest.mark.slow
def test_model1_engine_verilator(require_simulator):
    """One whole MODEL1 forward run, reverse run and BSP update on Verilator: every integral,
    output, overflow flag and new C against FixedModel, and the clocks of each command against
    the scheduler. The same as ``wuxing compare --topology model1 --arch engine --lanes 16
    --simulator verilator --random 1 --no-edge-cases`` (docs/HARDWARE.md)."""
    from wuxing.sim.commands import compare_design
    require_simulator("verilator")
    design = standard_design("network", preset("model1"), arch="engine", lanes=16)
    rep = compare_design(design, "verilator", random_cases=1, edge_cases=False)
    passed(rep, MODEL1_COMPARED)
    assert rep["compared"] == MODEL1_COMPARED
    case = rep["benches"][0]["cases"][0]
    print(f"MODEL1 on 16 lanes, Verilator: {rep['compared']} values compared, "
          f"{rep['mismatches']} mismatches; clocks {case['cycles']}; build "
          f"{rep['build_seconds']:.0f} s, run {rep['test_seconds']:.0f} s")


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


BYTE_PATH_CASES = [(1, 0), (1, 2), (3, 0), (2, 5)]     # (rx_gap, tx_stall)


# Verilator's build of the echo design is slow-marked (the default run's time); the board
# tests run the byte path on Verilator (tests/test_boards_sim.py: the fixture's byte log)
@pytest.mark.parametrize("simulator", ["icarus",
                                       pytest.param("verilator", marks=pytest.mark.slow)])
def test_byte_path_equals_the_bench_that_woke_per_byte(tmp_path, require_simulator, simulator):
    """The board's SimTransport over the wrapper's byte path reads the same bytes after the
    same clock counts as the former bench that woke cocotb per byte (modelled in Python in
    tests/byte_path_bench.py) on an echo design: frames, END without a body, timeouts, 300
    bytes (more than a buffer each way), several rx_gap / tx_stall settings."""
    import os

    from wuxing.sim.runner import ROOT, build_simulation, new_run_dir, test_simulation
    require_simulator(simulator)
    here = Path(__file__).resolve().parent
    build = build_simulation("echo", [ECHO], "echo", simulator)
    compared = 0
    for case in BYTE_PATH_CASES:
        run_dir = new_run_dir(build)
        out = tmp_path / f"bp-{case[0]}-{case[1]}.json"
        env = {"WUXING_BYTE_PATH_OUT": out, "WUXING_BYTE_PATH_CASE": json.dumps(case),
               "PYTHONPATH": os.pathsep.join([str(ROOT), str(here),
                                              os.environ.get("PYTHONPATH", "")])}
        failure = test_simulation(build, "byte_path_bench", run_dir, env)
        assert failure is None and out.exists(), f"{failure}; see {run_dir / 'test.log'}"
        r = json.loads(out.read_text())
        for i, st in enumerate(r["steps"]):
            assert (st["read"], st["cycles"]) == (st["ref_read"], st["ref_cycles"]), (case, i)
            compared += 2
        reads = [bytes.fromhex(st["read"]) for st in r["steps"]]
        assert reads[0] == b"\x11\x22\xc0" and reads[2] == b""    # a frame; a timeout
        assert sum(map(len, reads)) > 300
        # a request per frame each way, not per byte
        assert r["requests"] < 4 + 3 * len(r["steps"])
    print(f"{simulator}: {compared} values compared (bytes read, clock counts), 0 mismatches")
