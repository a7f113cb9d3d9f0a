"""Benchmark: the headline evaluation's bootstrap intervals, from one set of draws (draw counts:
one sort of the scores for every resample; BCa's jackknife from leave-one-out formulas up to
BCA_MAX_N images) against scipy per metric (resampling the images, one sort each; BCa's jackknife
as n evaluations of the statistic on n - 1 images, O(n^2)).

    python -m benchmarks.intervals [--scores RUN/scores.parquet] [--images 2000 10000] [--resamples 1000]

Without `--scores`, test sets of each `--images` size are drawn (seeded: half AI, p_ai piled up
at 0 and 1 with ties, as a trained CNN gives): 2,000 gets BCa, 10,000 the percentile interval.
Times `bootstrapped_cis` (what `metrics_with_ci` runs now) against `bootstrap_ci` per metric
(what it ran before), fastest of `--repeat`, both in the same process, and checks that both give
the same intervals. Not a test: run on demand, figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from experiments.stages.evaluation import BOOTSTRAPPED, bootstrapped_cis
from experiments.stats.statistics import BCA_MAX_N, bootstrap_ci


def test_set(images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(images) < 0.5
    logit = np.where(y, 2.0, -2.0) + rng.normal(0, 2.5, images)
    return y, np.round(1 / (1 + np.exp(-logit)), 6)


def fastest(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def compare(y: np.ndarray, score: np.ndarray, resamples: int, repeat: int) -> None:
    """Times both ways on one test set and prints them with their ratio and largest difference."""

    def old():
        data = (y.astype(float), score)
        return {k: bootstrap_ci(data, stat, resamples=resamples, seed=0) for k, stat in BOOTSTRAPPED.items()}

    new_s, new = fastest(lambda: bootstrapped_cis(y, score, resamples, 0), repeat)
    old_s, before = fastest(old, repeat)
    gap = max(abs(a - b) for k in before for a, b in zip(new[k][:2], before[k][:2]))
    methods = sorted({m for *_, m in new.values()})
    assert methods == sorted({m for *_, m in before.values()}), "the two ways chose different methods"
    how = f"{', '.join(methods)}; fastest of {repeat}"
    print(f"\n{len(y):,} images, {resamples} resamples, 6 bootstrapped metrics ({how})")
    print(f"scipy per metric (before):            {old_s:6.2f} s")
    print(f"one set of draws (now):               {new_s:6.2f} s   new/old {new_s / old_s:.3f} ({old_s / new_s:.1f}x)")
    print(f"largest difference of an interval end: {gap:.1e}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scores", help="a run's scores.parquet: its first model's unedited images")
    parser.add_argument("--images", type=int, nargs="+", default=[BCA_MAX_N, 10_000])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    if args.scores:
        scores = pd.read_parquet(args.scores).query("variant == 'identity'")
        scores = scores[scores["model"] == scores["model"].iloc[0]]
        compare(scores["truth"].to_numpy() == "ai", scores["p_ai"].to_numpy(float), args.resamples, args.repeat)
        return
    for images in args.images:
        compare(*test_set(images), args.resamples, args.repeat)


if __name__ == "__main__":
    main()
