"""Augmentation grids: a YAML mapping of op -> parameter lists, expanded into named variants.

    gaussian_blur: {sigma: [1, 2, 4, 8]}          -> gaussian_blur(sigma=1) ... (sigma=8)
    brightness_contrast: {brightness: [-0.3, 0.3], contrast: [0, 0.3]}   -> 4 variants (product)
    combined:                                      -> one variant per list of steps
      - [{gaussian_noise: {std: 0.05}}, {hue_shift: {degrees: 30}}]

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
import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import albumentations as A
import numpy as np
from pydantic import ValidationError

from augment.ops import SINGLE_OPS, Op
from augment.record import EditRecord

IDENTITY = "identity"
COMBINED = "combined"
REPEATS = "repeats"
MAX_REPEATS = 100
_REPLICATE_SUFFIX = re.compile(r"#(\d+)$")


class GridError(ValueError):
    """A grid entry that cannot be built; `field` is its dotted path in the config."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Variant:
    """One named edit: identity, one op, or a sequence of ops (combined)."""

    id: str
    op: str
    steps: tuple[Op, ...]
    replicate: int = 0  # which seeded draw of a random edit (0 when drawn once)

    @property
    def base_id(self) -> str:
        """The id shared by all replicates of this variant (its replicate 0's id)."""
        return base_variant_id(self.id)

    @property
    def is_random(self) -> bool:
        return any(step.is_random for step in self.steps)

    @property
    def params(self) -> dict[str, object]:
        if self.op == COMBINED:
            return {"steps": [step_id(s) for s in self.steps]}
        return self.steps[0].params() if self.steps else {}

    @property
    def pointwise(self) -> bool:
        """Every step changes each pixel on its own (see Op.pointwise); identity is not an edit."""
        return bool(self.steps) and all(step.pointwise for step in self.steps)

    @property
    def severity(self) -> float:
        """The value of the op's severity parameter, NaN where there is none."""
        if len(self.steps) != 1 or self.steps[0].severity is None:
            return float("nan")
        return float(getattr(self.steps[0], self.steps[0].severity))


def base_variant_id(variant_id: str) -> str:
    """`gaussian_noise(std=0.1)#2` -> `gaussian_noise(std=0.1)`; other ids unchanged."""
    return _REPLICATE_SUFFIX.sub("", variant_id)


def replicates(variant: Variant, k: int) -> list[Variant]:
    """k seeded draws of a random variant (itself first); a deterministic one once."""
    if not variant.is_random:
        return [variant]
    return [variant, *(Variant(f"{variant.id}#{r}", variant.op, variant.steps, r) for r in range(1, k))]


