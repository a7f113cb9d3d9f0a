"""Per-pixel filters of the corruption suite: sharpen (unsharp mask), contrast, posterize,
salt-and-pepper noise and Poisson (shot) noise. The noises draw their seed in the params step
(recorded as `noise_seed`, augment.record) and make their field from it with numpy; every op here
leaves the image exactly as it is at its neutral value."""

from __future__ import annotations

from functools import partial
from typing import Annotated, ClassVar

import cv2
import numpy as np
from pydantic import Field
from pydantic.dataclasses import dataclass

from augment.op_base import STRICT, Op, PixelTransform
from augment.record import NOISE_SEED


def draw_seed(shape, rng) -> dict[str, int]:
    """A noise field's seed, from the transform's seeded numpy generator."""
    return {NOISE_SEED: int(rng.integers(0, 2**31 - 1))}


def sharpen(img: np.ndarray, amount: float, radius: float) -> np.ndarray:
    """Unsharp mask: img + amount * (img - gaussian_blur(img, radius)), rounded and saturated."""
    if amount == 0:
        return img.copy()
    blurred = cv2.GaussianBlur(img, (0, 0), radius)
    return cv2.addWeighted(img, 1 + amount, blurred, -amount, 0.0)


def lookup(img: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Map every channel value through a 256-entry table (rounded, saturated to uint8)."""
    return cv2.LUT(img, np.clip(np.rint(table), 0, 255).astype(np.uint8))


def contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Scale every value's distance from mid-grey (127.5) by `factor`."""
    return lookup(img, 127.5 + (np.arange(256) - 127.5) * factor)


def posterize(img: np.ndarray, bits: int) -> np.ndarray:
    """Keep the top `bits` bits of every channel value (2**bits levels per channel)."""
    return lookup(img, np.arange(256) & (0xFF << (8 - bits)) & 0xFF)


def salt_and_pepper(img: np.ndarray, noise_seed: int, amount: float) -> np.ndarray:
    """Set a share `amount` of the pixels to black or white (half each), chosen from `noise_seed`;
    with one seed, the pixels hit at a smaller amount are hit at every larger one."""
    u = np.random.default_rng(noise_seed).random(img.shape[:2], dtype=np.float32)
    out = img.copy()
    out[u < amount / 2] = 0
    out[(u >= amount / 2) & (u < amount)] = 255
    return out


def poisson_noise(img: np.ndarray, noise_seed: int, strength: float) -> np.ndarray:
    """Shot noise: each value v becomes Poisson(v / 255 * c) / c * 255 with c = 1 / strength**2
    photons at white, so `strength` is the noise's standard deviation at white (fraction of 255)."""
    if strength == 0:
        return img.copy()
    photons = min(1 / strength**2, 1e12)  # past 1e12 photons the noise rounds away (and numpy's Poisson overflows)
    counts = np.random.default_rng(noise_seed).poisson(img * (photons / 255))
    return np.clip(np.rint(counts * (255 / photons)), 0, 255).astype(np.uint8)


@dataclass(config=STRICT)
class Sharpen(Op):
    """Unsharp mask of `amount` (0 = none) over a gaussian of `radius` px."""

    name: ClassVar[str] = "sharpen"
    family: ClassVar[str] = "blur"
    units: ClassVar[str] = "unsharp-mask gain, 0 = none"
    severity: ClassVar[str] = "amount"
    neutral: ClassVar[float] = 0
    amount: Annotated[float, Field(ge=0, le=20)]
    radius: Annotated[float, Field(gt=0, le=50)] = 1.0

    def transform(self):
        return PixelTransform(partial(sharpen, amount=self.amount, radius=self.radius))


@dataclass(config=STRICT)
class Contrast(Op):
    """Scale contrast about mid-grey by `factor`: 0 is flat grey, 1 unchanged, 2 twice as strong."""

    name: ClassVar[str] = "contrast"
    family: ClassVar[str] = "colour"
    units: ClassVar[str] = "factor, 1 = unchanged, 0 = flat grey"
    severity: ClassVar[str] = "factor"
    neutral: ClassVar[float] = 1
    pointwise: ClassVar[bool] = True
    factor: Annotated[float, Field(ge=0, le=10)]

    def transform(self):
        return PixelTransform(partial(contrast, factor=self.factor))


@dataclass(config=STRICT)
class Posterize(Op):
    """Colour quantisation: keep `bits` bits per channel (8 = unchanged, 1 = two levels)."""

    name: ClassVar[str] = "posterize"
    family: ClassVar[str] = "colour"
    units: ClassVar[str] = "bits per channel, 8 = unchanged"
    severity: ClassVar[str] = "bits"
    neutral: ClassVar[float] = 8
    pointwise: ClassVar[bool] = True
    bits: Annotated[int, Field(ge=1, le=8)]

    def transform(self):
        return PixelTransform(partial(posterize, bits=self.bits))


@dataclass(config=STRICT)
class SaltAndPepper(Op):
    """Impulse noise: a share `amount` of the pixels set to black or white."""

    name: ClassVar[str] = "salt_and_pepper"
    family: ClassVar[str] = "noise"
    units: ClassVar[str] = "fraction of pixels"
    severity: ClassVar[str] = "amount"
    neutral: ClassVar[float] = 0
    random_when: ClassVar[bool] = True
    amount: Annotated[float, Field(ge=0, le=1)]

    def transform(self):
        return PixelTransform(partial(salt_and_pepper, amount=self.amount), draw=draw_seed, keys=(NOISE_SEED,))


@dataclass(config=STRICT)
class PoissonNoise(Op):
    """Shot noise whose standard deviation at white is `strength` (fraction of 255)."""

    name: ClassVar[str] = "poisson_noise"
    family: ClassVar[str] = "noise"
    units: ClassVar[str] = "noise sd at white, fraction of 255"
    severity: ClassVar[str] = "strength"
    neutral: ClassVar[float] = 0
    random_when: ClassVar[bool] = True
    strength: Annotated[float, Field(ge=0, le=1)]

    def transform(self):
        return PixelTransform(partial(poisson_noise, strength=self.strength), draw=draw_seed, keys=(NOISE_SEED,))


OPS = (Sharpen, Contrast, Posterize, SaltAndPepper, PoissonNoise)
