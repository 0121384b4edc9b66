"""The target table of issue #11 from the runs of ``wuxing train --recipe NAME [--fixed]
--epochs 10 --seed S --json experiments/results/train_NAME_MODE_sS.json``.

    python -m experiments.train_table            # Markdown table, and train_table.json

Per row (recipe and mode): the held-out accuracy at the last epoch (mean, and min..max over
the seeds found), the best epoch, the largest fall from one epoch to the next (the "no epoch
more than 2 points below the one before" of the issue), the epochs done, the step at the end,
and the verdict against the issue's target. A run still going is counted with the epochs it
has done (marked), so a partial table is real.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from .common import RESULTS

__all__ = ["ROWS", "load_runs", "row_summary", "table"]

NAME = re.compile(r"train_(?P<recipe>[a-z0-9-]+)_(?P<mode>float|fixed)_s(?P<seed>\d+)\.json$")
MAX_FALL = 0.02      # "no epoch below the one before by more than 2 points"
# accuracies are whole samples over the held-out count; a bound met exactly (a fall of 40 of
# 2,000 samples) must not fail on the last bit of a float difference
EPS = 1e-9

# (recipe, mode, the row, the target: minimum final accuracy or None, within 2 points
# of float, no epoch more than 2 points below the one before)
ROWS = [
    ("model1-mnist-80", "float", "MODEL1 fan-in 1, float", 0.65, False, True),
    ("model1-mnist-80", "fixed", "MODEL1 fan-in 1, bit-exact fixed point", None, True, False),
    # the same network at 40 steps (half the chip's clocks a sample), for comparison
    ("model1-mnist", "float", "MODEL1 fan-in 1 at 40 steps, float", None, False, False),
    ("model1-mnist", "fixed", "MODEL1 fan-in 1 at 40 steps, bit-exact fixed point", None, True,
     False),
    ("model1-fan4-mnist", "float", "MODEL1 fan-in 4, float", 0.88, False, True),
    ("model1-fan4-mnist", "fixed", "MODEL1 fan-in 4, bit-exact fixed point", None, True, False),
    ("fashion-fan4", "fixed", "Fashion-MNIST, MODEL1 fan-in 4, fixed point", 0.75, False, True),
    ("demo", "float", "demo network, float", None, False, False),
    ("demo", "fixed", "demo network, bit-exact fixed point", 0.85, False, False),
]


def load_runs(folder=RESULTS) -> dict:
    """{(recipe, mode): [run document, ...]} of every train_*.json in ``folder``, by seed."""
    runs = {}
    for p in sorted(Path(folder).glob("train_*.json")):
        m = NAME.search(p.name)
        if not m:
            continue
        doc = json.loads(p.read_text())
        doc["_file"] = p.name
        runs.setdefault((m["recipe"], m["mode"]), []).append(doc)
    for docs in runs.values():
        docs.sort(key=lambda d: d["seed"])
    return runs


def max_fall(history) -> float:
    """The largest drop of held-out accuracy from one epoch to the next (0 if none)."""
    acc = [h["test_acc"] for h in history]
    return max([0.0] + [a - b for a, b in zip(acc, acc[1:])])


def row_summary(docs) -> dict:
    finals = [d["history"][-1]["test_acc"] for d in docs]
    return dict(
        seeds=[d["seed"] for d in docs], files=[d["_file"] for d in docs],
        epochs=[d["history"][-1]["epoch"] for d in docs],
        epochs_asked=[d["epochs"] for d in docs],
        final=finals, final_mean=sum(finals) / len(finals),
        final_min=min(finals), final_max=max(finals),
        best=[max(h["test_acc"] for h in d["history"]) for d in docs],
        max_fall=max(max_fall(d["history"]) for d in docs),
        step_exp_end=[d["history"][-1].get("step_exp") for d in docs],
        seconds=[round(d["history"][-1]["seconds"]) for d in docs])


def verdict(s, minimum, vs_float, float_s, needs_stable=True) -> str:
    parts, ok = [], True
    done = all(e == a for e, a in zip(s["epochs"], s["epochs_asked"]))
    if minimum is not None:
        ok &= s["final_mean"] >= minimum - EPS
        parts.append(f">= {100 * minimum:.0f} %")
    if vs_float:
        if float_s is None:
            return "no finished float run of these seeds to compare with"
        gap = s["final_mean"] - float_s["final_mean"]
        ok &= gap >= -0.02 - EPS
        parts.append(f"{100 * gap:+.1f} points against float (seeds "
                     f"{', '.join(map(str, float_s['seeds']))})")
    if needs_stable:
        stable = s["max_fall"] <= MAX_FALL + EPS
        ok &= stable
        parts.append("stable" if stable else f"falls {100 * s['max_fall']:.1f} points")
    if not parts:
        return "no target (for comparison)"
    text = ("reached" if ok else "NOT reached") + " (" + ", ".join(parts) + ")"
    return text if done else text + ", runs not finished"


def pct(v):
    return f"{100 * v:.1f} %"


def table(runs) -> tuple[list, dict]:
    rows = ["| run | seeds | held-out at the last epoch: mean (min .. max) | best epoch (per seed) | "
            "largest fall | epochs | target |", "| --- | --- | --- | --- | --- | --- | --- |"]
    out = {}
    for recipe, mode, what, minimum, vs_float, needs_stable in ROWS:
        docs = runs.get((recipe, mode))
        if not docs:
            rows.append(f"| {what} (`{recipe}`{' --fixed' if mode == 'fixed' else ''}) | - | "
                        f"not run | | | | |")
            continue
        s = row_summary(docs)
        # against float: the finished float runs of the same seeds
        seeds = set(s["seeds"])
        fl = [d for d in runs.get((recipe, "float"), []) if d["seed"] in seeds and
              d["history"][-1]["epoch"] == d["epochs"]]
        v = verdict(s, minimum, vs_float, row_summary(fl) if fl else None, needs_stable)
        s["verdict"] = v
        out[f"{recipe} {mode}"] = s
        spread = (f"{pct(s['final_mean'])} ({pct(s['final_min'])} .. {pct(s['final_max'])})"
                  if len(docs) > 1 else pct(s["final_mean"]))
        rows.append(f"| {what} (`{recipe}`{' --fixed' if mode == 'fixed' else ''}) | "
                    f"{', '.join(map(str, s['seeds']))} | {spread} | "
                    f"{', '.join(pct(b) for b in s['best'])} | {100 * s['max_fall']:.1f} | "
                    f"{', '.join(map(str, s['epochs']))} | {v} |")
    return rows, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.train_table",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default=str(RESULTS), help="folder of the train_*.json files")
    p.add_argument("--json", default=None,
                   help="write the summary here (default RESULTS/train_table.json)")
    a = p.parse_args(argv)
    rows, out = table(load_runs(a.results))
    print("\n".join(rows))
    path = Path(a.json or Path(a.results) / "train_table.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
