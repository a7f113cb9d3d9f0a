"""The study's hand-written comparison of its two models, tested against a run's scores.

The study compared model 1 (32 px) and model 2 (128 px) by eye on 11 artworks. Each claim below
names the images it is about (edits of the grid, and the study's own hand edits when the run
scores them), what is measured (|delta p_ai|: lower is steadier; or correctness: higher is
better) and which model the claim favours. The measured difference between the models is
averaged per sample, and a bootstrap over samples (BCa, experiments.stats.statistics) gives its 95 %
interval: the claim is *supported* when the interval lies wholly on the claimed side,
*contradicted* when wholly on the other, *inconclusive* otherwise, with fewer than 5 samples,
when one model did not run, or when one of the two models' training did not beat chance (its
model card's training warning, experiments.models.training.chance_guard: a model at chance says
nothing about noise or colour; the measured difference is kept, the reason is in `why`). Rows
carry `exploratory` (fewer than 30 samples).

Which model each claim favours is transcribed from the study's comparison, which is published as
a picture; `FAVOURS` below is that reading, stated so it can be checked and corrected.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiments.stats.statistics import METRICS, MIN_N, paired_difference_ci, verdict


def _param(df: pd.DataFrame, name: str) -> pd.Series:
    return df["params"].map(lambda p: json.loads(p).get(name) if isinstance(p, str) and p else None)


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    favours: str  # "small" (the 32 px model) or "large" (the 128 px model)
    measure: str  # "abs_delta" or "correct": a name in statistics.METRICS, which says which way is better
    select: Callable[[pd.DataFrame], pd.Series]  # rows of the scores table the claim is about

    def description(self) -> str:
        return METRICS[self.measure].description


def _ops(*ops: str, edits: tuple[str, ...] = ()) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda df: df["op"].isin(ops) | (df["edit"].isin(edits) & (df["variant"] == "identity"))


CLAIMS = [
    Claim(
        "noise",
        "The 32 px model is less sensitive to noise.",
        "small",
        "abs_delta",
        _ops("gaussian_noise", edits=("noise",)),
    ),
    Claim(
        "dark",
        "The 32 px model is better on darker images.",
        "small",
        "correct",
        lambda df: (
            ((df["op"] == "brightness_contrast") & (_param(df, "brightness").fillna(0) < 0))
            | ((df["op"] == "gamma") & (_param(df, "gamma").fillna(1) > 1))
        ),
    ),  # fmt: skip
    Claim(
        "watermark",
        "The 128 px model is fooled by unusually coloured watermarks.",
        "small",
        "abs_delta",
        _ops("occlusion", "text_watermark", edits=("watermark",)),
    ),  # fmt: skip
    Claim(
        "few_colours",
        "The 32 px model is better on images with few colours.",
        "small",
        "correct",
        lambda df: (df["op"] == "saturation") & (_param(df, "factor").fillna(1) <= 0.5),
    ),  # fmt: skip
    Claim(
        "colour",
        "The 128 px model is tricked by colour manipulation.",
        "small",
        "abs_delta",
        lambda df: (
            (df["op"] == "hue_shift")
            | ((df["op"] == "saturation") & (_param(df, "factor").fillna(1) > 1))
            | (df["edit"].isin(["colour"]) & (df["variant"] == "identity"))
        ),
    ),  # fmt: skip
]


def _paired(scores: pd.DataFrame, claim: Claim, small: str, large: str) -> pd.Series:
    """Per sample: mean over the claim's images of (small model's measure - large model's)."""
    rows = scores[claim.select(scores) & scores["model"].isin([small, large])]
    value = rows["delta_p_ai"].abs() if claim.measure == "abs_delta" else rows["correct"].astype(float)
    wide = rows.assign(value=value).pivot_table(index=["sample", "variant"], columns="model", values="value").dropna()
    if wide.empty or small not in wide or large not in wide:
        return pd.Series(dtype=float)
    return (wide[small] - wide[large]).groupby(level="sample").mean()


def at_chance(small: str, large: str, warnings: dict[str, str] | None) -> str:
    """Why a claim about these two models is inconclusive because of their training; empty when
    neither model's card carries a training warning."""
    warned = [m for m in (small, large) if (warnings or {}).get(m)]
    return "; ".join(f"{m}'s training did not beat chance ({warnings[m]})" for m in warned)


def verdicts(
    scores: pd.DataFrame,
    models: dict[str, int],
    resamples: int = 1000,
    seed: int = 0,
    min_samples: int = 5,
    warnings: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per claim: the evidence (per-model means, the difference and its interval, n) and
    a verdict. `models` maps model name -> input size; the smallest and largest are compared.
    `warnings`: a model's training warning (its card's), which makes its claims inconclusive."""
    rows = []
    ordered = sorted(models, key=models.get)
    for claim in CLAIMS:
        row = {"claim": claim.id, "text": claim.text, "measure": claim.description(), "n_samples": 0}
        if len(ordered) < 2:
            rows.append(
                row
                | {
                    "verdict": "inconclusive",
                    "why": f"needs two models of different input size; this run had {', '.join(ordered) or 'none'}",
                }
            )
            continue
        small, large = ordered[0], ordered[-1]
        row |= claim_evidence(scores, claim, small, large, resamples, seed, min_samples)
        if reason := at_chance(small, large, warnings):
            row |= {"verdict": "inconclusive", "why": f"{reason}; measured: {row['why']}"}
        rows.append(row)
    return pd.DataFrame(rows)


def claim_evidence(
    scores: pd.DataFrame, claim: Claim, small: str, large: str, resamples: int, seed: int, min_samples: int
) -> dict[str, object]:
    """One claim's evidence for two models, and its verdict from the interval of their paired difference."""
    diff = _paired(scores, claim, small, large)
    selected = scores[claim.select(scores)]
    measure = selected["delta_p_ai"].abs() if claim.measure == "abs_delta" else selected["correct"].astype(float)
    means = measure.groupby(selected["model"]).mean()
    row = {
        "small_model": small, "large_model": large, "small_mean": means.get(small, np.nan),
        "large_mean": means.get(large, np.nan), "n_samples": len(diff), "exploratory": len(diff) < MIN_N,
    }  # fmt: skip
    if len(diff) < min_samples:
        why = f"{len(diff)} samples with both models on these images (need {min_samples})"
        return row | {"verdict": "inconclusive", "why": why}
    found = paired_difference_ci(diff.to_numpy(), np.zeros(len(diff)), resamples=resamples, seed=seed)
    low, high = found["ci_low"], found["ci_high"]
    small_is = verdict(low, high, METRICS[claim.measure].direction)  # small - large: is the small model better?
    swapped = {"better": "worse", "worse": "better"}
    favoured_is = small_is if claim.favours == "small" else swapped.get(small_is, small_is)
    found_verdict = {"better": "supported", "worse": "contradicted"}.get(favoured_is, "inconclusive")
    why = f"{small} - {large} = {diff.mean():+.3f}, 95% CI [{low:+.3f}, {high:+.3f}] over {len(diff)} samples"
    interval = {"ci_low": float(low), "ci_high": float(high), "ci_method": found["ci_method"]}
    return row | {"difference": float(diff.mean())} | interval | {"verdict": found_verdict, "why": why}
