"""The experiment runner: `python -m experiments.run CONFIG.yaml [--out DIR] [--resume|--force]`.

Steps: validate the config, list the samples, resolve the study's files and load the models
before anything is created (`preflight`); then, holding the run folder's lock, for each sample
decode it once, apply every variant, score every model in batches and write that sample's rows
to `parts/` atomically with their checksums (so a killed run resumes where it stopped); finally
assemble the tables from verified parts: scores, summary, the study's table, skipped inputs,
and a manifest of what ran.

Exit status: 0 when something was scored, 1 when nothing could be, a part is missing or
damaged, a file cannot be written (a full disk: what was finished is kept for --resume), or
workers died more often than `executor.max_retries` allows; 2 for a config, asset, run-folder or
executor problem (one line on stderr, no traceback); 130 / 143 after Ctrl-C / SIGTERM (one line;
finished parts are kept and `--resume` continues). The run folder is artxai's own
(experiments.rundir.runfolder): marked first, and the only folder a run deletes in.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import partial
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from augment import IDENTITY, expand_grid
from experiments.inputs.assets import DEFAULT_BASE_URL, AssetError, AssetResolver, known_blob_ids, mirror_from_env
from experiments.rundir.atomic import WriteFailed
from experiments.rundir.atomic import atomic_write, atomic_write_bytes, atomic_write_json, atomic_write_table, atomic_write_text, neutralise_formulas
from experiments.config.schema import ConfigError, RunConfig, load_config
from experiments.stages.audit import run_audit
from experiments.stages.eval_sets import eval_set_samples, run_eval_sets
from experiments.execution.executors import WorkerDied, executor_session, progress_interval, run_units
from experiments.stages.explanations import run_explanations
from experiments.inputs.fingerprints import file_sha256, input_digests
from experiments.report.gallery import MAX_GALLERY, gallery_file, gallery_made_while_scoring
from experiments.inputs.images import DecodePolicy
from experiments.execution.interrupts import MESSAGE as INTERRUPTED
from experiments.execution.interrupts import exit_status, sigterm_raises
from experiments.models.architecture import Detector, card_path, load_detector, training_dir
from experiments.rundir.parts import IncompleteRun, PartDamaged, PartStale, finished, read_part, write_part
from experiments.rundir.runfolder import check_apart, clear, ensure_free, folder_action, remove_leftovers, run_lock
from experiments.rundir.runfolder import write_marker
from experiments.inputs.samples import Sample, load_samples
from experiments.stages.scoring import Timings, score_chunk
from experiments.stages.score_tables import finish_scores, median_fooling_severity, minimal_flip, minimal_flip_curve, study_table, study_table_wide, summarise
from experiments.models.trained_models import ModelRefused, trained_detector

log = logging.getLogger("artxai")

PACKAGES = ["artxai", "tensorflow", "keras", "numpy", "albumentations", "pillow", "pandas", "pyarrow", "pydantic"]


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def parts(self) -> Path:
        return self.root / "parts"

    def part(self, chunk: list[Sample]) -> Path:
        """The file holding a chunk of samples' rows, named by a hash of their ids."""
        ids = "\n".join(s.id for s in chunk).encode("utf-8", "surrogateescape")  # any name, even not UTF-8
        return self.parts / (hashlib.sha1(ids).hexdigest()[:16] + ".parquet")


def chunks(samples: list[Sample], size: int) -> list[list[Sample]]:
    return [samples[i : i + size] for i in range(0, len(samples), size)]


def resolver_for(cfg: RunConfig) -> AssetResolver:
    base_url = DEFAULT_BASE_URL if cfg.assets.base_url is None else (cfg.assets.base_url or None)
    return AssetResolver(
        mirror=cfg.assets.mirror or mirror_from_env(),
        cache_dir=cfg.assets.cache_dir,
        base_url=base_url,
        timeout_s=cfg.assets.timeout_s,
    )


