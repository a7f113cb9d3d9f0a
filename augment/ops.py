"""Image edits as small, validated operations built on albumentations.

Each op is a frozen pydantic dataclass: its fields are its parameters, checked when it is
constructed, and `transform()` returns the albumentations transform that performs it with
exactly those parameters (every random *range* is pinned to a single value, so the only
randomness left is e.g. the noise pattern, which the caller seeds). The ops that draw at random
draw in their transform's params step, not in `apply`, and put what they drew in the params (the
painted boxes, the noise seed; augment.record): `apply` is deterministic given them, and the
pixel work is in augment.functional. Each `transform()` imports albumentations (through
augment.transforms, which also holds the four transforms of these ops that albumentations lacks)
when it is called, not when this module is: a run that edits nothing never imports it.

All ops take and return uint8 RGB arrays of shape (H, W, 3); the study's 11 below keep the
image's size, the geometry and resampling ops of augment.ops_geometry may change it. The Op base
class and the metadata every op declares (family, severity, neutral value, units) are in
augment.op_base; the corruption suite's ops in augment.ops_compression, ops_geometry, ops_filters;
the ops that happen with a probability and draw their parameters per image in augment.ops_chance.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import cv2
from pydantic import Field, field_validator
from pydantic.dataclasses import dataclass

from augment import ops_chance, ops_compression, ops_filters, ops_geometry
from augment.functional import known_colour, rgb
from augment.op_base import STRICT as _STRICT
from augment.op_base import Op, OpInfo, Position, op_info

# --- noise and blur ---------------------------------------------------------------------


@dataclass(config=_STRICT)
class GaussianNoise(Op):
    """Additive gaussian noise, independent per pixel and channel.
    `std` is a fraction of the full range: 0.1 means sigma = 25.5 grey levels."""

    name: ClassVar[str] = "gaussian_noise"
    family: ClassVar[str] = "noise"
    units: ClassVar[str] = "fraction of 255"
    label: ClassVar[str] = "Gaussian noise"
    axis: ClassVar[tuple[str, str]] = ("noise standard deviation", "fraction of 255")
    severity: ClassVar[str] = "std"
    neutral: ClassVar[float] = 0
    random_when: ClassVar[bool] = True
    std: Annotated[float, Field(gt=0, le=1)]

    def transform(self):
        from augment.transforms import GaussianNoiseTransform

        return GaussianNoiseTransform(sigma=self.std * 255)


@dataclass(config=_STRICT)
class GaussianBlur(Op):
    """Gaussian blur with standard deviation `sigma` in pixels (kernel sized from sigma)."""

    name: ClassVar[str] = "gaussian_blur"
    family: ClassVar[str] = "blur"
    units: ClassVar[str] = "px"
    label: ClassVar[str] = "Gaussian blur"
    axis: ClassVar[tuple[str, str]] = ("blur σ", "px")
    severity: ClassVar[str] = "sigma"
    neutral: ClassVar[float] = 0
    sigma: Annotated[float, Field(gt=0, le=100)]

    def transform(self):
        from augment.transforms import A

        return A.GaussianBlur(blur_limit=0, sigma_limit=(self.sigma, self.sigma), p=1)


@dataclass(config=_STRICT)
class MotionBlur(Op):
    """Linear motion blur over `length` pixels (odd, >= 3) at `angle` degrees."""

    name: ClassVar[str] = "motion_blur"
    family: ClassVar[str] = "blur"
    units: ClassVar[str] = "px"
    label: ClassVar[str] = "motion blur"
    axis: ClassVar[tuple[str, str]] = ("motion blur length", "px")
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
        from augment.transforms import MotionBlurTransform

        return MotionBlurTransform(
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
    family: ClassVar[str] = "colour"
    units: ClassVar[str] = "degrees"
    label: ClassVar[str] = "hue shift"
    axis: ClassVar[tuple[str, str]] = ("hue rotation", "degrees")
    sides: ClassVar[tuple[str, str]] = ("backwards", "forwards")
    severity: ClassVar[str] = "degrees"
    neutral: ClassVar[float] = 0
    pointwise: ClassVar[bool] = True
    degrees: Annotated[float, Field(ge=-180, le=180)]

    def transform(self):
        from augment.transforms import A

        # OpenCV stores 8-bit hue in [0, 180): one unit is two degrees.
        h = self.degrees / 2
        return A.HueSaturationValue(hue_shift_limit=(h, h), sat_shift_limit=(0, 0), val_shift_limit=(0, 0), p=1)


@dataclass(config=_STRICT)
class Saturation(Op):
    """Scale saturation by `factor`: 0 is greyscale, 1 unchanged, 2 twice as vivid."""

    name: ClassVar[str] = "saturation"
    family: ClassVar[str] = "colour"
    units: ClassVar[str] = "factor, 1 = unchanged, 0 = grey"
    label: ClassVar[str] = "saturation"
    axis: ClassVar[tuple[str, str]] = ("saturation factor", "1 = unchanged, 0 = grey")
    sides: ClassVar[tuple[str, str]] = ("less", "more")
    severity: ClassVar[str] = "factor"
    neutral: ClassVar[float] = 1
    pointwise: ClassVar[bool] = True
    factor: Annotated[float, Field(ge=0, le=10)]

    def transform(self):
        from augment.transforms import A

        f = self.factor
        return A.ColorJitter(brightness=(1, 1), contrast=(1, 1), saturation=(f, f), hue=(0, 0), p=1)


@dataclass(config=_STRICT)
class BrightnessContrast(Op):
    """Shift brightness and scale contrast; both in [-1, 1], 0 leaves the image as it is."""

    name: ClassVar[str] = "brightness_contrast"
    family: ClassVar[str] = "colour"
    units: ClassVar[str] = "fraction of the range"
    label: ClassVar[str] = "brightness"
    axis: ClassVar[tuple[str, str]] = ("brightness shift", "fraction of the range")
    sides: ClassVar[tuple[str, str]] = ("darker", "brighter")
    severity: ClassVar[str] = "brightness"
    neutral: ClassVar[float] = 0
    pointwise: ClassVar[bool] = True
    brightness: Annotated[float, Field(ge=-1, le=1)] = 0.0
    contrast: Annotated[float, Field(ge=-1, le=1)] = 0.0

    def transform(self):
        from augment.transforms import A

        b, c = self.brightness, self.contrast
        return A.RandomBrightnessContrast(brightness_limit=(b, b), contrast_limit=(c, c), p=1)


@dataclass(config=_STRICT)
class Gamma(Op):
    """Gamma curve: out = in ** gamma (on [0, 1]); gamma > 1 darkens, < 1 brightens."""

    name: ClassVar[str] = "gamma"
    family: ClassVar[str] = "colour"
    units: ClassVar[str] = "exponent, 1 = unchanged, > 1 darkens"
    label: ClassVar[str] = "gamma"
    axis: ClassVar[tuple[str, str]] = ("gamma", "1 = unchanged, > 1 darkens")
    sides: ClassVar[tuple[str, str]] = ("γ < 1, brighter", "γ > 1, darker")
    severity: ClassVar[str] = "gamma"
    neutral: ClassVar[float] = 1
    pointwise: ClassVar[bool] = True
    gamma: Annotated[float, Field(gt=0, le=10)]

    def transform(self):
        from augment.transforms import A

        g = self.gamma * 100  # albumentations takes gamma in percent
        return A.RandomGamma(gamma_limit=(g, g), p=1)


# --- resampling and compression ----------------------------------------------------------


@dataclass(config=_STRICT)
class Jpeg(Op):
    """Re-encode as JPEG at `quality` (1-100) and decode again."""

    name: ClassVar[str] = "jpeg"
    family: ClassVar[str] = "compression"
    units: ClassVar[str] = "quality, 100 = best"
    label: ClassVar[str] = "JPEG"
    axis: ClassVar[tuple[str, str]] = ("JPEG quality", "100 = best")
    severity: ClassVar[str] = "quality"
    neutral: ClassVar[float] = 100
    quality: Annotated[int, Field(ge=1, le=100)]

    def transform(self):
        from augment.transforms import A

        return A.ImageCompression(quality_range=(self.quality, self.quality), compression_type="jpeg", p=1)


@dataclass(config=_STRICT)
class Downscale(Op):
    """Shrink to `scale` of the size (area averaging), then enlarge back (bilinear)."""

    name: ClassVar[str] = "downscale"
    family: ClassVar[str] = "resampling"
    units: ClassVar[str] = "fraction of the size"
    label: ClassVar[str] = "downscale"
    axis: ClassVar[tuple[str, str]] = ("downscale factor", "1 = full size")
    severity: ClassVar[str] = "scale"
    neutral: ClassVar[float] = 1
    scale: Annotated[float, Field(gt=0, lt=1)]

    def transform(self):
        from augment.transforms import A

        return A.Downscale(
            scale_range=(self.scale, self.scale),
            interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR},
            p=1,
        )


# --- overlays: the study's "watermark elements" -----------------------------------------


@dataclass(config=_STRICT)
class Occlusion(Op):
    """Solid coloured squares pasted over the image, like the study's "watermark elements".
    `area` is the fraction of the image they cover together; `position` places them at a
    corner, the centre, or at random (seeded)."""

    name: ClassVar[str] = "occlusion"
    family: ClassVar[str] = "overlay"
    units: ClassVar[str] = "fraction of the image"
    label: ClassVar[str] = "occlusion"
    axis: ClassVar[tuple[str, str]] = ("area covered", "fraction of the image")
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
        return known_colour(v)

    def transform(self):
        from augment.transforms import ColourBlocksTransform

        return ColourBlocksTransform(rgb(self.colour), self.area, self.count, self.position)


@dataclass(config=_STRICT)
class TextWatermark(Op):
    """Semi-transparent white text; `size` is the text height as a fraction of the short side,
    `position` one place or `tiled` across the whole image."""

    name: ClassVar[str] = "text_watermark"
    family: ClassVar[str] = "overlay"
    units: ClassVar[str] = "opacity, 0 = invisible"
    label: ClassVar[str] = "text watermark"
    axis: ClassVar[tuple[str, str]] = ("text opacity", "0 = invisible")
    severity: ClassVar[str] = "opacity"
    neutral: ClassVar[float] = 0
    random_when: ClassVar[tuple[str, str]] = ("position", "random")
    opacity: Annotated[float, Field(gt=0, le=1)]
    text: Annotated[str, Field(min_length=1, max_length=64)] = "SAMPLE"
    size: Annotated[float, Field(gt=0, le=0.5)] = 0.1
    position: Position | Literal["tiled"] = "center"

    def transform(self):
        from augment.transforms import TextTransform

        return TextTransform(self.text, self.opacity, self.size, self.position)


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
        *ops_compression.OPS,
        *ops_geometry.OPS,
        *ops_filters.OPS,
        *ops_chance.OPS,
    )
}

# name -> family, severity parameter, neutral value, units, range, which way is harsher (augment.op_base.OpInfo)
OP_INFO: dict[str, OpInfo] = {name: op_info(cls) for name, cls in SINGLE_OPS.items()}
