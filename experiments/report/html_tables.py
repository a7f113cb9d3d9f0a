"""Tables as the report shows them: readable headers, value and interval in one cell, the op's
default parameters left out, columns that hold one value for every row said once above the
table instead of repeated, numeric cells tinted by value, and sortable headers.

Written as pandas' Styler writes them, byte for byte (background tints from a Matplotlib colour
map, HTML-escaped text, a fixed id per table so a report made again is byte-identical), but
straight from the rows: Styler's per-cell machinery cost most of the report's table time. A column is tinted by a
`Tint`: `rate` (0 to 1, darker = more), `signed` (blue below 0, red above, symmetric), `p_ai` (blue
towards human, red towards AI around 0.5). Every table gets class `sortable`; the report's few
lines of script sort by a header's column on click.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import matplotlib
import matplotlib.colors
import numpy as np
import pandas as pd
from markupsafe import escape

from augment.naming import number

HEADERS = {
    "model": "model", "variant": "edit", "edit": "edit", "subject": "subject", "sample": "sample", "truth": "truth",
    "n": "images", "n_correct": "right when unedited", "n_wrong": "wrong when unedited", "n_replicates": "draws",
    "fooling_rate": "fooled", "correction_rate": "corrected", "mean_delta_margin": "mean Δ margin",
    "mean_delta_p_ai": "mean Δ p(AI)", "mean_abs_delta_p_ai": "mean |Δ p(AI)|", "share_towards_ai": "moved towards AI",
    "p_ai": "p(AI)", "delta_p_ai": "Δ p(AI)", "delta_margin": "Δ margin", "predicted": "predicted",
    "direction": "direction",
    "fooled": "fooled", "corrected": "corrected", "flipped": "flipped", "replicate": "draw", "method": "method",
    "drift_spearman": "drift ρ", "drift_top_iou": "top-10 % IoU", "deletion_auc": "deletion AUC",
    "insertion_auc": "insertion AUC",
    "metric": "metric", "value": "value", "exploratory": "exploratory (n < 30)", "accuracy": "accuracy",
    "group": "group", "by": "by",
    "reason": "reason", "mean_p_ai": "mean p(AI)",
}  # fmt: skip

METRIC_NAMES = {
    "accuracy": "accuracy", "precision_ai": "precision (AI)", "recall_ai": "recall (AI)", "f1_ai": "F1 (AI)",
    "precision_human": "precision (human)", "recall_human": "recall (human)", "f1_human": "F1 (human)",
    "macro_f1": "macro F1",
    "false_positive_rate": "human art called AI (FPR)", "false_negative_rate": "AI art called human (FNR)",
    "roc_auc": "ROC-AUC",
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


VERDICT_COLOURS = {
    "better": "#d6efd9",
    "worse": "#f7d4d4",
    "no difference": "#eeeeee",
    "supported": "#d6efd9",
    "contradicted": "#f7d4d4",
    "inconclusive": "#eeeeee",
    "pass": "#d6efd9",
    "fail": "#f7d4d4",
}


def render(
    df: pd.DataFrame,
    table_id: str,
    tints: dict[str, Tint] | None = None,
    digits: int = 3,
    numbers: pd.DataFrame | None = None,
    verdicts: tuple[str, ...] = (),
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
    columns = list(df.columns)
    styles: list[list[list[tuple[str, str]]]] = [
        [[] for _ in columns] for _ in range(len(df))
    ]  # CSS (property, value) per cell
    for column in verdicts:
        if column in df:
            j = columns.index(column)
            for i, text in enumerate(df[column]):
                word = str(text).split(":")[0].strip()
                if word in VERDICT_COLOURS:
                    styles[i][j].append(("background-color", VERDICT_COLOURS[word]))
    for column, tint in (tints or {}).items():
        if column not in df:
            continue
        source = tint.values or column
        values = pd.to_numeric((numbers if source in numbers else df)[source], errors="coerce").to_numpy(float)
        if not np.isfinite(values).any():
            continue
        if tint.kind in ("rate", "p_ai"):
            vmin, vmax = 0.0, 1.0
        else:
            limit = tint.limit or float(np.nanmax(np.abs(values))) or 1.0
            vmin, vmax = -limit, limit
        rows = np.flatnonzero(np.isfinite(values))  # a missing number stays untinted
        j = columns.index(column)
        for i, css in zip(rows, tint_css(values[rows], *TINTS[tint.kind], vmin, vmax)):
            styles[i][j].extend(css)
    return _html(table_id, [header(c) for c in columns], df, styles, digits)


@functools.cache
def colour_map(name: str) -> matplotlib.colors.Colormap:
    """matplotlib's colour map, made once (its registry hands out a fresh copy, lookup table and
    all, on every call: a report of many tables paid that per table)."""
    return matplotlib.colormaps[name]


def tint_css(
    values: np.ndarray, cmap: str, low: float, high: float, vmin: float, vmax: float
) -> list[list[tuple[str, str]]]:
    """Background and text colour per value, as pandas' Styler.background_gradient gives them:
    the colour map over [vmin, vmax] widened by `low` and `high` of its range; light text on a
    dark background (relative luminance under 0.408)."""
    span = vmax - vmin
    rgba = colour_map(cmap)(matplotlib.colors.Normalize(vmin - span * low, vmax + span * high)(values))
    linear = np.where(rgba[:, :3] <= 0.04045, rgba[:, :3] / 12.92, ((rgba[:, :3] + 0.055) / 1.055) ** 2.4)
    luminance = linear @ np.array([0.2126, 0.7152, 0.0722])
    return [
        [("background-color", matplotlib.colors.rgb2hex(c)), ("color", "#f1f1f1" if y < 0.408 else "#000000")]
        for c, y in zip(rgba, luminance)
    ]


def cell_text(value: object, digits: int) -> str:
    """A cell as pandas' Styler.format(precision=digits, na_rep="", escape="html") writes it."""
    if isinstance(value, str):
        return str(escape(value))
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return ""
    if pd.api.types.is_float(value):
        return f"{value:.{digits}f}"
    return str(value)


