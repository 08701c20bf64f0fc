#!/usr/bin/env bash
# Issue 31, item 3: which student recipe reaches the teacher on small data. Each named task's 3-layer student is
# distilled from its thirty-minute teacher (reports/thirty-minutes/teachers.sh) exactly as the search trains one
# on small data (3 teacher-labelled augmented copies, at least 2,000 steps of 32, learning rate 1e-4), then with one
# change each: MiniLM v2 relation loss on the last layer, hidden-state MSE of the matched layers, or the teacher's
# bottom layers instead of the top of each block. Validation (carved from train, seed 0) chooses; test is not read.
# Run from the repository root with the venv active and nothing else heavy running.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p artifacts/logs artifacts/small-data
for task in "$@"; do
  case $task in
    banking77) data=(--data banking77 --max-length 64 --epochs 2) ;;      # 9,003 rows x 4 copies: 2 epochs, 2,251 steps
    rte) data=(--data rte --max-length 128 --epochs 7.14) ;;             # 2,241 rows x 4 copies: 2,000 steps
    *) echo "unknown task $task" >&2; exit 2 ;;
  esac
  for variant in base relation hidden bottom; do
    case $variant in
      base) change=() ;;
      relation) change=(--relation-weight 1.0) ;;
      hidden) change=(--hidden-weight 1.0) ;;
      bottom) change=(--student-layer-ids 0 1 2) ;;
    esac
    out=artifacts/small-data/$task-student3-$variant
    [ -d $out ] && continue
    compress distill --teacher artifacts/thirty-minutes/$task-teacher "${data[@]}" --student-layers 3 \
      --learning-rate 1e-4 --augment 3 "${change[@]}" -o $out 2> artifacts/logs/small-data-$task-$variant.log
    python - "$out" "$variant" <<'PY'
import json, sys
m = json.load(open(f"{sys.argv[1]}/manifest.json"))["metrics"]
print(sys.argv[2], json.dumps({k: m[k] for k in ("eval", "best_epoch", "train_seconds") if k in m}))
PY
  done
done