def load_detectors(cfg: RunConfig, resolver: AssetResolver, retrain: bool = False, timings: Timings | None = None) -> tuple[list[Detector], dict[str, str]]:
    """The models of the config that can be had, each with the sha256 of its file read before
    loading; a model with a train block is trained first, or reused only when its card says it
    was trained as the block asks (experiments.models.trained_models). A missing optional model is one
    warning line; a trained model that does not match its block stops the run (ModelRefused)."""
    detectors, blob_ids, failures = [], {}, []
    for m in cfg.models:
        try:
            if m.train is not None:
                snapshot = cfg.model_dump(mode="json")
                detector, seconds = trained_detector(
                    m.name, m.train, m.input_size, m.path, cfg.seed, decode_policy(cfg), retrain, snapshot
                )
                if timings is not None and seconds is not None:
                    timings.seconds["training"] += seconds
                detectors.append(detector)
                continue
            if m.seed_asset is not None:
                asset = resolver.resolve(m.seed_asset)
                path, blob_ids[m.name] = asset.local_path, asset.blob_id
            else:
                path = m.path
                if not path.is_file():
                    raise AssetError(f"models[{m.name}].path: {path} not found")
            digest = file_sha256(path)  # before loading: a file replaced meanwhile is found by --resume
            detectors.append(replace(load_detector(path, m.name, m.input_size, m.output, m.positive), digest=digest))
        except ModelRefused:
            raise
        except (AssetError, ValueError, OSError) as e:
            if m.required:
                raise AssetError(f"model {m.name}: {e}") from None
            log.warning("model %s skipped: %s", m.name, e)
            failures.append(f"model {m.name}: {e}")
    if not detectors:
        raise AssetError(f"no model could be loaded: {'; '.join(failures)}")
    return detectors, blob_ids


def model_cards(detectors: list[Detector], blob_ids: dict[str, str]) -> dict[str, dict]:
    """Per model: its training card when it has one (trained by artxai), else what is known."""
    cards = {}
    for d in detectors:
        card = card_path(Path(d.source))
        known = json.loads(card.read_text()) if card.is_file() else {"note": "not trained by artxai: no training record"}
        cards[d.name] = d.metadata() | {"git_blob_sha1": blob_ids.get(d.name)} | known
    return cards


def write_dataset_tables(scores: pd.DataFrame, run_dir: Path, cfg: RunConfig, timings: Timings | None = None) -> dict[str, pd.DataFrame]:
    """Evaluation (unedited images) and robustness (every variant) with bootstrap CIs, and their
    figures, when the scored images include both classes; returns the tables written."""
    from experiments.report import figures
    from experiments.stages.evaluation import evaluate, robustness

    if scores.loc[scores["variant"] == IDENTITY, "truth"].nunique() < 2:
        return {}
    timings = timings or Timings()
    t = time.perf_counter()
    tables = evaluate(scores, cfg.bootstrap, cfg.seed) | {"robustness_metrics": robustness(scores, cfg.bootstrap, cfg.seed)}
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
        for by in ("style", "generator"):
            if ((groups["model"] == model) & (groups["by"] == by)).any():
                figures.group_accuracy(groups, model, by, fig_dir / f"accuracy_by_{by}_{model}.png")
    if robust["severity"].notna().any():
        figures.severity_curves(robust, "accuracy", fig_dir / "robustness_accuracy.png")
        figures.severity_curves(robust, "roc_auc", fig_dir / "robustness_auc.png")
    timings.add("figures", t)
    return tables


def preflight(
    cfg: RunConfig, paths: RunPaths, resume: bool, force: bool, retrain: bool,
    timings: Timings | None = None, hold: ExitStack | None = None,
) -> tuple[list[Sample], list[Detector], dict[str, str]]:
    """Everything that can be checked before the run folder is touched: the folder can be used
    as asked, the samples can be listed, the study's files are there, the executor can run
    (`hold`: where its session, a Ray cluster, stays open for the run), a model loads."""
    ensure_free(paths.root)
    folder_action(paths.root, cfg.fingerprint(), resume, force)
    check_apart(paths.root, cfg)
    if cfg.assets.mirror is not None and not cfg.assets.mirror.is_dir():
        raise ConfigError(f"assets.mirror: {cfg.assets.mirror} is not a folder")
    resolver = resolver_for(cfg)
    timings = timings if timings is not None else Timings()
    t = time.perf_counter()
    samples = load_samples(cfg.samples, resolver)
    timings.add("samples", t)
    unavailable = [s for s in samples if s.problem] if cfg.samples.from_seed_assets else []
    if unavailable and not cfg.samples.allow_missing:
        raise AssetError(f"{unavailable[0].problem} ({len(unavailable)} of {len(samples)} study files unavailable; samples.allow_missing: true scores the rest)")
    eval_set_samples(cfg, samples, resolver)  # every eval set's files listed (the audit's are the run's samples)
    if hold is not None and cfg.executor.kind == "ray":
        t = time.perf_counter()
        hold.enter_context(executor_session(cfg.executor))  # reachable, a node fits a worker; ended with the run
        timings.add("executor start", t)
    t = time.perf_counter()
    detectors, model_blob_ids = load_detectors(cfg, resolver, retrain, timings)
    timings.add("models", t + timings.seconds.get("training", 0.0))  # loading; training is its own stage
    return samples, detectors, model_blob_ids


