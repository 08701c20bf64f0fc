#!/usr/bin/env bash
# Issues 2-4 on the real SST-2 teacher: fine-tune, export, quantize (dynamic, static x3 calibrations,
# the guard on a harmful setting), then bench PyTorch fp32 / ONNX fp32 / ONNX int8 side by side twice.
# Run from the repository root with the venv active. Logs land in artifacts/logs/, records here.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets}
R=reports/history/sst2-teacher
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

# The guard on a deliberately harmful setting: static QDQ of every quantizable operator type the graph has
# (LayerNormalization, Transpose, Reshape too), budget 1.0 point.
[ -d artifacts/teacher-harmful-guarded ] || compress quantize --model artifacts/teacher-onnx --mode static \
  --op-types MatMul Gemm Gather LayerNormalization Transpose Reshape --max-accuracy-drop 1.0 -o artifacts/teacher-harmful-guarded

# Fused graph (ORT transformer optimizer) quantized with QAttention as well.
[ -d artifacts/teacher-onnx-opt-int8 ] || compress quantize --model artifacts/teacher-onnx-opt --op-types MatMul Gemm Gather Attention -o artifacts/teacher-onnx-opt-int8

# Bench: the recipe configs/sst2-minilm.yaml ran teacher / ONNX / int8 side by side (first run, with the
# scorecard and memory); this is the repeat for the run-to-run check.
compress bench artifacts/teacher artifacts/teacher-onnx artifacts/teacher-int8 --names teacher onnx int8 --threads 2 \
  --perturbations none --no-memory -o reports/history/sst2-teacher/bench-repeat.json

# Second session (issues 3 and 4): the same three variants benched twice more with at least 30 timed
# passes per fixed shape and 5 per real-length pass (runs 1-2), then twice with 15 per real-length pass
# (runs 3-4, the new default), on a quiet machine.
for i in 1 2 3 4; do
  compress bench artifacts/teacher artifacts/teacher-onnx artifacts/teacher-int8 --names teacher onnx int8 --threads 2 \
    --batch-sizes 1 32 --lengths 128 --real-batch-sizes 32 --perturbations none --no-memory \
    $([ $i -le 2 ] && echo --real-min-runs 5) -o reports/history/sst2-teacher/bench-session2-run$i.json
done
# ORT intra-op spinning: does it slow PyTorch timed next in the same process, and do pauses help?
python reports/history/sst2-teacher/spinning_check.py artifacts/teacher artifacts/teacher-int8

# Third session (issues 3 and 4). The fused graph, embeddings left as plain Gathers (the new --optimize
# default), quantized with the new default operator set (MatMul, Gemm, Gather, Attention):
[ -d artifacts/teacher-onnx-fused ] || compress export --model artifacts/teacher --optimize --max-eval-examples 872 -o artifacts/teacher-onnx-fused
[ -d artifacts/teacher-fused-int8 ] || compress quantize --model artifacts/teacher-onnx-fused -o artifacts/teacher-fused-int8
# Four side-by-side runs on a quiet machine (background jobs paused with SIGSTOP). Runs 1-2: at least 3 s
# timed per variant and workload (--min-time), old stop rule (median moved < 1% in the last round);
# runs 3-4: the new stop rule (~95% confidence interval of every median within 1%, or 10 s more).
for i in 1 2 3 4; do
  compress bench artifacts/teacher artifacts/teacher-onnx artifacts/teacher-int8 artifacts/teacher-fused-int8 \
    --names teacher onnx int8 fused-int8 --threads 2 --batch-sizes 1 32 --lengths 128 --real-batch-sizes 32 \
    --perturbations none --no-memory -o reports/history/sst2-teacher/session3/bench-run$i.json
done
