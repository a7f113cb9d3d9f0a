"""ROAD: RemOve And Debias (Rong et al., "A Consistent and Efficient Evaluation Strategy for
Attribution Methods", ICML 2022).

Deletion with black pixels pushes an image off the data a model saw, so a map can "win" by making
artefacts. ROAD removes pixels and fills them by *noisy linear imputation*: each removed pixel is
the weighted mean of its 8 neighbours (orthogonal 1/6, diagonal 1/12; neighbours outside the
image are left out and the rest re-weighted), all removed pixels of an image solved at once as one
sparse linear system (scipy.sparse), then small seeded Gaussian noise is added to them, so the
filled region carries no trace of the removal pattern's shape.

MoRF removes the most relevant k % of pixels (a faithful map makes the target's score fall), LeRF
the least relevant k % (the score should stay). Both are followed as the target's probability and
its log-odds at each percentage; `gap` = LeRF - MoRF (higher = the map knows which pixels matter).
`ranking_agreement`: ROAD's consistency check, the rank correlation between the order of methods
by MoRF and by LeRF.

Works on any Keras 3 image classifier with a softmax or logit output (`output`): with a softmax
ending the logits come from xai.attributions.logit_model, so the log-odds do not saturate. A model
that is a plain callable of images (xai.predict: an ONNX graph, an embedding model) is scored on
what it returns: probabilities (or logits with `output='logits'`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

PERCENTAGES = (10, 30, 50, 70, 90)  # share of pixels removed at each step (ROAD used 10..90)
NOISE = 0.01  # std of the noise added to imputed pixels, in the images' units ([0, 1] pixels)
ORTHOGONAL, DIAGONAL = 1 / 6, 1 / 12
NEIGHBOURS = tuple(
    ((dy, dx), ORTHOGONAL if dy == 0 or dx == 0 else DIAGONAL) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx
)
Order = Literal["morf", "lerf"]
ORDERS: tuple[Order, ...] = ("morf", "lerf")


def check_maps(maps: np.ndarray, images: np.ndarray) -> np.ndarray:
    """`maps` as float64 (N, H, W) matching `images` (N, H, W, C); a ValueError naming `maps`
    for the wrong shape, NaN or infinite values, or a map with nothing to rank (all one value)."""
    maps = np.asarray(maps, dtype=np.float64)
    if maps.shape != np.shape(images)[:3]:
        raise ValueError(f"maps: shape {maps.shape} does not match the images' {np.shape(images)[:3]} (N, H, W)")
    if not np.isfinite(maps).all():
        raise ValueError("maps: contain NaN or infinite values")
    flat = maps.reshape(len(maps), -1)
    for i, row in enumerate(flat):
        if np.ptp(row) == 0:
            what = "all zero" if not row.any() else "constant"
            raise ValueError(f"maps: map {i} is {what}: it ranks no pixel (ROAD would read a meaningless order)")
    return maps


def check_percentages(percentages: Sequence[float]) -> tuple[float, ...]:
    """The percentages as floats, each strictly between 0 and 100, else a ValueError naming them."""
    values = tuple(float(p) for p in np.atleast_1d(percentages))
    if not values:
        raise ValueError("percentages: none given")
    bad = [p for p in values if not 0 < p < 100]
    if bad:
        raise ValueError(f"percentages: each must be in (0, 100), got {bad}")
    return values


def removal_masks(m: np.ndarray, percentages: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """Boolean (2, P, H, W): the pixels removed at each percentage, MoRF (highest values first)
    then LeRF (lowest first); ties in one seeded random order, so each step removes what the one
    before removed and more. At least one pixel is removed and one kept (the imputation needs a
    known neighbour)."""
    flat = np.ravel(m)
    order = np.lexsort((rng.permutation(flat.size), -flat))  # most relevant first
    masks = np.zeros((len(ORDERS), len(percentages), flat.size), dtype=bool)
    for p, percent in enumerate(percentages):
        k = int(np.clip(round(percent / 100 * flat.size), 1, flat.size - 1))
        masks[0, p, order[:k]] = True
        masks[1, p, order[::-1][:k]] = True
    return masks.reshape(len(ORDERS), len(percentages), *np.shape(m))


@lru_cache(maxsize=8)
def dissection_rank(h: int, w: int, leaf: int = 16) -> np.ndarray:
    """Each pixel's (row-major) place in a nested-dissection elimination order of the h x w grid:
    split the longer side at its middle line, order both halves (recursively), then the line.
    A middle line separates the halves for the 8-neighbour stencil too, so any set of removed
    pixels taken in this order is a good ordering of its system (little fill); computed once
    per image size."""
    order: list[np.ndarray] = []

    def split(y0: int, y1: int, x0: int, x1: int) -> None:
        if (y1 - y0) * (x1 - x0) <= leaf:
            order.append((np.arange(y0, y1)[:, None] * w + np.arange(x0, x1)[None]).ravel())
        elif y1 - y0 >= x1 - x0:
            mid = (y0 + y1) // 2
            split(y0, mid, x0, x1), split(mid + 1, y1, x0, x1)
            order.append(mid * w + np.arange(x0, x1))
        else:
            mid = (x0 + x1) // 2
            split(y0, y1, x0, mid), split(y0, y1, mid + 1, x1)
            order.append(np.arange(y0, y1) * w + mid)

    split(0, h, 0, w)
    rank = np.empty(h * w, dtype=np.int64)
    rank[np.concatenate(order)] = np.arange(h * w)
    rank.flags.writeable = False
    return rank


def imputation_system(
    image: np.ndarray, removed: np.ndarray, order: np.ndarray | None = None
) -> tuple[sparse.csc_matrix, np.ndarray]:
    """(A, b) with A x = b the neighbour equations of the removed pixels: for removed pixel i,
    sum_j w_ij (x_j - x_i) = 0 over its in-image neighbours j, where a kept neighbour's value is
    known (it moves to b). x: (k, C), one column per channel, one row per removed pixel in
    row-major order, or in the order `order` gives (indices into the removed pixels' row-major
    list)."""
    h, w = removed.shape
    image = np.asarray(image, dtype=np.float64).reshape(h * w, -1)
    flat = removed.ravel()
    missing = np.flatnonzero(flat)
    if order is not None:
        missing = missing[order]
    variable = np.full(h * w, -1)
    variable[missing] = np.arange(len(missing))
    y, x = np.divmod(missing, w)
    rows, cols, vals = [], [], []
    diagonal = np.zeros(len(missing))
    b = np.zeros((len(missing), image.shape[1]))
    for (dy, dx), weight in NEIGHBOURS:  # one neighbour per equation and offset: plain += is safe
        ny, nx = y + dy, x + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        eq, neighbour = np.flatnonzero(inside), (ny * w + nx)[inside]
        diagonal[eq] += weight
        unknown = flat[neighbour]
        rows.append(eq[unknown])
        cols.append(variable[neighbour[unknown]])
        b[eq[~unknown]] += weight * image[neighbour[~unknown]]
    rows.append(np.arange(len(missing)))
    cols.append(np.arange(len(missing)))
    vals = [np.full(len(r), -weight) for r, (_, weight) in zip(rows, NEIGHBOURS)] + [diagonal]
    entries = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
    a = sparse.csc_matrix(entries, shape=(len(missing),) * 2)
    return a, b


def noisy_linear_impute(image: np.ndarray, removed: np.ndarray, *, noise: float = NOISE, seed: int = 0) -> np.ndarray:
    """A copy of `image` (H, W, C) with the `removed` pixels filled by linear imputation plus
    Gaussian noise of std `noise` drawn from a generator seeded with `seed`; kept pixels are
    untouched. float32."""
    image = np.asarray(image, dtype=np.float32)
    removed = np.asarray(removed, dtype=bool)
    if removed.shape != image.shape[:2]:
        raise ValueError(f"removed: shape {removed.shape} does not match the image's {image.shape[:2]}")
    if removed.all():
        raise ValueError("removed: every pixel is removed; the imputation needs at least one kept pixel")
    out = image.copy()
    if not removed.any():
        return out
    missing = np.flatnonzero(removed.ravel())
    order = np.argsort(dissection_rank(*removed.shape)[missing], kind="stable")
    a, b = imputation_system(image, removed, order)
    # A is symmetric positive definite: SuperLU in symmetric mode, no pivoting, in the
    # nested-dissection order given (docs/explanation-checks.md#cost)
    solved = splu(a, permc_spec="NATURAL", diag_pivot_thresh=0, options={"SymmetricMode": True}).solve(b)
    filled = np.empty_like(solved)
    filled[order] = solved  # back to row-major: the noise is drawn in the removed pixels' row-major order
    filled += np.random.default_rng(seed).normal(0.0, noise, filled.shape)
    out.reshape(-1, image.shape[-1])[missing] = filled
    return out


@dataclass(frozen=True)
class RoadCurves:
    """The target's probability and log-odds after MoRF and LeRF removal, (N, P) each."""

    percentages: tuple[float, ...]
    morf_probability: np.ndarray
    lerf_probability: np.ndarray
    morf_log_odds: np.ndarray
    lerf_log_odds: np.ndarray

    def mean(self, order: Order, score: Literal["probability", "log_odds"] = "log_odds") -> np.ndarray:
        """Per image, the score averaged over the percentages (N,): ROAD's area under its curve."""
        return getattr(self, f"{order}_{score}").mean(axis=1)

    def gap(self, score: Literal["probability", "log_odds"] = "log_odds") -> np.ndarray:
        """Per image, LeRF - MoRF averaged over the percentages: higher = the map tells the
        pixels that matter from those that do not."""
        return self.mean("lerf", score) - self.mean("morf", score)


