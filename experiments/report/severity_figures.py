"""Severity figures: how a metric moves with the severity of each edit family, per model.

One panel per series: an op with its fixed parameters, on one side of the value that leaves
the image unchanged (`saturation, desaturated` and `saturation, more saturated` are two
panels). The x-axis is the op's own parameter with its unit, oriented so that the unedited
value is on the left and the harshest edit on the right (JPEG quality and downscale factor run
from 100 and 1 down); the unedited image is drawn as a point there; all panels of a figure share
one y-scale; panels are ordered by effect, largest first. `severity_panels`: one small PNG per
series (the report); `severity_curves`: every series in one figure (the runner's figures/).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.figure
import matplotlib.font_manager
import matplotlib.ticker
import matplotlib.transforms
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from augment import IDENTITY, base_variant_id
from experiments.report.figures import PNG_COMPRESSION, plt, save
from augment.naming import axis_label, parse_variant
from experiments.rundir.atomic import atomic_write
from experiments.stages.scoring.tables import fixed_params, graded_rows, series_name, series_titles


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


def draw_series(
    ax,
    points: pd.DataFrame,
    metric: str,
    unedited: dict[str, tuple],
    palette: dict,
    replicates: pd.DataFrame | None = None,
) -> None:
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
        ax.plot(
            x,
            np.r_[value, df[metric].to_numpy(float)],
            color=colour,
            marker="o",
            markersize=4,
            linewidth=1.6,
            label=model,
        )
        ax.plot(
            [neutral],
            [value],
            linestyle="none",
            marker="D",
            markersize=6,
            markerfacecolor="white",
            markeredgecolor=colour,
            markeredgewidth=1.5,
        )
        if f"{metric}_ci_low" in df and df[f"{metric}_ci_low"].notna().any():
            band_low = np.r_[low if np.isfinite(low) else value, df[f"{metric}_ci_low"].to_numpy(float)]
            band_high = np.r_[high if np.isfinite(high) else value, df[f"{metric}_ci_high"].to_numpy(float)]
            ax.fill_between(x, band_low, band_high, color=colour, alpha=0.18, linewidth=0)
        if replicates is not None and len(replicates):
            mine = replicates[(replicates["model"] == model) & replicates["variant"].isin(df["variant"])]
            ax.plot(
                mine["severity"], mine[metric], linestyle="none", marker="o", markersize=2.5, color=colour, alpha=0.55
            )
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
        axis.set_major_locator(
            matplotlib.ticker.FixedLocator([t for t in axis.get_major_locator()() if low - slack <= t <= high + slack])
        )


def pin_axis_labels(ax, size: float, y_tick_labels: bool = True) -> None:
    """Put both axis labels where Matplotlib puts them (`axes.labelpad` beyond the tick labels of
    font size `size`; `y_tick_labels` False where a shared y-axis hides them), measured once here:
    otherwise every draw measures every tick label's box again to place them."""
    fig, rc = ax.figure, matplotlib.rcParams
    renderer, font, to_points = (
        fig.canvas.get_renderer(),
        matplotlib.font_manager.FontProperties(size=size),
        72 / fig.dpi,
    )
    _, height, _ = renderer.get_text_width_height_descent("lp", font, ismath=False)  # a tick label's line height
    labels = ax.yaxis.get_major_formatter().format_ticks(ax.yaxis.get_majorticklocs()) if y_tick_labels else []
    width = max((renderer.get_text_width_height_descent(t, font, ismath=False)[0] for t in labels), default=0.0)
    below = rc["xtick.major.size"] + rc["xtick.major.pad"] + height * to_points + rc["axes.labelpad"]
    left = rc["ytick.major.size"] + rc["ytick.major.pad"] + width * to_points + rc["axes.labelpad"]
    shifted = lambda dx, dy: (
        ax.transAxes + matplotlib.transforms.ScaledTranslation(dx / 72, dy / 72, fig.dpi_scale_trans)
    )  # noqa: E731
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
        ax.set_title(
            df["title"].iloc[0], fontsize=10, y=1.0
        )  # a fixed y: no search for the tick labels above it at draw
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
    df = df.assign(
        _ok=pd.MultiIndex.from_frame(df[["sample", "model"]]).map(ok).astype("boolean").fillna(False).astype(bool)
    )
    keys = ["model", "op", "variant", "severity", "replicate"]
    out = df.groupby(keys, sort=False).agg(mean_delta_margin=("delta_margin", "mean")).reset_index()
    fooling = df[df["_ok"]].groupby(keys, sort=False)["fooled"].mean().rename("fooling_rate").reset_index()
    return add_series(out.merge(fooling, on=keys, how="left")[cols])


