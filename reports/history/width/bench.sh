#!/usr/bin/env bash
# Issue 17, item 5: the width-pruned students of run.sh side by side with the PyTorch fp32 teacher, the issue-16
# winner (2 layers, vocabulary-pruned, int8) and the same 3-layer student at full width (vocabulary-pruned, int8),
# in one bench process per run (RUNS, default 3), with the serving settings of reports/three-tasks/bench-winners.sh.
# Scored on validation and test (dev); the budget (1.0 point) only labels the verdict column. Run from the
# repository root, venv active, nothing else running.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
full=$(ls -d artifacts/roles/sst2-search/student3-vocab-int8-* | grep -v -- '-e4-' | head -1)
for run in $(seq 1 ${RUNS:-3}); do
  compress bench artifacts/roles/sst2-teacher artifacts/roles/sst2-winner "$full" artifacts/width/student3-h256-int8 \
    artifacts/width/student3-h192-int8 --names teacher winner student3-h384 student3-h256 student3-h192 \
    --roles validation test --budget 1.0 --threads 2 --batch-sizes 1 --lengths 128 --real-batch-sizes 32 --bucket \
    --perturbations none --no-memory --ort-spinning -o reports/history/width/sst2-bench-run$run.json
done
python -m eval.repeats reports/history/width/sst2-bench-run*.json > reports/history/width/sst2-bench-summary.md
