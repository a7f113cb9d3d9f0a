"""The corruption score: one robustness number per model over every edit of the grid, in the
spirit of ImageNet-C (Hendrycks & Dietterich, 2019), with intervals; and, per op family, average
precision and ROC-AUC against severity (CNNDetection's view, Wang et al., 2020).

Tables (docs/corruption-score.md):
- `corruption_score`: per model, the mean fooling rate (the share of the images right unedited
  whose decision an edit flips) and the mean error (the share wrong once edited), each a mean
  over ops of the mean over the op's severities; and, with `corruption.reference` naming a
  model, the same relative to it: the mean over ops of (the model's rates summed over the op's
  severities) / (the reference's), ImageNet-C's normalised corruption error (1 = as robust as
  the reference, below 1 more). Intervals: percentile bootstrap over images, paired (every
  model, every edit and the reference read the same draws), each image drawn with all its edits
  and replicates.
- `corruption_curves`: per model x op x severity (and the unedited images, level 0), average
  precision and ROC-AUC of p_ai with percentile bootstrap intervals over images.

An op's family comes from a mapping op -> family passed in as data (`families`): the run's is
OP_FAMILIES, from augment's OP_INFO; an op it does not name (combined, chain, preset) is its own.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from augment import IDENTITY, OP_INFO, base_variant_id
from experiments.context import RunContext
from experiments.stages.scoring.tables import per_image
from experiments.stats.metrics import weighted_auc, weighted_average_precision
from experiments.stats.statistics import count_blocks, exploratory, percentile_interval

log = logging.getLogger("artxai")

# each single op's family from its metadata (augment.OP_INFO); step lists, chains and presets are their own
OP_FAMILIES: dict[str, str] = {name: info.family for name, info in OP_INFO.items()}
MEASURES = ("mean_fooling_rate", "mean_error", "relative_fooling_rate", "relative_error")
SCORE_COLUMNS = [
    "model", "measure", "value", "ci_low", "ci_high", "n", "ops", "variants", "reference", "ci_method", "exploratory",
]  # fmt: skip


def family_of(op: str, families: Mapping[str, str]) -> str:
    return "unedited" if op == IDENTITY else families.get(op, op)


# --- the score ---------------------------------------------------------------------------------


def rate_matrices(images: pd.DataFrame, samples: pd.Index, variants: list[str]) -> dict[str, np.ndarray]:
    """One model's per-image rows as (images, variants) matrices over `samples` x `variants`:
    `wrong` (share of replicates wrong once edited; NaN where not scored), `fooled` (share
    fooled, counted only for images right unedited) and `right` (right unedited: 1 or 0)."""
    edited = images[images["variant"] != IDENTITY]

    def wide(column: str) -> np.ndarray:
        table = edited.pivot_table(index="sample", columns="variant", values=column, dropna=False)
        return table.reindex(index=samples, columns=variants).to_numpy(float)

    wrong, fooled = 1.0 - wide("correct"), wide("fooled")
    unedited = images[images["variant"] == IDENTITY].set_index("sample")["correct"].reindex(samples)
    right = unedited.fillna(0).to_numpy(float)
    return {"wrong": wrong, "fooled": np.where(right[:, None] > 0, fooled, np.nan), "right": right}


def variant_rates(m: dict[str, np.ndarray], weights: np.ndarray) -> dict[str, np.ndarray]:
    """Per draw (row of weights: how often each image was drawn) and variant: error and fooling
    rate, (draws, variants) each."""
    out = {}
    for name, values in (("error", m["wrong"]), ("fooling", m["fooled"])):
        present = np.isfinite(values)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = (weights @ np.where(present, values, 0.0)) / (weights @ present.astype(float))
    return out


def op_means(rates: np.ndarray, ops: list[np.ndarray]) -> np.ndarray:
    """Mean over ops of the mean over each op's variants (severities), per draw."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.stack([np.nanmean(rates[:, cols], axis=1) for cols in ops], axis=1), axis=1)


