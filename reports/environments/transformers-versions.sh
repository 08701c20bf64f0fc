#!/usr/bin/env bash
# The same fine-tuned checkpoint exported (--optimize) and quantized to int8 once under transformers 5 and once
# under 4.57, then both int8 graphs timed side by side (interleaved, one process) in three fresh-process bench
# runs; prints the fused operators of each export and the median and range of the speed ratio.
# Usage, from the repository root:
#   bash reports/environments/transformers-versions.sh CHECKPOINT OUT NEWEST_VENV OLDEST_VENV
set -euo pipefail
model=${1:?usage: transformers-versions.sh CHECKPOINT OUT NEWEST_VENV OLDEST_VENV}
out=${2:?}; newest=${3:?}; oldest=${4:?}
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
mkdir -p "$out"
for side in newest oldest; do
  venv=$newest; [ "$side" = oldest ] && venv=$oldest
  "$venv/bin/python" -c "import transformers; print('$side: transformers', transformers.__version__)"
  "$venv/bin/compress" export --model "$model" --optimize --overwrite -o "$out/$side-onnx" > /dev/null
  "$venv/bin/compress" quantize --model "$out/$side-onnx" --overwrite -o "$out/$side-int8" > /dev/null
  "$venv/bin/python" -c "import json, sys; print('  fused:', json.load(open(sys.argv[1]))['metrics']['fused_operators'])" \
    "$out/$side-onnx/manifest.json"
done
for run in 1 2 3; do
  "$newest/bin/compress" bench "$out/oldest-int8" "$out/newest-int8" --names int8-transformers4 int8-transformers5 \
    --threads 2 --batch-sizes 1 32 --lengths 128 --real-batch-sizes 32 --perturbations none \
    -o "$out/bench-$run.json" > /dev/null
done
"$newest/bin/python" -m eval.repeats "$out"/bench-1.json "$out"/bench-2.json "$out"/bench-3.json
