"""The settings of `compress search`, in named groups: which candidates it makes, how students train, how pruning
recovers, and how long it measures."""

from __future__ import annotations

from dataclasses import dataclass

from compress.core.config import option
from compress.core.data import DataConfig
from compress.core.models import LoadSettings


@dataclass
class SearchConfig(LoadSettings, DataConfig):
    """Settings of `compress search`: the budget and where it works, then its groups."""

    model: str | None = option(None, "fine-tuned classifier checkpoint to compress; also the baseline, in PyTorch "
                                     "fp32")
    max_accuracy_drop: float = option(1.0, "budget: most points of --metric on validation a candidate may lose "
                                           "against the baseline", interval="[0, inf)")
    min_size_ratio: float = option(1.0, "the winner's file must be at least this many times smaller than --model's; "
                                        "the high-accuracy point is not held to it", interval="[1, inf)")
    high_accuracy_drop: float = option(0.3, "a second, tighter budget whose fastest candidate the report also shows",
                                       interval="[0, inf)")
    workdir: str = option("artifacts/search", "where every stage output is cached; a re-run reuses them")
    report: str = option("artifacts/search/report", "report directory (README.md, index.html, plots, search.json)")

    # Which candidates it makes.
    student_layers: list[int] = option([3, 2], "student depths to distil, deepest first; a depth outside the "
                                               "budget sends the search deeper; 0 skips distillation",
                                       interval="[0, inf)", group="candidates")
    hidden_fractions: list[float] = option([0.67, 0.5], "hidden sizes to narrow that student to, as fractions of "
                                                        "its own; 0 skips",
                                           interval="[0, 1)", group="candidates")
    embedding_bits: list[int] = option([8, 4], "bits of the quantized embedding tables to try with each int8 model",
                                       choices=(8, 4), group="candidates")
    optimize: bool = option(True, "export fused graphs (compress export --optimize)", group="candidates")
    vocabulary: bool = option(True, "also try each model with its vocabulary cut to the training text's pieces",
                              group="candidates")

    # How the students train.
    distill_epochs: float = option(2.0, "training passes for each student, at least (see --min-train-steps)",
                                   interval="(0, inf)", group="training")
    distill_learning_rate: float = option(1e-4, "peak learning rate for each student", interval="(0, inf)",
                                          group="training")
    augment: int = option(1, "teacher-labelled augmented copies of each training example for the students",
                          interval="[0, inf)", group="training")
    unlabelled: list[str] = option([], "files of text the students and recoveries train on as well, labelled by "
                                       "--model", group="training")
    min_train_steps: int = option(2000, "each student trains at least this many optimiser steps (batch 32): "
                                        "more epochs on small data", interval="[0, inf)", group="training")
    small_data: int = option(20000, "training sets with fewer rows than this are small: students get "
                                    "--small-data-augment copies instead of --augment", interval="[0, inf)",
                                    group="training")
    small_data_augment: int = option(3, "augmented copies per example for the students on small data",
                                     interval="[0, inf)", group="training")

    # How pruning cuts and recovers.
    prune_ratios: list[float] = option([0.25, 0.5], "shares of heads and FFN neurons pruned from the fastest "
                                                    "student within budget; 0 skips", interval="[0, 1)",
                                      group="pruning")
    prune_scope: str = option("layer", "heads ranked within each layer (the same share of each) or across "
                                       "layers",
                              choices=("layer", "global"), group="pruning")
    prune_steps: int = option(1, "pruning steps from one ratio to the next, each followed by recovery",
                              interval="[1, inf)", group="pruning")
    recovery_epochs: list[float] = option([1.0], "recovery passes after each pruning step on the input model's soft "
                                                 "targets; one value, or one per ratio mildest first",
                                          interval="[0, inf)", group="pruning")
    recovery_hidden_weight: list[float] = option([0.0], "weight of matching hidden states with the unpruned "
                                                        "student's during recovery; one value or one per ratio",
                                                 interval="[0, inf)", group="pruning")
    recovery_augment: list[int] = option([0], "teacher-labelled augmented copies per sentence during recovery; "
                                              "one value or one per ratio", interval="[0, inf)", group="pruning")

    # How long it works and measures.
    time_budget: float | None = option(None, "wall-clock minutes for the search, training included; measuring "
                                             "and the report always run", interval="[0, inf)", group="timing")
    threads: int | None = option(None, "intra-op threads for every measurement (default: the physical cores)",
                                 interval="[1, inf)", group="timing")
    latency_tie: float = option(0.03, "candidates within this fraction of the fastest one's latency count as "
                                      "equally fast, and the smallest file wins", interval="[0, inf)", group="timing")
    ort_spinning: bool = option(True, "serve ONNX candidates with ONNX Runtime's intra-op spinning on "
                                      "(compress bench --ort-spinning)", group="timing")
    screen_seconds: float = option(2.0, "latency budget per workload when screening one candidate",
                                   interval="(0, inf)", group="timing")
    final_seconds: float = option(5.0, "latency budget per workload and variant in the final side-by-side run",
                                  interval="(0, inf)", group="timing")
    final_min_runs: int = option(30, "timed passes per variant and fixed-shape workload in the final run, at least",
                                 interval="[1, inf)", group="timing")
    scorecard: bool = option(True, "final run: also score robustness to perturbed text (slower)", group="timing")
    # On BANKING77 the perturbed copies of all 3,080 test rows were three quarters of the final run's scoring
    # (12,320 of 16,400 rows per variant); a drop on 500 rows is a paired figure on the same rows, so it still
    # ranks variants' robustness, at a sixth of the cost.
    robustness_rows: int = option(500, "final run: test rows (a seeded sample) each perturbed copy scores",
                                  interval="[1, inf)", group="timing")
    memory: bool = option(True, "final run: also measure each variant's peak memory in a fresh process (slower)",
                          group="timing")
    peer: list[str] = option([], "final run: also time a peer tool's int8 of --model (optimum: its preset for this "
                                 "CPU)", choices=("optimum",), group="timing")
