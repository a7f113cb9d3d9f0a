"""Variants: one named edit each (identity, one op, or a sequence of ops), the ids that name them,
and the building of one op's variants from a grid entry with every problem turned into a
GridError naming the YAML field. augment.grid expands whole grids; augment.chains and
augment.presets build the chained and preset sequences.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from augment.ops import SINGLE_OPS, Op

IDENTITY = "identity"
COMBINED = "combined"
CHAIN = "chain"
PRESET = "preset"
SEQUENCES = (COMBINED, CHAIN, PRESET)  # variants of several steps
_REPLICATE_SUFFIX = re.compile(r"#(\d+)$")


class GridError(ValueError):
    """A grid entry that cannot be built; `field` is its dotted path in the config."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class Variant:
    """One named edit: identity, one op, or a sequence of ops (combined, a chain drawn at random,
    a preset); `meta` is what names a chain or preset beyond its steps (its pool, k, draw; the
    preset's name), recorded in `params`."""

    id: str
    op: str
    steps: tuple[Op, ...]
    replicate: int = 0  # which seeded draw of a random edit (0 when drawn once)
    meta: tuple[tuple[str, object], ...] = ()

    @property
    def base_id(self) -> str:
        """The id shared by all replicates of this variant (its replicate 0's id)."""
        return base_variant_id(self.id)

    @property
    def is_random(self) -> bool:
        return any(step.is_random for step in self.steps)

    @property
    def params(self) -> dict[str, object]:
        if self.op in SEQUENCES:
            return {**dict(self.meta), "steps": [step_id(s) for s in self.steps]}
        return self.steps[0].params() if self.steps else {}

    @property
    def pointwise(self) -> bool:
        """Every step changes each pixel on its own (see Op.pointwise); identity is not an edit."""
        return bool(self.steps) and all(step.pointwise for step in self.steps)

    @property
    def severity(self) -> float:
        """The value of the op's severity parameter, a chain's length, NaN where there is none."""
        if self.op == CHAIN:
            return float(len(self.steps))
        if self.op in SEQUENCES or len(self.steps) != 1 or self.steps[0].severity is None:
            return float("nan")
        return float(getattr(self.steps[0], self.steps[0].severity))


def base_variant_id(variant_id: str) -> str:
    """`gaussian_noise(std=0.1)#2` -> `gaussian_noise(std=0.1)`; other ids unchanged."""
    return _REPLICATE_SUFFIX.sub("", variant_id)


def _fmt(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def step_id(op: Op) -> str:
    return f"{op.name}({', '.join(f'{k}={_fmt(v)}' for k, v in op.params().items())})"


def build_op(name: str, params: Mapping[str, object], field: str) -> Op:
    """Construct one op, turning any problem into a GridError naming the YAML field."""
    if name not in SINGLE_OPS:
        known = ", ".join(sorted(SINGLE_OPS))
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


def expand_op(name: str, spec: Mapping[str, object], field: str, skip: tuple[str, ...] = ()) -> list[Variant]:
    """One variant per combination of an op's parameter lists (keys in `skip` left out); a bad
    value is a GridError naming its list element, e.g. `augment.jpeg.quality[1]`."""
    if not isinstance(spec, Mapping):
        raise GridError(field, f"expected a mapping of parameter lists, got {spec!r}")
    axes = []
    for key, values in spec.items():
        if key in skip:
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


def build_steps(steps: object, field: str) -> tuple[Op, ...]:
    """A list of steps, each `{op: {params}}`, as ops (the form of `combined` and presets)."""
    if not isinstance(steps, list) or not steps:
        raise GridError(field, "expected a non-empty list of steps")
    ops = []
    for j, step in enumerate(steps):
        if not isinstance(step, Mapping) or len(step) != 1:
            raise GridError(f"{field}[{j}]", "each step is a mapping with exactly one op")
        ((name, params),) = step.items()
        ops.append(build_op(name, params or {}, f"{field}[{j}].{name}"))
    return tuple(ops)


def parse_step_id(text: str) -> dict[str, dict[str, object]]:
    """`jpeg(quality=50)` -> {'jpeg': {'quality': 50}}: a recorded step id as a step mapping."""
    call = ast.parse(text.strip(), mode="eval").body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.args:
        raise ValueError(f"not a step id: {text!r}")
    return {call.func.id: {k.arg: ast.literal_eval(k.value) for k in call.keywords}}


def variant_from_record(variant_id: str, op: str, params: Mapping[str, object]) -> Variant:
    """The variant a scores row records (its `variant`, `op` and decoded `params`), rebuilt from
    the recorded step ids alone: a chain, preset or combined edit gives the same pixels again
    for the same seed, whatever pool or preset table made it."""
    replicate = int(m.group(1)) if (m := _REPLICATE_SUFFIX.search(variant_id)) else 0
    if op not in SEQUENCES:
        steps = build_steps([{op: dict(params)}], "record") if op != IDENTITY else ()
        return Variant(variant_id, op, steps, replicate)
    steps = build_steps([parse_step_id(s) for s in params["steps"]], "record.steps")  # type: ignore[attr-defined]
    meta = tuple((k, v) for k, v in params.items() if k != "steps")
    return Variant(variant_id, op, steps, replicate, meta)
