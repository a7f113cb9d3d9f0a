"""Intervals, paired comparisons and verdicts: the statistics behind every number a run reports.

Pure functions; every table of a run (tables, evaluation, claims, the explanation summary) takes
its intervals from here, so one rule holds everywhere:

- a proportion (accuracy, precision, recall, fooling and correction rates, FPR, FNR) gets a
  Wilson score interval (statsmodels' `proportion_confint`), which keeps its width at 0 and 1,
  where a percentile bootstrap collapses to a point and reads as certainty;
- anything else (a mean, F1, ROC-AUC, average precision, a paired difference) gets a bootstrap:
  scipy's BCa (bias-corrected and accelerated) where it can be computed, the percentile interval
  of the same resamples where it cannot (constant data, or a statistic undefined on some
  resamples), and percentile above `BCA_MAX_N` items, where BCa's jackknife (n evaluations of the
  statistic) costs more than it corrects. Each row says which it got (`ci_method`);
- many means at once (one per variant of a robustness grid) come from `row_mean_cis`: BCa for
  all rows in one vectorised call up to ROWS_BCA_MAX_N images (the study's 11 artworks), a
  percentile bootstrap from one matrix product above that, so per-variant tables of a dataset
  run stay cheap;
- every row carries its `n`, and `exploratory` is true where n < MIN_N: an interval at that n is
  wide, and the row is a hint, not a finding;
- the metric of two *different* sets of images (unpaired) is compared by resampling each set on
  its own, within each class (so AUC stays defined), and taking the percentile interval of the
  differences; each resample's metric comes from how often each image was drawn (a weight matrix);
- two classifiers' accuracy on the same images is compared by the exact McNemar test
  (`mcnemar_exact`: a binomial test on the images only one of them gets right);
- a difference gets ONE verdict rule (`verdict`), read against the metric's direction (which way
  is better), declared once: in `METRICS`, which adds the run's own measures to xai's
  (xai.metric_info: direction, range, citation).

All intervals are 95 % and seeded: the same data and seed give the same interval.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from experiments.stats.metrics import STATS, WEIGHTED
from xai.metric_info import XAI_METRICS, Direction, MetricInfo

CONFIDENCE = 0.95
MIN_N = 30  # rows with fewer independent items are flagged exploratory
BCA_MAX_N = 2000  # above this, percentile: BCa's jackknife costs n evaluations of the statistic (O(n^2))
ROWS_BCA_MAX_N = 500  # per-variant tables: BCa for all rows at once up to this many images
_CELLS_PER_BATCH = 2_000_000  # resampled values held at once (memory bound of one bootstrap batch)

PERCENTILES = [2.5, 97.5]  # the percentile interval (95 %) of a bootstrap's draws
BLOCK = 200  # resamples per block of draw counts: bounds the (block, n) weight matrix
NAN3 = (float("nan"),) * 3

Verdict = Literal["better", "no_difference", "worse", "differs"]


# every reported measure: xai's (xai.metric_info, with ranges and citations) and the run's own
METRICS = XAI_METRICS | {m.name: m for m in (
    MetricInfo("abs_delta", "lower", "mean |Δ p_ai| (lower is steadier)", 0, 1),
    MetricInfo("correct", "higher", "accuracy (higher is better)", 0, 1),
    MetricInfo("fooling_rate", "lower", "share of images right unedited and wrong once edited", 0, 1),
    MetricInfo("p_ai_shift", "either", "mean change of p_ai (normalised minus as-is)", -1, 1),
    MetricInfo("accuracy_change", "either", "change of a class's accuracy (normalised minus as-is)", -1, 1),
)}  # fmt: skip


def exploratory(n) -> np.ndarray | bool:
    """True where fewer than MIN_N independent items stand behind a number."""
    flagged = np.asarray(n) < MIN_N
    return bool(flagged) if flagged.ndim == 0 else flagged


def wilson_ci(successes, n, confidence: float = CONFIDENCE) -> tuple:
    """Wilson score interval for successes out of n (arrays broadcast); NaN where n is 0.
    `successes` may be fractional: an image fooled in 2 of its 3 replicates counts 2/3."""
    successes, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    safe = np.where(n > 0, n, 1.0)
    successes = np.minimum(successes, safe)
    low, high = proportion_confint(successes, safe, alpha=1 - confidence, method="wilson")
    share = successes / safe  # rounding must not leave the point outside its interval (0/n, n/n)
    low, high = np.minimum(np.asarray(low, float), share), np.maximum(np.asarray(high, float), share)
    low, high = np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)
    return (float(low), float(high)) if low.ndim == 0 else (low, high)


def proportion(successes, n) -> dict[str, object]:
    """value, ci_low, ci_high (Wilson), n, ci_method and exploratory for one proportion."""
    low, high = wilson_ci(successes, n)
    value = float(successes) / n if n else float("nan")
    return {
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "n": int(n),
        "ci_method": "wilson",
        "exploratory": exploratory(n),
    }


def _percentile(distribution: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    tail = 100 * (1 - confidence) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, as they should
        low, high = np.nanpercentile(distribution, [tail, 100 - tail], axis=-1)
    return low, high


def bootstrap_ci(
    data: Sequence[np.ndarray],
    statistic: Callable[..., np.ndarray],
    *,
    resamples: int,
    seed: int,
    confidence: float = CONFIDENCE,
) -> tuple[np.ndarray | float, np.ndarray | float, np.ndarray | str]:
    """(ci_low, ci_high, method) of `statistic` over the items on the last axis of `data`.

    `data` is one or more arrays of the same length on their last axis, resampled together
    (paired: item i of each array belongs to the same image). Leading axes are batches: a
    (rows, n) array gets one interval per row from one call. `statistic(*arrays, axis=-1)`
    must be vectorised over leading axes. BCa where scipy can compute it, else the percentile
    interval of the same resamples; `method` says which ("bca", "percentile", or "none" with
    fewer than 2 items)."""
    arrays = [np.asarray(a, dtype=float) for a in data]
    n = arrays[0].shape[-1]
    batch_shape = np.broadcast_shapes(*(a.shape[:-1] for a in arrays))
    if n < 2:
        nan = np.full(batch_shape, np.nan)
        return (
            (float("nan"), float("nan"), "none") if not batch_shape else (nan, nan.copy(), np.full(batch_shape, "none"))
        )
    rows = int(np.prod(batch_shape)) if batch_shape else 1
    use_bca = n <= BCA_MAX_N
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.bootstrap(
            arrays,
            statistic,
            n_resamples=resamples,
            batch=max(1, min(resamples, _CELLS_PER_BATCH // (n * rows))),
            vectorized=True,
            paired=len(arrays) > 1,
            axis=-1,
            confidence_level=confidence,
            method="BCa" if use_bca else "percentile",
            rng=np.random.default_rng(seed),
        )
    low, high = np.asarray(result.confidence_interval.low), np.asarray(result.confidence_interval.high)
    p_low, p_high = _percentile(np.asarray(result.bootstrap_distribution), confidence)
    ok = np.isfinite(low) & np.isfinite(high)
    low, high = np.where(ok, low, p_low), np.where(ok, high, p_high)
    method = np.where(ok & use_bca, "bca", "percentile")
    if not batch_shape:
        return float(low), float(high), str(method)
    return low, high, method


def _mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def mean_ci(values, *, resamples: int, seed: int) -> dict[str, object]:
    """mean, ci_low, ci_high, n, ci_method, exploratory of the finite values."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    low, high, method = bootstrap_ci((values,), _mean, resamples=resamples, seed=seed)
    mean = float(values.mean()) if len(values) else float("nan")
    return {
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
        "n": len(values),
        "ci_method": method,
        "exploratory": exploratory(len(values)),
    }


