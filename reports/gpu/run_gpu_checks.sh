#!/usr/bin/env bash
# One prepared script for a lent GPU machine (device tool): every GPU check and benchmark in one run.
# Usage there (repo root, with the teacher checkpoint carried in artifacts/teacher):
#   bash reports/gpu/run_gpu_checks.sh "$OUT"
# It installs the project with the gpu extra (onnxruntime-gpu instead of onnxruntime), runs the GPU
# tests, exports fp32 and fp16 ONNX graphs, a TensorRT-preset int8 graph, and benches PyTorch
# fp32/fp16/bf16 and ONNX Runtime CUDA/TensorRT side by side. Results go to $OUT for reports/gpu/.
set -uo pipefail
OUT=${1:-reports/gpu/out}
mkdir -p "$OUT"
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-shared/datasets} PYTHONUNBUFFERED=1
python3 -m venv /tmp/venv && . /tmp/venv/bin/activate
pip install -q torch==2.13.0 && pip install -q -e ".[gpu,test]" 2>&1 | tail -2
nvidia-smi | tee "$OUT/nvidia-smi.txt"
python -c "import onnxruntime as o; print('providers', o.get_available_providers())" | tee "$OUT/providers.txt"
python -m pytest -q -m gpu 2>&1 | tail -5 | tee "$OUT/gpu-tests.txt"
compress export --model artifacts/teacher -o /tmp/onnx --max-eval-examples 256
compress export --model artifacts/teacher -o /tmp/onnx-fp16 --fp16 --max-eval-examples 256
compress quantize --model /tmp/onnx --preset tensorrt -o /tmp/int8-trt
variants=(artifacts/teacher@fp32 artifacts/teacher@fp16 artifacts/teacher@bf16 /tmp/onnx@cuda /tmp/onnx-fp16@cuda)
python -c "import onnxruntime as o; exit('TensorrtExecutionProvider' not in o.get_available_providers())" \
  && variants+=(/tmp/onnx@tensorrt /tmp/int8-trt@tensorrt)
compress bench "${variants[@]}" --device cuda --perturbations none -o "$OUT/bench-gpu.json" 2>&1 | tee "$OUT/bench-gpu.txt"
