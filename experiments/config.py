"""The run configuration: one YAML file, validated by pydantic.

Relative paths in a config are relative to the config file's folder. A config named on the
command line that is not a file is looked up among the configs shipped in experiments/configs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from augment import GridError, Variant, expand_grid

CONFIG_DIR = Path(__file__).parent / "configs"
BUILTIN_MANIFESTS = {"study": Path(__file__).parent / "data" / "study_samples.csv"}


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssetsConfig(_Strict):
    mirror: Path | None = None  # default: $ARTXAI_SEED_MIRROR
    cache_dir: Path | None = None  # default: $ARTXAI_CACHE or ~/.cache/artxai
    base_url: str | None = None  # default: the study's repository on GitHub; "" turns downloads off
    timeout_s: Annotated[float, Field(gt=0)] = 30.0


class ModelConfig(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    input_size: Annotated[int, Field(ge=8, le=1024)]
    seed_asset: str | None = None  # a path in the study's repository
    path: Path | None = None  # a local .h5 / .keras file
    required: bool = False  # when False, an unavailable model is a warning, not an error

    @model_validator(mode="after")
    def _one_source(self):
        if (self.seed_asset is None) == (self.path is None):
            raise ValueError("give exactly one of seed_asset or path")
        return self


class SamplesConfig(_Strict):
    manifest: str | None = None  # a CSV (path, subject, variant, truth) or a builtin name ("study")
    folder: Path | None = None  # every image below it; truth from the filename rule
    from_seed_assets: bool = False  # manifest paths are paths in the study's repository
    variants: list[str] | None = None  # keep only these manifest variants (e.g. [original])
    ai_prefix: str = "ai_"  # filename rule: names starting with it are AI, the rest human

    @model_validator(mode="after")
    def _one_source(self):
        if (self.manifest is None) == (self.folder is None):
            raise ValueError("give exactly one of manifest or folder")
        return self


class PreprocessConfig(_Strict):
    max_pixels: Annotated[int, Field(gt=0)] = 89_478_485
    min_side: Annotated[int, Field(ge=1)] = 8
    exif_transpose: bool = False


EXPLAIN_METHODS = ("saliency", "smoothgrad", "gradcam", "gradcam++", "scorecam", "faster_scorecam", "layercam", "lime", "random")


class ExplainConfig(_Strict):
    """Which maps to make, of which images, and the settings that change them."""

    methods: Annotated[list[Literal[EXPLAIN_METHODS]], Field(min_length=1)] = [  # type: ignore[valid-type]
        "saliency", "smoothgrad", "gradcam", "gradcam++", "scorecam", "layercam", "lime", "random",
    ]  # fmt: skip
    images: Literal["originals", "all", "top_k"] = "top_k"  # top_k: the unedited image + the k largest |delta p_ai|
    top_k: Annotated[int, Field(ge=1)] = 5
    target: Literal["predicted", "ai", "human"] = "ai"  # ai: maps explain p_ai, the score the tables track
    lime_samples: Annotated[int, Field(ge=10)] = 1000
    lime_segments: Annotated[int, Field(ge=2)] = 50
    display_size: Annotated[int, Field(ge=32, le=2048)] = 256  # long side of overlays and LIME superpixels
    top_fraction: Annotated[float, Field(gt=0, le=1)] = 0.1  # "top pixels" for IoU
    faithfulness_steps: Annotated[int, Field(ge=2)] = 16
    sanity: bool = True  # cascading model-parameter randomisation on the unedited images
    pictures: bool = True  # overlay PNGs and per-sample grids

    @field_validator("methods")
    @classmethod
    def _unique_methods(cls, methods):
        if len(set(methods)) != len(methods):
            raise ValueError(f"methods must not repeat, got {methods}")
        return methods


class RunConfig(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    seed: int = 0
    out_dir: Path = Path("results")
    assets: AssetsConfig = AssetsConfig()
    models: Annotated[list[ModelConfig], Field(min_length=1)]
    samples: SamplesConfig
    preprocess: PreprocessConfig = PreprocessConfig()
    augment: dict[str, Any] = {}
    batch_size: Annotated[int, Field(ge=1)] = 256
    workers: Annotated[int, Field(ge=0)] = 0  # threads editing images; 0 = one per CPU core
    study_table: bool = True  # write the subject x variant x model table when samples have subjects
    explain: ExplainConfig | None = None  # attribution maps and their numbers; none when absent

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models):
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique, got {names}")
        return models

    def variants(self) -> list[Variant]:
        return expand_grid(self.augment)

    def fingerprint(self) -> str:
        """Hash of everything that changes the score tables (not where or how fast they are made).
        The explain section is left out: explanations are cached under their own keys, so
        adding a method to a finished run computes only that method."""
        data = self.model_dump(mode="json", exclude={"out_dir", "workers", "explain"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def find_config(name: str | Path) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    builtin = CONFIG_DIR / path.name
    if builtin.is_file():
        return builtin
    shipped = ", ".join(sorted(p.name for p in CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"{name}: no such config file (shipped configs: {shipped})")


def _resolve_paths(cfg: RunConfig, base: Path) -> RunConfig:
    def rel(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    samples, assets = cfg.samples, cfg.assets
    manifest = samples.manifest
    if manifest is not None and manifest not in BUILTIN_MANIFESTS:
        manifest = str(rel(Path(manifest)))
    return cfg.model_copy(
        update={
            "out_dir": cfg.out_dir.resolve(),  # output goes below the working directory
            "assets": assets.model_copy(update={"mirror": rel(assets.mirror), "cache_dir": rel(assets.cache_dir)}),
            "models": [m.model_copy(update={"path": rel(m.path)}) for m in cfg.models],
            "samples": samples.model_copy(update={"manifest": manifest, "folder": rel(samples.folder)}),
        }
    )


def load_config(name: str | Path) -> RunConfig:
    """Read, validate and resolve a config; every problem is one ConfigError line."""
    path = find_config(name)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        cfg = RunConfig.model_validate(raw)
        cfg.variants()  # validate the augmentation grid now, not half-way through a run
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        value = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
        raise ConfigError(f"{path}: {field}: {err['msg'].removeprefix('Value error, ')}{value}") from None
    except GridError as e:
        raise ConfigError(f"{path}: {e}") from None
    return _resolve_paths(cfg, path.parent.resolve())
