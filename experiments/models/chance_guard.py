"""The chance guard of a model artxai trains (a CNN: experiments.models.training; a probe:
experiments.models.probe): is the accuracy it reached, with its Wilson interval, above always
predicting the majority class? No TensorFlow here."""

from __future__ import annotations

import pandas as pd

from experiments.stats.statistics import wilson_ci


def chance_guard(accuracy: float, labels: pd.Series, what: str = "best validation accuracy", key: str = "val") -> dict:
    """The accuracy's Wilson interval on `labels` against always predicting the majority class:
    `warning` is set when the interval reaches down to that rate (the model has not shown it
    learnt anything usable on this many images), else it is an empty string. `what` names the
    accuracy in the warning, `key` its fields (`val_n`, `val_accuracy_ci`, ...)."""
    n = len(labels)
    majority = float(labels.value_counts(normalize=True).max()) if n else float("nan")
    low, high = wilson_ci(round(accuracy * n), n)
    guard = {
        f"{key}_n": n,
        f"{key}_accuracy_ci": [round(low, 4), round(high, 4)],
        f"majority_class_{key}_accuracy": round(majority, 4),
    }
    if n and low > majority:
        return guard | {"warning": ""}
    warning = (
        f"{what} {accuracy:.3f} [{low:.3f}, {high:.3f}] on {n} images does not exceed "
        f"always predicting the majority class ({majority:.3f}): the model has not learnt the task; "
        "check the data, labels and training settings"
    )
    return guard | {"warning": warning}
