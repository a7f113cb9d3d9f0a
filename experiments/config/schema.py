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
from pydantic import (
    AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
    model_validator,
)  # fmt: skip

from augment import GridError, Variant, expand_grid
from experiments.config.paths import ConfigPath, OutputPath, config_path
from experiments.config.yaml_limits import YAMLLimit, load_yaml
from experiments.config.messages import cut, one_line
from xai.methods import NAMES as METHOD_NAMES

# the file factors an audit may take away, one at a time or all (experiments.inputs.file_factors)
FACTORS = ("jpeg", "png", "size", "metadata", "all")

CONFIG_DIR = Path(__file__).parents[1] / "configs"
BUILTIN_MANIFESTS = {"study": Path(__file__).parents[1] / "data" / "study_samples.csv"}
MAX_COUNT = 2**31 - 1  # any count: a 32-bit signed integer, as TensorFlow's sizes are
MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's seeds


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


def one_path_component(name: str) -> str:
    """A name that becomes a file or folder name: one component, not "." or ".." (the pattern
    already keeps out "/", NUL, control characters and the empty name)."""
    if name in (".", ".."):
        raise ValueError(f"must be one file name, not {name!r} (it would name the folder above or this one)")
    return name


SafeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$"), AfterValidator(one_path_component)]


GeneratorName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]  # a generator's or source's name in tables


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the field. It is one line,
    cut to a bound (experiments.config.messages), whatever values it quotes."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # NaN: "a finite number"


class AssetsConfig(_Strict):
    mirror: ConfigPath | None = None  # default: $ARTXAI_SEED_MIRROR
    cache_dir: ConfigPath | None = None  # default: $ARTXAI_CACHE or ~/.cache/artxai
    base_url: str | None = None  # default: the study's repository on GitHub; "" turns downloads off
    timeout_s: Annotated[float, Field(gt=0)] = 30.0


class DatasetConfig(_Strict):
    """An image dataset on disk (see experiments.inputs.datasets for the layouts)."""

    root: ConfigPath
    layout: Literal["artbench", "generic"] = "artbench"
    # generic layout: per class, the folder name (or shell patterns, e.g. [FAKE, "unseen_AI_*"]) under each split
    class_dirs: dict[Literal["ai", "human"], str | list[str]] = {"ai": "ai", "human": "human"}
    train_split: str = "train"
    val_split: str | None = "val"  # used when the folder exists; else val_fraction of train is held out
    test_split: str = "test"
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    balance: bool = True  # drop AI training images at random down to the human count, as the study did
    limit_per_class: Annotated[int, Field(ge=1, le=MAX_COUNT)] | None = None  # a quick run on a big dataset
    # generic layout: the sub-folder below a class folder names the generator (AI) or the source (human):
    # "subfolder" takes its name as it is; a mapping renames some ({original_ldm: latent_diffusion}), the rest keep
    # theirs. Left out of dumps when absent, so datasets without it keep their fingerprints
    # ([Generators](generators.md)).
    generator_from: Literal["subfolder"] | dict[str, GeneratorName] | None = Field(None, exclude_if=lambda v: v is None)
    # keep only these generators' AI images (every human image stays): what the cross-generator matrix trains on
    generators: Annotated[list[GeneratorName], Field(min_length=1)] | None = Field(None, exclude_if=lambda v: v is None)

    @model_validator(mode="after")
    def _generators_in_generic(self):
        if self.generator_from is not None and self.layout != "generic":
            raise ValueError("generator_from goes with layout: generic (AI-ArtBench's folders name their generators)")
        return self

    @field_validator("class_dirs")
    @classmethod
    def _both_classes(cls, dirs):
        if set(dirs) != {"ai", "human"}:
            raise ValueError(f"name a folder for both ai and human, got {sorted(dirs)}")
        return dirs


class OptimizerConfig(_Strict):
    name: Literal["adam", "sgd", "rmsprop"] = "adam"
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3


class TrainAugmentConfig(_Strict):
    """Seeded train-time augmentation (experiments.models.train_augment): each training image,
    each epoch, gets a fresh draw of these edits; every one is off at its default."""

    flip: Annotated[float, Field(ge=0, le=1)] = 0.0  # probability of a horizontal flip
    crop: Annotated[float, Field(gt=0, le=1)] = 1.0  # a random square crop keeping this share of the side, or more
    brightness: Annotated[float, Field(ge=0, le=1)] = 0.0  # shift drawn from [-b, b]
    contrast: Annotated[float, Field(ge=0, le=1)] = 0.0  # change drawn from [-c, c]
    saturation: Annotated[float, Field(ge=0, le=1)] = 0.0  # factor drawn from [1 - s, 1 + s]
    hue: Annotated[float, Field(ge=0, le=180)] = 0.0  # degrees drawn from [-h, h]
    jpeg_quality: tuple[Annotated[int, Field(ge=1, le=100)], Annotated[int, Field(ge=1, le=100)]] | None = None

    @field_validator("jpeg_quality")
    @classmethod
    def _ordered(cls, q):
        if q is not None and q[0] > q[1]:
            raise ValueError(f"give [lowest, highest] quality, got {list(q)}")
        return q


