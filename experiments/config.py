"""The run configuration: one YAML file, validated by pydantic.

Relative paths in a config are relative to the config file's folder. A config named on the
command line that is not a file is looked up among the configs shipped in experiments/configs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from augment import GridError, Variant, expand_grid
from experiments.file_factors import FACTORS

CONFIG_DIR = Path(__file__).parent / "configs"
BUILTIN_MANIFESTS = {"study": Path(__file__).parent / "data" / "study_samples.csv"}


def no_repeats(field: str, values: list) -> list:
    """A list field whose entries must be distinct (methods, factors)."""
    if len(set(values)) != len(values):
        raise ValueError(f"{field} must not repeat, got {values}")
    return values


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # NaN: "a finite number"


class AssetsConfig(_Strict):
    mirror: Path | None = None  # default: $ARTXAI_SEED_MIRROR
    cache_dir: Path | None = None  # default: $ARTXAI_CACHE or ~/.cache/artxai
    base_url: str | None = None  # default: the study's repository on GitHub; "" turns downloads off
    timeout_s: Annotated[float, Field(gt=0)] = 30.0


class DatasetConfig(_Strict):
    """An image dataset on disk (see experiments.datasets for the layouts)."""

    root: Path
    layout: Literal["artbench", "generic"] = "artbench"
    # generic layout: per class, the folder name (or shell patterns, e.g. [FAKE, "unseen_AI_*"]) under each split
    class_dirs: dict[Literal["ai", "human"], str | list[str]] = {"ai": "ai", "human": "human"}
    train_split: str = "train"
    val_split: str | None = "val"  # used when the folder exists; else val_fraction of train is held out
    test_split: str = "test"
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    balance: bool = True  # drop AI training images at random down to the human count, as the study did
    limit_per_class: Annotated[int, Field(ge=1)] | None = None  # a quick run on a big dataset

    @field_validator("class_dirs")
    @classmethod
    def _both_classes(cls, dirs):
        if set(dirs) != {"ai", "human"}:
            raise ValueError(f"name a folder for both ai and human, got {sorted(dirs)}")
        return dirs


class OptimizerConfig(_Strict):
    name: Literal["adam", "sgd", "rmsprop"] = "adam"
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3


class TrainConfig(_Strict):
    """How to train a model when its file does not exist (or `retrain` is set)."""

    dataset: DatasetConfig
    epochs: Annotated[int, Field(ge=1)] = 10
    batch_size: Annotated[int, Field(ge=1)] = 64
    optimizer: OptimizerConfig = OptimizerConfig()
    patience: Annotated[int, Field(ge=1)] = 3  # early stopping on validation accuracy
    cache: Literal["memory", "disk", "none"] = "memory"  # resized uint8 tensors, from epoch 2 on
    shuffle_buffer: Annotated[int, Field(ge=1)] = 10_000
    retrain: bool = False  # train even when the model file exists
    progress_every_s: Annotated[float, Field(gt=0)] = 30.0  # a progress line this often inside an epoch (not on a terminal)


class ModelConfig(_Strict):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    input_size: Annotated[int, Field(ge=8, le=1024)]
    seed_asset: str | None = None  # a path in the study's repository
    path: Path | None = None  # a local .h5 / .keras file; with `train`, where the trained model goes
    required: bool = False  # when False, an unavailable model is a warning, not an error
    train: TrainConfig | None = None  # train the model into `path` when the file is not there

    @model_validator(mode="after")
    def _one_source(self):
        if (self.seed_asset is None) == (self.path is None):
            raise ValueError("give exactly one of seed_asset or path")
        if self.train is not None and (self.path is None or self.path.suffix != ".keras"):
            raise ValueError("a model with a train block needs a path ending in .keras (where it is saved)")
        return self


class SamplesConfig(_Strict):
    manifest: str | None = None  # a CSV (path, subject, variant, truth) or a builtin name ("study")
    folder: Path | None = None  # every image below it; truth from the filename rule
    dataset: DatasetConfig | None = None  # one split of a dataset (dataset-scale robustness)
    split: str = "test"  # with dataset: which split
    from_seed_assets: bool = False  # manifest paths are paths in the study's repository
    variants: list[str] | None = None  # keep only these manifest variants (e.g. [original])
    ai_prefix: str = "ai_"  # filename rule: names starting with it are AI, the rest human
    # with folder: class folder patterns, e.g. {ai: [FAKE, "unseen_AI_*"], human: [REAL, "unseen_Human_*"]}
    classes: dict[Literal["ai", "human"], str | list[str]] | None = None
    follow_symlinks: bool = False  # folder: links are skipped (listed with the reason), not followed
    allow_missing: bool = False  # from_seed_assets: a missing or altered study file is skipped, not an error

    @model_validator(mode="after")
    def _one_source(self):
        if sum(x is not None for x in (self.manifest, self.folder, self.dataset)) != 1:
            raise ValueError("give exactly one of manifest, folder or dataset")
        if self.classes is not None and (self.folder is None or set(self.classes) != {"ai", "human"}):
            raise ValueError("classes goes with folder and names folder patterns for both ai and human")
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
    max_samples: Annotated[int, Field(ge=1)] | None = None  # only the N samples whose scores moved most (dataset runs)
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
        return no_repeats("methods", methods)


class ExecutorConfig(_Strict):
    """Where the units of a run execute (experiments.executors); never changes the tables."""

    kind: Literal["local", "processes", "ray"] = "local"
    workers: Annotated[int, Field(ge=1)] | None = None  # default: one per CPU core; ray: at most what the cluster fits
    address: str | None = None  # ray: join a cluster ("auto", "host:6379", "ray://head:10001"); none: a private local one
    num_cpus: Annotated[float, Field(gt=0)] = 1.0  # ray: CPUs per worker
    num_gpus: Annotated[float, Field(ge=0)] = 0.0  # ray: GPUs per worker (a fraction shares one GPU)
    max_retries: Annotated[int, Field(ge=0)] = 3  # a unit whose worker died is run again at most this often


class AuditConfig(_Strict):
    """The shortcut audit: does a model's score move when the file, not the picture, changes?
    (experiments.audit; the factors are described in experiments.file_factors)"""

    factors: Annotated[list[Literal[FACTORS]], Field(min_length=1)] = list(FACTORS)  # type: ignore[valid-type]
    jpeg_quality: Annotated[int, Field(ge=1, le=100)] | None = None  # the one quality; default: the lowest in the set
    short_side: Annotated[int, Field(ge=8)] | None = None  # the common short side; default: the smallest in the set
    min_shift: Annotated[float, Field(gt=0, lt=1)] = 0.05  # a mean p_ai shift smaller than this is not a dependence
    probe_folds: Annotated[int, Field(ge=2)] = 5  # cross-validation folds of the metadata probe
    max_samples: Annotated[int, Field(ge=2)] | None = None  # audit a seeded, class-stratified subset

    @field_validator("factors")
    @classmethod
    def _unique_factors(cls, factors):
        return no_repeats("factors", factors)


class EvalSetConfig(_Strict):
    """One named sample set of a cross-set evaluation (experiments.eval_sets)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    samples: SamplesConfig | None = None  # default: the run's own samples
    normalise: Literal[FACTORS] | None = None  # type: ignore[valid-type]  # score a normalised copy (audit settings)


