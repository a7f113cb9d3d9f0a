"""Lossy re-encoding through Pillow: WebP (quality) and JPEG 2000 (compression ratio). At its
neutral value each codec runs in its lossless mode, so the image comes back exactly as it was
(WebP lossless; JPEG 2000 with the reversible 5/3 wavelet). AVIF is left out: Pillow's AVIF
encoder has no exactly lossless mode for RGB, and one wavelet codec is enough for the suite."""

from __future__ import annotations

import io
from functools import partial
from typing import Annotated, ClassVar

import numpy as np
from PIL import Image
from pydantic import Field
from pydantic.dataclasses import dataclass

from augment.op_base import STRICT, Op, PixelTransform


def _round_trip(img: np.ndarray, **save) -> np.ndarray:
    """Encode with Pillow's `save` options and decode again, as uint8 RGB."""
    buffer = io.BytesIO()
    Image.fromarray(img).save(buffer, **save)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"))


def webp(img: np.ndarray, quality: int) -> np.ndarray:
    """WebP at `quality` (1-99 lossy; 100 lossless)."""
    if quality >= 100:
        return _round_trip(img, format="WEBP", lossless=True, quality=100, method=0)
    return _round_trip(img, format="WEBP", quality=quality, method=4)


def jpeg2000(img: np.ndarray, ratio: float) -> np.ndarray:
    """JPEG 2000 at a compression `ratio` (bits in / bits out; 1 is lossless, reversible wavelet)."""
    if ratio <= 1:
        return _round_trip(img, format="JPEG2000", irreversible=False)
    return _round_trip(img, format="JPEG2000", quality_mode="rates", quality_layers=[ratio], irreversible=True)


@dataclass(config=STRICT)
class Webp(Op):
    """Re-encode as WebP at `quality` and decode again; 100 is lossless (the image unchanged)."""

    name: ClassVar[str] = "webp"
    family: ClassVar[str] = "compression"
    units: ClassVar[str] = "quality, 100 = lossless"
    severity: ClassVar[str] = "quality"
    neutral: ClassVar[float] = 100
    quality: Annotated[int, Field(ge=1, le=100)]

    def transform(self):
        return PixelTransform(partial(webp, quality=self.quality))


@dataclass(config=STRICT)
class Jpeg2000(Op):
    """Re-encode as JPEG 2000 at a compression `ratio` (e.g. 50 = a fiftieth of the raw size)
    and decode again; 1 is lossless (the image unchanged)."""

    name: ClassVar[str] = "jpeg2000"
    family: ClassVar[str] = "compression"
    units: ClassVar[str] = "compression ratio, 1 = lossless"
    severity: ClassVar[str] = "ratio"
    neutral: ClassVar[float] = 1
    ratio: Annotated[float, Field(ge=1, le=1000)]

    def transform(self):
        return PixelTransform(partial(jpeg2000, ratio=self.ratio))


OPS = (Webp, Jpeg2000)
