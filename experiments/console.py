"""What a run prints when it ends: accuracy and the edits that moved the scores most, the fooling
rate per edit series, the evaluation metrics, the paired model comparison, the explanation summary,
the checks of the maps (pass, fail or inconclusive, with n), and where the time went.
Log lines only (logger "artxai"); nothing here writes a file."""

from __future__ import annotations

import logging
import sys
from collections.abc import Container
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.stages.scoring.tables import median_fooling_severity
from experiments.context import Timings

log = logging.getLogger("artxai")


# what start-up may have imported, in the order the start-up line names them (module -> name)
LIBRARIES = {
    "numpy": "numpy", "pandas": "pandas", "scipy": "scipy", "sklearn": "scikit-learn", "cv2": "OpenCV",
    "albumentations": "albumentations", "matplotlib": "matplotlib", "onnxruntime": "onnxruntime", "keras": "Keras",
    "torch": "PyTorch", "ray": "Ray",
}  # fmt: skip


def start_up_line(seconds: float, modules: Container[str] = sys.modules) -> str:
    """What a run's start-up cost and what it imported: the LIBRARIES found in `modules` (the
    interpreter's sys.modules by default), and whether TensorFlow was imported."""
    found = [name for module, name in LIBRARIES.items() if module in modules]
    tensorflow = "TensorFlow imported" if "tensorflow" in modules else "TensorFlow not imported"
    return f"start-up {seconds:.1f} s: {', '.join(found) or 'no large library'}; {tensorflow}"


def print_timings(timings: Timings, total: float) -> None:
    stages = ", ".join(f"{k} {v:.1f}" for k, v in timings.seconds.items())
    log.info("time (s): %s; other %.1f; total %.1f", stages, max(0.0, total - sum(timings.seconds.values())), total)


def print_result(
    run_dir: Path, scores: pd.DataFrame, summary: pd.DataFrame, skipped: pd.DataFrame, wrote_study: bool
) -> None:
    base = scores[scores["variant"] == "identity"]
    for model, group in base.groupby("model", sort=False):
        log.info("%s: accuracy on unedited samples %.3f (n=%d)", model, group["correct"].mean(), len(group))
    edited = summary[summary["op"] != "identity"]
    worst = edited.sort_values("mean_abs_delta_margin", ascending=False).head(5)
    if len(worst):
        log.info("largest mean |delta margin| (log p_ai - log p_human), signed mean delta p_ai, fooled and corrected:")
        for row in worst.itertuples():
            log.info(
                "  %-10s %-50s |dm| %.2f  dp %+.3f  fooled %.2f of %d, corrected %.2f of %d",
                row.model,
                row.variant[:50],
                row.mean_abs_delta_margin,
                row.mean_delta_p_ai,
                row.fooling_rate,
                row.n_correct,
                row.correction_rate,
                row.n_wrong,
            )
    log.info("skipped inputs: %d", len(skipped))
    log.info("tables: %s/{scores,summary%s}.parquet|.csv", run_dir, ",study_table" if wrote_study else "")


def print_fooling(summary: pd.DataFrame, curve: pd.DataFrame) -> None:
    """Per model x series at its harshest severity: the fooling rate with its interval and n, and
    the mildest severity that fools at least half of the images the model gets right unedited."""
    if curve.empty:
        return
    medians = median_fooling_severity(curve).set_index(["model", "series"])["median_fooling_severity"]
    rates = summary.set_index(["model", "variant"])
    log.info(
        "fooled (right when unedited, wrong when edited) at each series' harshest severity; the mildest that fools "
        "half:"
    )
    for (model, series), g in curve.groupby(["model", "series"], sort=False):
        r = rates.loc[(model, g["variant"].iloc[-1])]
        median = medians[(model, series)]
        log.info(
            "  %-8s %-44s at %-5g %.2f [%.2f, %.2f] of %d; half from %s",
            model,
            series[:44],
            g["severity"].iloc[-1],
            r["fooling_rate"],
            r["fooling_ci_low"],
            r["fooling_ci_high"],
            r["n_correct"],
            "not reached" if np.isnan(median) else f"{median:g}",
        )


