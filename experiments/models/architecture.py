"""The study's CNN (Bird & Lotfi, CIFAKE) and loading trained copies of it.

Model code is backend-neutral Keras 3 (no `tf.*`), so it trains on the JAX backend too.
A `Detector` is a Keras model plus what is needed to use it right: its input size, its class
order (index 0 = AI, 1 = human, as the study trained it) and the name of its preprocessing.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np

from experiments.execution.quiet import import_keras_quietly
from experiments.models.detector import CLASS_NAMES, Detector, InputSpec, ModelLoadError, margin_from_probabilities
from experiments.models.training_folder import card_path, training_dir  # noqa: F401 (where callers found them)

keras = import_keras_quietly()


def build_cnn(input_size: int) -> keras.Model:
    """Conv(64,3,relu)-MaxPool-Conv(64,3,relu)-MaxPool-Flatten-Dense(64,relu)-Dense(2,softmax)."""
    return keras.Sequential(
        [
            keras.Input((input_size, input_size, 3)),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(len(CLASS_NAMES), activation="softmax"),
        ],
        name=f"cnn_{input_size}px",
    )


@dataclass(frozen=True)
class KerasDetector(Detector):
    """A Keras model whose (wrapped) output is the probability pair: the study's CNNs and any
    .h5 / .keras classifier. Its forward is the compiled fixed-shape call (xai.compiled)."""

    kind: ClassVar[str] = "keras"
    differentiable: ClassVar[bool] = True

    model: keras.Model = field(default=None, repr=False)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from xai.compiled import forward_outputs

        ai, human = self.class_names.index("ai"), self.class_names.index("human")
        if self._with_logits is None:
            probs = forward_outputs(self.model, x, max(1, len(x)))[0].astype(np.float64)
            return probs, margin_from_probabilities(probs[:, ai], probs[:, human])
        probs, logits = forward_outputs(self._with_logits, x, max(1, len(x)))
        z = logits.astype(np.float64)
        return probs.astype(np.float64), z[:, ai] - z[:, human]

    def predict_proba_and_margin(self, batch: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Class probabilities and the margin log p_ai - log p_human per image, in one compiled
        pass of fixed batches. The margin is the difference of the final layer's pre-softmax
        outputs, which equals the log-ratio exactly and does not saturate where float32
        probabilities round to 0 or 1. A model without a softmax ending gets the log-ratio of
        its probabilities, clipped at float32's smallest normal number."""
        from xai.compiled import forward_outputs

        ai, human = self.class_names.index("ai"), self.class_names.index("human")
        if len(batch) == 0:
            return np.zeros((0, len(self.class_names))), np.zeros(0)
        if self._with_logits is None:
            probs = forward_outputs(self.model, batch, batch_size)[0].astype(np.float64)
            return probs, margin_from_probabilities(probs[:, ai], probs[:, human])
        probs, logits = forward_outputs(self._with_logits, batch, batch_size)
        z = logits.astype(np.float64)
        return probs.astype(np.float64), z[:, ai] - z[:, human]

    def predict_proba(self, batch: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities for a float32 batch (N, S, S, 3); calls the model directly, in
        chunks of `batch_size` (no per-image predict, no Keras progress output)."""
        out = [
            keras.ops.convert_to_numpy(self.model(batch[i : i + batch_size], training=False))
            for i in range(0, len(batch), batch_size)
        ]
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, len(self.class_names)))

    @cached_property
    def _with_logits(self) -> keras.Model | None:
        return probabilities_and_logits(self.model)

    @cached_property
    def log_odds(self) -> keras.Model | None:
        """The network with outputs log p_c - log p_other per class c (pre-softmax logit
        differences; None without a softmax ending): a score that does not saturate, for
        deletion / insertion curves."""
        return log_odds_model(self.model)

    def parameter_count(self) -> int:
        return int(self.model.count_params())

    @property
    def explainable(self) -> keras.Model:
        return self.model

    def log_odds_scorer(self):
        """The network's log-odds outputs (None without a softmax ending: curves then follow p)."""
        return self.log_odds

    def randomised_copies(self, seed: int):
        """None: xai.sanity randomises a Keras model itself (cascading, seeded)."""
        return None, None


def probabilities_and_logits(model: keras.Model) -> keras.Model | None:
    """The same network with two outputs, (probabilities, pre-softmax logits), sharing the
    model's layers and weights; None when the model does not end in a softmax."""
    last = model.layers[-1] if model.layers else None
    activation = getattr(last, "activation", None)
    if last is None or getattr(activation, "__name__", "") != "softmax" or not hasattr(last, "get_config"):
        return None
    if isinstance(last, keras.layers.Activation):  # a softmax layer of its own (output: logits): its input, the logits
        return keras.Model(model.inputs[0], [model.outputs[0], last.input], name=f"{model.name}_with_logits")
    inputs = keras.Input(model.input_shape[1:])
    x = inputs
    for layer in model.layers[:-1]:
        x = layer(x)
    linear = type(last).from_config(last.get_config() | {"activation": "linear", "name": f"{last.name}_logits"})
    logits = linear(x)
    linear.set_weights(last.get_weights())
    return keras.Model(inputs, [activation(logits), logits], name=f"{model.name}_with_logits")


def log_odds_model(model: keras.Model) -> keras.Model | None:
    """For a two-class softmax model: outputs (z_0 - z_1, z_1 - z_0) from its logits, i.e. each
    class's log-odds log(p_c / p_other), sharing the model's layers; None otherwise."""
    net = probabilities_and_logits(model)
    if net is None or net.outputs[1].shape[-1] != 2:
        return None
    difference = keras.layers.Dense(2, use_bias=False, trainable=False, name="log_odds")
    out = difference(net.outputs[1])
    difference.set_weights([np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)])
    return keras.Model(net.input, out, name=f"{model.name}_log_odds")


