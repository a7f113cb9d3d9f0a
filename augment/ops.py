"""Image edits as small, validated operations built on albumentations.

Each op is a frozen pydantic dataclass: its fields are its parameters, checked when it is
constructed, and `transform()` returns the albumentations transform that performs it with
exactly those parameters (every random *range* is pinned to a single value, so the only
randomness left is e.g. the noise pattern, which the caller seeds). The ops that draw at random
draw in their transform's params step, not in `apply`, and put what they drew in the params (the
painted boxes, the noise seed; augment.record): `apply` is deterministic given them, and the
pixel work is in augment.functional.

All ops take and return uint8 RGB arrays of shape (H, W, 3) at the image's own resolution.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, ClassVar, Literal

import albumentations as A
import cv2
import numpy as np
from PIL import ImageColor
from pydantic import ConfigDict, Field, field_validator
from pydantic.dataclasses import dataclass

from augment.functional import blend_white, block_boxes, gaussian_noise, paint_boxes, text_coverage
from augment.record import NOISE_SEED, PAINTED

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # NaN / inf: "should be a finite number"

Position = Literal["random", "center", "top_left", "top_right", "bottom_left", "bottom_right"]


class Op:
    """Base of every op. `name` is the YAML key; `severity` names the parameter that grows
    with the strength of the edit (used to order and plot variants); `neutral` is the value of
    that parameter at which the edit would leave the image as it is, so the distance from it says
    how mild an edit is (and on which side of it, for ops that go both ways). `pointwise` ops map
    each pixel's colour through the same function, whatever the image around it: they commute
    with a resampling that only picks pixels (a nearest-neighbour resize), so they can run on the
    rows a resize keeps instead of the full image (tests/test_scoring.py holds them to it)."""

    name: ClassVar[str]
    severity: ClassVar[str | None] = None
    neutral: ClassVar[float | None] = None
    pointwise: ClassVar[bool] = False
    # when the op draws something at random (a noise field, a placement): always (True), never
    # (False), or when a parameter has a value, e.g. ("position", "random")
    random_when: ClassVar[bool | tuple[str, object]] = False

    @property
    def is_random(self) -> bool:
        """Whether this op draws at random: only then do seeded replicates of a variant differ."""
        rule = self.random_when
        return rule if isinstance(rule, bool) else getattr(self, rule[0]) == rule[1]

    def transform(self) -> A.BasicTransform:
        raise NotImplementedError

    def params(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def param_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


# --- noise and blur ---------------------------------------------------------------------


class _GaussianNoiseTransform(A.ImageOnlyTransform):
    """Per-pixel, per-channel gaussian noise. Like albumentations' GaussNoise it seeds OpenCV's
    (thread-local) generator from the transform's seeded generator (the seed is drawn in
    `get_params` and recorded), but draws and adds the noise entirely in OpenCV: about 4x faster
    on the study's 4.6-megapixel images."""

    def __init__(self, sigma: float):
        super().__init__(p=1)
        self.sigma = sigma

    def get_params(self):
        return {NOISE_SEED: int(self.random_generator.integers(0, 2**31 - 1))}

    def apply(self, img, noise_seed, **params):
        return gaussian_noise(img, self.sigma, noise_seed)

    def get_transform_init_args_names(self):
        return ("sigma",)


@dataclass(config=_STRICT)
class GaussianNoise(Op):
    """Additive gaussian noise, independent per pixel and channel.
    `std` is a fraction of the full range: 0.1 means sigma = 25.5 grey levels."""

    name: ClassVar[str] = "gaussian_noise"
    severity: ClassVar[str] = "std"
    neutral: ClassVar[float] = 0
    random_when: ClassVar[bool] = True
    std: Annotated[float, Field(gt=0, le=1)]

    def transform(self):
        return _GaussianNoiseTransform(sigma=self.std * 255)


@dataclass(config=_STRICT)
class GaussianBlur(Op):
    """Gaussian blur with standard deviation `sigma` in pixels (kernel sized from sigma)."""

    name: ClassVar[str] = "gaussian_blur"
    severity: ClassVar[str] = "sigma"
    neutral: ClassVar[float] = 0
    sigma: Annotated[float, Field(gt=0, le=100)]

    def transform(self):
        return A.GaussianBlur(blur_limit=0, sigma_limit=(self.sigma, self.sigma), p=1)


