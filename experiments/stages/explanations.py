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

Where it runs: each sample is one unit of work on the run's executor (experiments.execution.executors):
`explain_sample` decodes, edits and computes the maps and numbers of every model's uncached
methods, writing nothing; the driver (`collect_unit`) writes the cache files, overlays and grids
as units come back, and the tables in the samples' order, whatever the executor.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from augment import IDENTITY, EditRecord, Variant, compile_variant, region_mask, variant_seed
from experiments.rundir.atomic import atomic_write, atomic_write_table
from experiments.config.schema import ExecutorConfig, ExplainConfig
from experiments.execution.executors import progress_interval, run_units
from experiments.inputs.images import DecodePolicy, ImageRejected, decode_image, display_resize, model_pixels_in, resize_for_model
from experiments.models.architecture import Detector
from experiments.report.naming import slug
from experiments.inputs.samples import Sample
from experiments.stages import explanation_checks
from experiments.stages.scoring import Timings, edited_with_record

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


def save_maps(path: Path, maps: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
        np.savez_compressed(fh, maps=maps.astype(np.float32))


def file_digest(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:16]


def load_cached_unit(part: Path, maps_file: Path, sanity_part: Path, n_variants: int) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame] | None:
    """A finished unit's maps, rows and sanity rows from the cache; None when it is not there,
    or when it is damaged (truncated, emptied, not matching its variants): then one warning
    line, and the caller computes it again."""
    if not (part.is_file() and maps_file.is_file()):
        return None
    try:
        maps, unit, unit_sanity = np.load(maps_file)["maps"], pd.read_parquet(part), pd.read_parquet(sanity_part)
        if len(maps) != n_variants or len(unit) != n_variants:
            raise ValueError(f"{len(maps)} maps and {len(unit)} rows for {n_variants} images")
    except Exception as e:  # whatever a damaged file raises (zip, parquet, npz errors)
        log.warning("explain cache %s is damaged (%s: %s): computing it again", part.stem, type(e).__name__, " ".join(str(e).split())[:200])
        return None
    return maps, unit, unit_sanity


@dataclass
class PreparedSample:
    """One sample's chosen variants, ready to explain: per variant its display copy and the
    record of what its edit drew, and per model input size the model inputs and the LIME
    superpixels carried to that size."""

    sample: Sample
    variants: list[Variant]
    display: dict[str, np.ndarray]
    inputs: dict[int, dict[str, np.ndarray]]
    segments: dict[int, dict[str, np.ndarray]]
    records: dict[str, EditRecord] = field(default_factory=dict)


def prepare_sample(sample: Sample, variants: list[Variant], sizes: set[int], cfg: ExplainConfig, seed: int, policy: DecodePolicy, segments: bool = True) -> PreparedSample:
    """Decode once, re-apply the chosen variants with the scoring seeds; `segments`: also the
    LIME superpixels (when LIME is among the methods and will run)."""
    from xai.lime_explain import superpixels

    pixels = decode_image(sample.path, policy).pixels
    display, inputs, segments, records = {}, {s: {} for s in sizes}, {s: {} for s in sizes}, {}
    kept = []
    for variant in variants:
        edited, records[variant.id], problem = edited_with_record(pixels, sample.id, variant, compile_variant(variant), seed)
        if edited is None:
            log.warning("explain %s %s: %s", sample.id, variant.id, problem)
            continue
        kept.append(variant)
        display[variant.id] = display_resize(edited, cfg.display_size)
        labels = superpixels(display[variant.id], cfg.lime_segments) if segments and "lime" in cfg.methods else None
        for size in sizes:
            inputs[size][variant.id] = resize_for_model(edited, size)
            if labels is not None:
                rows, cols = model_pixels_in(edited.shape[:2], size, labels.shape)
                segments[size][variant.id] = labels[rows][:, cols]
    return PreparedSample(sample, kept, display, inputs, segments, records)


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
        "faithfulness": "probability+logit",  # rows record both curves' AUCs
        "maps": "raw",  # each method's own values (LIME signed), not normalised per image
        "lime": [cfg.lime_samples, cfg.lime_segments, cfg.display_size] if method == "lime" else None,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]


