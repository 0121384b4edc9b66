"""wuxing build / program / run: arguments, dry runs and the messages without a board."""
import subprocess
import sys
from pathlib import Path

import pytest

from wuxing.boards.commands import program_command
from wuxing.boards.top import BOARDS, board

WUXING = str(Path(sys.executable).parent / "wuxing")


def wuxing(*args, timeout=120):
    return subprocess.run([WUXING, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_program_dry_run_prints_the_command(name):
    r = wuxing("program", "--board", name, "--dry-run")
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.split()[-1].endswith("wuxing." + board(name).bitstream_ext)
    assert first.split() == program_command(name, first.split()[-1])


def test_program_without_bitstream_or_board_says_so(tmp_path):
    r = wuxing("program", "--board", "ulx3s", "--bitstream", str(tmp_path / "none.bit"))
    assert r.returncode == 2
    assert "no bitstream" in r.stderr and "Traceback" not in r.stderr
    bit = tmp_path / "x.bit"
    bit.write_bytes(b"\x00" * 16)
    r = wuxing("program", "--board", "ulx3s", "--bitstream", str(bit))
    # no board is attached to the test machine: one clear line, no traceback
    assert r.returncode == 2
    assert "no ulx3s board found" in r.stderr and "Traceback" not in r.stderr


def test_unknown_board_and_bad_arguments():
    r = wuxing("build", "--board", "nosuchboard")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = wuxing("run", "--port", "/dev/nonexistent-tty")
    assert r.returncode == 2 and "needs --checkpoint" in r.stderr


def test_run_on_missing_port_is_one_line(tmp_path):
    from wuxing.golden.checkpoint import Checkpoint, save_checkpoint
    from wuxing.golden.config import RunConfig
    from wuxing.golden.topology import Topology
    import numpy as np
    t = Topology(layers=(16, 10))          # digits4: 16 inputs, 10 classes
    ck = tmp_path / "c.npz"
    save_checkpoint(ck, Checkpoint(topology=t, cfg=RunConfig(), C=np.zeros(t.n_links)))
    r = wuxing("run", "--port", "/dev/nonexistent-tty", "--checkpoint", str(ck))
    assert r.returncode == 2
    assert "cannot open serial port /dev/nonexistent-tty" in r.stderr
    assert "Traceback" not in r.stderr


def test_run_sim_cli_matches_golden(tmp_path, require_simulator):
    """The CLI host flow against the simulated board; exit code 0 means every integer was
    equal to the golden model's (the count is printed)."""
    require_simulator("verilator")
    out = tmp_path / "after.npz"
    r = wuxing("run", "--sim", "--layers", "2,2", "--train", "2", "--n", "2", "--save",
               str(out), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 mismatches" in r.stdout
    from wuxing.golden.checkpoint import load_checkpoint
    ck = load_checkpoint(out)
    assert ck.mode == "fixed" and ck.C_int.shape == (ck.topology.n_links,)
