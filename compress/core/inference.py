"""PyTorch batches and batched prediction: what training, export, pruning and the harness share to run a
model over tokenised rows, with results put back in row order."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from compress.core.anatomy import input_names
from compress.core.batching import Features, grouped, pad_batch
from compress.core.metrics import Metric, classification_metrics
from compress.core.progress import bar


class Collator:
    """Pads a batch to its own longest row and carries label ids and row positions along, as tensors."""

    def __init__(self, features: Features, pad_id: int):
        self.features = features
        self.pad_id = pad_id

    def __call__(self, positions: list[int]) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(v) for k, v in pad_batch(self.features, positions, self.pad_id).items()}


def loader(features: Features, pad_id: int, batch_size: int, seed: int = 0, shuffle: bool = False,
           group: bool = True) -> DataLoader:
    return DataLoader(range(len(features)), batch_sampler=grouped(features, batch_size, seed, shuffle, group),
                      collate_fn=Collator(features, pad_id))


def model_inputs(batch: dict[str, torch.Tensor], model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The tensors of `batch` that `model`'s architecture takes (a BERT tokenizer's token_type_ids reach no
    DistilBERT)."""
    names = input_names(model)
    return {k: v for k, v in batch.items() if k in names}


def is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


@torch.no_grad()
def predict_logits(model: torch.nn.Module, features: Features, pad_id: int, batch_size: int = 128,
                   device: torch.device | str = "cpu", progress: str | None = None) -> np.ndarray:
    """Logits in the original row order (batches are length-sorted for speed, then put back).

    `progress` names a progress bar, for passes long enough that silence would look like a hang.
    """
    was_training = model.training
    model.eval()
    out = np.zeros((len(features), model.config.num_labels), dtype=np.float32)
    batches = loader(features, pad_id, batch_size, shuffle=False)
    for batch in bar(batches, desc=progress, unit="batch", disable=progress is None or not is_main_process()):
        logits = model(**{k: v.to(device) for k, v in model_inputs(batch, model).items()}).logits
        out[batch["idx"].numpy()] = logits.float().cpu().numpy()
    model.train(was_training)
    return out


def evaluate(model: torch.nn.Module, features: Features, pad_id: int, batch_size: int = 128,
             device: torch.device | str = "cpu", metric: Metric = Metric()) -> dict[str, float]:
    logits = predict_logits(model, features, pad_id, batch_size, device)
    return classification_metrics(features.labels, logits.argmax(-1), model.config.num_labels, metric)