def _one_line(e: BaseException, limit: int = 200) -> str:
    """An error's message on one line: its first sentence when it is long (Keras appends advice
    and the whole object config)."""
    text = " ".join(str(e).split()) or type(e).__name__
    if len(text) > limit:
        text = text.split(". ")[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_model(path: Path) -> keras.Model:
    """`keras.models.load_model` (safe mode: no code from the file runs), with every failure one
    ModelLoadError line naming the file: missing, not a .keras archive, a broken config.json
    inside it, a class Keras does not know, or whatever else the loader raises."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: not found")
    if path.suffix == ".keras":
        if not zipfile.is_zipfile(path):
            raise ModelLoadError(f"{path}: not a .keras archive (corrupt, truncated or another format)")
        try:
            with zipfile.ZipFile(path) as archive:
                json.loads(archive.read("config.json"))
        except KeyError:
            raise ModelLoadError(f"{path}: no config.json inside (not a Keras 3 .keras file)") from None
        except Exception as e:  # bad JSON, bad UTF-8, a damaged zip member
            raise ModelLoadError(f"{path}: its config.json is broken ({_one_line(e)})") from None
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises TypeError, ValueError, OSError, KeyError... for bad files
        raise ModelLoadError(f"{path}: cannot be loaded ({type(e).__name__}: {_one_line(e)})") from None


PROBE_IMAGES = 4  # seeded random images a model's outputs are checked on at load
PROBE_TOLERANCE = 1e-3  # how far from 1 a probability pair may sum


def load_keras(
    path: Path, name: str, input_size: int | None = None, output: str = "softmax", positive: str | None = None
) -> Detector:
    """Load a `.h5` (the study's Keras 2.15 files) or `.keras` model, check its shape and that
    its weights are finite, turn its declared `output` into a probability pair (index 0 = AI;
    see `as_probabilities`) and check on a probe batch that it gives one."""
    path = Path(path)
    if path.suffix not in (".h5", ".keras"):
        raise ModelLoadError(f"{path}: expected a .h5 or .keras model file")
    model = read_model(path)
    try:
        shape, outputs = tuple(model.input_shape[1:]), model.output_shape[-1]
    except Exception as e:  # not a model with one input and one output (a bare layer, a multi-input model)
        raise ModelLoadError(f"{path}: not a model with one image input and one output ({_one_line(e)})") from None
    if len(shape) != 3 or shape[0] != shape[1] or shape[2] != 3:
        raise ModelLoadError(f"{path}: expected a square RGB input, the model takes {shape}")
    if input_size is not None and shape[0] != input_size:
        raise ModelLoadError(f"{path}: config says input_size {input_size}, the model takes {shape[0]}")
    units = 1 if output == "sigmoid" else len(CLASS_NAMES)
    if outputs != units:
        wanted = "1 output (output: sigmoid)" if output == "sigmoid" else f"{units} outputs (ai, human)"
        raise ModelLoadError(f"{path}: expected {wanted}, got {outputs}")
    check_finite_weights(model, path, name)
    model = as_probabilities(model, output, positive)
    check_probabilities(model, shape[0], path, name, output)
    return KerasDetector(name=name, model=model, input=InputSpec(shape[0]), source=str(path), output=output)


def nonfinite_weights(model: keras.Model) -> str | None:
    """What is not finite in a model's weights ('2 NaN or infinite values in conv2d/kernel', the
    first variable that has any), or None when every weight is finite."""
    for variable in model.weights:
        values = keras.ops.convert_to_numpy(variable)
        if not np.isfinite(values).all():
            bad = int(np.size(values) - np.isfinite(values).sum())
            return f"{bad} NaN or infinite values in {getattr(variable, 'path', None) or variable.name}"
    return None


def check_finite_weights(model: keras.Model, path: Path, name: str) -> None:
    """Every weight finite, else one line naming the first variable that is not."""
    if found := nonfinite_weights(model):
        raise ModelLoadError(
            f"models[{name}] ({path}): weights are not finite ({found}); the file is damaged or its training diverged"
        )


def as_probabilities(model: keras.Model, output: str, positive: str | None = None) -> keras.Model:
    """The model with outputs (p_ai, p_human), sharing its layers and weights. `softmax`: as it
    is. `logits`: a softmax appended (so the margin is the logit difference, exactly). `sigmoid`:
    one unit p = P(`positive`), turned into (p, 1 - p) or (1 - p, p) by a fixed linear layer."""
    if output == "softmax":
        return model
    x = model.outputs[0]
    if output == "logits":
        probs = keras.layers.Activation("softmax", name="softmax_by_artxai")(x)
    else:
        pair = keras.layers.Dense(2, trainable=False, name="pair_by_artxai")
        probs = pair(x)
        first = CLASS_NAMES.index(positive or "ai")
        weights, bias = np.full((1, 2), -1.0, np.float32), np.ones(2, np.float32)
        weights[0, first], bias[first] = 1.0, 0.0
        pair.set_weights([weights, bias])
    return keras.Model(model.inputs[0], probs, name=f"{model.name}_{output}")


def check_probabilities(model: keras.Model, size: int, path: Path, name: str, output: str) -> None:
    """On PROBE_IMAGES seeded random images: finite, non-negative outputs whose rows sum to 1
    (within PROBE_TOLERANCE); else one line saying what was seen and what to declare."""
    probe = np.random.default_rng(0).random((PROBE_IMAGES, size, size, 3), dtype=np.float32)
    p = keras.ops.convert_to_numpy(model(probe, training=False)).astype(np.float64)
    sums = p.sum(axis=1)
    if np.isfinite(p).all() and p.min() >= 0 and np.abs(sums - 1).max() <= PROBE_TOLERANCE:
        return
    finite = np.isfinite(p).all()
    seen = f"min {p.min():.3g}, row sums {sums.min():.3g} to {sums.max():.3g}" if finite else "not finite"
    advice = "declare output: logits or output: sigmoid" if output == "softmax" else f"output: {output} gives none"
    seen += f" on {PROBE_IMAGES} random images"
    raise ModelLoadError(f"models[{name}] ({path}): outputs are not probabilities ({seen}); {advice}")
