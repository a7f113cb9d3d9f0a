"""Seeded train-time augmentation (`train.augment`): each training image, each epoch, gets a
fresh draw of a horizontal flip, a square crop (resized back), brightness / contrast,
saturation, hue and a JPEG re-encoding at a random quality.

The colour and JPEG edits are augment/'s own ops (augment.ops: BrightnessContrast, Saturation,
HueShift, Jpeg), built with the drawn value and applied through augment's seeded pipeline; flip
and crop are index work on the array. Every draw comes from one integer key per image
(`augment_image` is a pure function of pixels, settings and key); the training stream
(experiments.models.training_data) gives each image its key from a seeded random stream that
draws anew each epoch, so the same seed gives the same augmented batches, another seed others.
The edits run on the image as the model sees it (already resized to its input size, from the
cache), so they cost little per epoch.
"""

from __future__ import annotations

import numpy as np

from augment import Variant, apply_variant, compile_variant
from augment.ops import BrightnessContrast, HueShift, Jpeg, Op, Saturation
from experiments.config.model_blocks import TrainAugmentConfig
from experiments.inputs.images import resize_nearest


def flip_and_crop(pixels: np.ndarray, cfg: TrainAugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """A horizontal flip with probability `flip`; a square crop of a side drawn from [crop, 1]
    of the image's, at least one pixel (0.01 of 16 px is a pixel, not none), at a random place,
    resized back (nearest)."""
    if rng.random() < cfg.flip:
        pixels = pixels[:, ::-1]
    size = pixels.shape[0]
    side = max(1, int(round(size * rng.uniform(cfg.crop, 1.0))))
    if side < size:
        top, left = rng.integers(0, size - side + 1, size=2)
        pixels = resize_nearest(pixels[top : top + side, left : left + side], size)
    return np.ascontiguousarray(pixels)


def drawn_ops(cfg: TrainAugmentConfig, rng: np.random.Generator) -> list[Op]:
    """augment/'s ops at values drawn from the configured ranges (the ones switched on)."""
    ops: list[Op] = []
    if cfg.brightness or cfg.contrast:
        b, c = cfg.brightness, cfg.contrast
        ops.append(BrightnessContrast(brightness=float(rng.uniform(-b, b)), contrast=float(rng.uniform(-c, c))))
    if cfg.saturation:
        ops.append(Saturation(factor=float(rng.uniform(1 - cfg.saturation, 1 + cfg.saturation))))
    if cfg.hue:
        ops.append(HueShift(degrees=float(rng.uniform(-cfg.hue, cfg.hue))))
    if cfg.jpeg_quality is not None:
        ops.append(Jpeg(quality=int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))))
    return ops


def augment_image(pixels: np.ndarray, cfg: TrainAugmentConfig, key: int) -> np.ndarray:
    """One uint8 RGB image, augmented by the draws of `key` (the same key, the same image)."""
    rng = np.random.default_rng(key)
    pixels = flip_and_crop(pixels, cfg, rng)
    ops = drawn_ops(cfg, rng)
    if not ops:
        return pixels
    pipeline = compile_variant(Variant("train_augment", "combined", tuple(ops)))
    return np.ascontiguousarray(apply_variant(pixels, pipeline, int(rng.integers(2**31))))
