"""wuxing sweep: a small grid on a local Dask cluster of 2 processes, one job failing on purpose,
the resume, the results table and plot; the spec checks and the parameter translation."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from wuxing.cli import main
from wuxing.golden.errors import UserError
from wuxing.sweep import (_subparser, expand_jobs, load_spec, lookup, params_to_argv, run_sweep,
                          summarize)

SPEC = """
name = "quick"

[[jobs]]
type = "topology"
params = { model = "tiny" }
grid = { fan_in = [1, 2] }

[[jobs]]
type = "train"
group = "train"
params = { recipe = "tiny-digits4", epochs = 1, n_train = 32, n_test = 32, set = ["steps=20"] }
grid = { seed = [0, 1], batch = [8, 64] }        # batch 64 > 32 samples: fails on purpose

[[jobs]]
type = "experiment"
after = ["train"]
params = { name = "fixed_vs_float", smoke = true, out = "OUT" }

[report]
columns = ["best.test_acc", "links", "link_ratio"]
x = "seed"
y = "best.test_acc"
series = "batch"
"""


# one pytest-xdist worker runs this module: its module fixture (the sweep) runs once
pytestmark = pytest.mark.xdist_group("sweep")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, run_once):
    """The sweep, run once: (spec, out, first run, second run)."""
    def run():
        d = tmp_path_factory.mktemp("sweep")
        out = d / "out"
        (d / "quick.toml").write_text(SPEC.replace("OUT", str(d / "exp")))
        spec = load_spec(d / "quick.toml")
        lines = []
        first = run_sweep(spec, out, workers=2, log=lines.append)
        second = run_sweep(spec, out, workers=2, log=lines.append)
        return spec, out, first, second, lines
    return run_once("sweep", run)


def test_sweep_runs_reports_failure_and_writes_results(sweep, tmp_path):
    spec, out, first, _, lines = sweep
    recs = first["records"]
    assert first["ran"] == 7 == len(first["jobs"])
    failed = [r for r in recs.values() if r["status"] == "failed"]
    assert {(r["type"], r["params"]["batch"], r["params"]["seed"]) for r in failed} == {
        ("train", 64, 0), ("train", 64, 1)}
    assert all("batch 64 is larger than the training set (32)" in r["error"] for r in failed)
    assert sum(r["status"] == "ok" for r in recs.values()) == 5
    assert any("a local cluster of 2 worker process(es)" in ln for ln in lines)
    assert any("FAILED" in ln and "batch=64" in ln for ln in lines)
    # one folder per job: the command's own JSON, its log, the sweep's record
    for job in first["jobs"]:
        d = Path(job["dir"])
        rec = json.loads((d / "job.json").read_text())
        assert rec["id"] == job["id"] and (d / "log.txt").exists()
        assert (d / "result.json").exists() == (rec["status"] == "ok")
    # a topology job's result is byte for byte what `wuxing topology --json` writes
    topo = next(j for j in first["jobs"] if j["type"] == "topology" and j["grid"]["fan_in"] == 2)
    assert main(["topology", "--model", "tiny", "--fan-in", "2", "--json",
                 str(tmp_path / "t.json")]) == 0
    assert (Path(topo["dir"]) / "result.json").read_bytes() == (tmp_path / "t.json").read_bytes()
    # train jobs wrote their checkpoints into their own folders
    ok_train = [j for j in first["jobs"] if j["type"] == "train" and j["params"]["batch"] == 8]
    assert all((Path(j["dir"]) / "checkpoint.npz").exists() for j in ok_train)
    exp = next(j for j in first["jobs"] if j["type"] == "experiment")
    assert json.loads((Path(exp["dir"]) / "result.json").read_text())["experiment"] == \
        "fixed_vs_float"


def test_resume_runs_nothing_new(sweep):
    spec, out, first, second, lines = sweep
    assert second["ran"] == 0
    assert second["records"] == first["records"]
    assert any("7 jobs, 7 finished before, 0 to run" in ln for ln in lines)


def test_retry_failed_runs_only_the_failed(sweep, tmp_path):
    spec, out, first, _, _ = sweep
    import shutil
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    res = run_sweep(spec, copy, workers=1, retry_failed=True, log=lambda s: None)
    assert res["ran"] == 2
    assert sum(r["status"] == "failed" for r in res["records"].values()) == 2


def test_results_table_and_plot(sweep):
    spec, out, first, _, _ = sweep
    lines = []
    rep = summarize(spec, out, first["jobs"], first["records"], log=lines.append)
    text = rep["table"]
    head = text.splitlines()[0].split()
    assert head[:2] == ["job", "status"]
    assert {"fan_in", "seed", "batch", "best.test_acc", "links", "seconds"} <= set(head)
    rows = {r["id"]: r for r in rep["rows"]}
    for job in first["jobs"]:
        assert job["id"] in text
        row = rows[job["id"]]
        if job["type"] == "train" and row["status"] == "ok":
            want = json.loads((Path(job["dir"]) / "result.json").read_text())["best"]["test_acc"]
            assert row["best.test_acc"] == want
        if job["type"] == "topology":
            assert row["links"] == json.loads(
                (Path(job["dir"]) / "result.json").read_text())["links"]
    assert (out / "summary.txt").read_text().strip() == text.strip()
    assert json.loads((out / "summary.json").read_text())["rows"]
    assert rep["plot"] is not None and (out / "summary.png").stat().st_size > 1000


def test_params_to_argv():
    _, train = _subparser("train")
    argv = params_to_argv(dict(recipe="tiny-digits4", n_train=10, fixed=True, quiet=False,
                               set=["steps=20", "kt=4"], argv=["--epochs", "1"]), train)
    assert argv == ["--recipe", "tiny-digits4", "--n-train", "10", "--fixed", "--set",
                    "steps=20", "--set", "kt=4", "--epochs", "1"]
    # without a parser (experiments): lists fill one option, except --set
    assert params_to_argv(dict(formats=["16,12", "12,8"], set=["a=1", "b=2"])) == [
        "--formats", "16,12", "12,8", "--set", "a=1", "--set", "b=2"]
    assert lookup({"a": [{"b": 1}, {"b": 2}]}, "a.-1.b") == 2
    assert lookup({"a": 1}, "a.b") is None


def test_spec_errors(tmp_path, capsys):
    def spec(text, name="s.toml"):
        p = tmp_path / name
        p.write_text(text)
        return p
    with pytest.raises(UserError, match="at least one"):
        load_spec(spec("name = 'x'\n"))
    with pytest.raises(UserError, match="not valid TOML"):
        load_spec(spec("[[jobs]\n"))
    with pytest.raises(UserError, match="grid.seed must be a non-empty list"):
        load_spec(spec("[[jobs]]\ntype='train'\ngrid={seed=3}\n"))
    with pytest.raises(UserError, match="no earlier group"):
        load_spec(spec("[[jobs]]\ntype='train'\nafter=['x']\n"))
    # bad job parameters are found before anything runs: one line, exit code 2
    p = spec('{"jobs": [{"type": "train", "params": {"bogus_option": 1}}]}', "s.json")
    assert main(["sweep", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: job train-") and "--bogus-option" in err
    assert not (tmp_path / "o").exists()
    p = spec('{"jobs": [{"type": "launch-rocket"}]}', "t.json")
    assert main(["sweep", str(p)]) == 2
    assert "unknown job type 'launch-rocket'" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert "cannot read the sweep spec" in capsys.readouterr().err


def test_identical_jobs_are_one_and_ids_are_stable(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"jobs": [
        {"type": "topology", "params": {"model": "tiny"}, "grid": {"fan_in": [1, 1, 2]}}]}))
    jobs = expand_jobs(load_spec(p), tmp_path)
    assert len(jobs) == 2
    assert [j["id"] for j in jobs] == [j["id"] for j in expand_jobs(load_spec(p), tmp_path)]


def test_list_shows_jobs(tmp_path, capsys):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"jobs": [{"type": "topology", "grid": {"fan_in": [1, 2]}}]}))
    assert main(["sweep", str(p), "--out", str(tmp_path / "o"), "--list"]) == 0
    out = capsys.readouterr().out
    assert out.count("to run") == 2 and "2 jobs" in out


def test_example_specs_are_valid():
    """Every spec in experiments/sweeps loads, and every job's options exist."""
    from wuxing.sweep import ROOT, check_job
    specs = sorted((ROOT / "experiments" / "sweeps").glob("*.toml"))
    assert len(specs) >= 4
    for path in specs:
        spec = load_spec(path)
        jobs = expand_jobs(spec, ROOT / "runs" / "sweeps" / spec["name"])
        for job in jobs:
            check_job(job)
        assert jobs, path
