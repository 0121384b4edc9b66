"""Shared pieces of the experiment scripts: argument parsing, result files, plots."""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SCHEMA_KEYS = ("experiment", "claim", "command", "quick", "dataset", "settings", "runs",
               "summary", "elapsed_s", "git_commit", "date")


def parser(description: str) -> argparse.ArgumentParser:
    global _START_COMMIT
    _START_COMMIT = git_commit()  # the code that ran, even if commits land during the run
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="the small variant (a few minutes on 2 cores)")
    p.add_argument("--smoke", action="store_true",
                   help="the smallest configuration (seconds; used by the tests)")
    p.add_argument("--out", default=None,
                   help="results folder (default experiments/results)")
    p.add_argument("--tag", default="",
                   help="suffix of the result file names (e.g. '_fashion')")
    return p


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


_START_COMMIT = None


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, float) and not np.isfinite(o):
        return None
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if isinstance(o, np.bool_):
        return bool(o)
    return o


def out_dir(args) -> Path:
    d = Path(args.out) if args.out else RESULTS
    d.mkdir(parents=True, exist_ok=True)
    return d


def mode(args) -> str:
    return "smoke" if args.smoke else "quick" if args.quick else "full"


def write_result(args, name: str, *, claim: str, dataset: str, settings: dict, runs,
                 summary: dict, started: float) -> Path:
    """Write ``<name><tag>.json`` with the common schema; returns its path."""
    rec = dict(experiment=name, claim=claim,
               command=" ".join(["python -m", f"experiments.{name}"] + sys.argv[1:]),
               quick=mode(args), dataset=dataset, settings=settings, runs=runs,
               summary=summary, elapsed_s=round(time.time() - started, 1),
               git_commit=_START_COMMIT or git_commit(), date=time.strftime("%Y-%m-%d %H:%M:%S"),
               machine=f"{platform.machine()}, {os.cpu_count()} cpus, numpy {np.__version__}")
    path = out_dir(args) / f"{name}{args.tag}.json"
    with open(path, "w") as f:
        json.dump(_jsonable(rec), f, indent=1)
    return path


def plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    return pyplot


def save_figure(fig, path, title: str | None = None):
    """Lay out, write (110 dpi) and close a matplotlib figure; ``title`` becomes its suptitle."""
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt().close(fig)


def guarded(run, args):
    """Run an experiment; a user error (bad option value, missing data) is one line."""
    try:
        return run(args)
    except ValueError as e:  # DataError is a ValueError
        sys.exit(f"error: {e}")


def log(msg: str):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
