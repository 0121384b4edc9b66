"""Checker: compares RTL values against reference values as integers, and counts them.

Kept apart from the reference models (sim/reference.py, golden.network.FixedModel) and from the
testbenches that drive and monitor the DUT (sim/tb_*.py).
"""
from __future__ import annotations

import json
import os

__all__ = ["Checker"]


class Checker:
    """Counts compared values; a mismatch names the run, step, signal and both values."""

    def __init__(self, name: str, max_reported: int = 20):
        self.name = name
        self.compared = 0
        self.mismatches = []
        self.max_reported = max_reported
        self.runs = []
        self.extra = {}

    def check(self, run: str, step, signal: str, got, want):
        """Compare one integer (or equal-length sequences of integers)."""
        if isinstance(want, (list, tuple)):
            if len(got) != len(want):
                raise ValueError(f"{run}: {signal} has {len(got)} values, expected {len(want)}")
            for i, (g, w) in enumerate(zip(got, want)):
                self.check(run, step, f"{signal}[{i}]", g, w)
            return
        self.compared += 1
        if int(got) != int(want):
            self.mismatches.append(dict(run=run, step=step, signal=signal, rtl=int(got),
                                        golden=int(want)))

    def run_done(self, run: str):
        if run not in self.runs:
            self.runs.append(run)

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.compared > 0

    def messages(self):
        out = []
        for m in self.mismatches[:self.max_reported]:
            out.append(f"mismatch in run {m['run']}, step {m['step']}, signal {m['signal']}: "
                       f"RTL {m['rtl']} != golden {m['golden']}")
        if len(self.mismatches) > self.max_reported:
            out.append(f"... and {len(self.mismatches) - self.max_reported} more")
        return out

    def summary(self) -> str:
        return (f"{self.name}: {self.compared} values compared over {len(self.runs)} runs, "
                f"{len(self.mismatches)} mismatches")

    def report(self) -> dict:
        return dict(name=self.name, compared=self.compared, mismatches=len(self.mismatches),
                    runs=list(self.runs), first_mismatches=self.mismatches[:self.max_reported],
                    **self.extra)

    def write(self, path=None):
        """Append the report to the JSON-lines file named by WUXING_REPORT (if any)."""
        path = path or os.environ.get("WUXING_REPORT")
        if path:
            with open(path, "a") as f:
                f.write(json.dumps(self.report()) + "\n")
