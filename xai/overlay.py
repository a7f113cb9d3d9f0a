"""Pictures of attribution maps: a heatmap over the image with a colour bar, as an RGB array.

Drawn with NumPy, a Matplotlib colormap and PIL (no figure per picture), so a run can write
hundreds of them in seconds; the grids of many maps too (`overlay_grid`: one PIL canvas, cells
pasted, titles drawn, about a hundredth of a Matplotlib figure's time).
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont


def heat(m: np.ndarray, size: tuple[int, int], cmap: str = "jet") -> np.ndarray:
    """A map in [0, 1] resized (bilinear) to size = (height, width) and coloured, uint8 RGB."""
    resized = cv2.resize(np.asarray(m, np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return (matplotlib.colormaps[cmap](np.clip(resized, 0, 1))[..., :3] * 255).astype(np.uint8)


@functools.lru_cache(maxsize=64)
def colour_bar(height: int, cmap: str = "jet", width: int = 44) -> np.ndarray:
    """A vertical colour bar (1 at the top, 0 at the bottom) with tick labels, uint8 RGB
    (read-only: one array per size, shared)."""
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


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans, which Matplotlib ships (it has the Greek letters and dashes titles use)."""
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


def _fit(image: np.ndarray, long_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines of at most `width` pixels, broken at spaces only (a word longer than that stands
    alone on its line)."""
    lines: list[str] = []
    for part in text.split("\n"):
        line = ""
        for word in part.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and font.getlength(candidate) > width:
                lines.append(line)
                candidate = word
            line = candidate
        lines.append(line)
    return lines


BAR_COLOURS = 32  # palette entries kept for the colour bar, so it stays smooth


def overlay_grid(
    images: list[np.ndarray],
    maps: dict[str, np.ndarray],
    column_titles: list[str],
    *,
    title: str = "",
    alpha: float = 0.45,
    cmap: str = "jet",
    cell: int = 180,
    min_width: int = 150,
    font_size: int = 12,
) -> Image.Image:
    """A PIL image: one column per image (titled), one row per method (labelled), each cell the
    image (long side `cell` px, centred in a column at least `min_width` wide) with that method's
    map over it, one colour bar for all. `maps[method]` is (len(images), h, w) in [0, 1].
    A 256-colour palette image, so that a PNG of 8 methods x 6 images stays under 1 MB: 224
    colours for the pictures, 32 for the colour bar."""
    methods = list(maps)
    pictures = [_fit(np.asarray(image, np.uint8), cell) for image in images]
    cell_h = max(p.shape[0] for p in pictures)
    cell_w = max(min_width, max(p.shape[1] for p in pictures))
    font, small = _font(font_size), _font(font_size - 1)
    line = font_size + 3
    lines = [_wrap(t, small, cell_w - 4) for t in column_titles]
    header = (line + 6 if title else 0) + line * max((len(t) for t in lines), default=0) + 6
    label_w = max((round(font.getlength(m)) for m in methods), default=0) + 14
    gap, bar_w = 4, 64
    width = label_w + len(pictures) * (cell_w + gap) + bar_w
    bar_h = max(40, min(len(methods) * (cell_h + gap) - 2 * line, 2 * cell_h))
    height = max(header + len(methods) * (cell_h + gap), header + bar_h + 2 * line + 8)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((width // 2, 4), title, fill="black", font=font, anchor="ma")
    for c, text in enumerate(lines):
        x = label_w + c * (cell_w + gap) + cell_w // 2
        for k, row in enumerate(text):
            draw.text((x, header - 6 - line * (len(text) - k)), row, fill="black", font=small, anchor="ma")
    for r, method in enumerate(methods):
        y = header + r * (cell_h + gap)
        draw.text((label_w - 8, y + cell_h // 2), method, fill="black", font=font, anchor="rm")
        for c, picture in enumerate(pictures):
            x = label_w + c * (cell_w + gap) + (cell_w - picture.shape[1]) // 2
            canvas.paste(Image.fromarray(overlay(picture, maps[method][c], alpha=alpha, cmap=cmap, bar=False)), (x, y + (cell_h - picture.shape[0]) // 2))
    bar_x = width - bar_w + 6
    draw.text((bar_x, header + bar_h + 4), "per map,\n0 to 1", fill="black", font=small)
    return _with_smooth_bar(canvas.quantize(256 - BAR_COLOURS, method=Image.Quantize.FASTOCTREE), colour_bar(bar_h, cmap), (bar_x, header))


def _with_smooth_bar(picture: Image.Image, bar: np.ndarray, at: tuple[int, int]) -> Image.Image:
    """Paste the colour bar into a palette image using palette entries of its own: the bar's
    colours quantised to BAR_COLOURS levels instead of to the pictures' palette."""
    used = len(picture.getpalette()) // 3
    levels = Image.fromarray(bar).quantize(BAR_COLOURS, method=Image.Quantize.MEDIANCUT)
    picture.putpalette(picture.getpalette()[: 3 * used] + [0, 0, 0] * (256 - BAR_COLOURS - used) + levels.getpalette()[: 3 * BAR_COLOURS])
    indices = np.asarray(levels, np.uint8) + (256 - BAR_COLOURS)
    picture.paste(Image.fromarray(indices, mode="P"), at)
    return picture
