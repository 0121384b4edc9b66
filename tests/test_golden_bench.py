"""golden.bench runs and counts element-updates as documented (no timing thresholds); the
Brian2 peer computes the same integrals."""
import numpy as np
import pytest

from wuxing.golden import bench, kernels, peer
from wuxing.golden.config import RunConfig
from wuxing.golden.network import FloatModel, init_coefficients
from wuxing.golden.topology import Topology


def test_bench_model_counts(tiny):
    cfg = RunConfig(steps=8)
    for kind in ("float", "fixed"):
        for kernel in ("numpy", "numba") if kernels.AVAILABLE else ("numpy",):
            r = bench.bench_model(kind, tiny, cfg, batch=4, reps=2, threads=1, kernel=kernel)
            assert r["updates"] == 2 * 8 * 5 * tiny.n_neurons * 4
            assert r["rate"] == pytest.approx(r["updates"] / r["wall_best"])
            assert r["peak_bytes"] > 0 and r["threads"] == 1 and r["kernel"] == kernel
    with pytest.raises(ValueError, match="kind"):
        bench.bench_model("double", tiny, cfg, 4, 1)


def test_bench_main_quick(capsys, tmp_path):
    out_json = tmp_path / "bench.json"
    assert bench.main(["--quick", "--model", "tiny", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "tiny: 42 neurons" in out
    assert "float32" in out and "fixed" in out and "element-updates/s" in out
    assert "numpy" in out
    if kernels.AVAILABLE:
        assert "numba / numpy:" in out
    import json
    rep = json.loads(out_json.read_text())
    assert {r["kind"] for r in rep["runs"]} == {"float", "fixed"}


def test_bench_bad_arguments(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--model", "nope"])
    assert e.value.code == 2
    assert "unknown topology preset" in capsys.readouterr().err


brian2_ok, brian2_why = peer.available()


@pytest.mark.skipif(not brian2_ok, reason=f"Brian2 not usable: {brian2_why}")
def test_brian2_peer_integrals_equal_floatmodel():
    """The Brian2 network (numpy target) integrates the same Euler steps: forward and reverse
    integrals and final states equal a float64 FloatModel's to rounding, with saturation."""
    topo = Topology(layers=(3, 4, 2), fan_in=2, seed=4, in_elem=1, out_elem=3)
    cfg = RunConfig(steps=30, c_init_lo=1.0, c_init_hi=3.0)
    m = FloatModel(topo, cfg, dtype=np.float64)
    rng = np.random.default_rng(0)
    C = init_coefficients(topo, cfg, 0)
    x = rng.uniform(0, 2, (3, 3))
    err = rng.uniform(-2, 2, (3, 2))
    saturated = False
    for rev, rows, ext in ((False, m.in_flat, x), (True, m.out_flat, err)):
        ours = (m.reverse if rev else m.forward)(C, ext)
        got = peer.brian2_run(m, C, rows, ext, rev, target="numpy")
        assert got["S"].shape == ours.S.shape
        assert np.abs(got["S"] - ours.S).max() < 1e-10 * max(1, np.abs(ours.S).max())
        assert np.abs(got["final_state"] - ours.final_state).max() < 1e-10
        assert 0 < got["steps_s"] <= got["run_s"]
        saturated |= bool(ours.overflow.any())
    assert saturated, "the case should exercise the clamp"
    with pytest.raises(ValueError, match="target"):
        peer.brian2_run(m, C, m.in_flat, x, False, target="genn")
