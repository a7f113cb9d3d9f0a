"""Figures from a run's tables (seaborn / Matplotlib, Agg backend), each saved atomically as PNG.

Pure functions of DataFrames: the runner calls them after writing the tables, and
`python -m experiments.report` can call them again on a finished run.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.figure
import matplotlib.font_manager
import matplotlib.ticker
import matplotlib.transforms

if not matplotlib.get_backend().startswith("module://"):  # a notebook keeps its inline backend
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from PIL import Image  # noqa: E402

from augment import IDENTITY, base_variant_id  # noqa: E402
from experiments.rundir.atomic import atomic_write  # noqa: E402
from experiments.report.naming import axis_label, describe, parse_variant  # noqa: E402
from experiments.stages.score_tables import fixed_params, graded_rows, series_name, series_titles  # noqa: E402
from xai.text import printable  # noqa: E402


PNG_COMPRESSION = 1  # zlib level: files about a third larger than at the default 6, written several times faster


def plain_label(text: object) -> str:
    """A name from outside (subject, style, generator) as a Matplotlib label: control and bidi
    characters as visible escapes (xai.text.printable), `$` never starting mathtext."""
    return printable(text).replace("$", r"\$")


def save(fig, path: Path, dpi: int = 100) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESSION}))
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
    ax.barh(df["group"].map(plain_label), df["accuracy"], xerr=[df["accuracy"] - df["ci_low"], df["ci_high"] - df["accuracy"]], color="tab:blue", alpha=0.8, capsize=3)
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy (95% Wilson CI)")
    ax.set_title(f"{model}: accuracy per {by}")
    return save(fig, path)


# --- severity curves -------------------------------------------------------------------------
#
# One panel per series: an op with its fixed parameters, on one side of the value that leaves
# the image unchanged (`saturation, desaturated` and `saturation, more saturated` are two
# panels). The x-axis is the op's own parameter with its unit, oriented so that the unedited
# value is on the left and the harshest edit on the right (JPEG quality and downscale factor run
# from 100 and 1 down); the unedited image is drawn as a point there; all panels of a figure share
# one y-scale; panels are ordered by effect, largest first.


def add_series(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of single ops with a severity, with their series key (as in `minimal_flip`), side
    (`decrease` / `increase` of the severity against its neutral value), strength (distance from
    neutral), neutral value and panel title; other rows are dropped. Parameters come from the
    variant id, so any table with `variant`, `op` and `severity` columns works."""
    df, neutral = graded_rows(table)
    cols = ["series", "side", "strength", "neutral", "title"]
    if df.empty:
        return df.assign(**{c: pd.Series(dtype=object) for c in cols})
    side, strength = df.pop("side"), df.pop("strength")
    df = df.assign(neutral=neutral, side=side, strength=strength)  # the columns in the order they always had
    steps = df["variant"].map(parse_variant)
    fixed = [fixed_params(op, s[0][1] if s else {}) for op, s in zip(df["op"], steps)]
    df["series"] = [series_name(op, f, side) for op, f, side in zip(df["op"], fixed, df["side"])]
    df["title"] = df["series"].map(series_titles(df, fixed))
    return df


def series_order(table: pd.DataFrame, metric: str, unedited: dict[str, tuple] | None = None) -> list[str]:
    """Series keys, largest effect first: the largest |metric - unedited value| over the
    series' severities and models."""
    base = table["model"].map({m: v[0] for m, v in (unedited or {}).items()}).fillna(0.0)
    effect = (table[metric] - base).abs().groupby(table["series"], sort=False).max()
    return list(effect.sort_values(ascending=False, kind="stable").index)


