"""Ops that happen with a probability `p` and draw their parameters per image: the steps of a
benchmark's evaluation chain (the `ai_genbench` preset, augment.presets), where each image meets
a different draw. Every draw is made in the params step from the transform's seeded generator
(the caller seeds it per image and variant, augment.grid.variant_seed, and each step's generator
mixes in the step's place: augment.op_base.StepSeededTransform) and recorded in the params:
`applied` (whether the step happened), and what it drew (`quality`, `std` and the noise seed,
`size`, `interpolation` and the `cropped` box). The same seed gives the same draws and pixels.

The pixel work is plain Pillow / OpenCV: grayscale as Pillow's `convert("L")` (ITU-R 601-2 luma)
copied to three channels; JPEG through Pillow (libjpeg; a quality above 100 is libjpeg's 100);
the noise as augment.functional.gaussian_noise; the resized crop as the common random-resized-crop
rule (area share and log-uniform aspect ratio, ten tries, then the central crop), resized with
Pillow's filter of the drawn interpolation.
"""

from __future__ import annotations

import io
import math
from typing import Annotated, ClassVar, Literal

import numpy as np
from PIL import Image
from pydantic import Field, model_validator
from pydantic.dataclasses import dataclass

from augment.functional import gaussian_noise
from augment.op_base import STRICT, Op, StepSeededTransform
from augment.record import CROPPED, MOVED, NOISE_SEED

Probability = Annotated[float, Field(ge=0, le=1)]
PIL_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
               "lanczos": Image.Resampling.LANCZOS}  # fmt: skip
APPLIED = "applied"  # params key: whether a step with a probability happened on this image


class ChanceOp(Op):
    """An op that happens with probability `p`: random unless p is 0 or 1 and it draws nothing else."""

    draws: ClassVar[bool] = True  # it draws a parameter when it happens

    @property
    def is_random(self) -> bool:
        return 0 < self.p < 1 or (self.draws and self.p > 0)


def happens(rng: np.random.Generator, p: float) -> bool:
    """One uniform draw against `p`: the first draw of every step, made whatever p is."""
    return bool(rng.random() < p)


def _grey(img: np.ndarray, applied: bool) -> np.ndarray:
    if not applied:
        return img
    return np.repeat(np.asarray(Image.fromarray(img).convert("L"))[:, :, None], 3, axis=2)


@dataclass(config=STRICT)
class Grayscale(ChanceOp):
    """With probability `p`, the image in grey (ITU-R 601-2 luma), kept as three channels."""

    name: ClassVar[str] = "grayscale"
    family: ClassVar[str] = "colour"
    label: ClassVar[str] = "grayscale"
    draws: ClassVar[bool] = False
    p: Probability = 1.0

    def transform(self):
        return StepSeededTransform(_grey, draw=lambda shape, rng: {APPLIED: happens(rng, self.p)}, keys=(APPLIED,))


def _jpeg(img: np.ndarray, applied: bool, quality: int) -> np.ndarray:
    if not applied:
        return img
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, format="JPEG", quality=min(quality, 100))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


@dataclass(config=STRICT)
class RandomJpeg(ChanceOp):
    """With probability `p`, JPEG at a quality drawn from `qualities` (each equally likely)."""

    name: ClassVar[str] = "random_jpeg"
    family: ClassVar[str] = "compression"
    label: ClassVar[str] = "JPEG, drawn quality"
    qualities: tuple[Annotated[int, Field(ge=1, le=101)], ...]
    p: Probability = 1.0

    def transform(self):
        def draw(shape, rng):
            return {APPLIED: happens(rng, self.p), "quality": int(self.qualities[rng.integers(len(self.qualities))])}

        return StepSeededTransform(_jpeg, draw=draw, keys=(APPLIED, "quality"))


def _noise(img: np.ndarray, applied: bool, std: float, seed: int) -> np.ndarray:
    return gaussian_noise(img, std * 255, seed) if applied else img


