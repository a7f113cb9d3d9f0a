"""The verdict table that opens the report's Explanations section: per method and model, pass,
fail or inconclusive on each check of the maps (experiments.stages.explanations.checks), each with
its interval and n, and for an inconclusive one the n at which its observed difference would pass;
one sentence counting the three verdicts and naming the methods that pass every check, or saying
none does; and each findings card's line on its model's checks."""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.report.html_tables import table_block, with_interval
from experiments.stages.explanations.checks import CHECKS, NOT_MEASURED, VERDICT_WORDS

CHECK_NAMES = {
    "road_morf": "ROAD MoRF vs random",
    "road_morf_blurred": "ROAD MoRF vs blurred random",
    "road_lerf": "ROAD LeRF vs random",
    "road_lerf_blurred": "ROAD LeRF vs blurred random",
    "pointing": "points at planted patches",
    "randomisation": "changes when the model is randomised",
    "noise": "stable under small noise",
}
KINDS = ("pass", "fail", "inconclusive")  # the verdicts, in the order the sentence counts them


def words(checks: pd.DataFrame) -> pd.Series:
    """Each row's verdict word (a run written before the three words read through VERDICT_WORDS)."""
    return checks["verdict"].map(lambda v: VERDICT_WORDS.get(v, v))


def reach(row: pd.Series) -> str:
    """'pass from n 24', or 'a pass not reachable' when the estimate lies on the worse side."""
    needed = row.get("n_to_pass", np.nan)
    if needed is None or not np.isfinite(needed):
        return "a pass not reachable at any n"
    return f"pass from n {int(needed)}"


def cell(row: pd.Series) -> str:
    """'pass: -0.83 [-1.95, -0.03], n 6' (the difference from the reference and its interval);
    an inconclusive one adds the n at which its observed difference would pass."""
    word = VERDICT_WORDS.get(row["verdict"], row["verdict"])
    if word == NOT_MEASURED:
        return "not measured"
    text = (
        f"{word}: {with_interval(row['difference'], row['ci_low'], row['ci_high'], 2, signed=True)}, n {int(row['n'])}"
    )
    return f"{text}; {reach(row)}" if word == "inconclusive" else text


def verdict_table(checks: pd.DataFrame) -> pd.DataFrame:
    """One row per model x method, one column per check (in CHECKS' order) that the run has,
    'not measured' where a model or method has no data for it."""
    present = [c for c in CHECKS if c in set(checks["check"])]
    rows = []
    for (model, method), g in checks.groupby(["model", "method"], sort=False):
        by_check = {r["check"]: r for _, r in g.iterrows()}
        rows.append(
            {"model": model, "method": method}
            | {CHECK_NAMES[c]: cell(by_check[c]) if c in by_check else "not measured" for c in present}
        )
    return pd.DataFrame(rows)


def counts(checks: pd.DataFrame) -> str:
    """'34 checks measured (n 5-8): 16 pass, 3 fail, 15 inconclusive'; '' when none was."""
    found = words(checks)
    measured = checks[found != NOT_MEASURED]
    if measured.empty:
        return ""
    n_low, n_high = int(measured["n"].min()), int(measured["n"].max())
    spread = f"n {n_low}" if n_low == n_high else f"n {n_low}-{n_high}"
    tally = ", ".join(f"{int((found == k).sum())} {k}" for k in KINDS)
    return f"{len(measured)} check{'s' if len(measured) != 1 else ''} measured ({spread}): {tally}"


def sentence(checks: pd.DataFrame) -> str:
    """The three verdicts counted, then which methods pass every check (on every model), or that
    none does; checks with no data anywhere are named as not measured."""
    found = words(checks)
    measured = [c for c in CHECKS if c in set(checks.loc[found != NOT_MEASURED, "check"])]
    missing = [CHECK_NAMES[c] for c in CHECKS if c not in measured and c in set(checks["check"])]
    if not measured:
        return "No check of the maps could be measured in this run."
    passing = []
    for method, g in checks.assign(word=found).groupby("method", sort=False):
        if all(set(x.loc[x["word"] == "pass", "check"]) >= set(measured) for _, x in g.groupby("model")):
            passing.append(method)
    tail = f" (not measured in this run: {', '.join(missing)})" if missing else ""
    verdict = (
        f"Passes every check on every model: {', '.join(passing)}{tail}."
        if passing
        else f"No method passes every check on every model{tail}."
    )
    return f"{counts(checks)}. {verdict}"


def add_check_findings(findings: list[dict], checks: pd.DataFrame | None) -> None:
    """Each findings card's `checks`: its model's verdicts counted and the methods that pass every
    check on it; nothing without checks."""
    if checks is None or checks.empty:
        return
    for f in findings:
        mine = checks[checks["model"] == f["model"]]
        tally = counts(mine)
        if not tally:
            continue
        found = words(mine)
        measured = set(mine.loc[found != NOT_MEASURED, "check"])
        passing = [m for m, g in mine.assign(word=found).groupby("method", sort=False)
                   if set(g.loc[g["word"] == "pass", "check"]) >= measured]  # fmt: skip
        f["checks"] = {"tally": tally, "passing": passing}


def checks_block(checks: pd.DataFrame | None) -> dict[str, object] | None:
    """{'table': a table block, 'sentence': the one-line verdict}; None without checks."""
    if checks is None or checks.empty:
        return None
    table = verdict_table(checks)
    return {
        "table": table_block(table, "explanation_checks", {}, 2, verdicts=tuple(CHECK_NAMES.values())),
        "sentence": sentence(checks),
    }
