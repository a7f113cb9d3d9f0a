"""The pixel work of the ops that draw (noise, coloured blocks, text), as plain functions, the way
albumentations keeps its own in `functional.py` modules. The random draws happen in the
transforms' params step (augment.ops), which hands these functions what to draw where; only the
placement helpers take the transform's seeded generator, and draw from it in a fixed order.

All take and return uint8 RGB arrays (H, W, 3).
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from augment.record import Box


def rgb(colour: str) -> tuple[int, int, int]:
    """A CSS colour name or hex code as an RGB triple; a ValueError naming it when unknown."""
    try:
        return ImageColor.getrgb(colour)[:3]
    except ValueError:
        raise ValueError(f"unknown colour {colour!r} (use a CSS name such as 'red' or '#ff0000')") from None


def known_colour(colour: str) -> str:
    """`colour` itself when rgb() knows it (a pydantic validator's body)."""
    rgb(colour)
    return colour


def anchor(position: str, free_w: int, free_h: int, rng) -> tuple[int, int]:
    """Top-left corner of a box that leaves free_w x free_h pixels of slack; `random` draws x
    then y from `rng` (a `random.Random`)."""
    if position == "random":
        return rng.randint(0, free_w), rng.randint(0, free_h)
    x = {"left": 0, "center": free_w // 2, "right": free_w}
    y = {"top": 0, "center": free_h // 2, "bottom": free_h}
    if position == "center":
        return x["center"], y["center"]
    vert, horiz = position.split("_")
    return x[horiz], y[vert]


def gaussian_noise(img: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """img + sigma * N(0, 1) per pixel and channel, drawn by OpenCV's generator seeded with `seed`
    (thread-local), rounded and saturated to uint8."""
    cv2.setRNGSeed(seed)
    noise = np.empty(img.shape, np.float32)
    cv2.randn(noise.reshape(img.shape[0], -1), 0.0, 1.0)  # one channel: every value drawn
    return cv2.addWeighted(img.astype(np.float32), 1.0, noise, sigma, 0.0, dtype=cv2.CV_8U)


def block_boxes(height: int, width: int, area: float, count: int, position: str, rng) -> list[Box]:
    """`count` squares covering `area` of a height x width image together, placed at `position`."""
    side = max(1, min(height, width, round(np.sqrt(area * height * width / count))))
    boxes = []
    for _ in range(count):
        x, y = anchor(position, width - side, height - side, rng)
        boxes.append((x, y, x + side, y + side))
    return boxes


def paint_boxes(img: np.ndarray, boxes: list[Box], colour: tuple[int, int, int]) -> np.ndarray:
    """A copy of `img` with every box filled with `colour`."""
    out = img.copy()
    for x0, y0, x1, y1 in boxes:
        out[y0:y1, x0:x1] = colour
    return out


def text_coverage(height: int, width: int, text: str, size: float, position: str, rng) -> Image.Image:
    """Where white text would cover a height x width image, 0-255 (a PIL `L` image): one copy at
    `position`, or `tiled` over the whole image; `size` is the text height as a fraction of the
    short side."""
    font = ImageFont.load_default(size=max(6, round(size * min(height, width))))
    overlay = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(overlay)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tw, th = right - left, bottom - top
    if position == "tiled":
        for y in range(0, height, max(1, 2 * th)):
            for x in range(-(y % (tw + th)), width, tw + th):
                draw.text((x - left, y - top), text, fill=255, font=font)
    else:
        x, y = anchor(position, max(0, width - tw), max(0, height - th), rng)
        draw.text((x - left, y - top), text, fill=255, font=font)
    return overlay


def blend_white(img: np.ndarray, coverage: np.ndarray, opacity: float) -> np.ndarray:
    """img + (255 - img) * coverage / 255 * opacity, on the rows the coverage touches only."""
    alpha = np.asarray(coverage, dtype=np.float32) * (opacity / 255)
    out = img.copy()
    touched = np.flatnonzero(alpha.any(axis=1))
    if touched.size:
        band = slice(touched[0], touched[-1] + 1)
        lifted = img[band].astype(np.float32)
        lifted += (255 - lifted) * alpha[band, :, None]
        out[band] = np.rint(lifted).astype(np.uint8)
    return out
