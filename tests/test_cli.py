"""The `wuxing` command: help, topology figures, one-line errors on bad input."""
import subprocess
import sys

from golden.cli import main


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
    r = subprocess.run([sys.executable, "-m", "golden.cli", "topology", "--topology-file",
                        str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and "Traceback" not in r.stderr
    bad.write_text("{not json")
    r = subprocess.run([sys.executable, "-m", "golden.cli", "topology", "--topology-file",
                        str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "not valid JSON" in r.stderr
