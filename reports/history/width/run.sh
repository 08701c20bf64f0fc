#!/usr/bin/env bash
# Issue 17, item 5: the distilled 3-layer SST-2 student of the issue-16 search (artifacts/roles/sst2-search/
# student3-*) narrowed from hidden size 384 to 256 and to 192 with compress prune --hidden-size (Torch-Pruning),
# each recovered for one epoch by distilling the fine-tuned teacher's soft targets (as the search recovers its
# pruned students), its vocabulary pruned, then exported and quantized to int8 (guarded on validation).
# Choices on validation (carved from SST-2 train), figures on dev (the test role). Run from the repository root,
# venv active; bench.sh then times them side by side.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
student=$(ls -d artifacts/roles/sst2-search/student3-* | grep -v -- '-onnx\|-int8\|-vocab' | head -1)
mkdir -p artifacts/width artifacts/logs
for hidden in ${HIDDEN_SIZES:-256 192}; do
  out=artifacts/width/student3-h$hidden
  compress prune --model "$student" --hidden-size $hidden --teacher artifacts/roles/sst2-teacher --ce-weight 0 \
    --kd-weight 1 --recovery-epochs 1 --vocabulary -o $out --overwrite
  compress export --model $out -o $out-onnx --overwrite
  compress quantize --model $out-onnx --max-accuracy-drop 1.0 -o $out-int8 --overwrite
done
