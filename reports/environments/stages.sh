#!/usr/bin/env bash
# Every command on a small SST-2 slice with the bundled MiniLM, in one venv: prints one line per command, ok or its
# one-line error. Head pruning, hidden-size pruning and a search with pruning included; the pruned checkpoints are
# reloaded the way the README says (plain transformers where the config describes the shape, compress.load for
# head-pruned ones on transformers 5).
# Usage, from the repository root: bash reports/environments/stages.sh VENV (one with compress installed)
set -uo pipefail
export COMPRESS_DATA_DIR=${COMPRESS_DATA_DIR:-../shared/datasets} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
venv=${1:?usage: stages.sh VENV}
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
step "prune heads" prune --model "$run/teacher" "${data[@]}" --head-ratio 0.5 --recovery-epochs 0.2 --max-length 64 \
  -o "$run/heads"
step "prune hidden size" prune --model "$run/teacher" "${data[@]}" --hidden-size 192 --recovery-epochs 0.2 \
  --max-length 64 -o "$run/narrow"
reload() {
  "$venv/bin/python" - "$@" <<'PY' 2>&1 | tail -1
import sys, torch, transformers, compress
from transformers import AutoModelForSequenceClassification
kind, path = sys.argv[1], sys.argv[2]
text = ["a gripping, funny film", "dull and far too long"]
ours = compress.load(path).probabilities(text)
if kind == "plain":
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tok = transformers.AutoTokenizer.from_pretrained(path)
    with torch.no_grad():
        plain = model(**tok(text, padding=True, return_tensors="pt")).logits.softmax(-1).numpy()
    print(f"ok     reload {path.rsplit('/', 1)[-1]} in plain transformers and compress.load: max difference "
          f"{abs(plain - ours).max():.1e}")
else:
    print(f"ok     reload {path.rsplit('/', 1)[-1]} with compress.load: {ours.round(3).tolist()}")
PY
}
reload compress "$run/heads"
reload plain "$run/narrow"
reload plain "$run/pruned"
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
# A budget every candidate meets, so that each family runs: students, then head/FFN and hidden-size pruning.
step "search (pruning included)" search --model "$run/teacher" "${data[@]}" --max-accuracy-drop 50 --time-budget 6 \
  --student-layers 2 --final-seconds 0.5 --no-scorecard --workdir "$run/search" --report "$run/search-report" -o "$run/winner"
"$venv/bin/python" -c "import json, sys; s = json.load(open(sys.argv[1] + '/search.json'))
print('       search tried:', ', '.join(c['name'] for c in s.get('candidates', [])))" "$run/search-report" 2>/dev/null
