"""From raw scores to the tables a run writes. Pure functions over pandas DataFrames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from augment import IDENTITY

SCORE_COLUMNS = [
    "sample", "subject", "edit", "truth", "variant", "op", "params", "severity",
    "model", "p_ai", "p_human", "predicted", "correct", "delta_p_ai", "flipped", "style", "generator",
]  # fmt: skip


def finish_scores(raw: pd.DataFrame) -> pd.DataFrame:
    """Add predicted / correct, and the shift against the same model's score on the
    unaugmented image (delta_p_ai, flipped). Rows keep their order."""
    df = raw.copy()
    df["predicted"] = np.where(df["p_ai"] >= df["p_human"], "ai", "human")
    df["correct"] = df["predicted"] == df["truth"]
    base = df.loc[df["variant"] == IDENTITY, ["sample", "model", "p_ai", "predicted"]]
    base = base.rename(columns={"p_ai": "_base_p_ai", "predicted": "_base_predicted"})
    df = df.merge(base, on=["sample", "model"], how="left", validate="many_to_one")
    df["delta_p_ai"] = df["p_ai"] - df["_base_p_ai"]
    df["flipped"] = (df["predicted"] != df["_base_predicted"]) & df["_base_predicted"].notna()
    return df[SCORE_COLUMNS].reset_index(drop=True)


def summarise(scores: pd.DataFrame) -> pd.DataFrame:
    """model x op x variant (with its severity): how far and how often scores move."""
    df = scores.assign(abs_delta=scores["delta_p_ai"].abs())
    keys = ["model", "op", "variant"]
    summary = (
        df.groupby(keys, sort=False, dropna=False)
        .agg(
            severity=("severity", "first"),
            n=("p_ai", "size"),
            mean_p_ai=("p_ai", "mean"),
            mean_delta_p_ai=("delta_p_ai", "mean"),
            mean_abs_delta_p_ai=("abs_delta", "mean"),
            max_abs_delta_p_ai=("abs_delta", "max"),
            flip_rate=("flipped", "mean"),
            accuracy=("correct", "mean"),
        )
        .reset_index()
    )
    return summary


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
    cols = ["subject", "truth", "edit", "model", "ai_pct", "human_pct", "predicted", "correct", "delta_ai_pct_vs_original", "sample"]
    return df[cols].reset_index(drop=True)


def study_table_wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per subject x edit, one column pair (AI %, human %) per model: the layout a
    person compares with the study's published table."""
    wide = table.pivot_table(index=["subject", "truth", "edit"], columns="model", values=["ai_pct", "human_pct"], sort=False)
    wide.columns = [f"{model} {stat.replace('_pct', ' %')}" for stat, model in wide.columns]
    return wide.reset_index()
