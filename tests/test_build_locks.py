"""Builds never collide: the folder lock excludes, and processes that ask for the same design at
once (pytest-xdist workers, sweep jobs) get one complete copy of it."""
from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

from wuxing.golden.locking import folder_lock


def _hold(folder, log, pause):
    with folder_lock(folder):
        with open(log, "a") as f:
            f.write("enter\n")
        time.sleep(pause)
        with open(log, "a") as f:
            f.write("leave\n")


def test_folder_lock_excludes_other_processes(tmp_path):
    log = tmp_path / "log"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_hold, args=(tmp_path / "build" / "x", log, 0.3))
             for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert log.read_text().split() == ["enter", "leave"] * 3     # never two inside at once
    assert (tmp_path / "build" / "x.lock").exists() and not (tmp_path / "build" / "x").exists()


def _ensure(root, q):
    from wuxing.sim.designs import ensure_design, standard_design
    q.put(str(ensure_design(standard_design("network", "small"), root)))


def test_same_design_from_two_processes_is_written_once(tmp_path):
    from wuxing.sim.designs import ensure_design, standard_design
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_ensure, args=(tmp_path, q)) for _ in range(2)]
    for p in procs:
        p.start()
    got = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert got[0] == got[1]
    out = Path(got[0])
    # the finished design: a third call finds it and writes nothing
    files = {f: f.stat().st_mtime_ns for f in out.iterdir()}
    assert ensure_design(standard_design("network", "small"), tmp_path) == out
    assert {f: f.stat().st_mtime_ns for f in out.iterdir()} == files
    assert (out / "manifest.json").exists() and any(f.suffix == ".v" for f in files)
