"""Ops that move or resample pixels: resize down and back up, resize to a long side, crop,
rotation, horizontal flip, and a screenshot (rescale, optional border, PNG). Crop, rotation with
`border: crop`, `resize_to` and the screenshot return an image of another size (a detector
resizes its input anyway); the others keep the size. A random crop position is drawn in the
params step and its box recorded (augment.record: `cropped`)."""

from __future__ import annotations

import math
from functools import partial
from typing import Annotated, ClassVar, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator
from pydantic.dataclasses import dataclass

from augment.functional import anchor, known_colour, rgb
from augment.op_base import STRICT, Op, PixelTransform, Position
from augment.record import CROPPED, Box

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}
Interpolation = Literal["nearest", "bilinear", "bicubic", "area", "lanczos"]


def resize(img: np.ndarray, width: int, height: int, interpolation: str) -> np.ndarray:
    return cv2.resize(img, (max(1, width), max(1, height)), interpolation=INTERPOLATIONS[interpolation])


def down_up(img: np.ndarray, scale: float, interpolation: str) -> np.ndarray:
    """Shrink to `scale` of each side and enlarge back to the original size, both with `interpolation`."""
    if scale >= 1:
        return img.copy()
    h, w = img.shape[:2]
    small = resize(img, round(w * scale), round(h * scale), interpolation)
    return resize(small, w, h, interpolation)


def to_long_side(img: np.ndarray, long_side: int, interpolation: str, upscale: bool) -> np.ndarray:
    """Resize so the longer side is `long_side` px, keeping the aspect ratio (never enlarging
    unless `upscale`)."""
    h, w = img.shape[:2]
    factor = long_side / max(h, w)
    if factor == 1 or (factor > 1 and not upscale):
        return img.copy()
    return resize(img, round(w * factor), round(h * factor), interpolation)


def crop_box(shape, rng, keep: float, position: str) -> dict[str, Box]:
    """The box that keeps `keep` of each side at `position` (`random`: drawn from the numpy `rng`)."""
    h, w = shape[:2]
    ch, cw = max(1, round(h * keep)), max(1, round(w * keep))
    if position == "random":
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    else:
        x, y = anchor(position, w - cw, h - ch, None)
    return {CROPPED: (x, y, x + cw, y + ch)}


def crop(img: np.ndarray, cropped: Box) -> np.ndarray:
    x0, y0, x1, y1 = cropped
    return img[y0:y1, x0:x1].copy()


def inscribed(width: int, height: int, degrees: float) -> tuple[int, int]:
    """The largest axis-aligned rectangle inside a width x height one rotated by `degrees`."""
    a = math.radians(abs(degrees) % 180)
    a = min(a, math.pi - a)
    sin, cos = math.sin(a), math.cos(a)
    long, short = max(width, height), min(width, height)
    if short <= 2 * sin * cos * long or abs(sin - cos) < 1e-10:
        x = 0.5 * short
        w, h = (x / sin, x / cos) if width >= height else (x / cos, x / sin)
    else:
        cos2 = cos * cos - sin * sin
        w, h = (width * cos - height * sin) / cos2, (height * cos - width * sin) / cos2
    return max(1, math.floor(w)), max(1, math.floor(h))


def rotate(img: np.ndarray, degrees: float, border: str, fill: tuple[int, int, int]) -> np.ndarray:
    """Rotate counter-clockwise by `degrees` about the centre (bilinear); the corners it uncovers
    are filled with `fill`, or with `border: crop` cut away (the largest upright rectangle left)."""
    if degrees == 0:
        return img.copy()
    h, w = img.shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    out = cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    if border == "fill":
        return out
    cw, ch = inscribed(w, h, degrees)
    x, y = (w - cw) // 2, (h - ch) // 2
    return out[y : y + ch, x : x + cw].copy()


def screenshot(img: np.ndarray, scale: float, border: float, colour: tuple[int, int, int]) -> np.ndarray:
    """The image shown at `scale` (area when shrinking, bilinear when enlarging), framed by a
    `border` (fraction of the long side) of `colour`, saved as PNG and read back."""
    h, w = img.shape[:2]
    out = img if scale == 1 else resize(img, round(w * scale), round(h * scale), "area" if scale < 1 else "bilinear")
    pad = round(border * max(out.shape[:2]))
    if pad:
        out = cv2.copyMakeBorder(out, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=colour)
    ok, png = cv2.imencode(".png", out, [cv2.IMWRITE_PNG_COMPRESSION, 1])  # channel order is kept both ways
    return cv2.imdecode(png, cv2.IMREAD_UNCHANGED)


