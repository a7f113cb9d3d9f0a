"""The smallest n at which an observed difference would be shown on its better side: how far an
inconclusive verdict is from a pass (docs/explanation-checks.md#verdicts).

Both keep what was observed and let only n grow:

- `n_to_pass` (a bootstrap interval of a mean difference): the difference d and the interval's
  half-width on the side of 0, w (d - ci_low when higher is better, ci_high - d when lower is),
  which shrinks as 1/sqrt(n); the interval leaves 0 once w * sqrt(n / n') < |d|, so n' is the
  smallest whole number above n * (w / |d|)^2;
- `wilson_n_to_pass` (a Wilson interval of a share against a reference share): the observed share
  p kept, the smallest n' whose Wilson interval at p (p * n' successes) lies wholly on the better
  side of the reference.

Either is NaN, "not reachable", when the observed difference is 0 or on the worse side: no n shows
a pass there. For a pass the answer is at most the n it was shown at. Pure functions, no state.
"""

from __future__ import annotations

import numpy as np

from experiments.stats.statistics import wilson_ci
from xai.metric_info import Direction

MAX_N = 10**7  # the search's ceiling: a pass further off than this reads "not reachable"


def n_to_pass(difference: float, ci_low: float, ci_high: float, n: int, better: Direction) -> float:
    """The smallest n at which `difference`, with its interval's spread shrinking as 1/sqrt(n),
    would lie wholly on the `better` side of 0; NaN where not reachable or not measured."""
    if better not in ("higher", "lower") or not n or not np.all(np.isfinite([difference, ci_low, ci_high])):
        return float("nan")
    sign = 1.0 if better == "higher" else -1.0
    effect, spread = sign * difference, (difference - ci_low) if better == "higher" else (ci_high - difference)
    if effect <= 0:
        return float("nan")
    needed = n * (max(spread, 0.0) / effect) ** 2
    found = float(np.floor(needed) + 1)
    return found if found <= MAX_N else float("nan")


def wilson_n_to_pass(share: float, reference: float, n: int, better: Direction) -> float:
    """The smallest n at which the observed `share`'s Wilson interval would lie wholly on the
    `better` side of `reference`; NaN where not reachable or not measured."""
    if better not in ("higher", "lower") or not n or not np.all(np.isfinite([share, reference])):
        return float("nan")
    if (share - reference) * (1 if better == "higher" else -1) <= 0:
        return float("nan")

    def passes(m: int) -> bool:
        low, high = wilson_ci(share * m, m)
        return low > reference if better == "higher" else high < reference

    if not passes(MAX_N):
        return float("nan")
    low, high = 0, MAX_N  # passes(high) holds; the bound of a fixed share narrows as n grows
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if passes(middle) else (middle, high)
    return float(high)