def paired_difference_ci(a, b, *, resamples: int, seed: int) -> dict[str, object]:
    """Mean of a - b over items measured both ways (pairs with a NaN on either side are dropped),
    with its bootstrap interval: the comparison of two methods, or two models, on the same
    images."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = np.isfinite(a) & np.isfinite(b)
    found = mean_ci(a[both] - b[both], resamples=resamples, seed=seed)
    return {"difference": found.pop("mean")} | found


def mcnemar_exact(a_correct, b_correct) -> dict[str, object]:
    """Exact McNemar test of two classifiers' accuracy on the same items: of the discordant pairs
    (right by one, wrong by the other; `a_only` + `b_only`), how surprising a split this uneven is
    if each is equally likely (two-sided binomial test at 1/2; p = 1 without discordant pairs)."""
    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired results need the same items: {a.shape} and {b.shape}")
    a_only, b_only = int((a & ~b).sum()), int((~a & b).sum())
    discordant = a_only + b_only
    p = stats.binomtest(a_only, discordant, 0.5).pvalue if discordant else 1.0
    return {"n": int(a.size), "a_only": a_only, "b_only": b_only, "p_value": float(min(p, 1.0))}


def verdict(ci_low: float, ci_high: float, better: Direction) -> Verdict:
    """The one verdict rule for a difference (method - reference, after - before): `better` when
    its interval lies wholly on the `better` side of 0, `worse` when wholly on the other,
    `differs` when wholly on either side and the direction is `either`, `no_difference` when it
    holds 0 (or is undefined). Read `better` from METRICS[name].direction."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "no_difference"
    above, below = ci_low > 0, ci_high < 0
    if better == "either":
        return "differs" if above or below else "no_difference"
    if better == "lower":
        above, below = below, above
    return "better" if above else "worse" if below else "no_difference"


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each of n items appears in each row of indices idx (draws, n)."""
    draws = idx.shape[0]
    return np.bincount((idx + n * np.arange(draws)[:, None]).ravel(), minlength=draws * n).reshape(draws, n)


def draw_counts(n: int, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap draws: indices (draws, n) and how often each item was drawn (draws, n)."""
    idx = rng.integers(0, n, (draws, n))
    return idx, _counts(idx, n)


