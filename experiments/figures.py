"""Figures from a run's tables (seaborn / Matplotlib, Agg backend), each saved atomically as PNG.

Pure functions of DataFrames: the runner calls them after writing the tables, and
`python -m experiments.report` can call them again on a finished run.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from augment import base_variant_id  # noqa: E402
from experiments.atomic import atomic_write  # noqa: E402


def save(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)
    return path


def confusion_matrix(confusion: pd.DataFrame, model: str, path: Path) -> Path:
    table = confusion[confusion["model"] == model].pivot(index="truth", columns="predicted", values="count")
    fig, ax = plt.subplots(figsize=(3.6, 3), layout="constrained")
    sns.heatmap(table, annot=True, fmt="d", cmap="Blues", cbar=False, ax=ax)
    ax.set_title(f"{model}: confusion matrix")
    return save(fig, path)


def group_accuracy(groups: pd.DataFrame, model: str, by: str, path: Path) -> Path:
    df = groups[(groups["model"] == model) & (groups["by"] == by)].sort_values("accuracy")
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(df) + 1.2), layout="constrained")
    ax.barh(df["group"], df["accuracy"], xerr=[df["accuracy"] - df["ci_low"], df["ci_high"] - df["accuracy"]], color="tab:blue", alpha=0.8, capsize=3)
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy (95% Wilson CI)")
    ax.set_title(f"{model}: accuracy per {by}")
    return save(fig, path)


def severity_curves(robust: pd.DataFrame, metric: str, path: Path) -> Path:
    """One panel per op: `metric` against severity, one line per model, CI band when present.
    The unedited score is drawn as a dashed line per model."""
    edited = robust[(robust["op"] != "identity") & (robust["op"] != "combined") & robust["severity"].notna()]
    ops = sorted(edited["op"].unique())
    cols = min(4, max(1, len(ops)))
    rows = int(np.ceil(len(ops) / cols)) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows), squeeze=False, layout="constrained")
    palette = dict(zip(robust["model"].unique(), sns.color_palette("tab10")))
    for ax, op in zip(axes.flat, ops):
        for model, df in edited[edited["op"] == op].groupby("model", sort=False):
            df = df.sort_values("severity")
            ax.plot(df["severity"], df[metric], marker="o", color=palette[model], label=model)
            if f"{metric}_ci_low" in df:
                ax.fill_between(df["severity"], df[f"{metric}_ci_low"], df[f"{metric}_ci_high"], color=palette[model], alpha=0.2)
            base = robust[(robust["model"] == model) & (robust["op"] == "identity")]
            if len(base):
                ax.axhline(base[metric].iloc[0], color=palette[model], linestyle="--", linewidth=0.8)
        ax.set_title(op, fontsize=9)
        ax.set_xlabel("severity", fontsize=8)
        ax.set_ylabel(metric.replace("_", " "), fontsize=8)
    for ax in list(axes.flat)[len(ops) :]:
        ax.set_visible(False)
    if ops:
        axes.flat[0].legend(fontsize=7)
    return save(fig, path)


def delta_heatmap(scores: pd.DataFrame, model: str, path: Path) -> Path:
    """Edit x subject, coloured by delta p_ai (red: towards AI, blue: towards human). Edits are
    rows, so their long names read left to right."""
    df = scores[(scores["model"] == model) & (scores["variant"] != "identity")]
    df = df.assign(variant=df["variant"].map(base_variant_id))  # replicates of an edit averaged
    table = df.pivot_table(index="variant", columns="subject", values="delta_p_ai", aggfunc="mean", sort=False)
    short = lambda names, n: [str(v) if len(str(v)) <= n else str(v)[: n - 3] + "..." for v in names]  # noqa: E731
    table.index, table.columns = short(table.index, 64), short(table.columns, 32)
    label_room = 0.075 * max(len(c) for c in table.columns)  # subject names stand vertically below
    fig, ax = plt.subplots(figsize=(0.45 * table.shape[1] + 6.5, 0.22 * table.shape[0] + 2.8 + label_room), layout="constrained")
    sns.heatmap(table, cmap="RdBu_r", center=0, vmin=-1, vmax=1, ax=ax, cbar_kws={"label": "Δ p_ai", "shrink": 0.6})
    ax.set_title(f"{model}: change in p(AI) per edit and subject")
    ax.set_xlabel("subject")
    ax.set_ylabel("edit")
    ax.tick_params(labelsize=7)
    return save(fig, path)


def reliability_diagram(calibration: pd.DataFrame, model: str, path: Path) -> Path:
    """Observed share of AI images against mean p_ai per bin (Wilson intervals), the diagonal
    where a calibrated model lies, and how many images each bin holds."""
    df = calibration[(calibration["model"] == model) & (calibration["n"] > 0)]
    fig, (ax, bars) = plt.subplots(2, 1, figsize=(4.2, 4.8), height_ratios=[3, 1], sharex=True, layout="constrained")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="calibrated")
    ax.errorbar(df["mean_p_ai"], df["share_ai"], yerr=[df["share_ai"] - df["ci_low"], df["ci_high"] - df["share_ai"]], marker="o", capsize=3, label=model)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("observed share of AI images (95% Wilson CI)", fontsize=8)
    ax.set_title(f"{model}: reliability of p(AI)")
    ax.legend(fontsize=7)
    bars.bar((df["bin_low"] + df["bin_high"]) / 2, df["n"], width=df["bin_high"] - df["bin_low"], color="tab:blue", alpha=0.6, edgecolor="white")
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
        ax.errorbar(r["shift"], i, xerr=[[r["shift"] - r["shift_ci_low"]], [r["shift_ci_high"] - r["shift"]]], fmt="o", capsize=3,
                    color=colours.get(r["class"], "k"), markerfacecolor="none" if r["verdict"] != "depends" else colours.get(r["class"], "k"))  # fmt: skip
    ax.set_yticks(range(len(df)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("shift in mean p(AI), normalised - as is (95% CI); filled: depends")
    ax.set_title(f"{model}: does the score follow the file?")
    return save(fig, path)


def cross_generator_matrix(matrix: pd.DataFrame, model: str, path: Path) -> Path:
    """Trained-on x tested-on ROC-AUC (the test set's humans against one generator's images),
    each cell annotated with its 95 % interval."""
    df = matrix[matrix["model"] == model]
    table = df.pivot(index="trained_on", columns="tested_on", values="roc_auc")
    order = [g for g in dict.fromkeys(df["trained_on"]) if g in table.index]
    table = table.loc[order]
    notes = df.assign(note=[f"{v:.2f}\n[{lo:.2f}, {hi:.2f}]" for v, lo, hi in zip(df["roc_auc"], df["roc_auc_ci_low"], df["roc_auc_ci_high"])])
    notes = notes.pivot(index="trained_on", columns="tested_on", values="note").loc[order, table.columns]
    fig, ax = plt.subplots(figsize=(1.9 * table.shape[1] + 3.6, 0.8 * table.shape[0] + 1.6), layout="constrained")
    sns.heatmap(table, annot=notes.to_numpy(), fmt="", cmap="RdYlGn", vmin=0, vmax=1, center=0.5, ax=ax, cbar_kws={"label": "ROC-AUC (0.5: chance)"})
    ax.tick_params(axis="y", rotation=0)
    ax.set_xlabel("tested on (humans + this generator)")
    ax.set_ylabel("trained on (+ humans)")
    ax.set_title(f"{model}: cross-generator ROC-AUC")
    return save(fig, path)
