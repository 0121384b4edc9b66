"""The `wuxing` command: help, topology figures, one-line errors on bad input."""
import subprocess
import sys

import pytest

from wuxing.cli import main


def test_help_lists_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "topology" in out


def test_topology_model1_and_model2(capsys):
    assert main(["topology", "--model", "model1"]) == 0
    assert "4711 links, link ratio 0.509 %" in capsys.readouterr().out
    assert main(["topology", "--model", "model2"]) == 0
    assert "4711 links, link ratio 0.380 %" in capsys.readouterr().out


def test_topology_json(tmp_path):
    import json
    assert main(["topology", "--model", "model1", "--json", str(tmp_path / "t.json")]) == 0
    d = json.loads((tmp_path / "t.json").read_text())
    assert d["links"] == 4711 and [p["links"] for p in d["pairs"]] == [3136, 1055, 360, 120, 40]


def test_bad_topology_file_is_one_line_error(tmp_path):
    bad = tmp_path / "t.json"
    bad.write_text('{"layers": [3]}')
    r = subprocess.run([sys.executable, "-m", "wuxing.cli", "topology", "--topology-file",
                        str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and "Traceback" not in r.stderr
    bad.write_text("{not json")
    r = subprocess.run([sys.executable, "-m", "wuxing.cli", "topology", "--topology-file",
                        str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "not valid JSON" in r.stderr


def test_train_then_eval_round_trip(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--n-train", "64", "--n-test", "64", "--quiet",
                 "--out", str(out), "--set", "steps=16"]) == 0
    text = capsys.readouterr().out
    assert "held-out accuracy" in text
    for name in ("checkpoint.npz", "history.json", "curve.png"):
        assert (out / name).stat().st_size > 0
    import json
    hist = json.loads((out / "history.json").read_text())["history"]
    assert [h["epoch"] for h in hist] == [0, 1]
    assert main(["eval", str(out / "checkpoint.npz"), "--n-test", "64"]) == 0
    acc_line = capsys.readouterr().out
    assert "accuracy" in acc_line
    # the saved coefficients reproduce the recorded held-out accuracy
    assert f"{100 * hist[-1]['test_acc']:.2f} %" in acc_line


def test_train_bad_setting_is_clear(capsys):
    assert main(["train", "--set", "nosuch=1"]) == 2
    assert "unknown run setting" in capsys.readouterr().err
    assert main(["train", "--fixed", "--batch", "3", "--epochs", "1", "--quiet",
                 "--n-train", "8"]) == 2
    assert "power of two" in capsys.readouterr().err


def test_eval_refuses_damaged_checkpoint(tmp_path, capsys):
    bad = tmp_path / "c.npz"
    bad.write_bytes(b"PK\x03\x04garbage")
    assert main(["eval", str(bad)]) == 2
    assert "checkpoint" in capsys.readouterr().err


def test_set_overrides_are_typed_like_runconfig():
    from wuxing.golden.config import parse_overrides
    got = parse_overrides(["steps=64", "step=2**-4", "output_mean=false", "c_init_sign=positive"])
    assert got == dict(steps=64, step=0.0625, output_mean=False, c_init_sign="positive")
    for bad in (["steps"], ["nosuch=1"], ["steps=1.5"], ["output_mean=maybe"]):
        with pytest.raises(ValueError):
            parse_overrides(bad)