# Parts of the stage, as the manifest and benchmark_explain report them.
METHOD_PART = {"lime": "LIME", "smoothgrad": "SmoothGrad", "scorecam": "Score-CAM", "faster_scorecam": "Score-CAM", "random": "random"}


def method_part(method: str) -> str:
    return f"{METHOD_PART.get(method, 'saliency/CAM')} (maps + sanity)"


def explain_units(prep: PreparedSample, detector: Detector, methods: list[str], cfg: ExplainConfig, seed: int, timings: Timings) -> dict[str, tuple[np.ndarray, list[dict], list[dict]]]:
    """Per method: maps (V, s, s) for the sample's chosen variants, their rows and the sanity
    rows. The faithfulness curves of every method run as one batch, on the target's log-odds
    (they do not saturate); the probability curves are their sigmoid."""
    from scipy.special import expit

    from xai import explain, similarity
    from xai.explain import resolve_targets
    from xai.faithfulness import Curves, curves_for_methods
    from xai.sanity import sanity_maps

    ids = [v.id for v in prep.variants]
    size = detector.input_size
    images = np.stack([prep.inputs[size][i] for i in ids])
    targets = resolve_targets(detector.model, images, cfg.target, detector.class_names)
    maps, randomised, seeds = {}, {}, {}
    for method in methods:
        t = time.perf_counter()
        options = {}  # each method's own (xai.methods): only LIME's are set by the config
        if method == "lime":
            options = {"num_samples": cfg.lime_samples, "n_segments": cfg.lime_segments, "segments": [prep.segments[size][i] for i in ids]}
        seeds[method] = variant_seed(seed, prep.sample.id, f"explain/{detector.name}/{method}")
        # unnormalised, so a grid can draw a method's maps of every variant on one scale
        if cfg.sanity:
            maps[method], randomised[method] = sanity_maps(detector.model, images, method, targets, seed=seeds[method], normalise=False, **options)
        else:
            maps[method] = explain(detector.model, images, method, targets, seed=seeds[method], normalise=False, **options)
        timings.part(method_part(method), t)
    t = time.perf_counter()
    scorer = detector.log_odds or detector.model
    curves = curves_for_methods(scorer, images, maps, targets, seeds, steps=cfg.faithfulness_steps)
    timings.part("faithfulness", t)

    units = {}
    for method in methods:
        logit_curves = curves[method] if detector.log_odds is not None else None
        prob_curves = curves[method] if logit_curves is None else Curves(logit_curves.fractions, expit(logit_curves.deletion), expit(logit_curves.insertion))
        rows = []
        for i, variant in enumerate(prep.variants):
            drift = similarity(maps[method][0], maps[method][i], cfg.top_fraction) if i else {"spearman": np.nan, "top_iou": np.nan}
            rows.append(
                {
                    "variant": variant.id,
                    "target": detector.class_names[targets[i]],
                    "drift_spearman": drift["spearman"],
                    "drift_top_iou": drift["top_iou"],
                    "deletion_auc": float(prob_curves.deletion_auc[i]),
                    "insertion_auc": float(prob_curves.insertion_auc[i]),
                    "target_logit": float(logit_curves.deletion[i, 0]) if logit_curves else np.nan,
                    "deletion_auc_logit": float(logit_curves.deletion_auc[i]) if logit_curves else np.nan,
                    "insertion_auc_logit": float(logit_curves.insertion_auc[i]) if logit_curves else np.nan,
                }
            )
        sanity = []
        for depth, (layer, random_map) in enumerate(randomised.get(method, []), start=1):
            sim = similarity(maps[method][0], random_map, cfg.top_fraction)
            sanity.append({"randomised_layers": depth, "top_layer": layer, "spearman": sim["spearman"], "top_iou": sim["top_iou"]})
        units[method] = (maps[method], rows, sanity)
    return units


