"""The explanation stage: attribution maps for chosen images, the numbers that say how far to
trust them, and the pictures a person reads first.

The stage (`run`), in the order `run_explanations` runs it; its helpers are this package's modules:
  plan      the samples to explain, each with every model's chosen variants  (plan_units)
  cache     the map sets already done, read back                            (.cache)
  compute   per sample, one unit of work on the run's executor: decode, edit, and every
            model's uncached map sets with their numbers                    (.maps)
  collect   on the driver, as units come back: the cache files, overlays
            and grids                                                       (.pictures)
  tables    explanations (one row per map), explanation_sanity, then each
            step of TABLE_STEPS: explanation_summary, explanation_vs_random (.trust)
  checks    ROAD, localisation, the maps' robustness, the verdicts          (.checks, .robustness)
A map set is one model x method on one sample's chosen variants. `explain_sample` (the unit's
work) writes nothing; the driver returns the tables in the samples' order, whatever the executor,
and the runner writes them.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from augment import IDENTITY, Variant
from experiments.config.sections import ExecutorConfig, ExplainConfig
from experiments.execution.executors import progress_interval, run_units
from experiments.inputs.images import DecodePolicy, ImageRejected
from experiments.inputs.samples import Sample
from experiments.models.detector import Detector
from experiments.stages.explanations.cache import CachedMapSet, MapCache
from experiments.stages.explanations.maps import (
    MapSet, PreparedSample, chosen_variants, explain_map_sets, prepare_sample, refusals, usable_methods,
)  # fmt: skip
from experiments.stages.explanations.pictures import write_grid, write_overlays
from experiments.stages.explanations.trust import explanations_vs_random, summarise_explanations
from experiments.stages.explanations import checks as explanation_checks
from experiments.context import RunContext, Timings

log = logging.getLogger("artxai")

SANITY_COLUMNS = ["sample", "model", "method", "randomised_layers", "top_layer", "spearman", "top_iou"]
META_COLUMNS = ["sample", "subject", "edit", "truth", "model", "variant", "op", "severity", "p_ai", "delta_p_ai",
                "delta_margin"]  # fmt: skip


@dataclass
class ExplainUnit:
    """One unit of work of the stage, for an executor: a sample, the variants to prepare (every
    model's chosen ones) and, per model, its chosen variant ids and the methods not already cached."""

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


def explain_worker(
    cfg: ExplainConfig, seed: int, policy: DecodePolicy, models: list[tuple[tuple, str]],
    detectors: list[Detector] | None = None,
) -> ExplainWorker:  # fmt: skip
    """A worker's state: the driver's models (recipe, digest: experiments.models.backends.reopen)
    opened from their files, unless the driver hands over its own `detectors` (the local executor)."""
    from experiments.models.backends import reopen

    if detectors is None:
        detectors = [reopen(recipe, digest).with_gradients() for recipe, digest in models]
    return ExplainWorker(cfg, seed, {d.name: d for d in detectors}, policy)


@dataclass
class ExplainResult:
    """What a unit sends back: the prepared sample (display copies and model inputs, for the
    pictures the driver draws), per model the variants explained and the fresh map sets of
    explain_map_sets, the seconds of each phase, or why the sample could not be prepared."""

    prep: PreparedSample | None
    explained: dict[str, list[str]]
    fresh: dict[str, dict[str, MapSet]]
    seconds: dict[str, float]
    problem: str | None = None


def explain_sample(worker: ExplainWorker, unit: ExplainUnit) -> ExplainResult:
    """One unit of work: decode and edit the sample once, then every model's missing methods.
    Pure: it reads the image and the models, writes nothing."""
    cfg, timings = worker.cfg, Timings()
    specs = {worker.detectors[name].input for name in unit.chosen}
    needs_segments = any("lime" in methods for methods in unit.methods.values())
    t = time.perf_counter()
    try:
        prep = prepare_sample(unit.sample, unit.variants, specs, cfg, worker.seed, worker.policy, needs_segments)
    except ImageRejected as e:  # already recorded as skipped by the scoring stage
        return ExplainResult(None, {}, {}, {}, str(e))
    finally:
        timings.phase("prepare (decode, edit, superpixels)", t)
    explained, fresh = {}, {}
    for name, ids in unit.chosen.items():
        kept = {v.id: v for v in prep.variants}
        mine = [kept[i] for i in ids if i in kept]  # in the chosen order: the unedited image first
        if not mine or mine[0].id != IDENTITY:
            continue
        explained[name] = [v.id for v in mine]
        view = PreparedSample(prep.sample, mine, prep.display, prep.inputs, prep.segments, prep.records)
        methods = unit.methods.get(name, [])
        fresh[name] = explain_map_sets(view, worker.detectors[name], methods, cfg, worker.seed, timings)
    prep.segments = {}  # only LIME needs them, and it has run: not sent back
    return ExplainResult(prep, explained, fresh, dict(timings.phases))


def plan_units(
    cfg: ExplainConfig, samples: list[Sample], variants: list[Variant], detectors: list[Detector], scores: pd.DataFrame
) -> list[ExplainUnit]:
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


def read_cache(units: list[ExplainUnit], cache: MapCache, timings: Timings) -> dict[int, dict[tuple, CachedMapSet]]:
    """Per unit, the map sets already in the cache by (model, method); fills each unit's
    `methods` with the ones left to compute."""
    cached: dict[int, dict[tuple[str, str], CachedMapSet]] = {}
    t = time.perf_counter()
    for index, unit in enumerate(units):
        cached[index] = {}
        for name, ids in unit.chosen.items():
            methods = usable_methods(cache.detectors[name], cache.cfg.methods)
            for method in methods:
                found = cache.load(cache.key(unit.sample.id, name, method, unit.pick(ids)), len(ids))
                if found is not None:
                    cached[index][(name, method)] = found
            unit.methods[name] = [m for m in methods if (name, m) not in cached[index]]
    timings.phase("cache", t)
    return cached


def compute_units(
    units: list[ExplainUnit], cached: dict, cache: MapCache, scores: pd.DataFrame, policy: DecodePolicy,
    timings: Timings, executor: ExecutorConfig, work,
) -> dict[int, tuple[list[pd.DataFrame], list[pd.DataFrame], list[explanation_checks.CheckUnit]]]:  # fmt: skip
    """Every unit on the executor, each collected on the driver as it comes back: per unit index,
    its rows, its sanity rows and its maps as the checks read them (ROAD, localisation, noise)."""
    cfg, detectors = cache.cfg, list(cache.detectors.values())
    if executor.kind == "local":  # this process's models, already loaded
        setup = partial(explain_worker, cfg, cache.seed, policy, [], detectors)
    else:
        setup = partial(explain_worker, cfg, cache.seed, policy, [(d.recipe, d.digest) for d in detectors])
        log.info("explaining %d sample(s) on executor %s", len(units), executor.kind)
    per_unit: dict[int, tuple[list[pd.DataFrame], list[pd.DataFrame], list[explanation_checks.CheckUnit]]] = {}
    computed, total = 0, len(units) * len(detectors) * len(cfg.methods)
    specs = {d.name: d.input for d in detectors}
    methods = {d.name: usable_methods(d, cfg.methods) for d in detectors}
    with (
        logging_redirect_tqdm(),
        tqdm(total=total, desc="explaining", unit="map set", file=sys.stderr, mininterval=progress_interval()) as bar,
    ):
        for index, result in run_units(executor, setup, work, units):
            unit = units[index]
            for phase, value in result.seconds.items():
                timings.phases[phase] += value
            if result.problem is not None:
                log.warning("explain: skipped %s: %s", unit.sample.id, result.problem)
            else:
                computed += sum(len(fresh) for fresh in result.fresh.values())
                rows, sanity = collect_unit(unit, result, cached[index], cache, scores, timings)
                per_unit[index] = (rows, sanity, explanation_checks.gather(unit, result, cached[index], methods, specs))
            bar.update(len(detectors) * len(cfg.methods))
    from_cache = sum(len(c) for c in cached.values())
    log.info("explanations: %d map sets computed, %d from the cache", computed, from_cache)
    return per_unit


def collect_unit(
    unit: ExplainUnit, result: ExplainResult, cached: dict, cache: MapCache, scores: pd.DataFrame, timings: Timings
) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """On the driver, for one unit back from a worker: write each fresh map set to the cache,
    draw overlays and grids, and return the unit's rows and sanity rows, models and methods in
    the config's order."""
    cfg, run_dir = cache.cfg, cache.run_dir
    rows, sanity = [], []
    for name in cache.detectors:
        if name not in result.explained:
            continue
        ids = result.explained[name]
        prep = result.prep
        view = PreparedSample(unit.sample, unit.pick(ids), prep.display, prep.inputs, {}, prep.records)
        grid_maps = {}
        for method in usable_methods(cache.detectors[name], cfg.methods):
            t = time.perf_counter()
            if (name, method) in cached and method not in result.fresh[name]:
                maps, frame, frame_sanity = cached[(name, method)]
            else:
                maps, set_rows, sanity_rows = result.fresh[name][method]
                labels = {"sample": unit.sample.id, "model": name, "method": method}
                frame = pd.DataFrame([labels | r for r in set_rows])
                frame_sanity = pd.DataFrame([labels | r for r in sanity_rows], columns=SANITY_COLUMNS)
                cache.save(cache.key(unit.sample.id, name, method, view.variants), maps, frame, frame_sanity)
            timings.phase("cache", t)
            if cfg.pictures:
                t = time.perf_counter()
                frame["overlay"] = write_overlays(view, name, method, maps, run_dir)
                timings.phase("overlays", t)
            rows.append(frame)
            sanity.append(frame_sanity)
            grid_maps[method] = maps
        if cfg.pictures:
            t = time.perf_counter()
            write_grid(view, name, grid_maps, scores, run_dir, cache.detectors[name].input, cfg.target)
            timings.phase("grids", t)
    return rows, sanity


def rows_tables(per_unit: dict, scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """explanations (every map's row with its image's scores in front) and explanation_sanity,
    in the samples' order."""
    rows = [frame for i in sorted(per_unit) for frame in per_unit[i][0]]
    sanity = [frame for i in sorted(per_unit) for frame in per_unit[i][1]]
    table = pd.DataFrame()
    if rows:
        table = pd.concat(rows, ignore_index=True).merge(
            scores[META_COLUMNS], on=["sample", "model", "variant"], how="left"
        )
    if len(table):
        front = [c for c in META_COLUMNS if c in table] + ["method", "target"]
        table = table[front + [c for c in table.columns if c not in front]]
    sanity_table = pd.concat(sanity, ignore_index=True) if sanity else pd.DataFrame(columns=SANITY_COLUMNS)
    return {"explanations": table, "explanation_sanity": sanity_table}


def trust_tables(tables: dict[str, pd.DataFrame], resamples: int, seed: int) -> dict[str, pd.DataFrame]:
    """explanation_summary and explanation_vs_random (experiments.stages.explanations.trust)."""
    versus = explanations_vs_random(tables["explanations"], resamples, seed)
    summary = summarise_explanations(tables["explanations"], tables["explanation_sanity"], versus)
    return {"explanation_summary": summary, "explanation_vs_random": versus}


# The tables made from the rows, in order: each step reads the tables so far (explanations,
# explanation_sanity and the steps' before it) and returns its own by name. A new check's table
# (its own module) is one more entry here.
TABLE_STEPS = (trust_tables,)


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
    executor (cached map sets are read here and not sent); the driver writes the cache files and
    pictures as units come back, and returns the tables, in the samples' order. `work`: the unit's
    function (default explain_sample; tests wrap it)."""
    started = time.perf_counter()
    detectors = [d.with_gradients() for d in detectors]  # the Keras models their ONNX copies scored for
    cache = MapCache.of_run(run_dir, cfg, seed, detectors)
    for line in refusals(detectors, cfg.methods):
        log.warning("explain: %s", line)
    units = plan_units(cfg, samples, variants, detectors, scores)
    cached = read_cache(units, cache, timings)
    executor = executor or ExecutorConfig()
    per_unit = compute_units(units, cached, cache, scores, policy, timings, executor, work or explain_sample)
    tables = rows_tables(per_unit, scores)
    for step in TABLE_STEPS:
        tables |= step(tables, resamples, seed)
    checked = [c for i in sorted(per_unit) for c in per_unit[i][2]]  # ROAD, localisation, noise: written there
    tables |= explanation_checks.run_checks(
        cfg,
        seed,
        checked,
        cache.detectors,
        scores,
        tables["explanation_sanity"],
        timings,
        resamples,
        tables["explanations"],
    )
    timings.add("explanations", started)
    return tables


def run(ctx: RunContext) -> dict[str, pd.DataFrame]:
    """Attribution maps and how far to trust them (`explain:`)."""
    cfg, found = ctx.cfg, {}
    if cfg.explain is not None:
        found = run_explanations(
            cfg.explain, cfg.seed, ctx.samples, ctx.variants, ctx.detectors, ctx.tables["scores"], ctx.run_dir,
            ctx.decode, ctx.timings, cfg.bootstrap, cfg.executor,
        )  # fmt: skip
    ctx.counts["explanation_maps"] = len(found.get("explanations", []))
    return found
