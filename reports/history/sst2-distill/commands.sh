#!/usr/bin/env bash
# Issue 8 on real SST-2: students cut from the fine-tuned 6-layer teacher (artifacts/teacher).
# Distillation (soft targets at T=2 with cached teacher logits + hard labels) versus plain fine-tuning of
# the same 3-layer initialisation, then 2 and 1 layers, one epoch each; each exported, int8-quantized and
# benched against the teacher. Runs were started two at a time, one thread each, on the 2-core machine.
set -euo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets} OMP_NUM_THREADS=1
T=artifacts/teacher
run() { [ -d "artifacts/$1" ] || compress distill --teacher $T "${@:2}" -o "artifacts/$1" > "artifacts/logs/$1.log" 2>&1; }
run student3-kd --student-layers 3 --epochs 1 --learning-rate 1e-4 --ce-weight 0.5 --kd-weight 0.5 --temperature 2 &
run student3-ft --student-layers 3 --epochs 1 --learning-rate 1e-4 --ce-weight 1 --kd-weight 0 &
run student2-kd --student-layers 2 --epochs 1 --learning-rate 1e-4 --ce-weight 0.5 --kd-weight 0.5 --temperature 2 &
run student1-kd --student-layers 1 --epochs 1 --learning-rate 1e-4 --ce-weight 0.5 --kd-weight 0.5 --temperature 2 &
wait

# Export and int8-quantize each student, then bench them against the teacher side by side.
unset OMP_NUM_THREADS
for s in student3-kd student3-ft student2-kd student1-kd; do
  [ -d artifacts/$s-onnx ] || compress export --model artifacts/$s -o artifacts/$s-onnx
done
for s in student3-kd student2-kd student1-kd; do
  [ -d artifacts/$s-int8 ] || compress quantize --model artifacts/$s-onnx -o artifacts/$s-int8
done
compress bench artifacts/teacher artifacts/student3-kd artifacts/student3-ft artifacts/student2-kd artifacts/student1-kd \
  artifacts/teacher-int8 artifacts/student3-kd-int8 artifacts/student2-kd-int8 artifacts/student1-kd-int8 --threads 2 \
  --batch-sizes 1 --lengths 128 --real-batch-sizes 32 --min-runs 20 --workload-seconds 4 --perturbations none --no-memory \
  --names teacher kd-3L ft-3L kd-2L kd-1L teacher-int8 kd-3L-int8 kd-2L-int8 kd-1L-int8 \
  -o reports/history/sst2-distill/bench.json
compress report reports/history/sst2-distill/bench.json -o reports/history/sst2-distill/report --title "SST-2 distilled students"

# Second session: longer training and augmentation for the 3-layer student, and the plain fine-tuning
# baseline at the same length. Three runs at one thread each, sharing the 2 cores with other work.
OMP_NUM_THREADS=1 run student3-kd3 --student-layers 3 --epochs 3 --learning-rate 1e-4 --ce-weight 0.5 --kd-weight 0.5 --temperature 2
OMP_NUM_THREADS=1 run student3-kd2aug --student-layers 3 --epochs 2 --augment 1 --learning-rate 1e-4 --ce-weight 0.5 --kd-weight 0.5 --temperature 2
OMP_NUM_THREADS=1 run student3-ft3 --student-layers 3 --epochs 3 --learning-rate 1e-4 --ce-weight 1 --kd-weight 0
for s in student3-kd3 student3-kd2aug student3-ft3; do
  [ -d artifacts/$s-onnx ] || compress export --model artifacts/$s -o artifacts/$s-onnx
  [ -d artifacts/$s-int8 ] || compress quantize --model artifacts/$s-onnx -o artifacts/$s-int8
done
compress bench artifacts/teacher artifacts/student3-kd2aug artifacts/student3-kd3 artifacts/student3-ft3 \
  artifacts/student3-kd2aug-int8 artifacts/student3-kd3-int8 artifacts/student3-ft3-int8 --threads 2 \
  --batch-sizes 1 --lengths 128 --real-batch-sizes 32 --perturbations none --no-memory \
  --names teacher kd-aug-3L kd-3L-3ep ft-3L-3ep kd-aug-3L-int8 kd-3L-3ep-int8 ft-3L-3ep-int8 \
  -o reports/history/sst2-distill/bench-2.json
