#!/usr/bin/env bash
# Three side-by-side bench runs, each in fresh processes, of a winner against its PyTorch fp32 teacher with the
# serving settings of reports/three-tasks/bench-winners.sh, and their median/range summary.
# Usage: bench.sh TEACHER WINNER BUDGET PREFIX (writes PREFIX-bench-run{1,2,3}.json and PREFIX-bench-summary.md).
set -euo pipefail
teacher=$1 winner=$2 budget=$3 prefix=$4
for run in 1 2 3; do
  compress bench "$teacher" "$winner" --names teacher winner --roles validation test --max-accuracy-drop "$budget" --threads 2 \
    --batch-sizes 1 --lengths 128 --real-batch-sizes 32 --bucket --perturbations none --no-memory --ort-spinning \
    -o "$prefix-bench-run$run.json"
done
python -m eval.repeats "$prefix"-bench-run{1,2,3}.json > "$prefix-bench-summary.md"
