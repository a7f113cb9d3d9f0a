"""Augmentation grids: a YAML mapping of op -> parameter lists, expanded into named variants.

    gaussian_blur: {sigma: [1, 2, 4, 8]}          -> gaussian_blur(sigma=1) ... (sigma=8)
    brightness_contrast: {brightness: [-0.3, 0.3], contrast: [0, 0.3]}   -> 4 variants (product)
    combined:                                      -> one variant per list of steps
      - [{gaussian_noise: {std: 0.05}}, {hue_shift: {degrees: 30}}]
    chains:                                        -> seeded random chains of k ops (augment.chains)
      - {name: mixed, pool: field, k: [1, 2, 3], draws: 4}
    presets: [social_repost, screenshot_share]     -> named laundering pipelines (augment.presets)

A list is a grid axis; a scalar is a fixed parameter. The identity variant always comes first.
Variant ids are stable: op name plus parameters in the order the op declares them.

Replicates: `repeats: k` (at the top of the grid, or inside one op's mapping, which wins) draws k
seeded placements / noise fields of every variant that draws something at random (noise,
`position: random`, or a combined edit with such a step); deterministic variants are drawn once
whatever it says. Replicate 0 keeps the variant's id (so its pixels do not change when repeats
are added); replicate r > 0 is `<id>#r`, which gives it its own seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from augment import chains, presets
from augment.ops import SINGLE_OPS
from augment.record import EditRecord
from augment.variants import COMBINED, IDENTITY, GridError, Variant, base_variant_id, build_steps, expand_op, step_id

if TYPE_CHECKING:
    import albumentations as A

__all__ = ["IDENTITY", "GridError", "Variant", "base_variant_id", "count_grid", "expand_grid", "step_id"]

REPEATS = "repeats"
MAX_REPEATS = 100
CHAIN_KEY = "chains"  # random chains of ops (augment.chains)
PRESET_KEY = "presets"  # named laundering pipelines (augment.presets)


def replicates(variant: Variant, k: int) -> list[Variant]:
    """k seeded draws of a random variant (itself first); a deterministic one once."""
    if not variant.is_random:
        return [variant]
    return [variant, *(dataclasses.replace(variant, id=f"{variant.id}#{r}", replicate=r) for r in range(1, k))]


def _repeats(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPEATS:
        raise GridError(field, f"expected a whole number of draws from 1 to {MAX_REPEATS}, got {value!r}")
    return value


def _expand_combined(spec: object, field: str) -> list[Variant]:
    if not isinstance(spec, list) or not spec:
        raise GridError(field, "expected a list of step lists, e.g. [[{gaussian_noise: {std: 0.05}}, ...]]")
    variants = []
    for i, steps in enumerate(spec):
        ops = build_steps(steps, f"{field}[{i}]")
        variants.append(Variant(f"{COMBINED}({' + '.join(step_id(o) for o in ops)})", COMBINED, ops))
    return variants


def _draws(name: str, params: Mapping[str, object], k: int) -> float:
    """How many variants one parameter combination of an op gives with k repeats: k when the op
    draws at random with these parameters, else 1 (a list parameter counts by its share of
    values that make the op random)."""
    op_class = SINGLE_OPS.get(name)
    rule = getattr(op_class, "random_when", False)
    if k == 1 or op_class is None or rule is False:
        return 1
    if rule is True:
        return k
    key, value = rule
    default = next((f.default for f in dataclasses.fields(op_class) if f.name == key), None)
    given = params.get(key, default) if isinstance(params, Mapping) else default
    values = given if isinstance(given, list) else [given]
    share = sum(v == value for v in values) / len(values) if values else 0
    return 1 + (k - 1) * share


def count_grid(grid: Mapping[str, object] | None) -> int:
    """How many variants `grid` expands to, identity and replicates included (before duplicates
    are dropped), counted from the lengths of its lists without building any."""
    grid = grid or {}
    default_k = grid.get(REPEATS, 1) if isinstance(grid.get(REPEATS, 1), int) else 1
    count = 1.0
    for name, spec in grid.items():
        if name == COMBINED:
            for steps in spec if isinstance(spec, list) else [None]:
                random = isinstance(steps, list) and any(
                    isinstance(step, Mapping) and any(_draws(op, params or {}, 2) > 1 for op, params in step.items())
                    for step in steps
                )
                count += default_k if random else 1
        elif name == CHAIN_KEY:
            count += chains.count_chains(spec, default_k)
        elif name == PRESET_KEY:
            count += presets.count_presets(spec, default_k)
        elif name not in (IDENTITY, REPEATS):
            k = spec.get(REPEATS, default_k) if isinstance(spec, Mapping) else default_k
            k = k if isinstance(k, int) else 1
            combos = math.prod(
                len(v) if isinstance(v, list) else 1
                for key, v in (spec.items() if isinstance(spec, Mapping) else [])
                if key != REPEATS
            )
            count += combos * _draws(name, spec, k)
    return round(count)


def expand_grid(
    grid: Mapping[str, object] | None, field: str = "augment", max_variants: int | None = None
) -> list[Variant]:
    """Expand a grid mapping into variants, identity first, each random variant followed by its
    replicates, duplicates removed; a grid of more than `max_variants` is refused before
    anything is built."""
    if max_variants is not None and (count := count_grid(grid)) > max_variants:
        raise GridError(
            field,
            f"the grid expands to {count:,} variants, over max_variants ({max_variants:,}); shorten its lists or raise "
            "max_variants",
        )
    grid = grid or {}
    default_k = _repeats(grid[REPEATS], f"{field}.{REPEATS}") if REPEATS in grid else 1
    variants = [Variant(IDENTITY, IDENTITY, ())]
    for name, spec in grid.items():
        where = f"{field}.{name}"
        if name in (IDENTITY, REPEATS):
            continue
        if name == COMBINED:
            expanded, k = _expand_combined(spec, where), default_k
        elif name in SINGLE_OPS:
            expanded, k = expand_op(name, spec or {}, where, skip=(REPEATS,)), default_k
            if isinstance(spec, Mapping) and REPEATS in spec:
                k = _repeats(spec[REPEATS], f"{where}.{REPEATS}")
                if k > 1 and not any(v.is_random for v in expanded):
                    raise GridError(
                        f"{where}.{REPEATS}",
                        f"{name} draws nothing at random here: every replicate would be the same image",
                    )
        elif name == CHAIN_KEY:
            expanded, k = chains.expand_chains(spec, where), default_k
        elif name == PRESET_KEY:
            expanded, k = presets.expand_presets(spec, where), default_k
        else:
            known = ", ".join([*sorted(SINGLE_OPS), COMBINED, CHAIN_KEY, PRESET_KEY])
            raise GridError(where, f"unknown op {name!r} (known: {known})")
        variants += [r for v in expanded for r in replicates(v, k)]
    seen, unique = set(), []
    for v in variants:
        if v.id not in seen:
            seen.add(v.id)
            unique.append(v)
    return unique


def variant_seed(seed: int, sample_id: str, variant_id: str) -> int:
    """A seed for one (sample, variant) pair that does not depend on processing order,
    so a resumed or re-ordered run draws exactly the same noise."""
    digest = hashlib.sha256(f"{seed}|{sample_id}|{variant_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def compile_variant(variant: Variant) -> A.Compose | None:
    """The compiled edit of a variant, an albumentations Compose (None for identity). Build once,
    reuse. albumentations is imported here, with the first edit (augment.transforms)."""
    if not variant.steps:
        return None
    from augment.transforms import compose

    return compose(variant.steps)


def apply_with_record(image: np.ndarray, compiled: A.Compose | None, seed: int) -> tuple[np.ndarray, EditRecord]:
    """Apply a compiled variant to a uint8 RGB image with a fixed seed: the edited image and the
    record of what it drew (augment.record), the same for the same seed."""
    if compiled is None:
        return image, EditRecord(image.shape[:2])
    compiled.set_random_seed(seed)
    out = compiled(image=image)
    return out["image"], EditRecord.from_applied(out["image"].shape[:2], out["applied_transforms"])


def apply_variant(image: np.ndarray, compiled: A.Compose | None, seed: int) -> np.ndarray:
    """Apply a compiled variant to a uint8 RGB image with a fixed seed (the image alone)."""
    return apply_with_record(image, compiled, seed)[0]


def apply(image: np.ndarray, variant: Variant, seed: int) -> np.ndarray:
    """One-off convenience: compile and apply."""
    return apply_variant(image, compile_variant(variant), seed)
