"""Pictures of attribution maps: a heatmap over the image with a colour bar, as an RGB array.

Drawn with NumPy, a Matplotlib colormap and PIL (no figure per picture), so a run can write
hundreds of them in seconds.
"""

from __future__ import annotations

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont


def heat(m: np.ndarray, size: tuple[int, int], cmap: str = "jet") -> np.ndarray:
    """A map in [0, 1] resized (bilinear) to size = (height, width) and coloured, uint8 RGB."""
    resized = cv2.resize(np.asarray(m, np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return (matplotlib.colormaps[cmap](np.clip(resized, 0, 1))[..., :3] * 255).astype(np.uint8)


def colour_bar(height: int, cmap: str = "jet", width: int = 44) -> np.ndarray:
    """A vertical colour bar (1 at the top, 0 at the bottom) with tick labels, uint8 RGB."""
    bar_w, pad = 12, 4
    values = np.linspace(1, 0, height - 2 * pad)[:, None]
    strip = (matplotlib.colormaps[cmap](np.repeat(values, bar_w, axis=1))[..., :3] * 255).astype(np.uint8)
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(Image.fromarray(strip), (pad, pad))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    for value, y in ((1.0, pad), (0.5, height // 2), (0.0, height - pad)):
        draw.text((pad + bar_w + 3, y), f"{value:g}", fill="black", font=font, anchor="lm")
    return np.asarray(canvas)


def overlay(image: np.ndarray, m: np.ndarray, *, alpha: float = 0.45, cmap: str = "jet", bar: bool = True) -> np.ndarray:
    """`image` (uint8 RGB, any size) blended with the coloured map, plus a colour bar."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    image = np.asarray(image, np.uint8)
    blended = cv2.addWeighted(image, 1 - alpha, heat(m, image.shape[:2], cmap), alpha, 0)
    return np.concatenate([blended, colour_bar(image.shape[0], cmap)], axis=1) if bar else blended


def overlay_grid(
    images: list[np.ndarray],
    maps: dict[str, np.ndarray],
    column_titles: list[str],
    *,
    title: str = "",
    alpha: float = 0.45,
    cmap: str = "jet",
    cell_inches: float = 1.9,
):
    """A Matplotlib figure: one column per image (titled), one row per method (labelled), each
    cell the image with that method's map over it, one colour bar for all. `maps[method]` is
    (len(images), h, w) in [0, 1]. The caller saves and closes the figure."""
    import matplotlib.pyplot as plt

    methods = list(maps)
    rows, cols = len(methods), len(images)
    aspect = images[0].shape[1] / images[0].shape[0]  # cells shaped like the image, not square
    cell_w, cell_h = cell_inches * min(max(aspect, 1), 2.2), cell_inches * min(max(1 / aspect, 1), 1.6)
    fig, axes = plt.subplots(rows, cols, figsize=(cell_w * cols + 1.2, cell_h * rows + 1.2), squeeze=False, layout="constrained")
    for r, method in enumerate(methods):
        for c, image in enumerate(images):
            ax = axes[r][c]
            ax.imshow(overlay(image, maps[method][c], alpha=alpha, cmap=cmap, bar=False))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(column_titles[c], fontsize=7)
            if c == 0:
                ax.set_ylabel(method, fontsize=9)
    fig.colorbar(matplotlib.cm.ScalarMappable(cmap=cmap), ax=axes, fraction=0.02, pad=0.01, shrink=0.6, label="attribution (per map, 0-1)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
