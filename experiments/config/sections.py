"""The run config's other sections: assets, samples, decoding limits, explanations, the executor,
the shortcut audit, cross-set evaluation, the cross-generator matrix and the corruption score."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from experiments.config.fields import MAX_COUNT, Manifest, SafeName, Strict, no_repeats
from experiments.config.model_blocks import DatasetConfig
from experiments.config.paths import ConfigPath
from xai.methods import NAMES as METHOD_NAMES

# the file factors an audit may take away, one at a time or all (experiments.inputs.file_factors)
FACTORS = ("jpeg", "png", "size", "metadata", "all")
REVERSIBLE = ("jpeg", "size")  # the factors a cue reversal re-encodes (experiments.stages.cue_reversal)


class AssetsConfig(Strict):
    mirror: ConfigPath | None = None  # default: $ARTXAI_SEED_MIRROR
    cache_dir: ConfigPath | None = None  # default: $ARTXAI_CACHE or ~/.cache/artxai
    base_url: str | None = None  # default: the study's repository on GitHub; "" turns downloads off
    timeout_s: Annotated[float, Field(gt=0)] = 30.0


class SamplesConfig(Strict):
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


class PreprocessConfig(Strict):
    max_pixels: Annotated[int, Field(gt=0, le=MAX_COUNT)] = 89_478_485
    min_side: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 8
    exif_transpose: bool = False


EXPLAIN_METHODS = METHOD_NAMES  # xai.methods' registry, in its order


class ExplainConfig(Strict):
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


class ExecutorConfig(Strict):
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


class AuditConfig(Strict):
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

    @model_validator(mode="after")
    def _reversible(self):
        if self.reversal and not set(self.factors) & set(REVERSIBLE):
            raise ValueError(
                f"reversal: true reverses {' or '.join(REVERSIBLE)}, and factors {self.factors} has neither; "
                "add one or drop reversal"
            )
        return self


class EvalSetConfig(Strict):
    """One named sample set of a cross-set evaluation (experiments.stages.eval_sets)."""

    name: SafeName
    samples: SamplesConfig | None = None  # default: the run's own samples
    normalise: Literal[FACTORS] | None = None  # type: ignore[valid-type]  # score a normalised copy (audit settings)


class CrossGeneratorConfig(Strict):
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


class CorruptionConfig(Strict):
    """The corruption score (experiments.stages.corruption; docs/corruption-score.md)."""

    reference: str | None = None  # a model of `models`: each model's score relative to it (ImageNet-C's normalisation)