def write_overlays(prep: PreparedSample, model: str, method: str, maps: np.ndarray, root: Path) -> list[str]:
    """One PNG per chosen variant, the method's maps of the sample on one scale; returns their
    paths relative to the run folder."""
    from xai import overlay
    from xai.explain import SIGNED_METHODS
    from xai.overlay import row_scale

    paths = []
    scale = row_scale(maps)
    for variant, m in zip(prep.variants, maps):
        rel = Path("explain", "overlays", model, slug(prep.sample.id), f"{slug(variant.id)}__{method}.png")
        if not (root / rel).is_file():
            picture = Image.fromarray(overlay(prep.display[variant.id], m, signed=method in SIGNED_METHODS, scale=scale))
            atomic_write(root / rel, lambda tmp: picture.save(tmp, format="PNG", compress_level=1))  # 2x faster, 10 % larger
        paths.append(rel.as_posix())
    return paths


TARGET_WORDS = {"ai": "AI", "human": "human", "predicted": "the predicted class"}
GRID_NOTE = (
    "Each map over a grey copy of its image; one colour scale per row (its 99th percentile of |value| at full colour), so the "
    "columns of a row compare. LIME is signed: red for {target}, blue against. Outlined: where the edit painted (its "
    "blocks, the box around its text)."
)


def edited_region(prep: PreparedSample, variant: Variant) -> np.ndarray | None:
    """Where the edit painted a region (occlusion blocks, placed text), as the edit recorded it,
    as a mask of the display copy; also when other steps of a combined edit changed every pixel.
    None where it painted none (the unedited image, noise, blur, colour, tiled text)."""
    record = prep.records.get(variant.id)
    if record is None or not record.boxes:
        return None
    return region_mask(record, *prep.display[variant.id].shape[:2])


def write_grid(prep: PreparedSample, model: str, maps: dict[str, np.ndarray], scores: pd.DataFrame, root: Path, input_size: int, target: str) -> str:
    """The figure a person reads first: the model's own input per variant as the first row, then
    methods as rows (one colour scale per row), variants as columns, scores in titles."""
    from experiments.report.naming import describe
    from xai.explain import SIGNED_METHODS
    from xai.overlay import overlay_grid

    rel = Path("explain", "grids", model, f"{slug(prep.sample.id)}.png")
    rows = scores[(scores["sample"] == prep.sample.id) & (scores["model"] == model)].set_index("variant")
    titles = []
    for v in prep.variants:
        name = "unedited" if v.id == IDENTITY else describe(v.id) + (f" (draw {v.replicate + 1})" if v.replicate else "")
        titles.append(f"{name}\np(AI) {rows.at[v.id, 'p_ai']:.2f} (Δ {rows.at[v.id, 'delta_p_ai']:+.2f})")
    title = f"{prep.sample.subject} ({prep.sample.truth}) — {model}"
    inputs = [np.rint(np.asarray(prep.inputs[input_size][v.id]) * 255).astype(np.uint8) for v in prep.variants]
    picture = overlay_grid(
        [prep.display[v.id] for v in prep.variants], maps, titles, title=title, signed=set(SIGNED_METHODS), inputs=inputs,
        input_label=f"model input\n{input_size} × {input_size} px", regions=[edited_region(prep, v) for v in prep.variants],
        target=TARGET_WORDS.get(target, target), note=GRID_NOTE.format(target=TARGET_WORDS.get(target, target)),
    )  # fmt: skip
    atomic_write(root / rel, lambda tmp: picture.save(tmp, format="PNG", optimize=False, compress_level=6))
    return rel.as_posix()


@dataclass
class ExplainUnit:
    """One unit of the stage, for an executor: a sample, the variants to prepare (every model's
    chosen ones) and, per model, its chosen variant ids and the methods not already cached."""

    sample: Sample
    variants: list[Variant]
    chosen: dict[str, list[str]]
    methods: dict[str, list[str]]

    def pick(self, ids: list[str]) -> list[Variant]:
        by_id = {v.id: v for v in self.variants}
        return [by_id[i] for i in ids]


@dataclass
class ExplainWorker:
    """What explaining needs, built once per worker (experiments.execution.executors)."""

    cfg: ExplainConfig
    seed: int
    detectors: dict[str, Detector]
    policy: DecodePolicy


def explain_worker(cfg: ExplainConfig, seed: int, policy: DecodePolicy, models: list[tuple[str, str, int]], detectors: list[Detector] | None = None) -> ExplainWorker:
    """A worker's state: the driver's models (source file, name, input size) loaded from their
    files, unless the driver hands over its own `detectors` (the local executor)."""
    from experiments.models.architecture import load_detector

    if detectors is None:
        detectors = [load_detector(Path(source), name, size) for source, name, size in models]
    return ExplainWorker(cfg, seed, {d.name: d for d in detectors}, policy)