def road_images(
    images: np.ndarray, maps: np.ndarray, percentages: Sequence[float], *, noise: float, seed: int
) -> np.ndarray:
    """The imputed images, (N, 2, P, H, W, C) for MoRF then LeRF; one generator seeded with
    `seed` breaks ties and seeds the noise, image after image."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(images), len(ORDERS), len(percentages), *images.shape[1:]), np.float32)
    for i, (image, m) in enumerate(zip(images, maps)):
        masks = removal_masks(m, percentages, rng)
        seeds = rng.integers(2**32, size=masks.shape[:2])
        for o, p in np.ndindex(*masks.shape[:2]):
            out[i, o, p] = noisy_linear_impute(image, masks[o, p], noise=noise, seed=int(seeds[o, p]))
    return out


Output = Literal["auto", "probabilities", "logits"]


def _scorer(model, output: Output):
    """(model to score with, what its outputs are: `logits`, `probabilities` or `auto`). With a
    softmax last layer, `auto` takes the logits of xai's logit copy of the model."""
    from xai.predict import is_keras

    if not is_keras(model):
        return model, output
    import keras

    if output == "auto" and getattr(model.layers[-1], "activation", None) is keras.activations.softmax:
        from xai.attributions import logit_model

        return logit_model(model), "logits"
    return model, output