def op_relative(rates: np.ndarray, reference: np.ndarray, ops: list[np.ndarray]) -> np.ndarray:
    """Mean over ops of sum(rates over the op's severities) / sum(the reference's); ops where
    the reference's sum is 0 (never fooled, never wrong) are left out."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ratios = [np.nansum(rates[:, c], axis=1) / np.nansum(reference[:, c], axis=1) for c in ops]
        ratios = np.where(np.isfinite(np.stack(ratios, axis=1)), np.stack(ratios, axis=1), np.nan)
        return np.nanmean(ratios, axis=1)


def score_measures(models: dict[str, dict], reference: str | None, ops: list[np.ndarray], weights: np.ndarray) -> dict:
    """(model, measure) -> values per draw, every model from the same draws (paired)."""
    rates = {name: variant_rates(m, weights) for name, m in models.items()}
    out = {}
    for name, r in rates.items():
        out[(name, "mean_fooling_rate")] = op_means(r["fooling"], ops)
        out[(name, "mean_error")] = op_means(r["error"], ops)
        if reference in rates:
            out[(name, "relative_fooling_rate")] = op_relative(r["fooling"], rates[reference]["fooling"], ops)
            out[(name, "relative_error")] = op_relative(r["error"], rates[reference]["error"], ops)
    return out


def corruption_score(
    scores: pd.DataFrame, reference: str | None = None, resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """The `corruption_score` table (see the module's docstring); empty without edits or labels."""
    images = per_image(scores)
    images = images.assign(variant=images["variant"].map(base_variant_id))
    edited = images[images["variant"] != IDENTITY]
    if edited.empty or images["correct"].isna().all():
        return pd.DataFrame(columns=SCORE_COLUMNS)
    unedited = images[images["variant"] == IDENTITY]
    names = list(dict.fromkeys(images["model"]))
    samples = pd.Index(sorted(set.intersection(*(set(unedited.loc[unedited["model"] == n, "sample"]) for n in names))))
    order = edited.drop_duplicates("variant")[["variant", "op"]]
    variants = order["variant"].tolist()
    ops = [np.flatnonzero((order["op"] == op).to_numpy()) for op in dict.fromkeys(order["op"])]
    models = {n: rate_matrices(images[images["model"] == n], samples, variants) for n in names}
    reference = reference if reference in models else None
    point = score_measures(models, reference, ops, np.ones((1, len(samples))))
    draws: dict = {key: [] for key in point}
    for counts in count_blocks(len(samples), resamples, seed):
        for key, values in score_measures(models, reference, ops, counts.astype(float)).items():
            draws[key].append(values)
    rows = []
    for (model, measure), value in point.items():
        low, high = percentile_interval(np.concatenate(draws[(model, measure)]))
        rows.append({
            "model": model, "measure": measure, "value": float(value[0]), "ci_low": low, "ci_high": high,
            "n": len(samples), "ops": len(ops), "variants": len(variants), "reference": reference or "",
            "ci_method": "percentile", "exploratory": exploratory(len(samples)),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


# --- the curves ----------------------------------------------------------------------------------

CURVE_METRICS = {"average_precision": weighted_average_precision, "roc_auc": weighted_auc}
CURVE_COLUMNS = ["model", "family", "op", "variant", "severity", "level", "n", "exploratory"] + [
    f"{k}{s}" for k in CURVE_METRICS for s in ("", "_ci_low", "_ci_high")
]


def curve_row(df: pd.DataFrame, resamples: int, seed: int, shared: dict) -> dict[str, float]:
    """AP and ROC-AUC of one model x variant (replicates pooled: each image drawn with all of
    them) with percentile bootstrap intervals over images; NaN without both classes."""
    y = df["truth"].to_numpy() == "ai"
    score = df["p_ai"].to_numpy(float)
    image, found = pd.factorize(df["sample"])
    row: dict[str, float] = {"n": len(found)}
    both = 0 < y.sum() < len(y)
    draws = {k: [] for k in CURVE_METRICS}
    for counts in count_blocks(len(found), resamples, seed, shared) if both else []:
        for k, fn in CURVE_METRICS.items():
            draws[k].append(fn(y, score, counts[:, image]))
    for k, fn in CURVE_METRICS.items():
        value = float(fn(y, score, np.ones((1, len(y))))[0]) if both else np.nan
        low, high = percentile_interval(np.concatenate(draws[k])) if both else (np.nan, np.nan)
        row |= {k: value, f"{k}_ci_low": low, f"{k}_ci_high": high}
    return row


def corruption_curves(
    scores: pd.DataFrame, families: Mapping[str, str], resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """The `corruption_curves` table: per model x variant (the unedited images first, level 0),
    its op's family, severity and level (1 = the op's first severity in the grid's order)."""
    keyed = scores.assign(variant=scores["variant"].map(base_variant_id))
    order = keyed.drop_duplicates("variant")[["variant", "op", "severity"]].reset_index(drop=True)
    order["level"] = order.groupby("op", sort=False).cumcount() + 1
    order.loc[order["op"] == IDENTITY, "level"] = 0
    rows, shared = [], {}
    for (model, variant), df in keyed.groupby(["model", "variant"], sort=False):
        about = order[order["variant"] == variant].iloc[0]
        rows.append({
            "model": model, "family": family_of(about["op"], families), "op": about["op"], "variant": variant,
            "severity": about["severity"], "level": int(about["level"]), **curve_row(df, resamples, seed, shared),
        })  # fmt: skip
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    table["exploratory"] = exploratory(table["n"].to_numpy())
    return table[CURVE_COLUMNS]


# --- the stage -----------------------------------------------------------------------------------


def run(ctx: RunContext) -> dict[str, pd.DataFrame]:
    """The two tables, when the run scored edits of labelled images."""
    scores, cfg = ctx.tables["scores"], ctx.cfg
    scores = scores[scores["truth"].isin(["ai", "human"])]  # right and wrong need a label
    if not (scores["variant"] != IDENTITY).any():
        return {}
    t = time.perf_counter()
    reference = cfg.corruption.reference if cfg.corruption is not None else None
    if reference is not None and not (scores["model"] == reference).any():
        log.warning("corruption score: reference model %s was not scored; no relative rows", reference)
    tables = {
        "corruption_score": corruption_score(scores, reference, cfg.bootstrap, cfg.seed),
        "corruption_curves": corruption_curves(scores, OP_FAMILIES, cfg.bootstrap, cfg.seed),
    }
    ctx.timings.add("corruption score", t)
    for r in tables["corruption_score"].itertuples():
        measure = r.measure.replace("_", " ")
        log.info("corruption score, %s: %s %.3f [%.3f, %.3f]", r.model, measure, r.value, r.ci_low, r.ci_high)
    return tables
