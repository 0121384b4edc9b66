"""`wuxing generate`: Verilog + manifest; Icarus compiles it, Verilator lints it."""
import json
import subprocess

import numpy as np
import pytest

from wuxing.cli import main
from wuxing.golden.checkpoint import Checkpoint, save_checkpoint
from wuxing.golden.config import RunConfig
from wuxing.golden.topology import Topology
from wuxing.hdl.generate import Design, load_manifest


def _generate(tmp_path, *args):
    out = tmp_path / "out"
    assert main(["generate", *args, "--out", str(out)]) == 0
    design, man = load_manifest(out)
    return out, design, man


@pytest.mark.parametrize("what", ["core", "synapse"])
def test_generate_compiles_and_lints(tmp_path, what, capsys, require_simulator):
    out, design, man = _generate(tmp_path, "--what", what, "--mult", "shared", "--k", "reg")
    assert design.what == what and man["top"] == f"wuxing_{what}"
    assert "wrote" in capsys.readouterr().out
    v = out / man["verilog"]
    require_simulator("icarus")
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "a.vvp"), str(v)], check=True)
    require_simulator("verilator")
    p = subprocess.run(["verilator", "--lint-only", "--no-timing", "-Wno-fatal", str(v)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "%Error" not in p.stderr


def test_generate_network_from_topology_file_and_checkpoint(tmp_path, require_simulator):
    spec = tmp_path / "topo.json"
    spec.write_text(json.dumps(dict(layers=[3, 3, 2], seed=4)))
    out, design, man = _generate(tmp_path, "--topology-file", str(spec), "--steps", "16")
    assert man["n_neurons"] == 8 and man["n_links"] == design.topology.n_links
    assert design.cfg.steps == 16 and len(man["c_init"]) == man["n_links"]
    require_simulator("icarus")
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "n.vvp"),
                    str(out / man["verilog"])], check=True)
    topo = Topology(layers=(3, 3, 2), seed=4)
    cfg = RunConfig(steps=12)
    C = np.linspace(-1.5, 1.5, topo.n_links)
    path = tmp_path / "ck.npz"
    save_checkpoint(path, Checkpoint(topology=topo, cfg=cfg, C=C))
    out2 = tmp_path / "ck_out"
    assert main(["generate", "--checkpoint", str(path), "--out", str(out2)]) == 0
    d2, man2 = load_manifest(out2)
    assert d2.cfg.steps == 12 and d2.topology.digest() == topo.digest()
    assert man2["c_init"] == d2.model().coef_to_int(C).tolist()


def test_generate_user_errors(tmp_path, capsys):
    assert main(["generate", "--topology-file", str(tmp_path / "none.json")]) == 2
    assert "cannot read topology file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(layers=[2, 2], link_counts=[0])))
    assert main(["generate", "--topology-file", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "no links" in capsys.readouterr().err
    assert main(["generate", "--steps", "5000", "--out", str(tmp_path / "o")]) == 2
    assert "integral can overflow" in capsys.readouterr().err
    assert main(["generate", "--steps", "100000", "--out", str(tmp_path / "o")]) == 2
    assert "outside its limits 1..65535" in capsys.readouterr().err
    assert main(["generate", "--checkpoint", str(tmp_path / "x.npz")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_manifest_round_trip_is_checked(tmp_path):
    d = Design(what="core")
    m = d.manifest()
    assert Design.from_manifest(m).manifest() == m
    with pytest.raises(ValueError, match="not a wuxing"):
        Design.from_manifest({"format": "x"})
    with pytest.raises(ValueError, match="what"):
        Design(what="cpu")


def test_on_chip_training_of_every_architecture(tmp_path, capsys):
    """--on-chip-training: the engine and serial designs have the learning commands (the
    manifest says so and gives their clocks), the unrolled Network too; with K registers
    (--k reg, at the pixel region) it has not: one-line error."""
    out = tmp_path / "serial"
    assert main(["generate", "--topology", "tiny", "--arch", "serial", "--steps", "4",
                 "--on-chip-training", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    design, man = load_manifest(out)
    assert man["on_chip_training"] is True and design.on_chip_training
    assert man["cycles"]["train_sample"] > man["cycles"]["eval_sample"] > man["cycles"]["run"]
    assert f"{man['cycles']['train_sample']:,} clocks a TRAIN_SAMPLE" in printed
    assert main(["generate", "--topology", "tiny", "--arch", "unrolled", "--on-chip-training",
                 "--out", str(tmp_path / "u")]) == 0
    assert load_manifest(tmp_path / "u")[1]["on_chip_training"] is True
    capsys.readouterr()
    assert main(["generate", "--topology", "tiny", "--arch", "unrolled", "--k", "reg",
                 "--on-chip-training", "--out", str(tmp_path / "k")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --k reg has no on-chip training") and err.count("\n") == 1
    assert not (tmp_path / "k").exists()
    assert Design(topology=Topology(layers=(2, 2))).manifest()["on_chip_training"] is True
    assert Design(topology=Topology(layers=(2, 2)),
                  k_mode="reg").manifest()["on_chip_training"] is False


def test_no_training_design_and_its_refusals(tmp_path, capsys):
    """--no-training: the manifest records it (and rebuilds it), no on-chip-learning clocks
    are printed; with --on-chip-training, or for the unrolled network, one-line errors."""
    out = tmp_path / "bare"
    assert main(["generate", "--topology", "tiny", "--arch", "serial", "--steps", "4",
                 "--no-training", "--out", str(out)]) == 0
    assert "TRAIN_SAMPLE" not in capsys.readouterr().out
    design, man = load_manifest(out)
    assert man["training"] is False and man["on_chip_training"] is False
    assert design.training is False and not design.on_chip_training
    for argv in (["generate", "--topology", "tiny", "--arch", "serial", "--no-training",
                  "--on-chip-training", "--out", str(tmp_path / "x")],
                 ["build", "--board", "icebreaker", "--no-training", "--on-chip-training"],
                 ["build", "--board", "icebreaker", "--arch", "unrolled", "--no-training"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "--no-training" in err
    assert not (tmp_path / "x").exists()
