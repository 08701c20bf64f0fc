#!/usr/bin/env bash
# Profiles against the compute floor of the BANKING77 search's three fastest candidate shapes (2 layers: full,
# heads+FFN 25% pruned, hidden 256), int8, at batch 1 x 128, 2 threads with spinning. Kernel times and the floor
# depend on the shapes, not the weights, so the shapes are cut from any trained 2-layer student (no recovery) when
# the BANKING77 students are not at hand. Then three fresh-process bench runs of the three against TEACHER (a
# PyTorch fp32 MiniLM-L6 of the teacher's shape), latency only; real lengths are the teacher's data's.
# Usage: shapes.sh STUDENT2 TEACHER OUTDIR (OUTDIR in an ignored folder; the profiles go to OUTDIR/profile-*.txt,
# the runs to reports/sst2-banking77-limits/banking77-shapes-*). Run from the repository root, venv active, nothing else running.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
student=$1 teacher=$2 out=$3
mkdir -p "$out"
[ -d "$out/student2-prune25" ] || compress prune --model "$student" --head-ratio 0.25 --ffn-ratio 0.25 \
  --recovery-epochs 0 -o "$out/student2-prune25"
[ -d "$out/student2-h256" ] || compress prune --model "$student" --hidden-size 256 --recovery-epochs 0 \
  -o "$out/student2-h256"
for name in student2 student2-prune25 student2-h256; do
  source="$out/$name"; [ "$name" = student2 ] && source=$student
  [ -d "$out/$name-onnx" ] || compress export --model "$source" --optimize -o "$out/$name-onnx"
  [ -d "$out/$name-int8" ] || compress quantize --model "$out/$name-onnx" -o "$out/$name-int8"
  python -P -m eval.profile "$out/$name-int8" --threads 2 --spinning > "$out/profile-$name-int8.txt"
done
for run in 1 2 3; do
  compress bench "$teacher" "$out"/student2{,-prune25,-h256}-int8 --names teacher student2-int8 student2-prune25-int8 \
    student2-h256-int8 --no-accuracy --threads 2 --batch-sizes 1 --lengths 128 --real-batch-sizes 32 \
    --perturbations none --no-memory --ort-spinning -o reports/sst2-banking77-limits/banking77-shapes-run$run.json
done
python -m eval.repeats reports/sst2-banking77-limits/banking77-shapes-run{1,2,3}.json \
  > reports/sst2-banking77-limits/banking77-shapes-summary.md
