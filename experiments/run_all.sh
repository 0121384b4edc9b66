#!/usr/bin/env bash
# Reproduce every number of REPORT.md (from the repository root):
#   experiments/run_all.sh          every run REPORT.md quotes (about 3 h on an idle 2-core machine)
#   experiments/run_all.sh quick    every experiment's --quick variant only (about 11 min)
# The BSP runs use golden/train.py's recipes unchanged (model1-mnist, tiny-digits4) unless a
# line says otherwise. The golden model threads over both cores: run one experiment at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
run() {  # run NAME TAG ARGS...: console output beside the result file
  local name=$1 tag=$2; shift 2
  echo "== experiments.$name $* --tag $tag"
  $PY -m "experiments.$name" "$@" --tag "$tag" 2>&1 | tee "experiments/results/$name$tag.log"
}
quick() {
  run link_ratio _quick --quick                                                # exp 1
  run model_compare _quick --quick                                             # exp 2
  run wuxing_vs_mlp _quick --quick                                             # exp 3 (reuses exp 2)
  run adder _quick_scaled --quick --scale-with-fan-in                          # exp 4
  run bsp_gradient _quick --quick                                              # exp 5
  run fixed_vs_float _quick --quick                                            # exp 6
  run fixed_vs_float _model1_quick --quick --recipe model1-mnist --formats 16,12 12,8
  run fixed_vs_float _model1_quick_err8 --quick --recipe model1-mnist --formats 16,12 12,8 --set err_scale=8 --set kt=2 --set step=0.125
}
if [ "${1:-}" = quick ]; then quick; exit 0; fi
run link_ratio ""                                                              # exp 1, MNIST
run link_ratio _fashion --dataset fashion-mnist --n-train 20000 --epochs 3 --seeds 1
run model_compare _full                                                        # exp 2, MNIST
run model_compare _full_step0.5 --set step=0.5                                 #   half the step
run model_compare _full_step0.25 --set step=0.25                               #   a quarter
run model_compare _fashion --dataset fashion-mnist --epochs 2                  #   Fashion-MNIST
run model_compare _fashion_step0.25 --dataset fashion-mnist --epochs 1 --set step=0.25
run wuxing_vs_mlp _full                                                        # exp 3 (reuses exp 2)
run adder _full_scaled --scale-with-fan-in                                     # exp 4
run adder _full --fan-in 1 2 4                                                 #   recipe unscaled
run adder _full_sqrt --scale-with-fan-in --scale-exponent 0.5 --fan-in 4 8     #   / sqrt(fan-in)
run bsp_gradient _full                                                         # exp 5
run bsp_gradient _full_epochs --model1-samples 8000 --model1-rounds 5          #   MODEL1 by epochs
run fixed_vs_float _full                                                       # exp 6
run fixed_vs_float _full_err2 --formats 16,12 12,8 --set err_scale=2 --set kt=32 --set step=0.03125
run fixed_vs_float _full_err8 --formats 16,12 12,8 --set err_scale=8 --set kt=8 --set step=0.0078125
run fixed_learning "" --quick --dead-band                                      # issue #11 (seconds)
run fixed_learning _quick_fan4_tiny --quick --nets model1-fan4 tiny            #   ~30 min
run fixed_learning _quick_model1 --quick --nets model1                         #   ~45 min
quick
$PY -m experiments.summarize