class TrainConfig(_Strict):
    """How to train a model when its file does not exist (or `retrain` is set)."""

    dataset: DatasetConfig
    epochs: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 10
    batch_size: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 64
    optimizer: OptimizerConfig = OptimizerConfig()
    patience: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 3  # early stopping on validation accuracy
    cache: Literal["memory", "disk", "none"] = "memory"  # resized uint8 tensors, from epoch 2 on
    shuffle_buffer: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 10_000
    retrain: bool = False  # train even when the model file exists
    progress_every_s: Annotated[float, Field(gt=0)] = (
        30.0  # a progress line this often inside an epoch (not on a terminal)
    )
    # start from the weights of a model file of the same architecture (.h5 / .keras; experiments.models.init_weights);
    # fine_tune_learning_rate replaces optimizer.learning_rate when it does. Left out of dumps when unset.
    init_from: ConfigPath | None = Field(None, exclude_if=lambda v: v is None)
    fine_tune_learning_rate: Annotated[float, Field(gt=0)] | None = Field(None, exclude_if=lambda v: v is None)
    augment: TrainAugmentConfig | None = Field(None, exclude_if=lambda v: v is None)


class ModelConfig(_Strict):
    name: SafeName
    input_size: Annotated[int, Field(ge=8, le=1024)]
    seed_asset: str | None = None  # a path in the study's repository
    path: ConfigPath | None = None  # a local .h5 / .keras file; with `train`, where the trained model goes
    required: bool = False  # when False, an unavailable model is a warning, not an error
    train: TrainConfig | None = None  # train the model into `path` when the file is not there
    # what the model's last layer gives (experiments.models.architecture.as_probabilities): softmax = (p_ai, p_human);
    # logits = two raw scores, artxai applies the softmax; sigmoid = one unit, the probability of `positive`.
    # Left out of dumps at their defaults, so configs without them keep their fingerprints.
    output: Literal["softmax", "logits", "sigmoid"] = Field("softmax", exclude_if=lambda v: v == "softmax")
    positive: Literal["ai", "human"] | None = Field(None, exclude_if=lambda v: v is None)
    # the generators the model was trained on (per-generator evaluation's seen / unseen); default: AI-ArtBench's two
    # for the study's models, its training record's for a model artxai trained (experiments.stages.generators)
    trained_on: list[GeneratorName] | None = Field(None, exclude_if=lambda v: v is None)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.seed_asset is None) == (self.path is None):
            raise ValueError("give exactly one of seed_asset or path")
        if (self.output == "sigmoid") != (self.positive is not None):
            raise ValueError(
                "output: sigmoid needs positive: ai or human (what its one output is the probability of); "
                "only it takes one"
            )
        if self.train is not None and self.output != "softmax":
            raise ValueError("a model with a train block is artxai's CNN, whose output is a softmax: leave output out")
        if self.train is not None and (self.path is None or self.path.suffix != ".keras"):
            raise ValueError("a model with a train block needs a path ending in .keras (where it is saved)")
        return self


class SamplesConfig(_Strict):
    manifest: Manifest | None = None  # a CSV (path, subject, variant, truth) or a builtin name ("study")
    folder: ConfigPath | None = None  # every image below it; truth from the filename rule
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
    max_pixels: Annotated[int, Field(gt=0, le=MAX_COUNT)] = 89_478_485
    min_side: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 8
    exif_transpose: bool = False


EXPLAIN_METHODS = METHOD_NAMES  # xai.methods' registry, in its order


class ExplainConfig(_Strict):
    """Which maps to make, of which images, and the settings that change them."""

    methods: Annotated[list[Literal[EXPLAIN_METHODS]], Field(min_length=1)] = [  # type: ignore[valid-type]
        "saliency", "smoothgrad", "gradcam", "gradcam++", "scorecam", "layercam", "lime", "random",
    ]  # fmt: skip
    images: Literal["originals", "all", "top_k"] = "top_k"  # top_k: the unedited image + the k largest |delta p_ai|
    top_k: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 5
    max_samples: Annotated[int, Field(ge=1, le=MAX_COUNT)] | None = (
        None  # only the N samples whose scores moved most (dataset runs)
    )
    target: Literal["predicted", "ai", "human"] = "ai"  # ai: maps explain p_ai, the score the tables track
    lime_samples: Annotated[int, Field(ge=10, le=MAX_COUNT)] = 1000
    lime_segments: Annotated[int, Field(ge=2, le=MAX_COUNT)] = 50
    display_size: Annotated[int, Field(ge=32, le=2048)] = 256  # long side of overlays and LIME superpixels
    top_fraction: Annotated[float, Field(gt=0, le=1)] = 0.1  # "top pixels" for IoU
    faithfulness_steps: Annotated[int, Field(ge=2, le=MAX_COUNT)] = 16
    sanity: bool = True  # cascading model-parameter randomisation on the unedited images
    pictures: bool = True  # overlay PNGs and per-sample grids

    @field_validator("methods")
    @classmethod
    def _unique_methods(cls, methods):
        return no_repeats("methods", methods)


