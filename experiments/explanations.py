"""The explanation stage: attribution maps for chosen images, the numbers that say how far to
trust them, and the pictures a person reads first.

Per sample: decode once, re-apply the chosen variants with the scoring seeds (so the pixels
explained are the pixels scored), make model inputs and display copies. Then per model x method,
one *unit*, cached under a key of everything that changes its result:
  maps of the unedited image and the chosen variants            -> explain/maps/<key>.npz
  drift: each variant's map against the unedited image's map     (Spearman, top-fraction IoU)
  faithfulness: deletion and insertion AUC of the target class's probability
  sanity: cascading randomisation, on the unedited image         -> explain/parts/<key>_sanity.parquet
  overlays                                                       -> explain/overlays/<model>/<sample>/
  rows                                                           -> explain/parts/<key>.parquet
The rows file is written last: its presence means the unit is done, so a rerun or a resumed run
skips it. Then a grid per sample x model (methods x variants) and the tables:
explanations (one row per map), explanation_sanity, explanation_summary (per model x method).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from augment import IDENTITY, Variant, compile_variant, variant_seed
from experiments.atomic import atomic_write, atomic_write_table
from experiments.config import ExplainConfig
from experiments.images import DecodePolicy, ImageRejected, decode_image, display_resize, model_pixels_in, resize_for_model
from experiments.models import Detector
from experiments.samples import Sample
from experiments.scoring import Timings, edited_image

log = logging.getLogger("artxai")

SANITY_COLUMNS = ["sample", "model", "method", "randomised_layers", "top_layer", "spearman", "top_iou"]


def chosen_variants(scores: pd.DataFrame, sample: str, model: str, variants: list[Variant], cfg: ExplainConfig) -> list[Variant]:
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
        ranked = edited.assign(size=edited["delta_p_ai"].abs()).sort_values(["size", "variant"], ascending=[False, True])
        ids = ranked["variant"].head(cfg.top_k).tolist()
    by_id = {v.id: v for v in variants}
    return [by_id[IDENTITY], *(by_id[i] for i in ids)]


def slug(text: str) -> str:
    """A file-name-safe, collision-free name for a sample or variant id."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(text).stem if "/" in text else text).strip("_")[:48]
    return f"{readable}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"


