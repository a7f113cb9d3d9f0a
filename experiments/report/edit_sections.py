"""The report's sections on the edits: which edits fool each model (table), how much editing it
takes (mildest severity table, severity panels) and which way scores move (heatmaps). Each
`*_section` returns its entries of the index page's template context.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from augment import IDENTITY
from experiments.report import heatmap, severity_figures
from experiments.report.html_tables import Tint, count_of, table_block, with_interval
from augment.naming import describe, number
from experiments.report.run_data import ReportRun
from experiments.rundir.runfolder import remove
from experiments.stages.scoring.tables import graded_edits, median_fooling_severity, series_titles

MAX_HEATMAP_SUBJECTS = 40  # more columns than this and a heatmap cannot be read
TOP_EDITS_SHOWN = 12  # rows of the fooling table shown before "all edits"
PANELS_SHOWN = 8  # severity panels shown before "more edit families" (two rows on a desktop)


def fooling_table(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per model x edit (replicates pooled), most fooling first: the fooling and correction
    rates with their intervals and n, and how far and which way the scores moved."""
    rows = summary[summary["variant"] != IDENTITY].copy()
    rows = rows.sort_values(
        ["fooling_rate", "mean_abs_delta_margin"], ascending=False, kind="stable", na_position="last"
    )

    def interval(value: str, ci: str, digits: int = 2, signed: bool = False) -> list[str]:
        bounds = zip(rows[value], rows[f"{ci}_ci_low"], rows[f"{ci}_ci_high"])
        return [with_interval(v, lo, hi, digits, signed=signed) for v, lo, hi in bounds]

    out = pd.DataFrame({
        "model": rows["model"],
        "edit": rows["variant"].map(describe),
        "fooled": interval("fooling_rate", "fooling"),
        "of right answers": [
            count_of(v * n, n) if np.isfinite(v) else "" for v, n in zip(rows["fooling_rate"], rows["n_correct"])
        ],
        "corrected": interval("correction_rate", "correction"),
        "wrong when unedited": rows["n_wrong"].astype(int),
        "mean Δ margin": interval("mean_delta_margin", "mean_delta_margin", 1, signed=True),
        "moved towards AI": [f"{v:.0%}" for v in rows["share_towards_ai"]],
        "mean Δ p(AI)": rows["mean_delta_p_ai"],
        "draws": rows["n_replicates"].astype(int),
    })  # fmt: skip
    numbers = pd.DataFrame({
        "fooled": rows["fooling_rate"], "corrected": rows["correction_rate"],
        "mean Δ margin": rows["mean_delta_margin"], "moved towards AI": rows["share_towards_ai"],
    })  # fmt: skip
    return out.reset_index(drop=True), numbers.reset_index(drop=True)


FOOLING_TINTS = {
    "fooled": Tint("rate"), "corrected": Tint("rate"), "mean Δ margin": Tint("signed"),
    "moved towards AI": Tint("p_ai"),
    "mean Δ p(AI)": Tint("signed", limit=1.0),
}  # fmt: skip