def prepare_run_dir(paths: RunPaths, cfg: RunConfig, resume: bool, force: bool) -> None:
    """Under the run folder's lock: clear it or keep it as the policy says, mark it as this
    run's (first, in a new or cleared folder), and remove what killed writes left behind."""
    snapshot = paths.root / "config.json"
    action = folder_action(paths.root, cfg.fingerprint(), resume, force)
    if action == "clear":
        clear(paths.root)
    if action != "resume":
        write_marker(paths.root, cfg.fingerprint())
    if action == "resume" and not snapshot.is_file():  # the snapshot's absence is a change: each part is checked
        log.warning(
            "%s has no config.json: a finished part is kept only if it records this config's fingerprint", paths.root
        )
    if leftovers := remove_leftovers(paths.root):
        log.info("removed %d unfinished temporary files of an earlier run", leftovers)
    paths.parts.mkdir(parents=True, exist_ok=True)
    atomic_write_json(snapshot, {"fingerprint": cfg.fingerprint(), "config": cfg.model_dump(mode="json")})
    atomic_write_text(paths.root / "config.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))


def decode_policy(cfg: RunConfig) -> DecodePolicy:
    return DecodePolicy(cfg.preprocess.max_pixels, cfg.preprocess.min_side, cfg.preprocess.exif_transpose)


@dataclass
class ScoringWorker:
    """What scoring a part needs, built once per worker (experiments.execution.executors)."""

    cfg: RunConfig
    variants: list
    detectors: list[Detector]
    pool: ThreadPoolExecutor
    threads: int
    pictures: frozenset[str] = frozenset()  # variant ids whose gallery JPEGs this run makes while scoring


def scoring_worker(cfg: RunConfig, models: list[tuple[str, str, int]], detectors: list[Detector] | None = None, gallery: bool = False) -> ScoringWorker:
    """A worker's state: the driver's models (source file, name, input size) loaded from their
    files, never trained here, unless the driver hands over its own `detectors`. `gallery`: also
    make the report's gallery pictures (experiments.report.gallery) of the grid's first edits."""
    if detectors is None:
        detectors = [load_detector(Path(source), name, size) for source, name, size in models]
    threads = cfg.workers or os.cpu_count() or 1
    pictures = frozenset(v.id for v in expand_grid(cfg.augment)[:MAX_GALLERY]) if gallery else frozenset()
    return ScoringWorker(cfg, cfg.variants(), detectors, ThreadPoolExecutor(threads), threads, pictures)


def score_part(worker: ScoringWorker, chunk: list[Sample]) -> tuple[pd.DataFrame, list[dict], dict[str, float], dict[tuple[str, str], bytes]]:
    """One unit of work (experiments.stages.scoring.score_chunk): a chunk of samples' rows, their skip
    records, the seconds of each part of scoring and the gallery pictures made."""
    timings, cfg, gallery = Timings(), worker.cfg, {}
    rows, failures = score_chunk(
        chunk, worker.variants, worker.detectors, cfg.seed, cfg.batch_size, decode_policy(cfg), worker.pool, worker.threads, timings,
        worker.pictures, gallery if worker.pictures else None,
    )  # fmt: skip
    return pd.DataFrame(rows), failures, dict(timings.parts), gallery


def finished_parts(
    samples: list[Sample], paths: RunPaths, part_size: int, made_from
) -> tuple[list[dict], int, list[list[Sample]]]:
    """The skip records and sample count of the chunks already finished, intact and made from
    what the run would make them from now (`made_from(chunk)`), and the chunks still to score.
    A damaged part is one warning line each; stale parts are one line together, saying why."""
    skipped, resumed, todo, finished_count, stale, why = [], 0, [], 0, 0, Counter()
    for chunk in chunks(samples, part_size):
        part = paths.part(chunk)
        if finished(part):
            finished_count += 1
            try:
                skipped += read_part(part, [s.id for s in chunk], made_from(chunk))[1]
                resumed += len(chunk)
                continue
            except PartStale as e:
                stale += 1
                why.update(e.reasons)
            except PartDamaged as e:
                log.warning("part %s is damaged (%s): scoring its %d samples again", part.name, e, len(chunk))
        todo.append(chunk)
    if stale:
        reasons = ", ".join(f"{what} ({n} part{'s' if n > 1 else ''})" for what, n in why.most_common())
        log.warning(
            "resume: %d of %d finished parts are scored again, as what they were made from changed: %s",
            stale, finished_count, reasons,
        )  # fmt: skip
    return skipped, resumed, todo


def score_samples(cfg, samples, variants, detectors, paths, timings, work=None) -> tuple[list[dict], int]:
    """Score every chunk of samples not already in parts/ (or made from other files or another
    config), on the config's executor; return skip records and how many samples were resumed.
    Parts are written here, by the driver, as they come back, so workers never write the run
    folder; each records what it was made from, the input files' digests read before scoring."""
    started = time.perf_counter()
    digests = input_digests(samples)
    made = {"config": cfg.fingerprint(), "models": {d.name: d.digest for d in detectors}}
    made_from = lambda chunk: made | {"inputs": [digests[s.id] for s in chunk]}  # noqa: E731
    skipped, resumed, todo = finished_parts(samples, paths, cfg.part_size, made_from)
    gallery = gallery_made_while_scoring(len(samples), cfg.report)
    if cfg.executor.kind == "local":  # this process's models, already loaded
        setup = partial(scoring_worker, cfg, [], detectors, gallery)
    else:
        setup = partial(scoring_worker, cfg, [(d.source, d.name, d.input_size) for d in detectors], None, gallery)
        log.info("scoring %d part(s) on executor %s", len(todo), cfg.executor.kind)
    with logging_redirect_tqdm(), tqdm(total=len(samples), initial=resumed, desc="scoring samples", unit="image", file=sys.stderr, mininterval=progress_interval()) as bar:
        for index, (rows, failures, seconds, pictures) in run_units(cfg.executor, setup, work or score_part, todo):
            chunk = todo[index]
            skipped += failures
            if pictures:
                t = time.perf_counter()
                for (sample_id, variant_id), jpeg in pictures.items():  # before the part: a finished part has its pictures
                    atomic_write_bytes(gallery_file(paths.root / "report", sample_id, variant_id), jpeg)
                timings.part("gallery pictures", t)
            write_part(paths.part(chunk), rows, failures, [s.id for s in chunk], made_from(chunk))
            for part, value in seconds.items():
                timings.parts[part] += value
            bar.update(len(chunk))
    timings.add("scoring", started)
    return skipped, resumed


def assemble(samples: list[Sample], paths: RunPaths, part_size: int) -> pd.DataFrame:
    """Every part's rows, each verified; IncompleteRun naming those missing or damaged (a run
    never reports on samples it did not score)."""
    parts, problems = [], []
    for chunk in chunks(samples, part_size):
        try:
            parts.append(read_part(paths.part(chunk), [s.id for s in chunk])[0])
        except PartDamaged as e:
            problems.append(f"{paths.part(chunk).name}: {e} (samples {', '.join(s.id for s in chunk[:3])}{', ...' if len(chunk) > 3 else ''})")
    if problems:
        raise IncompleteRun(f"{paths.parts}: {len(problems)} of {len(parts) + len(problems)} parts missing or damaged, first {problems[0]}; run again with --resume")
    parts = [p for p in parts if len(p)]
    return finish_scores(pd.concat(parts, ignore_index=True)) if parts else pd.DataFrame()


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def execute(cfg: RunConfig, run_dir: Path, resume: bool = False, force: bool = False, retrain: bool = False, started: float | None = None) -> int:
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
            return run_locked(cfg, paths, samples, detectors, model_blob_ids, timings, started, retrain)


def run_locked(cfg: RunConfig, paths: RunPaths, samples: list[Sample], detectors: list[Detector], model_blob_ids: dict[str, str], timings: Timings, started: float, retrain: bool = False) -> int:
    """Score, assemble and report, holding the run folder's lock."""
    run_dir = paths.root
    variants = cfg.variants()
    log.info(
        "%d samples x %d variants x %d models (%s) -> %s",
        len(samples), len(variants), len(detectors), ", ".join(d.name for d in detectors), run_dir,
    )  # fmt: skip

    skipped, resumed = score_samples(cfg, samples, variants, detectors, paths, timings)
    if resumed:
        log.info("resumed: %d samples were already scored", resumed)

    t = time.perf_counter()
    scores = assemble(samples, paths, cfg.part_size)
    skipped_df = pd.DataFrame(skipped, columns=["sample", "variant", "reason"])
    atomic_write_table(skipped_df, run_dir / "skipped")
    if scores.empty:
        log.error("nothing could be scored (%d skipped; see %s)", len(skipped_df), run_dir / "skipped.csv")
        return 1
    atomic_write_table(scores, run_dir / "scores")
    summary = summarise(scores, cfg.bootstrap, cfg.seed)
    atomic_write_table(summary, run_dir / "summary")
    flips = minimal_flip(scores)
    flip_curve = minimal_flip_curve(flips, scores)
    atomic_write_table(flips, run_dir / "minimal_flip")
    atomic_write_table(flip_curve, run_dir / "minimal_flip_curve")
    wrote_study = cfg.study_table and (scores["edit"] == "original").any() and scores["edit"].nunique() > 1
    if wrote_study:
        table = study_table(scores)
        atomic_write_table(table, run_dir / "study_table")
        atomic_write(run_dir / "study_table_wide.csv", lambda tmp: neutralise_formulas(study_table_wide(table)).to_csv(tmp, index=False, float_format="%.2f"))
    timings.add("tables", t)
    dataset_tables = write_dataset_tables(scores, run_dir, cfg, timings)
    t = time.perf_counter()
    cards = model_cards(detectors, model_blob_ids)
    evaluation = dataset_tables.get("evaluation_metrics", pd.DataFrame())
    for d in detectors:
        if len(evaluation):  # this run's test numbers join the card the report shows
            cards[d.name]["evaluation"] = evaluation[evaluation["model"] == d.name].drop(columns="model").to_dict("records")
        atomic_write_json(run_dir / "models" / f"{d.name}.model_card.json", cards[d.name])
        history = training_dir(Path(d.source)) / "history.png"
        if history.is_file():
            atomic_write(run_dir / "figures" / f"history_{d.name}.png", lambda tmp, h=history: shutil.copyfile(h, tmp))
    timings.add("tables", t)

    audited = {}
    if cfg.audit is not None:
        audited = run_audit(cfg.audit, samples, detectors, run_dir, decode_policy(cfg), cfg.seed, cfg.bootstrap, cfg.batch_size, cfg.workers or None, timings)
    audited |= run_eval_sets(cfg, samples, detectors, resolver_for(cfg), run_dir, decode_policy(cfg), retrain, timings)

    explained = {}
    if cfg.explain is not None:
        explained = run_explanations(cfg.explain, cfg.seed, samples, variants, detectors, scores, run_dir, decode_policy(cfg), timings, cfg.bootstrap, cfg.executor)

    atomic_write_json(
        run_dir / "manifest.json",
        {
            "run": cfg.name,
            "seed": cfg.seed,
            "fingerprint": cfg.fingerprint(),
            "versions": versions(),
            "models": [d.metadata() | {"git_blob_sha1": model_blob_ids.get(d.name)} for d in detectors],
            "tables": ["scores", "summary", "minimal_flip", "minimal_flip_curve", "skipped", *(["study_table"] if wrote_study else []), *dataset_tables, *audited, *explained],
            "models_unavailable": [m.name for m in cfg.models if m.name not in {d.name for d in detectors}],
            "sample_blob_ids": {s.id: known_blob_ids().get(s.id) for s in samples} if cfg.samples.from_seed_assets else {},
            "sample_paths": {s.id: str(s.path) if s.path else None for s in samples},
            "counts": {
                "samples": len(samples),
                "variants": len(variants),
                "rows": len(scores),
                "skipped": len(skipped_df),
                "resumed_samples": resumed,
                "explanation_maps": len(explained.get("explanations", [])),
            },
        }
        | stage_timings(timings, started),
    )
    t = time.perf_counter()
    print_result(run_dir, scores, summary, skipped_df, wrote_study)
    print_fooling(summary, flip_curve)
    if dataset_tables:
        print_evaluation(run_dir, dataset_tables["evaluation_metrics"])
    if explained:
        print_explanations(run_dir, explained["explanation_summary"])
    if cfg.report == "html":
        from experiments.report.build import build_report

        log.info("report: %s", build_report(run_dir, cfg.bootstrap))
    timings.add("report", t)
    manifest = json.loads((run_dir / "manifest.json").read_text())  # again, with the report's time
    atomic_write_json(run_dir / "manifest.json", manifest | stage_timings(timings, started))
    print_timings(timings, time.perf_counter() - started)
    return 0


def stage_timings(timings: Timings, started: float) -> dict[str, dict[str, float]]:
    """Manifest fields: each stage's wall seconds so far, what no stage accounts for and the
    total (they add up to the run's time), and the parts inside stages."""
    total = time.perf_counter() - started
    other = max(0.0, total - sum(timings.seconds.values()))
    return {
        "timings_s": {k: round(v, 3) for k, v in timings.seconds.items()} | {"other": round(other, 3), "total": round(total, 3)},
        "stage_parts_s": {k: round(v, 3) for k, v in timings.parts.items()},
    }


def print_timings(timings: Timings, total: float) -> None:
    stages = ", ".join(f"{k} {v:.1f}" for k, v in timings.seconds.items())
    log.info("time (s): %s; other %.1f; total %.1f", stages, max(0.0, total - sum(timings.seconds.values())), total)


def print_result(run_dir: Path, scores: pd.DataFrame, summary: pd.DataFrame, skipped: pd.DataFrame, wrote_study: bool) -> None:
    base = scores[scores["variant"] == "identity"]
    for model, group in base.groupby("model", sort=False):
        log.info("%s: accuracy on unedited samples %.3f (n=%d)", model, group["correct"].mean(), len(group))
    edited = summary[summary["op"] != "identity"]
    worst = edited.sort_values("mean_abs_delta_margin", ascending=False).head(5)
    if len(worst):
        log.info("largest mean |delta margin| (log p_ai - log p_human), signed mean delta p_ai, fooled and corrected:")
        for row in worst.itertuples():
            log.info(
                "  %-10s %-50s |dm| %.2f  dp %+.3f  fooled %.2f of %d, corrected %.2f of %d", row.model, row.variant[:50],
                row.mean_abs_delta_margin, row.mean_delta_p_ai, row.fooling_rate, row.n_correct, row.correction_rate, row.n_wrong,
            )  # fmt: skip
    log.info("skipped inputs: %d", len(skipped))
    log.info("tables: %s/{scores,summary%s}.parquet|.csv", run_dir, ",study_table" if wrote_study else "")


def print_fooling(summary: pd.DataFrame, curve: pd.DataFrame) -> None:
    """Per model x series at its harshest severity: the fooling rate with its interval and n, and
    the mildest severity that fools at least half of the images the model gets right unedited."""
    if curve.empty:
        return
    medians = median_fooling_severity(curve).set_index(["model", "series"])["median_fooling_severity"]
    rates = summary.set_index(["model", "variant"])
    log.info("fooled (right when unedited, wrong when edited) at each series' harshest severity; the mildest that fools half:")
    for (model, series), g in curve.groupby(["model", "series"], sort=False):
        r = rates.loc[(model, g["variant"].iloc[-1])]
        median = medians[(model, series)]
        log.info(
            "  %-8s %-44s at %-5g %.2f [%.2f, %.2f] of %d; half from %s",
            model, series[:44], g["severity"].iloc[-1], r["fooling_rate"], r["fooling_ci_low"], r["fooling_ci_high"], r["n_correct"],
            "not reached" if np.isnan(median) else f"{median:g}",
        )  # fmt: skip


def print_evaluation(run_dir: Path, metrics: pd.DataFrame) -> None:
    for model, df in metrics.groupby("model", sort=False):
        m = df.set_index("metric")
        log.info(
            "%s on the unedited images (n=%d): " + ", ".join(f"{k} %.3f [%.3f, %.3f]" for k in ("accuracy", "macro_f1", "roc_auc")),
            model, int(m.at["accuracy", "n"]),
            *(v for k in ("accuracy", "macro_f1", "roc_auc") for v in (m.at[k, "value"], m.at[k, "ci_low"], m.at[k, "ci_high"])),
        )  # fmt: skip
    log.info("evaluation: %s/{evaluation_metrics,evaluation_groups,confusion,robustness_metrics}.parquet, figures/", run_dir)


def print_explanations(run_dir: Path, summary: pd.DataFrame) -> None:
    log.info("explanations (mean over maps; drift over edited images; sanity after randomising every layer):")
    log.info("  %-8s %-16s %9s %9s %9s %9s %9s  %s", "model", "method", "drift rho", "drift IoU", "del AUC", "ins AUC", "sanity rho", "vs random (logit del / ins)")
    for r in summary.itertuples():
        sanity = getattr(r, "sanity_spearman_all_random", float("nan"))
        versus = f"{getattr(r, 'deletion_vs_random', '')} / {getattr(r, 'insertion_vs_random', '')}" if r.method != "random" else ""
        log.info("  %-8s %-16s %9.3f %9.3f %9.3f %9.3f %9.3f  %s", r.model, r.method, r.drift_spearman, r.drift_top_iou, r.deletion_auc, r.insertion_auc, sanity, versus)
    log.info("pictures: %s/explain/grids/<model>/<sample>.png; tables: explanations, explanation_sanity, explanation_summary, explanation_vs_random", run_dir)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m experiments.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("config", help="a YAML config file, or the name of a shipped one (robustness.yaml)")
    parser.add_argument("--out", type=Path, help="run folder (default: <out_dir>/<name> from the config)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="finish an interrupted run in the same folder")
    group.add_argument("--force", action="store_true", help="delete the run folder's contents and start over")
    parser.add_argument("--retrain", action="store_true", help="train every model that has a train block, even if its file exists")
    parser.add_argument("--executor", choices=["local", "processes", "ray"], help="where units run (overrides the config's executor.kind)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, started: float | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="artxai: %(message)s")
    for noisy in ("absl", "h5py", "matplotlib", "PIL", "ray"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # TensorFlow's warnings here are retracing notes from tf-keras-vis' predict calls: not ours to act on
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        with sigterm_raises():  # SIGTERM ends the run as Ctrl-C does (experiments.execution.interrupts)
            cfg = load_config(args.config)
            if args.executor:
                cfg = cfg.model_copy(update={"executor": cfg.executor.model_copy(update={"kind": args.executor})})
            run_dir = args.out or cfg.out_dir / cfg.name
            return execute(cfg, run_dir, resume=args.resume, force=args.force, retrain=args.retrain, started=started)
    except (ConfigError, AssetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except IncompleteRun as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except WriteFailed as e:
        print(f"error: {e}; what was finished is kept: run again with --resume", file=sys.stderr)
        return 1
    except OSError as e:  # a write outside atomic_write on a full disk (or over quota, or too large)
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise
        kept = "what was finished is kept: run again with --resume"
        print(f"error: {e.filename or 'a file'}: cannot be written ({e.strerror}); {kept}", file=sys.stderr)
        return 1
    except WorkerDied as e:
        print(f"error: {e}; finished parts are kept, --resume continues", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (Terminated)
        print(INTERRUPTED, file=sys.stderr)
        return exit_status(e)


if __name__ == "__main__":
    from experiments import STARTED

    sys.exit(main(started=STARTED))
