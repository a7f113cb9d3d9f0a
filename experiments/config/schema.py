"""The run configuration: one YAML file, read with limits (experiments.config.yaml_limits) and
validated by pydantic before anything runs.

Path fields are read the same way everywhere (experiments.config.paths: environment variables,
`$$` for a literal `$`, relative to the config file's folder). Seeds are 0 to 2**32 - 1 (numpy's
and scikit-learn's range); counts are at most 2**31 - 1. A config named on the command line that
is not a file is looked up among the configs shipped in experiments/configs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from augment import GridError, Variant, expand_grid
from experiments.config.fields import MAX_COUNT, MAX_SEED, ConfigError, SafeName, Strict
from experiments.config.messages import cut
from experiments.config.model_blocks import UNION_TAGS, ModelConfig
from experiments.config.paths import OutputPath
from experiments.config.sections import (
    AssetsConfig, AuditConfig, CorruptionConfig, CrossGeneratorConfig, EvalSetConfig, ExecutorConfig, ExplainConfig,
    PreprocessConfig, SamplesConfig,
)  # fmt: skip
from experiments.config.yaml_limits import YAMLLimit, load_yaml

CONFIG_DIR = Path(__file__).parents[1] / "configs"


class RunConfig(Strict):
    name: SafeName
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] = 0
    out_dir: OutputPath = Field("results", validate_default=True)  # run folders go to <out_dir>/<name>
    assets: AssetsConfig = AssetsConfig()
    models: Annotated[list[ModelConfig], Field(min_length=1)]
    samples: SamplesConfig
    preprocess: PreprocessConfig = PreprocessConfig()
    augment: dict[str, Any] = {}
    batch_size: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 256
    workers: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 0  # threads editing images; 0 = one per CPU core
    part_size: Annotated[int, Field(ge=1, le=MAX_COUNT)] | None = (
        None  # samples per resumable part; default: chosen to fill batches
    )
    bootstrap: Annotated[int, Field(ge=100, le=MAX_COUNT)] = 1000  # resamples behind every confidence interval
    study_table: bool = True  # write the subject x variant x model table when samples have subjects
    explain: ExplainConfig | None = None  # attribution maps and their numbers; none when absent
    report: Literal["html", "none"] = "html"  # results/<run>/report/index.html at the end of a run
    max_variants: Annotated[int, Field(ge=1, le=MAX_COUNT)] = (
        10_000  # a grid that expands to more is refused (counted first)
    )
    executor: ExecutorConfig = ExecutorConfig()  # local, processes or ray; `--executor` overrides the kind
    audit: AuditConfig | None = None  # the shortcut audit (tables audit, audit_probe); none when absent
    eval_sets: Annotated[list[EvalSetConfig], Field(min_length=1)] | None = (
        None  # cross-set evaluation (table eval_sets)
    )
    cross_generator: CrossGeneratorConfig | None = (
        None  # train on one generator, test on the others (table cross_generator)
    )
    corruption: CorruptionConfig | None = (
        None  # the corruption score's settings (tables corruption_score, corruption_curves)
    )
    # every pair of models on the same unedited images: accuracies, exact McNemar (table model_comparison)
    model_comparison: bool = Field(False, exclude_if=lambda v: not v)

    @field_validator("models")
    @classmethod
    def _unique_names(cls, models):
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be unique, got {names}")
        return models

    @field_validator("eval_sets")
    @classmethod
    def _unique_set_names(cls, sets):
        names = [s.name for s in sets or []]
        if len(set(names)) != len(names):
            raise ValueError(f"eval set names must be unique, got {names}")
        return sets

    @field_validator("corruption")
    @classmethod
    def _known_reference(cls, corruption, info):
        names = [m.name for m in info.data.get("models", [])]
        if corruption is not None and corruption.reference is not None and corruption.reference not in names:
            raise ValueError(f"reference {corruption.reference!r} is not one of the models {names}")
        return corruption

    @field_validator("cross_generator")
    @classmethod
    def _trainable_models(cls, cross, info):
        if cross is None or "models" not in info.data:
            return cross
        trainable = [m.name for m in info.data["models"] if m.train is not None]
        unknown = [name for name in cross.models or [] if name not in trainable]
        if unknown or not trainable:
            raise ValueError(f"needs models with a train block; trainable: {trainable}, asked for: {cross.models}")
        return cross

    def variants(self) -> list[Variant]:
        return expand_grid(self.augment, max_variants=self.max_variants)

    def fingerprint(self) -> str:
        """Hash of everything that changes the score tables (not where or how fast they are made).
        The explain section is left out: explanations are cached under their own keys, so
        adding a method to a finished run computes only that method. The audit, eval_sets,
        cross_generator, corruption and model_comparison sections are left out too: they are computed again at each
        run."""
        left_out = {"out_dir", "workers", "explain", "bootstrap", "report", "executor"}
        again = {"audit", "eval_sets", "cross_generator", "corruption", "model_comparison"}
        data = self.model_dump(mode="json", exclude=left_out | again)
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


def _read(path: Path) -> dict:
    """The config file's top-level mapping, read with limits (experiments.config.yaml_limits)."""
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); save it as UTF-8"
        ) from None
    except YAMLLimit as e:
        raise ConfigError(f"{path}: {e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw


def load_config(name: str | Path) -> RunConfig:
    """Read, validate and resolve a config; every problem is one ConfigError line."""
    path = find_config(name)
    raw = _read(path)
    # a shipped config's relative paths (models/...) are relative to the working directory
    shipped = path.resolve().parent == CONFIG_DIR.resolve()
    folders = {"config": Path.cwd() if shipped else path.parent.resolve(), "cwd": Path.cwd()}
    try:
        cfg = RunConfig.model_validate(raw, context=folders)
        cfg.variants()  # validate the augmentation grid now, not half-way through a run
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"] if p not in UNION_TAGS)
        value = f" (got {cut(repr(err['input']))})" if "input" in err and not isinstance(err["input"], dict) else ""
        raise ConfigError(f"{path}: {field}: {err['msg'].removeprefix('Value error, ')}{value}") from None
    except GridError as e:
        raise ConfigError(f"{path}: {e}") from None
    return cfg
