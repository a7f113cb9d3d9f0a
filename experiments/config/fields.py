"""What every block of a run config is built from: the strict base model, `ConfigError`, the
bounds on counts and seeds, names that become file names, and the builtin sample manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

from experiments.config.messages import one_line
from experiments.config.paths import NAME_MAX, config_path

BUILTIN_MANIFESTS = {"study": Path(__file__).parents[1] / "data" / "study_samples.csv"}
MAX_COUNT = 2**31 - 1  # any count: a 32-bit signed integer, as TensorFlow's sizes are
MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's seeds
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"  # a name that becomes a file name or a table's label


def _manifest(value: object, info: ValidationInfo) -> object:
    """A builtin manifest's name, or a path like any other (kept as text)."""
    if isinstance(value, str) and value in BUILTIN_MANIFESTS:
        return value
    path = config_path(value, info)
    return str(path) if isinstance(path, Path) else path


Manifest = Annotated[str, BeforeValidator(_manifest)]


def no_repeats(field: str, values: list) -> list:
    """A list field whose entries must be distinct (methods, factors)."""
    if len(set(values)) != len(values):
        raise ValueError(f"{field} must not repeat, got {values}")
    return values


# A name becomes part of file names: the longest a run writes is the temporary file of
# figures/accuracy_by_generator_<model>.png (".accuracy_by_generator_<model>.png.XXXXXXXX.tmp": 40 characters
# more), which must fit in the system's NAME_MAX bytes; 128 leaves room for names added later.
MAX_NAME = 128


def one_path_component(name: str) -> str:
    """A name that becomes a file or folder name: one component, not "." or "..", at most MAX_NAME
    characters (the pattern already keeps out "/", NUL, control characters and the empty name)."""
    if name in (".", ".."):
        raise ValueError(f"must be one file name, not {name!r} (it would name the folder above or this one)")
    if len(name) > MAX_NAME:
        raise ValueError(
            f"a name of {len(name):,} characters; the most is {MAX_NAME} (the run names files after it, "
            f"which must fit in {NAME_MAX} bytes)"
        )
    return name


SafeName = Annotated[str, Field(pattern=NAME_PATTERN), AfterValidator(one_path_component)]


GeneratorName = Annotated[str, Field(pattern=NAME_PATTERN)]  # a generator's or source's name in tables
UNNAMED = "unknown"  # the generator of an AI image (with generator_from, the source of a human one) no folder names
HUMAN = "human"  # the generator column of every human image
# never a generator's or source's name (a folder or a mapping giving one is refused): what each already labels
RESERVED_NAMES = {UNNAMED: "the images right in a class folder", HUMAN: "the generator of every human image"}


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the field. It is one line,
    cut to a bound (experiments.config.messages), whatever values it quotes."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


class Strict(BaseModel):
    """The base of every config block: unknown fields are errors, values are frozen, numbers finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # NaN: "a finite number"