def print_evaluation(run_dir: Path, metrics: pd.DataFrame) -> None:
    for model, df in metrics.groupby("model", sort=False):
        m = df.set_index("metric")
        log.info(
            "%s on the unedited images (n=%d): "
            + ", ".join(f"{k} %.3f [%.3f, %.3f]" for k in ("accuracy", "macro_f1", "roc_auc")),
            model,
            int(m.at["accuracy", "n"]),
            *(
                v
                for k in ("accuracy", "macro_f1", "roc_auc")
                for v in (m.at[k, "value"], m.at[k, "ci_low"], m.at[k, "ci_high"])
            ),
        )
    log.info(
        "evaluation: %s/{evaluation_metrics,evaluation_groups,confusion,robustness_metrics}.parquet, figures/", run_dir
    )


def print_model_comparison(run_dir: Path, table: pd.DataFrame) -> None:
    """Each pair of models on the same images: accuracies with their intervals, discordant counts, exact McNemar p."""
    log.info("model comparison on the same unedited images (accuracy [95% Wilson]; right by one only; exact McNemar):")
    for r in table.itertuples():
        log.info(
            "  %-14s %.3f [%.3f, %.3f] vs %-14s %.3f [%.3f, %.3f]  n=%d  only a %d, only b %d  p=%.3g",
            r.model_a, r.accuracy_a, r.accuracy_a_ci_low, r.accuracy_a_ci_high, r.model_b, r.accuracy_b,
            r.accuracy_b_ci_low, r.accuracy_b_ci_high, r.n, r.a_only, r.b_only, r.mcnemar_p,
        )  # fmt: skip
    log.info("table: %s/model_comparison.parquet|.csv", run_dir)


def print_explanations(run_dir: Path, summary: pd.DataFrame) -> None:
    log.info("explanations (mean over maps; drift over edited images; sanity after randomising every layer):")
    log.info(
        "  %-8s %-16s %9s %9s %9s %9s %9s  %s",
        "model",
        "method",
        "drift rho",
        "drift IoU",
        "del AUC",
        "ins AUC",
        "sanity rho",
        "vs random (logit del / ins)",
    )
    for r in summary.itertuples():
        sanity = getattr(r, "sanity_spearman_all_random", float("nan"))
        versus = (
            f"{getattr(r, 'deletion_vs_random', '')} / {getattr(r, 'insertion_vs_random', '')}"
            if r.method != "random"
            else ""
        )
        log.info(
            "  %-8s %-16s %9.3f %9.3f %9.3f %9.3f %9.3f  %s",
            r.model,
            r.method,
            r.drift_spearman,
            r.drift_top_iou,
            r.deletion_auc,
            r.insertion_auc,
            sanity,
            versus,
        )
    log.info(
        "pictures: %s/explain/grids/<model>/<sample>.png; tables: explanations, explanation_sanity, "
        "explanation_summary, explanation_vs_random",
        run_dir,
    )


def print_explanation_checks(run_dir: Path, checks: pd.DataFrame) -> None:
    """The checks of the maps counted by verdict, then one line per check that is not a pass: its
    difference from the reference with interval and n, and for an inconclusive one the n at which
    the observed difference would pass (experiments.report.explanation_checks words them)."""
    from experiments.report.explanation_checks import CHECK_NAMES, cell, sentence, words

    if checks.empty:
        return
    log.info("checks of the maps: %s", sentence(checks))
    shown = checks[~words(checks).isin(["pass", "not_measured"])]
    for r in shown.to_dict("records"):
        log.info("  %-8s %-12s %-38s %s", r["model"], r["method"], CHECK_NAMES.get(r["check"], r["check"]), cell(r))
    log.info("table: %s/explanation_checks.parquet|.csv", run_dir)
