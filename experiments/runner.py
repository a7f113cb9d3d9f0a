"""The flow of a run: `execute(cfg, run_dir)`.

First the preflight (experiments.preflight): nothing is created before the config, samples,
study files, executor and models are known to be usable. Then, holding the run folder's lock,
each stage of `STAGES` in turn over one `RunContext` (experiments.context): a stage is a module
of experiments.stages whose `run(ctx)` returns its tables by name, or an exit status to stop;
`RunContext.keep` writes and keeps every table a stage returns. After the stages, what the run
found (figures, the console, the HTML report), and last the manifest, written once
(experiments.manifest). Adding a stage: docs/layout.md#adding-a-stage.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from pathlib import Path

from experiments import console, manifest
from experiments.config.schema import RunConfig
from experiments.context import RunContext, RunPaths, Timings
from experiments.execution.interrupts import raise_if_interrupted
from experiments.preflight import preflight, prepare_run_dir, resolver_for
from experiments.rundir.atomic import atomic_write_json
from experiments.rundir.runfolder import run_lock
from experiments.stages import (
    audit, corruption, cross_generator, cue_reversal, eval_sets, evaluation, explanations, generators, model_cards,
    model_comparison, score_tables, scoring,
)  # fmt: skip
from experiments.stages.scoring.driver import chosen_part_size

log = logging.getLogger("artxai")

STAGES = (
    scoring,  # every sample x variant x model into parts/; `skipped`
    score_tables,  # scores, summary, minimal flips, the study's table; exit status 1 when nothing was scored
    evaluation,  # classification metrics and robustness with intervals (both classes scored)
    corruption,  # the corruption score and AP / ROC-AUC against severity per op family
    generators,  # detection per generator, seen vs unseen
    model_cards,  # each model's card beside the tables (no table)
    model_comparison,  # every pair of models, exact McNemar (`model_comparison: true`)
    audit,  # the shortcut audit (`audit:`)
    cue_reversal,  # each class re-encoded at the other's typical file settings (`audit: {reversal: true}`)
    eval_sets,  # cross-set evaluation (`eval_sets:`)
    cross_generator,  # the cross-generator matrix, training model copies (`cross_generator:`)
    explanations,  # attribution maps and how far to trust them (`explain:`)
)


def execute(
    cfg: RunConfig,
    run_dir: Path,
    resume: bool = False,
    force: bool = False,
    retrain: bool = False,
    started: float | None = None,
) -> int:
    """Run a config. `started`: when the process started (perf_counter), to time its start-up."""
    timings = Timings()
    if started is not None:
        timings.seconds["start-up"] = time.perf_counter() - started
        log.info("%s", console.start_up_line(timings.seconds["start-up"]))
    started = started if started is not None else time.perf_counter()
    paths = RunPaths(run_dir)
    with ExitStack() as executor:
        # nothing is created before the preflight passes; the executor (a Ray cluster) is held till the run ends
        samples, detectors, model_blob_ids = preflight(cfg, paths, resume, force, retrain, timings, executor)
        with run_lock(paths.root):
            prepare_run_dir(paths, cfg, resume, force)
            part_size = chosen_part_size(cfg, len(samples), len(cfg.variants()))  # samples per part file
            ctx = RunContext(
                cfg, paths, timings, started, samples, detectors, model_blob_ids, part_size, resolver_for(cfg), retrain
            )
            return run_stages(ctx)


def run_stages(ctx: RunContext) -> int:
    """Each stage in turn, holding the run folder's lock, its tables written and kept; then what
    the run found (`report`) and manifest.json, once."""
    for stage in STAGES:
        found = stage.run(ctx)
        raise_if_interrupted()  # one whose exception was dropped: the run stops after this stage
        if isinstance(found, int):
            return found
        t = time.perf_counter()
        ctx.keep(found)
        ctx.timings.add("tables", t)
    report(ctx)
    atomic_write_json(ctx.run_dir / "manifest.json", manifest_fields(ctx))
    console.print_timings(ctx.timings, time.perf_counter() - ctx.started)
    return 0


def report(ctx: RunContext) -> None:
    """What the run found: the evaluation's figures (figures/), the console, and the HTML report
    (`report: html`). Not a stage: the report reads what the stages wrote."""
    from experiments.report.run_figures import dataset_figures

    t, tables = time.perf_counter(), ctx.tables
    if "evaluation_metrics" in tables:
        dataset_figures(list(tables["scores"]["model"].unique()), tables, ctx.run_dir / "figures")
        ctx.timings.add("figures", t)
    t = time.perf_counter()
    console.print_result(ctx.run_dir, tables["scores"], tables["summary"], tables["skipped"], ctx.wrote_study)
    console.print_fooling(tables["summary"], tables["minimal_flip_curve"])
    if "evaluation_metrics" in tables:
        console.print_evaluation(ctx.run_dir, tables["evaluation_metrics"])
    if "model_comparison" in tables:
        console.print_model_comparison(ctx.run_dir, tables["model_comparison"])
    if "explanation_summary" in tables:
        console.print_explanations(ctx.run_dir, tables["explanation_summary"])
    if "explanation_checks" in tables:
        console.print_explanation_checks(ctx.run_dir, tables["explanation_checks"])
    if ctx.cfg.report == "html":
        from experiments.report.build import build_report

        log.info("report: %s", build_report(ctx.run_dir, ctx.cfg.bootstrap, manifest.as_written(manifest_fields(ctx))))
    ctx.timings.add("report", t)


def manifest_fields(ctx: RunContext) -> dict:
    """manifest.json's fields as they stand now, timings included."""
    fields = manifest.manifest(ctx.cfg, ctx.detectors, ctx.model_blob_ids, ctx.samples, ctx.listed, ctx.counts)
    return fields | manifest.stage_timings(ctx.timings, ctx.started)
