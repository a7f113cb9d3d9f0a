"""The edit x subject heatmap of a run's scores: which way each edit moves each subject's score."""

from __future__ import annotations

from pathlib import Path

import matplotlib.font_manager
import numpy as np
import pandas as pd

from augment import IDENTITY, base_variant_id
from experiments.report.figures import plain_label, plt, save
from augment.naming import describe

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
    cells = heatmap_cells(scores, model)
    wrong = cells["wrong"]
    short = lambda text, n: text if len(text) <= n else text[: n - 1] + "…"  # noqa: E731
    rows = [short(describe(v), 48) for v in cells["delta"].index]
    cols = [("✗ " if w else "") + short(plain_label(s), 28) for s, w in zip(cells["delta"].columns, wrong)]
    # a fixed layout in inches, from the measured label widths: no layout engine, one draw
    fig = plt.figure(dpi=100)
    row_room, col_room = _text_inches(fig, rows, 8) + 0.55, _text_inches(fig, cols, 8) + 0.5  # labels, tick, axis label
    cell_w, cell_h, top, right = 0.5, 0.24, 0.65, 1.4  # the colour bar and its label on the right
    width, height = row_room + cell_w * len(cols) + right, top + cell_h * len(rows) + col_room
    fig.set_size_inches(width, height)
    ax = fig.add_axes((row_room / width, col_room / height, cell_w * len(cols) / width, cell_h * len(rows) / height))
    image = ax.imshow(
        cells["delta"].to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest",
        extent=(0, len(cols), len(rows), 0),
    )  # fmt: skip
    bar_h = min(0.5 * cell_h * len(rows), height - top - col_room)
    bar_y = (col_room + (cell_h * len(rows) - bar_h) / 2) / height
    cax = fig.add_axes(((width - right + 0.25) / width, bar_y, 0.18 / width, bar_h / height))
    bar = fig.colorbar(image, cax=cax, label="Δ p(AI)  (red: towards AI, blue: towards human)")
    bar.outline.set_linewidth(0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xticks(np.arange(len(cols)) + 0.5, cols, rotation=90)
    ax.set_yticks(np.arange(len(rows)) + 0.5, rows, va="center")
    for j, w in enumerate(wrong):
        if w:
            frame = plt.Rectangle(
                (j + 0.04, 0.04), 0.92, len(rows) - 0.08, fill=False, edgecolor="black", linestyle=(0, (3, 2)),
                linewidth=1.1,
            )  # fmt: skip
            ax.add_patch(frame)
    mark_cells(ax, cells)
    ax.set_title(
        f"{model}: change in p(AI) per edit and subject\n● fooled   ✗ framed: wrong when unedited   "
        "numbers: Δ margin where p(AI) was saturated",
        fontsize=9, y=1.0,
    )  # fmt: skip
    ax.set_xlabel("subject")
    ax.set_ylabel("edit")
    ax.tick_params(labelsize=8)
    return fig


def heatmap_cells(scores: pd.DataFrame, model: str) -> dict:
    """The heatmap's edit x subject tables (replicates averaged) of Δ p_ai, Δ margin and the share
    fooled, each subject's unedited p_ai and whether the model got it wrong unedited."""
    df = scores[(scores["model"] == model) & (scores["variant"] != IDENTITY)]
    df = df.assign(variant=df["variant"].map(base_variant_id), fooled=df["fooled"].astype(float))
    order = list(dict.fromkeys(df["variant"]))
    subjects = list(dict.fromkeys(df["subject"]))

    def table(col: str) -> pd.DataFrame:
        pivot = df.pivot_table(index="variant", columns="subject", values=col, aggfunc="mean")
        return pivot.reindex(index=order, columns=subjects)

    unedited = scores[(scores["model"] == model) & (scores["variant"] == IDENTITY)]
    base = unedited.drop_duplicates("subject").set_index("subject")
    return {
        "delta": table("delta_p_ai"), "margin": table("delta_margin"), "fooled": table("fooled"),
        "wrong": [not bool(base["correct"].get(s, True)) for s in subjects],
        "p_base": base["p_ai"].reindex(subjects).to_numpy(float),
    }  # fmt: skip


def mark_cells(ax, cells: dict) -> None:
    """A dot where the edit fooled the model; Δ margin where p_ai was saturated unedited and the
    small Δ p hides a move."""
    p_base = cells["p_base"]
    saturated = (p_base <= SATURATED) | (p_base >= 1 - SATURATED)
    d_all, m_all, f_all = (cells[t].to_numpy(float) for t in ("delta", "margin", "fooled"))
    for i in range(d_all.shape[0]):
        for j in range(d_all.shape[1]):
            d, m, f = d_all[i, j], m_all[i, j], f_all[i, j]
            if np.isfinite(f) and f >= 0.5:
                ax.text(j + 0.5, i + 0.5, "●", ha="center", va="center", fontsize=7, color="black")
            elif saturated[j] and np.isfinite(m) and abs(d) < 0.1 and abs(m) >= HIDDEN_MOVE:
                ax.text(j + 0.5, i + 0.5, f"{m:+.0f}", ha="center", va="center", fontsize=6.5, color="#222222")


def _text_inches(fig, texts, size: float) -> float:
    """The width of the widest of `texts` at font size `size`, in inches."""
    renderer, font = fig.canvas.get_renderer(), matplotlib.font_manager.FontProperties(size=size)
    return max((renderer.get_text_width_height_descent(t, font, ismath=False)[0] for t in texts), default=0.0) / fig.dpi