def _repeats(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPEATS:
        raise GridError(field, f"expected a whole number of draws from 1 to {MAX_REPEATS}, got {value!r}")
    return value


def _fmt(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def step_id(op: Op) -> str:
    return f"{op.name}({', '.join(f'{k}={_fmt(v)}' for k, v in op.params().items())})"


def build_op(name: str, params: Mapping[str, object], field: str) -> Op:
    """Construct one op, turning any problem into a GridError naming the YAML field."""
    if name not in SINGLE_OPS:
        known = ", ".join(sorted([*SINGLE_OPS, COMBINED]))
        raise GridError(field, f"unknown op {name!r} (known: {known})")
    if not isinstance(params, Mapping):
        raise GridError(field, f"expected a mapping of parameters, got {params!r}")
    op_class = SINGLE_OPS[name]
    unknown = [k for k in params if k not in op_class.param_names()]
    if unknown:
        raise GridError(f"{field}.{unknown[0]}", f"unknown parameter (known: {', '.join(op_class.param_names())})")
    try:
        return op_class(**params)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if p != "__init__")
        detail = err["msg"].removeprefix("Value error, ")
        raise GridError(f"{field}.{where}" if where else field, detail) from None


def _expand_op(name: str, spec: Mapping[str, object], field: str) -> list[Variant]:
    if not isinstance(spec, Mapping):
        raise GridError(field, f"expected a mapping of parameter lists, got {spec!r}")
    axes = []
    for key, values in spec.items():
        if key == REPEATS:
            continue
        if isinstance(values, list):
            if not values:
                raise GridError(f"{field}.{key}", "empty list of values")
            axes.append([(key, v, f"{field}.{key}[{i}]") for i, v in enumerate(values)])
        else:
            axes.append([(key, values, f"{field}.{key}")])
    variants = []
    for combo in itertools.product(*axes):
        params = {k: v for k, v, _ in combo}
        try:
            op = build_op(name, params, field)
        except GridError as e:
            # point at the exact list element when the bad value came from one
            bad = next((f for k, _, f in combo if e.field == f"{field}.{k}"), e.field)
            raise GridError(bad, str(e).split(": ", 1)[1]) from None
        variants.append(Variant(step_id(op), name, (op,)))
    return variants


def _expand_combined(spec: object, field: str) -> list[Variant]:
    if not isinstance(spec, list) or not spec:
        raise GridError(field, "expected a list of step lists, e.g. [[{gaussian_noise: {std: 0.05}}, ...]]")
    variants = []
    for i, steps in enumerate(spec):
        where = f"{field}[{i}]"
        if not isinstance(steps, list) or not steps:
            raise GridError(where, "expected a non-empty list of steps")
        ops = []
        for j, step in enumerate(steps):
            if not isinstance(step, Mapping) or len(step) != 1:
                raise GridError(f"{where}[{j}]", "each step is a mapping with exactly one op")
            (name, params), = step.items()
            ops.append(build_op(name, params or {}, f"{where}[{j}].{name}"))
        vid = f"{COMBINED}({' + '.join(step_id(o) for o in ops)})"
        variants.append(Variant(vid, COMBINED, tuple(ops)))
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
                    isinstance(step, Mapping) and any(_draws(op, params or {}, 2) > 1 for op, params in step.items()) for step in steps
                )
                count += default_k if random else 1
        elif name not in (IDENTITY, REPEATS):
            k = spec.get(REPEATS, default_k) if isinstance(spec, Mapping) else default_k
            k = k if isinstance(k, int) else 1
            combos = math.prod(len(v) if isinstance(v, list) else 1 for key, v in (spec.items() if isinstance(spec, Mapping) else []) if key != REPEATS)
            count += combos * _draws(name, spec, k)
    return round(count)


def expand_grid(grid: Mapping[str, object] | None, field: str = "augment", max_variants: int | None = None) -> list[Variant]:
    """Expand a grid mapping into variants, identity first, each random variant followed by its
    replicates, duplicates removed; a grid of more than `max_variants` is refused before
    anything is built."""
    if max_variants is not None and (count := count_grid(grid)) > max_variants:
        raise GridError(field, f"the grid expands to {count:,} variants, over max_variants ({max_variants:,}); shorten its lists or raise max_variants")
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
            expanded, k = _expand_op(name, spec or {}, where), default_k
            if isinstance(spec, Mapping) and REPEATS in spec:
                k = _repeats(spec[REPEATS], f"{where}.{REPEATS}")
                if k > 1 and not any(v.is_random for v in expanded):
                    raise GridError(f"{where}.{REPEATS}", f"{name} draws nothing at random here: every replicate would be the same image")
        else:
            build_op(name, {}, where)  # raises the unknown-op error
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
    """The compiled edit of a variant, an albumentations Compose (None for identity). Build once, reuse."""
    if not variant.steps:
        return None
    return A.Compose([op.transform() for op in variant.steps], strict=True, save_applied_params=True)


def apply_with_record(image: np.ndarray, compiled: A.Compose | None, seed: int) -> tuple[np.ndarray, EditRecord]:
    """Apply a compiled variant to a uint8 RGB image with a fixed seed: the edited image and the
    record of what it drew (augment.record), the same for the same seed."""
    if compiled is None:
        return image, EditRecord(image.shape[:2])
    compiled.set_random_seed(seed)
    out = compiled(image=image)
    return out["image"], EditRecord.from_applied(image.shape[:2], out["applied_transforms"])


def apply_variant(image: np.ndarray, compiled: A.Compose | None, seed: int) -> np.ndarray:
    """Apply a compiled variant to a uint8 RGB image with a fixed seed (the image alone)."""
    return apply_with_record(image, compiled, seed)[0]


def apply(image: np.ndarray, variant: Variant, seed: int) -> np.ndarray:
    """One-off convenience: compile and apply."""
    return apply_variant(image, compile_variant(variant), seed)