def draw_series(ax, points: pd.DataFrame, metric: str, unedited: dict[str, tuple], palette: dict, replicates: pd.DataFrame | None = None) -> None:
    """One series on `ax`: per model, the unedited value (open diamond) at the neutral severity,
    then `metric` at each severity, joined, with its interval band (`<metric>_ci_low/_high` when
    present) and each replicate's value as a small dot. `unedited[model]` is (value, ci_low,
    ci_high). Milder to harsher left to right, whichever way the parameter runs."""
    decreasing = (points["side"] == "decrease").all()
    neutral = float(points["neutral"].iloc[0])
    for model, df in points.groupby("model", sort=False):
        df = df.sort_values("strength")
        colour = palette[model]
        value, low, high = (tuple(unedited.get(model, ())) + (np.nan,) * 3)[:3]
        x = np.r_[neutral, df["severity"].to_numpy(float)]
        ax.plot(x, np.r_[value, df[metric].to_numpy(float)], color=colour, marker="o", markersize=4, linewidth=1.6, label=model)
        ax.plot([neutral], [value], linestyle="none", marker="D", markersize=6, markerfacecolor="white", markeredgecolor=colour, markeredgewidth=1.5)
        if f"{metric}_ci_low" in df and df[f"{metric}_ci_low"].notna().any():
            band_low = np.r_[low if np.isfinite(low) else value, df[f"{metric}_ci_low"].to_numpy(float)]
            band_high = np.r_[high if np.isfinite(high) else value, df[f"{metric}_ci_high"].to_numpy(float)]
            ax.fill_between(x, band_low, band_high, color=colour, alpha=0.18, linewidth=0)
        if replicates is not None and len(replicates):
            mine = replicates[(replicates["model"] == model) & replicates["variant"].isin(df["variant"])]
            ax.plot(mine["severity"], mine[metric], linestyle="none", marker="o", markersize=2.5, color=colour, alpha=0.55)
    low, high = min(neutral, points["severity"].min()), max(neutral, points["severity"].max())
    pad = 0.06 * (high - low or 1)
    ax.set_xlim((high + pad, low - pad) if decreasing else (low - pad, high + pad))  # the unedited value on the left
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5))
    ax.grid(True, color="#e3e3e3", linewidth=0.6)
    ax.set_axisbelow(True)


def fix_ticks(ax) -> None:
    """Pin both axes' ticks to the ones their locators pick for the final limits, in view only:
    the same ticks, without the out-of-view ones Matplotlib would make (each tick is several
    artists) and without locating them again at every draw."""
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        low, high = sorted(limits)
        slack = 1e-9 * (high - low)
        axis.set_major_locator(matplotlib.ticker.FixedLocator([t for t in axis.get_major_locator()() if low - slack <= t <= high + slack]))


def pin_axis_labels(ax, size: float, y_tick_labels: bool = True) -> None:
    """Put both axis labels where Matplotlib puts them (`axes.labelpad` beyond the tick labels of
    font size `size`; `y_tick_labels` False where a shared y-axis hides them), measured once here:
    otherwise every draw measures every tick label's box again to place them."""
    fig, rc = ax.figure, matplotlib.rcParams
    renderer, font, to_points = fig.canvas.get_renderer(), matplotlib.font_manager.FontProperties(size=size), 72 / fig.dpi
    _, height, _ = renderer.get_text_width_height_descent("lp", font, ismath=False)  # a tick label's line height
    labels = ax.yaxis.get_major_formatter().format_ticks(ax.yaxis.get_majorticklocs()) if y_tick_labels else []
    width = max((renderer.get_text_width_height_descent(t, font, ismath=False)[0] for t in labels), default=0.0)
    below = rc["xtick.major.size"] + rc["xtick.major.pad"] + height * to_points + rc["axes.labelpad"]
    left = rc["ytick.major.size"] + rc["ytick.major.pad"] + width * to_points + rc["axes.labelpad"]
    shifted = lambda dx, dy: ax.transAxes + matplotlib.transforms.ScaledTranslation(dx / 72, dy / 72, fig.dpi_scale_trans)  # noqa: E731
    ax.xaxis.set_label_coords(0.5, 0, transform=shifted(0, -below))
    ax.yaxis.set_label_coords(0, 0.5, transform=shifted(-left, 0))


def _palette(models) -> dict:
    return dict(zip(models, sns.color_palette("colorblind")))


PANEL_INCHES = (3.5, 2.7)  # one severity panel: small enough for four across, readable alone on a phone
PANEL_MARGINS = (0.8, 0.12, 0.62, 0.32)  # inches inside a panel for the y label, right edge, x label, title
PANEL_DPI = 150