def _are_logits(out: np.ndarray, output: Output) -> bool:
    """Whether `out` holds logits; `auto` reads rows that are distributions as probabilities."""
    is_distribution = bool((out >= 0).all() and np.allclose(out.sum(axis=1), 1, atol=1e-3))
    if output == "probabilities" and not is_distribution:
        raise ValueError("output: the model's outputs are not probabilities (rows must sum to 1); pass output='logits'")
    return output == "logits" or (output == "auto" and not is_distribution)


def _target_scores(out: np.ndarray, targets: np.ndarray, logits: bool) -> tuple[np.ndarray, np.ndarray]:
    """(probability, log-odds) of each row's target: log p_t - log(1 - p_t)."""
    out = np.asarray(out, np.float64)
    rows = np.arange(len(out))
    if logits:
        shifted = out - out.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        others = np.where(np.arange(out.shape[1])[None] == targets[:, None], -np.inf, out)
        top = others.max(axis=1)
        log_rest = top + np.log(np.exp(others - top[:, None]).sum(axis=1))
        return np.exp(log_p[rows, targets]), out[rows, targets] - log_rest
    p = np.clip(out[rows, targets], 1e-12, 1 - 1e-12)
    return out[rows, targets], np.log(p) - np.log1p(-p)


def road(
    model,
    images: np.ndarray,
    maps: np.ndarray,
    targets: Sequence[int],
    *,
    percentages: Sequence[float] = PERCENTAGES,
    noise: float = NOISE,
    seed: int = 0,
    output: Output = "auto",
    batch_size: int = 256,
) -> RoadCurves:
    """ROAD's MoRF and LeRF curves of each (image, map, target class index); images float32
    (N, H, W, C) as the model takes them. Bad maps or percentages: a ValueError naming them."""
    return road_for_methods(
        model,
        images,
        {None: maps},
        targets,
        {None: seed},
        percentages=percentages,
        noise=noise,
        output=output,
        batch_size=batch_size,
    )[None]


