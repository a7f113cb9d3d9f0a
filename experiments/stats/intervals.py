"""The intervals of the audit and cross-set tables, from experiments.statistics (95 %, seeded):
Wilson for proportions; scipy's bootstrap (BCa where it can be computed, else percentile) for
ROC-AUC, average precision and paired differences, resampling images with their labels.

One case statistics has no helper for: the difference of a metric between two *different* sets
of images (unpaired). There each set is resampled on its own, within each class (so AUC stays
defined), and the interval is the percentile interval of the differences. The metric of every
resample comes from how often each image was drawn (a weight matrix), a block of resamples at
a time.
"""

from __future__ import annotations

import numpy as np

from experiments.stages.evaluation import auc_stat, average_precision_stat, weighted_auc
from experiments.stats.statistics import bootstrap_ci, wilson_ci

NAN3 = (float("nan"),) * 3
BLOCK = 200  # resamples per block: bounds the (block, n) weight matrix


def wilson(count: int, n: int) -> tuple[float, float, float]:
    """A proportion and its 95 % Wilson score interval; NaN when n is 0."""
    if n == 0:
        return NAN3
    low, high = wilson_ci(count, n)
    return count / n, low, high


def accuracy_stat(y, score, axis=-1):
    return ((score >= 0.5) == (y > 0.5)).mean(axis=-1)


STATS = {"accuracy": accuracy_stat, "roc_auc": auc_stat, "average_precision": average_precision_stat}


def metric(name: str, y: np.ndarray, score: np.ndarray) -> float:
    """The metric on the set itself (AI positive); AUC and AP are NaN unless both classes are present."""
    y = np.asarray(y, dtype=bool)
    if name != "accuracy" and not 0 < y.sum() < len(y):
        return float("nan")
    return float(STATS[name](y.astype(float), np.asarray(score, dtype=float)))


def metric_with_ci(name: str, y: np.ndarray, score: np.ndarray, resamples: int, seed: int) -> tuple[float, float, float]:
    """A metric (accuracy, roc_auc, average_precision) and its bootstrap interval over images."""
    point = metric(name, y, score)
    if not np.isfinite(point):
        return NAN3
    low, high, _ = bootstrap_ci((np.asarray(y, dtype=float), np.asarray(score, dtype=float)), STATS[name], resamples=resamples, seed=seed)
    return point, low, high


def paired_difference(name: str, y: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int, seed: int) -> tuple[float, float, float]:
    """metric(a) - metric(b) for two scorings of the same images, with a bootstrap interval that
    resamples the images once for both."""
    point = metric(name, y, a) - metric(name, y, b)
    if not np.isfinite(point):
        return NAN3
    stat = STATS[name]

    def difference(y, a, b, axis=-1):
        return stat(y, a) - stat(y, b)

    low, high, _ = bootstrap_ci(tuple(np.asarray(v, dtype=float) for v in (y, a, b)), difference, resamples=resamples, seed=seed)
    return point, low, high


# --- two different sets: independent, class-stratified percentile bootstraps ------------------


def stratified_weights(strata: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, n): how often each item is drawn when each row resamples with replacement
    within each stratum (so each row keeps every stratum's size)."""
    strata = np.asarray(strata)
    n = len(strata)
    picks = np.empty((draws, n), dtype=np.int64)
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        picks[:, members] = members[rng.integers(0, len(members), (draws, len(members)))]
    flat = (picks + n * np.arange(draws)[:, None]).ravel()
    return np.bincount(flat, minlength=draws * n).reshape(draws, n).astype(float)


def weighted_accuracy(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return weights @ ((score >= 0.5) == y).astype(float) / weights.sum(axis=1)


def weighted_average_precision(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Average precision (scikit-learn's definition) for each row of weights, ties kept together."""
    order = np.argsort(-score, kind="stable")
    _, starts = np.unique(-score[order], return_index=True)
    w, positive = weights[:, order], y[order]
    tp = np.cumsum(np.add.reduceat(w * positive, starts, axis=1), axis=1)
    fp = np.cumsum(np.add.reduceat(w * ~positive, starts, axis=1), axis=1)
    gained = np.diff(tp, axis=1, prepend=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(gained > 0, tp / (tp + fp), 0.0)  # no recall gained: no term
        return (gained * precision).sum(axis=1) / tp[:, -1]


WEIGHTED = {"accuracy": weighted_accuracy, "roc_auc": weighted_auc, "average_precision": weighted_average_precision}


def _draws(name: str, y: np.ndarray, score: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    fn, out = WEIGHTED[name], []
    for start in range(0, resamples, BLOCK):
        out.append(fn(y, score, stratified_weights(y, min(BLOCK, resamples - start), rng)))
    return np.concatenate(out)


def unpaired_difference(name: str, ya: np.ndarray, a: np.ndarray, yb: np.ndarray, b: np.ndarray, resamples: int, seed: int) -> tuple[float, float, float]:
    """metric(a) - metric(b) for two different sets of images, from independent draws."""
    ya, yb = np.asarray(ya, dtype=bool), np.asarray(yb, dtype=bool)
    point = metric(name, ya, a) - metric(name, yb, b)
    if not np.isfinite(point):
        return NAN3
    rng = np.random.default_rng(seed)
    diffs = _draws(name, ya, np.asarray(a, float), resamples, rng) - _draws(name, yb, np.asarray(b, float), resamples, rng)
    finite = diffs[np.isfinite(diffs)]
    low, high = np.percentile(finite, [2.5, 97.5]) if len(finite) else (np.nan, np.nan)
    return point, float(low), float(high)
