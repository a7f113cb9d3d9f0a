"""Scoring images under every variant with every model, in batches across samples.

Each image is decoded once; each variant is applied once at the image's own resolution (as the
study edited full-size artworks), then resized once per distinct model input size. Pointwise
edits (colour curves: Op.pointwise) give the same pixels when applied to only the rows the
nearest-neighbour resize keeps, so they run on that strip instead of the whole image. `score_chunk` scores a whole chunk
of samples: decoding and editing on threads (groups of samples per task, ahead of the models:
experiments.stages.scoring.prepared; one variant per task when the chunk has fewer samples than
threads), and every model sees the chunk's inputs as compiled batches of `batch_size` images
(xai.compiled), across samples; the rows are built a column at a time (`score_rows`). A (sample, variant) pair always
gets the same seed and a model's output for an image does not depend on the other images in its
batch (tested), so results do not depend on processing order, threads, chunking or resumes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from augment import EditRecord, Variant, apply_with_record, compile_variant, variant_seed
from experiments.inputs.images import picture_bytes
from experiments.inputs.images import DecodePolicy, ImageRejected, decode_image, nearest_rows
from experiments.context import Timings
from experiments.models.detector import Detector, InputSpec
from experiments.stages.scoring.prepared import GROUP_IMAGES, Ahead, PreparedGroup, groups_of, prepare_group, window

if TYPE_CHECKING:
    import albumentations as A  # a compiled edit's type; imported with the first edit (augment.transforms)

log = logging.getLogger("artxai")


def edited_with_record(
    pixels: np.ndarray, sample_id: str, variant: Variant, edit: A.Compose | None, seed: int
) -> tuple[np.ndarray | None, EditRecord | None, str]:
    """The variant applied to the full-resolution image with its (sample, variant) seed, so every
    stage that needs this edit gets the same pixels, and the record of what it drew (augment.record);
    (None, None, reason) when the edit fails."""
    try:
        return *apply_with_record(pixels, edit, variant_seed(seed, sample_id, variant.id)), ""
    except Exception as e:  # one bad (image, edit) pair must not stop the run
        return None, None, f"augmentation failed: {type(e).__name__}: {e}"


def edited_image(
    pixels: np.ndarray, sample_id: str, variant: Variant, edit: A.Compose | None, seed: int
) -> tuple[np.ndarray | None, str]:
    """edited_with_record without the record: (edited image, "") or (None, reason)."""
    edited, _, problem = edited_with_record(pixels, sample_id, variant, edit, seed)
    return edited, problem


# --- a whole chunk of samples at once ------------------------------------------------------------

_local = threading.local()


def _compiled_edit(variant: Variant) -> A.Compose | None:
    """This thread's compiled edit for the variant (augment.compile_variant): it holds its seed
    state, so two threads never share one."""
    cache = _local.__dict__.setdefault("compiled_edits", {})
    if variant.id not in cache:
        cache[variant.id] = compile_variant(variant)
    return cache[variant.id]


def variant_inputs(
    pixels: np.ndarray, sample_id: str, variant: Variant, specs: list[InputSpec], seed: int, picture: bool = False
) -> tuple[dict[InputSpec, np.ndarray] | None, str, bytes | None]:
    """The edited image made into each model's input picture (uint8, InputSpec.prepare), or
    (None, reason), and with `picture` the report's gallery JPEG of it (experiments.rundir.names).
    For the study's nearest resize, pointwise edits run on the rows it keeps
    (experiments.inputs.images.nearest_rows): the same pixels, from a strip of the image instead of
    all of it (and on all of it only for the picture or another resize: they are cheap)."""
    if variant.pointwise and not picture and all(spec.is_study for spec in specs):
        out = {}
        for spec in specs:
            small = nearest_rows(pixels, spec.size)
            edited, problem = edited_image(small, sample_id, variant, _compiled_edit(variant), seed)
            if edited is None:
                return None, problem, None
            out[spec] = spec.prepare(edited)
        return out, "", None
    edited, problem = edited_image(pixels, sample_id, variant, _compiled_edit(variant), seed)
    if edited is None:
        return None, problem, None
    return {spec: spec.prepare(edited) for spec in specs}, "", picture_bytes(edited) if picture else None


@dataclass
class SampleInputs:
    """One sample's edited, resized inputs: (done variants, uint8 (V, s, s, 3) per size),
    failure records, and the gallery JPEGs asked for (variant id -> bytes)."""

    variants: list[Variant]
    inputs: dict[int, np.ndarray]
    failures: list[dict]
    pictures: dict[str, bytes] = field(default_factory=dict)


def sample_inputs(
    sample,
    variants: list[Variant],
    specs: list[InputSpec],
    seed: int,
    policy: DecodePolicy,
    mapper: Callable = map,
    pictures: frozenset[str] = frozenset(),
    contents: dict[str, bytes] | None = None,
) -> SampleInputs:
    """Decode the sample and make every variant's inputs (`mapper` runs the variants: map, or a
    thread pool's map), and the gallery JPEGs of the variant ids in `pictures`; a sample that
    cannot be decoded gives no inputs and one failure. `contents`: files' bytes already read, by
    sample id (experiments.inputs.fingerprints.input_digests_and_bytes), taken out as decoded."""
    empty = {spec: np.zeros((0, spec.size, spec.size, 3), np.uint8) for spec in specs}
    if sample.problem:
        return SampleInputs([], empty, [{"sample": sample.id, "variant": "", "reason": sample.problem}])
    try:
        data = None if contents is None else contents.pop(sample.id, None)
        pixels = decode_image(sample.path if data is None else data, policy).pixels
    except ImageRejected as e:
        log.warning("skipped %s: %s", sample.id, e)
        return SampleInputs([], empty, [{"sample": sample.id, "variant": "", "reason": str(e)}])
    done, failures, per_spec, jpegs = [], [], {spec: [] for spec in specs}, {}
    made = mapper(lambda v: variant_inputs(pixels, sample.id, v, specs, seed, v.id in pictures), variants)
    for variant, (inputs, problem, picture) in zip(variants, made):
        if inputs is None:
            failures.append({"sample": sample.id, "variant": variant.id, "reason": problem})
            continue
        if picture is not None:
            jpegs[variant.id] = picture
        done.append(variant)
        for spec in specs:
            per_spec[spec].append(inputs[spec])
    stacked = {spec: np.stack(per_spec[spec]) if done else empty[spec] for spec in specs}
    return SampleInputs(done, stacked, failures, jpegs)


def prepared_groups(
    samples: list,
    variants: list[Variant],
    specs: list[InputSpec],
    make: Callable,
    pool: ThreadPoolExecutor,
    workers: int,
    batch_size: int,
    ahead: tuple[Ahead, list] | None = None,
    images: int = GROUP_IMAGES,
) -> Iterator[PreparedGroup]:
    """The chunk's samples prepared on the threads, in order, in groups (experiments.stages.scoring.prepared),
    AHEAD_BATCHES batches of images ahead, so decoding goes on while the models run. With `ahead`
    (the worker's Ahead, the chunk it scores next), the next chunk's first groups are prepared
    while this one's last are predicted; `images`: edited images a group makes at least. Few
    samples: one at a time, their variants shared between the threads (`make(sample, pool.map)`)."""
    if len(samples) < workers:
        yield from (prepare_group([s], specs, lambda s: make(s, pool.map)) for s in samples)
        return
    prepare = lambda group: prepare_group(group, specs, make)  # noqa: E731
    queue, following = ahead if ahead is not None else (Ahead(pool), [])
    for chunk in (samples, following):
        if len(chunk) >= workers:
            groups = groups_of(chunk, len(variants), workers, images)
            queue.queue(chunk, groups, prepare, window(groups, len(variants), workers, batch_size))
    yield from queue.take(samples)


class BatchedPredictions:
    """Images queued per model, predicted whenever `batch_size` of them are waiting, the rest at
    the end: every call but the last sees a full batch, whatever the samples' sizes. A model that
    runs one image per call (experiments.models.detector.batch_dependence) is given its images as
    they come, so it encodes while the threads decode the next samples."""

    def __init__(self, detectors: list[Detector], batch_size: int, timings: Timings):
        self.detectors, self.batch_size, self.timings = detectors, batch_size, timings
        self.queued: dict[str, list[np.ndarray]] = {d.name: [] for d in detectors}
        self.count = {d.name: 0 for d in detectors}
        self.done: dict[str, list[np.ndarray]] = {d.name: [] for d in detectors}

    def add(self, inputs: dict[InputSpec, np.ndarray]) -> None:
        for d in self.detectors:
            self.queued[d.name].append(inputs[d.input])
            self.count[d.name] += len(inputs[d.input])
            if self.count[d.name] >= self.batch_of(d):
                self._run(d, flush=False)

    def batch_of(self, d: Detector) -> int:
        return 1 if d.one_per_call else self.batch_size

    def _run(self, d: Detector, flush: bool) -> None:
        if not self.queued[d.name]:
            return
        waiting = np.concatenate(self.queued[d.name])
        cut = len(waiting) if flush else len(waiting) - len(waiting) % self.batch_of(d)
        t = time.perf_counter()
        x = waiting[:cut].astype(np.float32)
        x /= 255.0  # in place: the same float32 values as x / 255.0, one array fewer
        self.done[d.name].append(d.predict_proba_and_margin(x, self.batch_size))
        self.timings.phase("predict", t)
        self.queued[d.name], self.count[d.name] = [waiting[cut:]], len(waiting) - cut

    def results(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per model: (probabilities (N, classes), margins (N,)) in the order images were added."""
        for d in self.detectors:
            self._run(d, flush=True)
        return {
            name: (np.concatenate([p for p, _ in parts]), np.concatenate([m for _, m in parts]))
            if parts
            else (np.zeros((0, 2)), np.zeros(0))
            for name, parts in self.done.items()
        }


def score_chunk(
    samples: list,
    variants: list[Variant],
    detectors: list[Detector],
    seed: int,
    batch_size: int,
    policy: DecodePolicy,
    pool: ThreadPoolExecutor,
    workers: int,
    timings: Timings,
    pictures: frozenset[str] = frozenset(),
    gallery: dict[tuple[str, str], bytes] | None = None,
    contents: dict[str, bytes] | None = None,
    ahead: tuple[Ahead, list] | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """Rows (sample x model x variant, in that order) of p_ai / p_human / margin for a chunk of
    samples, and the records of what could not be scored. With `gallery`, the report's gallery
    JPEG of every edit whose variant id is in `pictures` goes into it under (sample, variant).
    `contents`: the bytes of files already read (sample_inputs); `ahead`: prepared_groups'."""
    specs = list(dict.fromkeys(d.input for d in detectors))
    t = time.perf_counter()
    if gallery is None:
        pictures = frozenset()
    make = lambda s, mapper=map: sample_inputs(s, variants, specs, seed, policy, mapper, pictures, contents)  # noqa: E731
    predictions = BatchedPredictions(detectors, batch_size, timings)
    kept, failures, predicting = [], [], timings.phases["predict"]
    images = 1 if any(d.one_per_call for d in detectors) else GROUP_IMAGES  # such a model takes them as they come
    for group in prepared_groups(samples, variants, specs, make, pool, workers, batch_size, ahead, images):
        failures += group.failures
        kept += zip(group.samples, group.done)
        if gallery is not None:
            gallery.update(group.pictures)
        predictions.add(group.inputs)
    timings.phase("decode+edit+resize", t + timings.phases["predict"] - predicting)  # the wait for inputs
    return score_rows(kept, detectors, predictions.results()), failures


def score_rows(kept: list[tuple], detectors: list[Detector], probs: dict) -> pd.DataFrame:
    """One row per sample x model x variant (in that order) from the batched predictions: the
    sample's labels, the variant's id, op, params and severity, p_ai, p_human and the margin.
    Built a column at a time: what varies per row is gathered by index, nothing made per row."""
    flat = [v for _, done in kept for v in done]  # each scored image's variant, in prediction order
    if not flat:
        return pd.DataFrame()
    table = list({id(v): v for v in flat}.values())
    place = {id(v): i for i, v in enumerate(table)}
    sample, model, image = row_index([len(done) for _, done in kept], len(detectors))
    variant = np.array([place[id(v)] for v in flat], dtype=np.intp)[image]
    p_ai, p_human, margin = (np.empty(len(image)) for _ in range(3))
    for j, d in enumerate(detectors):
        rows, (p, m) = model == j, probs[d.name]
        p_ai[rows] = p[image[rows], d.class_names.index("ai")]
        p_human[rows] = p[image[rows], d.class_names.index("human")]
        margin[rows] = m[image[rows]]
    metas = [{"sample": s.id, "subject": s.subject, "edit": s.edit, "truth": s.truth} | s.labels() for s, _ in kept]
    keys = list(dict.fromkeys(k for meta in metas for k in meta))
    per_variant = {
        "variant": [v.id for v in table], "op": [v.op for v in table],
        "params": [json.dumps(v.params, sort_keys=True) for v in table], "severity": [v.severity for v in table],
    }  # fmt: skip
    columns = {k: taken([meta.get(k, np.nan) for meta in metas], sample) for k in keys}
    columns |= {k: taken(values, variant) for k, values in per_variant.items()}
    columns |= {"model": taken([d.name for d in detectors], model), "p_ai": p_ai, "p_human": p_human}
    columns |= {"margin": margin, "replicate": taken([v.replicate for v in table], variant)}
    return pd.DataFrame(columns)


def row_index(count: list[int], models: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the rows sample x model x variant, in that order (`count`: each sample's images): each
    row's sample, model, and image (its place in the batched predictions)."""
    count = np.asarray(count, dtype=np.intp)
    rows = count * models
    sample = np.repeat(np.arange(len(count)), rows)
    within = np.arange(rows.sum()) - np.repeat(np.cumsum(rows) - rows, rows)
    return sample, within // count[sample], (np.cumsum(count) - count)[sample] + within % count[sample]


def taken(values: list, index: np.ndarray) -> list:
    """values[i] for every i of `index`, as a list of the values themselves (pandas infers each
    column's type from them as it did from rows of dicts)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array[index].tolist()
