"""Starting a training from a model file (`train.init_from`): the study's 32 px weights, a
CIFAKE-trained model, any `.h5` / `.keras` file of artxai's CNN.

The source's layers that hold weights are paired in order with those of the network training
builds (experiments.models.architecture.build_cnn); they must be the same kinds of layer. At the
same input size every weight must have the same shape. At another input size (cnn32's weights
into cnn128) the convolution kernels, whose shapes do not depend on the input size, are copied,
and a dense layer whose input grew with the image keeps its fresh initialisation; any other
difference is another architecture. What was copied goes into the model card (`init`).
"""

from __future__ import annotations

from pathlib import Path

from experiments.config.fields import ConfigError
from experiments.inputs.fingerprints import file_sha256
from experiments.models.architecture import ModelLoadError, keras, nonfinite_weights, read_model

FIELD = "train.init_from"


def _weighted(model: keras.Model) -> list:
    return [layer for layer in model.layers if layer.weights]


def _shapes(layer) -> list[tuple]:
    return [tuple(w.shape) for w in layer.weights]


def source_model(path: Path, name: str) -> keras.Model:
    """The model file `init_from` names, loaded; ConfigError (one line naming the field) if it
    cannot be, or if a weight is not finite (a training started from it would learn nothing)."""
    if path.suffix not in (".h5", ".keras"):
        raise ConfigError(f"models[{name}].{FIELD}: {path} is not a .h5 or .keras model file")
    try:
        model = read_model(path)
    except ModelLoadError as e:
        raise ConfigError(f"models[{name}].{FIELD}: {e}") from None
    if found := nonfinite_weights(model):
        raise ConfigError(
            f"models[{name}].{FIELD}: {path}: weights are not finite ({found}); give a model file whose weights are"
        )
    return model


def transfer_plan(source: keras.Model, target: keras.Model, path: Path, name: str) -> list[bool]:
    """Per weighted layer of `target`: True when the source's weights are copied into it, False
    when it keeps its initialisation; ConfigError when `source` is another architecture."""
    theirs, ours = _weighted(source), _weighted(target)
    kinds = [type(layer).__name__ for layer in theirs], [type(layer).__name__ for layer in ours]
    same_size = tuple(source.input_shape[1:]) == tuple(target.input_shape[1:])
    plan = []
    if kinds[0] == kinds[1]:
        for a, b in zip(theirs, ours):
            fits = _shapes(a) == _shapes(b)
            grown = isinstance(b, keras.layers.Dense) and not same_size and _shapes(a)[1:] == _shapes(b)[1:]
            if not fits and not grown:
                break
            plan.append(fits)
    if len(plan) != len(ours) or not any(plan):
        found = ", ".join(f"{k}{s[0] if s else ''}" for k, s in zip(kinds[0], map(_shapes, theirs))) or "no weights"
        raise ConfigError(
            f"models[{name}].{FIELD}: {path} is another architecture than artxai's CNN at "
            f"{target.input_shape[1]} px (its layers: {found}); give a model file of the same architecture"
        )
    return plan


def initialise(model: keras.Model, path: Path, name: str) -> dict:
    """Copy the weights of the model file at `path` into `model` where they fit (see the
    module's docstring); what was copied, for the model card."""
    source = source_model(path, name)
    plan = transfer_plan(source, model, path, name)
    for copy, a, b in zip(plan, _weighted(source), _weighted(model)):
        if copy:
            b.set_weights(a.get_weights())
    layers = [layer.name for layer in _weighted(model)]
    return {
        "from": str(path),
        "sha256": file_sha256(path),
        "source_input_size": int(source.input_shape[1]),
        "layers_copied": [n for n, c in zip(layers, plan) if c],
        "layers_initialised": [n for n, c in zip(layers, plan) if not c],
    }


def check_init_from(name: str, path: Path, input_size: int) -> None:
    """The preflight's check: ConfigError, one line naming the field, unless `path` can start a
    training of artxai's CNN at `input_size`."""
    from experiments.models.architecture import build_cnn

    if not path.is_file():
        raise ConfigError(f"models[{name}].{FIELD}: {path} not found")
    transfer_plan(source_model(path, name), build_cnn(input_size), path, name)
