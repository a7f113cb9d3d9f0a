"""Scoring one image under every variant with every model, in batches.

The image is decoded once; each variant is applied once at the image's own resolution (as the
study edited full-size artworks), then resized once per distinct model input size; each model
sees all of its inputs in one batched call. A (sample, variant) pair always gets the same seed,
so results do not depend on processing order, batch composition across samples, or resumes.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import albumentations as A
import numpy as np

from augment import Variant, apply_variant, variant_seed
from experiments.images import resize_for_model
from experiments.models import Detector


@dataclass
class Timings:
    """Wall seconds per stage of a run (they add up to the run's time), and seconds per part
    inside a stage (explanations: per method family, faithfulness, pictures; scoring: decode,
    edit, predict), which may overlap where parts run on threads."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    parts: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] += time.perf_counter() - started

    def part(self, name: str, started: float) -> None:
        self.parts[name] += time.perf_counter() - started


def edited_image(
    pixels: np.ndarray, sample_id: str, variant: Variant, pipeline: A.Compose | None, seed: int
) -> tuple[np.ndarray | None, str]:
    """The variant applied to the full-resolution image with its (sample, variant) seed, so every
    stage that needs this edit gets the same pixels; (None, reason) when the edit fails."""
    try:
        return apply_variant(pixels, pipeline, variant_seed(seed, sample_id, variant.id)), ""
    except Exception as e:  # one bad (image, edit) pair must not stop the run
        return None, f"augmentation failed: {type(e).__name__}: {e}"


def model_inputs(
    pixels: np.ndarray,
    sample_id: str,
    variants: list[Variant],
    pipelines: list[A.Compose | None],
    sizes: set[int],
    seed: int,
    pool: ThreadPoolExecutor,
    timings: Timings,
) -> tuple[dict[int, np.ndarray], list[Variant], list[tuple[str, str]]]:
    """Edited, resized inputs per input size; the variants that worked; (variant, reason) failures.

    Variants run on a thread pool (OpenCV and NumPy release the GIL). Each variant has its own
    pipeline object and its own seed, so the result does not depend on the threads' timing."""

    def edit(variant: Variant, pipeline: A.Compose | None):
        edited, problem = edited_image(pixels, sample_id, variant, pipeline, seed)
        return (None, problem) if edited is None else ({size: resize_for_model(edited, size) for size in sizes}, "")

    t = time.perf_counter()
    results = list(pool.map(edit, variants, pipelines))
    timings.add("augment+resize", t)
    per_size: dict[int, list[np.ndarray]] = {s: [] for s in sizes}
    done, failed = [], []
    for variant, (inputs, problem) in zip(variants, results):
        if inputs is None:
            failed.append((variant.id, problem))
            continue
        done.append(variant)
        for size in sizes:
            per_size[size].append(inputs[size])
    stacked = {s: np.stack(v) if v else np.zeros((0, s, s, 3), np.float32) for s, v in per_size.items()}
    return stacked, done, failed


def score_image(
    pixels: np.ndarray,
    sample_id: str,
    variants: list[Variant],
    pipelines: list[A.Compose | None],
    detectors: list[Detector],
    seed: int,
    batch_size: int,
    pool: ThreadPoolExecutor,
    timings: Timings,
) -> tuple[list[dict[str, object]], list[tuple[str, str]]]:
    """Rows (variant x model) of p_ai / p_human for one decoded image, and variant failures."""
    sizes = {d.input_size for d in detectors}
    inputs, done, failed = model_inputs(pixels, sample_id, variants, pipelines, sizes, seed, pool, timings)
    rows = []
    for detector in detectors:
        t = time.perf_counter()
        probs = detector.predict_proba(inputs[detector.input_size], batch_size)
        timings.add("predict", t)
        ai, human = detector.class_names.index("ai"), detector.class_names.index("human")
        for variant, p in zip(done, probs):
            rows.append(
                {
                    "variant": variant.id,
                    "op": variant.op,
                    "params": json.dumps(variant.params, sort_keys=True),
                    "severity": variant.severity,
                    "model": detector.name,
                    "p_ai": float(p[ai]),
                    "p_human": float(p[human]),
                }
            )
    return rows, failed
