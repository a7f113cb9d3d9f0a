"""Pictures of attribution maps: each map over a grey copy of its image, as an RGB array, and
grids of many maps (`overlay_grid`: one PIL canvas, cells pasted, titles drawn).

How a map is drawn, so that it cannot be misread:
- over a dimmed greyscale copy of the image, so the only colour in a cell is the map's (a red
  occlusion square or a blue painting cannot pass for attribution or hide it);
- the colour's opacity grows with |value|: where the map is near 0 the image shows through;
- perceptually uniform colour maps: `inferno` (sequential) for maps that rank pixels (saliency,
  CAMs: 0 = no evidence), `berlin` (diverging around 0) for signed maps (LIME: red for the target
  class, blue against it);
- one scale per row of a grid (`row_scale`: the 99th percentile of |value| over every map of the
  row, as Captum's visualisation clips its outliers), so the columns of a row can be compared:
  a map that is weaker under an edit looks weaker.
Drawn with NumPy, a Matplotlib colour map and PIL (no Matplotlib figure), so a run writes hundreds
of them in seconds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from xai.text import printable

SEQUENTIAL = "inferno"  # perceptually uniform, dark to bright
DIVERGING = "berlin"  # perceptually uniform (Crameri), blue below 0, red above, dark at 0
MAX_ALPHA = 0.9  # opacity of the colour where |value| is at the top of the scale
CLIP_PERCENTILE = 99.0  # a row's scale: this percentile of |value| is full colour


def row_scale(maps: np.ndarray) -> float:
    """The value drawn at full colour for a set of maps drawn together: the 99th percentile of
    their |values| (1 when they are all 0)."""
    top = float(np.percentile(np.abs(np.asarray(maps, np.float64)), CLIP_PERCENTILE)) if np.size(maps) else 0.0
    return top if top > 0 else 1.0


def scaled(m: np.ndarray, scale: float, signed: bool) -> np.ndarray:
    """A map divided by its scale and clipped: [-1, 1] when signed, else [0, 1]."""
    v = np.nan_to_num(np.asarray(m, np.float32)) / np.float32(scale)
    return np.clip(v, -1.0, 1.0) if signed else np.clip(v, 0.0, 1.0)


def _resize(v: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(np.asarray(v, np.float32), (size[1], size[0]), interpolation=interpolation)


def colours(v: np.ndarray, signed: bool) -> np.ndarray:
    """RGB in [0, 1] for scaled values: `inferno` on [0, 1], `berlin` on [-1, 1]."""
    if signed:
        return matplotlib.colormaps[DIVERGING]((v + 1) / 2)[..., :3]
    return matplotlib.colormaps[SEQUENTIAL](v)[..., :3]


def grey(image: np.ndarray) -> np.ndarray:
    """A dimmed greyscale copy (levels 30-183) of a uint8 RGB image, as float RGB in [0, 255]:
    the background every map is drawn on."""
    g = np.asarray(image, np.float32)[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat((30 + 0.6 * g)[..., None], 3, axis=2)


def tint(image: np.ndarray, v: np.ndarray, signed: bool) -> np.ndarray:
    """`image` (uint8 RGB) in grey with the scaled map `v` (same height and width) coloured over
    it, opaque in proportion to |v|; uint8 RGB."""
    alpha = (MAX_ALPHA * np.abs(v))[..., None]
    out = grey(image) * (1 - alpha) + colours(v, signed) * 255 * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans, which Matplotlib ships (it has the Greek letters and dashes titles use)."""
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


