"""A small dataset generated on the fly in the AI-ArtBench layout, with classes separable by a
real image statistic: human images are fine-grained texture (high spatial frequency), AI images
smooth colour fields (low frequency). Both get random colours, so colour alone tells nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

STYLES = ("impressionism", "ukiyo_e")


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = rng.uniform(40, 215, 3)
    return np.clip(base + rng.normal(0, 45, (h, w, 3)), 0, 255).astype(np.uint8)


def smooth(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    a, b = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w]
    t = ((np.cos(angle) * xx + np.sin(angle) * yy) / max(h, w) + 1) / 2
    return np.clip(a + (b - a) * t[..., None], 0, 255).astype(np.uint8)


def make_artbench(root: Path, per_folder: int, seed: int = 0, splits=("train", "test")) -> Path:
    """<root>/<split>/<style> (human), AI_LD_<style> and AI_SD_<style> (AI), JPEGs of mixed sizes."""
    rng = np.random.default_rng(seed)
    for split in splits:
        for style in STYLES:
            for folder, make in ((style, texture), (f"AI_LD_{style}", smooth), (f"AI_SD_{style}", smooth)):
                out = root / split / folder
                out.mkdir(parents=True, exist_ok=True)
                for i in range(per_folder):
                    h, w = rng.integers(140, 260, 2)
                    Image.fromarray(make(rng, h, w)).save(out / f"{folder.lower()}_{i:03d}.jpg", quality=92)
    return root


def constant_model(size: int = 8):
    """A softmax Keras model whose output ignores its input: a zero kernel, a fixed bias."""
    from experiments.models.architecture import keras  # loads Keras quietly

    layers = [keras.Input((size, size, 3)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")]
    model = keras.Sequential(layers)
    model.layers[-1].set_weights([np.zeros((size * size * 3, 2), np.float32), np.array([0.3, -0.2], np.float32)])
    return model


def patch_model(size: int = 16, box: tuple[int, int, int, int] = (4, 4, 8, 8)):
    """A softmax Keras model whose logits are +/- the summed brightness inside `box` (x0, y0, x1,
    y1): its decision depends on that patch alone."""
    from experiments.models.architecture import keras

    kernel = np.zeros((size, size, 3, 2), np.float32)
    x0, y0, x1, y1 = box
    kernel[y0:y1, x0:x1, :, 0], kernel[y0:y1, x0:x1, :, 1] = 1.0, -1.0
    layers = [keras.Input((size, size, 3)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")]
    model = keras.Sequential(layers)
    model.layers[-1].set_weights([kernel.reshape(-1, 2), np.zeros(2, np.float32)])
    return model
