"""Augmentation grids: a YAML mapping of op -> parameter lists, expanded into named variants.

    gaussian_blur: {sigma: [1, 2, 4, 8]}          -> gaussian_blur(sigma=1) ... (sigma=8)
    brightness_contrast: {brightness: [-0.3, 0.3], contrast: [0, 0.3]}   -> 4 variants (product)
    combined:                                      -> one variant per list of steps
      - [{gaussian_noise: {std: 0.05}}, {hue_shift: {degrees: 30}}]

A list is a grid axis; a scalar is a fixed parameter. The identity variant always comes first.
Variant ids are stable: op name plus parameters in the order the op declares them.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import albumentations as A
import numpy as np
from pydantic import ValidationError

from augment.ops import SINGLE_OPS, Op

IDENTITY = "identity"
COMBINED = "combined"


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


def expand_grid(grid: Mapping[str, object] | None, field: str = "augment") -> list[Variant]:
    """Expand a grid mapping into variants, identity first, duplicates removed."""
    variants = [Variant(IDENTITY, IDENTITY, ())]
    for name, spec in (grid or {}).items():
        where = f"{field}.{name}"
        if name == IDENTITY:
            continue
        if name == COMBINED:
            variants += _expand_combined(spec, where)
        elif name in SINGLE_OPS:
            variants += _expand_op(name, spec or {}, where)
        else:
            build_op(name, {}, where)  # raises the unknown-op error
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
    """The albumentations pipeline for a variant (None for identity). Build once, reuse."""
    if not variant.steps:
        return None
    return A.Compose([op.transform() for op in variant.steps], strict=True)


def apply_variant(image: np.ndarray, pipeline: A.Compose | None, seed: int) -> np.ndarray:
    """Apply a compiled variant to a uint8 RGB image with a fixed seed."""
    if pipeline is None:
        return image
    pipeline.set_random_seed(seed)
    return pipeline(image=image)["image"]


def apply(image: np.ndarray, variant: Variant, seed: int) -> np.ndarray:
    """One-off convenience: compile and apply."""
    return apply_variant(image, compile_variant(variant), seed)