@functools.lru_cache(maxsize=64)
def colour_bar(
    height: int, signed: bool = False, labels: tuple[str, str, str] | None = None, width: int = 64
) -> np.ndarray:
    """A vertical colour bar, top = full colour, over the same grey the maps are drawn on, with
    three labels (top, middle, bottom), uint8 RGB (read-only: one array per size, shared)."""
    bar_w, pad = 12, 6
    values = np.linspace(1, -1 if signed else 0, max(2, height - 2 * pad))[:, None].repeat(bar_w, axis=1)
    strip = tint(np.full(values.shape + (3,), 110, np.uint8), values, signed)
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(Image.fromarray(strip), (pad, pad))
    draw, font = ImageDraw.Draw(canvas), _font(10)
    top, middle, bottom = labels or (("+ max", "0", "− max") if signed else ("max", "", "0"))
    for text, y in ((top, pad), (middle, height // 2), (bottom, height - pad)):
        if text:
            draw.text((pad + bar_w + 3, y), text, fill="black", font=font, anchor="lm")
    return np.asarray(canvas)


def overlay(
    image: np.ndarray, m: np.ndarray, *, signed: bool = False, scale: float | None = None, bar: bool = True
) -> np.ndarray:
    """`image` (uint8 RGB, any size) in grey with the map over it (scaled by `scale`, default
    its own |max|), plus a colour bar."""
    image = np.asarray(image, np.uint8)
    v = scaled(_resize(m, image.shape[:2]), row_scale(m) if scale is None else scale, signed)
    picture = tint(image, v, signed)
    return np.concatenate([picture, colour_bar(image.shape[0], signed)], axis=1) if bar else picture


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """`text` broken into lines no wider than `width` px in `font` (a word longer than that
    keeps a line of its own)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def _fit(image: np.ndarray, long_side: int, nearest: bool = False) -> np.ndarray:
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    if scale == 1 or (scale > 1 and not nearest):
        return image
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interpolation)


def outline(cell: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`cell` with the border of `mask` (resized to it) drawn in white on black, 3 px."""
    region = (_resize(mask.astype(np.float32), cell.shape[:2], nearest=True) > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.ascontiguousarray(cell)
    cv2.drawContours(out, contours, -1, (0, 0, 0), 3)
    cv2.drawContours(out, contours, -1, (255, 255, 255), 1)
    return out


@dataclass(frozen=True)
class _GridLayout:
    """Where an overlay grid's parts go, in px: the row labels' column, the header (title and
    column titles), the cells, the colour bars' column and the note's lines under the grid."""

    label_w: int
    header: int
    cell_w: int
    cell_h: int
    line: int
    width: int
    height: int
    notes: list[str]
    gap: int = 4
    bar_w: int = 70

    def cell(self, r: int, c: int) -> tuple[int, int]:
        """The top-left corner of the cell in row r, column c."""
        return self.label_w + c * (self.cell_w + self.gap), self.header + r * (self.cell_h + self.gap)


def _grid_layout(
    pictures: list[np.ndarray], title_lines: list[list[str]], row_labels: list[str], title: str, note: str,
    font: ImageFont.FreeTypeFont, small: ImageFont.FreeTypeFont, line: int,
) -> _GridLayout:  # fmt: skip
    cell_h = max(p.shape[0] for p in pictures)
    cell_w = max(p.shape[1] for p in pictures)
    header = (line + 6 if title else 0) + line * max((len(t) for t in title_lines), default=0) + 6
    label_w = max((round(font.getlength(w)) for label in row_labels for w in label.split("\n")), default=0) + 14
    gap, bar_w = _GridLayout.gap, _GridLayout.bar_w
    width = label_w + len(pictures) * (cell_w + gap) + bar_w
    notes = wrap(printable(note), small, width - 16) if note else []
    height = header + len(row_labels) * (cell_h + gap) + 2 + line * len(notes) + (6 if notes else 0)
    return _GridLayout(label_w, header, cell_w, cell_h, line, width, height, notes)


def _draw_titles(draw: ImageDraw.ImageDraw, grid: _GridLayout, title: str, lines: list[list[str]], font, small) -> None:
    """The grid's title, centred on top, and each column's title lines, bottom-aligned above it."""
    if title:
        draw.text((grid.width // 2, 4), title, fill="black", font=font, anchor="ma")
    for c, text in enumerate(lines):
        x = grid.cell(0, c)[0] + grid.cell_w // 2
        for k, row in enumerate(text):
            draw.text((x, grid.header - 6 - grid.line * (len(text) - k)), row, fill="black", font=small, anchor="ma")


def _draw_label(draw: ImageDraw.ImageDraw, grid: _GridLayout, r: int, text: str, font) -> None:
    """A row's label, right-aligned left of its cells."""
    y = grid.cell(r, 0)[1] + grid.cell_h // 2
    draw.multiline_text((grid.label_w - 8, y), text, fill="black", font=font, anchor="rm", align="right")


def _place(canvas: Image.Image, grid: _GridLayout, r: int, c: int, picture: np.ndarray, region) -> None:
    """A cell's picture, with the outline of the region its edit painted (None: none)."""
    if region is not None:
        picture = outline(picture, region)
    canvas.paste(Image.fromarray(picture), grid.cell(r, c))


def overlay_grid(
    images: list[np.ndarray],
    maps: dict[str, np.ndarray],
    column_titles: list[str],
    *,
    title: str = "",
    signed: frozenset[str] | set[str] = frozenset(),
    inputs: list[np.ndarray] | None = None,
    input_label: str = "model input",
    regions: list[np.ndarray | None] | None = None,
    target: str = "target",
    note: str = "",
    cell: int = 180,
    font_size: int = 12,
) -> Image.Image:
    """A PIL image: one column per image (titled), one row per method (labelled), each cell the
    image (long side `cell` px) in grey with that method's map over it, one colour scale per row
    (`row_scale`) with its colour bar at the row's end; methods in `signed` on the diverging
    scale (+ for `target`, − against). `maps[method]` is (len(images), h, w). `inputs`: the
    model's own input for each column (uint8 RGB at model resolution), drawn as a first row,
    enlarged without smoothing. `regions`: per column, a mask of the pixels the edit painted (or
    None), outlined in every cell of the column. `note`: a line of explanation under the grid.
    Every text drawn goes through `printable` (newlines in column titles and the input label
    break lines). Reduced to a 256-colour palette (a PNG of 8 methods x 6 images stays under 1 MB)."""
    methods = list(maps)
    pictures = [_fit(np.asarray(image, np.uint8), cell) for image in images]
    font, small = _font(font_size), _font(font_size - 1)
    line = font_size + 3
    title = printable(title)  # one line: a name's control or bidi characters shown as escapes, never laid out
    width = max(p.shape[1] for p in pictures) - 4
    lines = [[w for part in t.split("\n") for w in wrap(printable(part), small, width)] for t in column_titles]
    input_label = "\n".join(printable(part) for part in input_label.split("\n"))
    row_labels = ([input_label] if inputs is not None else []) + [printable(m) for m in methods]
    grid = _grid_layout(pictures, lines, row_labels, title, note, font, small, line)
    canvas = Image.new("RGB", (grid.width, grid.height), "white")
    draw = ImageDraw.Draw(canvas)
    _draw_titles(draw, grid, title, lines, font, small)
    regions = regions if regions is not None else [None] * len(pictures)
    r = 0
    if inputs is not None:
        _draw_label(draw, grid, r, input_label, font)
        for c, (source, picture) in enumerate(zip(inputs, pictures)):
            size = (picture.shape[1], picture.shape[0])
            enlarged = cv2.resize(np.asarray(source, np.uint8), size, interpolation=cv2.INTER_NEAREST)
            _place(canvas, grid, r, c, enlarged, regions[c])
        r += 1
    for method in methods:
        is_signed = method in signed
        scale = row_scale(maps[method])
        _draw_label(draw, grid, r, printable(method), font)
        for c, picture in enumerate(pictures):
            v = scaled(_resize(maps[method][c], picture.shape[:2]), scale, is_signed)
            _place(canvas, grid, r, c, tint(picture, v, is_signed), regions[c])
        ends = (f"for {target}", "0", "against") if is_signed else ("row max", "", "0")
        bar = colour_bar(grid.cell_h, is_signed, ends)
        canvas.paste(Image.fromarray(bar), (grid.width - grid.bar_w + 4, grid.cell(r, 0)[1]))
        r += 1
    for k, text in enumerate(grid.notes):  # under the last row
        draw.text((8, grid.cell(r, 0)[1] + 4 + k * line), text, fill="#444444", font=small)
    return canvas.quantize(256, method=Image.Quantize.FASTOCTREE)
