#!/usr/bin/env bash
# Every GPU check and benchmark in one run, for a lent GPU machine (the device tool): offline, on the machine's
# own CUDA PyTorch image (Python 3.12, its torch and transformers, CPU-only onnxruntime), the project used from
# the working tree (PYTHONPATH, nothing installed from a network). What the image lacks travels as small wheels
# in reports/gpu/wheels/ (made here by prepare.sh) and the models as fp16 safetensors in artifacts/gpu/ (carry
# it). onnxruntime-gpu's wheel does not fit the 64 MiB a run may carry, so the comparison stands on PyTorch
# fp32 / fp16 / bf16 of every variant; ONNX Runtime CUDA joins only where the image already has it.
#
#   bash reports/gpu/run_gpu_checks.sh OUT     # on the GPU machine; results in OUT for reports/gpu/
#   bash reports/gpu/run_gpu_checks.sh OUT --dry-run   # anywhere: checks the set-up, then stops (exit 3
#                                                      # and one line when no CUDA GPU is visible)
set -euo pipefail
OUT=${1:?usage: run_gpu_checks.sh OUT [--dry-run]}
DRY=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
mkdir -p "$OUT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-$ROOT/shared/datasets}
PY=${PYTHON:-python3}
MODELS=${GPU_MODELS:-$ROOT/artifacts/gpu}

if compgen -G "$HERE/wheels/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps "$HERE"/wheels/*.whl
fi
# The project's imports, against what the image has: one line naming what is missing.
$PY - <<'PY'
import importlib, sys
missing = [m for m in ("torch", "transformers", "psutil", "yaml", "tqdm", "safetensors") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"run_gpu_checks: missing on this image and not in reports/gpu/wheels: {', '.join(missing)}")
PY
variants=()
for model in "$MODELS"/*/; do
  [ -f "$model/config.json" ] && variants+=("${model%/}")
done
[ ${#variants[@]} -gt 0 ] || { echo "run_gpu_checks: no models in $MODELS (run reports/gpu/prepare.sh and carry it)" >&2; exit 2; }
$PY - <<'PY' || exit 3
import sys, torch
if not torch.cuda.is_available():
    sys.exit("run_gpu_checks: no CUDA GPU visible: nothing to measure")
PY
[ "$DRY" = "--dry-run" ] && { echo "run_gpu_checks: set-up complete; ${#variants[@]} models"; exit 0; }

nvidia-smi | tee "$OUT/nvidia-smi.txt"
$PY -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)" | tee "$OUT/versions.txt"
$PY -m pytest -q -m gpu -p no:cacheprovider "$ROOT/tests" 2>&1 | tail -5 | tee "$OUT/gpu-tests.txt" || true
specs=()
for model in "${variants[@]}"; do specs+=("$model@fp32" "$model@fp16" "$model@bf16"); done
onnx=$($PY -c "import onnxruntime as o; print('CUDAExecutionProvider' in o.get_available_providers())" 2>/dev/null || echo False)
$PY -m compress.cli bench "${specs[@]}" --device cuda --perturbations none --batch-sizes 1 32 --lengths 128 \
  --real-batch-sizes 32 --roles test -o "$OUT/bench-gpu.json" 2>&1 | tee "$OUT/bench-gpu.txt"
echo "onnxruntime CUDA provider on this image: $onnx" | tee -a "$OUT/bench-gpu.txt"
