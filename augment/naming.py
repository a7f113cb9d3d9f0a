"""Words for a run's edits, as the report and its figures show them to a reader.

A variant id such as `occlusion(area=0.2, colour='red', count=3, position='random')#2` is exact
but long; a reader wants `occlusion area 0.2, count 3`: the op in words, its parameters with
the op's defaults left out, the replicate suffix dropped. Severity axes get the parameter's name
and unit, and which way is milder, all read from the op's metadata (OP_INFO: label, axis, sides).
Pure functions; ids that cannot be parsed are shown as they are.
"""

from __future__ import annotations

import ast
import dataclasses
import json

from augment.grid import IDENTITY, base_variant_id
from augment.ops import OP_INFO, SINGLE_OPS
from augment.variants import CHAIN, PRESET

# what is not a single op (augment.OP_INFO gives each op's label, axis and sides)
OTHER_LABELS = {"combined": "combined", IDENTITY: "unedited"}

PARAM_LABELS = {"sigma": "σ", "degrees": "°"}


def label(op: str) -> str:
    """The op in words: 'JPEG', 'Gaussian noise', 'unedited'; the name itself when it has none."""
    return OP_INFO[op].label if op in OP_INFO else OTHER_LABELS.get(op, op)


def number(value: object) -> str:
    """0.2 -> '0.2', 2.0 -> '2', 0.123456 -> '0.1235': short, and exact for grid values."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.2e}"


def parse_step(text: str) -> tuple[str, dict[str, object]] | None:
    """`occlusion(area=0.2, colour='red')` -> ('occlusion', {'area': 0.2, 'colour': 'red'})."""
    try:
        call = ast.parse(text.strip(), mode="eval").body
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.args:
            return None
        return call.func.id, {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError):
        return None


def parse_variant(variant_id: str) -> list[tuple[str, dict[str, object]]] | None:
    """The steps of a variant id (one for a single op, several for `combined(a + b)`), with
    their parameters; [] for identity; None when the id is not in the grid's format."""
    vid = base_variant_id(variant_id)
    if vid == IDENTITY:
        return []
    if vid.startswith("combined(") and vid.endswith(")"):
        steps = [parse_step(part) for part in _split_steps(vid[len("combined(") : -1])]
        return None if any(s is None for s in steps) else steps
    step = parse_step(vid)
    return None if step is None else [step]


def _split_steps(text: str) -> list[str]:
    """Split on ' + ' outside brackets and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and text.startswith(" + ", i):
            parts.append(text[start:i])
            start = i + 3
    parts.append(text[start:])
    return parts


def defaults(op: str) -> dict[str, object]:
    """The op's parameters that have a default, with it."""
    cls = SINGLE_OPS.get(op)
    if cls is None:
        return {}
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def compact_params(op: str, params: dict[str, object], drop: tuple[str, ...] = ()) -> str:
    """'area 0.2, count 3': parameters in the op's order, defaults and `drop` left out."""
    known = defaults(op)
    shown = []
    for key, value in params.items():
        if key in drop or (key in known and known[key] == value):
            continue
        name = PARAM_LABELS.get(key, key)
        text = number(value) if isinstance(value, (int, float)) else str(value)
        if key == label(op).lower():  # 'brightness -0.4', not 'brightness brightness -0.4'
            shown.append(text)
        else:
            shown.append(f"{text}{name}" if name == "°" else f"{name} {text}")
    return ", ".join(shown)


def describe_step(op: str, params: dict[str, object]) -> str:
    shown = compact_params(op, params)
    return f"{label(op)} {shown}".strip()


def describe(variant_id: str) -> str:
    """A variant id in words: 'Gaussian noise std 0.2', 'occlusion area 0.2, count 3',
    'hue shift 45° + occlusion area 0.03, colour yellow, count 3', 'unedited'."""
    pipeline = parse_pipeline(variant_id)
    if pipeline is not None:
        return describe_pipeline(*pipeline)
    steps = parse_variant(variant_id)
    if steps is None:
        return base_variant_id(variant_id)
    if not steps:
        return label(IDENTITY)
    return " + ".join(describe_step(op, params) for op, params in steps)


def parse_pipeline(variant_id: str) -> tuple[str, dict[str, object]] | None:
    """A chain or preset id -> (op, its params as recorded: {chain, k, draw, steps} or {preset,
    steps}): `chain(field, k=2, draw=0: jpeg(quality=50) + contrast(factor=0.2))`; None otherwise."""
    vid = base_variant_id(variant_id)
    for op in (CHAIN, PRESET):
        if not (vid.startswith(f"{op}(") and vid.endswith(")") and ": " in vid):
            continue
        head, steps = vid[len(op) + 1 : -1].split(": ", 1)
        name, *rest = [part.strip() for part in head.split(",")]
        try:
            meta = {key.strip(): ast.literal_eval(value) for key, value in (part.split("=", 1) for part in rest)}
        except (SyntaxError, ValueError):
            return None
        return op, {op: name, **meta, "steps": _split_steps(steps)}
    return None


def describe_pipeline(op: str, params: dict[str, object]) -> str:
    """A chain or preset as readable steps, in order, from its recorded params:
    'preset social_repost: crop keep 0.9 → resize_to long_side 1080, … → JPEG quality 85',
    'chain field of 2, draw 1: posterize bits 4 → contrast 0.2'."""
    steps = " → ".join(describe(step) for step in params.get("steps", []))
    if op == CHAIN:
        draw = params.get("draw")
        drawn = f", draw {int(draw) + 1}" if isinstance(draw, int) else ""
        head = f"chain {params.get('chain', '')} of {params.get('k', '?')}{drawn}"
    else:
        head = f"preset {params.get('preset', '')}"
    return f"{head}: {steps}"


def describe_params(op: str, params_json: str) -> str:
    """The `params` column of a scores table, compact: defaults left out."""
    try:
        params = json.loads(params_json) if params_json else {}
    except (TypeError, ValueError):
        return str(params_json)
    if op == "combined":
        return " + ".join(describe(s) for s in params.get("steps", []))
    if op in (CHAIN, PRESET):
        return describe_pipeline(op, params)
    return compact_params(op, params)


def axis_label(op: str) -> str:
    """'JPEG quality (100 = best)': the severity parameter of `op` and its unit."""
    name, unit = (OP_INFO[op].axis, OP_INFO[op].axis_units) if op in OP_INFO else ("severity", "")
    return f"{name} ({unit})" if unit else name


def series_title(op: str, fixed: dict[str, object], side: str, two_sided: bool) -> str:
    """A panel title: 'brightness (darker)', 'occlusion (count 3)', 'JPEG'."""
    extra = [compact_params(op, fixed)] if compact_params(op, fixed) else []
    if two_sided:
        low, high = OP_INFO[op].sides if op in OP_INFO else ("below neutral", "above neutral")
        extra.append(low if side == "decrease" else high)
    words = label(op)
    return f"{words} ({', '.join(extra)})" if extra else words


def severity_name(op: str) -> str:
    """What the severity parameter of `op` is, in words: 'area covered', 'JPEG quality'."""
    return OP_INFO[op].axis if op in OP_INFO else "severity"
