#!/usr/bin/env bash
# Issue 16: the same search command, unchanged but for the data's teacher and the accuracy budget (1.5
# points on BANKING77 and RTE, 1.0 on SST-2), with a 60-minute wall-clock budget (training included) on this
# 2-core machine; the teachers come from teachers.sh. Choices on validation (carved from train), figures reported
# on the test role (BANKING77 test, RTE and SST-2 dev). Run from the repository root with the venv active and
# nothing else running (the search times its candidates).
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
mkdir -p artifacts/logs
for task in "$@"; do
  case $task in sst2) drop=1.0 ;; *) drop=1.5 ;; esac
  compress search --model artifacts/roles/$task-teacher --max-accuracy-drop $drop --time-budget 60 \
    --workdir artifacts/roles/$task-search --report reports/three-tasks/$task-search -o artifacts/roles/$task-winner \
    --overwrite > artifacts/logs/$task-search.log 2> artifacts/logs/$task-search.err
done