def shared_ylim(
    points: pd.DataFrame, metric: str, unedited: dict[str, tuple], replicates: pd.DataFrame | None = None
) -> tuple[float, float]:
    """One y-range for every panel of a figure: all values, intervals, unedited values and
    replicate draws, with 0, padded by 6 %."""
    columns = [c for c in (metric, f"{metric}_ci_low", f"{metric}_ci_high") if c in points]
    values = np.concatenate(
        [points[c].to_numpy(float) for c in columns] + [np.array([v for u in unedited.values() for v in u], float)]
    )
    if replicates is not None and len(replicates):
        values = np.r_[values, replicates[metric].to_numpy(float)]
    values = values[np.isfinite(values)]
    low, high = (min(values.min(), 0.0), max(values.max(), 0.0)) if len(values) else (0.0, 1.0)
    pad = 0.06 * (high - low or 1)
    return low - pad, high + pad


def autoscaled_ylim(points: pd.DataFrame, metric: str, unedited: dict[str, tuple]) -> tuple[float, float]:
    """The y-range Matplotlib's autoscaling gives the panels `draw_series` draws (no replicates):
    every value, interval end and unedited value drawn, with `axes.ymargin` on each side."""
    columns = [
        c
        for c in (metric, f"{metric}_ci_low", f"{metric}_ci_high")
        if c in points and (c == metric or points[f"{metric}_ci_low"].notna().any())
    ]
    drawn = [points[c].to_numpy(float) for c in columns] + [
        np.array(unedited[m], float)[: 3 if len(columns) > 1 else 1] for m in points["model"].unique() if m in unedited
    ]
    values = np.concatenate(drawn)
    values = values[np.isfinite(values)]
    low, high = (values.min(), values.max()) if len(values) else (0.0, 1.0)
    margin = matplotlib.rcParams["axes.ymargin"] * (high - low)
    return (low - margin, high + margin) if high > low else (low - 0.05, high + 0.05)


CURVE_CELL_INCHES = (3.4, 2.8)  # one panel of `severity_curves` with its share of the gaps
CURVE_MARGINS = (
    0.7,
    0.15,
    0.75,
    0.5,
)  # inches: y label and tick labels, right edge, legend and first titles, last x labels
CURVE_GAPS = (
    0.3,
    0.85,
)  # inches between panels: across (shared y, no tick labels), down (x labels, then the next titles)


def severity_curves(robust: pd.DataFrame, metric: str, path: Path | None, ylabel: str | None = None, cols: int = 4):
    """All series of a per-variant table (robustness_metrics: accuracy, roc_auc; summary:
    fooling_rate with `fooling_rate_ci_low/_high`) in one figure, one panel each with the
    unedited value drawn at the neutral severity, one y-scale for all panels, ordered by effect,
    one legend. Saved to `path` (returned), or returned as a figure when `path` is None."""
    points = add_series(robust)
    identity = robust[robust["op"] == IDENTITY]
    unedited = {
        r["model"]: (r.get(metric, 0.0), r.get(f"{metric}_ci_low", np.nan), r.get(f"{metric}_ci_high", np.nan))
        for _, r in identity.iterrows()
    }
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
        axes[0, 0].set_ylim(
            *autoscaled_ylim(points, metric, unedited)
        )  # set once: no autoscaling across the shared panels at each draw
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
    handles.append(
        plt.Line2D([], [], color="grey", marker="D", markerfacecolor="white", linestyle="none", label="unedited")
    )
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, 1 - 0.04 / height),
        ncols=len(handles),
        fontsize=10,
        frameon=False,
    )
    return fig if path is None else save(fig, path)
