"""A model's block of a run config: the model file or study asset, its output, and how artxai
trains it (the dataset, the optimiser, train-time augmentation)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from experiments.config.fields import MAX_COUNT, NAME_PATTERN, RESERVED_NAMES, GeneratorName, SafeName, Strict
from experiments.config.messages import cut
from experiments.config.paths import ConfigPath, config_path

Positive = Annotated[float, Field(gt=0)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def generator_mapping(value: object) -> object:
    """generator_from as given: `subfolder`, or a mapping {folder: name} whose every name can
    label a table (letters, digits, _ . -) and is not a reserved word; else one error naming
    the folder and the name."""
    if isinstance(value, str) and value != "subfolder":
        raise ValueError("give subfolder or a mapping {folder: name}")
    for folder, name in value.items() if isinstance(value, dict) else ():
        where = f"the name for folder {cut(repr(folder))}"
        if not isinstance(folder, str):
            raise ValueError(f"{where} is not text; quote it")
        if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
            raise ValueError(f"{where}, {cut(repr(name))}, may hold only letters, digits and _ . -")
        if name in RESERVED_NAMES:
            raise ValueError(f"{where}, {name!r}, is reserved (it labels {RESERVED_NAMES[name]}); choose another")
    return value


class DatasetConfig(Strict):
    """An image dataset on disk (see experiments.inputs.datasets for the layouts)."""

    root: ConfigPath
    layout: Literal["artbench", "generic"] = "artbench"
    # generic layout: per class, the folder name (or shell patterns, e.g. [FAKE, "unseen_AI_*"]) under each split
    class_dirs: dict[Literal["ai", "human"], str | list[str]] = {"ai": "ai", "human": "human"}
    train_split: str = "train"
    val_split: str | None = "val"  # used when the folder exists; else val_fraction of train is held out
    test_split: str = "test"
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    balance: bool = True  # drop training images of the larger class at random down to the smaller's count
    limit_per_class: Annotated[int, Field(ge=1, le=MAX_COUNT)] | None = None  # a quick run on a big dataset
    # generic layout: the sub-folder below a class folder names the generator (AI) or the source (human):
    # "subfolder" takes its name as it is; a mapping renames some ({original_ldm: latent_diffusion}), the rest keep
    # theirs. Left out of dumps when absent, so datasets without it keep their fingerprints
    # ([Generators](generators.md)).
    generator_from: Literal["subfolder"] | dict[str, GeneratorName] | None = Field(None, exclude_if=lambda v: v is None)
    # keep only these generators' AI images (every human image stays): what the cross-generator matrix trains on
    generators: Annotated[list[GeneratorName], Field(min_length=1)] | None = Field(None, exclude_if=lambda v: v is None)

    _generator_mapping = field_validator("generator_from", mode="before")(generator_mapping)

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


# the smallest input side artxai's CNN (experiments.models.architecture.build_cnn) can take: its two valid 3x3
# convolutions and two 2x2 poolings leave one pixel of 10 (10 -> 8 -> 4 -> 2 -> 1) and none of 9
MIN_CNN_INPUT = 10


class OptimizerConfig(Strict):
    name: Literal["adam", "sgd", "rmsprop"] = "adam"
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3


class TrainAugmentConfig(Strict):
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


class TrainConfig(Strict):
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

    @model_validator(mode="after")
    def _fine_tune_needs_init_from(self):
        if self.fine_tune_learning_rate is not None and self.init_from is None:
            raise ValueError(
                f"fine_tune_learning_rate: {self.fine_tune_learning_rate} is used only with init_from (a training "
                "that starts from a model file); set init_from, or optimizer.learning_rate for a training from scratch"
            )
        return self


class InputConfig(Strict):
    """How an ONNX detector's input is made from an image (experiments.models.detector.InputSpec
    for the picture; then /255, (x - mean) / std per channel, and the layout)."""

    size: Annotated[int, Field(ge=8, le=1024)]
    layout: Literal["nchw", "nhwc"] = "nchw"  # PyTorch exports are NCHW
    resize: Literal["nearest", "bilinear", "bicubic", "lanczos"] = "bilinear"
    crop: Literal["none", "centre"] = "none"  # centre: shortest side to size, then the centre square
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[Positive, Positive, Positive] = (1.0, 1.0, 1.0)


class ProbeTrainConfig(Strict):
    """How artxai fits an embedding detector's linear head (experiments.models.probe): logistic
    regression on the encoder's embeddings of the training split, its regularisation chosen by
    cross-validation on that split alone."""

    dataset: DatasetConfig
    folds: Annotated[int, Field(ge=2, le=20)] = 5
    retrain: bool = False


class ProbeBlock(dict):
    """A train block as given, marked as an embedding detector's (ModelConfig._probe_training)."""