def severity_panels(
    points: pd.DataFrame,
    metric: str,
    ylabel: str,
    out_dir: Path,
    name: str,
    *,
    unedited: dict[str, tuple] | None = None,
    replicates: pd.DataFrame | None = None,
    order: list[str] | None = None,
    ylim: tuple[float, float] | None = None,
) -> list[dict]:
    """One small PNG per series (the report lays them out in a grid that reflows on a phone),
    all with the same y-limits, in `order` (default: by effect). `points` come from
    `add_series`; `unedited[model]` is (value, ci_low, ci_high), 0 when not given (a shift or a
    fooling rate is 0 on the unedited image by definition). Returns [{path, series, title}] in
    that order."""
    unedited = unedited or {m: (0.0, 0.0, 0.0) for m in points["model"].unique()}
    order = order or series_order(points, metric, unedited)
    palette = _palette(points["model"].unique())
    ylim = ylim or shared_ylim(points, metric, unedited, replicates)
    # one small figure whose one Axes is drawn again for each panel: its ticks, spines and texts
    # are made once and only take new values (new Axes for each panel cost about half the time)
    (width, height), (left, right, bottom, top) = PANEL_INCHES, PANEL_MARGINS
    fig = matplotlib.figure.Figure(figsize=(width, height), dpi=PANEL_DPI)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((left / width, bottom / height, (width - left - right) / width, (height - top - bottom) / height))
    ax.tick_params(labelsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    out = []
    for i, series in enumerate(order):
        for artist in [*ax.lines, *ax.collections, *([ax.get_legend()] if ax.get_legend() else [])]:
            artist.remove()
        df = points[points["series"] == series]
        draw_series(ax, df, metric, unedited, palette, replicates)
        ax.set_ylim(*ylim)
        fix_ticks(ax)
        ax.set_title(df["title"].iloc[0], fontsize=10, y=1.0)  # a fixed y: no search for the tick labels above it at draw
        ax.set_xlabel(f"{axis_label(df['op'].iloc[0])}\nharsher →", fontsize=8)
        pin_axis_labels(ax, 8)
        if len(palette) > 1:
            ax.legend(fontsize=8, frameon=False)
        canvas.draw()
        panel = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())
        path = out_dir / f"{name}_{i:02d}.png"
        atomic_write(path, lambda tmp, panel=panel: panel.save(tmp, format="PNG", compress_level=PNG_COMPRESSION))
        out.append({"path": path, "series": series, "title": df["title"].iloc[0]})
    return out


def replicate_points(scores: pd.DataFrame) -> pd.DataFrame:
    """Per model x variant x replicate, for variants drawn more than once: the fooling rate
    (among the images right when unedited) and the mean Δ margin of that one draw, with the
    variant's series (`add_series`): the spread between placements or noise fields."""
    cols = ["model", "op", "variant", "severity", "replicate", "fooling_rate", "mean_delta_margin"]
    df = scores[scores["variant"] != IDENTITY].assign(variant=scores["variant"].map(base_variant_id))
    drawn = df.groupby(["model", "variant"])["replicate"].transform("nunique") > 1
    df = df[drawn]
    if df.empty:
        return add_series(pd.DataFrame(columns=cols))
    ok = scores[scores["variant"] == IDENTITY].set_index(["sample", "model"])["correct"]
    df = df.assign(_ok=pd.MultiIndex.from_frame(df[["sample", "model"]]).map(ok).astype("boolean").fillna(False).astype(bool))
    keys = ["model", "op", "variant", "severity", "replicate"]
    out = df.groupby(keys, sort=False).agg(mean_delta_margin=("delta_margin", "mean")).reset_index()
    fooling = df[df["_ok"]].groupby(keys, sort=False)["fooled"].mean().rename("fooling_rate").reset_index()
    return add_series(out.merge(fooling, on=keys, how="left")[cols])


def shared_ylim(points: pd.DataFrame, metric: str, unedited: dict[str, tuple], replicates: pd.DataFrame | None = None) -> tuple[float, float]:
    """One y-range for every panel of a figure: all values, intervals, unedited values and
    replicate draws, with 0, padded by 6 %."""
    columns = [c for c in (metric, f"{metric}_ci_low", f"{metric}_ci_high") if c in points]
    values = np.concatenate([points[c].to_numpy(float) for c in columns] + [np.array([v for u in unedited.values() for v in u], float)])
    if replicates is not None and len(replicates):
        values = np.r_[values, replicates[metric].to_numpy(float)]
    values = values[np.isfinite(values)]
    low, high = (min(values.min(), 0.0), max(values.max(), 0.0)) if len(values) else (0.0, 1.0)
    pad = 0.06 * (high - low or 1)
    return low - pad, high + pad


def autoscaled_ylim(points: pd.DataFrame, metric: str, unedited: dict[str, tuple]) -> tuple[float, float]:
    """The y-range Matplotlib's autoscaling gives the panels `draw_series` draws (no replicates):
    every value, interval end and unedited value drawn, with `axes.ymargin` on each side."""
    columns = [c for c in (metric, f"{metric}_ci_low", f"{metric}_ci_high") if c in points and (c == metric or points[f"{metric}_ci_low"].notna().any())]
    drawn = [points[c].to_numpy(float) for c in columns] + [np.array(unedited[m], float)[: 3 if len(columns) > 1 else 1] for m in points["model"].unique() if m in unedited]
    values = np.concatenate(drawn)
    values = values[np.isfinite(values)]
    low, high = (values.min(), values.max()) if len(values) else (0.0, 1.0)
    margin = matplotlib.rcParams["axes.ymargin"] * (high - low)
    return (low - margin, high + margin) if high > low else (low - 0.05, high + 0.05)


