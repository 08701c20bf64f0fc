#!/usr/bin/env bash
# Issue 16: three side-by-side bench runs of each search's winner against its PyTorch fp32 teacher, each run a
# fresh process, then the median and range of every ratio (eval/repeats.py). Scored on validation and test
# (test reports; validation chose). Same serving settings as the search's final run: 2 intra-op threads, ONNX
# Runtime spinning on with PyTorch timed in separate blocks. Run from the repository root, venv active, nothing
# else running.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
for task in "$@"; do
  # The budget only labels the verdict column: 1.5 points on BANKING77 and RTE, 1.0 on SST-2 (the 2026-12-01
  # SST-2 runs were made with 1.5 before this line; their verdicts are restated against 1.0 in README.md).
  case $task in sst2) budget=1.0 ;; *) budget=1.5 ;; esac
  for run in 1 2 3; do
    compress bench artifacts/roles/$task-teacher artifacts/roles/$task-winner --names teacher winner \
      --roles validation test --max-accuracy-drop $budget --threads 2 --batch-sizes 1 --lengths 128 --real-batch-sizes 32 \
      --bucket --perturbations none --no-memory --ort-spinning -o reports/three-tasks/$task-bench-run$run.json
  done
  python -m eval.repeats reports/three-tasks/$task-bench-run{1,2,3}.json > reports/three-tasks/$task-bench-summary.md
done
