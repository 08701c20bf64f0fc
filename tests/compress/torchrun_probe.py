"""Run by test_distributed under torchrun: trains a tiny BERT with the shared loop and writes, for its process,
the learning rate of every optimiser step, the rows of every batch, every evaluation and the weights it kept.

Usage: python -m torch.distributed.run ... tests/compress/torchrun_probe.py MODEL OUTPUT_DIR
"""

import hashlib
import json
import sys
from pathlib import Path

from torch.optim.optimizer import register_optimizer_step_pre_hook

from compress.core.batching import featurize
from compress.core.data import LabelSpace, load_split
from compress.core.models import load_classifier, load_tokenizer
from compress.core.training import TrainConfig, cross_entropy_loss, train

TRAIN_ROWS, EVAL_ROWS, STEPS, BATCH, PEAK, WARMUP = 64, 32, 8, 8, 1e-3, 0.25


def main(model: str, output: str) -> None:
    from accelerate import PartialState

    labels = LabelSpace(("0", "1"), ("negative", "positive"))
    tokenizer = load_tokenizer(model)
    rows = featurize(tokenizer, load_split("sst2", "train").sample(TRAIN_ROWS, seed=0), labels, 32)
    dev = featurize(tokenizer, load_split("sst2", "dev").sample(EVAL_ROWS, seed=0), labels, 32)
    learning_rates, batches = [], []
    register_optimizer_step_pre_hook(
        lambda optimizer, args, kwargs: learning_rates.append(optimizer.param_groups[0]["lr"]))

    def recording_loss(net, batch):
        batches.append(batch["idx"].tolist())
        return cross_entropy_loss(net, batch)

    classifier = load_classifier(model, labels)
    config = TrainConfig(max_steps=STEPS, batch_size=BATCH, learning_rate=PEAK, warmup_ratio=WARMUP, max_length=32,
                         eval_batch_size=EVAL_ROWS)
    result = train(classifier, rows, dev, tokenizer.pad_token_id, config, recording_loss)
    kept = hashlib.sha256()
    for name, tensor in sorted(classifier.state_dict().items()):
        kept.update(name.encode() + tensor.detach().cpu().numpy().tobytes())
    state = PartialState()
    Path(output, f"rank{state.process_index}.json").write_text(json.dumps({
        "processes": state.num_processes, "learning_rates": learning_rates, "batches": batches,
        "evaluations": [h["eval"] for h in result.history], "best_epoch": result.best["epoch"],
        "weights": kept.hexdigest()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
