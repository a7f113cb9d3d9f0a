"""Robustness of the maps themselves, in one table (docs/explanation-checks.md):

  explanation_robustness   per model x method x metric: value, interval, n, and which way is better
                           (read from experiments.stats.statistics.METRICS, so stated as data)

- max_sensitivity, avg_sensitivity (xai.sensitivity, Yeh et al. 2019): each explained image's
  unedited copy explained again under NOISE_SAMPLES draws of seeded uniform noise of half-width
  NOISE_RADIUS; the change of the map once each map is divided by its own L2 norm (scale-free, in [0, 2]),
  largest and mean over the draws.
- reference (on the sensitivity rows): the same measure from one explained image's map to the
  next's (xai.sensitivity.between_images), the scale a map's change under noise is read against:
  the verdict's "stable under small noise" asks avg_sensitivity to lie below it.
- drift_spearman: the existing drift under the grid's edits (the explanations table), each
  edited image's map against its unedited image's map.

LIME is not explained again under noise (NOT_UNDER_NOISE): NOISE_SAMPLES x lime_samples passes
per image, and its segments are not kept after the maps are made.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from augment import IDENTITY, variant_seed
from experiments.stats.statistics import METRICS, mean_ci

log = logging.getLogger("artxai")

NOISE_SAMPLES = 5  # noisy copies per image (cost: docs/benchmarks.md#explain-checks)
NOISE_RADIUS = 0.02  # half-width of the uniform noise, in [0, 1] pixel units (xai.sensitivity.RADIUS)
NOT_UNDER_NOISE = {"lime": "not explained again under noise: 5 x lime_samples passes per image"}
SENSITIVITY_COLUMNS = ["model", "method", "sample", "max_sensitivity", "avg_sensitivity", "between_images"]
ROBUSTNESS_COLUMNS = ["model", "method", "metric", "better", "images", "n", "value", "ci_low", "ci_high", "ci_method",
                      "exploratory", "reference"]  # fmt: skip


def noise_sensitivity(units: list, detectors: dict, methods: list[str], target: str, seed: int) -> pd.DataFrame:
    """Per model x method x explained image (its unedited copy): max- and average-sensitivity of
    the method's maps under small seeded noise, and the change to the next image's map. Maps
    that are all zero (a flat CAM) have no size to be relative to and are left out."""
    from xai.explain import explain, resolve_targets
    from xai.sensitivity import between_images, sensitivity

    from experiments.stages.explanations.maps import usable_methods

    rows = []
    for model in dict.fromkeys(u.model for u in units):
        mine = [u for u in units if u.model == model]
        detector = detectors[model]
        images = np.stack([u.images[0] for u in mine])
        targets = resolve_targets(detector.explainable, images, target, detector.class_names)
        for method in (m for m in usable_methods(detector, methods) if m not in NOT_UNDER_NOISE):
            method_seed = variant_seed(seed, "sensitivity", f"{model}/{method}")
            base = explain(detector.explainable, images, method, targets, seed=method_seed, rescale=False)
            keep = np.flatnonzero(np.abs(base.reshape(len(base), -1)).sum(axis=1) > 0)
            if len(keep) < len(images):
                log.info("sensitivity: %s on %s: %d all-zero map(s) left out", method, model, len(images) - len(keep))
            if not len(keep):
                continue
            kept_targets = [targets[i] for i in keep]

            def explain_fn(x, method=method, method_seed=method_seed, kept_targets=kept_targets):
                return explain(detector.explainable, x, method, kept_targets, seed=method_seed, rescale=False)

            found = sensitivity(explain_fn, images[keep], radius=NOISE_RADIUS, samples=NOISE_SAMPLES, seed=method_seed,
                                base=base[keep])  # fmt: skip
            between = between_images(base[keep])
            for j, i in enumerate(keep):
                rows.append(
                    {
                        "model": model,
                        "method": method,
                        "sample": mine[i].sample,
                        "max_sensitivity": float(found["max_sensitivity"][j]),
                        "avg_sensitivity": float(found["avg_sensitivity"][j]),
                        "between_images": float(between[j]),
                    }
                )
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def robustness_table(
    sensitivities: pd.DataFrame, explanations: pd.DataFrame, resamples: int, seed: int
) -> pd.DataFrame:
    """Per model x method: max- and average-sensitivity under noise on the unedited images
    (`reference`: the mean change between images) and drift_spearman on the edited ones, each
    its mean with a bootstrap interval over images, n, and the direction METRICS declares better."""
    rows = []
    edited = explanations[explanations["variant"] != IDENTITY] if len(explanations) else explanations
    for key, g in sensitivities.groupby(["model", "method"], sort=False):
        for metric in ("max_sensitivity", "avg_sensitivity"):
            reference = float(g["between_images"].mean()) if g["between_images"].notna().any() else np.nan
            rows.append(
                _summary(key, metric, "unedited + noise", g[metric], resamples, seed) | {"reference": reference}
            )
    if len(edited) and "drift_spearman" in edited:
        for key, g in edited.groupby(["model", "method"], sort=False):
            rows.append(
                _summary(key, "drift_spearman", "edited", g["drift_spearman"], resamples, seed) | {"reference": np.nan}
            )
    out = pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS)
    order = {m: i for i, m in enumerate(dict.fromkeys(list(explanations.get("method", [])) + list(out["method"])))}
    out["_key"] = [order[m] for m in out["method"]]
    return out.sort_values(["model", "_key"], kind="stable").drop(columns="_key").reset_index(drop=True)


def _summary(key: tuple[str, str], metric: str, images: str, values: pd.Series, resamples: int, seed: int) -> dict:
    found = mean_ci(values.to_numpy(float), resamples=resamples, seed=seed)
    return {"model": key[0], "method": key[1], "metric": metric, "better": METRICS[metric].direction, "images": images,
            "n": found["n"], "value": found["mean"], "ci_low": found["ci_low"], "ci_high": found["ci_high"],
            "ci_method": found["ci_method"], "exploratory": found["exploratory"]}  # fmt: skip
