"""95 % intervals for the audit and cross-set tables: Wilson for proportions (statsmodels),
percentile bootstraps for everything else, seeded so the same inputs give the same interval.

Bootstraps of classification metrics draw images with replacement *within each class*
(stratified), so every resample keeps the set's class counts and AUC / AP are always defined.
Each metric is computed for a block of resamples at once from how often each image was drawn
(`weights`, one row per resample), so a thousand resamples of thousands of images take
milliseconds.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import bootstrap
from statsmodels.stats.proportion import proportion_confint

from experiments.evaluation import weighted_auc

NAN3 = (float("nan"),) * 3
BLOCK = 200  # resamples per block: bounds the (block, n) weight matrix


def wilson(count: int, n: int) -> tuple[float, float, float]:
    """A proportion and its 95 % Wilson score interval; NaN when n is 0."""
    if n == 0:
        return NAN3
    low, high = proportion_confint(count, n, alpha=0.05, method="wilson")
    p = count / n
    return p, min(float(low), p), max(float(high), p)  # at 0 or n, rounding can leave the point out


def mean_with_ci(values: np.ndarray, resamples: int, seed: int) -> tuple[float, float, float]:
    """A mean and its 95 % percentile-bootstrap interval (scipy); NaN below two values."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return (float(values.mean()) if len(values) else float("nan"), float("nan"), float("nan"))
    if np.ptp(values) == 0:  # every value the same: every resample has the same mean
        return float(values[0]), float(values[0]), float(values[0])
    ci = bootstrap((values,), np.mean, n_resamples=resamples, method="percentile", rng=np.random.default_rng(seed)).confidence_interval
    return float(values.mean()), float(ci.low), float(ci.high)


def percentile_ci(draws: np.ndarray) -> tuple[float, float]:
    finite = np.asarray(draws, dtype=float)
    finite = finite[np.isfinite(finite)]
    if not len(finite):
        return float("nan"), float("nan")
    low, high = np.percentile(finite, [2.5, 97.5])
    return float(low), float(high)


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
    """Average precision (sklearn's definition: precision at each distinct score, weighted by
    the recall gained there) for each row of weights, with tied scores kept together."""
    order = np.argsort(-score, kind="stable")
    _, starts = np.unique(-score[order], return_index=True)
    w, positive = weights[:, order], y[order]
    tp = np.cumsum(np.add.reduceat(w * positive, starts, axis=1), axis=1)
    fp = np.cumsum(np.add.reduceat(w * ~positive, starts, axis=1), axis=1)
    gained = np.diff(tp, axis=1, prepend=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(gained > 0, tp / (tp + fp), 0.0)  # no recall gained: no term
        return (gained * precision).sum(axis=1) / tp[:, -1]


def _rounded(fn):
    """Rounded to 12 decimals: the same value summed in another order (the point estimate and a
    resample that draws every image once) must compare equal."""
    return lambda y, score, weights: np.round(fn(y, score, weights), 12)


METRICS = {name: _rounded(fn) for name, fn in {"accuracy": weighted_accuracy, "roc_auc": weighted_auc, "average_precision": weighted_average_precision}.items()}


def metric(name: str, y: np.ndarray, score: np.ndarray) -> float:
    """The metric on the set itself; AUC and AP are NaN unless both classes are present."""
    if name != "accuracy" and not 0 < y.sum() < len(y):
        return float("nan")
    return float(METRICS[name](y, score, np.ones((1, len(y))))[0])


def metric_draws(name: str, y: np.ndarray, score: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    fn, out = METRICS[name], []
    for start in range(0, resamples, BLOCK):
        out.append(fn(y, score, stratified_weights(y, min(BLOCK, resamples - start), rng)))
    return np.concatenate(out)


def metric_with_ci(name: str, y: np.ndarray, score: np.ndarray, resamples: int, seed: int) -> tuple[float, float, float]:
    """A metric (accuracy, roc_auc, average_precision; AI positive) and its 95 % stratified
    percentile-bootstrap interval."""
    point = metric(name, y, score)
    if not np.isfinite(point):
        return NAN3
    return (point, *percentile_ci(metric_draws(name, y, score, resamples, np.random.default_rng(seed))))


def paired_difference(name: str, y: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int, seed: int) -> tuple[float, float, float]:
    """metric(a) - metric(b) for two scorings of the same images, with an interval from the
    same bootstrap draws of images for both."""
    point = metric(name, y, a) - metric(name, y, b)
    if not np.isfinite(point):
        return NAN3
    rng, fn, diffs = np.random.default_rng(seed), METRICS[name], []
    for start in range(0, resamples, BLOCK):
        w = stratified_weights(y, min(BLOCK, resamples - start), rng)
        diffs.append(fn(y, a, w) - fn(y, b, w))
    return (point, *percentile_ci(np.concatenate(diffs)))


def unpaired_difference(name: str, ya: np.ndarray, a: np.ndarray, yb: np.ndarray, b: np.ndarray, resamples: int, seed: int) -> tuple[float, float, float]:
    """metric(a) - metric(b) for two different sets of images, from independent draws."""
    point = metric(name, ya, a) - metric(name, yb, b)
    if not np.isfinite(point):
        return NAN3
    rng = np.random.default_rng(seed)
    diffs = metric_draws(name, ya, a, resamples, rng) - metric_draws(name, yb, b, resamples, rng)
    return (point, *percentile_ci(diffs))
