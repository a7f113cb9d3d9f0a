"""Tables as the report shows them: readable headers, value and interval in one cell, the op's
default parameters left out, columns that hold one value for every row said once above the
table instead of repeated, numeric cells tinted by value, and sortable headers.

Built on pandas' Styler (background tints from a Matplotlib colour map, HTML-escaped text,
a fixed id per table so a report made again is byte-identical). A column is tinted by a `Tint`:
`rate` (0 to 1, darker = more), `signed` (blue below 0, red above, symmetric), `p_ai` (blue
towards human, red towards AI around 0.5). Every table gets class `sortable`; the report's few
lines of script sort by a header's column on click.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiments.naming import number

HEADERS = {
    "model": "model", "variant": "edit", "edit": "edit", "subject": "subject", "sample": "sample", "truth": "truth",
    "n": "images", "n_correct": "right when unedited", "n_wrong": "wrong when unedited", "n_replicates": "draws",
    "fooling_rate": "fooled", "correction_rate": "corrected", "mean_delta_margin": "mean Δ margin",
    "mean_delta_p_ai": "mean Δ p(AI)", "mean_abs_delta_p_ai": "mean |Δ p(AI)|", "share_towards_ai": "moved towards AI",
    "p_ai": "p(AI)", "delta_p_ai": "Δ p(AI)", "delta_margin": "Δ margin", "predicted": "predicted", "direction": "direction",
    "fooled": "fooled", "corrected": "corrected", "flipped": "flipped", "replicate": "draw", "method": "method",
    "drift_spearman": "drift ρ", "drift_top_iou": "top-10 % IoU", "deletion_auc": "deletion AUC", "insertion_auc": "insertion AUC",
    "metric": "metric", "value": "value", "exploratory": "exploratory (n < 30)", "accuracy": "accuracy", "group": "group", "by": "by",
    "reason": "reason", "mean_p_ai": "mean p(AI)",
}  # fmt: skip

METRIC_NAMES = {
    "accuracy": "accuracy", "precision_ai": "precision (AI)", "recall_ai": "recall (AI)", "f1_ai": "F1 (AI)",
    "precision_human": "precision (human)", "recall_human": "recall (human)", "f1_human": "F1 (human)", "macro_f1": "macro F1",
    "false_positive_rate": "human art called AI (FPR)", "false_negative_rate": "AI art called human (FNR)", "roc_auc": "ROC-AUC",
    "average_precision": "average precision", "expected_calibration_error": "expected calibration error",
}  # fmt: skip


def header(column: str) -> str:
    return HEADERS.get(column, column.replace("_", " "))


def with_interval(value: float, low: float, high: float, digits: int = 2, signed: bool = False) -> str:
    """'0.62 [0.31, 0.86]'; the value alone when the interval is missing; '' when it is."""
    if value is None or not np.isfinite(value):
        return ""
    fmt = f"{{:+.{digits}f}}" if signed else f"{{:.{digits}f}}"
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)):
        return fmt.format(value)
    return f"{fmt.format(value)}\u00a0[{fmt.format(low)},\u00a0{fmt.format(high)}]"  # never broken across lines


def count_of(k: float, n: int) -> str:
    """'5 of 8'; '2.7 of 8' when replicates make the count fractional."""
    return f"{number(round(float(k), 1))} of {n}"


def drop_constant(df: pd.DataFrame, keep: tuple[str, ...] = ()) -> tuple[pd.DataFrame, dict[str, object]]:
    """Columns with one value in every row (more than one row) removed, and returned as
    {column: value} so the table can say them once."""
    if len(df) < 2:
        return df, {}
    constant = {c: df[c].iloc[0] for c in df.columns if c not in keep and df[c].astype(str).nunique(dropna=False) == 1}
    return df.drop(columns=list(constant)), constant


def constants_line(constant: dict[str, object]) -> str:
    """'Every row: model cnn32, images 11.' (the columns `drop_constant` took out)."""
    if not constant:
        return ""
    shown = []
    for column, value in constant.items():
        if isinstance(value, (bool, np.bool_)):
            value = "yes" if value else "no"
        elif isinstance(value, (float, np.floating)):
            value = number(float(value))
        shown.append(f"{header(column)} {value}")
    return "Every row: " + ", ".join(shown) + "."


@dataclass(frozen=True)
class Tint:
    kind: str  # "rate" | "signed" | "p_ai"
    values: str | None = None  # column holding the numbers behind a text cell (e.g. "value [low, high]")
    limit: float | None = None  # for "signed": the value shown darkest (default: the largest |value|)


# colour map, and how far its ends are pushed past the data's (pandas' `low`/`high`): light tints,
# dark text stays readable on every cell
TINTS = {"rate": ("Oranges", 0.0, 0.9), "signed": ("RdBu_r", 0.6, 0.6), "p_ai": ("RdBu_r", 0.6, 0.6)}


VERDICT_COLOURS = {"better": "#d6efd9", "worse": "#f7d4d4", "no difference": "#eeeeee", "supported": "#d6efd9", "contradicted": "#f7d4d4", "inconclusive": "#eeeeee"}


def _verdict_css(text: object) -> str:
    word = str(text).split(":")[0].strip()
    return f"background-color: {VERDICT_COLOURS[word]}" if word in VERDICT_COLOURS else ""


def render(
    df: pd.DataFrame, table_id: str, tints: dict[str, Tint] | None = None, digits: int = 3, numbers: pd.DataFrame | None = None, verdicts: tuple[str, ...] = ()
) -> str:
    """An HTML table: headers from HEADERS, numbers with `digits`, text escaped, cells tinted
    per `tints` (column -> Tint; the numbers come from the same column of `numbers`, a frame
    aligned with `df`, when it has one: the value behind a 'value [low, high]' cell), and the
    `verdicts` columns (text starting 'better', 'worse', 'no difference', ...) green, red or
    grey. Empty string for an empty frame."""
    if df is None or df.empty:
        return ""
    df = df.reset_index(drop=True)
    numbers = df if numbers is None else numbers.reset_index(drop=True)
    shown = df.rename(columns=header)
    style = shown.style.hide(axis="index").set_uuid(table_id).set_table_attributes('class="sortable"')
    style = style.format(precision=digits, na_rep="", escape="html", thousands=None)
    for column in verdicts:
        if column in df:
            style = style.map(_verdict_css, subset=[header(column)])
    for column, tint in (tints or {}).items():
        if column not in df:
            continue
        source = tint.values or column
        values = pd.to_numeric((numbers if source in numbers else df)[source], errors="coerce").to_numpy(float)
        if not np.isfinite(values).any():
            continue
        cmap, low, high = TINTS[tint.kind]
        if tint.kind == "rate":
            vmin, vmax = 0.0, 1.0
        elif tint.kind == "p_ai":
            vmin, vmax = 0.0, 1.0
        else:
            limit = tint.limit or float(np.nanmax(np.abs(values))) or 1.0
            vmin, vmax = -limit, limit
        rows = np.flatnonzero(np.isfinite(values))  # a missing number stays untinted
        style = style.background_gradient(cmap=cmap, vmin=vmin, vmax=vmax, low=low, high=high, subset=pd.IndexSlice[rows, [header(column)]], gmap=values[rows])
    return style.to_html()


def table_block(
    df: pd.DataFrame, table_id: str, tints: dict[str, Tint] | None = None, digits: int = 3, keep: tuple[str, ...] = (),
    numbers: pd.DataFrame | None = None, verdicts: tuple[str, ...] = (),
) -> dict[str, str]:
    """{'html', 'constants'}: the table with its constant columns said once above it."""
    if df is None or df.empty:
        return {"html": "", "constants": ""}
    slim, constant = drop_constant(df.reset_index(drop=True), keep)
    return {"html": render(slim, table_id, tints, digits, numbers, verdicts), "constants": constants_line(constant)}
