#!/usr/bin/env bash
# The study's three grids as Hydra multiruns (grid definitions: conf/sweep/*.yaml).
#   ./multirun.sh lr|rank|context|all|mini [overrides...]
#   ./multirun.sh all model=tiny train.max_steps=20     # smoke-test every grid on a CPU
#   ./multirun.sh mini                                  # the three grids in miniature: LoRA on
#                                                       # the shipped mini model, on a CPU
# Each grid first prints its planned FLOPs (llmts-flops) and stops if they exceed
# train.flop_budget; at the end of each sweep the report (llmts-report) is written into its
# sweep dir and printed.
set -euo pipefail
grid="${1:-}"; shift || true
run() { llmts-flops -m "sweep=$1" "${@:2}" && llmts -m "sweep=$1" "${@:2}"; }
case "$grid" in
  lr)      run lr "$@" ;;       # Tables 6-7, Figures 3-4
  rank)    run rank "$@" ;;     # Tables 8-9, Figures 5-6
  context) run context "$@" ;;  # Table 10, Figures 7-9
  all)     run lr "$@"; run rank "$@"; run context "$@" ;;
  mini)    for g in lr rank context; do run "mini_$g" model=mini "$@"; done ;;
  *) echo "usage: $0 lr|rank|context|all|mini [hydra overrides...]" >&2; exit 2 ;;
esac
