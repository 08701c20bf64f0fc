#!/usr/bin/env bash
# Here, before a GPU run: what the lent GPU machine (offline, Python 3.12, its own CUDA torch and transformers 5)
# needs and lacks, in artifacts/gpu/ (carry it): the teacher and the winner as fp16 safetensors (half the bytes;
# loaded there as fp32, fp16 and bf16) and the wheels to install compress there without a network: compress
# itself and the few dependencies the image does not have, and SST-2's test role with a slice of train. Everything
# that travels, the working tree included, must stay under 64 MiB: the full MiniLM teacher in fp16 (45 MB) does not
# fit beside a 16 MB tree, its vocabulary-pruned copy (the search's model-vocab checkpoint: the same arithmetic, the
# embedding rows of SST-2's word pieces) does.
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
from compress.core.models import load_classifier, load_tokenizer
model = load_classifier(sys.argv[1]).to(torch.float16)
model.save_pretrained(sys.argv[2], safe_serialization=True)
load_tokenizer(sys.argv[1]).save_pretrained(sys.argv[2])
PY
done
mkdir -p "$OUT/data/sst2"
data=${COMPRESS_DATA_DIR:-$ROOT/../shared/datasets}/sst2
cp "$data/dev.tsv" "$OUT/data/sst2/dev.tsv"
head -n 2001 "$data/train.tsv" > "$OUT/data/sst2/train.tsv"
python -m pip wheel -q --no-deps -w "$OUT/wheels" "$ROOT"
# The image has torch, transformers, huggingface-hub, onnx, onnxruntime (CPU), accelerate, numpy, pyarrow, pandas
# and the rest of compress's needs (the device tool's KINDS.md); these it lacks.
python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$OUT/wheels" "torch-pruning==1.6.1" "datasets==5.2.0" "dill==0.4.0" "multiprocess==0.70.18"
du -sh "$OUT/models" "$OUT/wheels"
# What travels: the working tree (tracked and untracked files git does not ignore) and this folder.
tree=$(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null \
       | awk '{s += $1} END {print s}')
carried=$(du -sb "$OUT" | cut -f1)
total=$(( (tree + carried) / 1048576 ))
echo "prepare: working tree $(( tree / 1048576 )) MiB + artifacts/gpu $(( carried / 1048576 )) MiB = $total MiB of 64"
[ "$total" -lt 63 ] || { echo "prepare: over the 64 MiB a device run carries; give vocabulary-pruned models (the \
search's model-vocab checkpoint for the teacher)" >&2; exit 1; }
