#!/usr/bin/env bash
# The search within its time budget on an SST-2 slice, and Optimum's int8 beside its winner.
#   bash reports/search-budget/run.sh TEACHER
# TEACHER: a fine-tuned checkpoint, here the README quick start's (compress finetune --data sst2
# --max-train-examples 4000 --epochs 1). Run from the repository root with .venv (transformers 5) and
# .venv-oldest (transformers 4.57 with Optimum: pip install -c .ci/constraints/oldest.txt -e ".[cpu,serving]").
set -euo pipefail
teacher=$1
out=reports/search-budget
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
. .venv/bin/activate
compress search --model "$teacher" --max-train-examples 4000 --time-budget 20 --threads 2 \
    --workdir artifacts/search-budget --report "$out/search" -o artifacts/search-budget/winner --overwrite \
    > "$out/search.log" 2>&1
deactivate
# Optimum needs transformers 4.57: the winner and the teacher measured beside Optimum's int8 of the teacher,
# three fresh processes, the test role only.
. .venv-oldest/bin/activate
for run in 1 2 3; do
    compress bench "$teacher" artifacts/search-budget/winner --names teacher winner --peer optimum \
        --peer-workdir artifacts/peers --threads 2 --roles test --perturbations none --no-memory \
        -o "$out/bench-run$run.json" > "$out/bench-run$run.log" 2>&1
done