@dataclass
class ExplainResult:
    """What a unit sends back: the prepared sample (display copies and model inputs, for the
    pictures the driver draws), per model the variants explained and the fresh units of
    explain_units, the seconds of each part, or why the sample could not be prepared."""

    prep: PreparedSample | None
    explained: dict[str, list[str]]
    fresh: dict[str, dict[str, tuple[np.ndarray, list[dict], list[dict]]]]
    seconds: dict[str, float]
    problem: str | None = None


def explain_sample(worker: ExplainWorker, unit: ExplainUnit) -> ExplainResult:
    """One unit of work: decode and edit the sample once, then every model's missing methods.
    Pure: it reads the image and the models, writes nothing."""
    cfg, timings = worker.cfg, Timings()
    sizes = {worker.detectors[name].input_size for name in unit.chosen}
    needs_segments = any("lime" in methods for methods in unit.methods.values())
    t = time.perf_counter()
    try:
        prep = prepare_sample(unit.sample, unit.variants, sizes, cfg, worker.seed, worker.policy, needs_segments)
    except ImageRejected as e:  # already recorded as skipped by the scoring stage
        return ExplainResult(None, {}, {}, {}, str(e))
    finally:
        timings.part("prepare (decode, edit, superpixels)", t)
    explained, fresh = {}, {}
    for name, ids in unit.chosen.items():
        kept = {v.id: v for v in prep.variants}
        mine = [kept[i] for i in ids if i in kept]  # in the chosen order: the unedited image first
        if not mine or mine[0].id != IDENTITY:
            continue
        explained[name] = [v.id for v in mine]
        view = PreparedSample(prep.sample, mine, prep.display, prep.inputs, prep.segments, prep.records)
        fresh[name] = explain_units(view, worker.detectors[name], unit.methods.get(name, []), cfg, worker.seed, timings)
    prep.segments = {}  # only LIME needs them, and it has run: not sent back
    return ExplainResult(prep, explained, fresh, dict(timings.parts))


