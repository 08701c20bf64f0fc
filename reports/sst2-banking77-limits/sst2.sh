#!/usr/bin/env bash
# Issue 21 on SST-2: the unchanged search command of reports/three-tasks/searches.sh (budget 1.0 point, 60 minutes of wall
# clock) with this version's candidate families: after int8, vocabulary pruning and the distilled students, the
# fastest student within budget gets head/FFN pruning (--prune-ratios 0.25 0.5) and now hidden-size pruning
# (--hidden-fractions 0.67 0.5). The workdir is issue 16's, so its cached students (56 minutes of distillation)
# are reused and the budget goes to the new families. Then three fresh-process bench runs of the winner against the
# PyTorch fp32 teacher with the serving settings of reports/three-tasks/bench-winners.sh. Run from the repository root,
# venv active, nothing else running.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
mkdir -p artifacts/logs artifacts/headline2
compress search --model artifacts/roles/sst2-teacher --max-accuracy-drop 1.0 --time-budget ${BUDGET:-60} \
  --workdir artifacts/roles/sst2-search --report reports/sst2-banking77-limits/sst2-search -o artifacts/headline2/sst2-winner \
  --overwrite > artifacts/logs/headline2-sst2-search.log 2> artifacts/logs/headline2-sst2-search.err
bash reports/sst2-banking77-limits/bench.sh artifacts/roles/sst2-teacher artifacts/headline2/sst2-winner 1.0 reports/sst2-banking77-limits/sst2
