#!/usr/bin/env bash
# Issue 16: the same search command, unchanged but for the data's teacher, on BANKING77 and RTE with a 60-minute
# wall-clock budget (training included) on this 2-core machine; the teachers come from teachers.sh. Choices on
# validation (carved from train), figures reported on the test role (BANKING77 test, RTE dev). Run from the
# repository root with the venv active and nothing else running (the search times its candidates).
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
mkdir -p artifacts/logs
for task in "$@"; do
  compress search --model artifacts/roles/$task-teacher --max-accuracy-drop 1.5 --time-budget 60 \
    --workdir artifacts/roles/$task-search --report reports/roles/$task-search -o artifacts/roles/$task-winner \
    --overwrite > artifacts/logs/$task-search.log 2> artifacts/logs/$task-search.err
done
