"""From raw scores to the tables a run writes. Pure functions over pandas DataFrames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from augment import IDENTITY, SINGLE_OPS, base_variant_id
from experiments.models.detector import margin_from_probabilities
from augment.naming import series_title
from experiments.stats.statistics import exploratory, row_mean_cis, wilson_ci

SCORE_COLUMNS = [
    "sample", "subject", "edit", "truth", "variant", "op", "params", "severity", "model", "replicate",
    "p_ai", "p_human", "margin", "predicted", "correct", "delta_p_ai", "delta_margin", "direction",
    "flipped", "fooled", "corrected", "style", "generator",
]  # fmt: skip
DIRECTION_TOLERANCE = 1e-4  # |delta margin| up to this (log-odds units) is direction "none"


def finish_scores(raw: pd.DataFrame) -> pd.DataFrame:
    """Add predicted / correct, and the shift against the same model's score on the unedited
    image: delta_p_ai, delta_margin and its direction; flipped (any change of the predicted
    class), split into fooled (right when unedited, wrong now) and corrected (wrong when
    unedited, right now). Rows keep their order."""
    df = raw.copy()
    if "margin" not in df:  # parts written before margins were recorded
        df["margin"] = margin_from_probabilities(df["p_ai"], df["p_human"])
    if "replicate" not in df:
        df["replicate"] = 0
    df["replicate"] = df["replicate"].fillna(0).astype(int)
    df["predicted"] = np.where(df["p_ai"] >= df["p_human"], "ai", "human")
    df["correct"] = df["predicted"] == df["truth"]
    base = df.loc[df["variant"] == IDENTITY, ["sample", "model", "p_ai", "margin", "predicted", "correct"]]
    base = base.rename(columns=lambda c: c if c in ("sample", "model") else f"_base_{c}")
    df = df.merge(base, on=["sample", "model"], how="left", validate="many_to_one")
    has_base = df["_base_predicted"].notna()
    df["delta_p_ai"] = df["p_ai"] - df["_base_p_ai"]
    df["delta_margin"] = df["margin"] - df["_base_margin"]
    df["direction"] = np.select(
        [df["delta_margin"] > DIRECTION_TOLERANCE, df["delta_margin"] < -DIRECTION_TOLERANCE],
        ["towards_ai", "towards_human"],
        "none",
    )
    df["flipped"] = (df["predicted"] != df["_base_predicted"]) & has_base
    base_correct = df["_base_correct"].astype("boolean").fillna(False).astype(bool)
    base_wrong = (~df["_base_correct"].astype("boolean")).fillna(False).astype(bool)
    df["fooled"] = base_correct & ~df["correct"]
    df["corrected"] = base_wrong & df["correct"]
    return df[score_columns(df)].reset_index(drop=True)


def score_columns(df: pd.DataFrame) -> list[str]:
    """SCORE_COLUMNS, with `source` in place of `style` where the samples name generators and
    sources (a dataset's generator_from): such tables never say "style"."""
    labelled = "source" in df and "style" not in df
    return [("source" if c == "style" and labelled else c) for c in SCORE_COLUMNS]


def per_image(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per model x variant x sample, its replicates averaged: the unit every interval
    resamples (images are independent; replicates of one image are not). `variant` is the
    replicates' shared id."""
    df = scores.assign(
        variant=scores["variant"].map(base_variant_id),
        abs_delta_p_ai=scores["delta_p_ai"].abs(),
        abs_delta_margin=scores["delta_margin"].abs(),
        towards_ai=scores["direction"] == "towards_ai",
        towards_human=scores["direction"] == "towards_human",
    )
    bools = ["correct", "flipped", "fooled", "corrected", "towards_ai", "towards_human"]
    df[bools] = df[bools].astype(float)
    keys = ["model", "op", "variant", "sample"]
    grouped = df.groupby(keys, sort=False, dropna=False)
    images = grouped.agg(
        severity=("severity", "first"),
        replicates=("replicate", "size"),
        p_ai=("p_ai", "mean"),
        delta_p_ai=("delta_p_ai", "mean"),
        abs_delta_p_ai=("abs_delta_p_ai", "mean"),
        max_abs_delta_p_ai=("abs_delta_p_ai", "max"),
        delta_margin=("delta_margin", "mean"),
        abs_delta_margin=("abs_delta_margin", "mean"),
        delta_margin_var=("delta_margin", "var"),
        correct=("correct", "mean"),
        flipped=("flipped", "mean"),
        fooled=("fooled", "mean"),
        corrected=("corrected", "mean"),
        towards_ai=("towards_ai", "mean"),
        towards_human=("towards_human", "mean"),
    ).reset_index()
    unedited = scores.loc[scores["variant"] == IDENTITY, ["sample", "model", "correct"]].rename(
        columns={"correct": "correct_unedited"}
    )
    return images.merge(unedited, on=["sample", "model"], how="left")


def _replicate_spread(scores: pd.DataFrame) -> pd.DataFrame:
    """Per model x variant: the standard deviation over replicates of the fooling rate (each
    replicate's rate over the images correct when unedited); NaN when drawn once."""
    df = scores.assign(variant=scores["variant"].map(base_variant_id))
    base = df.loc[df["variant"] == IDENTITY, ["sample", "model", "correct"]].rename(columns={"correct": "_ok"})
    df = df.merge(base, on=["sample", "model"], how="left")
    df = df[df["_ok"].astype("boolean").fillna(False).astype(bool)]
    rates = df.groupby(["model", "variant", "replicate"], sort=False)["fooled"].mean()
    return (
        rates.groupby(level=["model", "variant"], sort=False)
        .std(ddof=1)
        .rename("fooling_rate_sd_between_replicates")
        .reset_index()
    )


def fooling_and_correction(images: pd.DataFrame) -> pd.DataFrame:
    """Per model x op x variant, from `per_image` rows: fooling_rate among the images right when
    unedited (n_correct) and correction_rate among those wrong when unedited (n_wrong), each
    with its Wilson interval; an image's replicates count by the share of them fooled."""
    keys = ["model", "op", "variant"]
    right = images[images["correct_unedited"] == True]  # noqa: E712 (NaN when the unedited image is missing)
    wrong = images[images["correct_unedited"] == False]  # noqa: E712
    out = images[keys].drop_duplicates().set_index(keys)
    out["n_correct"] = right.groupby(keys, sort=False).size()
    out["fooled"] = right.groupby(keys, sort=False)["fooled"].sum()
    out["n_wrong"] = wrong.groupby(keys, sort=False).size()
    out["corrected"] = wrong.groupby(keys, sort=False)["corrected"].sum()
    out = out.fillna(0).astype({"n_correct": int, "n_wrong": int})
    with np.errstate(invalid="ignore", divide="ignore"):
        out["fooling_rate"] = out["fooled"] / out["n_correct"].where(out["n_correct"] > 0)
        out["correction_rate"] = out["corrected"] / out["n_wrong"].where(out["n_wrong"] > 0)
    out["fooling_ci_low"], out["fooling_ci_high"] = wilson_ci(out["fooled"], out["n_correct"])
    out["correction_ci_low"], out["correction_ci_high"] = wilson_ci(out["corrected"], out["n_wrong"])
    cols = [
        "fooling_rate", "n_correct", "fooling_ci_low", "fooling_ci_high",
        "correction_rate", "n_wrong", "correction_ci_low", "correction_ci_high",
    ]  # fmt: skip
    return out[cols].reset_index()


def summarise(scores: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """model x op x variant (replicates pooled, with its severity): how far and which way scores
    move, how often a right answer is made wrong (fooling) and a wrong one right (correction),
    each with its interval at its n. n counts images: replicates of one image are averaged
    first, and the spread between replicates is reported beside the spread between images."""
    images = per_image(scores)
    keys = ["model", "op", "variant"]
    grouped = images.groupby(keys, sort=False, dropna=False)
    summary = grouped.agg(
        severity=("severity", "first"),
        n=("sample", "size"),
        n_replicates=("replicates", "max"),
        mean_p_ai=("p_ai", "mean"),
        mean_delta_p_ai=("delta_p_ai", "mean"),
        mean_abs_delta_p_ai=("abs_delta_p_ai", "mean"),
        max_abs_delta_p_ai=("max_abs_delta_p_ai", "max"),
        mean_delta_margin=("delta_margin", "mean"),
        mean_abs_delta_margin=("abs_delta_margin", "mean"),
        share_towards_ai=("towards_ai", "mean"),
        share_towards_human=("towards_human", "mean"),
        flip_rate=("flipped", "mean"),
        accuracy=("correct", "mean"),
        delta_margin_sd_between_images=("delta_margin", "std"),
        delta_margin_sd_between_replicates=(
            "delta_margin_var",
            lambda v: float(np.sqrt(v.mean())) if v.notna().any() else np.nan,
        ),
    ).reset_index()
    summary = summary.merge(fooling_and_correction(images), on=keys, how="left")
    summary["accuracy_ci_low"], summary["accuracy_ci_high"] = wilson_ci(
        summary["accuracy"] * summary["n"], summary["n"]
    )
    summary = summary.merge(_replicate_spread(scores), on=["model", "variant"], how="left")
    for column in ("delta_p_ai", "delta_margin"):
        for model, rows in summary.groupby("model", sort=False):
            wide = images[images["model"] == model].pivot_table(
                index="variant", columns="sample", values=column, dropna=False, sort=False
            )
            wide = wide.reindex(rows["variant"])
            _, low, high, _ = row_mean_cis(wide.to_numpy(), resamples=resamples, seed=seed)
            summary.loc[rows.index, f"mean_{column}_ci_low"] = low
            summary.loc[rows.index, f"mean_{column}_ci_high"] = high
    summary["exploratory"] = exploratory(summary["n"])
    return summary[SUMMARY_COLUMNS]


SUMMARY_COLUMNS = [
    "model", "op", "variant", "severity", "n", "n_replicates", "exploratory",
    "mean_p_ai", "mean_delta_p_ai", "mean_delta_p_ai_ci_low", "mean_delta_p_ai_ci_high", "mean_abs_delta_p_ai",
    "max_abs_delta_p_ai",
    "mean_delta_margin", "mean_delta_margin_ci_low", "mean_delta_margin_ci_high", "mean_abs_delta_margin",
    "share_towards_ai", "share_towards_human", "flip_rate", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
    "fooling_rate", "n_correct", "fooling_ci_low", "fooling_ci_high",
    "correction_rate", "n_wrong", "correction_ci_low", "correction_ci_high",
    "delta_margin_sd_between_images", "delta_margin_sd_between_replicates", "fooling_rate_sd_between_replicates",
]  # fmt: skip


FOOLED_SHARE = 0.5  # with replicates, an image counts as fooled at a severity when at least this share of its draws are


def _shown(v) -> str:
    """A parameter value as variant ids write it (3.0 as 3)."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else repr(v)


def fixed_params(op: str, params: dict) -> dict:
    """An op's parameters other than its severity: what stays fixed along one series."""
    return {k: v for k, v in params.items() if k != SINGLE_OPS[op].severity}


def series_name(op: str, fixed: dict, side: str) -> str:
    """A name for one line of a grid: the op with its fixed parameters, and which side of the
    neutral value its severity lies on, e.g. `saturation(factor<1)`."""
    cls = SINGLE_OPS[op]
    neutral = float(cls.neutral)
    sign = "<" if side == "decrease" else ">"
    neutral_text = int(neutral) if neutral.is_integer() else neutral
    parts = [f"{cls.severity}{sign}{neutral_text}", *(f"{k}={_shown(v)}" for k, v in fixed.items())]
    return f"{op}({', '.join(parts)})"


def graded_rows(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The rows of single ops with a severity (a copy), with their side (`decrease` / `increase`
    of the severity against the op's neutral value) and strength (distance from neutral), and
    the neutral value of each row."""
    df = table[table["op"].isin(list(SINGLE_OPS)) & table["severity"].notna()].copy()
    neutral = df["op"].map(lambda op: float(SINGLE_OPS[op].neutral)).astype(float)
    if not df.empty:
        df["side"] = np.where(df["severity"] < neutral, "decrease", "increase")
        df["strength"] = (df["severity"] - neutral).abs()
    return df, neutral


def graded_edits(scores: pd.DataFrame) -> pd.DataFrame:
    """The rows of single ops with a severity, with their series, side and strength (distance of
    the severity from the value that leaves the image unchanged); combined edits and identity
    are left out, as they have no severity."""
    df, _ = graded_rows(scores)
    if df.empty:
        return df.assign(series=pd.Series(dtype=str), side=pd.Series(dtype=str), strength=pd.Series(dtype=float))
    keys = df[["op", "params", "side"]].drop_duplicates()
    names = {
        (k.op, k.params, k.side): series_name(k.op, fixed_params(k.op, json.loads(k.params)), k.side)
        for k in keys.itertuples()
    }
    df["series"] = [names[k] for k in zip(df["op"], df["params"], df["side"])]
    return df


def series_titles(graded: pd.DataFrame, fixed: list[dict] | None = None) -> dict[str, str]:
    """series -> its title in words ('brightness, darker', 'occlusion (count 3)'), from
    `graded_edits` rows, or any rows with op, series and side and each row's `fixed` parameters."""
    if graded.empty:
        return {}
    two_sided = graded.groupby("op")["side"].nunique() > 1
    first = ~graded["series"].duplicated().to_numpy()
    rows = graded[first]
    if fixed is None:
        fixed = [fixed_params(op, json.loads(p)) for op, p in zip(rows["op"], rows["params"])]
    else:
        fixed = [f for f, keep in zip(fixed, first) if keep]
    return {
        s: series_title(op, f, side, bool(two_sided.get(op, False)))
        for s, op, f, side in zip(rows["series"], rows["op"], fixed, rows["side"])
    }


def minimal_flip(scores: pd.DataFrame) -> pd.DataFrame:
    """Per sample x model x series (an op with its fixed parameters, on one side of its neutral
    value): the mildest severity in the grid that fools the model, NaN when none does up to the
    harshest. Only images the model gets right when unedited can be fooled; the others are listed
    with correct_unedited False and no severity. With replicates, an image is fooled at a
    severity when at least FOOLED_SHARE of its draws are."""
    df = graded_edits(scores)
    cols = [
        "sample", "subject", "truth", "model", "op", "series", "side", "correct_unedited", "min_fooling_severity",
        "min_fooling_strength", "harshest_severity", "fooled_at_harshest", "n_severities", "n_replicates",
    ]  # fmt: skip
    if df.empty:
        return pd.DataFrame(columns=cols)
    unedited = scores.loc[scores["variant"] == IDENTITY, ["sample", "model", "correct"]].rename(
        columns={"correct": "correct_unedited"}
    )
    keys = ["sample", "model", "op", "series", "side"]
    cells = df.groupby([*keys, "severity"], sort=False).agg(
        subject=("subject", "first"), truth=("truth", "first"), strength=("strength", "first"),
        fooled_share=("fooled", "mean"), replicates=("replicate", "size"),
    ).reset_index()  # fmt: skip
    cells = cells.merge(unedited, on=["sample", "model"], how="left")
    cells["fooled_here"] = cells["fooled_share"] >= FOOLED_SHARE
    cells["correct_unedited"] = cells["correct_unedited"].astype("boolean").fillna(False).astype(bool)
    cells = cells.sort_values([*keys, "strength"], kind="stable").reset_index(drop=True)
    groups = cells.groupby(keys, sort=False)
    out = groups.agg(
        subject=("subject", "first"), truth=("truth", "first"), correct_unedited=("correct_unedited", "first"),
        n_severities=("severity", "size"), n_replicates=("replicates", "max"),
    )  # fmt: skip
    harshest = cells.loc[groups["strength"].idxmax()].set_index(keys)  # the last row of each group
    out["harshest_severity"] = harshest["severity"].astype(float)
    out["fooled_at_harshest"] = harshest["fooled_here"] & out["correct_unedited"]
    fooling = cells[cells["fooled_here"] & cells["correct_unedited"]]
    mildest = cells.loc[fooling.groupby(keys, sort=False)["strength"].idxmin()].set_index(keys)  # the first fooling row
    out["min_fooling_severity"] = mildest["severity"].astype(float).reindex(out.index)
    out["min_fooling_strength"] = mildest["strength"].astype(float).reindex(out.index)
    return out.reset_index()[cols]


def minimal_flip_curve(flips: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Per model x series x severity (mildest first): the share of images, among those right
    when unedited, whose mildest fooling severity is at or below this one (a survival curve:
    how much editing fools the model), with its Wilson interval; and the share fooled at exactly
    this severity."""
    cols = ["model", "op", "series", "side", "variant", "severity", "strength", "n", "exploratory",
            "fooled_at_or_below", "share_fooled_at_or_below", "ci_low", "ci_high", "share_fooled_at"]  # fmt: skip
    df = graded_edits(scores)
    eligible = flips[flips["correct_unedited"]]
    if df.empty or eligible.empty:
        return pd.DataFrame(columns=cols)
    base = scores.loc[scores["variant"] == IDENTITY, ["sample", "model", "correct"]].rename(columns={"correct": "_ok"})
    df = df.merge(base, on=["sample", "model"], how="left")
    df = df[df["_ok"].astype("boolean").fillna(False).astype(bool)]
    per_image = df.groupby(["model", "series", "severity", "sample"], sort=False)["fooled"].mean() >= FOOLED_SHARE
    at = per_image.groupby(level=["model", "series", "severity"], sort=False).mean()
    df["variant"] = df["variant"].map(base_variant_id)
    grid = (
        df.groupby(["model", "op", "series", "side", "severity"], sort=False)
        .agg(strength=("strength", "first"), variant=("variant", "first"))
        .reset_index()
    )
    rows = []
    for (model, series), g in grid.groupby(["model", "series"], sort=False):
        mine = eligible[(eligible["model"] == model) & (eligible["series"] == series)]
        n = len(mine)
        for r in g.sort_values("strength", kind="stable").itertuples():
            k = int((mine["min_fooling_strength"] <= r.strength + 1e-12).sum())
            low, high = wilson_ci(k, n)
            rows.append({
                "model": model, "op": r.op, "series": series, "side": r.side, "variant": r.variant,
                "severity": r.severity, "strength": r.strength, "n": n,
                "exploratory": exploratory(n), "fooled_at_or_below": k,
                "share_fooled_at_or_below": k / n if n else np.nan,
                "ci_low": low, "ci_high": high, "share_fooled_at": float(at.get((model, series, r.severity), np.nan)),
            })  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def median_fooling_severity(curve: pd.DataFrame) -> pd.DataFrame:
    """Per model x series: the mildest severity at which at least half of the images right when
    unedited are fooled (NaN when the harshest does not get there), and the harshest tried."""
    rows = []
    for (model, op, series), g in curve.groupby(["model", "op", "series"], sort=False):
        reached = g[g["share_fooled_at_or_below"] >= 0.5]
        rows.append({
            "model": model, "op": op, "series": series, "n": int(g["n"].iloc[0]),
            "median_fooling_severity": float(reached["severity"].iloc[0]) if len(reached) else np.nan,
            "harshest_severity": float(g["severity"].iloc[-1]),
            "share_fooled_up_to_harshest": float(g["share_fooled_at_or_below"].iloc[-1]),
        })  # fmt: skip
    cols = ["model", "op", "series", "n", "median_fooling_severity", "harshest_severity", "share_fooled_up_to_harshest"]
    return pd.DataFrame(rows, columns=cols)


def study_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The study's table: subject x edit x model -> AI % and human % on the unaugmented files,
    with the change in AI % against the subject's original file."""
    df = scores.loc[scores["variant"] == IDENTITY].copy()
    df["ai_pct"] = 100 * df["p_ai"]
    df["human_pct"] = 100 * df["p_human"]
    original = df.loc[df["edit"] == "original", ["subject", "model", "ai_pct"]]
    original = original.rename(columns={"ai_pct": "_orig"}).drop_duplicates(["subject", "model"])
    df = df.merge(original, on=["subject", "model"], how="left")
    df["delta_ai_pct_vs_original"] = df["ai_pct"] - df["_orig"]
    cols = [
        "subject", "truth", "edit", "model", "ai_pct", "human_pct", "predicted", "correct",
        "delta_ai_pct_vs_original", "sample",
    ]  # fmt: skip
    return df[cols].reset_index(drop=True)


def study_table_wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per subject x edit, one column pair (AI %, human %) per model: the layout a
    person compares with the study's published table."""
    wide = table.pivot_table(
        index=["subject", "truth", "edit"], columns="model", values=["ai_pct", "human_pct"], sort=False
    )
    wide.columns = [f"{model} {stat.replace('_pct', ' %')}" for stat, model in wide.columns]
    return wide.reset_index()