class _MotionBlurTransform(A.MotionBlur):
    """albumentations' MotionBlur with the all-zero border rows and columns of its square kernel
    trimmed (symmetrically, so the anchor stays centred): a horizontal 41 px blur becomes a
    1x41 filter instead of a 41x41 one that OpenCV would run through a DFT."""

    def apply(self, img, kernel, **params):
        rows, cols = np.flatnonzero(kernel.any(axis=1)), np.flatnonzero(kernel.any(axis=0))
        r = min(rows[0], kernel.shape[0] - 1 - rows[-1])
        c = min(cols[0], kernel.shape[1] - 1 - cols[-1])
        return super().apply(img, kernel=kernel[r : kernel.shape[0] - r, c : kernel.shape[1] - c], **params)


@dataclass(config=_STRICT)
class MotionBlur(Op):
    """Linear motion blur over `length` pixels (odd, >= 3) at `angle` degrees."""

    name: ClassVar[str] = "motion_blur"
    severity: ClassVar[str] = "length"
    neutral: ClassVar[float] = 1
    length: Annotated[int, Field(ge=3, le=201)]
    angle: Annotated[float, Field(ge=-180, le=180)] = 0.0

    @field_validator("length")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError(f"must be odd, got {v}")
        return v

    def transform(self):
        return _MotionBlurTransform(
            blur_limit=(self.length, self.length),
            angle_range=(self.angle, self.angle),
            direction_range=(0, 0),
            allow_shifted=False,
            p=1,
        )


# --- colour ----------------------------------------------------------------------------


@dataclass(config=_STRICT)
class HueShift(Op):
    """Rotate every pixel's hue by `degrees` (saturation and value untouched)."""

    name: ClassVar[str] = "hue_shift"
    severity: ClassVar[str] = "degrees"
    neutral: ClassVar[float] = 0
    pointwise: ClassVar[bool] = True
    degrees: Annotated[float, Field(ge=-180, le=180)]

    def transform(self):
        # OpenCV stores 8-bit hue in [0, 180): one unit is two degrees.
        h = self.degrees / 2
        return A.HueSaturationValue(hue_shift_limit=(h, h), sat_shift_limit=(0, 0), val_shift_limit=(0, 0), p=1)


@dataclass(config=_STRICT)
class Saturation(Op):
    """Scale saturation by `factor`: 0 is greyscale, 1 unchanged, 2 twice as vivid."""

    name: ClassVar[str] = "saturation"
    severity: ClassVar[str] = "factor"
    neutral: ClassVar[float] = 1
    pointwise: ClassVar[bool] = True
    factor: Annotated[float, Field(ge=0, le=10)]

    def transform(self):
        f = self.factor
        return A.ColorJitter(brightness=(1, 1), contrast=(1, 1), saturation=(f, f), hue=(0, 0), p=1)


@dataclass(config=_STRICT)
class BrightnessContrast(Op):
    """Shift brightness and scale contrast; both in [-1, 1], 0 leaves the image as it is."""

    name: ClassVar[str] = "brightness_contrast"
    severity: ClassVar[str] = "brightness"
    neutral: ClassVar[float] = 0
    pointwise: ClassVar[bool] = True
    brightness: Annotated[float, Field(ge=-1, le=1)] = 0.0
    contrast: Annotated[float, Field(ge=-1, le=1)] = 0.0

    def transform(self):
        b, c = self.brightness, self.contrast
        return A.RandomBrightnessContrast(brightness_limit=(b, b), contrast_limit=(c, c), p=1)


@dataclass(config=_STRICT)
class Gamma(Op):
    """Gamma curve: out = in ** gamma (on [0, 1]); gamma > 1 darkens, < 1 brightens."""

    name: ClassVar[str] = "gamma"
    severity: ClassVar[str] = "gamma"
    neutral: ClassVar[float] = 1
    pointwise: ClassVar[bool] = True
    gamma: Annotated[float, Field(gt=0, le=10)]

    def transform(self):
        g = self.gamma * 100  # albumentations takes gamma in percent
        return A.RandomGamma(gamma_limit=(g, g), p=1)


# --- resampling and compression ----------------------------------------------------------


@dataclass(config=_STRICT)
class Jpeg(Op):
    """Re-encode as JPEG at `quality` (1-100) and decode again."""

    name: ClassVar[str] = "jpeg"
    severity: ClassVar[str] = "quality"
    neutral: ClassVar[float] = 100
    quality: Annotated[int, Field(ge=1, le=100)]

    def transform(self):
        return A.ImageCompression(quality_range=(self.quality, self.quality), compression_type="jpeg", p=1)


