"""The explanation stage's maps and the numbers computed with them, for one sample (the worker's
side of experiments.stages.explanations; it writes nothing).

Per sample: decode once, re-apply the chosen variants with the scoring seeds (so the pixels
explained are the pixels scored), make model inputs and display copies (`prepare_sample`). Then
per model x method, one *map set*: the maps of the unedited image and the chosen variants, and
per map the numbers of every check in `MAP_CHECKS` (drift against the unedited image's map,
faithfulness), plus the sanity rows (cascading randomisation, on the unedited image).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from augment import IDENTITY, EditRecord, Variant, compile_variant, variant_seed
from experiments.config.sections import ExplainConfig
from experiments.inputs.images import DecodePolicy, decode_image, display_resize, model_pixels_in
from experiments.inputs.samples import Sample
from experiments.models.detector import Detector, InputSpec
from experiments.context import Timings
from experiments.stages.scoring.batches import edited_with_record

log = logging.getLogger("artxai")

# a map set as the worker sends it back: maps (V, s, s), one row per variant, the sanity rows
MapSet = tuple[np.ndarray, list[dict], list[dict]]


def chosen_variants(
    scores: pd.DataFrame, sample: str, model: str, variants: list[Variant], cfg: ExplainConfig
) -> list[Variant]:
    """The variants to explain for one sample and model, the unedited image first; none when the
    unedited image was not scored (there is nothing to compare with)."""
    rows = scores[(scores["sample"] == sample) & (scores["model"] == model)]
    if IDENTITY not in set(rows["variant"]):
        return []
    edited = rows[rows["variant"] != IDENTITY]
    if cfg.images == "originals":
        ids = []
    elif cfg.images == "all":
        ids = edited["variant"].tolist()
    else:  # largest |delta p_ai| first; ties by variant id, so the choice is stable
        ranked = edited.assign(size=edited["delta_p_ai"].abs())
        ranked = ranked.sort_values(["size", "variant"], ascending=[False, True])
        ids = ranked["variant"].head(cfg.top_k).tolist()
    by_id = {v.id: v for v in variants}
    return [by_id[IDENTITY], *(by_id[i] for i in ids)]


@dataclass
class PreparedSample:
    """One sample's chosen variants, ready to explain: per variant its display copy and the
    record of what its edit drew, and per model input (InputSpec) the model inputs and the LIME
    superpixels carried to it."""

    sample: Sample
    variants: list[Variant]
    display: dict[str, np.ndarray]
    inputs: dict[InputSpec, dict[str, np.ndarray]]  # per model input: float32 pictures by variant id
    segments: dict[InputSpec, dict[str, np.ndarray]]
    records: dict[str, EditRecord] = field(default_factory=dict)


def prepare_sample(
    sample: Sample, variants: list[Variant], specs: set[InputSpec], cfg: ExplainConfig, seed: int, policy: DecodePolicy,
    segments: bool = True,
) -> PreparedSample:  # fmt: skip
    """Decode once, re-apply the chosen variants with the scoring seeds; `segments`: also the
    LIME superpixels (when LIME is among the methods and will run)."""
    from xai.lime_explain import superpixels

    pixels = decode_image(sample.path, policy).pixels
    display, inputs, segments, records = {}, {s: {} for s in specs}, {s: {} for s in specs}, {}
    kept = []
    for variant in variants:
        edited, records[variant.id], problem = edited_with_record(
            pixels, sample.id, variant, compile_variant(variant), seed
        )
        if edited is None:
            log.warning("explain %s %s: %s", sample.id, variant.id, problem)
            continue
        kept.append(variant)
        display[variant.id] = display_resize(edited, cfg.display_size)
        labels = superpixels(display[variant.id], cfg.lime_segments) if segments and "lime" in cfg.methods else None
        for spec in specs:
            picture = spec.prepare(edited)
            inputs[spec][variant.id] = picture.astype(np.float32) / 255.0
            if labels is not None and spec.is_study:
                rows, cols = model_pixels_in(edited.shape[:2], spec.size, labels.shape)
                segments[spec][variant.id] = labels[rows][:, cols]
            elif labels is not None:  # a resampled or cropped input: its own superpixels
                segments[spec][variant.id] = superpixels(picture, cfg.lime_segments)
    return PreparedSample(sample, kept, display, inputs, segments, records)


def usable_methods(detector: Detector, methods: list[str]) -> list[str]:
    """The config's methods this detector can be explained by: every method for a Keras graph,
    the black-box ones (and random) for a detector that gives only outputs (xai.methods.refusal)."""
    from xai.methods import refusal

    return [m for m in methods if refusal(m, detector.differentiable, detector.kind) is None]


def refusals(detectors: list[Detector], methods: list[str]) -> list[str]:
    """One line per detector that cannot take some of the methods, saying why."""
    from xai.methods import refusal

    lines = []
    for d in detectors:
        if refused := [m for m in methods if m not in usable_methods(d, methods)]:
            why = refusal(refused[0], d.differentiable, d.kind).split("; ", 1)[-1]
            lines.append(f"{d.name}: {', '.join(refused)} not computed: they need gradients and layers; {why}")
    return lines


# Phases of the stage, as the manifest and benchmarks/explain.py report them.
METHOD_PHASE = {
    "lime": "LIME", "smoothgrad": "SmoothGrad", "scorecam": "Score-CAM", "faster_scorecam": "Score-CAM",
    "random": "random",
}  # fmt: skip


def method_phase(method: str) -> str:
    return f"{METHOD_PHASE.get(method, 'saliency/CAM')} (maps + sanity)"


@dataclass
class ExplainedImages:
    """One model's maps of one sample's chosen variants, every method, and what made them: what
    each check in MAP_CHECKS reads."""

    prep: PreparedSample
    detector: Detector
    images: np.ndarray
    targets: list[int]
    maps: dict[str, np.ndarray]
    seeds: dict[str, int]
    cfg: ExplainConfig


def compute_maps(
    prep: PreparedSample, detector: Detector, images: np.ndarray, targets, methods: list[str], cfg: ExplainConfig,
    seed: int, timings: Timings,
) -> tuple[dict[str, np.ndarray], dict[str, list], dict[str, int]]:  # fmt: skip
    """Per method: its maps of `images` (each method's own values, not rescaled per image, so a
    grid can draw a method's maps of every variant on one scale), the maps of the cascading
    randomisation when `cfg.sanity`, and the seed it ran with."""
    from xai import explain
    from xai.sanity import sanity_maps

    ids = [v.id for v in prep.variants]
    spec = detector.input
    maps, randomised, seeds = {}, {}, {}
    for method in methods:
        t = time.perf_counter()
        options = {}  # each method's own (xai.methods): only LIME's are set by the config
        if method == "lime":
            segments = [prep.segments[spec][i] for i in ids]
            options = {"num_samples": cfg.lime_samples, "n_segments": cfg.lime_segments, "segments": segments}
        seeds[method] = variant_seed(seed, prep.sample.id, f"explain/{detector.name}/{method}")
        model = detector.explainable
        if cfg.sanity:
            copies, why = detector.randomised_copies(seeds[method])
            maps[method], randomised[method] = sanity_maps(
                model, images, method, targets, seed=seeds[method], rescale=False, randomised=copies, **options
            )
            if why:  # the layers it could not reach: a row that says why (no map)
                randomised[method].append((f"(not randomised: {why})", None))
        else:
            maps[method] = explain(model, images, method, targets, seed=seeds[method], rescale=False, **options)
        timings.phase(method_phase(method), t)
    return maps, randomised, seeds


def drift_columns(found: ExplainedImages, timings: Timings) -> dict[str, list[dict]]:
    """Per method and variant: its map against the unedited image's map (Spearman, top-fraction
    IoU); NaN for the unedited image itself."""
    from xai import similarity

    out = {}
    for method, maps in found.maps.items():
        out[method] = []
        for i in range(len(maps)):
            drift = (
                similarity(maps[0], maps[i], found.cfg.top_fraction) if i else {"spearman": np.nan, "top_iou": np.nan}
            )
            out[method].append({"drift_spearman": drift["spearman"], "drift_top_iou": drift["top_iou"]})
    return out


def faithfulness_columns(found: ExplainedImages, timings: Timings) -> dict[str, list[dict]]:
    """Per method and variant: deletion and insertion AUC of the target's probability and of its
    log-odds. The curves of every method run as one batch, on the target's log-odds (they do not
    saturate); the probability curves are their sigmoid."""
    from scipy.special import expit

    from xai.faithfulness import Curves, curves_for_methods

    t = time.perf_counter()
    detector = found.detector
    log_odds = detector.log_odds_scorer()
    scorer = log_odds or detector.explainable
    curves = curves_for_methods(
        scorer, found.images, found.maps, found.targets, found.seeds, steps=found.cfg.faithfulness_steps
    )
    timings.phase("faithfulness", t)
    out = {}
    for method in found.maps:
        logit = curves[method] if log_odds is not None else None
        prob = (
            curves[method] if logit is None else Curves(logit.fractions, expit(logit.deletion), expit(logit.insertion))
        )
        out[method] = [
            {
                "deletion_auc": float(prob.deletion_auc[i]),
                "insertion_auc": float(prob.insertion_auc[i]),
                "target_logit": float(logit.deletion[i, 0]) if logit else np.nan,
                "deletion_auc_logit": float(logit.deletion_auc[i]) if logit else np.nan,
                "insertion_auc_logit": float(logit.insertion_auc[i]) if logit else np.nan,
            }
            for i in range(len(found.images))
        ]
    return out


# The numbers computed for every map, in the order of the rows' columns: each check returns, per
# method, one dict of columns per variant. A new check (its own module) is one more entry here.
MAP_CHECKS = (drift_columns, faithfulness_columns)


def sanity_rows(trained_map: np.ndarray, randomised: list, top_fraction: float) -> list[dict]:
    """The trained model's map of the unedited image against the map once the top `depth` layers
    are randomised, for each depth."""
    from xai import similarity

    rows = []
    for depth, (layer, random_map) in enumerate(randomised, start=1):
        no_map = {"spearman": np.nan, "top_iou": np.nan}  # a layer it could not randomise: the row says why
        sim = no_map if random_map is None else similarity(trained_map, random_map, top_fraction)
        rows.append(
            {"randomised_layers": depth, "top_layer": layer, "spearman": sim["spearman"], "top_iou": sim["top_iou"]}
        )
    return rows


def explain_map_sets(
    prep: PreparedSample, detector: Detector, methods: list[str], cfg: ExplainConfig, seed: int, timings: Timings
) -> dict[str, MapSet]:
    """Per method: maps (V, s, s) for the sample's chosen variants, their rows (variant, target,
    then every check's columns) and the sanity rows."""
    from xai.explain import resolve_targets

    spec = detector.input
    images = np.stack([prep.inputs[spec][v.id] for v in prep.variants])
    targets = resolve_targets(detector.explainable, images, cfg.target, detector.class_names)
    maps, randomised, seeds = compute_maps(prep, detector, images, targets, methods, cfg, seed, timings)
    found = ExplainedImages(prep, detector, images, targets, maps, seeds, cfg)
    checks = [check(found, timings) for check in MAP_CHECKS]
    sets = {}
    for method in methods:
        rows = [{"variant": v.id, "target": detector.class_names[targets[i]]} for i, v in enumerate(prep.variants)]
        for columns in checks:
            for row, more in zip(rows, columns[method]):
                row |= more
        sets[method] = (maps[method], rows, sanity_rows(maps[method][0], randomised.get(method, []), cfg.top_fraction))
    return sets
