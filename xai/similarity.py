"""How alike two attribution maps are: rank correlation and overlap of the most important pixels.

Used for drift (a variant's map against the original's) and for the sanity check (a randomised
model's map against the trained one's). Pure functions over (H, W) arrays.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps' pixels. 0 when either map is constant: a blank map
    ranks nothing, so it agrees with no map (a randomised model often yields one)."""
    a, b = np.ravel(a), np.ravel(b)
    if a.shape != b.shape:
        raise ValueError(f"maps differ in shape: {np.shape(a)} vs {np.shape(b)}")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


def top_mask(m: np.ndarray, fraction: float) -> np.ndarray:
    """The ceil(fraction * pixels) highest pixels (ties broken by position, so the count is exact)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    flat = np.ravel(m)
    k = int(np.ceil(fraction * flat.size))
    mask = np.zeros(flat.size, dtype=bool)
    mask[np.argsort(-flat, kind="stable")[:k]] = True
    return mask.reshape(np.shape(m))


def top_iou(a: np.ndarray, b: np.ndarray, fraction: float = 0.1) -> float:
    """Intersection over union of the two maps' top-`fraction` pixels."""
    ma, mb = top_mask(a, fraction), top_mask(b, fraction)
    return float((ma & mb).sum() / (ma | mb).sum())


def similarity(a: np.ndarray, b: np.ndarray, fraction: float = 0.1) -> dict[str, float]:
    return {"spearman": spearman(a, b), "top_iou": top_iou(a, b, fraction)}
