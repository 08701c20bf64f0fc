#!/usr/bin/env bash
# Here, before a GPU run: the models to measure as fp16 safetensors in artifacts/gpu/ (half the bytes; the GPU
# script loads them as fp32, fp16 and bf16), and the wheels the GPU image may lack in reports/gpu/wheels/
# (pure Python or small). Everything carried must stay under 64 MiB: the sizes are printed.
#   bash reports/gpu/prepare.sh MODEL_DIR [MODEL_DIR ...]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mkdir -p "$ROOT/artifacts/gpu" "$HERE/wheels"
for model in "$@"; do
  python - "$model" "$ROOT/artifacts/gpu/$(basename "$model")" <<'PY'
import sys, torch
from compress.models import load_classifier, load_tokenizer
model = load_classifier(sys.argv[1]).to(torch.float16)
model.save_pretrained(sys.argv[2], safe_serialization=True)
load_tokenizer(sys.argv[1]).save_pretrained(sys.argv[2])
PY
done
pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d "$HERE/wheels" psutil pyyaml
du -sh "$ROOT/artifacts/gpu" "$HERE/wheels"