@dataclass(config=STRICT)
class Resize(Op):
    """Shrink to `scale` of each side and enlarge back, both with the named `interpolation`."""

    name: ClassVar[str] = "resize"
    family: ClassVar[str] = "resampling"
    units: ClassVar[str] = "fraction of each side, 1 = full size"
    severity: ClassVar[str] = "scale"
    neutral: ClassVar[float] = 1
    scale: Annotated[float, Field(gt=0, le=1)]
    interpolation: Interpolation = "bilinear"

    def transform(self):
        return PixelTransform(partial(down_up, scale=self.scale, interpolation=self.interpolation))


@dataclass(config=STRICT)
class ResizeTo(Op):
    """Resize to `long_side` px on the longer side, aspect kept (as a platform does on upload);
    smaller images are left as they are unless `upscale`. No severity: it depends on the image."""

    name: ClassVar[str] = "resize_to"
    family: ClassVar[str] = "resampling"
    long_side: Annotated[int, Field(ge=8, le=16384)]
    interpolation: Interpolation = "area"
    upscale: bool = False

    def transform(self):
        pixels = partial(to_long_side, long_side=self.long_side, interpolation=self.interpolation, upscale=self.upscale)
        return PixelTransform(pixels, moves=True)


@dataclass(config=STRICT)
class Crop(Op):
    """Keep `keep` of the width and of the height (0.9: a 90 % crop), at `position` (a corner,
    the centre, or at random, seeded and recorded)."""

    name: ClassVar[str] = "crop"
    family: ClassVar[str] = "geometry"
    units: ClassVar[str] = "fraction of each side kept, 1 = all"
    severity: ClassVar[str] = "keep"
    neutral: ClassVar[float] = 1
    random_when: ClassVar[tuple[str, str]] = ("position", "random")
    keep: Annotated[float, Field(gt=0, le=1)]
    position: Position = "center"

    def transform(self):
        draw = partial(crop_box, keep=self.keep, position=self.position)
        return PixelTransform(crop, draw=draw, keys=(CROPPED,), moves=True)


@dataclass(config=STRICT)
class Rotate(Op):
    """Rotate by `degrees` counter-clockwise; `border: fill` paints the uncovered corners with
    `fill`, `border: crop` cuts them away (a smaller image)."""

    name: ClassVar[str] = "rotate"
    family: ClassVar[str] = "geometry"
    units: ClassVar[str] = "degrees, counter-clockwise"
    severity: ClassVar[str] = "degrees"
    neutral: ClassVar[float] = 0
    degrees: Annotated[float, Field(ge=-180, le=180)]
    border: Literal["fill", "crop"] = "fill"
    fill: str = "black"

    @field_validator("fill")
    @classmethod
    def _known_fill(cls, v: str) -> str:
        return known_colour(v)

    def transform(self):
        pixels = partial(rotate, degrees=self.degrees, border=self.border, fill=rgb(self.fill))
        return PixelTransform(pixels, moves=True)


@dataclass(config=STRICT)
class HorizontalFlip(Op):
    """Mirror left to right. No severity: it is done or not."""

    name: ClassVar[str] = "horizontal_flip"
    family: ClassVar[str] = "geometry"

    def transform(self):
        return PixelTransform(lambda img: np.ascontiguousarray(img[:, ::-1]), moves=True)


@dataclass(config=STRICT)
class Screenshot(Op):
    """A screenshot of the image shown at `scale` of its size, with a `border` (fraction of the
    long side) of `colour` around it, saved as PNG."""

    name: ClassVar[str] = "screenshot"
    family: ClassVar[str] = "resampling"
    units: ClassVar[str] = "display scale, 1 = pixel for pixel"
    severity: ClassVar[str] = "scale"
    neutral: ClassVar[float] = 1
    scale: Annotated[float, Field(gt=0, le=4)]
    border: Annotated[float, Field(ge=0, le=0.5)] = 0.0
    colour: str = "white"

    @field_validator("colour")
    @classmethod
    def _known_colour(cls, v: str) -> str:
        return known_colour(v)

    def transform(self):
        pixels = partial(screenshot, scale=self.scale, border=self.border, colour=rgb(self.colour))
        return PixelTransform(pixels, moves=True)


OPS = (Resize, ResizeTo, Crop, Rotate, HorizontalFlip, Screenshot)