def road_for_methods(
    model,
    images: np.ndarray,
    maps: Mapping[object, np.ndarray],
    targets: Sequence[int],
    seeds: Mapping[object, int],
    *,
    percentages: Sequence[float] = PERCENTAGES,
    noise: float = NOISE,
    output: Output = "auto",
    batch_size: int = 256,
) -> dict[object, RoadCurves]:
    """`road` for several maps of the same images (one per method, each with its own seed), every
    imputed image of every method scored in one batched pass."""
    from xai.predict import probabilities

    images = np.asarray(images, np.float32)
    if images.ndim != 4:
        raise ValueError(f"images: must be (N, H, W, C), got shape {images.shape}")
    percentages = check_percentages(percentages)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise: must be a finite value >= 0, got {noise}")
    targets = np.asarray(targets, dtype=int).reshape(-1)
    if len(targets) != len(images):
        raise ValueError(f"targets: {len(targets)} for {len(images)} images")
    checked = {key: check_maps(m, images) for key, m in maps.items()}
    x = [road_images(images, m, percentages, noise=noise, seed=seeds[key]) for key, m in checked.items()]
    scorer, kind = _scorer(model, output)
    shape = (len(images), len(ORDERS), len(percentages))
    curves = {}
    for key, imputed in zip(checked, x):
        out = probabilities(scorer, imputed.reshape(-1, *images.shape[1:]), batch_size)
        logits = _are_logits(out, kind)
        scores = _target_scores(out, np.repeat(targets, shape[1] * shape[2]), logits)
        prob, log_odds = (v.reshape(shape) for v in scores)
        curves[key] = RoadCurves(percentages, prob[:, 0], prob[:, 1], log_odds[:, 0], log_odds[:, 1])
    return curves


def ranking_agreement(morf: Mapping[str, float], lerf: Mapping[str, float]) -> float:
    """ROAD's consistency of the methods' ranking: Spearman between their order by MoRF (lower
    is better) and by LeRF (higher is better), over the methods both give; 1 = the two orders
    agree, -1 = they are reversed. NaN with fewer than 3 methods."""
    from scipy.stats import spearmanr

    names = [name for name in morf if name in lerf and np.isfinite(morf[name]) and np.isfinite(lerf[name])]
    if len(names) < 3:
        return float("nan")
    return float(spearmanr([-morf[n] for n in names], [lerf[n] for n in names]).statistic)