CURVE_CELL_INCHES = (3.4, 2.8)  # one panel of `severity_curves` with its share of the gaps
CURVE_MARGINS = (0.7, 0.15, 0.75, 0.5)  # inches: y label and tick labels, right edge, legend and first titles, last x labels
CURVE_GAPS = (0.3, 0.85)  # inches between panels: across (shared y, no tick labels), down (x labels, then the next titles)


def severity_curves(robust: pd.DataFrame, metric: str, path: Path | None, ylabel: str | None = None, cols: int = 4):
    """All series of a per-variant table (robustness_metrics: accuracy, roc_auc; summary:
    fooling_rate with `fooling_rate_ci_low/_high`) in one figure, one panel each with the
    unedited value drawn at the neutral severity, one y-scale for all panels, ordered by effect,
    one legend. Saved to `path` (returned), or returned as a figure when `path` is None."""
    points = add_series(robust)
    identity = robust[robust["op"] == IDENTITY]
    unedited = {r["model"]: (r.get(metric, 0.0), r.get(f"{metric}_ci_low", np.nan), r.get(f"{metric}_ci_high", np.nan)) for _, r in identity.iterrows()}
    order = series_order(points, metric, unedited) if len(points) else []
    cols = min(cols, max(1, len(order)))
    rows = int(np.ceil(len(order) / cols)) or 1
    # a fixed layout (inches): a layout engine would measure every text and draw the figure twice
    (cell_w, cell_h), (left, right, top, bottom) = CURVE_CELL_INCHES, CURVE_MARGINS
    width, height = cell_w * cols + left + right, cell_h * rows + top + bottom
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False, sharey=True)
    gap_w, gap_h = CURVE_GAPS
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
                        wspace=gap_w / (cell_w - gap_w), hspace=gap_h / (cell_h - gap_h))  # fmt: skip
    palette = _palette(robust["model"].unique())
    if len(order):
        axes[0, 0].set_ylim(*autoscaled_ylim(points, metric, unedited))  # set once: no autoscaling across the shared panels at each draw
    for ax, series in zip(axes.flat, order):
        df = points[points["series"] == series]
        draw_series(ax, df, metric, unedited, palette)
        ax.set_title(df["title"].iloc[0], fontsize=10, y=1.0)
        ax.set_xlabel(f"{axis_label(df['op'].iloc[0])}, harsher →", fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel or metric.replace("_", " "), fontsize=9)
    for i, ax in enumerate(list(axes.flat)[: len(order)]):
        fix_ticks(ax)  # once every panel is in: the shared y-range is final
        pin_axis_labels(ax, 8, y_tick_labels=i % cols == 0)
    for ax in list(axes.flat)[len(order) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=c, marker="o", label=m) for m, c in palette.items()]
    handles.append(plt.Line2D([], [], color="grey", marker="D", markerfacecolor="white", linestyle="none", label="unedited"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.04 / height), ncols=len(handles), fontsize=10, frameon=False)
    return fig if path is None else save(fig, path)


# --- heatmap ---------------------------------------------------------------------------------

SATURATED = 0.05  # p_ai this close to 0 or 1 on the unedited image: Δ p cannot show a move
HIDDEN_MOVE = 1.0  # |Δ margin| (log-odds) at least this, with |Δ p| under 0.1, is written in the cell


def delta_heatmap(scores: pd.DataFrame, model: str, path: Path) -> Path:
    """The heatmap of `heatmap_figure`, saved as PNG."""
    return save(heatmap_figure(scores, model), path)


