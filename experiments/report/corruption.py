"""The report's corruption score, first among the robustness results: the `corruption_score`
table with its intervals, and per op family the average precision and the ROC-AUC against severity
(experiments.stages.corruption; docs/corruption-score.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from experiments.report.figures import plain_label, plt, save
from experiments.report.html_tables import table_block, with_interval
from experiments.report.run_data import ReportRun
from experiments.report.severity_figures import add_series, severity_curves

MEASURE_NAMES = {
    "mean_fooling_rate": "mean fooling rate",
    "mean_error": "mean error",
    "relative_fooling_rate": "fooling rate relative to the reference",
    "relative_error": "error relative to the reference (ImageNet-C's CE)",
}
PANEL_INCHES = (3.2, 2.6)
CURVE_NAMES = {"average_precision": "average precision", "roc_auc": "ROC-AUC"}  # the curves drawn, in order


def score_table(score: pd.DataFrame) -> pd.DataFrame:
    """One row per model, one column per measure: 'value [low, high]'."""
    shown = score.assign(
        measure=score["measure"].map(MEASURE_NAMES).fillna(score["measure"]),
        cell=[with_interval(v, lo, hi, 3) for v, lo, hi in zip(score["value"], score["ci_low"], score["ci_high"])],
    )
    wide = shown.pivot(index="model", columns="measure", values="cell")
    wide = wide.reindex(index=list(dict.fromkeys(score["model"])), columns=list(dict.fromkeys(shown["measure"])))
    counts = score.drop_duplicates("model").set_index("model")[["n", "ops", "variants", "reference"]]
    return wide.join(counts).reset_index()


def ap_curves(curves: pd.DataFrame, path: Path, metric: str = "average_precision") -> Path:
    """One panel per op family: the metric against severity level (0 = unedited, then each op's
    severities in the grid's order), a line per model x op with its 95 % band."""
    edited = curves[curves["level"] > 0]
    families = list(dict.fromkeys(edited["family"]))
    cols = min(4, max(1, len(families)))
    rows = int(np.ceil(len(families) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL_INCHES[0] * cols, PANEL_INCHES[1] * rows + 0.4), squeeze=False,
                             sharey=True, layout="constrained")  # fmt: skip
    for ax, family in zip(axes.flat, families):
        ops = edited[edited["family"] == family]
        for (model, op), df in ops.groupby(["model", "op"], sort=False):
            base = curves[(curves["model"] == model) & (curves["level"] == 0)]
            line = pd.concat([base, df])
            ax.plot(line["level"], line[metric], marker="o", markersize=3, label=plain_label(f"{model}: {op}"))
            ax.fill_between(line["level"], line[f"{metric}_ci_low"], line[f"{metric}_ci_high"], alpha=0.15)
        ax.set_title(plain_label(family), fontsize=10)
        ax.set_xlabel("severity level (0 = unedited)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7, frameon=False)
    for ax in axes[:, 0]:
        ax.set_ylabel(CURVE_NAMES.get(metric, metric.replace("_", " ")), fontsize=9)
    for ax in list(axes.flat)[len(families) :]:
        ax.set_visible(False)
    return save(fig, path)


def in_units(curves: pd.DataFrame, metric: str, path: Path | None):
    """`metric` against each op's own parameter, in its units (augment's OP_INFO axis and unit), one
    panel per op and side of its neutral value, the unedited images drawn at the neutral value
    (severity_figures.severity_curves); saved to `path`, or the figure when `path` is None."""
    return severity_curves(curves, metric, path, ylabel=CURVE_NAMES.get(metric, metric), cols=4)


def curve_figures(run: ReportRun, curves: pd.DataFrame, metric: str) -> list:
    """The report's figures of `metric` against severity: single ops in their own units; chains,
    presets and combined edits (no one parameter) against their level, one panel per family."""
    if not (len(curves) and (curves["level"] > 0).any() and curves[metric].notna().any()):
        return []
    name = CURVE_NAMES[metric]
    stem = "corruption_ap" if metric == "average_precision" else f"corruption_{metric}"
    graded = add_series(curves)
    figures = []
    if len(graded):
        caption = f"{name[0].upper()}{name[1:]} against each edit's parameter, in its units, one panel per edit"
        figures.append(run.figure(in_units(curves, metric, run.img / f"{stem}.png"), caption))
    rest = curves[(curves["level"] > 0) & ~curves["variant"].isin(graded["variant"])]
    if len(rest):
        drawn = ap_curves(pd.concat([curves[curves["level"] == 0], rest]), run.img / f"{stem}_levels.png", metric)
        figures.append(run.figure(drawn, f"{name[0].upper()}{name[1:]} of chains, presets and combined edits by level"))
    return figures


def corruption_section(run: ReportRun) -> dict[str, object]:
    """The page's `corruption` block (None when the run has no corruption score): the score
    table and the per-family AP and ROC-AUC figures (experiments.report.build's SECTIONS)."""
    path, curves_path = run.run_dir / "corruption_score.parquet", run.run_dir / "corruption_curves.parquet"
    if not path.is_file():
        return {"corruption": None}
    score = pd.read_parquet(path)
    if score.empty:
        return {"corruption": None}
    curves = pd.read_parquet(curves_path) if curves_path.is_file() else pd.DataFrame()
    figures = [fig for metric in CURVE_NAMES for fig in curve_figures(run, curves, metric)]
    return {"corruption": {"table": table_block(score_table(score), "corruption_score", {}), "figures": figures}}
