#!/usr/bin/env bash
# Issue 21's lever "thread count and session settings at batch 1": a model against its PyTorch fp32 teacher at
# 1 and 2 intra-op threads, ONNX Runtime's spinning on and off; three fresh-process bench runs of each setting (no
# accuracy: settings do not change the logits) and one eval.repeats summary per setting.
# Usage: settings.sh TEACHER MODEL PREFIX (writes PREFIX-settings-t{1,2}-{spinning,no-spinning}-run{1,2,3}.json and
# PREFIX-settings.md). Run from the repository root, venv active, nothing else running.
set -euo pipefail
teacher=$1 model=$2 prefix=$3
: > "$prefix-settings.md"
for threads in 1 2; do
  for spin in spinning no-spinning; do
    name=$prefix-settings-t$threads-$spin
    for run in 1 2 3; do
      compress bench "$teacher" "$model" --names teacher model --no-accuracy --threads $threads --batch-sizes 1 \
        --lengths 128 --real-batch-sizes 32 --bucket --perturbations none --no-memory --${spin/spinning/ort-spinning} \
        -o "$name-run$run.json" 2> /dev/null
    done
    { echo "## $threads intra-op threads, ${spin/-/ }"; python -m eval.repeats "$name"-run{1,2,3}.json; echo; } \
      >> "$prefix-settings.md"
  done
done