def plan_units(cfg: ExplainConfig, samples: list[Sample], variants: list[Variant], detectors: list[Detector], scores: pd.DataFrame) -> list[ExplainUnit]:
    """The samples to explain (explain.max_samples: those whose scores moved most), each with
    every model's chosen variants, in the samples' order; `methods` is filled from the cache."""
    todo = [s for s in samples if s.path is not None and (scores["sample"] == s.id).any()]
    if cfg.max_samples is not None and len(todo) > cfg.max_samples:
        fragility = scores.assign(a=scores["delta_p_ai"].abs()).groupby("sample")["a"].mean()
        keep = set(fragility.sort_values(ascending=False, kind="stable").index[: cfg.max_samples])
        todo = [s for s in todo if s.id in keep]
        log.info("explaining the %d samples whose scores moved most (explain.max_samples)", len(todo))
    units = []
    for sample in todo:
        chosen = {d.name: chosen_variants(scores, sample.id, d.name, variants, cfg) for d in detectors}
        union = [v for v in variants if any(v in c for c in chosen.values())]
        units.append(ExplainUnit(sample, union, {name: [v.id for v in c] for name, c in chosen.items() if c}, {}))
    return units


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
    resamples: int = 1000,
    executor: ExecutorConfig | None = None,
    work=None,
) -> dict[str, pd.DataFrame]:
    """Explain every chosen image with every model and method, one unit per sample on the
    executor (cached units are read here and not sent); the driver writes the cache files and
    pictures as units come back, then the tables, in the samples' order. `work`: the unit's
    function (default explain_sample; tests wrap it)."""
    started = time.perf_counter()
    executor = executor or ExecutorConfig()
    parts, maps_dir = run_dir / "explain" / "parts", run_dir / "explain" / "maps"
    digests = {d.name: file_digest(Path(d.source)) for d in detectors}
    by_name = {d.name: d for d in detectors}
    units = plan_units(cfg, samples, variants, detectors, scores)

    def key(unit: ExplainUnit, name: str, method: str, ids: list[str]) -> str:
        return unit_key(unit.sample, digests[name], by_name[name], method, unit.pick(ids), cfg, seed)

    cached: dict[int, dict[tuple[str, str], tuple]] = {}
    t = time.perf_counter()
    for index, unit in enumerate(units):
        cached[index] = {}
        for name, ids in unit.chosen.items():
            for method in cfg.methods:
                k = key(unit, name, method, ids)
                found = load_cached_unit(parts / f"{k}.parquet", maps_dir / f"{k}.npz", parts / f"{k}_sanity.parquet", len(ids))
                if found is not None:
                    cached[index][(name, method)] = found
            unit.methods[name] = [m for m in cfg.methods if (name, m) not in cached[index]]
    timings.part("cache", t)

    if executor.kind == "local":  # this process's models, already loaded
        setup = partial(explain_worker, cfg, seed, policy, [], detectors)
    else:
        setup = partial(explain_worker, cfg, seed, policy, [(d.source, d.name, d.input_size) for d in detectors])
        log.info("explaining %d sample(s) on executor %s", len(units), executor.kind)
    per_unit: dict[int, tuple[list[pd.DataFrame], list[pd.DataFrame]]] = {}
    gathered: dict[int, list[explanation_checks.CheckUnit]] = {}  # for ROAD and localisation
    computed = 0
    with logging_redirect_tqdm(), tqdm(total=len(units) * len(detectors) * len(cfg.methods), desc="explaining", unit="map set", file=sys.stderr, mininterval=progress_interval()) as bar:
        for index, result in run_units(executor, setup, work or explain_sample, units):
            unit = units[index]
            for part, value in result.seconds.items():
                timings.parts[part] += value
            if result.problem is not None:
                log.warning("explain: skipped %s: %s", unit.sample.id, result.problem)
            else:
                computed += sum(len(fresh) for fresh in result.fresh.values())
                per_unit[index] = collect_unit(unit, result, cached[index], key, cfg, scores, run_dir, by_name, timings)
                gathered[index] = explanation_checks.gather(unit, result, cached[index], cfg.methods, {n: d.input_size for n, d in by_name.items()})
            bar.update(len(detectors) * len(cfg.methods))
    log.info("explanations: %d map sets computed, %d from the cache", computed, sum(len(c) for c in cached.values()))

    rows = [frame for i in sorted(per_unit) for frame in per_unit[i][0]]
    sanity = [frame for i in sorted(per_unit) for frame in per_unit[i][1]]
    meta_cols = ["sample", "subject", "edit", "truth", "model", "variant", "op", "severity", "p_ai", "delta_p_ai", "delta_margin"]
    table = pd.concat(rows, ignore_index=True).merge(scores[meta_cols], on=["sample", "model", "variant"], how="left") if rows else pd.DataFrame()
    if len(table):
        front = [c for c in meta_cols if c in table] + ["method", "target"]
        table = table[front + [c for c in table.columns if c not in front]]
    sanity_table = pd.concat(sanity, ignore_index=True) if sanity else pd.DataFrame(columns=SANITY_COLUMNS)
    versus = explanations_vs_random(table, resamples, seed)
    summary = summarise_explanations(table, sanity_table, versus)
    atomic_write_table(table, run_dir / "explanations")
    atomic_write_table(sanity_table, run_dir / "explanation_sanity")
    atomic_write_table(summary, run_dir / "explanation_summary")
    atomic_write_table(versus, run_dir / "explanation_vs_random")
    units_checked = [c for i in sorted(gathered) for c in gathered[i]]
    checks = explanation_checks.run_checks(cfg, seed, units_checked, by_name, scores, sanity_table, run_dir, timings, resamples, table)
    timings.add("explanations", started)
    return {"explanations": table, "explanation_sanity": sanity_table, "explanation_summary": summary, "explanation_vs_random": versus} | checks