class ExecutorConfig(_Strict):
    """Where the units of a run execute (experiments.execution.executors); never changes the tables."""

    kind: Literal["local", "processes", "ray"] = "local"
    workers: Annotated[int, Field(ge=1, le=MAX_COUNT)] | None = (
        None  # default: one per CPU core; ray: at most what the cluster fits
    )
    address: str | None = (
        None  # ray: join a cluster ("auto", "host:6379", "ray://head:10001"); none: a private local one
    )
    num_cpus: Annotated[float, Field(gt=0)] = 1.0  # ray: CPUs per worker
    num_gpus: Annotated[float, Field(ge=0)] = 0.0  # ray: GPUs per worker (a fraction shares one GPU)
    max_retries: Annotated[int, Field(ge=0, le=MAX_COUNT)] = (
        3  # a unit whose worker died is run again at most this often
    )


class AuditConfig(_Strict):
    """The shortcut audit: does a model's score move when the file, not the picture, changes?
    (experiments.stages.audit; the factors are described in experiments.inputs.file_factors)"""

    factors: Annotated[list[Literal[FACTORS]], Field(min_length=1)] = list(FACTORS)  # type: ignore[valid-type]
    jpeg_quality: Annotated[int, Field(ge=1, le=100)] | None = None  # the one quality; default: the lowest in the set
    short_side: Annotated[int, Field(ge=8, le=MAX_COUNT)] | None = (
        None  # the common short side; default: the smallest in the set
    )
    min_shift: Annotated[float, Field(gt=0, lt=1)] = 0.05  # a mean p_ai shift smaller than this is not a dependence
    probe_folds: Annotated[int, Field(ge=2, le=MAX_COUNT)] = 5  # cross-validation folds of the metadata probe
    max_samples: Annotated[int, Field(ge=2, le=MAX_COUNT)] | None = None  # audit a seeded, class-stratified subset
    # re-encode each class at the other class's typical JPEG quality / size (experiments.stages.cue_reversal)
    reversal: bool = Field(False, exclude_if=lambda v: not v)

    @field_validator("factors")
    @classmethod
    def _unique_factors(cls, factors):
        return no_repeats("factors", factors)


class EvalSetConfig(_Strict):
    """One named sample set of a cross-set evaluation (experiments.stages.eval_sets)."""

    name: SafeName
    samples: SamplesConfig | None = None  # default: the run's own samples
    normalise: Literal[FACTORS] | None = None  # type: ignore[valid-type]  # score a normalised copy (audit settings)


class CrossGeneratorConfig(_Strict):
    """Train each chosen model once per generator (its images plus the humans: `single`) and once
    without each generator (`leave_one_out`), and test every copy on every generator: needs a
    train dataset whose test split names two generators or more (AI-ArtBench's layout, or a
    generic one with generator_from; experiments.stages.cross_generator)."""

    models: Annotated[list[str], Field(min_length=1)] | None = None  # default: every model with a train block
    epochs: Annotated[int, Field(ge=1, le=MAX_COUNT)] | None = None  # default: each model's own train.epochs
    designs: Annotated[list[Literal["single", "leave_one_out"]], Field(min_length=1)] = ["single", "leave_one_out"]

    @field_validator("designs")
    @classmethod
    def _unique_designs(cls, designs):
        return no_repeats("designs", designs)


class CorruptionConfig(_Strict):
    """The corruption score (experiments.stages.corruption; docs/corruption-score.md)."""

    reference: str | None = None  # a model of `models`: each model's score relative to it (ImageNet-C's normalisation)


class RunConfig(_Strict):
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
        field = ".".join(str(p) for p in err["loc"])
        value = f" (got {cut(repr(err['input']))})" if "input" in err and not isinstance(err["input"], dict) else ""
        raise ConfigError(f"{path}: {field}: {err['msg'].removeprefix('Value error, ')}{value}") from None
    except GridError as e:
        raise ConfigError(f"{path}: {e}") from None
    return cfg
