"""The host flow against the simulated board (Verilator): identify, coefficient write and read
back, inference, training steps, refusals; every integer equal to the golden model. The byte
stream of the session is compared with the recorded fixture, and the fixture is replayed
through the driver (the hardware-less test of the driver).

The fixture is never written by a test: after a deliberate protocol change, record it with
``python -m wuxing.boards.sim record tests/fixtures/boards/session_2x2.json``."""
import json

import numpy as np
import pytest

from wuxing.boards.driver import BoardDriver, ReplayTransport
from wuxing.boards.flow import golden_session, run_job
from wuxing.boards.sim import FIXTURE, RECORD_COMMAND, fixture_session
from wuxing.hdl.generate import Design

# one pytest-xdist worker runs this module, so that its module fixture (a co-simulated
# session) runs once (make test: --dist loadgroup; run_once where that does not group)
pytestmark = pytest.mark.xdist_group("boards_sim")


@pytest.fixture(scope="module")
def sim_result(tmp_path_factory, require_simulator, run_once):
    from wuxing.boards.sim import run_sim_session
    require_simulator("verilator")

    def session():
        d, job = fixture_session()
        rec = tmp_path_factory.mktemp("rec") / "session.json"
        return d, job, run_sim_session(d, dict(job, record=str(rec)), "verilator"), rec
    return run_once("boards_sim", session)


def _golden(d, job):
    return golden_session(d.model(), np.array(job["C_int"]), np.array(job["x_int"]),
                          np.array(job["targets"]), train=job["train"])


def test_host_flow_equals_golden(sim_result):
    d, job, r, _ = sim_result
    g = _golden(d, job)
    assert r["c_read_back"] == job["C_int"]
    out, gout = np.array(r["outputs"]), np.array(g["outputs"])
    assert out.shape == gout.shape == (4, 2)
    assert np.array_equal(out, gout), (out, gout)
    assert r["c_after"] == g["c_after"]
    assert r["c_after"] != job["C_int"]          # training changed the coefficients
    n = out.size + len(job["C_int"]) * 2
    print(f"compared {n} integers, 0 mismatches")
    assert r["status"]["train_steps"] == 2
    assert r["status"]["frames_dropped"] == 3     # the garbage sent first: 3 broken frames


def test_refusals_change_nothing(sim_result):
    neg = sim_result[2]["negative"]
    assert "out of range" in neg["coef_out_of_range"]
    assert "out of range" in neg["coef_index_past_end"]
    assert "out of range" in neg["input_index_past_end"]
    assert "wrong message length" in neg["input_wrong_length"]
    assert "unknown command" in neg["unknown_command"]
    assert "refused TRAIN: no forward run" in neg["train_without_forward"]
    assert neg["coefficients_unchanged"] is True


def _fixture():
    if not FIXTURE.exists():
        pytest.fail(f"the recorded session {FIXTURE} is missing: record it with "
                    f"`{RECORD_COMMAND}`")
    return json.loads(FIXTURE.read_text())


def test_recorded_session_matches_fixture(sim_result):
    """The simulated session's bytes equal the stored fixture (after a deliberate protocol
    change, record it again with the command in the module docstring)."""
    rec = json.loads(sim_result[3].read_text())
    stored = _fixture()
    assert stored["log"] == rec["log"], f"the session changed: record it with `{RECORD_COMMAND}`"
    assert stored["meta"]["job"] == rec["meta"]["job"]


def test_replay_fixture_through_driver():
    """A board session without a board: the driver against the recorded device bytes; every
    recorded byte is used, and the result equals the golden model."""
    rec = _fixture()
    d = Design.from_manifest(rec["meta"]["manifest"])
    job = rec["meta"]["job"]
    t = ReplayTransport(FIXTURE)
    drv = BoardDriver(t, timeout=1.0, retries=0)
    r = run_job(drv, d.model(), job)
    t.check_finished()
    g = _golden(d, job)
    assert np.array_equal(np.array(r["outputs"]), np.array(g["outputs"]))
    assert r["c_after"] == g["c_after"] and r["c_after"] != job["C_int"]
    assert r["negative"]["coefficients_unchanged"] is True


def test_replay_notices_an_unused_recording(tmp_path):
    """The replay's own check can fail: a recording with one more device answer than the
    session reads is refused."""
    rec = _fixture()
    rec["log"].append(["device", "c0"])
    p = tmp_path / "longer.json"
    p.write_text(json.dumps(rec))
    d = Design.from_manifest(rec["meta"]["manifest"])
    t = ReplayTransport(p)
    run_job(BoardDriver(t, timeout=1.0, retries=0), d.model(), rec["meta"]["job"])
    with pytest.raises(AssertionError, match="used"):
        t.check_finished()