def collect_unit(unit: ExplainUnit, result: ExplainResult, cached: dict, key, cfg: ExplainConfig, scores: pd.DataFrame, run_dir: Path, detectors: dict[str, Detector], timings: Timings) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """On the driver, for one unit back from a worker: write each fresh map set to the cache (the
    rows file last: its presence means the unit is done), draw overlays and grids, and return
    the unit's rows and sanity rows, models and methods in the config's order."""
    parts, maps_dir = run_dir / "explain" / "parts", run_dir / "explain" / "maps"
    rows, sanity = [], []
    for name in detectors:
        if name not in result.explained:
            continue
        ids = result.explained[name]
        view = PreparedSample(unit.sample, unit.pick(ids), result.prep.display, result.prep.inputs, {}, result.prep.records)
        grid_maps = {}
        for method in cfg.methods:
            t = time.perf_counter()
            if (name, method) in cached and method not in result.fresh[name]:
                maps, frame, frame_sanity = cached[(name, method)]
            else:
                k = key(unit, name, method, ids)
                maps, unit_rows, sanity_rows = result.fresh[name][method]
                labels = {"sample": unit.sample.id, "model": name, "method": method}
                frame = pd.DataFrame([labels | r for r in unit_rows])
                frame_sanity = pd.DataFrame([labels | r for r in sanity_rows], columns=SANITY_COLUMNS)
                atomic_write(maps_dir / f"{k}.npz", lambda tmp: save_maps(tmp, maps))
                atomic_write(parts / f"{k}_sanity.parquet", lambda tmp: frame_sanity.to_parquet(tmp, index=False))
                atomic_write(parts / f"{k}.parquet", lambda tmp: frame.to_parquet(tmp, index=False))  # last: the unit is done
            timings.part("cache", t)
            if cfg.pictures:
                t = time.perf_counter()
                frame["overlay"] = write_overlays(view, name, method, maps, run_dir)
                timings.part("overlays", t)
            rows.append(frame)
            sanity.append(frame_sanity)
            grid_maps[method] = maps
        if cfg.pictures:
            t = time.perf_counter()
            write_grid(view, name, grid_maps, scores, run_dir, detectors[name].input_size, cfg.target)
            timings.part("grids", t)
    return rows, sanity


