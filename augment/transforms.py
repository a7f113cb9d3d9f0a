"""The albumentations layer: the transforms that run the ops' edits, and a variant's steps as one
`Compose` (`compose`, which augment.grid.compile_variant calls).

An op says what its edit is (augment.op_base): a PixelTransform, a pure pixel function and its
recorded draws, which `PixelOp` runs; or, for the study's 11 ops (augment.ops), the albumentations
transform itself, some of them the four below. This module is imported when the first edit is
built and not before: importing albumentations takes about 0.3 s, which a run with no edits (a
folder scored as it is) never pays (tests/test_keras_onnx.py holds a run to that).
"""

from __future__ import annotations

from collections.abc import Sequence

import albumentations as A
import numpy as np

from augment.functional import blend_white, block_boxes, gaussian_noise, paint_boxes, text_coverage
from augment.op_base import Op, PixelTransform, StepSeededTransform
from augment.record import MOVED, NOISE_SEED, PAINTED

__all__ = ["A", "compose"]


class PixelOp(A.ImageOnlyTransform):
    """An image-only albumentations transform around a PixelTransform's pure pixel function:
    `draw(shape, rng)` (optional) makes the op's random choices in the params step from the
    transform's seeded numpy generator and returns them as params named `keys` (recorded,
    augment.record); `apply` calls `pixels(img, **drawn)`. `moves`: the op moves or resizes pixels."""

    def __init__(self, pixels, draw=None, keys=(), moves=False):
        super().__init__(p=1)
        self.pixels, self.draw, self.keys, self.moves = pixels, draw, keys, moves

    def get_params_dependent_on_data(self, params, data):
        drawn = self.draw(params["shape"], self.random_generator) if self.draw else {}
        return drawn | ({MOVED: True} if self.moves else {})

    def apply(self, img, **params):
        return self.pixels(img, **{k: params[k] for k in self.keys})

    def get_transform_init_args_names(self):
        return ("pixels", "draw", "keys", "moves")


class StepSeededPixelOp(PixelOp):
    """A PixelOp seeded from the variant's seed and its place in the variant (`step`, set by
    `compose`): see augment.op_base.StepSeededTransform."""

    step: int = 0

    def set_random_seed(self, seed: int | None) -> None:
        mixed = None if seed is None else int(np.random.SeedSequence([seed, self.step]).generate_state(1)[0])
        super().set_random_seed(mixed)


def runnable(made: PixelTransform | A.BasicTransform) -> A.BasicTransform:
    """What an op's `transform()` made, as an albumentations transform."""
    if isinstance(made, PixelTransform):
        kind = StepSeededPixelOp if isinstance(made, StepSeededTransform) else PixelOp
        return kind(made.pixels, made.draw, made.keys, made.moves)
    return made


def compose(steps: Sequence[Op]) -> A.Compose:
    """A variant's steps as one albumentations Compose that saves what each step drew."""
    transforms = [runnable(op.transform()) for op in steps]
    for step, transform in enumerate(transforms):
        if isinstance(transform, StepSeededPixelOp):  # its own draws, apart from the other steps'
            transform.step = step
    return A.Compose(transforms, strict=True, save_applied_params=True)


# --- the study's ops that albumentations has no transform for (augment.ops) ---------------------


class GaussianNoiseTransform(A.ImageOnlyTransform):
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


class MotionBlurTransform(A.MotionBlur):
    """albumentations' MotionBlur with the all-zero border rows and columns of its square kernel
    trimmed (symmetrically, so the anchor stays centred): a horizontal 41 px blur becomes a
    1x41 filter instead of a 41x41 one that OpenCV would run through a DFT."""

    def apply(self, img, kernel, **params):
        rows, cols = np.flatnonzero(kernel.any(axis=1)), np.flatnonzero(kernel.any(axis=0))
        r = min(rows[0], kernel.shape[0] - 1 - rows[-1])
        c = min(cols[0], kernel.shape[1] - 1 - cols[-1])
        return super().apply(img, kernel=kernel[r : kernel.shape[0] - r, c : kernel.shape[1] - c], **params)


class ColourBlocksTransform(A.ImageOnlyTransform):
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


class TextTransform(A.ImageOnlyTransform):
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
