#!/usr/bin/env bash
# Issue 8 on real SST-2: students cut from the fine-tuned 6-layer teacher (artifacts/teacher).
# Distillation (soft targets at T=2 with cached teacher logits + hard labels) versus plain fine-tuning of
# the same 3-layer initialisation, then 2 and 1 layers; each exported, int8-quantized and benched
# against the teacher. Runs were started two at a time with one thread each (2 cores).
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets} OMP_NUM_THREADS=1
T=artifacts/teacher
run() { [ -d "artifacts/$1" ] || compress distill --teacher $T "${@:2}" -o "artifacts/$1" > "artifacts/logs/$1.log" 2>&1; }
run student3-kd --student-layers 3 --epochs 2 --learning-rate 1e-4 --ce-weight 0.5 --kd-weight 0.5 --temperature 2 &
run student3-ft --student-layers 3 --epochs 2 --learning-rate 1e-4 --ce-weight 1 --kd-weight 0 &
wait
run student2-kd --student-layers 2 --epochs 1 --learning-rate 1e-4 --ce-weight 0.5 --kd-weight 0.5 --temperature 2 &
run student1-kd --student-layers 1 --epochs 1 --learning-rate 1e-4 --ce-weight 0.5 --kd-weight 0.5 --temperature 2 &
wait
