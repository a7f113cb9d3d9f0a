"""Localisation against a known region: does a map point at what is known to matter?

Where the truth is known (a patch planted on an image that flipped or moved the model's decision,
or a synthetic model that reads one patch only), three measures per map and region mask:

- pointing game (Zhang et al. 2018): is the map's maximum inside the region (tied maxima count by
  their share inside, the expected hit of breaking the tie at random);
- relevance mass (Arras et al. 2022): the share of the map's positive attribution inside;
- relevance rank (Arras et al. 2022): the share of the top-|region| pixels that lie inside.

A map with no knowledge of the region (a random map) scores the region's share of the image on
each, in expectation: `region_share` is the baseline a method is read against. Works on the maps
of any method (xai.explain's, normalised or not; LIME's signed ones) as (N, H, W) arrays.
"""

from __future__ import annotations

import numpy as np

MEASURES = ("pointing_game", "relevance_mass", "relevance_rank")


def check_inputs(maps: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(maps float64, masks bool), both (N, H, W); a ValueError naming `maps` or `masks` for the
    wrong shape, NaN or infinite values, a map with nothing to rank, or a mask that is empty or
    the whole image (nothing to point at, or nothing to miss)."""
    maps, masks = np.asarray(maps, dtype=np.float64), np.asarray(masks)
    if maps.ndim != 3:
        raise ValueError(f"maps: must be (N, H, W), got shape {maps.shape}")
    if masks.shape != maps.shape:
        raise ValueError(f"masks: shape {masks.shape} does not match the maps' {maps.shape}")
    if masks.dtype != bool:
        raise ValueError(f"masks: must be boolean, got {masks.dtype}")
    if not np.isfinite(maps).all():
        raise ValueError("maps: contain NaN or infinite values")
    for i, (m, mask) in enumerate(zip(maps, masks)):
        if np.ptp(m) == 0:
            raise ValueError(f"maps: map {i} is {'all zero' if not m.any() else 'constant'}: it points nowhere")
        if not mask.any() or mask.all():
            raise ValueError(f"masks: mask {i} is {'empty' if not mask.any() else 'the whole image'}")
    return maps, masks


def pointing_game(m: np.ndarray, mask: np.ndarray) -> float:
    """1 when the map's maximum lies inside `mask`, 0 outside; tied maxima count by the share of
    them inside."""
    top = m == m.max()
    return float((top & mask).sum() / top.sum())


def relevance_mass(m: np.ndarray, mask: np.ndarray) -> float:
    """Share of the map's positive attribution inside `mask`; NaN when nothing is positive."""
    positive = np.clip(m, 0, None)
    total = positive.sum()
    return float(positive[mask].sum() / total) if total > 0 else float("nan")


def relevance_rank(m: np.ndarray, mask: np.ndarray) -> float:
    """Share of the map's top-k pixels inside `mask`, k = the mask's size; pixels tied at the
    k-th value count by the share of the remaining places they fill."""
    k = int(mask.sum())
    flat, inside = np.ravel(m), np.ravel(mask)
    threshold = np.sort(flat)[::-1][k - 1]
    above = flat > threshold
    tied = flat == threshold
    places = k - int(above.sum())
    hits = (above & inside).sum() + places * (tied & inside).sum() / tied.sum()
    return float(hits / k)


def region_share(mask: np.ndarray) -> float:
    """The share of the image the region covers: what a random map scores on each measure."""
    return float(np.mean(mask))


def localisation(maps: np.ndarray, masks: np.ndarray) -> dict[str, np.ndarray]:
    """Per map (N,): pointing_game, relevance_mass, relevance_rank, and region_share (the
    random-map baseline of each)."""
    maps, masks = check_inputs(maps, masks)
    out = {
        name: np.array([fn(m, mask) for m, mask in zip(maps, masks)])
        for name, fn in (
            ("pointing_game", pointing_game),
            ("relevance_mass", relevance_mass),
            ("relevance_rank", relevance_rank),
        )
    }
    out["region_share"] = np.array([region_share(mask) for mask in masks])
    return out
