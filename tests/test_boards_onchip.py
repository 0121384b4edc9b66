"""Learning on the chip, host side (issue #10): the training plan, the one-frame sample
commands of the bridge in Amaranth's simulator, training on the co-simulated board
(Verilator) with every coefficient compared with the golden model after every batch, the
recorded serial session (through a pseudo-terminal) replayed through the driver, and the
command line's refusals."""
import json
import subprocess
import sys

import numpy as np
import pytest

from wuxing.boards.driver import BoardDriver, DeviceError, ReplayTransport
from wuxing.boards.onchip import OnChipPlan, plan_batches, to_pixels
from wuxing.boards.protocol import Cmd, Flags, pack_values, sample_args
from wuxing.boards.sim import (ONCHIP_FIXTURE, ONCHIP_RECORD_COMMAND, onchip_fixture_session,
                               onchip_over_serial)
from wuxing.golden.network import init_coefficients
from wuxing.golden.onchip import ChipTrainer
from wuxing.golden.schedule import StepSchedule
from wuxing.golden.topology import Topology
from wuxing.hdl.generate import Design

pytestmark = pytest.mark.xdist_group("boards_onchip")


# -- the plan (pure) -----------------------------------------------------------------------
def test_plan_whole_batches_and_max_samples():
    p = OnChipPlan(epochs=3, batch=4, seed=5)
    ep = plan_batches(p, 10)
    assert [len(e) for e in ep] == [8, 8, 8]               # the last incomplete batch left out
    assert all(len(set(e)) == 8 and max(e) < 10 for e in ep)
    assert not np.array_equal(ep[0], ep[1])                # reshuffled every epoch
    assert [len(e) for e in plan_batches(OnChipPlan(epochs=3, batch=4, max_samples=11), 10)] \
        == [8, 0, 0]                                       # 11 -> two whole batches
    assert [len(e) for e in plan_batches(OnChipPlan(epochs=3, batch=2, max_samples=11), 10)] \
        == [10, 0, 0]
    for bad in (dict(batch=3), dict(batch=512), dict(batch=0), dict(batch=4, max_samples=2),
                dict(check_every=-1)):
        with pytest.raises(ValueError):
            OnChipPlan(**dict(dict(epochs=1, batch=1), **bad))
    # the chip steers by its training error: a validation split is golden training's only
    with pytest.raises(ValueError, match="golden training only"):
        OnChipPlan(epochs=1, batch=1, schedule=StepSchedule.parse("halve-on-worse:validate=8"))
    OnChipPlan(epochs=1, batch=1, schedule=StepSchedule.parse("halve-on-worse:watch=errors"))


def test_pixels_invert_the_chips_pixel_table():
    d = Design(topology=Topology(layers=(4, 3)), arch="serial")
    m = d.model()
    p = np.arange(256, dtype=np.uint8)
    assert np.array_equal(to_pixels(p / 255.0), p)
    x = np.repeat(p[:, None] / 255.0, 4, axis=1)          # dataset inputs (pixels / 255)
    assert np.array_equal(m.pixel_to_int(to_pixels(x)), m.input_to_int(x))
    with pytest.raises(ValueError):
        to_pixels(np.array([1.5]))


# -- the bridge's sample commands in Amaranth's simulator (in process) -------------------------
@pytest.fixture(scope="module")
def pysim_driver():
    from wuxing.boards.host import HostBridge
    from wuxing.boards.pysim import PySimTransport
    from wuxing.boards.sim import sim_timeout_kcycles
    d = Design(topology=Topology(layers=(2, 2)), arch="serial")
    bridge = HostBridge.for_design(d)
    assert bridge.learns and bridge.max_payload >= 4 + 2
    sim = PySimTransport(bridge)
    return d, BoardDriver(sim, timeout=sim_timeout_kcycles(bridge.network, d), retries=0)


def test_bridge_sample_commands_equal_golden(pysim_driver):
    d, drv = pysim_driver
    m = d.model()
    C = m.coef_to_int(init_coefficients(d.topology, d.cfg, 4))
    drv.write_coefficients(C)
    drv.write_reg("batch_log2", 1)
    drv.write_reg("correct", 0)
    drv.write_reg("samples", 0)
    gold = ChipTrainer(m, C, batch_log2=1)
    rng = np.random.default_rng(3)
    px, y = rng.integers(0, 256, (4, 2)), rng.integers(0, 2, 4)
    compared = 0
    for i in range(4):
        flags, pred = drv.train_pixels(px[i], int(y[i]))
        gold.train_sample(m.pixel_to_int(px[i]), int(y[i]))
        assert pred == gold.predicted and not flags & ~Flags.SAMPLE_OVERFLOW
        assert drv.read_reg("batch_fill") == gold.batch_fill
        assert np.array_equal(drv.read_coefficients(), gold.C)
        compared += 2 + len(C)
    assert not np.array_equal(gold.C, C)                  # two batches changed C
    assert drv.read_reg("samples") == 4 and drv.read_reg("correct") == gold.correct
    flags, pred = drv.eval_pixels(px[0], int(y[0]))
    assert pred == gold.eval_sample(m.pixel_to_int(px[0]), int(y[0]))
    assert drv.read_reg("samples") == 5 and drv.read_reg("correct") == gold.correct
    assert drv.status()["train_steps"] == 4               # TRAIN_SAMPLE counts in STATUS
    print(f"compared {compared + 5} integers, 0 mismatches")


