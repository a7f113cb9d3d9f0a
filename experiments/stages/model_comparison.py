"""Every pair of a run's models, paired on the same images: table `model_comparison`
([Small-data training](small-data-training.md#the-training-comparison-in-a-run)).

Per pair (model_a, model_b), on the unedited images both scored (variant `identity`): each
model's accuracy with its 95 % Wilson interval and the n behind it, the discordant counts
(`a_only`: right by a and wrong by b; `b_only` the other way) and the exact McNemar p-value
(experiments.stats.statistics.mcnemar_exact). Written when the config asks (`model_comparison: true`) and two models or
more scored the same images. benchmarks/art_training.py builds the same table from its own models.
"""

from __future__ import annotations

import logging
from itertools import combinations

import numpy as np
import pandas as pd

from augment import IDENTITY
from experiments.context import RunContext
from experiments.stats.statistics import exploratory, mcnemar_exact, proportion

log = logging.getLogger("artxai")

COLUMNS = [
    "model_a", "model_b", "n", "accuracy_a", "accuracy_a_ci_low", "accuracy_a_ci_high", "accuracy_b",
    "accuracy_b_ci_low", "accuracy_b_ci_high", "a_only", "b_only", "mcnemar_p", "exploratory",
]  # fmt: skip


def correct_by_model(scores: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per model, which unedited images it got right, on the images every model scored (in one
    order, so the arrays are paired)."""
    base = scores[scores["variant"] == IDENTITY]
    wide = base.pivot_table(index="sample", columns="model", values="correct", aggfunc="first", sort=True).dropna()
    models = list(dict.fromkeys(base["model"]))  # the run's order
    return {m: wide[m].astype(bool).to_numpy() for m in models if m in wide}


def pair_row(a: str, right_a: np.ndarray, b: str, right_b: np.ndarray) -> dict[str, object]:
    """One pair's accuracies (Wilson intervals), discordant counts and exact McNemar p."""
    acc_a, acc_b = proportion(int(right_a.sum()), len(right_a)), proportion(int(right_b.sum()), len(right_b))
    test = mcnemar_exact(right_a, right_b)
    return {
        "model_a": a, "model_b": b, "n": test["n"],
        "accuracy_a": acc_a["value"], "accuracy_a_ci_low": acc_a["ci_low"], "accuracy_a_ci_high": acc_a["ci_high"],
        "accuracy_b": acc_b["value"], "accuracy_b_ci_low": acc_b["ci_low"], "accuracy_b_ci_high": acc_b["ci_high"],
        "a_only": test["a_only"], "b_only": test["b_only"], "mcnemar_p": test["p_value"],
        "exploratory": bool(exploratory(test["n"])),
    }  # fmt: skip


def comparison_table(correct: dict[str, np.ndarray]) -> pd.DataFrame:
    """Every pair of models, in the given order."""
    rows = [pair_row(a, correct[a], b, correct[b]) for a, b in combinations(correct, 2)]
    return pd.DataFrame(rows, columns=COLUMNS)


def run(ctx: RunContext) -> dict[str, pd.DataFrame]:
    """Table `model_comparison` (`model_comparison: true`), when two models or more scored the same images."""
    if not ctx.cfg.model_comparison:
        return {}
    correct = correct_by_model(ctx.tables["scores"])
    if len(correct) < 2:
        log.info("model comparison: needs two models on the same images; this run has %d", len(correct))
        return {}
    return {"model_comparison": comparison_table(correct)}
