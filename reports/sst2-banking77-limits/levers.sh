#!/usr/bin/env bash
# Issue 21's distillation levers for the 2-layer SST-2 student, each on its own against the search's student2
# (2 epochs, 1 teacher-labelled augmented copy per row, lr 1e-4, CE 0.5 + KD 0.5 on cached teacher logits):
#   longer training on more augmented text (3 epochs x 3 copies), MiniLM v2 self-relations of the last layer's
#   query/key/value (--relation-weight 1), intermediate layers' hidden states (--hidden-weight 1);
# then the three together for one epoch over 3 copies (the longer run's best epoch was its first);
# then every student scored on validation (chooses) and dev (reports) with paired intervals against the teacher.
# Usage: levers.sh TEACHER SEARCH_STUDENT2 OUTDIR (OUTDIR in an ignored folder); run from the repository root.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
teacher=$1 baseline=$2 out=$3
mkdir -p "$out"
distill() {  # one thread each: the two online-teacher runs go side by side on a 2-core machine
  local name=$1; shift
  [ -d "$out/$name" ] || OMP_NUM_THREADS=${THREADS:-1} compress distill --teacher "$teacher" --student-layers 2 \
    --epochs 2 --augment 1 --learning-rate 1e-4 "$@" -o "$out/$name" 2> "$out/$name.err"
}
THREADS=2 distill student2-e3-a3 --epochs 3 --augment 3
distill student2-rel1 --relation-weight 1.0 &
distill student2-hid1 --hidden-weight 1.0 &
wait
THREADS=2 distill student2-e1-a3-rel1-hid1 --epochs 1 --augment 3 --relation-weight 1.0 --hidden-weight 1.0
# Accuracy only: one untimed-grade latency pass, so the record's latency figures are not measurements.
compress bench "$teacher" "$baseline" "$out"/student2-{e3-a3,rel1,hid1,e1-a3-rel1-hid1} \
  --names teacher student2 student2-e3-a3 student2-rel1 student2-hid1 student2-e1-a3-rel1-hid1 \
  --roles validation test --max-accuracy-drop 1.0 --threads 2 \
  --batch-sizes 1 --lengths 32 --real-batch-sizes 1 --real-examples 1 --warmup 0 --min-runs 1 --real-min-runs 1 \
  --min-time 0 --workload-seconds 0 --perturbations none --no-memory -o reports/sst2-banking77-limits/sst2-whole-levers.json