def test_bridge_refuses_bad_samples_and_registers(pysim_driver):
    d, drv = pysim_driver
    before = drv.read_coefficients().tolist()
    fill = drv.read_reg("batch_fill")
    cases = {
        "label past the outputs": (Cmd.TRAIN_SAMPLE, sample_args(2, [0, 0])),
        "one pixel short": (Cmd.TRAIN_SAMPLE, sample_args(0, [0])),
        "one pixel more": (Cmd.EVAL_SAMPLE, sample_args(0, [0, 0, 0])),
        "the command register": (Cmd.WRITE_REG, bytes([12]) + pack_values([3])),
        "a read-only register": (Cmd.WRITE_REG, bytes([16]) + pack_values([1])),
        "a register past the map": (Cmd.READ_REG, bytes([200])),
        "a register write without its value": (Cmd.WRITE_REG, bytes([13])),
    }
    texts = {}
    for name, (cmd, args) in cases.items():
        with pytest.raises(DeviceError) as e:
            drv.call(cmd, args)
        texts[name] = str(e.value)
    assert all("out of range" in texts[k] for k in ("label past the outputs",
                                                    "the command register",
                                                    "a read-only register",
                                                    "a register past the map"))
    assert all("wrong message length" in texts[k] for k in (
        "one pixel short", "one pixel more", "a register write without its value"))
    assert drv.read_coefficients().tolist() == before and drv.read_reg("batch_fill") == fill


def test_an_unfinished_batch_on_the_chip_is_emptied_first(pysim_driver):
    """A run interrupted mid-batch leaves sums in the chip's accumulators that no command
    clears: train_on_chip ends that batch with one sample first, so its first batch equals
    the golden model's."""
    from wuxing.boards.onchip import train_on_chip
    d, drv = pysim_driver
    m = d.model()
    rng = np.random.default_rng(5)
    drv.write_reg("batch_log2", 2)
    drv.train_pixels(rng.integers(0, 256, 2), 1)
    assert drv.read_reg("batch_fill") == 1
    lines = []
    r = train_on_chip(drv, m, m.coef_to_int(init_coefficients(d.topology, d.cfg, 6)),
                      rng.integers(0, 256, (4, 2)).astype(np.uint8), rng.integers(0, 2, 4),
                      rng.integers(0, 256, (2, 2)).astype(np.uint8), rng.integers(0, 2, 2),
                      OnChipPlan(epochs=1, batch=2, check_every=1), log=lines.append)
    assert any("unfinished batch" in line for line in lines)
    assert r["mismatches"] == 0 and r["coefficient_checks"] == 1 + 2 + 1


def test_unrolled_network_with_k_registers_has_no_sample_commands():
    from wuxing.boards.host import HostBridge
    from wuxing.boards.pysim import PySimTransport
    d = Design(topology=Topology(layers=(2, 2)), mult="parallel", k_mode="reg")
    bridge = HostBridge.for_design(d)
    assert not bridge.learns
    drv = BoardDriver(PySimTransport(bridge), timeout=20, retries=0)
    with pytest.raises(DeviceError, match="unknown command"):
        drv.train_pixels([1, 2], 0)


# -- the co-simulated board (Verilator): batch 1 and batch 4, checked after every batch, on the
# serial engine and on the unrolled network (slow: the unrolled network's on-chip training is
# checked in the default run by amaranth.sim and the cocotb train bench) ----------------------
@pytest.fixture(scope="module", params=["serial", pytest.param("unrolled", marks=pytest.mark.slow)])
def cosim_result(request, require_simulator, run_once):
    from wuxing.boards.sim import run_sim_session
    require_simulator("verilator")

    def session():
        d, spec = onchip_fixture_session(request.param)
        return d, spec, run_sim_session(d, dict(onchip=spec), "verilator")
    return run_once(f"onchip_{request.param}", session)


