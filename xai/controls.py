"""The blurred random control: a seeded random map Gaussian-smoothed to the spatial scale of the
methods' own maps (docs/explanation-checks.md#the-blurred-random-control).

ROAD and ROAR favour smooth, blob-like maps whatever the model uses ("On Pitfalls of ROAR",
arXiv 2304.13836): removing a blob takes out whole neighbourhoods that noisy linear imputation
cannot fill back, so a smooth map can beat the pixel-wise `random` map for its smoothness alone.
A random map as smooth as the methods' maps separates the two: a method beats random only when it
beats both.

Smoothness is measured by the lag-1 spatial autocorrelation (`autocorrelation`): the correlation of
each pixel with its right and its lower neighbour, averaged (about 0 for white noise, near 1 for a
map of large blobs). White noise smoothed by a Gaussian of width sigma (wrapped at the edges, so
the field is stationary and its maximum as likely on any pixel as a random map's) has the lag-1
autocorrelation of its kernel, sum_k g_k g_(k+1) / sum_k g_k^2 (`kernel_autocorrelation`);
`sigma_for` inverts it by bisection, so the control's sigma matches a typical map's
autocorrelation. Pure numpy and scipy; no Keras.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

TRUNCATE = 4.0  # the kernel's radius in sigmas (scipy.ndimage's default)
MAX_SIGMA_SHARE = 1 / 8  # sigma at most 1/8 of the map's side: the kernel (4 sigma each way) fits once


def autocorrelation(maps: np.ndarray) -> np.ndarray:
    """Per map (N,): the lag-1 spatial autocorrelation, the mean of the horizontal and vertical
    products of neighbouring centred values over the mean square; NaN for a flat map."""
    z = np.asarray(maps, np.float64)
    z = z - z.mean(axis=(1, 2), keepdims=True)
    across = (z[:, :, :-1] * z[:, :, 1:]).mean(axis=(1, 2))
    down = (z[:, :-1, :] * z[:, 1:, :]).mean(axis=(1, 2))
    square = (z**2).mean(axis=(1, 2))
    return np.divide((across + down) / 2, square, out=np.full(len(z), np.nan), where=square > 0)


def kernel_autocorrelation(sigma: float) -> float:
    """The lag-1 autocorrelation of white noise smoothed by gaussian_filter(sigma, wrap): that of
    its sampled 1-D kernel (the 2-D kernel is separable); 0 for sigma 0 (no smoothing)."""
    if sigma <= 0:
        return 0.0
    x = np.arange(-int(TRUNCATE * sigma + 0.5), int(TRUNCATE * sigma + 0.5) + 1)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return float((g[:-1] * g[1:]).sum() / (g**2).sum())


def sigma_for(rho: float, side: int) -> float:
    """The Gaussian width whose smoothed white noise has lag-1 autocorrelation `rho`, within
    [0, side * MAX_SIGMA_SHARE]; 0 when rho <= 0 (maps no smoother than noise) or is NaN."""
    top = side * MAX_SIGMA_SHARE
    if not np.isfinite(rho) or rho <= 0:
        return 0.0
    if rho >= kernel_autocorrelation(top):
        return float(top)
    low, high = 0.0, top
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if kernel_autocorrelation(middle) < rho else (low, middle)
    return (low + high) / 2


def blurred_random(shape: tuple[int, int, int], sigma: float, seed: int) -> np.ndarray:
    """(N, H, W) maps in [0, 1]: seeded uniform noise, each map Gaussian-smoothed by `sigma`
    (wrapped at the edges) and rescaled to [0, 1]; sigma 0 leaves the noise as it is."""
    noise = np.random.default_rng(seed).random(shape)
    if sigma > 0:
        noise = np.stack([gaussian_filter(m, sigma, mode="wrap", truncate=TRUNCATE) for m in noise])
    low = noise.min(axis=(1, 2), keepdims=True)
    span = noise.max(axis=(1, 2), keepdims=True) - low
    return np.divide(noise - low, span, out=np.zeros_like(noise), where=span > 0).astype(np.float32)


def typical_sigma(method_maps: np.ndarray) -> tuple[float, float]:
    """(sigma, rho): the Gaussian width that matches the median lag-1 autocorrelation `rho` of
    `method_maps` (N, H, W: the methods' maps); (0, NaN) when none has a defined one."""
    maps = np.asarray(method_maps, np.float64)
    found = autocorrelation(maps) if len(maps) else np.array([np.nan])
    rho = float(np.nanmedian(found)) if np.isfinite(found).any() else float("nan")
    return sigma_for(rho, min(maps.shape[1:]) if maps.ndim == 3 else 0), rho