class CrossGeneratorConfig(_Strict):
    """Train each chosen model once per generator (its images plus the humans) and test it on
    every generator: needs a train dataset in the artbench layout (experiments.eval_sets)."""

    models: Annotated[list[str], Field(min_length=1)] | None = None  # default: every model with a train block
    epochs: Annotated[int, Field(ge=1)] | None = None  # default: each model's own train.epochs


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
    part_size: Annotated[int, Field(ge=1)] = 1  # samples per resumable part file (raise it for datasets)
    bootstrap: Annotated[int, Field(ge=100)] = 1000  # resamples behind every confidence interval
    study_table: bool = True  # write the subject x variant x model table when samples have subjects
    explain: ExplainConfig | None = None  # attribution maps and their numbers; none when absent
    report: Literal["html", "none"] = "html"  # results/<run>/report/index.html at the end of a run
    max_variants: Annotated[int, Field(ge=1)] = 10_000  # a grid that expands to more is refused (counted first)
    executor: ExecutorConfig = ExecutorConfig()  # local, processes or ray; `--executor` overrides the kind
    audit: AuditConfig | None = None  # the shortcut audit (tables audit, audit_probe); none when absent
    eval_sets: Annotated[list[EvalSetConfig], Field(min_length=1)] | None = None  # cross-set evaluation (table eval_sets)
    cross_generator: CrossGeneratorConfig | None = None  # train on one generator, test on the others (table cross_generator)

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
        adding a method to a finished run computes only that method. The audit, eval_sets and
        cross_generator sections are left out too: they are computed again at each run."""
        data = self.model_dump(mode="json", exclude={"out_dir", "workers", "explain", "bootstrap", "report", "executor", "audit", "eval_sets", "cross_generator"})
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


def _with_defaults(text: str) -> str:
    """`${NAME:-default}` becomes $NAME when it is set and not empty, else `default` (as in a shell)."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1)) or m.group(2), text)