def test_training_on_the_cosimulated_chip_equals_golden(cosim_result):
    d, spec, r = cosim_result
    m = d.model()
    # the golden model trained on the same samples, batch by batch
    C = np.array(spec["C_int"])
    for run, p in zip(r["runs"], spec["plans"]):
        plan = OnChipPlan(**p)
        gold = ChipTrainer(m, C, plan.batch_log2)
        order = plan_batches(plan, len(spec["y_train"]))[0]
        px = np.array(spec["px_train"])
        after = gold.train(m.pixel_to_int(px[order]), np.array(spec["y_train"])[order])
        assert len(after) == len(order) // plan.batch == run["coefficient_checks"] - 2
        assert run["C_int"] == gold.C.tolist()
        C = gold.C
        assert run["mismatches"] == 0, run["mismatches_by_kind"]
        h = run["history"]
        assert [e["test_acc"] for e in h] == [e["golden_test_acc"] for e in h]
        assert h[-1]["test_samples"] == len(spec["y_test"])
    assert not np.array_equal(C, spec["C_int"])
    assert r["mismatches"] == 0 and r["compared"] > 0
    print(f"on the chip ({d.arch}): {r['compared']} integers compared, 0 mismatches, "
          f"held-out accuracy {h[-1]['test_acc']} as golden")


# -- the recorded serial session (pseudo-terminal), replayed through the driver ----------------
def _untimed(r):
    """A result without its wall times (seconds, samples/s): the integers and counts."""
    if isinstance(r, dict):
        return {k: _untimed(v) for k, v in r.items()
                if k != "seconds" and not k.endswith("_per_s")}
    if isinstance(r, list):
        return [_untimed(v) for v in r]
    return r


def test_replay_serial_session_through_driver():
    rec = json.loads(ONCHIP_FIXTURE.read_text())
    d, spec = onchip_fixture_session()
    assert rec["meta"]["design"] == d.manifest() and rec["meta"]["spec"] == spec, \
        f"the fixture is of another session: {ONCHIP_RECORD_COMMAND}"
    t = ReplayTransport(ONCHIP_FIXTURE)
    r = onchip_over_serial(t, d, spec, rec["meta"]["timeout"])
    t.check_finished()
    assert _untimed(r) == _untimed(rec["meta"]["result"])
    assert r["mismatches"] == 0 and r["compared"] > 0


# -- the command line ------------------------------------------------------------------------
@pytest.mark.parametrize("args, msg", [
    (["--on-chip"], "--port PORT"),
    (["--on-chip", "--sim", "--port", "/dev/null"], "exclude"),
    (["--on-chip", "--sim", "--max-samples", "0"], "--max-samples"),
    (["--on-chip", "--sim", "--check-every", "-1"], "--check-every"),
    (["--on-chip", "--sim", "--resume"], "--resume"),
    (["--on-chip", "--sim", "--batch", "3"], "power of two"),
    (["--sim"], "--on-chip"),
    (["--max-samples", "5"], "--on-chip"),
])
def test_train_on_chip_refuses_bad_options_in_one_line(args, msg, tmp_path):
    from wuxing.cli import main
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["train", "--out", str(tmp_path / "o")] + args)
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and msg in lines[0], lines
    assert not (tmp_path / "o" / "checkpoint.npz").exists()


