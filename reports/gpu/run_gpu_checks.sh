#!/usr/bin/env bash
# Every GPU check and benchmark in one run, on a machine as GPU users have it: Python 3.12 with a CUDA torch and
# transformers 5 already installed, no network (the device tool's machine). compress installs from the wheels
# reports/gpu/prepare.sh put in artifacts/gpu/wheels (carry artifacts/gpu), leaving the preinstalled torch as it
# is; then the GPU tests, and one `compress bench --device cuda` of the teacher and the winner at fp32, fp16 and
# bf16 with peak memory, scored on SST-2's test role. onnxruntime-gpu does not fit the 64 MiB a run carries, so
# ONNX Runtime CUDA joins only where the image already has it.
#
#   bash reports/gpu/run_gpu_checks.sh OUT               # on the GPU machine; the record goes to OUT
#   bash reports/gpu/run_gpu_checks.sh OUT --rehearse    # on a CPU, in an environment that imitates the image:
#                                                        # the same steps with --device cpu (fp16 left out)
#   bash reports/gpu/run_gpu_checks.sh OUT --dry-run     # anywhere: checks the set-up, then stops (exit 3 and
#                                                        # one line when no CUDA GPU is visible)
set -euo pipefail
OUT=${1:?usage: run_gpu_checks.sh OUT [--rehearse | --dry-run]}
MODE=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CARRIED=${GPU_CARRIED:-$ROOT/artifacts/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-$CARRIED/data}
PY=${PYTHON:-python3}

variants=()
for model in "$CARRIED"/models/*/; do
  [ -f "$model/config.json" ] && variants+=("${model%/}")
done
[ ${#variants[@]} -gt 0 ] || { echo "run_gpu_checks: no models in $CARRIED/models (run reports/gpu/prepare.sh and carry it)" >&2; exit 2; }
compgen -G "$CARRIED/wheels/compress-*.whl" > /dev/null || { echo "run_gpu_checks: no compress wheel in $CARRIED/wheels (run reports/gpu/prepare.sh)" >&2; exit 2; }
if [ "$MODE" != "--rehearse" ]; then
  $PY -c "import sys, torch; torch.cuda.is_available() or sys.exit('run_gpu_checks: no CUDA GPU visible: nothing to measure')" || exit 3
fi
[ "$MODE" = "--dry-run" ] && { echo "run_gpu_checks: set-up complete; ${#variants[@]} models"; exit 0; }

torch_before=$($PY -c "import torch; print(torch.__version__, torch.__file__)")
$PY -m pip install -q --no-index --find-links "$CARRIED/wheels" compress 2>&1 | tee "$OUT/install.txt"
torch_after=$($PY -c "import torch; print(torch.__version__, torch.__file__)")
[ "$torch_before" = "$torch_after" ] || { echo "run_gpu_checks: installing compress replaced torch ($torch_before -> $torch_after)" >&2; exit 1; }
{
  echo "torch kept: $($PY -c 'import torch; print(torch.__version__)') (the preinstalled build, same file before and after)"
  $PY -c "import sys, platform, torch, transformers, onnxruntime, compress
print('python', platform.python_version(), '| torch', torch.__version__, 'cuda', torch.version.cuda,
      '| transformers', transformers.__version__, '| onnxruntime', onnxruntime.__version__,
      onnxruntime.get_available_providers())"
  if command -v nvidia-smi > /dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; fi
} | tee "$OUT/versions.txt"

# The GPU tests run from the working tree's tests against the installed package.
(cd "$ROOT" && $PY -m pytest -q -o addopts="" -m gpu -p no:cacheprovider tests 2>&1 | tail -3) | tee "$OUT/gpu-tests.txt" || true

if [ "$MODE" = "--rehearse" ]; then
  device=cpu precisions="fp32 bf16" sizes=(--batch-sizes 1 --lengths 64 --real-batch-sizes 8 --workload-seconds 1
                                         --min-runs 3 --real-min-runs 1 --warmup 1 --max-eval-examples 64)
else
  device=cuda precisions="fp32 fp16 bf16" sizes=(--batch-sizes 1 32 --lengths 128 --real-batch-sizes 32)
fi
specs=()
for model in "${variants[@]}"; do for p in $precisions; do specs+=("$model@$p"); done; done
names=()
for model in "${variants[@]}"; do for p in $precisions; do names+=("$(basename "$model")-$p"); done; done
$PY -m compress bench "${specs[@]}" --names "${names[@]}" --device "$device" --data sst2 --roles test \
  --perturbations none "${sizes[@]}" -o "$OUT/bench-$device.json" 2>&1 | tee "$OUT/bench-$device.txt"
$PY -m compress report "$OUT/bench-$device.json" -o "$OUT/report" > /dev/null
echo "run_gpu_checks: done on $device; record $OUT/bench-$device.json, report $OUT/report" | tee -a "$OUT/bench-$device.txt"
