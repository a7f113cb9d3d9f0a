"""What a run found, per model, in a few sentences: the card a reader meets first in the report.

From a run's tables alone (scores, summary, minimal_flip, minimal_flip_curve, and
evaluation_metrics when the run has both classes):

- accuracy on the unedited images, with its Wilson interval and n (and the false-positive rate,
  human art called AI, when both classes are present);
- the edits that fool it most: per edit family (one op on one side of its neutral value, or one
  combined edit), its most fooling severity; the three highest fooling rates among the images
  right when unedited, with interval, n and which way the scores moved;
- the mildest edit that fools at least half of those images, judged by its place in its own
  grid (area 0.03 of a 0.01-0.2 grid is milder than the harshest noise), from minimal_flip_curve;
- the most fragile artwork: fooled by the most edit families (ties: the larger mean |Δ margin|);
- a small-n warning when fewer than 30 images stand behind the numbers.

Pure functions of DataFrames; numbers are not rounded here (the template formats them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from augment import IDENTITY, SINGLE_OPS, base_variant_id
from augment.naming import describe, severity_name
from experiments.stats.statistics import METRICS, MIN_N, wilson_ci
from experiments.stages.scoring.tables import graded_edits, median_fooling_severity, series_titles

TOP_EDITS = 3
WORST_FIRST = METRICS["fooling_rate"].direction == "lower"  # rank the edits that hurt the model most first


def accuracy(scores: pd.DataFrame, model: str) -> dict | None:
    """Right answers on the unedited images: k, n, value and Wilson interval."""
    base = scores[(scores["model"] == model) & (scores["variant"] == IDENTITY)]
    if base.empty:
        return None
    k, n = int(base["correct"].sum()), len(base)
    low, high = wilson_ci(k, n)
    return {"k": k, "n": n, "value": k / n, "ci_low": low, "ci_high": high, "classes": sorted(base["truth"].unique())}


def false_positive_rate(metrics: pd.DataFrame | None, model: str) -> dict | None:
    """Human art called AI (the costly error), from evaluation_metrics, when it was measured."""
    if metrics is None or metrics.empty:
        return None
    row = metrics[(metrics["model"] == model) & (metrics["metric"] == "false_positive_rate")]
    if row.empty or not np.isfinite(row["value"].iloc[0]):
        return None
    r = row.iloc[0]
    return {
        "value": float(r["value"]),
        "ci_low": float(r["ci_low"]),
        "ci_high": float(r["ci_high"]),
        "n": int(r["n"]),
        "k": round(r["value"] * r["n"]),
    }


def edit_families(scores: pd.DataFrame) -> pd.DataFrame:
    """Per edited base variant: its family (the series, i.e. op, fixed parameters and side of
    neutral, for a graded single op; the variant itself for a combined edit), a title for the
    family in words, and the variant's strength (distance from neutral; 0 without severity)."""
    graded = graded_edits(scores)
    graded = graded.assign(variant=graded["variant"].map(base_variant_id)).drop_duplicates("variant")
    titles = series_titles(graded)
    rows = {v: (s, titles[s], st) for v, s, st in zip(graded["variant"], graded["series"], graded["strength"])}
    for vid in scores["variant"].map(base_variant_id).unique():
        if vid != IDENTITY and vid not in rows:
            rows[vid] = (vid, describe(vid), 0.0)
    return pd.DataFrame(
        [(v, *r) for v, r in rows.items()], columns=["variant", "family", "title", "strength"]
    ).set_index("variant")


def direction(row) -> dict:
    """Which way an edit moved the scores: the side most images moved to, and their share."""
    ai, human = float(row["share_towards_ai"]), float(row["share_towards_human"])
    towards = "AI" if ai >= human else "human"
    return {"towards": towards, "share": max(ai, human), "mean_delta_margin": float(row["mean_delta_margin"])}


def most_fooling(summary: pd.DataFrame, families: pd.DataFrame, model: str, top: int = TOP_EDITS) -> list[dict]:
    """The `top` edit families with the highest fooling rate, each at its most fooling severity
    (the mildest of those on a tie), fooling at least one image. Families are ranked by fooling
    rate, then the lower end of its interval, then mean |Δ margin|."""
    rows = summary[(summary["model"] == model) & (summary["variant"] != IDENTITY) & (summary["n_correct"] > 0)]
    rows = rows[rows["fooling_rate"] > 0].join(families, on="variant")
    if rows.empty:
        return []
    rows = rows.assign(family=rows["family"].fillna(rows["variant"]), strength=rows["strength"].fillna(0.0))
    order = ["fooling_rate", "strength"]
    best = rows.sort_values(order, ascending=[not WORST_FIRST, True], kind="stable").drop_duplicates("family")
    order = ["fooling_rate", "fooling_ci_low", "mean_abs_delta_margin"]
    best = best.sort_values(order, ascending=not WORST_FIRST, kind="stable").head(top)
    out = []
    for _, r in best.iterrows():
        out.append({
            "variant": r["variant"], "label": describe(r["variant"]),
            "family": r["title"] if isinstance(r["title"], str) else describe(r["variant"]),
            "fooling_rate": float(r["fooling_rate"]), "ci_low": float(r["fooling_ci_low"]),
            "ci_high": float(r["fooling_ci_high"]),
            "fooled": float(r["fooling_rate"] * r["n_correct"]), "n_correct": int(r["n_correct"]),
            "replicates": int(r["n_replicates"]),
            "direction": direction(r),
        })  # fmt: skip
    return out