def train_kind(value: object) -> str:
    """Which train block `value` is: `probe` (an embedding detector's), else `cnn`. The tag is
    left out of error messages (UNION_TAGS)."""
    return "probe" if isinstance(value, (ProbeBlock, ProbeTrainConfig)) else "cnn"


UNION_TAGS = ("cnn", "probe")  # discriminator tags in an error's location, not fields

KIND_FIELDS = {  # the fields only some kinds of detector take
    "input_size": "keras",
    "seed_asset": "keras",
    "input": "onnx or embedding",
    "classes": "onnx",
    "encoder": "embedding",
    "head": "embedding",
    "encoder_sha256": "embedding",
}


def name_or_path(names: str):
    """A validator: a catalogue entry's name as it is (experiments.config.catalogue `names`),
    else a path relative to the config's folder."""

    def check(value: object, info: ValidationInfo) -> object:
        from experiments.config import catalogue

        if isinstance(value, str) and value in getattr(catalogue, names):
            return value
        return config_path(value, info)

    return check


class ModelConfig(Strict):
    name: SafeName
    # the backend (experiments.models.backends): keras (.h5 / .keras), onnx (any ONNX classifier) or embedding
    # (an ONNX image encoder, L2-normalised, then a linear head). Left out of dumps at keras.
    kind: Literal["keras", "onnx", "embedding"] = Field("keras", exclude_if=lambda v: v == "keras")
    input_size: Annotated[int, Field(ge=8, le=1024)] | None = Field(None, exclude_if=lambda v: v is None)
    seed_asset: str | None = None  # a path in the study's repository
    path: ConfigPath | None = None  # a local model file; with `train`, where the trained model (or probe) goes
    required: bool = False  # when False, an unavailable model is a warning, not an error
    # train the model into `path` when the file is not there: a CNN's training, or an embedding detector's probe
    train: (
        Annotated[
            Annotated[TrainConfig, Tag("cnn")] | Annotated[ProbeTrainConfig, Tag("probe")], Discriminator(train_kind)
        ]
        | None
    ) = None
    # what the model's last layer gives (experiments.models.architecture.as_probabilities): softmax = (p_ai, p_human);
    # logits = two raw scores, artxai applies the softmax; sigmoid = one unit, the probability of `positive`.
    # Left out of dumps at their defaults, so configs without them keep their fingerprints.
    output: Literal["softmax", "logits", "sigmoid"] = Field("softmax", exclude_if=lambda v: v == "softmax")
    positive: Literal["ai", "human"] | None = Field(None, exclude_if=lambda v: v is None)
    # the generators the model was trained on (per-generator evaluation's seen / unseen); default: AI-ArtBench's two
    # for the study's models, its training record's for a model artxai trained (experiments.stages.generators)
    trained_on: list[GeneratorName] | None = Field(None, exclude_if=lambda v: v is None)
    # onnx and embedding detectors (docs/detectors.md); each left out of dumps when unset
    input: InputConfig | None = Field(None, exclude_if=lambda v: v is None)
    classes: tuple[Literal["ai", "human"], Literal["ai", "human"]] = Field(
        ("ai", "human"), exclude_if=lambda v: tuple(v) == ("ai", "human")
    )  # what a two-output model's outputs are, in order
    encoder: Annotated[str | Path, BeforeValidator(name_or_path("ENCODERS"))] | None = Field(
        None, exclude_if=lambda v: v is None
    )  # a catalogue encoder's name, or a user's .onnx encoder file (then `input` gives its preprocessing)
    head: Annotated[str | Path, BeforeValidator(name_or_path("HEADS"))] | None = Field(
        None, exclude_if=lambda v: v is None
    )  # a catalogue head's name, or a .json ({weights, bias}) / .npz (w, b) file
    sha256: Sha256 | None = Field(None, exclude_if=lambda v: v is None)  # `path`'s file must have this digest
    encoder_sha256: Sha256 | None = Field(None, exclude_if=lambda v: v is None)  # a user's encoder file's digest
    providers: list[str] | None = Field(None, exclude_if=lambda v: v is None)  # onnxruntime's, in order

    @model_validator(mode="before")
    @classmethod
    def _probe_training(cls, data):
        """An embedding detector's train block is a probe's (ProbeTrainConfig): marked so for `train`'s
        discriminator, which cannot see the model's kind."""
        if isinstance(data, dict) and data.get("kind") == "embedding" and isinstance(data.get("train"), dict):
            return data | {"train": ProbeBlock(data["train"])}
        return data

    @model_validator(mode="after")
    def _fields_of_its_kind(self):
        for name, kinds in KIND_FIELDS.items():
            value = getattr(self, name)
            given = value is not None and not (name == "classes" and tuple(value) == ("ai", "human"))
            if given and self.kind not in kinds.split(" or "):
                raise ValueError(f"models[{self.name}].{name}: only a {kinds} detector takes it (kind: {self.kind})")
        if self.providers is not None and self.kind == "keras" and self.train is not None:
            raise ValueError(
                f"models[{self.name}].providers: a Keras model with a train block scores with TensorFlow; "
                "providers apply to a Keras file's ONNX copy"
            )
        return self

    @model_validator(mode="after")
    def _one_source(self):
        if self.kind == "onnx":
            return self._onnx_fields()
        if self.kind == "embedding":
            return self._embedding_fields()
        if self.input_size is None:
            raise ValueError(f"models[{self.name}].input_size: a keras model needs it")
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
        if self.train is not None and self.input_size < MIN_CNN_INPUT:
            raise ValueError(
                f"models[{self.name}].input_size: {self.input_size} px is too small for artxai's CNN (a model with a "
                f"train block); the least is {MIN_CNN_INPUT} px"
            )
        return self

    def _onnx_fields(self):
        where = f"models[{self.name}]"
        if self.path is None or self.input is None:
            raise ValueError(f"{where}: an onnx detector needs path (the .onnx file) and input (its preprocessing)")
        if self.train is not None:
            raise ValueError(f"{where}.train: artxai trains its CNN and embedding probes, not an ONNX graph")
        if (self.output == "sigmoid") != (self.positive is not None):
            raise ValueError(f"{where}: output: sigmoid needs positive: ai or human; only it takes one")
        if len(set(self.classes)) != 2:
            raise ValueError(f"{where}.classes: name ai and human once each, in the outputs' order")
        return self

    def _embedding_fields(self):
        where = f"models[{self.name}]"
        if isinstance(self.encoder, Path) and self.input is None:
            raise ValueError(f"{where}.input: a user's encoder file needs its preprocessing (size, mean, std, ...)")
        if isinstance(self.encoder, str) and self.input is not None:
            raise ValueError(f"{where}.input: the catalogue encoder {self.encoder} has its own preprocessing")
        if self.encoder is None:
            raise ValueError(f"{where}.encoder: an embedding detector needs one (a catalogue name or an .onnx file)")
        if (self.head is None) == (self.path is None):
            raise ValueError(f"{where}: give a head (a catalogue name or a .json / .npz file) or a path (a probe)")
        if self.train is not None and (self.path is None or self.path.suffix != ".npz"):
            raise ValueError(f"{where}.path: a probe artxai fits is saved as .npz; give a path ending in .npz")
        if self.output != "softmax" or self.positive is not None:
            raise ValueError(f"{where}.output: an embedding detector's head gives p(AI); leave output out")
        return self
