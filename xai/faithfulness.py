"""Faithfulness of attribution maps: deletion and insertion curves (Petsiuk et al., RISE, 2018).

Deletion: remove pixels from the image, most important first (set them to black), and follow the
model's probability for the target class; a faithful map makes it fall fast (low AUC).
Insertion: start from a blurred copy and put the original pixels back, most important first; a
faithful map makes the probability rise fast (high AUC). Ties in a map (flat CAM regions, LIME
superpixels) are broken in a seeded random order, so a flat map is not read in raster order.
`curves_for_methods` scores every method's curves for a set of images in one batched pass. The
model: a keras.Model or a callable of images giving class probabilities (xai.predict).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from xai.predict import is_keras, probabilities


@dataclass(frozen=True)
class Curves:
    fractions: np.ndarray  # (steps + 1,) share of pixels removed / inserted
    deletion: np.ndarray  # (N, steps + 1) target-class probability
    insertion: np.ndarray  # (N, steps + 1)

    @property
    def deletion_auc(self) -> np.ndarray:
        return np.trapezoid(self.deletion, self.fractions, axis=1)

    @property
    def insertion_auc(self) -> np.ndarray:
        return np.trapezoid(self.insertion, self.fractions, axis=1)


def pixel_order(m: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flat pixel indices, most important first; ties in random order."""
    flat = np.ravel(m)
    return np.lexsort((rng.permutation(flat.size), -flat))


def blurred(image: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """The insertion canvas: a Gaussian blur with sigma = side / 16 by default (2 px at 32 px)."""
    sigma = sigma or image.shape[0] / 16
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)


def _steps(image: np.ndarray, start: np.ndarray, end: np.ndarray, order: np.ndarray, steps: int) -> np.ndarray:
    """steps + 1 images going from `start` to `end`, switching pixels over in `order`."""
    h, w = image.shape[:2]
    counts = np.rint(np.linspace(0, h * w, steps + 1)).astype(int)
    rank = np.empty(h * w, dtype=int)
    rank[order] = np.arange(h * w)
    switched = rank[None, :] < counts[:, None]  # (steps + 1, H*W)
    switched = switched.reshape(steps + 1, h, w, 1)
    return np.where(switched, end[None], start[None]).astype(np.float32)


def curve_images(images: np.ndarray, maps: np.ndarray, steps: int, seed: int) -> np.ndarray:
    """The deletion then insertion steps of each image, (N * 2 * (steps + 1), H, W, C); ties in
    each map broken by one generator seeded with `seed`, drawn image after image."""
    if images.shape[:3] != maps.shape:
        raise ValueError(f"maps {maps.shape} do not match images {images.shape[:3]}")
    rng = np.random.default_rng(seed)
    batches = []
    for image, m in zip(images, maps):
        order = pixel_order(m, rng)
        batches.append(_steps(image, image, np.zeros_like(image), order, steps))
        batches.append(_steps(image, blurred(image), image, order, steps))
    return np.concatenate(batches) if batches else np.zeros((0, *images.shape[1:]), np.float32)


def _curves(probs: np.ndarray, n: int, targets: list[int], steps: int) -> Curves:
    target_p = probs.reshape(n, 2 * (steps + 1), -1)[np.arange(n), :, targets]
    return Curves(np.linspace(0, 1, steps + 1), target_p[:, : steps + 1], target_p[:, steps + 1 :])


def deletion_insertion(
    model,
    images: np.ndarray,
    maps: np.ndarray,
    targets: list[int],
    *,
    steps: int = 16,
    seed: int = 0,
    batch_size: int = 256,
) -> Curves:
    """Deletion and insertion curves for each (image, map, target class)."""
    return curves_for_methods(model, images, {None: maps}, targets, {None: seed}, steps=steps, batch_size=batch_size)[
        None
    ]


def curves_for_methods(
    model,
    images: np.ndarray,
    maps: Mapping[object, np.ndarray],
    targets: list[int],
    seeds: Mapping[object, int],
    *,
    steps: int = 16,
    batch_size: int = 256,
) -> dict[object, Curves]:
    """`deletion_insertion` for several maps of the same images (one per method, each with its
    own tie-breaking seed) with every step image of every method in one batched pass."""
    x = (
        np.concatenate([curve_images(images, m, steps, seeds[key]) for key, m in maps.items()])
        if maps
        else np.zeros((0, *images.shape[1:]), np.float32)
    )
    if len(x):
        out = probabilities(model, x, batch_size)
        probs = out.astype(np.float32) if is_keras(model) else out  # Keras: its own float32, as before
        probs = probs.reshape(len(maps), -1, out.shape[-1])
    else:
        probs = np.zeros((len(maps), 0, 2))
    return {key: _curves(probs[k], len(images), targets, steps) for k, key in enumerate(maps)}