def mildest_fooling_half(curve: pd.DataFrame, scores: pd.DataFrame, model: str) -> dict | None:
    """Among the edit families whose grid reaches a severity that fools at least half of the
    images right when unedited (at that severity or a milder one): the one that gets there
    earliest in its own grid (its strength over the grid's harshest), with the others that do.
    None when the run has no graded edits; `reached` False when none gets to half."""
    mine = curve[curve["model"] == model] if len(curve) else curve
    if mine is None or mine.empty:
        return None
    medians = median_fooling_severity(mine)
    titles = series_titles(graded_edits(scores[scores["model"] == model]))
    found = []
    for r in medians.itertuples():
        g = mine[mine["series"] == r.series].sort_values("strength")
        first = g[g["share_fooled_at_or_below"] >= 0.5].head(1)
        row = g.iloc[-1] if first.empty else first.iloc[0]
        found.append({
            "series": r.series, "op": r.op, "title": titles.get(r.series, r.series), "variant": row["variant"],
            "label": describe(row["variant"]),
            "severity": float(row["severity"]),
            "relative": float(row["strength"] / g["strength"].max()) if g["strength"].max() > 0 else 1.0,
            "fooled": int(row["fooled_at_or_below"]), "n": int(row["n"]),
            "share": float(row["share_fooled_at_or_below"]),
            "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]), "reached": not first.empty,
            "parameter": severity_name(r.op), "harshest": float(g["severity"].iloc[-1]),
        })  # fmt: skip
    reached = sorted((f for f in found if f["reached"]), key=lambda f: (f["relative"], -f["share"]))
    if reached:
        return {"reached": True, "best": reached[0], "others": reached[1:], "n": reached[0]["n"]}
    closest = max(found, key=lambda f: (f["share"], -f["relative"]))
    return {"reached": False, "best": closest, "others": [], "n": closest["n"]}


def most_fragile(flips: pd.DataFrame, scores: pd.DataFrame, model: str) -> dict | None:
    """The image (right when unedited) fooled by the most edit families at some severity;
    ties broken by its mean |Δ margin| over every edit."""
    mine = flips[(flips["model"] == model) & flips["correct_unedited"].astype(bool)] if len(flips) else flips
    if mine is None or mine.empty:
        return None
    per = mine.assign(fooled=mine["min_fooling_severity"].notna()).groupby("sample", sort=False).agg(
        subject=("subject", "first"), truth=("truth", "first"), fooled=("fooled", "sum"), families=("series", "size")
    )  # fmt: skip
    edited = scores[(scores["model"] == model) & (scores["variant"] != IDENTITY)]
    per["mean_abs_delta_margin"] = (
        edited.assign(a=edited["delta_margin"].abs()).groupby("sample")["a"].mean().reindex(per.index).fillna(0)
    )
    per = per.sort_values(["fooled", "mean_abs_delta_margin"], ascending=False, kind="stable")
    sample = per.index[0]
    r = per.iloc[0]
    fooling = mine[(mine["sample"] == sample) & mine["min_fooling_severity"].notna()]
    neutral = pd.Series([float(SINGLE_OPS[op].neutral) for op in fooling["op"]], index=fooling.index, dtype=float)
    relative = fooling["min_fooling_strength"] / (fooling["harshest_severity"] - neutral).abs()
    fooling = fooling.assign(relative=relative).sort_values("relative", kind="stable")  # mildest for its grid first
    titles = series_titles(graded_edits(scores[(scores["model"] == model) & (scores["sample"] == sample)]))
    base = scores[(scores["model"] == model) & (scores["sample"] == sample) & (scores["variant"] == IDENTITY)]
    return {
        "sample": sample, "subject": r["subject"], "truth": r["truth"], "fooled": int(r["fooled"]),
        "families": int(r["families"]),
        "p_ai": float(base["p_ai"].iloc[0]) if len(base) else float("nan"),
        "mean_abs_delta_margin": float(r["mean_abs_delta_margin"]),
        "fooled_by": [titles.get(s, s) for s in fooling["series"]],
    }  # fmt: skip


def model_findings(
    scores: pd.DataFrame,
    summary: pd.DataFrame,
    flips: pd.DataFrame,
    curve: pd.DataFrame,
    metrics: pd.DataFrame | None,
    model: str,
) -> dict:
    """Everything the findings card of one model says."""
    acc = accuracy(scores, model)
    edited = bool(((scores["model"] == model) & (scores["variant"] != IDENTITY)).any())
    families = (
        edit_families(scores[scores["model"] == model])
        if edited
        else pd.DataFrame(columns=["family", "title", "strength"])
    )
    n = acc["n"] if acc else 0
    return {
        "model": model,
        "accuracy": acc,
        "fpr": false_positive_rate(metrics, model),
        "edited": edited,
        "n_families": families["family"].nunique(),
        "most_fooling": most_fooling(summary, families, model) if edited else [],
        "mildest": mildest_fooling_half(curve, scores, model) if edited else None,
        "fragile": most_fragile(flips, scores, model) if edited else None,
        "small_n": n < MIN_N,
        "n": n,
        "min_n": MIN_N,
    }
