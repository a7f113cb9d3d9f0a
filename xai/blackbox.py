"""Black-box attribution: occlusion sensitivity and RISE, from forward passes only.

Both read nothing but the model's class probabilities (xai.predict.probabilities), so they explain
a Keras model and a plain function of images (an ONNX graph, an embedding model with a linear
head) alike, and the same model given either way gives the same maps up to float rounding.

- Occlusion (Zeiler & Fergus 2014): a patch of a fill value slides over the image; each pixel's
  value is the drop in the target's probability, p(x) - p(x with the patch), averaged over the
  patches that cover it. Above 0 = hiding the pixel lowers the target, below 0 = raises it.
- RISE (Petsiuk et al., "RISE: Randomized Input Sampling for Explanation of Black-box Models",
  BMVC 2018): `num_masks` random binary grids of `cells` x `cells` (each cell on with probability
  `p1`), upsampled bilinearly to (cells + 1) cells' worth of pixels and cropped at a random shift
  of under one cell; the map is sum_m p(x * m) m / (num_masks p1), the expected target
  probability when the pixel is kept. One seeded set of masks serves every image.
"""

from __future__ import annotations

import itertools

import numpy as np

from xai.predict import probabilities


def pixels(size: int | float, side: int) -> int:
    """A patch or stride in pixels: an int as it is, a float as a fraction of `side`; 1..side."""
    value = size if isinstance(size, (int, np.integer)) else round(float(size) * side)
    return int(np.clip(value, 1, side))


def positions(side: int, patch: int, stride: int) -> np.ndarray:
    """Where patches start along one side: every `stride` pixels, and one flush with the far edge,
    so every pixel is covered."""
    starts = np.arange(0, side - patch + 1, stride)
    return starts if starts[-1] == side - patch else np.append(starts, side - patch)


def occlusion_maps(
    model,
    images: np.ndarray,
    targets: list[int],
    *,
    patch: int | float = 0.25,
    stride: int | float | None = None,
    fill: str | float = "mean",
    batch_size: int = 256,
) -> np.ndarray:
    """(N, H, W) drop in the target's probability when a patch covering the pixel is filled with
    `fill` ('mean': the image's own mean colour; a number: that value in every channel), averaged
    over the patches covering it. `patch` and `stride` in pixels (int) or as a fraction of each
    side (float); `stride` None = half the patch."""
    n, height, width = images.shape[:3]
    ph, pw = pixels(patch, height), pixels(patch, width)
    sh = pixels(stride, height) if stride is not None else max(1, ph // 2)
    sw = pixels(stride, width) if stride is not None else max(1, pw // 2)
    places = list(itertools.product(positions(height, ph, sh), positions(width, pw, sw)))
    covered = np.zeros((height, width))
    for y, x in places:
        covered[y : y + ph, x : x + pw] += 1
    base = probabilities(model, images, batch_size)[np.arange(n), targets]
    maps = np.zeros((n, height, width))
    for i, image in enumerate(images):
        value = image.mean(axis=(0, 1)) if fill == "mean" else np.float32(fill)
        for start in range(0, len(places), batch_size):
            chunk = places[start : start + batch_size]
            copies = np.repeat(image[None], len(chunk), axis=0)
            for k, (y, x) in enumerate(chunk):
                copies[k, y : y + ph, x : x + pw] = value
            drops = base[i] - probabilities(model, copies, batch_size)[:, targets[i]]
            for drop, (y, x) in zip(drops, chunk):
                maps[i, y : y + ph, x : x + pw] += drop
    return maps / covered


def _bilinear(cells: int, size: int) -> np.ndarray:
    """(size, cells) weights of a bilinear resize of `cells` values to `size` = (cells + 1) * cell
    pixels: half-pixel centres, the edge values held beyond the outer centres."""
    x = np.clip((np.arange(size) + 0.5) * cells / size - 0.5, 0, cells - 1)
    low = np.floor(x).astype(int)
    high = np.minimum(low + 1, cells - 1)
    weights = np.zeros((size, cells))
    np.add.at(weights, (np.arange(size), low), 1 - (x - low))
    np.add.at(weights, (np.arange(size), high), x - low)
    return weights


class RiseMasks:
    """RISE's `num` masks of height x width, drawn from one generator seeded with `seed` (the grids,
    then the row shifts, then the column shifts); `masks(start, stop)` builds a slice of them."""

    def __init__(self, num: int, cells: int, p1: float, height: int, width: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.grids = (rng.random((num, cells, cells)) < p1).astype(np.float64)
        cell_h, cell_w = -(-height // cells), -(-width // cells)
        self.shift_y = rng.integers(0, cell_h, num)
        self.shift_x = rng.integers(0, cell_w, num)
        self.rows = _bilinear(cells, (cells + 1) * cell_h)
        self.cols = _bilinear(cells, (cells + 1) * cell_w)
        self.height, self.width = height, width

    def masks(self, start: int, stop: int) -> np.ndarray:
        """Masks start..stop-1 as float32 (M, H, W) in [0, 1]."""
        rows = self.rows[self.shift_y[start:stop, None] + np.arange(self.height)]  # (M, H, cells)
        cols = self.cols[self.shift_x[start:stop, None] + np.arange(self.width)]  # (M, W, cells)
        return np.einsum("mhs,mst,mwt->mhw", rows, self.grids[start:stop], cols, optimize=True).astype(np.float32)


def rise_maps(
    model,
    images: np.ndarray,
    targets: list[int],
    *,
    seed: int = 0,
    num_masks: int = 1000,
    cells: int = 8,
    p1: float = 0.5,
    batch_size: int = 256,
) -> np.ndarray:
    """(N, H, W) RISE saliency of each image for its target class (see the module's docstring):
    the same seeded masks for every image, the model run on `batch_size` masked copies at a time."""
    n, height, width = images.shape[:3]
    drawn = RiseMasks(num_masks, cells, p1, height, width, seed)
    maps = np.zeros((n, height, width))
    for start in range(0, num_masks, batch_size):
        masks = drawn.masks(start, min(start + batch_size, num_masks))
        for i, image in enumerate(images):
            p = probabilities(model, image[None] * masks[..., None], batch_size)[:, targets[i]]
            maps[i] += np.einsum("m,mhw->hw", p, masks)
    return maps / (num_masks * p1)
