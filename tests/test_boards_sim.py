"""The host flow against the simulated board (Verilator): identify, coefficient write and read
back, inference, training steps, refusals; every integer equal to the golden model. The byte
stream of the session is recorded as a fixture, and the recorded fixture is replayed through
the driver (the hardware-less test of the driver)."""
import json
from pathlib import Path

import numpy as np
import pytest

from wuxing.boards.driver import BoardDriver, ReplayTransport
from wuxing.boards.flow import golden_session, host_session
from wuxing.golden.network import init_coefficients
from wuxing.golden.topology import Topology
from wuxing.hdl.generate import Design

FIXTURE = Path(__file__).parent / "fixtures" / "boards" / "session_2x2.json"
# one pytest-xdist worker runs this module, so that its module fixture (a co-simulated
# session) runs once (make test: --dist loadgroup)
pytestmark = pytest.mark.xdist_group("boards_sim")


def session_job(design):
    m = design.model()
    C = m.coef_to_int(init_coefficients(design.topology, design.cfg, 1))
    rng = np.random.default_rng(0)
    x = m.input_to_int(rng.uniform(0, 1, (4, design.topology.layers[0])))
    targets = np.eye(design.topology.layers[-1])[[0, 1, 0, 1]]
    return m, C, x, targets


def small_design():
    return Design(topology=Topology(layers=(2, 2)), mult="parallel")


@pytest.fixture(scope="module")
def sim_result(tmp_path_factory):
    from wuxing.boards.sim import run_sim_session
    from wuxing.sim.runner import simulator_missing
    if simulator_missing("verilator"):
        pytest.skip(simulator_missing("verilator"))
    d = small_design()
    m, C, x, targets = session_job(d)
    rec = tmp_path_factory.mktemp("rec") / "session.json"
    job = dict(C_int=C.tolist(), x_int=x.tolist(), targets=targets.tolist(), train=2,
               negative=True, garbage="00c0db01c0ff", tx_stall=2, record=str(rec))
    r = run_sim_session(d, job, "verilator")
    return d, m, C, x, targets, r, rec


def test_host_flow_equals_golden(sim_result):
    d, m, C, x, targets, r, _ = sim_result
    g = golden_session(m, C, x, targets, train=2)
    assert r["c_read_back"] == C.tolist()
    out, gout = np.array(r["outputs"]), np.array(g["outputs"])
    assert out.shape == gout.shape == (4, 2)
    assert np.array_equal(out, gout), (out, gout)
    assert r["c_after"] == g["c_after"]
    assert r["c_after"] != C.tolist()           # training changed the coefficients
    n = out.size + len(C) * 2
    print(f"compared {n} integers, 0 mismatches")
    assert r["status"]["train_steps"] == 2
    assert r["status"]["frames_dropped"] == 3     # the garbage sent first: 3 broken frames


def test_refusals_change_nothing(sim_result):
    neg = sim_result[5]["negative"]
    assert neg["coef_out_of_range"].endswith("out of range")
    assert neg["coef_index_past_end"].endswith("out of range")
    assert neg["input_wrong_length"].endswith("wrong message length")
    assert neg["unknown_command"].endswith("unknown command")
    assert neg["train_without_forward"].startswith("TRAIN: no forward run")
    assert neg["coefficients_unchanged"] is True


def test_recorded_session_matches_fixture(sim_result):
    """The simulated session's bytes equal the stored fixture (regenerate it with
    WUXING_UPDATE_FIXTURES=1 when the protocol changes on purpose)."""
    import os
    rec = json.loads(Path(sim_result[6]).read_text())
    if os.environ.get("WUXING_UPDATE_FIXTURES") or not FIXTURE.exists():
        FIXTURE.write_text(json.dumps(rec, indent=0) + "\n")
    stored = json.loads(FIXTURE.read_text())
    assert stored["log"] == rec["log"]


def test_replay_fixture_through_driver():
    """A board session without a board: the driver against the recorded device bytes."""
    if not FIXTURE.exists():
        pytest.skip("no recorded fixture yet")
    rec = json.loads(FIXTURE.read_text())
    d = Design.from_manifest(rec["meta"]["manifest"])
    m, C, x, targets = session_job(d)
    t = ReplayTransport(FIXTURE)
    drv = BoardDriver(t, timeout=0.0, retries=0)
    t.write(bytes.fromhex(rec["meta"]["job"]["garbage"]))
    r = host_session(drv, m, C, x, targets=targets, train=2)
    g = golden_session(m, C, x, targets, train=2)
    assert np.array_equal(np.array(r["outputs"]), np.array(g["outputs"]))
    assert r["c_after"] == g["c_after"]