def _html(
    uid: str, headers: list[str], df: pd.DataFrame, styles: list[list[list[tuple[str, str]]]], digits: int
) -> str:
    """The markup pandas' Styler writes for a table with its index hidden (ids `T_<uid>_row<r>_col<c>`,
    one CSS rule per distinct cell style, listing its cells in order), byte for byte."""
    rules: dict[tuple, list[str]] = {}
    for r, row in enumerate(styles):
        for c, props in enumerate(row):
            if props:
                rules.setdefault(tuple(props), []).append(f"#T_{uid}_row{r}_col{c}")
    out = ['<style type="text/css">\n']
    for props, selectors in rules.items():
        out.append(", ".join(selectors) + " {\n" + "".join(f"  {p}: {v};\n" for p, v in props) + "}\n")
    out.append(f'</style>\n<table id="T_{uid}" class="sortable">\n  <thead>\n    <tr>\n')
    out.extend(
        f'      <th id="T_{uid}_level0_col{c}" class="col_heading level0 col{c}" >{h}</th>\n'
        for c, h in enumerate(headers)
    )
    out.append("    </tr>\n  </thead>\n  <tbody>\n")
    for r, row in enumerate(df.itertuples(index=False, name=None)):
        out.append("    <tr>\n")
        out.extend(
            f'      <td id="T_{uid}_row{r}_col{c}" class="data row{r} col{c}" >{cell_text(v, digits)}</td>\n'
            for c, v in enumerate(row)
        )
        out.append("    </tr>\n")
    out.append("  </tbody>\n</table>\n")
    return "".join(out)


def table_block(
    df: pd.DataFrame,
    table_id: str,
    tints: dict[str, Tint] | None = None,
    digits: int = 3,
    keep: tuple[str, ...] = (),
    numbers: pd.DataFrame | None = None,
    verdicts: tuple[str, ...] = (),
) -> dict[str, str]:
    """{'html', 'constants'}: the table with its constant columns said once above it."""
    if df is None or df.empty:
        return {"html": "", "constants": ""}
    slim, constant = drop_constant(df.reset_index(drop=True), keep)
    return {"html": render(slim, table_id, tints, digits, numbers, verdicts), "constants": constants_line(constant)}
