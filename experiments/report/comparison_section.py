"""The report's training comparison: every pair of the run's models on the same test images
(table `model_comparison`, experiments.stages.model_comparison), accuracies with their
intervals, the discordant counts and the exact McNemar p-value; a model whose training did not
beat chance (its card's training warning) is said under the table."""

from __future__ import annotations

import pandas as pd

from experiments.report.html_tables import table_block, with_interval
from experiments.report.run_data import ReportRun, read_table
from experiments.report.training_warnings import training_warning


def comparison_block(table: pd.DataFrame) -> dict:
    """The table as the report shows it: each accuracy with its interval, then the paired test."""
    acc = {
        side: [with_interval(v, lo, hi, 3) for v, lo, hi in zip(
            table[f"accuracy_{side}"], table[f"accuracy_{side}_ci_low"], table[f"accuracy_{side}_ci_high"])]
        for side in ("a", "b")
    }  # fmt: skip
    shown = pd.DataFrame({
        "model a": table["model_a"], "model b": table["model_b"], "n": table["n"],
        "accuracy a": acc["a"], "accuracy b": acc["b"],
        "right by a only": table["a_only"], "right by b only": table["b_only"],
        "exact McNemar p": table["mcnemar_p"].map(lambda p: f"{p:.3g}"),
    })  # fmt: skip
    return table_block(shown, "model_comparison", {})


def comparison_section(run: ReportRun) -> dict[str, object]:
    """The page section, when the run wrote `model_comparison`."""
    table = read_table(run.run_dir, "model_comparison")
    if table is None or table.empty:
        return {"model_comparison_table": None, "model_comparison_warnings": []}
    models = list(dict.fromkeys([*table["model_a"], *table["model_b"]]))
    warned = [{"model": m, "warning": w} for m in models if (w := training_warning(run.run_dir, m))]
    return {"model_comparison_table": comparison_block(table), "model_comparison_warnings": warned}
