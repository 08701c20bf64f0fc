#!/usr/bin/env bash
# Issue 21 on BANKING77 (77 intents): the search with the targets as its constraints (1.5 points on
# validation, a file at least 10x smaller) and the levers for a 10x student: 2- and 1-layer students distilled for
# 8 epochs on 3 teacher-labelled augmented copies per row (the 3-layer student of issue 16, 2 epochs, lost 2.1
# points on validation), then head/FFN pruning and hidden-size pruning of the fastest student within budget.
# The teacher is reports/three-tasks/teachers.sh's. Then three fresh-process bench runs of the winner against the PyTorch
# fp32 teacher. Extra arguments go to the search, NAME names its report and winner (default banking77); the workdir
# is shared, so a second run reuses the students. Run from the repository root, venv active, nothing else running.
#   bash reports/sst2-banking77-limits/banking77.sh
#   NAME=banking77-recovery bash reports/sst2-banking77-limits/banking77.sh --recovery-epochs 4 --recovery-augment 3
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
name=${NAME:-banking77}
mkdir -p artifacts/logs artifacts/headline2
compress search --model artifacts/roles/banking77-teacher --max-accuracy-drop 1.5 --min-size-ratio 10 \
  --student-layers 2 1 --distill-epochs 8 --time-budget ${BUDGET:-80} \
  --workdir artifacts/headline2/banking77-search --report reports/sst2-banking77-limits/$name-search \
  -o artifacts/headline2/$name-winner --overwrite "$@" \
  > artifacts/logs/headline2-$name-search.log 2> artifacts/logs/headline2-$name-search.err
bash reports/sst2-banking77-limits/bench.sh artifacts/roles/banking77-teacher artifacts/headline2/$name-winner 1.5 \
  reports/sst2-banking77-limits/$name