def summarise_explanations(table: pd.DataFrame, sanity: pd.DataFrame, versus: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per model x method: mean drift over edited images, mean faithfulness AUCs (of the target's
    probability and of its log-odds), the mean similarity to the trained model's map once every
    layer is randomised (lower = the method depends on the model, as it should), and the verdicts
    against `random` on the log-odds AUCs over all explained images (see explanations_vs_random)."""
    if table.empty:
        return pd.DataFrame()
    edited = table[table["variant"] != IDENTITY]
    keys = ["model", "method"]
    summary = table.groupby(keys, sort=False).agg(
        maps=("variant", "size"), deletion_auc=("deletion_auc", "mean"), insertion_auc=("insertion_auc", "mean"),
        deletion_auc_logit=("deletion_auc_logit", "mean"), insertion_auc_logit=("insertion_auc_logit", "mean"),
    )  # fmt: skip
    summary = summary.join(edited.groupby(keys, sort=False).agg(drift_spearman=("drift_spearman", "mean"), drift_top_iou=("drift_top_iou", "mean")))
    if len(sanity):
        deepest = sanity[sanity["randomised_layers"] == sanity.groupby(keys)["randomised_layers"].transform("max")]
        summary = summary.join(deepest.groupby(keys).agg(sanity_spearman_all_random=("spearman", "mean"), sanity_top_iou_all_random=("top_iou", "mean")))
    if versus is not None and len(versus):
        overall = versus[versus["images"] == "all"].set_index([*keys, "metric"])["vs_random"]
        for metric in ("deletion_auc_logit", "insertion_auc_logit"):
            name = f"{metric.removesuffix('_auc_logit')}_vs_random"
            summary[name] = [overall.get((m, method, metric), "") for m, method in summary.index]
    return summary.reset_index()


# the metrics compared with random on every image (see explanations_vs_random); which direction
# is better is read from experiments.statistics.METRICS
VERSUS_RANDOM = ("deletion_auc_logit", "insertion_auc_logit", "deletion_auc", "insertion_auc")
VERSUS_COLUMNS = [
    "model", "method", "metric", "images", "better", "n", "n_maps", "exploratory", "method_mean", "random_mean",
    "difference", "ci_low", "ci_high", "ci_method", "vs_random",
]  # fmt: skip


def _spearman_along(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=-1), rankdata(y, axis=-1)
    rx, ry = rx - rx.mean(-1, keepdims=True), ry - ry.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / np.sqrt((rx**2).sum(-1) * (ry**2).sum(-1))


def _drift_tracking_difference(change: np.ndarray, random_change: np.ndarray, shift: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman(method's map change, |delta margin|) - the same for random's maps."""
    return _spearman_along(change, shift) - _spearman_along(random_change, shift)


def explanations_vs_random(table: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Each method against the `random` baseline on the same images, as a paired difference with
    a bootstrap interval and a verdict (`vs_random`: better / no_difference / worse).

    Faithfulness (deletion / insertion AUC, of the target's log-odds and of its probability): the
    method's AUC minus random's on the same (sample, variant), averaged per sample, bootstrapped
    over samples (an artwork's edits are not independent of each other); on all explained images
    and on the unedited ones alone (`images`). Drift (`drift_margin_spearman`, on edited images):
    how well the change of a method's map (1 - drift_spearman) tracks the change of the score
    (|delta margin|), as a Spearman correlation, minus the same for random's maps, bootstrapped
    over the edited images."""
    if table.empty or "random" not in set(table["method"]):
        return pd.DataFrame(columns=VERSUS_COLUMNS)
    from experiments.stats.statistics import METRICS, bootstrap_ci, exploratory, paired_difference_ci, verdict

    rows = []
    keys = ["model", "sample", "variant"]
    for model, mine in table.groupby("model", sort=False):
        random = mine[mine["method"] == "random"].set_index(keys[1:])
        for method, m in mine[mine["method"] != "random"].groupby("method", sort=False):
            m = m.set_index(keys[1:])
            both = m.index.intersection(random.index)
            for metric in VERSUS_RANDOM:
                better = METRICS[metric].direction
                for images, keep in (("all", both), ("unedited", both[both.get_level_values("variant") == IDENTITY])):
                    diff = (m.loc[keep, metric] - random.loc[keep, metric]).dropna()
                    per_sample = diff.groupby(level="sample", sort=False).mean()
                    found = paired_difference_ci(per_sample.to_numpy(), np.zeros(len(per_sample)), resamples=resamples, seed=seed)
                    rows.append({
                        "model": model, "method": method, "metric": metric, "images": images, "better": better, "n": found["n"],
                        "n_maps": len(diff), "method_mean": float(m.loc[diff.index, metric].mean()), "random_mean": float(random.loc[diff.index, metric].mean()),
                        "difference": found["difference"], "ci_low": found["ci_low"], "ci_high": found["ci_high"], "ci_method": found["ci_method"],
                        "vs_random": verdict(found["ci_low"], found["ci_high"], better),
                    })  # fmt: skip
            edited = [i for i in both if i[1] != IDENTITY]
            pair = pd.DataFrame({
                "change": 1 - m.loc[edited, "drift_spearman"], "random_change": 1 - random.loc[edited, "drift_spearman"],
                "shift": m.loc[edited, "delta_margin"].abs() if "delta_margin" in m else np.nan,
            }).dropna()  # fmt: skip
            arrays = [pair[c].to_numpy() for c in ("change", "random_change", "shift")]
            point = float(_drift_tracking_difference(*arrays)) if len(pair) > 2 else np.nan
            low, high, method_used = bootstrap_ci(arrays, _drift_tracking_difference, resamples=resamples, seed=seed) if len(pair) > 2 else (np.nan, np.nan, "none")
            better = METRICS["drift_margin_spearman"].direction
            rows.append({
                "model": model, "method": method, "metric": "drift_margin_spearman", "images": "edited",
                "better": better, "n": len(pair),
                "n_maps": len(pair), "method_mean": float(_spearman_along(arrays[0], arrays[2])) if len(pair) > 2 else np.nan,
                "random_mean": float(_spearman_along(arrays[1], arrays[2])) if len(pair) > 2 else np.nan,
                "difference": point, "ci_low": low, "ci_high": high, "ci_method": method_used, "vs_random": verdict(low, high, better),
            })  # fmt: skip
    out = pd.DataFrame(rows, columns=VERSUS_COLUMNS)
    out["exploratory"] = exploratory(out["n"].astype(int))
    return out
