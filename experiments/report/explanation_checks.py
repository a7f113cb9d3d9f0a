"""The verdict table that opens the report's Explanations section: per method and model, pass or
fail on each check of the maps (experiments.stages.explanations.checks), each with its interval
and n, and one sentence naming the methods that pass every check, or saying none does."""

from __future__ import annotations

import pandas as pd

from experiments.report.html_tables import table_block, with_interval
from experiments.stages.explanations.checks import CHECKS

CHECK_NAMES = {
    "road_morf": "ROAD MoRF vs random",
    "road_lerf": "ROAD LeRF vs random",
    "pointing": "points at planted patches",
    "randomisation": "changes when the model is randomised",
    "noise": "stable under small noise",
}


def cell(row: pd.Series) -> str:
    """'pass: -0.83 [-1.95, -0.03], n 6' (the difference from the reference and its interval)."""
    if row["verdict"] == "not_measured":
        return "not measured"
    word = "pass" if row["passed"] else "fail"
    return (
        f"{word}: {with_interval(row['difference'], row['ci_low'], row['ci_high'], 2, signed=True)}, n {int(row['n'])}"
    )


def verdict_table(checks: pd.DataFrame) -> pd.DataFrame:
    """One row per model x method, one column per check (in CHECKS' order), 'not measured' where
    the run has no data for it."""
    rows = []
    for (model, method), g in checks.groupby(["model", "method"], sort=False):
        by_check = {r["check"]: r for _, r in g.iterrows()}
        rows.append(
            {"model": model, "method": method}
            | {CHECK_NAMES[c]: cell(by_check[c]) if c in by_check else "not measured" for c in CHECKS}
        )
    return pd.DataFrame(rows)


def sentence(checks: pd.DataFrame) -> str:
    """Which methods pass every check (on every model), or that none does; checks with no data
    anywhere are named as not measured."""
    measured = [c for c in CHECKS if c in set(checks.loc[checks["verdict"] != "not_measured", "check"])]
    missing = [CHECK_NAMES[c] for c in CHECKS if c not in measured]
    passing = []
    for method, g in checks.groupby("method", sort=False):
        per_model = g.groupby("model")
        if all(set(x.loc[x["passed"], "check"]) >= set(measured) for _, x in per_model):
            passing.append(method)
    tail = f" (not measured in this run: {', '.join(missing)})" if missing else ""
    if not measured:
        return "No check of the maps could be measured in this run."
    if passing:
        return f"Passes every check on every model: {', '.join(passing)}{tail}."
    return f"No method passes every check on every model{tail}."


def checks_block(checks: pd.DataFrame | None) -> dict[str, object] | None:
    """{'table': a table block, 'sentence': the one-line verdict}; None without checks."""
    if checks is None or checks.empty:
        return None
    table = verdict_table(checks)
    return {
        "table": table_block(table, "explanation_checks", {}, 2, verdicts=tuple(CHECK_NAMES.values())),
        "sentence": sentence(checks),
    }