def _resolve_paths(cfg: RunConfig, base: Path, path: Path) -> RunConfig:
    def rel(p: Path | None) -> Path | None:
        """Environment variables and ~ expanded; relative paths joined to the config's folder."""
        if p is None:
            return None
        expanded = os.path.expanduser(os.path.expandvars(_with_defaults(str(p))))
        unset = re.search(r"\$\{?(\w+)", expanded)
        if unset:
            raise ConfigError(f"{path}: {p} uses the environment variable {unset.group(1)}, which is not set")
        p = Path(expanded)
        return p if p.is_absolute() else base / p

    samples, assets = cfg.samples, cfg.assets
    manifest = samples.manifest
    if manifest is not None and manifest not in BUILTIN_MANIFESTS:
        manifest = str(rel(Path(manifest)))
    def dataset(d: DatasetConfig | None) -> DatasetConfig | None:
        return d if d is None else d.model_copy(update={"root": rel(d.root)})

    def sample_set(s: SamplesConfig | None) -> SamplesConfig | None:
        if s is None:
            return None
        listed = s.manifest if s.manifest is None or s.manifest in BUILTIN_MANIFESTS else str(rel(Path(s.manifest)))
        return s.model_copy(update={"manifest": listed, "folder": rel(s.folder), "dataset": dataset(s.dataset)})

    def model(m: ModelConfig) -> ModelConfig:
        train = m.train if m.train is None else m.train.model_copy(update={"dataset": dataset(m.train.dataset)})
        return m.model_copy(update={"path": rel(m.path), "train": train})

    return cfg.model_copy(
        update={
            "out_dir": cfg.out_dir.resolve(),  # output goes below the working directory
            "assets": assets.model_copy(update={"mirror": rel(assets.mirror), "cache_dir": rel(assets.cache_dir)}),
            "models": [model(m) for m in cfg.models],
            "samples": samples.model_copy(update={"manifest": manifest, "folder": rel(samples.folder), "dataset": dataset(samples.dataset)}),
            "eval_sets": None if cfg.eval_sets is None else [e.model_copy(update={"samples": sample_set(e.samples)}) for e in cfg.eval_sets],
        }
    )


def load_config(name: str | Path) -> RunConfig:
    """Read, validate and resolve a config; every problem is one ConfigError line."""
    path = find_config(name)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); save it as UTF-8") from None
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
    # a shipped config's relative paths (models/...) are relative to the working directory
    shipped = path.resolve().parent == CONFIG_DIR.resolve()
    return _resolve_paths(cfg, Path.cwd() if shipped else path.parent.resolve(), path)
