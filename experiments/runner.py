"""The flow of a run: `execute(cfg, run_dir)`.

First the preflight (experiments.preflight): nothing is created before the config, samples,
study files, executor and models are known to be usable. Then, holding the run folder's lock,
each stage of `STAGES` in turn over one `RunContext` (config, paths, timings, samples, detectors,
the tables written so far); a stage returns None to go on or an exit status to stop. Last, the
manifest, written once (experiments.manifest). Adding a stage is adding a function of the
context to `STAGES`.

`execute` and `write_dataset_tables` are public: benchmarks and notebooks run what a run runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pandas as pd

from augment import IDENTITY
from experiments import console
from experiments.config.schema import RunConfig
from experiments.context import RunContext, RunPaths, Timings
from experiments.preflight import preflight, prepare_run_dir, resolver_for
from experiments import manifest
from experiments.rundir.atomic import atomic_write, atomic_write_json, atomic_write_table, neutralise_formulas
from experiments.rundir.runfolder import run_lock
from experiments.stages.audit import run_audit
from experiments.stages.corruption import corruption_stage
from experiments.stages.cue_reversal import run_reversal
from experiments.stages.eval_sets import run_eval_sets
from experiments.stages.explanations import run_explanations
from experiments.stages.generators import run_generators, seen_generators
from experiments.stages.model_comparison import run_model_comparison
from experiments.stages.score_tables import minimal_flip, minimal_flip_curve, study_table, study_table_wide, summarise
from experiments.stages.scoring_driver import assemble, chosen_part_size, score_samples

log = logging.getLogger("artxai")


# --- the stages, in order ------------------------------------------------------------------


def score(ctx: RunContext) -> None:
    """Every sample under every variant with every model, into parts/ (resumable)."""
    log.info(
        "%d samples x %d variants x %d models (%s) -> %s",
        len(ctx.samples), len(ctx.variants), len(ctx.detectors), ", ".join(d.name for d in ctx.detectors), ctx.run_dir,
    )  # fmt: skip
    if ctx.cfg.part_size is None:
        log.info(
            "part_size %d (chosen for %d samples x %d variants at batch_size %d: %d part(s); "
            "set part_size to choose)",
            ctx.part_size, len(ctx.samples), len(ctx.variants), ctx.cfg.batch_size,
            -(-len(ctx.samples) // ctx.part_size),
        )  # fmt: skip
    skipped, resumed = score_samples(ctx.cfg, ctx.samples, ctx.variants, ctx.detectors, ctx.paths, ctx.timings)
    if resumed:
        log.info("resumed: %d samples were already scored", resumed)
    ctx.tables["skipped"] = pd.DataFrame(skipped, columns=["sample", "variant", "reason"])
    ctx.counts = {"samples": len(ctx.samples), "variants": len(ctx.variants)}
    ctx.counts |= {"skipped": len(skipped), "resumed_samples": resumed}


def score_tables(ctx: RunContext) -> int | None:
    """The scores assembled from verified parts, and the tables made from them; exit status 1
    when nothing could be scored."""
    t, run_dir = time.perf_counter(), ctx.run_dir
    scores, skipped = assemble(ctx.samples, ctx.paths, ctx.part_size), ctx.tables["skipped"]
    atomic_write_table(skipped, run_dir / "skipped")
    if scores.empty:
        log.error("nothing could be scored (%d skipped; see %s)", len(skipped), run_dir / "skipped.csv")
        return 1
    atomic_write_table(scores, run_dir / "scores")
    summary = summarise(scores, ctx.cfg.bootstrap, ctx.cfg.seed)
    atomic_write_table(summary, run_dir / "summary")
    flips = minimal_flip(scores)
    flip_curve = minimal_flip_curve(flips, scores)
    atomic_write_table(flips, run_dir / "minimal_flip")
    atomic_write_table(flip_curve, run_dir / "minimal_flip_curve")
    tables = {"scores": scores, "summary": summary, "minimal_flip": flips, "minimal_flip_curve": flip_curve}
    tables["skipped"] = skipped
    ctx.wrote_study = ctx.cfg.study_table and (scores["edit"] == "original").any() and scores["edit"].nunique() > 1
    if ctx.wrote_study:
        tables["study_table"] = study_table(scores)
        wide = study_table_wide(tables["study_table"])
        atomic_write_table(tables["study_table"], run_dir / "study_table")
        write_wide = lambda tmp: neutralise_formulas(wide).to_csv(tmp, index=False, float_format="%.2f")  # noqa: E731
        atomic_write(run_dir / "study_table_wide.csv", write_wide)
    ctx.timings.add("tables", t)
    ctx.keep(tables)
    ctx.counts["rows"] = len(scores)
    return None


def write_dataset_tables(
    scores: pd.DataFrame, run_dir: Path, cfg: RunConfig, timings: Timings | None = None
) -> dict[str, pd.DataFrame]:
    """Evaluation (unedited images) and robustness (every variant) with bootstrap CIs, and their
    figures, when the scored images include both classes; returns the tables written."""
    from experiments.report import figures, severity_figures
    from experiments.stages.evaluation import evaluate, robustness

    if scores.loc[scores["variant"] == IDENTITY, "truth"].nunique() < 2:
        return {}
    timings = timings or Timings()
    t = time.perf_counter()
    tables = evaluate(scores, cfg.bootstrap, cfg.seed) | {
        "robustness_metrics": robustness(scores, cfg.bootstrap, cfg.seed)
    }
    timings.add("evaluation", t)
    t = time.perf_counter()
    for name, table in tables.items():
        atomic_write_table(table, run_dir / name)
    timings.add("tables", t)
    t = time.perf_counter()
    fig_dir, groups, robust = run_dir / "figures", tables["evaluation_groups"], tables["robustness_metrics"]
    for model in scores["model"].unique():
        figures.confusion_matrix(tables["confusion"], model, fig_dir / f"confusion_{model}.png")
        figures.reliability_diagram(tables["calibration"], model, fig_dir / f"reliability_{model}.png")
        for by in ("style", "generator", "source"):
            if ((groups["model"] == model) & (groups["by"] == by)).any():
                figures.group_accuracy(groups, model, by, fig_dir / f"accuracy_by_{by}_{model}.png")
    if robust["severity"].notna().any():
        severity_figures.severity_curves(robust, "accuracy", fig_dir / "robustness_accuracy.png")
        severity_figures.severity_curves(robust, "roc_auc", fig_dir / "robustness_auc.png")
    timings.add("figures", t)
    return tables


def evaluation(ctx: RunContext) -> None:
    """Classification metrics and robustness with intervals, when both classes were scored."""
    ctx.keep(write_dataset_tables(ctx.tables["scores"], ctx.run_dir, ctx.cfg, ctx.timings))


def generators(ctx: RunContext) -> None:
    """Detection per generator, seen vs unseen, and false positives per human source (table `generators`)."""
    ctx.keep(run_generators(ctx.cfg, ctx.detectors, ctx.tables["scores"], ctx.run_dir))


def model_cards(ctx: RunContext) -> None:
    """Each model's card, with this run's test numbers, beside the tables."""
    t = time.perf_counter()
    evaluation_metrics = ctx.tables.get("evaluation_metrics", pd.DataFrame())
    trained_on = seen_generators(ctx.cfg, ctx.detectors)
    manifest.write_model_cards(ctx.run_dir, ctx.detectors, ctx.model_blob_ids, evaluation_metrics, trained_on)
    ctx.timings.add("tables", t)


def model_comparison(ctx: RunContext) -> None:
    """Every pair of models on the same unedited images, exact McNemar (`model_comparison: true`)."""
    if ctx.cfg.model_comparison:
        ctx.keep(run_model_comparison(ctx.tables["scores"], ctx.run_dir))


def audit(ctx: RunContext) -> None:
    """The shortcut audit (`audit:`), then cross-set evaluation (`eval_sets:`)."""
    cfg = ctx.cfg
    if cfg.audit is not None:
        ctx.keep(run_audit(
            cfg.audit, ctx.samples, ctx.detectors, ctx.run_dir, ctx.decode, cfg.seed, cfg.bootstrap, cfg.batch_size,
            cfg.workers or None, ctx.timings,
        ))  # fmt: skip
        if cfg.audit.reversal:
            ctx.keep(
                run_reversal(
                    cfg.audit, ctx.samples, ctx.detectors, ctx.tables, ctx.run_dir, ctx.decode, cfg.seed, cfg.bootstrap
                )
            )
    resolver = resolver_for(cfg)
    ctx.keep(
        run_eval_sets(cfg, ctx.samples, ctx.detectors, resolver, ctx.run_dir, ctx.decode, ctx.retrain, ctx.timings)
    )


def explanations(ctx: RunContext) -> None:
    """Attribution maps and how far to trust them (`explain:`)."""
    cfg = ctx.cfg
    if cfg.explain is not None:
        ctx.keep(run_explanations(
            cfg.explain, cfg.seed, ctx.samples, ctx.variants, ctx.detectors, ctx.tables["scores"], ctx.run_dir,
            ctx.decode, ctx.timings, cfg.bootstrap, cfg.executor,
        ))  # fmt: skip
    ctx.counts["explanation_maps"] = len(ctx.tables.get("explanations", []))


def report(ctx: RunContext) -> None:
    """What the run found, on the console, and the HTML report (`report: html`)."""
    t, tables = time.perf_counter(), ctx.tables
    console.print_result(ctx.run_dir, tables["scores"], tables["summary"], tables["skipped"], ctx.wrote_study)
    console.print_fooling(tables["summary"], tables["minimal_flip_curve"])
    if "evaluation_metrics" in tables:
        console.print_evaluation(ctx.run_dir, tables["evaluation_metrics"])
    if "model_comparison" in tables:
        console.print_model_comparison(ctx.run_dir, tables["model_comparison"])
    if "explanation_summary" in tables:
        console.print_explanations(ctx.run_dir, tables["explanation_summary"])
    if ctx.cfg.report == "html":
        from experiments.report.build import build_report

        log.info("report: %s", build_report(ctx.run_dir, ctx.cfg.bootstrap, manifest.as_written(manifest_fields(ctx))))
    ctx.timings.add("report", t)


Stage = Callable[[RunContext], "int | None"]
STAGES: tuple[Stage, ...] = (
    score, score_tables, evaluation, corruption_stage, generators, model_cards, model_comparison, audit, explanations,
    report,
)  # fmt: skip


# --- a run ---------------------------------------------------------------------------------


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
    started = started if started is not None else time.perf_counter()
    paths = RunPaths(run_dir)
    with ExitStack() as executor:
        # nothing is created before the preflight passes; the executor (a Ray cluster) is held till the run ends
        samples, detectors, model_blob_ids = preflight(cfg, paths, resume, force, retrain, timings, executor)
        with run_lock(paths.root):
            prepare_run_dir(paths, cfg, resume, force)
            part_size = chosen_part_size(cfg, len(samples), len(cfg.variants()))  # samples per part file
            ctx = RunContext(cfg, paths, timings, started, samples, detectors, model_blob_ids, part_size, retrain)
            return run_stages(ctx)


def manifest_fields(ctx: RunContext) -> dict:
    """manifest.json's fields as they stand now, timings included."""
    cfg, listed = ctx.cfg, ctx.listed
    fields = manifest.manifest(cfg, ctx.detectors, ctx.model_blob_ids, ctx.samples, listed, ctx.counts)
    return fields | manifest.stage_timings(ctx.timings, ctx.started)


def run_stages(ctx: RunContext) -> int:
    """Each stage in turn, holding the run folder's lock; then manifest.json, once."""
    for stage in STAGES:
        if (status := stage(ctx)) is not None:
            return status
    atomic_write_json(ctx.run_dir / "manifest.json", manifest_fields(ctx))
    console.print_timings(ctx.timings, time.perf_counter() - ctx.started)
    return 0
