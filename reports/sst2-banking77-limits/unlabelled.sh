#!/usr/bin/env bash
# Issue 21's last two distillation levers for the 2-layer SST-2 student, against levers.sh's best recipe
# (3 epochs on the rows plus 3 teacher-labelled augmented copies each, lr 1e-4, CE 0.5 + KD 0.5 on cached logits):
#   teacher-labelled text beyond the training rows: SST-2's unlabelled test sentences (--unlabelled), with their
#   own augmented copies; and the same recipe with another seed (initial order, augmented copies, dropout), for the
#   noise one run per lever carries.
# Both run side by side at one thread each; then every student is scored on validation (chooses) and dev (reports)
# with paired intervals against the teacher.
# Usage: unlabelled.sh TEACHER SEARCH_STUDENT2 LEVERS_OUTDIR (levers.sh's OUTDIR); run from the repository root.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
teacher=$1 baseline=$2 out=$3
distill() {
  local name=$1; shift
  [ -d "$out/$name" ] || OMP_NUM_THREADS=1 compress distill --teacher "$teacher" --student-layers 2 \
    --epochs 3 --augment 3 --learning-rate 1e-4 "$@" -o "$out/$name" 2> "$out/$name.err"
}
distill student2-e3-a3-unlabelled --unlabelled "$COMPRESS_DATA_DIR/sst2/test.tsv" &
distill student2-e3-a3-seed43 --seed 43 &
wait
# Accuracy only: one untimed-grade latency pass, so the record's latency figures are not measurements.
compress bench "$teacher" "$baseline" "$out"/student2-e3-a3{,-seed43,-unlabelled} \
  --names teacher student2 student2-e3-a3 student2-e3-a3-seed43 student2-e3-a3-unlabelled \
  --roles validation test --max-accuracy-drop 1.0 --threads 2 \
  --batch-sizes 1 --lengths 32 --real-batch-sizes 1 --real-examples 1 --warmup 0 --min-runs 1 --real-min-runs 1 \
  --min-time 0 --workload-seconds 0 --perturbations none --no-memory -o reports/sst2-banking77-limits/sst2-whole-unlabelled.json