def test_train_on_chip_without_a_board_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "wuxing.cli", "train", "--on-chip", "--port",
                        str(tmp_path / "no-such-port"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: cannot open serial port") and \
        "Traceback" not in r.stderr
    assert not (tmp_path / "o" / "checkpoint.npz").exists()


# -- what a board can do wrong: one line, and the last epoch's files stay -------------------
class _DamagedLine(ReplayTransport):
    """The recorded serial session, damaged after the host's ``after``-th write: ``silent``
    (the board stops answering), ``crc`` (every answer arrives with a flipped byte), or
    ``overflow`` (TRAIN_SAMPLE answers carry the overflow flag, framed correctly)."""

    def __init__(self, mode, after):
        super().__init__(ONCHIP_FIXTURE)
        self.mode, self.after, self.writes = mode, after, 0
        self.last_cmd = None
        from wuxing.boards.protocol import FrameDecoder
        self.frames = FrameDecoder()

    @property
    def damaged(self):
        return self.writes > self.after

    def write(self, data):
        self.writes += 1
        if self.damaged and self.mode != "overflow":
            return                           # nobody reads it: the line is broken
        self.last_cmd = self._cmd(data)
        super().write(data)

    @staticmethod
    def _cmd(frame):
        from wuxing.boards.protocol import FrameDecoder
        (payload,) = FrameDecoder(4096).feed(frame)
        return payload[0]

    def read(self, timeout):
        from wuxing.boards.protocol import Response, encode_frame
        if self.damaged and self.mode == "silent":
            return self._nothing(timeout)
        if self.damaged and self.mode == "crc":
            good = encode_frame(Response(Cmd.STATUS, 0, 0).payload())
            self.clock += timeout
            return good[:3] + bytes([good[3] ^ 0x01]) + good[4:]
        data = super().read(timeout)
        if self.mode == "overflow" and self.damaged and self.last_cmd == Cmd.TRAIN_SAMPLE:
            out = b""
            for p in self.frames.feed(data):
                r = Response.parse(p)
                out += encode_frame(Response(r.cmd, r.seq, r.status, bytes(
                    [r.data[0] | Flags.SAMPLE_OVERFLOW]) + r.data[1:]).payload())
            return out
        return data

    def _nothing(self, timeout):
        self.clock += max(timeout, 1e-3)
        return b""


def _train_fixture(transport, epoch_files, model=None, retries=0):
    """The fixture's first plan through ``transport``; every epoch's record written to
    ``epoch_files`` (a dict) as train_on_chip's on_epoch would write the checkpoint set."""
    from wuxing.boards.onchip import train_on_chip
    from wuxing.golden.report import render_json, write_set
    d, spec = onchip_fixture_session()
    drv = BoardDriver(transport, timeout=5.0, retries=retries)

    def on_epoch(rec, history):
        path = epoch_files["path"]
        write_set({path: render_json(dict(epoch=rec["epoch"], C=rec["C_int"]))})
        epoch_files["epochs"].append(rec["epoch"])

    return train_on_chip(drv, model or d.model(), np.array(spec["C_int"]),
                         np.array(spec["px_train"], np.uint8), np.array(spec["y_train"]),
                         np.array(spec["px_test"], np.uint8), np.array(spec["y_test"]),
                         OnChipPlan(**spec["plans"][0]), log=lambda line: None,
                         on_epoch=on_epoch, recipe="fixture")


@pytest.mark.parametrize("mode, after, want", [
    ("silent", 30, "the line is silent"),
    ("crc", 30, "broken frames"),
    ("overflow", 0, "a state saturated on the chip during training"),
])
def test_a_failing_board_ends_in_one_line_and_keeps_the_last_epoch(mode, after, want,
                                                                   tmp_path):
    from wuxing.golden.errors import UserError
    files = dict(path=tmp_path / "epoch.json", epochs=[])
    with pytest.raises(UserError) as e:
        _train_fixture(_DamagedLine(mode, after), files)
    msg = str(e.value)
    assert want in msg and "\n" not in msg, msg
    assert files["epochs"] == [0]                        # epoch 0 written, epoch 1 never
    kept = json.loads(files["path"].read_text())
    assert kept["epoch"] == 0 and kept["C"] == onchip_fixture_session()[1]["C_int"]
    assert [p.name for p in tmp_path.iterdir()] == ["epoch.json"]   # no temporaries left


def test_another_design_on_the_board_is_refused_before_any_write(tmp_path):
    from wuxing.boards.driver import LinkError
    d, _ = onchip_fixture_session()
    other = d.model().__class__(d.topology, d.cfg.replace(target=0.5), d.neuron, d.fmt,
                                d.table)                   # the target is hardware now
    t = ReplayTransport(ONCHIP_FIXTURE)
    files = dict(path=tmp_path / "epoch.json", epochs=[])
    with pytest.raises(LinkError, match="holds another design .* than recipe fixture"):
        _train_fixture(t, files, model=other)
    host_writes = [data for who, data in t.log[:t.pos] if who == "host"]
    assert len(host_writes) == 1 and files["epochs"] == []   # IDENTIFY only, nothing written


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["serial", "unrolled"])
def test_train_on_chip_sim_cli(tmp_path, require_simulator, arch):
    """``wuxing train --on-chip --sim``: the demo recipe through the pseudo-terminal, the set
    of files after every epoch and the summary with the golden check's counts; on the serial
    engine and on the unrolled network (``--arch``)."""
    require_simulator("verilator")
    from wuxing.golden.checkpoint import load_checkpoint
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-m", "wuxing.cli", "train", "--on-chip", "--sim",
                        "--arch", arch,
                        "--recipe", "tiny-digits4", "--epochs", "2", "--n-train", "16",
                        "--n-test", "12", "--quiet", "--out", str(out)],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    s = json.loads((out / "summary.json").read_text())
    assert s["mismatches"] == 0 and s["samples_trained"] == 32
    assert s["coefficient_checks"] == 1 + 4 + 2          # start, every batch, epoch ends
    h = json.loads((out / "history.json").read_text())["history"]
    assert [e["epoch"] for e in h] == [0, 1, 2] and h[-1]["samples_trained"] == 32
    ck = load_checkpoint(out / "checkpoint.npz")
    assert ck.mode == "fixed" and (out / "curve.png").stat().st_size > 0
    assert "0 mismatches" in r.stdout
