"""Figures from a run's tables (seaborn / Matplotlib, Agg backend), each saved atomically as PNG:
what every figure shares (the backend, `save`, `plain_label`) and the evaluation's, the audit's and
the cross-generator matrix's figures. The severity curves and panels are in
experiments.report.severity_figures, the edit x subject heatmap in experiments.report.heatmap.

Pure functions of DataFrames: the runner calls them after writing the tables, and
`python -m experiments.report` can call them again on a finished run.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

if not matplotlib.get_backend().startswith("module://"):  # a notebook keeps its inline backend
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the figure modules import plt from here: the backend is set first)
import pandas as pd  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
import seaborn as sns  # noqa: E402

from experiments.rundir.atomic import atomic_write  # noqa: E402
from xai.text import printable  # noqa: E402

__all__ = ["plt", "save", "plain_label", "PNG_COMPRESSION"]

PNG_COMPRESSION = 1  # zlib level: files about a third larger than at the default 6, written several times faster


def plain_label(text: object) -> str:
    """A name from outside (subject, style, generator) as a Matplotlib label: control and bidi
    characters as visible escapes (xai.text.printable), `$` never starting mathtext."""
    return printable(text).replace("$", r"\$")


def save(fig, path: Path, dpi: int = 100) -> Path:
    atomic_write(
        path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESSION})
    )
    plt.close(fig)
    return path


def confusion_matrix(confusion: pd.DataFrame, model: str, path: Path) -> Path:
    table = confusion[confusion["model"] == model].pivot(index="truth", columns="predicted", values="count")
    fig, ax = plt.subplots(figsize=(3.6, 3))
    fig.subplots_adjust(left=0.2, right=0.96, bottom=0.16, top=0.9)  # fixed: a layout engine draws twice
    sns.heatmap(table, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set_title(f"{model}: confusion matrix")
    return save(fig, path)


def group_accuracy(groups: pd.DataFrame, model: str, by: str, path: Path) -> Path:
    df = groups[(groups["model"] == model) & (groups["by"] == by)].sort_values("accuracy")
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(df) + 1.2), layout="constrained")
    ax.barh(
        df["group"].map(plain_label),
        df["accuracy"],
        xerr=[df["accuracy"] - df["ci_low"], df["ci_high"] - df["accuracy"]],
        color="tab:blue",
        alpha=0.8,
        capsize=3,
    )
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy (95% Wilson CI)")
    ax.set_title(f"{model}: accuracy per {by}")
    return save(fig, path)


def reliability_diagram(calibration: pd.DataFrame, model: str, path: Path) -> Path:
    """Observed share of AI images against mean p_ai per bin (Wilson intervals), the diagonal
    where a calibrated model lies, and how many images each bin holds."""
    df = calibration[(calibration["model"] == model) & (calibration["n"] > 0)]
    fig, (ax, bars) = plt.subplots(2, 1, figsize=(4.2, 4.8), height_ratios=[3, 1], sharex=True)
    fig.subplots_adjust(left=0.17, right=0.97, bottom=0.1, top=0.94, hspace=0.08)  # fixed: a layout engine draws twice
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="calibrated")
    ax.errorbar(
        df["mean_p_ai"],
        df["share_ai"],
        yerr=[df["share_ai"] - df["ci_low"], df["ci_high"] - df["share_ai"]],
        marker="o",
        capsize=3,
        label=model,
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("observed share of AI images (95% Wilson CI)", fontsize=8)
    ax.set_title(f"{model}: reliability of p(AI)")
    ax.legend(fontsize=7)
    bars.bar(
        (df["bin_low"] + df["bin_high"]) / 2,
        df["n"],
        width=df["bin_high"] - df["bin_low"],
        color="tab:blue",
        alpha=0.6,
        edgecolor="white",
    )
    bars.set_xlabel("p(AI), binned")
    bars.set_ylabel("images", fontsize=8)
    return save(fig, path)


def audit_shifts(audit: pd.DataFrame, model: str, min_shift: float, path: Path) -> Path:
    """Per factor and class: the mean shift in p_ai when that factor is normalised, with its 95 %
    interval; the grey band is +-min_shift, inside which no shift counts as a dependence."""
    df = audit[audit["model"] == model].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.4, 0.32 * len(df) + 1.4), layout="constrained")
    ax.axvspan(-min_shift, min_shift, color="0.9")
    ax.axvline(0, color="0.5", linewidth=0.8)
    colours = {"ai": "tab:red", "human": "tab:blue"}
    labels = [f"{f} ({c})" for f, c in zip(df["factor"], df["class"])]
    for i, r in enumerate(df.to_dict("records")):
        colour = colours.get(r["class"], "k")
        error = [[r["shift"] - r["shift_ci_low"]], [r["shift_ci_high"] - r["shift"]]]
        face = "none" if r["verdict"] != "depends" else colour
        ax.errorbar(r["shift"], i, xerr=error, fmt="o", capsize=3, color=colour, markerfacecolor=face)
    ax.set_yticks(range(len(df)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("shift in mean p(AI), normalised - as is (95% CI); filled: depends")
    ax.set_title(f"{model}: does the score follow the file?")
    return save(fig, path)


def cross_generator_matrix(matrix: pd.DataFrame, model: str, path: Path) -> Path:
    """Trained-on x tested-on ROC-AUC (the test set's humans against one generator's images),
    each cell annotated with its 95 % interval; the row of a copy whose training did not beat chance
    (`at_chance`) is hatched and labelled so."""
    df = matrix[matrix["model"] == model]
    table = df.pivot(index="trained_on", columns="tested_on", values="roc_auc")
    order = [g for g in dict.fromkeys(df["trained_on"]) if g in table.index]
    table = table.loc[order]
    notes = df.assign(
        note=[
            f"{v:.2f}\n[{lo:.2f}, {hi:.2f}]"
            for v, lo, hi in zip(df["roc_auc"], df["roc_auc_ci_low"], df["roc_auc_ci_high"])
        ]
    )
    notes = notes.pivot(index="trained_on", columns="tested_on", values="note").loc[order, table.columns]
    fig, ax = plt.subplots(figsize=(1.9 * table.shape[1] + 3.6, 0.8 * table.shape[0] + 1.6), layout="constrained")
    sns.heatmap(
        table,
        annot=notes.to_numpy(),
        fmt="",
        cmap="RdYlGn",
        vmin=0,
        vmax=1,
        center=0.5,
        ax=ax,
        cbar_kws={"label": "ROC-AUC (0.5: chance)"},
    )
    chance = set(df.loc[df["at_chance"].astype(bool), "trained_on"]) if "at_chance" in df else set()
    for i, trained_on in enumerate(order):  # a copy whose training did not beat chance: hatched, not read
        if trained_on in chance:
            ax.add_patch(Rectangle((0, i), table.shape[1], 1, fill=False, hatch="///", edgecolor="0.3", lw=0))
    ax.set_yticks([i + 0.5 for i in range(len(order))], [f"{t} (at chance)" if t in chance else t for t in order])
    ax.tick_params(axis="y", rotation=0)
    ax.set_xlabel("tested on (humans + this generator)")
    ax.set_ylabel("trained on (+ humans)")
    ax.set_title(f"{model}: cross-generator ROC-AUC")
    return save(fig, path)
