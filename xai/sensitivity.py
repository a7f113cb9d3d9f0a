"""Robustness of the maps themselves: max- and average-sensitivity (Yeh et al., "On the
(In)fidelity and Sensitivity of Explanations", NeurIPS 2019).

Each image gets `samples` copies with seeded uniform noise in [-radius, radius] per value; its map
is made again for each copy, and the change is measured between scale-free maps: each map divided
by its own Frobenius norm first (`unit`), ||u(x + d) - u(x)|| with u = map / ||map||, so a map and
the same map times 1e6 give the same value, and every value lies in [0, 2] (0: the same map up to
scale; sqrt(2): orthogonal maps, the most two non-negative maps can differ; 2: a map and its
negative; `BOUND`). A map that is all zero has no direction: it stays zero, at distance 1 from any
unit map. Max-sensitivity is the largest change over the copies, average-sensitivity the mean.
Lower is better for both (DIRECTIONS): a map that moves under noise the model barely notices
tells little about the model. `explain_fn` is any function of a batch of images to maps, e.g.
`lambda x: xai.explain(model, x, "gradcam", 0, seed=1)` (keep the seed fixed, so a seeded
method draws the same randomness for every copy).

`between_images` gives the scale to read them against: how much the maps change from one image
to another, by the same measure (so a method whose maps are all near zero, as Score-CAM's can be,
gets a reference in the same bounded range as every other method's). A map that moves as much
under imperceptible noise as between different images says little about any one image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xai.metric_info import XAI_METRICS

RADIUS = 0.02  # half-width of the uniform noise, in the images' units ([0, 1] pixels)
SAMPLES = 5  # noisy copies per image
BOUND = 2.0  # the largest change between two unit maps (a map and its negative)
DIRECTIONS = {name: XAI_METRICS[name].direction for name in ("max_sensitivity", "avg_sensitivity")}  # xai.metric_info


def noisy_copies(images: np.ndarray, radius: float, samples: int, seed: int) -> np.ndarray:
    """(samples, N, H, W, C) copies of `images` plus uniform noise in [-radius, radius], seeded."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(-radius, radius, (samples, *np.shape(images)))
    return (np.asarray(images, np.float32)[None] + noise).astype(np.float32)


def sensitivity(
    explain_fn: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    *,
    radius: float = RADIUS,
    samples: int = SAMPLES,
    seed: int = 0,
    base: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per image (N,): max_sensitivity and avg_sensitivity of `explain_fn`'s maps; `base`: the
    maps of the unperturbed images when already made (else explain_fn makes them). A ValueError
    names `radius` or `samples` out of range, or `explain_fn` giving maps that are NaN, of the
    wrong shape, or all zero for an unperturbed image (no size to be relative to)."""
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius: must be a finite value > 0, got {radius}")
    if int(samples) != samples or samples < 1:
        raise ValueError(f"samples: must be a whole number >= 1, got {samples}")
    images = np.asarray(images, np.float32)
    base = np.asarray(explain_fn(images) if base is None else base, np.float64)
    if base.shape != images.shape[:3] or not np.isfinite(base).all():
        raise ValueError(f"explain_fn: gave maps of shape {base.shape} (NaN or not {images.shape[:3]})")
    size = np.linalg.norm(base.reshape(len(base), -1), axis=1)
    if (size == 0).any():
        raise ValueError(f"explain_fn: the map of image {int(np.argmax(size == 0))} is all zero")
    copies, before = noisy_copies(images, radius, int(samples), seed), unit(base)
    changes = np.stack([np.linalg.norm(unit(explain_fn(c)) - before, axis=1) for c in copies])
    return {"max_sensitivity": changes.max(axis=0), "avg_sensitivity": changes.mean(axis=0)}


def unit(maps: np.ndarray) -> np.ndarray:
    """(N, pixels): each map flattened and divided by its Frobenius norm; an all-zero map stays zero."""
    flat = np.asarray(maps, np.float64).reshape(len(maps), -1)
    size = np.linalg.norm(flat, axis=1, keepdims=True)
    return np.divide(flat, size, out=np.zeros_like(flat), where=size > 0)


def between_images(maps: np.ndarray) -> np.ndarray:
    """Per map (N,): ||u[i + 1] - u[i]||, the next image's map (cyclically) against this one's,
    both scale-free (`unit`), by sensitivity's measure; NaN for fewer than 2 maps or where either
    map is all zero."""
    flat = np.asarray(maps, np.float64).reshape(len(maps), -1)
    if len(flat) < 2:
        return np.full(len(flat), np.nan)
    size, units = np.linalg.norm(flat, axis=1), unit(flat)
    change = np.linalg.norm(np.roll(units, -1, axis=0) - units, axis=1)
    return np.where((size > 0) & (np.roll(size, -1) > 0), change, np.nan)
