"""golden.bench runs and counts element-updates as documented (no timing thresholds)."""
import pytest

from wuxing.golden import bench
from wuxing.golden.config import RunConfig


def test_bench_model_counts(tiny):
    cfg = RunConfig(steps=8)
    for kind in ("float", "fixed"):
        r = bench.bench_model(kind, tiny, cfg, batch=4, reps=2, threads=1)
        assert r["updates"] == 2 * 8 * 5 * tiny.n_neurons * 4
        assert r["rate"] == pytest.approx(r["updates"] / r["wall_best"])
        assert r["peak_bytes"] > 0 and r["threads"] == 1
    with pytest.raises(ValueError, match="kind"):
        bench.bench_model("double", tiny, cfg, 4, 1)


def test_bench_main_quick(capsys):
    assert bench.main(["--quick", "--model", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "tiny: 42 neurons" in out
    assert "float32" in out and "fixed" in out and "element-updates/s" in out


def test_bench_bad_arguments(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--model", "nope"])
    assert e.value.code == 2
    assert "unknown topology preset" in capsys.readouterr().err