def mildest_table(curve: pd.DataFrame, scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per model x edit family: the grid tried, the mildest severity that fools half of the
    images right when unedited (at that severity or milder), and the share fooled by the
    harshest, with its interval."""
    medians = median_fooling_severity(curve)
    titles = series_titles(graded_edits(scores))
    last = curve.groupby(["model", "series"], sort=False).tail(1).set_index(["model", "series"])
    rows = []
    for r in medians.itertuples():
        grid = curve[(curve["model"] == r.model) & (curve["series"] == r.series)]["severity"]
        end = last.loc[(r.model, r.series)]
        median = r.median_fooling_severity
        rows.append({
            "model": r.model, "edit": titles.get(r.series, r.series),
            "severities tried": ", ".join(number(v) for v in grid),
            "fools half from": "not reached" if np.isnan(median) else number(median),
            "fooled at some severity": with_interval(end["share_fooled_at_or_below"], end["ci_low"], end["ci_high"]),
            "of right answers": count_of(end["fooled_at_or_below"], int(end["n"])),
            "_share": end["share_fooled_at_or_below"],
        })  # fmt: skip
    df = pd.DataFrame(rows)
    if df.empty:
        return df, df
    df = df.sort_values("_share", ascending=False, kind="stable").reset_index(drop=True)
    return df.drop(columns="_share"), pd.DataFrame({"fooled at some severity": df["_share"]})


def severity_panel_figures(run: ReportRun) -> dict[str, list[dict]]:
    """The report's severity panels: fooling rate (Wilson band) and mean Δ margin (bootstrap
    band) per edit family, the same family order in both (by fooling, then by shift), one
    y-scale per figure, replicate draws as dots."""
    bands = {"fooling_ci_low": "fooling_rate_ci_low", "fooling_ci_high": "fooling_rate_ci_high"}
    points = severity_figures.add_series(run.tables["summary"]).rename(columns=bands)
    if points.empty:
        return {"fooling": [], "margin": []}
    replicates = severity_figures.replicate_points(run.scores)
    effect = points.groupby("series", sort=False).agg(
        f=("fooling_rate", "max"), m=("mean_delta_margin", lambda v: v.abs().max())
    )
    order = list(effect.sort_values(["f", "m"], ascending=False, kind="stable").index)
    for old in run.img.glob("severity_*.png"):  # a rerun with fewer families must not leave stale panels
        remove(run.run_dir, old)
    made = {}
    for key, metric, ylabel, ylim in (
        ("fooling", "fooling_rate", "share of right answers fooled", (-0.03, 1.03)),
        ("margin", "mean_delta_margin", "mean Δ margin (log-odds)\n+ towards AI, − towards human", None),
    ):
        panels = severity_figures.severity_panels(
            points, metric, ylabel, run.img, f"severity_{key}", replicates=replicates, order=order, ylim=ylim
        )
        made[key] = [
            run.figure(p["path"], f"{ylabel.splitlines()[0]} against the severity of {p['title']}", "") for p in panels
        ]
    return made


def heatmap_figures(run: ReportRun) -> tuple[list[dict], str]:
    """One edit x subject heatmap per model, or a note saying why there is none."""
    scores, made = run.scores, []
    for m in scores.loc[scores["variant"] != IDENTITY, "model"].unique():
        if scores.loc[scores["model"] == m, "subject"].nunique() > MAX_HEATMAP_SUBJECTS:
            subjects = scores["subject"].nunique()
            return made, (
                f"No heatmap: {subjects:,} subjects are too many columns to read; the curves and tables above "
                "summarise them."
            )
        path = heatmap.delta_heatmap(scores, m, run.img / f"delta_{m}.png")
        made.append(run.figure(path, f"Change in p(AI) per edit and subject, {m}"))
    return made, ""


def edits_section(run: ReportRun) -> dict[str, object]:
    """Which edits fool the model, how much it takes, which way scores move; nothing when the
    run scored its images unedited only."""
    fooling = mildest = None
    heatmaps, severity, heatmap_note = [], {"fooling": [], "margin": []}, ""
    if run.edited:
        fooling_df, fooling_numbers = fooling_table(run.tables["summary"])
        top, more = fooling_df.head(TOP_EDITS_SHOWN), len(fooling_df) > TOP_EDITS_SHOWN
        fooling = {
            "top": table_block(top, "fooling_top", FOOLING_TINTS, 3, numbers=fooling_numbers.head(TOP_EDITS_SHOWN)),
            "all": table_block(fooling_df, "fooling_all", FOOLING_TINTS, 3, numbers=fooling_numbers) if more else None,
            "rows": len(fooling_df),
        }
        if len(run.curve):
            mild_df, mild_numbers = mildest_table(run.curve, run.scores)
            mildest = table_block(mild_df, "mildest", {"fooled at some severity": Tint("rate")}, numbers=mild_numbers)
        severity = severity_panel_figures(run)
        heatmaps, heatmap_note = heatmap_figures(run)
    return {
        "fooling": fooling, "mildest": mildest, "severity": severity, "heatmaps": heatmaps,
        "heatmap_note": heatmap_note,
        "panels_shown": PANELS_SHOWN,
    }  # fmt: skip
