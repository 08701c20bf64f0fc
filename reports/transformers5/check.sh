#!/usr/bin/env bash
# Which stages work on transformers 5 (issue 18): every command on a small SST-2 slice with the bundled MiniLM,
# in a separate venv with the newest transformers 5 and everything else as pyproject.toml pins it (optimum-onnx
# 0.1.0 is left out: it requires transformers < 4.58). Prints one line per command: ok, or its one-line error.
# Usage, from the repository root: bash reports/transformers5/check.sh [VENV]   (default artifacts/tf5-venv)
set -uo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
venv=${1:-artifacts/tf5-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.13.0
  deps=$(python3 -c 'import tomllib; d = tomllib.load(open("pyproject.toml", "rb"))["project"]
print(" ".join(r for r in d["dependencies"] + d["optional-dependencies"]["cpu"] if not r.startswith("transformers")
               and not r.startswith("huggingface-hub")))')
  "$venv/bin/pip" install -q "transformers>=5,<6" $deps
  "$venv/bin/pip" install -q --no-deps -e .
fi
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
"$venv/bin/python" -c 'import transformers, huggingface_hub; print("transformers", transformers.__version__,
"huggingface_hub", huggingface_hub.__version__)'
data=(--data sst2 --max-train-examples 256 --max-eval-examples 128)
scored=(--data sst2 --max-eval-examples 128)
step() {
  local name=$1; shift
  if err=$("$venv/bin/compress" "$@" 2>&1 >/dev/null); then echo "ok     $name"
  else echo "FAILED $name: $(echo "$err" | tail -1)"; fi
}
step "finetune" finetune "${data[@]}" --epochs 1 --max-length 64 -o "$run/teacher"
step "distill (2-layer student)" distill --teacher "$run/teacher" "${data[@]}" --student-layers 2 --epochs 1 \
  --max-length 64 -o "$run/student"
step "prune layers + FFN + vocabulary" prune --model "$run/teacher" "${data[@]}" --layers-to-drop 2 --ffn-ratio 0.5 \
  --vocabulary --recovery-epochs 0.2 --max-length 64 -o "$run/pruned"
step "prune heads" prune --model "$run/teacher" "${data[@]}" --head-ratio 0.5 -o "$run/heads"
step "analyze" analyze --model "$run/teacher" "${scored[@]}" -o "$run/analyze"
step "export" export --model "$run/pruned" --max-eval-examples 32 -o "$run/onnx"
step "export --optimize" export --model "$run/pruned" --max-eval-examples 32 --optimize -o "$run/onnx-optimized"
"$venv/bin/python" -c "import json, sys; m = json.load(open(sys.argv[1] + '/manifest.json'))['metrics']
print('       fused operators after --optimize:', m.get('fused_operators', m.get('optimize')))" "$run/onnx-optimized" 2>/dev/null
step "quantize" quantize --model "$run/onnx" "${scored[@]}" -o "$run/int8"
step "bench" bench "$run/teacher" "$run/int8" --names teacher int8 "${scored[@]}" --batch-sizes 1 --lengths 64 \
  --real-batch-sizes 8 --workload-seconds 0.5 --perturbations none --no-memory -o "$run/bench.json"
printf '{"text": "it was great"}\n{"text": "it was awful"}\n' > "$run/texts.jsonl"
step "predict" predict --model "$run/int8" --data "$run/texts.jsonl" -o "$run/predictions.jsonl"
step "search" search --model "$run/teacher" "${data[@]}" --time-budget 2 --workdir "$run/search" \
  --report "$run/search-report" -o "$run/winner"
step "search --prune-ratios 0" search --model "$run/teacher" "${data[@]}" --prune-ratios 0 --hidden-fractions 0 --time-budget 1 \
  --student-layers 1 --final-seconds 0.5 --no-scorecard --workdir "$run/search0" --report "$run/search0-report" \
  -o "$run/winner0"
