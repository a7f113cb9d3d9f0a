"""Bootstrap intervals of several statistics of the same n paired items from one set of draws,
each statistic a function of the draws: of a (draws, n) matrix of how often each item was drawn
(experiments.stats.metrics' weighted metrics: one sort of the data serves every resample), or of
the (draws, n) indices drawn (the statistic on the resampled items, as scipy computes it).

The draws are scipy's own (`stats.bootstrap` with the same generator and batches, as
statistics.bootstrap_ci runs it), and so are the intervals made from them:

- above BCA_MAX_N items, scipy's percentile interval;
- up to BCA_MAX_N items, scipy's BCa interval, its acceleration from leave-one-out values the
  caller computes in O(n) or O(n log n) (experiments.stats.metrics' `loo_*`), where scipy
  evaluates the statistic n times on n - 1 items (O(n^2): 2 s for six statistics at 2,000 items);
  the percentile interval of the same draws where BCa cannot be computed, as bootstrap_ci does.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
from scipy import stats
from scipy.special import ndtr, ndtri

from experiments.stats.statistics import _CELLS_PER_BATCH, BCA_MAX_N, CONFIDENCE, _counts, _mean, _percentile

NONE3 = (float("nan"), float("nan"), "none")


def bca_interval(theta_hat: float, theta_b: np.ndarray, jackknife: np.ndarray, confidence: float) -> tuple:
    """scipy's BCa interval (scipy.stats._resampling._bca_interval, then stats.quantile) of the
    bootstrap draws theta_b of a statistic worth theta_hat on the data, given its n jackknife
    (leave-one-out) values instead of computing them: (low, high), NaN where BCa is undefined."""
    theta_hat_b = np.asarray(theta_b, dtype=float)
    below = np.count_nonzero(theta_hat_b < theta_hat) + np.count_nonzero(theta_hat_b <= theta_hat)
    z0_hat = ndtri(below / (2 * theta_hat_b.shape[-1]))
    n = float(len(jackknife))
    u = (n - 1) * (np.mean(jackknife, keepdims=True) - jackknife)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        a_hat = 1 / 6 * (np.sum(u**3) / n**3) / (np.sum(u**2) / n**2) ** (3 / 2)
        z_alpha = float(ndtri((1 - confidence) / 2))
        num1, num2 = z0_hat + z_alpha, z0_hat - z_alpha
        alphas = np.array([ndtr(z0_hat + num1 / (1 - a_hat * num1)), ndtr(z0_hat + num2 / (1 - a_hat * num2))])
    if not np.isfinite(alphas).all():
        return float("nan"), float("nan")
    low, high = stats.quantile(theta_hat_b, alphas, axis=-1)
    return float(low), float(high)


def _scipy_percentile(n: int, theta_b: np.ndarray, confidence: float) -> tuple[float, float]:
    distribution = SimpleNamespace(bootstrap_distribution=theta_b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (np.arange(n, dtype=float),), _mean, n_resamples=0, bootstrap_result=distribution, vectorized=True,
            confidence_level=confidence, method="percentile",
        )  # fmt: skip
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def draws_ci(
    n: int,
    statistics: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]],
    *,
    resamples: int,
    seed: int,
    exact: dict[str, tuple[float, np.ndarray]] | None = None,
    confidence: float = CONFIDENCE,
) -> dict[str, tuple[float, float, str]]:
    """bootstrap_ci's interval of paired data of n items for several statistics at once, from
    the same draws, each `statistic(counts, indices)`: name -> (ci_low, ci_high, method). Up to
    BCA_MAX_N items BCa, for which `exact` gives each statistic's value on the data and its n
    leave-one-out values; above it, the percentile interval (`exact` is not needed)."""
    if n < 2:
        return dict.fromkeys(statistics, NONE3)
    use_bca = n <= BCA_MAX_N
    if use_bca and (exact is None or set(statistics) - set(exact)):
        raise ValueError(f"{n} items: BCa needs each statistic's value and leave-one-out values")
    rng, batch = np.random.default_rng(seed), max(1, min(resamples, _CELLS_PER_BATCH // n))
    draws: dict[str, list[np.ndarray]] = {name: [] for name in statistics}
    for start in range(0, resamples, batch):
        indices = rng.integers(0, n, (min(batch, resamples - start), n))
        counts = _counts(indices, n).astype(float)
        for name, statistic in statistics.items():
            draws[name].append(statistic(counts, indices))
    out = {}
    for name, found in draws.items():
        theta_b = np.concatenate(found)
        if use_bca:
            low, high = bca_interval(exact[name][0], theta_b, exact[name][1], confidence)
        else:
            low, high = _scipy_percentile(n, theta_b, confidence)
        method = "bca" if use_bca else "percentile"
        if not (np.isfinite(low) and np.isfinite(high)):
            low, high = map(float, _percentile(theta_b, confidence))
            method = "percentile"
        out[name] = (low, high, method)
    return out