def heatmap_figure(scores: pd.DataFrame, model: str):
    """Edit x subject, coloured by the signed Δ p_ai (red: towards AI, blue: towards human;
    replicates averaged). Subjects the model already got wrong unedited are marked ✗ and framed
    (a flip there is a correction, not a fooling); a dot marks cells where the edit fooled the
    model; where p_ai was saturated unedited and Δ p hides a move, the cell gives Δ margin."""
    df = scores[(scores["model"] == model) & (scores["variant"] != IDENTITY)]
    df = df.assign(variant=df["variant"].map(base_variant_id), fooled=df["fooled"].astype(float))
    order = list(dict.fromkeys(df["variant"]))
    subjects = list(dict.fromkeys(df["subject"]))
    table = lambda col: df.pivot_table(index="variant", columns="subject", values=col, aggfunc="mean").reindex(index=order, columns=subjects)  # noqa: E731
    delta, margin, fooled = table("delta_p_ai"), table("delta_margin"), table("fooled")
    base = scores[(scores["model"] == model) & (scores["variant"] == IDENTITY)].drop_duplicates("subject").set_index("subject")
    wrong = [not bool(base["correct"].get(s, True)) for s in subjects]
    p_base = base["p_ai"].reindex(subjects).to_numpy(float)
    short = lambda text, n: text if len(text) <= n else text[: n - 1] + "…"  # noqa: E731
    rows = [short(describe(v), 48) for v in order]
    cols = [("✗ " if w else "") + short(plain_label(s), 28) for s, w in zip(subjects, wrong)]
    # a fixed layout in inches, from the measured label widths: no layout engine, one draw
    fig = plt.figure(dpi=100)
    row_room, col_room = _text_inches(fig, rows, 8) + 0.55, _text_inches(fig, cols, 8) + 0.5  # labels, tick, axis label
    cell_w, cell_h, top, right = 0.5, 0.24, 0.65, 1.4  # the colour bar and its label on the right
    width, height = row_room + cell_w * len(cols) + right, top + cell_h * len(rows) + col_room
    fig.set_size_inches(width, height)
    ax = fig.add_axes((row_room / width, col_room / height, cell_w * len(cols) / width, cell_h * len(rows) / height))
    image = ax.imshow(delta.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest", extent=(0, len(cols), len(rows), 0))
    bar_h = min(0.5 * cell_h * len(rows), height - top - col_room)
    cax = fig.add_axes(((width - right + 0.25) / width, (col_room + (cell_h * len(rows) - bar_h) / 2) / height, 0.18 / width, bar_h / height))
    bar = fig.colorbar(image, cax=cax, label="Δ p(AI)  (red: towards AI, blue: towards human)")
    bar.outline.set_linewidth(0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks(np.arange(len(cols)) + 0.5, cols, rotation=90)
    ax.set_yticks(np.arange(len(rows)) + 0.5, rows, va="center")
    for j, w in enumerate(wrong):
        if w:
            ax.add_patch(plt.Rectangle((j + 0.04, 0.04), 0.92, len(rows) - 0.08, fill=False, edgecolor="black", linestyle=(0, (3, 2)), linewidth=1.1))
    saturated = (p_base <= SATURATED) | (p_base >= 1 - SATURATED)
    d_all, m_all, f_all = (t.to_numpy(float) for t in (delta, margin, fooled))
    for i in range(len(rows)):
        for j in range(len(cols)):
            d, m, f = d_all[i, j], m_all[i, j], f_all[i, j]
            if np.isfinite(f) and f >= 0.5:
                ax.text(j + 0.5, i + 0.5, "●", ha="center", va="center", fontsize=7, color="black")
            elif saturated[j] and np.isfinite(m) and abs(d) < 0.1 and abs(m) >= HIDDEN_MOVE:
                ax.text(j + 0.5, i + 0.5, f"{m:+.0f}", ha="center", va="center", fontsize=6.5, color="#222222")
    ax.set_title(f"{model}: change in p(AI) per edit and subject\n● fooled   ✗ framed: wrong when unedited   numbers: Δ margin where p(AI) was saturated", fontsize=9, y=1.0)
    ax.set_xlabel("subject")
    ax.set_ylabel("edit")
    ax.tick_params(labelsize=8)
    return fig


def _text_inches(fig, texts, size: float) -> float:
    """The width of the widest of `texts` at font size `size`, in inches."""
    renderer, font = fig.canvas.get_renderer(), matplotlib.font_manager.FontProperties(size=size)
    return max((renderer.get_text_width_height_descent(t, font, ismath=False)[0] for t in texts), default=0.0) / fig.dpi


def reliability_diagram(calibration: pd.DataFrame, model: str, path: Path) -> Path:
    """Observed share of AI images against mean p_ai per bin (Wilson intervals), the diagonal
    where a calibrated model lies, and how many images each bin holds."""
    df = calibration[(calibration["model"] == model) & (calibration["n"] > 0)]
    fig, (ax, bars) = plt.subplots(2, 1, figsize=(4.2, 4.8), height_ratios=[3, 1], sharex=True)
    fig.subplots_adjust(left=0.17, right=0.97, bottom=0.1, top=0.94, hspace=0.08)  # fixed: a layout engine draws twice
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