def save_maps(path: Path, maps: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
        np.savez_compressed(fh, maps=maps.astype(np.float32))


def file_digest(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:16]


@dataclass
class PreparedSample:
    """One sample's chosen variants, ready to explain: per variant its display copy, and per
    model input size the model inputs and the LIME superpixels carried to that size."""

    sample: Sample
    variants: list[Variant]
    display: dict[str, np.ndarray]
    inputs: dict[int, dict[str, np.ndarray]]
    segments: dict[int, dict[str, np.ndarray]]


def prepare_sample(sample: Sample, variants: list[Variant], sizes: set[int], cfg: ExplainConfig, seed: int, policy: DecodePolicy) -> PreparedSample:
    from xai.lime_explain import superpixels

    pixels = decode_image(sample.path, policy).pixels
    display, inputs, segments = {}, {s: {} for s in sizes}, {s: {} for s in sizes}
    kept = []
    for variant in variants:
        edited, problem = edited_image(pixels, sample.id, variant, compile_variant(variant), seed)
        if edited is None:
            log.warning("explain %s %s: %s", sample.id, variant.id, problem)
            continue
        kept.append(variant)
        display[variant.id] = display_resize(edited, cfg.display_size)
        labels = superpixels(display[variant.id], cfg.lime_segments) if "lime" in cfg.methods else None
        for size in sizes:
            inputs[size][variant.id] = resize_for_model(edited, size)
            if labels is not None:
                rows, cols = model_pixels_in(edited.shape[:2], size, labels.shape)
                segments[size][variant.id] = labels[rows][:, cols]
    return PreparedSample(sample, kept, display, inputs, segments)


def unit_key(sample: Sample, detector_digest: str, detector: Detector, method: str, variants: list[Variant], cfg: ExplainConfig, seed: int) -> str:
    settings = {
        "sample": sample.id,
        "model": [detector.name, detector_digest],
        "method": method,
        "variants": [v.id for v in variants],
        "seed": seed,
        "target": cfg.target,
        "top_fraction": cfg.top_fraction,
        "steps": cfg.faithfulness_steps,
        "sanity": cfg.sanity,
        "lime": [cfg.lime_samples, cfg.lime_segments, cfg.display_size] if method == "lime" else None,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]


# Parts of the stage, as the manifest and benchmark_explain report them.
METHOD_PART = {"lime": "LIME", "smoothgrad": "SmoothGrad", "scorecam": "Score-CAM", "faster_scorecam": "Score-CAM", "random": "random"}


def method_part(method: str) -> str:
    return f"{METHOD_PART.get(method, 'saliency/CAM')} (maps + sanity)"


def explain_units(prep: PreparedSample, detector: Detector, methods: list[str], cfg: ExplainConfig, seed: int, timings: Timings) -> dict[str, tuple[np.ndarray, list[dict], list[dict]]]:
    """Per method: maps (V, s, s) for the sample's chosen variants, their rows and the sanity
    rows. The faithfulness curves of every method run as one batch."""
    from xai import explain, similarity
    from xai.explain import resolve_targets
    from xai.faithfulness import curves_for_methods
    from xai.sanity import sanity_maps

    ids = [v.id for v in prep.variants]
    size = detector.input_size
    images = np.stack([prep.inputs[size][i] for i in ids])
    targets = resolve_targets(detector.model, images, cfg.target, detector.class_names)
    maps, randomised, seeds = {}, {}, {}
    for method in methods:
        t = time.perf_counter()
        options = {"num_samples": cfg.lime_samples, "n_segments": cfg.lime_segments}
        if method == "lime":
            options["segments"] = [prep.segments[size][i] for i in ids]
        seeds[method] = variant_seed(seed, prep.sample.id, f"explain/{detector.name}/{method}")
        if cfg.sanity:
            maps[method], randomised[method] = sanity_maps(detector.model, images, method, targets, seed=seeds[method], **options)
        else:
            maps[method] = explain(detector.model, images, method, targets, seed=seeds[method], **options)
        timings.part(method_part(method), t)
    t = time.perf_counter()
    curves = curves_for_methods(detector.model, images, maps, targets, seeds, steps=cfg.faithfulness_steps)
    timings.part("faithfulness", t)

    units = {}
    for method in methods:
        rows = []
        for i, variant in enumerate(prep.variants):
            drift = similarity(maps[method][0], maps[method][i], cfg.top_fraction) if i else {"spearman": np.nan, "top_iou": np.nan}
            rows.append(
                {
                    "variant": variant.id,
                    "target": detector.class_names[targets[i]],
                    "drift_spearman": drift["spearman"],
                    "drift_top_iou": drift["top_iou"],
                    "deletion_auc": float(curves[method].deletion_auc[i]),
                    "insertion_auc": float(curves[method].insertion_auc[i]),
                }
            )
        sanity = []
        for depth, (layer, random_map) in enumerate(randomised.get(method, []), start=1):
            sim = similarity(maps[method][0], random_map, cfg.top_fraction)
            sanity.append({"randomised_layers": depth, "top_layer": layer, "spearman": sim["spearman"], "top_iou": sim["top_iou"]})
        units[method] = (maps[method], rows, sanity)
    return units


def write_overlays(prep: PreparedSample, model: str, method: str, maps: np.ndarray, root: Path) -> list[str]:
    """One PNG per chosen variant; returns their paths relative to the run folder."""
    from xai import overlay

    paths = []
    for variant, m in zip(prep.variants, maps):
        rel = Path("explain", "overlays", model, slug(prep.sample.id), f"{slug(variant.id)}__{method}.png")
        if not (root / rel).is_file():
            picture = Image.fromarray(overlay(prep.display[variant.id], m))
            atomic_write(root / rel, lambda tmp: picture.save(tmp, format="PNG", compress_level=1))  # 2x faster, 10 % larger
        paths.append(rel.as_posix())
    return paths


def write_grid(prep: PreparedSample, model: str, maps: dict[str, np.ndarray], scores: pd.DataFrame, root: Path) -> str:
    """The figure a person reads first: methods as rows, variants as columns, scores in titles."""
    from xai.overlay import overlay_grid

    rel = Path("explain", "grids", model, f"{slug(prep.sample.id)}.png")
    rows = scores[(scores["sample"] == prep.sample.id) & (scores["model"] == model)].set_index("variant")
    titles = []
    for v in prep.variants:
        name = "unedited" if v.id == IDENTITY else v.id
        titles.append(f"{name}\np_ai {rows.at[v.id, 'p_ai']:.2f} (Δ {rows.at[v.id, 'delta_p_ai']:+.2f})")
    title = f"{prep.sample.subject} ({prep.sample.truth}) — {model}"
    picture = overlay_grid([prep.display[v.id] for v in prep.variants], maps, titles, title=title)
    atomic_write(root / rel, lambda tmp: picture.save(tmp, format="PNG", optimize=False, compress_level=6))
    return rel.as_posix()


def run_explanations(
    cfg: ExplainConfig,
    seed: int,
    samples: list[Sample],
    variants: list[Variant],
    detectors: list[Detector],
    scores: pd.DataFrame,
    run_dir: Path,
    policy: DecodePolicy,
    timings: Timings,
) -> dict[str, pd.DataFrame]:
    """Explain every chosen image with every model and method; write and return the tables."""
    started = time.perf_counter()
    parts = run_dir / "explain" / "parts"
    digests = {d.name: file_digest(Path(d.source)) for d in detectors}
    sizes = {d.input_size for d in detectors}
    meta_cols = ["sample", "subject", "edit", "truth", "model", "variant", "op", "severity", "p_ai", "delta_p_ai"]
    rows, sanity, computed, cached = [], [], 0, 0
    todo = [s for s in samples if s.path is not None and (scores["sample"] == s.id).any()]
    if cfg.max_samples is not None and len(todo) > cfg.max_samples:
        fragility = scores.assign(a=scores["delta_p_ai"].abs()).groupby("sample")["a"].mean()
        keep = set(fragility.sort_values(ascending=False, kind="stable").index[: cfg.max_samples])
        todo = [s for s in todo if s.id in keep]
        log.info("explaining the %d samples whose scores moved most (explain.max_samples)", len(todo))
    with logging_redirect_tqdm(), tqdm(total=len(todo) * len(detectors) * len(cfg.methods), desc="explaining", unit="map set", file=sys.stderr) as bar:
        for sample in todo:
            chosen = {d.name: chosen_variants(scores, sample.id, d.name, variants, cfg) for d in detectors}
            union = [v for v in variants if any(v in c for c in chosen.values())]
            t = time.perf_counter()
            try:
                prep = prepare_sample(sample, union, sizes, cfg, seed, policy)
            except ImageRejected as e:  # already recorded as skipped by the scoring stage
                log.warning("explain: skipped %s: %s", sample.id, e)
                bar.update(len(detectors) * len(cfg.methods))
                continue
            finally:
                timings.part("prepare (decode, edit, superpixels)", t)
            for detector in detectors:
                mine = [v for v in chosen[detector.name] if v.id in prep.display]
                if not mine or mine[0].id != IDENTITY:
                    bar.update(len(cfg.methods))
                    continue
                view = PreparedSample(sample, mine, prep.display, prep.inputs, prep.segments)
                keys = {m: unit_key(sample, digests[detector.name], detector, m, mine, cfg, seed) for m in cfg.methods}
                missing = [m for m in cfg.methods if not ((parts / f"{keys[m]}.parquet").is_file() and (run_dir / "explain" / "maps" / f"{keys[m]}.npz").is_file())]
                fresh = explain_units(view, detector, missing, cfg, seed, timings)
                grid_maps = {}
                for method in cfg.methods:
                    key = keys[method]
                    part, maps_file = parts / f"{key}.parquet", run_dir / "explain" / "maps" / f"{key}.npz"
                    sanity_part = parts / f"{key}_sanity.parquet"
                    t = time.perf_counter()
                    if method not in fresh:
                        maps, unit, unit_sanity = np.load(maps_file)["maps"], pd.read_parquet(part), pd.read_parquet(sanity_part)
                        cached += 1
                    else:
                        maps, unit_rows, sanity_rows = fresh[method]
                        ids = {"sample": sample.id, "model": detector.name, "method": method}
                        unit = pd.DataFrame([ids | r for r in unit_rows])
                        unit_sanity = pd.DataFrame([ids | r for r in sanity_rows], columns=SANITY_COLUMNS)
                        atomic_write(maps_file, lambda tmp: save_maps(tmp, maps))
                        atomic_write(sanity_part, lambda tmp: unit_sanity.to_parquet(tmp, index=False))
                        atomic_write(part, lambda tmp: unit.to_parquet(tmp, index=False))  # last: the unit is done
                        computed += 1
                    timings.part("cache", t)
                    if cfg.pictures:
                        t = time.perf_counter()
                        unit["overlay"] = write_overlays(view, detector.name, method, maps, run_dir)
                        timings.part("overlays", t)
                    rows.append(unit)
                    sanity.append(unit_sanity)
                    grid_maps[method] = maps
                    bar.update()
                if cfg.pictures:
                    t = time.perf_counter()
                    write_grid(view, detector.name, grid_maps, scores, run_dir)
                    timings.part("grids", t)
    log.info("explanations: %d map sets computed, %d from the cache", computed, cached)

    meta = scores[meta_cols]
    table = pd.concat(rows, ignore_index=True).merge(meta, on=["sample", "model", "variant"], how="left") if rows else pd.DataFrame()
    if len(table):
        front = [c for c in meta_cols if c in table] + ["method", "target"]
        table = table[front + [c for c in table.columns if c not in front]]
    sanity_table = pd.concat(sanity, ignore_index=True) if sanity else pd.DataFrame(columns=SANITY_COLUMNS)
    summary = summarise_explanations(table, sanity_table)
    atomic_write_table(table, run_dir / "explanations")
    atomic_write_table(sanity_table, run_dir / "explanation_sanity")
    atomic_write_table(summary, run_dir / "explanation_summary")
    timings.add("explanations", started)
    return {"explanations": table, "explanation_sanity": sanity_table, "explanation_summary": summary}


def summarise_explanations(table: pd.DataFrame, sanity: pd.DataFrame) -> pd.DataFrame:
    """Per model x method: mean drift over edited images, mean faithfulness AUCs, and the mean
    similarity to the trained model's map once every layer is randomised (lower = the method
    depends on the model, as it should)."""
    if table.empty:
        return pd.DataFrame()
    edited = table[table["variant"] != IDENTITY]
    keys = ["model", "method"]
    summary = table.groupby(keys, sort=False).agg(maps=("variant", "size"), deletion_auc=("deletion_auc", "mean"), insertion_auc=("insertion_auc", "mean"))
    summary = summary.join(edited.groupby(keys, sort=False).agg(drift_spearman=("drift_spearman", "mean"), drift_top_iou=("drift_top_iou", "mean")))
    if len(sanity):
        deepest = sanity[sanity["randomised_layers"] == sanity.groupby(keys)["randomised_layers"].transform("max")]
        summary = summary.join(deepest.groupby(keys).agg(sanity_spearman_all_random=("spearman", "mean"), sanity_top_iou_all_random=("top_iou", "mean")))
    return summary.reset_index()
