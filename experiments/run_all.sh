#!/usr/bin/env bash
# Reproduce every number of REPORT.md (from the repository root), through `wuxing sweep`:
#   experiments/run_all.sh          every run REPORT.md quotes (experiments/sweeps/paper.toml)
#   experiments/run_all.sh quick    every experiment's --quick variant (paper-quick.toml)
#   experiments/run_all.sh quick --scheduler tcp://HOST:8786    on a running Dask cluster
# Each run is one sweep job (python -m experiments.NAME ... --tag TAG in a Dask worker); the
# result file, plot and console log land in experiments/results as before. The sweep resumes:
# a finished run is not run again (records in runs/sweeps/paper[-quick]; delete that folder
# to run everything again). The BSP runs use golden/train.py's recipes unchanged (model1-mnist,
# tiny-digits4) unless a job says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
spec=experiments/sweeps/paper.toml
if [ "${1:-}" = quick ]; then spec=experiments/sweeps/paper-quick.toml; shift; fi
exec "$PY" -m wuxing.cli sweep "$spec" "$@"