def count_blocks(n: int, resamples: int, seed: int, shared: dict | None = None) -> list[np.ndarray]:
    """The bootstrap's draw counts over n images, in blocks of BLOCK resamples. Every
    variant of a test set with the same n and seed draws the same counts, so `shared` (n -> blocks)
    lets one draw serve them all: the intervals are those each variant would get on its own."""
    if shared is not None and n in shared:
        return shared[n]
    rng = np.random.default_rng(seed)
    blocks = [
        draw_counts(n, min(BLOCK, resamples - start), rng)[1].astype(np.int32) for start in range(0, resamples, BLOCK)
    ]
    if shared is not None:
        shared[n] = blocks
    return blocks


def stratified_counts(strata: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """(draws, n): how often each item is drawn when each row resamples with replacement
    within each stratum (so each row keeps every stratum's size)."""
    strata = np.asarray(strata)
    picks = np.empty((draws, len(strata)), dtype=np.int64)
    for value in np.unique(strata):
        members = np.flatnonzero(strata == value)
        picks[:, members] = members[rng.integers(0, len(members), (draws, len(members)))]
    return _counts(picks, len(strata)).astype(float)


def percentile_interval(draws: np.ndarray) -> tuple[float, float]:
    """The PERCENTILES interval of the finite bootstrap draws; NaN when there are none."""
    finite = draws[np.isfinite(draws)]
    low, high = np.percentile(finite, PERCENTILES) if len(finite) else (np.nan, np.nan)
    return float(low), float(high)


def row_mean_cis(matrix, *, resamples: int, seed: int, confidence: float = CONFIDENCE) -> tuple[np.ndarray, ...]:
    """Means of each row of `matrix` (rows, items; NaN = missing) and their bootstrap intervals,
    all rows at once, resampling the same items for every row: (means, ci_low, ci_high, method).

    BCa (one vectorised scipy call) when no value is missing and there are at most
    ROWS_BCA_MAX_N items; otherwise a percentile bootstrap whose row means per resample come
    from one matrix product of the draw counts with the values (0.1 s for 100 rows x 2,000
    images x 1,000 resamples, where BCa's jackknife takes 3 s). NaN interval for rows with
    fewer than 2 values."""
    values = np.asarray(matrix, dtype=float)
    present = np.isfinite(values)
    filled = np.where(present, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = filled.sum(axis=1) / present.sum(axis=1)
    few = present.sum(axis=1) < 2
    if present.all() and 2 <= values.shape[1] <= ROWS_BCA_MAX_N:
        low, high, method = bootstrap_ci((values,), _mean, resamples=resamples, seed=seed, confidence=confidence)
        return means, low, high, method
    rng = np.random.default_rng(seed)
    totals, weights = [], []
    block = max(1, min(resamples, _CELLS_PER_BATCH // max(1, values.shape[1])))
    for start in range(0, resamples, block):
        _, counts = draw_counts(values.shape[1], min(block, resamples - start), rng)
        totals.append(counts @ filled.T)  # (draws, rows)
        weights.append(counts @ present.T.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (np.concatenate(totals) / np.concatenate(weights)).T  # (rows, draws)
    low, high = _percentile(boot, confidence)
    method = np.where(few, "none", "percentile")
    return means, np.where(few, np.nan, low), np.where(few, np.nan, high), method


def metric(name: str, y: np.ndarray, score: np.ndarray) -> float:
    """The metric on the set itself (AI positive); AUC and AP are NaN unless both classes are present."""
    y = np.asarray(y, dtype=bool)
    if name != "accuracy" and not 0 < y.sum() < len(y):
        return float("nan")
    return float(STATS[name](y.astype(float), np.asarray(score, dtype=float)))


def metric_with_ci(name: str, y: np.ndarray, score: np.ndarray, resamples: int, seed: int) -> tuple[float, ...]:
    """A metric (accuracy, roc_auc, average_precision) and its bootstrap interval over images."""
    point = metric(name, y, score)
    if not np.isfinite(point):
        return NAN3
    arrays = (np.asarray(y, dtype=float), np.asarray(score, dtype=float))
    low, high, _ = bootstrap_ci(arrays, STATS[name], resamples=resamples, seed=seed)
    return point, low, high


def paired_difference(name: str, y: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int, seed: int) -> tuple:
    """metric(a) - metric(b) for two scorings of the same images, with a bootstrap interval that
    resamples the images once for both."""
    point = metric(name, y, a) - metric(name, y, b)
    if not np.isfinite(point):
        return NAN3
    stat = STATS[name]

    def difference(y, a, b, axis=-1):
        return stat(y, a) - stat(y, b)

    arrays = tuple(np.asarray(v, dtype=float) for v in (y, a, b))
    low, high, _ = bootstrap_ci(arrays, difference, resamples=resamples, seed=seed)
    return point, low, high


def _stratified_draws(name: str, y: np.ndarray, score: np.ndarray, resamples: int, rng: np.random.Generator):
    fn, out = WEIGHTED[name], []
    for start in range(0, resamples, BLOCK):
        out.append(fn(y, score, stratified_counts(y, min(BLOCK, resamples - start), rng)))
    return np.concatenate(out)


def unpaired_difference(
    name: str, ya: np.ndarray, a: np.ndarray, yb: np.ndarray, b: np.ndarray, resamples: int, seed: int
) -> tuple[float, ...]:
    """metric(a) - metric(b) for two different sets of images, from independent class-stratified draws."""
    ya, yb = np.asarray(ya, dtype=bool), np.asarray(yb, dtype=bool)
    point = metric(name, ya, a) - metric(name, yb, b)
    if not np.isfinite(point):
        return NAN3
    rng = np.random.default_rng(seed)
    draws_a = _stratified_draws(name, ya, np.asarray(a, float), resamples, rng)
    diffs = draws_a - _stratified_draws(name, yb, np.asarray(b, float), resamples, rng)
    return (point, *percentile_interval(diffs))
