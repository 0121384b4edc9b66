#!/usr/bin/env bash
# Reproduce every number of REPORT.md (from the repository root):
#   experiments/run_all.sh          the runs REPORT.md quotes (full where it says full)
#   experiments/run_all.sh quick    every experiment's --quick variant only
# One BLAS thread per process: the machine is shared and the runs are single-threaded anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
if [ "${1:-}" = quick ]; then
  for e in link_ratio bsp_gradient model_compare wuxing_vs_mlp adder fixed_vs_float; do
    $PY -m experiments.$e --quick
  done
  exit 0
fi
$PY -m experiments.link_ratio                                   # exp 1, MNIST, full
$PY -m experiments.link_ratio --dataset fashion-mnist --n-train 20000 --epochs 3 --seeds 1 --tag _fashion
$PY -m experiments.bsp_gradient                                 # exp 5, full
$PY -m experiments.model_compare --quick                        # exp 2
$PY -m experiments.wuxing_vs_mlp --quick                        # exp 3 (reuses exp 2's MODEL1)
$PY -m experiments.adder --quick                                # exp 4
$PY -m experiments.fixed_vs_float                               # exp 6, tiny/digits4, full
$PY -m experiments.fixed_vs_float --quick --recipe model1-mnist --formats 16,12 12,8 --tag _model1
$PY -m experiments.summarize
