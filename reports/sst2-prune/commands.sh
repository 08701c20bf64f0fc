#!/usr/bin/env bash
# Issue 5 on real SST-2: 50% of the attention heads and 50% of the FFN neurons of the best distilled
# 3-layer student (../sst2-distill: kd-aug-3L, 89.45% dev) removed in 2 steps (Taylor importance on 32
# training batches per step), each followed by half an epoch of recovery distilled from the 6-layer
# teacher. `compress search` ran exactly this stage (see ../sst2-search/commands.sh); the stand-alone
# equivalent is below. Then: export with ORT transformer fusion (fused operator counts) and int8.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
P=artifacts/search/student3-prune50-42d7e927e32f   # the search's cached output of this stage
[ -d $P ] || compress prune --model artifacts/search/student3-ed6890156f02 --head-ratio 0.5 --ffn-ratio 0.5 --steps 2 \
  --recovery-epochs 0.5 --teacher artifacts/teacher -o $P
[ -d artifacts/student3-prune50-onnx-opt ] || compress export --model $P --optimize --max-eval-examples 872 \
  -o artifacts/student3-prune50-onnx-opt
