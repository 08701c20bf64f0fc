#!/usr/bin/env bash
# The search, unchanged, on each named task (banking77 sst2 rte): a 1.5-point budget on validation, 30 minutes of
# wall clock for everything (training, screening and the final side-by-side run), 2 threads, Optimum's int8 preset
# of the same teacher in the final run. First its plan (--dry-run), then the run. Teachers from teachers.sh. Run
# from the repository root with the venv active (Optimum installed: the `serving` extra) and nothing else running.
# OUT names the folder of the logs and reports (one per CPU kind and date after the first).
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
OUT=${OUT:-reports/thirty-minutes}
mkdir -p artifacts/logs $OUT/logs
for task in "$@"; do
  options=(--model artifacts/thirty-minutes/$task-teacher --max-accuracy-drop 1.5 --time-budget 30 --threads 2
           --peer optimum --workdir artifacts/thirty-minutes/$task-search --report $OUT/$task-search
           -o artifacts/thirty-minutes/$task-winner --overwrite)
  compress search "${options[@]}" --dry-run > $OUT/logs/$task-plan.log 2>&1
  compress search "${options[@]}" > $OUT/logs/$task-search.log \
    2> artifacts/logs/thirty-minutes-$task-search.err
done
