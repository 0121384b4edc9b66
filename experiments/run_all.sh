#!/usr/bin/env bash
# Reproduce every number of REPORT.md (from the repository root):
#   experiments/run_all.sh          the runs REPORT.md quotes (full where it says full)
#   experiments/run_all.sh quick    every experiment's --quick variant only
# One BLAS thread per process: the machine is shared and the runs are single-threaded anyway.
# BSP settings: the recipes of golden/train.py changed by --set (see REPORT.md); drop the
# --set options once the recipes hold tuned settings.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
M1="--set target=0.1 --set step=0.25"      # MODEL1-size networks
TINY="--set target=0.1 --set step=0.0625"  # the tiny network
if [ "${1:-}" = quick ]; then
  $PY -m experiments.link_ratio --quick
  $PY -m experiments.bsp_gradient --quick $M1
  $PY -m experiments.model_compare --quick $M1
  $PY -m experiments.wuxing_vs_mlp --quick $M1
  $PY -m experiments.adder --quick $M1
  $PY -m experiments.fixed_vs_float --quick $TINY
  exit 0
fi
$PY -m experiments.link_ratio                                                  # exp 1, MNIST
$PY -m experiments.link_ratio --dataset fashion-mnist --n-train 20000 --epochs 3 --seeds 1 --tag _fashion
$PY -m experiments.bsp_gradient $M1                                            # exp 5
$PY -m experiments.model_compare --quick $M1                                   # exp 2
$PY -m experiments.wuxing_vs_mlp --quick $M1                                   # exp 3 (reuses exp 2)
$PY -m experiments.adder --quick $M1                                           # exp 4
$PY -m experiments.adder --quick --scale-c-init --tag _scaled $M1
$PY -m experiments.model_compare --quick --tag _recipe                         # exp 2-4 with the
$PY -m experiments.wuxing_vs_mlp --quick --tag _recipe                         # golden.train
$PY -m experiments.adder --quick --fan-in 1 2 4 --tag _recipe                  # recipe as it is
$PY -m experiments.bsp_gradient --quick --tag _recipe
$PY -m experiments.fixed_vs_float --quick --tag _recipe
$PY -m experiments.fixed_vs_float $TINY                                        # exp 6
$PY -m experiments.fixed_vs_float --quick --recipe model1-mnist --formats 16,12 12,8 --tag _model1 $M1
$PY -m experiments.summarize