@dataclass(config=STRICT)
class RandomGaussianNoise(ChanceOp):
    """With probability `p`, gaussian noise per pixel and channel, its standard deviation drawn
    uniformly from [std_low, std_high] (fractions of 255)."""

    name: ClassVar[str] = "random_gaussian_noise"
    family: ClassVar[str] = "noise"
    label: ClassVar[str] = "Gaussian noise, drawn strength"
    std_low: Annotated[float, Field(ge=0, le=1)]
    std_high: Annotated[float, Field(ge=0, le=1)]
    p: Probability = 1.0

    @model_validator(mode="after")
    def _ordered(self):
        if self.std_low > self.std_high:
            raise ValueError(f"std_low {self.std_low} is above std_high {self.std_high}")
        return self

    def transform(self):
        def draw(shape, rng):
            applied = happens(rng, self.p)
            std, seed = float(rng.uniform(self.std_low, self.std_high)), int(rng.integers(0, 2**31 - 1))
            return {APPLIED: applied, "std": std, "seed": seed} | ({NOISE_SEED: seed} if applied else {})

        return StepSeededTransform(_noise, draw=draw, keys=(APPLIED, "std", "seed"))


def crop_area(shape, rng: np.random.Generator, scale: tuple[float, float], ratio: tuple[float, float]) -> tuple:
    """A box (x0, y0, x1, y1) covering a share of the image drawn from `scale`, its width over
    height drawn log-uniformly from `ratio`; ten tries, then the central crop of the nearest ratio."""
    h, w = shape[:2]
    for _ in range(10):
        area = h * w * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            return (x, y, x + cw, y + ch)
    aspect = w / h
    cw, ch = (
        (w, round(w / ratio[0])) if aspect < ratio[0] else (round(h * ratio[1]), h) if aspect > ratio[1] else (w, h)
    )
    x, y = (w - cw) // 2, (h - ch) // 2
    return (x, y, x + cw, y + ch)


def _resized_crop(img: np.ndarray, applied: bool, box: tuple, size: int, interpolation: str) -> np.ndarray:
    if not applied:
        return img
    x0, y0, x1, y1 = box
    part = Image.fromarray(np.ascontiguousarray(img[y0:y1, x0:x1]))
    return np.asarray(part.resize((size, size), PIL_FILTERS[interpolation]))


@dataclass(config=STRICT)
class RandomResizedCrop(ChanceOp):
    """With probability `p`, a crop of a drawn share (`scale_low`-`scale_high` of the area) and
    aspect ratio (`ratio_low`-`ratio_high`), resized to a square of a side drawn from
    `size_low`-`size_high` px with an interpolation drawn from `interpolations`."""

    name: ClassVar[str] = "random_resized_crop"
    family: ClassVar[str] = "geometry"
    label: ClassVar[str] = "random resized crop"
    size_low: Annotated[int, Field(ge=1, le=8192)]
    size_high: Annotated[int, Field(ge=1, le=8192)]
    scale_low: Annotated[float, Field(gt=0, le=1)] = 0.08
    scale_high: Annotated[float, Field(gt=0, le=1)] = 1.0
    ratio_low: Annotated[float, Field(gt=0)] = 0.75
    ratio_high: Annotated[float, Field(gt=0)] = 4 / 3
    interpolations: tuple[Literal["bilinear", "bicubic", "lanczos"], ...] = ("bilinear",)
    p: Probability = 1.0

    @model_validator(mode="after")
    def _ordered(self):
        for low, high in (("size_low", "size_high"), ("scale_low", "scale_high"), ("ratio_low", "ratio_high")):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} {getattr(self, low)} is above {high} {getattr(self, high)}")
        if not self.interpolations:
            raise ValueError("interpolations: name one or more")
        return self

    def transform(self):
        def draw(shape, rng):
            applied = happens(rng, self.p)
            size = int(rng.integers(self.size_low, self.size_high + 1))
            interpolation = self.interpolations[int(rng.integers(len(self.interpolations)))]
            box = crop_area(shape, rng, (self.scale_low, self.scale_high), (self.ratio_low, self.ratio_high))
            drawn = {APPLIED: applied, "size": size, "interpolation": interpolation, "box": box}
            return drawn | ({CROPPED: box, MOVED: True} if applied else {})  # recorded only when it cut

        return StepSeededTransform(_resized_crop, draw=draw, keys=(APPLIED, "box", "size", "interpolation"))


OPS = (Grayscale, RandomJpeg, RandomGaussianNoise, RandomResizedCrop)
