"""What every op shares: the `Op` base class, its metadata (`OpInfo`: family, severity parameter,
neutral value, units, range, which way is harsher; its label, axis and sides in words), and
`PixelTransform`, the edit the newer ops are built on: a pure pixel function and the random draws
it takes, made in albumentations' params step and recorded (augment.transforms runs it).

The op classes themselves live in augment.ops (the study's 11) and augment.ops_* (the corruption
suite's); augment.ops gathers them all in `SINGLE_OPS` and `OP_INFO`. Nothing here imports
albumentations: an op's transform is built when its edit first runs (augment.transforms).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import annotated_types as at
from pydantic import ConfigDict

STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # NaN / inf: "should be a finite number"

Position = Literal["random", "center", "top_left", "top_right", "bottom_left", "bottom_right"]
Family = Literal["noise", "blur", "compression", "resampling", "colour", "geometry", "overlay"]


class Op:
    """Base of every op. `name` is the YAML key; `severity` names the parameter that grows
    with the strength of the edit (used to order and plot variants); `neutral` is the value of
    that parameter at which the edit would leave the image as it is, so the distance from it says
    how mild an edit is (and on which side of it, for ops that go both ways). `pointwise` ops map
    each pixel's colour through the same function, whatever the image around it: they commute
    with a resampling that only picks pixels (a nearest-neighbour resize), so they can run on the
    rows a resize keeps instead of the full image (tests/test_scoring.py holds them to it).
    `family` groups ops for per-family summaries; `units` says what the severity is measured in.
    How a reader sees the op: `label` (its name in words; the op's name when not set), `axis` (its
    severity parameter in words and its unit, a severity curve's x-axis; the parameter's name and
    `units` when not set) and `sides` (words for below and above the neutral value)."""

    name: ClassVar[str]
    family: ClassVar[Family]
    units: ClassVar[str] = ""
    label: ClassVar[str | None] = None
    axis: ClassVar[tuple[str, str] | None] = None
    sides: ClassVar[tuple[str, str]] = ("below neutral", "above neutral")
    severity: ClassVar[str | None] = None
    neutral: ClassVar[float | None] = None
    pointwise: ClassVar[bool] = False
    # when the op draws something at random (a noise field, a placement): always (True), never
    # (False), or when a parameter has a value, e.g. ("position", "random")
    random_when: ClassVar[bool | tuple[str, object]] = False

    @property
    def is_random(self) -> bool:
        """Whether this op draws at random: only then do seeded replicates of a variant differ."""
        rule = self.random_when
        return rule if isinstance(rule, bool) else getattr(self, rule[0]) == rule[1]

    def transform(self):
        """The edit with exactly these parameters: a PixelTransform, or (the study's 11 ops) the
        albumentations transform that performs it. Called when a variant is compiled
        (augment.transforms.compose), so albumentations is imported only then."""
        raise NotImplementedError

    def params(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def param_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]


@dataclass(frozen=True)
class OpInfo:
    """One op's metadata, for labelling curves and summarising by family: its severity parameter
    (None for an op without one, e.g. a flip), the value of it that leaves the image unchanged,
    its units, its allowed range (low, high; None where open) and `harsher`: `higher` (the edit
    grows with the value), `lower` (JPEG quality) or `away` (both sides of neutral, e.g. hue). For
    a reader: `label`, the op in words; `axis` and `axis_units`, what its severity is and its unit
    (a severity curve's x-axis); `sides`, words for below and above neutral."""

    name: str
    family: str
    severity: str | None
    neutral: float | None
    units: str
    low: float | None
    high: float | None
    harsher: Literal["higher", "lower", "away"] | None
    label: str
    axis: str | None
    axis_units: str
    sides: tuple[str, str]


def severity_range(cls: type[Op]) -> tuple[float | None, float | None]:
    """The bounds pydantic checks on the op's severity parameter (inclusive or not)."""
    if cls.severity is None:
        return None, None
    low = high = None
    for rule in cls.__pydantic_fields__[cls.severity].metadata:
        if isinstance(rule, (at.Ge, at.Gt)):
            low = float(getattr(rule, "ge", getattr(rule, "gt", None)))
        elif isinstance(rule, (at.Le, at.Lt)):
            high = float(getattr(rule, "le", getattr(rule, "lt", None)))
    return low, high


def op_info(cls: type[Op]) -> OpInfo:
    """The metadata of an op class, read from its class attributes and field bounds."""
    low, high = severity_range(cls)
    harsher = None
    if cls.severity is not None:
        neutral = float(cls.neutral)
        below = low is None or low < neutral
        above = high is None or high > neutral
        harsher = "away" if below and above else "lower" if below else "higher"
    axis, axis_units = cls.axis or (cls.severity, cls.units)
    words = (cls.label or cls.name, axis, axis_units, cls.sides)
    return OpInfo(cls.name, cls.family, cls.severity, cls.neutral, cls.units, low, high, harsher, *words)


@dataclass(frozen=True)
class PixelTransform:
    """An edit as a pure pixel function: `draw(shape, rng)` (optional) makes the op's random
    choices from the transform's seeded numpy generator, in albumentations' params step, and
    returns them as params named `keys` (recorded, augment.record); `pixels(img, **drawn)` is
    deterministic given them. `moves`: the op moves or resizes pixels. augment.transforms runs it
    as an albumentations transform."""

    pixels: Callable
    draw: Callable | None = None
    keys: tuple[str, ...] = ()
    moves: bool = False


class StepSeededTransform(PixelTransform):
    """A PixelTransform whose generator is seeded from the variant's seed and its place in the
    variant (augment.transforms.compose): albumentations gives every transform of a Compose the
    same seed, so two steps that draw (three JPEG steps with their own probability) would
    otherwise draw the same numbers and happen together."""
