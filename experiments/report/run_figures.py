"""The figures a run writes to `figures/` when the scored images include both classes: per model,
the confusion matrix, the reliability diagram and accuracy per group (experiments.report.figures),
and accuracy and ROC-AUC against each edit family's severity (experiments.report.severity_figures).
Drawn from the evaluation stage's tables, after the stages, with the report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments.report import figures, severity_figures


def dataset_figures(models: list[str], tables: dict[str, pd.DataFrame], fig_dir: Path) -> None:
    """`tables`: the evaluation stage's (experiments.stages.evaluation.dataset_tables)."""
    groups, robust = tables["evaluation_groups"], tables["robustness_metrics"]
    for model in models:
        figures.confusion_matrix(tables["confusion"], model, fig_dir / f"confusion_{model}.png")
        figures.reliability_diagram(tables["calibration"], model, fig_dir / f"reliability_{model}.png")
        for by in ("style", "generator", "source"):
            if ((groups["model"] == model) & (groups["by"] == by)).any():
                figures.group_accuracy(groups, model, by, fig_dir / f"accuracy_by_{by}_{model}.png")
    if robust["severity"].notna().any():
        severity_figures.severity_curves(robust, "accuracy", fig_dir / "robustness_accuracy.png")
        severity_figures.severity_curves(robust, "roc_auc", fig_dir / "robustness_auc.png")
