#!/usr/bin/env bash
# Three side-by-side bench runs of each search's winner against its PyTorch fp32 teacher and Optimum's int8 preset
# of that teacher, each run a fresh process, then the median and range of every ratio (eval/repeats.py). Scored on
# validation (which chose) and test (which reports); served as the search's final run served them: 2 intra-op
# threads, ONNX Runtime spinning on. Run from the repository root, venv active, nothing else running.
# OUT as in search.sh.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
OUT=${OUT:-reports/thirty-minutes}
for task in "$@"; do
  for run in 1 2 3; do
    compress bench artifacts/thirty-minutes/$task-teacher artifacts/thirty-minutes/$task-winner --names teacher winner \
      --peer optimum --peer-workdir artifacts/thirty-minutes/peers --roles validation test --max-accuracy-drop 1.5 \
      --threads 2 --batch-sizes 1 --lengths 128 --real-batch-sizes 32 --bucket --perturbations none --no-memory \
      --ort-spinning --quiet -o $OUT/$task-bench-run$run.json
  done
  python -m eval.repeats $OUT/$task-bench-run{1,2,3}.json > $OUT/$task-bench-summary.md
done