@dataclass(config=_STRICT)
class Downscale(Op):
    """Shrink to `scale` of the size (area averaging), then enlarge back (bilinear)."""

    name: ClassVar[str] = "downscale"
    severity: ClassVar[str] = "scale"
    neutral: ClassVar[float] = 1
    scale: Annotated[float, Field(gt=0, lt=1)]

    def transform(self):
        return A.Downscale(
            scale_range=(self.scale, self.scale),
            interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR},
            p=1,
        )


# --- overlays: the study's "watermark elements" -----------------------------------------


def _rgb(colour: str) -> tuple[int, int, int]:
    try:
        return ImageColor.getrgb(colour)[:3]
    except ValueError:
        raise ValueError(f"unknown colour {colour!r} (use a CSS name such as 'red' or '#ff0000')") from None


class _ColourBlocksTransform(A.ImageOnlyTransform):
    """Paint `count` solid squares of one colour covering `area` of the image in total; where
    they go is drawn (and recorded) in the params step."""

    def __init__(self, colour, area, count, position):
        super().__init__(p=1)
        self.colour, self.area, self.count, self.position = colour, area, count, position

    def get_params_dependent_on_data(self, params, data):
        height, width = params["shape"][:2]
        return {PAINTED: block_boxes(height, width, self.area, self.count, self.position, self.py_random)}

    def apply(self, img, painted, **params):
        return paint_boxes(img, painted, self.colour)

    def get_transform_init_args_names(self):
        return ("colour", "area", "count", "position")


@dataclass(config=_STRICT)
class Occlusion(Op):
    """Solid coloured squares pasted over the image, like the study's "watermark elements".
    `area` is the fraction of the image they cover together; `position` places them at a
    corner, the centre, or at random (seeded)."""

    name: ClassVar[str] = "occlusion"
    severity: ClassVar[str] = "area"
    neutral: ClassVar[float] = 0
    random_when: ClassVar[tuple[str, str]] = ("position", "random")
    area: Annotated[float, Field(gt=0, le=0.5)]
    colour: str = "red"
    count: Annotated[int, Field(ge=1, le=50)] = 1
    position: Position = "random"

    @field_validator("colour")
    @classmethod
    def _known_colour(cls, v: str) -> str:
        _rgb(v)
        return v

    def transform(self):
        return _ColourBlocksTransform(_rgb(self.colour), self.area, self.count, self.position)


class _TextTransform(A.ImageOnlyTransform):
    """Alpha-blend white text over the image; its place is drawn, and the box its pixels cover
    recorded, in the params step."""

    def __init__(self, text, opacity, size, position):
        super().__init__(p=1)
        self.text, self.opacity, self.size, self.position = text, opacity, size, position

    def get_params_dependent_on_data(self, params, data):
        height, width = params["shape"][:2]
        coverage = text_coverage(height, width, self.text, self.size, self.position, self.py_random)
        box = coverage.getbbox() if self.position != "tiled" else None  # tiled: a pattern, not a region
        return {"coverage": coverage, PAINTED: [box] if box else []}

    def apply(self, img, coverage, **params):
        return blend_white(img, coverage, self.opacity)

    def get_transform_init_args_names(self):
        return ("text", "opacity", "size", "position")


@dataclass(config=_STRICT)
class TextWatermark(Op):
    """Semi-transparent white text; `size` is the text height as a fraction of the short side,
    `position` one place or `tiled` across the whole image."""

    name: ClassVar[str] = "text_watermark"
    severity: ClassVar[str] = "opacity"
    neutral: ClassVar[float] = 0
    random_when: ClassVar[tuple[str, str]] = ("position", "random")
    opacity: Annotated[float, Field(gt=0, le=1)]
    text: Annotated[str, Field(min_length=1, max_length=64)] = "SAMPLE"
    size: Annotated[float, Field(gt=0, le=0.5)] = 0.1
    position: Position | Literal["tiled"] = "center"

    def transform(self):
        return _TextTransform(self.text, self.opacity, self.size, self.position)


SINGLE_OPS: dict[str, type[Op]] = {
    op.name: op
    for op in (
        GaussianNoise,
        GaussianBlur,
        MotionBlur,
        HueShift,
        Saturation,
        BrightnessContrast,
        Gamma,
        Jpeg,
        Downscale,
        Occlusion,
        TextWatermark,
    )
}
