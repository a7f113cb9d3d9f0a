"""Words for a run's edits, as the report and its figures show them to a reader.

A variant id such as `occlusion(area=0.2, colour='red', count=3, position='random')#2` is exact
but long; a reader wants `occlusion area 0.2, count 3`: the op in words, its parameters with
the op's defaults left out, the replicate suffix dropped. Severity axes get the parameter's name
and unit, and which way is milder. Pure functions; ids that cannot be parsed are shown as they
are.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import re
from pathlib import Path

from augment import IDENTITY, SINGLE_OPS, base_variant_id
from augment.ops import OP_INFO

OP_LABELS = {
    "gaussian_noise": "Gaussian noise",
    "gaussian_blur": "Gaussian blur",
    "motion_blur": "motion blur",
    "hue_shift": "hue shift",
    "saturation": "saturation",
    "brightness_contrast": "brightness",
    "gamma": "gamma",
    "jpeg": "JPEG",
    "downscale": "downscale",
    "occlusion": "occlusion",
    "text_watermark": "text watermark",
    "combined": "combined",
    IDENTITY: "unedited",
}

# op -> (what its severity parameter is, its unit): the x-axis of a severity curve
SEVERITY_AXES = {
    "gaussian_noise": ("noise standard deviation", "fraction of 255"),
    "gaussian_blur": ("blur σ", "px"),
    "motion_blur": ("motion blur length", "px"),
    "hue_shift": ("hue rotation", "degrees"),
    "saturation": ("saturation factor", "1 = unchanged, 0 = grey"),
    "brightness_contrast": ("brightness shift", "fraction of the range"),
    "gamma": ("gamma", "1 = unchanged, > 1 darkens"),
    "jpeg": ("JPEG quality", "100 = best"),
    "downscale": ("downscale factor", "1 = full size"),
    "occlusion": ("area covered", "fraction of the image"),
    "text_watermark": ("text opacity", "0 = invisible"),
}

# op -> (word for the side below the neutral value, word for the side above it)
SIDE_WORDS = {
    "saturation": ("less", "more"),
    "brightness_contrast": ("darker", "brighter"),
    "gamma": ("γ < 1, brighter", "γ > 1, darker"),
    "hue_shift": ("backwards", "forwards"),
}

PARAM_LABELS = {"sigma": "σ", "degrees": "°"}


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
        if key == OP_LABELS.get(op, op).lower():  # 'brightness -0.4', not 'brightness brightness -0.4'
            shown.append(text)
        else:
            shown.append(f"{text}{name}" if name == "°" else f"{name} {text}")
    return ", ".join(shown)


def describe_step(op: str, params: dict[str, object]) -> str:
    shown = compact_params(op, params)
    return f"{OP_LABELS.get(op, op)} {shown}".strip()


def describe(variant_id: str) -> str:
    """A variant id in words: 'Gaussian noise std 0.2', 'occlusion area 0.2, count 3',
    'hue shift 45° + occlusion area 0.03, colour yellow, count 3', 'unedited'."""
    steps = parse_variant(variant_id)
    if steps is None:
        return base_variant_id(variant_id)
    if not steps:
        return OP_LABELS[IDENTITY]
    return " + ".join(describe_step(op, params) for op, params in steps)


def describe_params(op: str, params_json: str) -> str:
    """The `params` column of a scores table, compact: defaults left out."""
    try:
        params = json.loads(params_json) if params_json else {}
    except (TypeError, ValueError):
        return str(params_json)
    if op == "combined":
        return " + ".join(describe(s) for s in params.get("steps", []))
    return compact_params(op, params)


def axis_label(op: str) -> str:
    """'JPEG quality (100 = best)': the severity parameter of `op` and its unit."""
    cls = SINGLE_OPS.get(op)
    name, unit = SEVERITY_AXES.get(op, (cls.severity if cls else "severity", OP_INFO[op].units if cls else ""))
    return f"{name} ({unit})" if unit else name


def series_title(op: str, fixed: dict[str, object], side: str, two_sided: bool) -> str:
    """A panel title: 'brightness (darker)', 'occlusion (count 3)', 'JPEG'."""
    extra = [compact_params(op, fixed)] if compact_params(op, fixed) else []
    if two_sided:
        low, high = SIDE_WORDS.get(op, ("below neutral", "above neutral"))
        extra.append(low if side == "decrease" else high)
    label = OP_LABELS.get(op, op)
    return f"{label} ({', '.join(extra)})" if extra else label


def severity_name(op: str) -> str:
    """What the severity parameter of `op` is, in words: 'area covered', 'JPEG quality'."""
    cls = SINGLE_OPS.get(op)
    return SEVERITY_AXES.get(op, (cls.severity if cls else "severity", OP_INFO[op].units if cls else ""))[0]


def slug(text: str) -> str:
    """A file-name-safe, collision-free name for a sample or variant id (any id, even one from a
    file name that is not UTF-8)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(text).stem if "/" in text else text).strip("_")[:48]
    return f"{readable}-{hashlib.sha1(text.encode('utf-8', 'surrogateescape')).hexdigest()[:6]}"
