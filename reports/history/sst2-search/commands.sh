#!/usr/bin/env bash
# Issue 9: the search for the fastest SST-2 classifier within 1 point of the fine-tuned teacher, on this
# machine (2 CPU cores, 2 intra-op threads for every measurement). Every stage output is cached in
# artifacts/search under a key of its settings and inputs, so re-running resumes; the 3-layer student
# (3 epochs of distillation) was trained beforehand with the same settings and adopted into that cache
# (see ../sst2-distill/commands.sh), which the dry run confirms ("cached").
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
[ -d artifacts/teacher ] || compress finetune --data sst2 --epochs 3 --learning-rate 5e-5 --batch-size 32 -o artifacts/teacher
compress search --model artifacts/teacher --student-layers 3 2 --augment 1 --distill-epochs 2 --prune-ratios 0.5 --dry-run -o artifacts/search-winner
compress search --model artifacts/teacher --max-accuracy-drop 1.0 --high-accuracy-drop 0.3 --threads 2 \
  --student-layers 3 2 --augment 1 --distill-epochs 2 --prune-ratios 0.5 --workdir artifacts/search --report reports/history/sst2-search/report \
  -o artifacts/search-winner --overwrite 2>&1 | tee artifacts/logs/search.log

# Third session: the same search with fused-graph exports (the new default), ties within 3% to the smallest
# file, 8-bit embedding tables only. Every trained stage was cached; the pruned student's cache entry under
# the new stage key is the second session's output (identical settings; `cp -al` from
# student3-prune50-42d7e927e32f, which --dry-run then reports as cached).
compress search --model artifacts/teacher --max-accuracy-drop 1.0 --high-accuracy-drop 0.3 --threads 2 \
  --student-layers 3 2 --augment 1 --distill-epochs 2 --prune-ratios 0.5 --embedding-bits 8 --workdir artifacts/search \
  --report reports/history/sst2-search/report -o artifacts/search-winner --overwrite 2>&1 | tee artifacts/logs/search-s3.log
# The fused graph's own effect, side by side: plain vs fused int8 of the vocabulary-pruned and the pruned student.
compress bench artifacts/teacher artifacts/search/student3-vocab-int8-444c1f8334f1 artifacts/search/student3-vocab-int8-ec462b95c68a \
  artifacts/search/student3-prune50-int8-99fdaa26fe01 artifacts/search/student3-prune50-int8-4979f8e48a90 \
  --names teacher s3-vocab-int8-plain s3-vocab-int8-fused s3-prune50-int8-plain s3-prune50-int8-fused --threads 2 \
  --batch-sizes 1 --lengths 128 --real-batch-sizes 32 --perturbations none --no-memory --no-accuracy \
  -o reports/history/sst2-search/fused-vs-plain.json

# Fourth session: pruning in the search now chains its ratios (prune50 continues from prune25) and recovers
# on the teacher's soft targets alone, one epoch per step. The 25% step equals the stand-alone run
# artifacts/prune-exp/p25-kd1 of ../sst2-prune/commands.sh (--head-ratio/--ffn-ratio 0.25 there, the same 9 heads
# and 1,152 neurons as counts here), adopted into the cache with `cp -al` (the dry run then reports it cached).
# 50% is left out: its best recipe (../sst2-prune, fourth session) still loses 1.4 points against the teacher in
# fp32, outside the 1-point budget before int8.
cp -al artifacts/prune-exp/p25-kd1 artifacts/search/student3-prune25-eae5ef69585c
compress search --model artifacts/teacher --max-accuracy-drop 1.0 --high-accuracy-drop 0.3 --threads 2 \
  --student-layers 3 2 --augment 1 --distill-epochs 2 --prune-ratios 0.25 --embedding-bits 8 --workdir artifacts/search \
  --no-scorecard --report reports/history/sst2-search/report -o artifacts/search-winner --overwrite 2>&1 | tee artifacts/logs/search-s4.log
# The 50%-pruned student of issue 5 with its vocabulary pruned too (stand-alone check, outside the budget).
P=artifacts/prune-exp/p50-hid1-aug1-e3
compress prune --model $P --vocabulary -o $P-vocab && compress export --model $P-vocab --optimize -o $P-vocab-onnx
compress quantize --model $P-vocab-onnx -o $P-vocab-int8

# Fifth session: residual LayerNorm unfused on CPU, ORT spinning (PyTorch timed in alternating blocks with every
# ONNX session closed), the guard's single fallbacks first, issue 5's per-ratio recovery recipe, 4-bit
# embeddings and a size floor. The 50% step (issue 5's stand-alone run, identical settings) and its vocabulary
# variant were adopted into the cache; the dry run reports them cached.
cp -al artifacts/prune-exp/p50-hid1-aug1-e3 artifacts/search/student3-prune50-93d2345be465
cp -al artifacts/prune-exp/p50-hid1-aug1-e3-vocab artifacts/search/student3-prune50-vocab-3d906cc7c067
compress search --model artifacts/teacher --max-accuracy-drop 1.0 --min-size-ratio 8 --high-accuracy-drop 0.3 --threads 2 \
  --student-layers 3 2 --augment 1 --distill-epochs 2 --prune-ratios 0.25 0.5 --recovery-epochs 1 3 \
  --recovery-hidden-weight 0 1 --recovery-augment 0 1 --embedding-bits 8 4 --workdir artifacts/search --no-scorecard \
  --report reports/history/sst2-search/report -o artifacts/search-winner --overwrite 2>&1 | tee artifacts/logs/search-s5c.log
# Side-by-side runs in fresh processes (runs 1-3 were made before the harness alternated blocks; run 3 and later
# without b32xl128 and memory).
for run in 4 5; do
  compress bench artifacts/teacher artifacts/search-winner artifacts/search/student3-prune50-int8-guarded-7259f5b19678 \
    artifacts/search/student3-prune25-vocab-int8-339fd38a6b81 artifacts/search/model-int8-12bcd4e35c87 \
    --names teacher winner:student3-prune50-int8-e4 student3-prune50-int8-guarded student3-prune25-vocab-int8 model-int8 \
    --threads 2 --batch-sizes 1 --lengths 128 --real-batch-sizes 32 --bucket --perturbations none --no-memory \
    --ort-spinning -o reports/history/sst2-search/bench-s5-run$run.json
done
# The SkipLayerNormalization check: the same int8 student from a fused export (fourth session) and an unfused one.
python reports/history/sst2-search/skiplayernorm_check.py artifacts/prune-exp/p50-hid1-aug1-e3-int8/model.onnx \
  artifacts/search/student3-prune50-int8-d8cdd693503b/model.onnx
