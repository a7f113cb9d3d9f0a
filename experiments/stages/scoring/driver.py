"""The scoring stage over a whole run: the samples cut into chunks, each chunk scored as one unit
on the config's executor (experiments.execution.executors) and written to `parts/` with its
checksum and what it was made from, so a killed run resumes where it stopped; then every part
read back, verified, into the scores table (`assemble`).

The per-image work (decode once, edit, predict in batches) is experiments.stages.scoring.batches."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import pandas as pd
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from augment import expand_grid
from experiments.config.schema import RunConfig
from experiments.execution.executors import progress_interval, run_units
from experiments.execution.threads import thread_pool, threads
from experiments.inputs.fingerprints import SMALL_FILE, input_digests_and_bytes
from experiments.inputs.images import decode_policy
from experiments.inputs.samples import Sample
from experiments.models.backends import reopen
from experiments.models.detector import Detector
from experiments.rundir.names import MAX_GALLERY, gallery_file, gallery_made_while_scoring
from experiments.rundir.atomic import atomic_write_bytes
from experiments.rundir.parts import IncompleteRun, PartDamaged, PartStale, finished, read_part, write_part
from experiments.stages.scoring.tables import finish_scores
from experiments.context import RunPaths, Timings
from experiments.stages.scoring.batches import score_chunk
from experiments.stages.scoring.prepared import Ahead

log = logging.getLogger("artxai")


PART_BATCHES = 4  # compiled batches a chosen part fills, per model


def chosen_part_size(cfg: RunConfig, n_samples: int, n_variants: int) -> int:
    """Samples per part: `part_size` when the config gives it, else the fewest samples whose
    edits fill PART_BATCHES batches of `batch_size` (each part costs a predict pass of its own
    and three files: at one sample a part, a dataset paid them per image). A run of at most
    PART_BATCHES batches in all keeps one sample a part: it costs little either way, resumes
    sample by sample, and its models see the same batches as before (a batch's shape can move
    the last float32 bits: xai.compiled), so its tables stay the same bit for bit. A function of
    the config and the samples alone: a resumed run cuts them into the same parts."""
    if cfg.part_size is not None:
        return cfg.part_size
    fill = PART_BATCHES * cfg.batch_size
    if n_samples * n_variants <= fill:
        return 1
    return -(-fill // max(1, n_variants))


def chunks(samples: list[Sample], size: int) -> list[list[Sample]]:
    return [samples[i : i + size] for i in range(0, len(samples), size)]


@dataclass
class ScoringWorker:
    """What scoring a part needs, built once per worker (experiments.execution.executors)."""

    cfg: RunConfig
    variants: list
    detectors: list[Detector]
    pool: ThreadPoolExecutor
    threads: int
    pictures: frozenset[str] = frozenset()  # variant ids whose gallery JPEGs this run makes while scoring
    contents: dict[str, bytes] = field(default_factory=dict)  # small files read with their digests, by sample id
    after: dict[int, list[Sample]] = field(default_factory=dict)  # id() of a chunk -> the chunk scored after it

    def __post_init__(self) -> None:
        self.ahead = Ahead(self.pool)  # the next chunk's first samples decoded while this one's are predicted


def scoring_worker(
    cfg: RunConfig,
    models: list[tuple[tuple, str]],
    detectors: list[Detector] | None = None,
    gallery: bool = False,
    contents: dict[str, bytes] | None = None,
    order: list[list[Sample]] | None = None,
) -> ScoringWorker:
    """A worker's state: the driver's models (recipe, digest: experiments.models.backends.reopen)
    opened from their files, never trained here, unless the driver hands over its own `detectors`. `gallery`: also
    make the report's gallery pictures (experiments.rundir.names) of the grid's first edits. `contents`: the
    driver's input files already read with their digests (a local worker decodes those bytes); `order`: the
    chunks in the order this worker scores them (a local worker: it prepares the next one's first samples early)."""
    if detectors is None:
        detectors = [reopen(recipe, digest) for recipe, digest in models]
    count = threads(cfg.workers)
    pictures = frozenset(v.id for v in expand_grid(cfg.augment)[:MAX_GALLERY]) if gallery else frozenset()
    after = {id(a): b for a, b in zip(order or [], (order or [])[1:])}
    return ScoringWorker(cfg, cfg.variants(), detectors, thread_pool(count), count, pictures, contents or {}, after)


def score_part(
    worker: ScoringWorker, chunk: list[Sample]
) -> tuple[pd.DataFrame, list[dict], dict[str, float], dict[tuple[str, str], bytes]]:
    """One unit of work (experiments.stages.scoring.batches.score_chunk): a chunk of samples' rows, their skip
    records, the seconds of each part of scoring and the gallery pictures made."""
    timings, cfg, gallery = Timings(), worker.cfg, {}
    rows, failures = score_chunk(
        chunk,
        worker.variants,
        worker.detectors,
        cfg.seed,
        cfg.batch_size,
        decode_policy(cfg),
        worker.pool,
        worker.threads,
        timings,
        worker.pictures,
        gallery if worker.pictures else None,
        worker.contents,
        (worker.ahead, worker.after.get(id(chunk), [])),
    )
    return rows, failures, dict(timings.phases), gallery


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
    local = cfg.executor.kind == "local"
    with thread_pool(threads(cfg.workers)) as pool:  # read before scoring; a local run decodes the small files' bytes
        digests, contents = input_digests_and_bytes(samples, pool, threads(cfg.workers), SMALL_FILE if local else 0)
    made = {"config": cfg.fingerprint(), "models": {d.name: d.digest for d in detectors}}
    made_from = lambda chunk: made | {"inputs": [digests[s.id] for s in chunk]}  # noqa: E731
    skipped, resumed, todo = finished_parts(
        samples, paths, chosen_part_size(cfg, len(samples), len(variants)), made_from
    )
    scored = {s.id for chunk in todo for s in chunk}
    contents = {k: data for k, data in contents.items() if k in scored}
    gallery = gallery_made_while_scoring(len(samples), cfg.report)
    if local:  # this process's models, already loaded
        setup = partial(scoring_worker, cfg, [], detectors, gallery, contents, todo)
    else:
        setup = partial(scoring_worker, cfg, [(d.recipe, d.digest) for d in detectors], None, gallery)
        log.info("scoring %d part(s) on executor %s", len(todo), cfg.executor.kind)
    with (
        logging_redirect_tqdm(),
        tqdm(
            total=len(samples),
            initial=resumed,
            desc="scoring samples",
            unit="image",
            file=sys.stderr,
            mininterval=progress_interval(),
        ) as bar,
    ):
        for index, (rows, failures, seconds, pictures) in run_units(cfg.executor, setup, work or score_part, todo):
            chunk = todo[index]
            skipped += failures
            if pictures:
                t = time.perf_counter()
                for (
                    sample_id,
                    variant_id,
                ), jpeg in pictures.items():  # before the part: a finished part has its pictures
                    atomic_write_bytes(gallery_file(paths.root / "report", sample_id, variant_id), jpeg)
                timings.phase("gallery pictures", t)
            write_part(paths.part(chunk), rows, failures, [s.id for s in chunk], made_from(chunk))
            for phase, value in seconds.items():
                timings.phases[phase] += value
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
            problems.append(
                f"{paths.part(chunk).name}: {e} (samples "
                f"{', '.join(s.id for s in chunk[:3])}{', ...' if len(chunk) > 3 else ''})"
            )
    if problems:
        raise IncompleteRun(
            f"{paths.parts}: {len(problems)} of {len(parts) + len(problems)} parts missing or damaged, first "
            f"{problems[0]}; run again with --resume"
        )
    parts = [p for p in parts if len(p)]
    return finish_scores(pd.concat(parts, ignore_index=True)) if parts else pd.DataFrame()
