#!/usr/bin/env bash
# Here, before a GPU run: what the lent GPU machine (offline, Python 3.12, its own CUDA torch and transformers 5)
# needs and lacks, in artifacts/gpu/ (carry it): the teacher and the winner as fp16 safetensors (half the bytes;
# loaded there as fp32, fp16 and bf16) and the wheels to install compress there without a network: compress
# itself and the few dependencies the image does not have. Everything carried must stay under 64 MiB.
#   bash reports/gpu/prepare.sh TEACHER_DIR WINNER_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: prepare.sh TEACHER_DIR WINNER_DIR (PyTorch checkpoints)" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT="$ROOT/artifacts/gpu"
rm -rf "$OUT" && mkdir -p "$OUT/models" "$OUT/wheels"
for pair in "teacher=$1" "winner=$2"; do
  python - "${pair#*=}" "$OUT/models/${pair%%=*}" <<'PY'
import sys, torch
from compress.models import load_classifier, load_tokenizer
model = load_classifier(sys.argv[1]).to(torch.float16)
model.save_pretrained(sys.argv[2], safe_serialization=True)
load_tokenizer(sys.argv[1]).save_pretrained(sys.argv[2])
PY
done
python -m pip wheel -q --no-deps -w "$OUT/wheels" "$ROOT"
# The image has torch, transformers, huggingface-hub, onnx, onnxruntime (CPU), accelerate, numpy, pyarrow, pandas
# and the rest of compress's needs (the device tool's KINDS.md); these it lacks.
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$OUT/wheels" "torch-pruning==1.6.1" "datasets==5.2.0" "dill==0.4.0" "multiprocess==0.70.18"
du -sh "$OUT/models" "$OUT/wheels" "$OUT"
size=$(du -sm "$OUT" | cut -f1)
[ "$size" -lt 60 ] || { echo "prepare: $OUT is $size MiB; the device tool carries 64 MiB at most" >&2; exit 1; }
