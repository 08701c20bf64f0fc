"""Does ONNX Runtime's intra-op spinning slow a PyTorch model timed right after it in the same process,
and does a short untimed pause between the two prevent it? (What `compress bench --ort-spinning` relies on.)

Run from the repository root: python reports/history/sst2-teacher/spinning_check.py artifacts/teacher artifacts/teacher-int8
Alternates one ORT int8 run and one PyTorch fp32 run at batch 1, length 128, 2 threads each, 200 times per
setting, and prints the median of each.
"""
import statistics
import sys
import time

import torch

from compress.data import load_split
from compress.models import load_classifier, load_tokenizer
from compress.onnx_model import session

torch.set_num_threads(2)
hf, int8 = sys.argv[1], sys.argv[2]
tokenizer = load_tokenizer(hf)
batch = dict(tokenizer(load_split("sst2", "dev").texts[:1], padding="max_length", max_length=128, truncation=True,
                       return_tensors="np"))
tensors = {k: torch.from_numpy(v) for k, v in batch.items()}
model = load_classifier(hf).eval()


def alternate(spinning: bool, pause_s: float, rounds: int = 200) -> None:
    sess = session(f"{int8}/model.onnx", 2, spinning=spinning)
    ort_s, torch_s = [], []
    for i in range(rounds + 10):
        t = time.perf_counter()
        sess.run(["logits"], batch)
        ort_s.append(time.perf_counter() - t)
        time.sleep(pause_s)
        t = time.perf_counter()
        with torch.inference_mode():
            model(**tensors)
        torch_s.append(time.perf_counter() - t)
        time.sleep(pause_s)
    pt, ort = (1000 * statistics.median(x[10:]) for x in (torch_s, ort_s))
    print(f"| {'on' if spinning else 'off'} | {1000 * pause_s:.0f} | {pt:.2f} | {ort:.2f} | {pt / ort:.2f} |", flush=True)


print("| ORT spinning | pause ms | PyTorch fp32 p50 ms | ORT int8 p50 ms | speed-up |\n|---|---:|---:|---:|---:|")
for spinning, pause in [(False, 0), (True, 0), (True, 0.002), (True, 0.02), (False, 0.02), (False, 0)]:
    alternate(spinning, pause)
