#!/usr/bin/env bash
# Issues 2-4 on the real SST-2 teacher: fine-tune, export, quantize (dynamic, static x3 calibrations,
# the guard on a harmful setting), then bench PyTorch fp32 / ONNX fp32 / ONNX int8 side by side twice.
# Run from the repository root with the venv active. Logs land in artifacts/logs/, records here.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
R=reports/sst2-teacher
mkdir -p artifacts/logs

# Issue 2: the teacher (3 epochs, lr 5e-5, batch 32, all 67,349 training sentences). It ran with one
# training thread (OMP_NUM_THREADS=1) because the machine's 2 cores were shared with other work.
[ -d artifacts/teacher ] || compress finetune --data sst2 --epochs 3 --learning-rate 5e-5 --batch-size 32 -o artifacts/teacher

# Issue 4: export with parity on all 872 dev sentences, plain and with ORT transformer fusion.
[ -d artifacts/teacher-onnx ] || compress export --model artifacts/teacher --max-eval-examples 872 -o artifacts/teacher-onnx
[ -d artifacts/teacher-onnx-opt ] || compress export --model artifacts/teacher --max-eval-examples 872 --optimize -o artifacts/teacher-onnx-opt

# Dynamic int8 (the default: per-channel, MatMul/Gemm), guarded against the fp32 ONNX model on dev.
[ -d artifacts/teacher-int8 ] || compress quantize --model artifacts/teacher-onnx -o artifacts/teacher-int8
# Static QDQ with each calibration method.
for m in minmax entropy percentile; do
  [ -d artifacts/teacher-static-$m ] || compress quantize --model artifacts/teacher-onnx --mode static --calibration-method $m -o artifacts/teacher-static-$m
done
