"""Model-parameter randomisation (Adebayo et al., "Sanity Checks for Saliency Maps", 2018).

Copies of a trained model with its weighted layers re-initialised cumulatively from the top
(output layer first). A method whose maps stay the same while the model it explains is
destroyed is not explaining the model. Compare each copy's maps with the trained model's maps
(xai.similarity): similarity should fall as more layers are randomised.

One copy per model is made (`sanity_copy`) and its weights are set for each check. LIME's
randomised copies share everything below their first randomised layer with the trained model:
`cascade_predict` runs the trained layers once per batch and branches off each depth's random
layers from there, so the depths that randomise only the dense layers cost no convolution.

A model that is not a Keras model (a callable of images, xai.predict) cannot be randomised here:
`sanity_maps` takes its randomised copies from the caller (`randomised`), e.g. an ONNX graph's
copies from xai.onnx_randomise.cascading_onnx, each run through its runtime.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence

import keras
import numpy as np

from xai import compiled
from xai.predict import is_keras, probabilities


def _glorot_uniform(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Keras' default kernel initialiser: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = np.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def randomised_weights(model: keras.Model, seed: int = 0) -> list[tuple[int, str, list[np.ndarray]]]:
    """(layer index, layer name, new weights) for each weighted layer, output layer first:
    kernels Glorot-uniform, biases zero, drawn from one generator seeded with `seed`."""
    rng = np.random.default_rng(seed)
    draws = []
    for index in reversed(range(len(model.layers))):
        weights = model.layers[index].get_weights()
        if weights:
            draws.append(
                (
                    index,
                    model.layers[index].name,
                    [_glorot_uniform(w.shape, rng) if w.ndim > 1 else np.zeros_like(w) for w in weights],
                )
            )
    return draws


_copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def sanity_copy(model: keras.Model) -> keras.Model:
    """The one copy of `model` (same architecture, its own variables) that checks randomise."""
    if model not in _copies:
        _copies[model] = keras.models.clone_model(model)
    return _copies[model]


def cascading_randomisation(model: keras.Model, seed: int = 0) -> Iterator[tuple[str, keras.Model]]:
    """(name of the last layer randomised, model copy) with 1, 2, ... weighted layers
    re-initialised from the top (see `randomised_weights`). One copy is yielded again and again,
    randomised one layer further each time: use it before advancing. The model passed in is not
    changed."""
    copy = sanity_copy(model)
    compiled.copy_weights(model, copy)
    for index, name, weights in randomised_weights(model, seed):
        copy.layers[index].set_weights(weights)
        yield name, copy


def independent_randomisation(model: keras.Model, seed: int = 0) -> Iterator[tuple[str, keras.Model]]:
    """(name of the layer randomised, model copy) for each weighted layer, output layer first,
    with that layer alone re-initialised (as `randomised_weights` draws it) and every other layer
    trained: the independent variant of Adebayo et al.'s check. One copy is yielded again and
    again: use it before advancing. The model passed in is not changed."""
    copy = sanity_copy(model)
    for index, name, weights in randomised_weights(model, seed):
        compiled.copy_weights(model, copy)
        copy.layers[index].set_weights(weights)
        yield name, copy


def random_logit_similarity(
    model: keras.Model, images: np.ndarray, method: str, *, seed: int = 0, **options
) -> np.ndarray:
    """The random-logit check (Sixt et al. 2020): per image, the Spearman of the map of the class
    the model predicted with the map of another class, drawn at random (seeded); a map that
    explains the model's decision should change (low similarity)."""
    from xai.attributions import resolve_targets
    from xai.explain import explain
    from xai.similarity import spearman

    predicted = resolve_targets(model, images, "predicted", None)
    classes = model.output_shape[-1] if is_keras(model) else probabilities(model, images[:1]).shape[-1]
    if classes < 2:
        raise ValueError(f"model: the random-logit check needs 2 or more classes, the output has {classes}")
    rng = np.random.default_rng(seed)
    other = [(p + int(rng.integers(1, classes))) % classes for p in predicted]
    a = explain(model, images, method, predicted, seed=seed, **options)
    b = explain(model, images, method, other, seed=seed, **options)
    return np.array([spearman(x, y) for x, y in zip(a, b)])


_cascades: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cascade_predict(
    model: keras.Model, seed: int = 0, batch_size: int = compiled.BATCH_SIZE
) -> tuple[list[str], Callable[[np.ndarray], list[np.ndarray]]]:
    """(names of the last layer randomised at each depth, predict) where predict(x) returns the
    trained model's outputs followed by those of each cascading-randomisation depth, in
    `cascading_randomisation`'s order and with its weights, from one compiled pass per batch."""
    draws = randomised_weights(model, seed)
    copy = sanity_copy(model)
    compiled.copy_weights(model, copy)
    for index, _, weights in draws:  # every weighted layer random: each depth takes its top part
        copy.layers[index].set_weights(weights)
    names, cuts = [name for _, name, _ in draws], [index for index, _, _ in draws]
    if not isinstance(model, keras.Sequential):  # no layer chain to branch off: one full pass per depth

        def predict(x: np.ndarray) -> list[np.ndarray]:
            outputs = [compiled.forward(model, x, batch_size)]
            compiled.copy_weights(model, copy)
            for index, _, weights in draws:
                copy.layers[index].set_weights(weights)
                outputs.append(compiled.forward(copy, x, batch_size))
            return outputs

        return names, predict
    if model not in _cascades:
        import tensorflow as tf

        @tf.function(input_signature=compiled.signature(model))
        def run(x):
            branches, a = {}, x
            for index, layer in enumerate(model.layers):
                if index in cuts:
                    h = a
                    for random_layer in copy.layers[index:]:
                        h = random_layer(h, training=False)
                    branches[index] = h
                a = layer(a, training=False)
            return [a] + [branches[index] for index in cuts]

        _cascades[model] = run
    run = _cascades[model]
    return names, lambda x: compiled.run_batched(run, [np.asarray(x, np.float32)], batch_size)


def sanity_maps(
    model,
    images: np.ndarray,
    method: str,
    targets: Sequence[int],
    *,
    seed: int = 0,
    rescale: bool = True,
    randomised: Iterable[tuple[str, object]] | None = None,
    **options,
) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Maps of `images` by `method` for the trained model, and for each cascading-randomisation
    depth (seeded with `seed`) the map of images[0]: (maps (N, H, W), [(layer, map (H, W))]).
    Every map is what `xai.explain` gives with the same seed, options and `rescale`.
    `randomised`: the (name, randomised model) depths to use instead of randomising a Keras model
    here; required for a model that is not a Keras model (a ValueError saying so)."""
    from xai.explain import _rescale, _raw, explain

    if randomised is None and not is_keras(model):
        raise ValueError(
            "model: not a Keras model, so xai cannot randomise it: pass its randomised copies as "
            "randomised=[(name, model)] (an ONNX graph: xai.onnx_randomise.cascading_onnx)"
        )
    targets = list(targets)
    if method == "lime":
        maps, names, first = _lime_sanity(model, images, targets, seed, randomised, options)
        scale = _rescale if rescale else _raw
        return scale(maps), [(name, scale(m[None])[0]) for name, m in zip(names, first)]
    maps = explain(model, images, method, targets, seed=seed, rescale=rescale, **options)
    first = {k: v[:1] if k == "segments" and v is not None else v for k, v in options.items()}
    depths = cascading_randomisation(model, seed) if randomised is None else randomised
    return maps, [
        (name, explain(copy, images[:1], method, targets[:1], seed=seed, rescale=rescale, **first)[0])
        for name, copy in depths
    ]


def _lime_sanity(model, images, targets, seed, randomised, options) -> tuple[np.ndarray, list[str], list[np.ndarray]]:
    """LIME's raw maps of every image, the names of the randomised depths, and images[0]'s raw map
    at each depth, every depth fitted to the same samples as the trained model."""
    from xai.lime_explain import image_maps, model_labels
    from xai.methods import options_for

    lime = options_for("lime", options)
    known = {"num_samples": lime.num_samples, "batch_size": lime.batch_size}
    segments = lime.segments
    labels = [
        segments[i] if segments is not None else model_labels(image, lime.display_size, lime.n_segments)
        for i, image in enumerate(images)
    ]
    if randomised is None:
        names, predict = cascade_predict(model, seed, lime.batch_size)
    else:
        depths = list(randomised)
        names = [name for name, _ in depths]
        models = [model, *(copy for _, copy in depths)]
        predict = lambda x: [probabilities(m, x, lime.batch_size) for m in models]
    first = image_maps(images[0], labels[0], targets[0], predict, seed=seed, **known)
    single = lambda x: [probabilities(model, x, lime.batch_size)]
    rest = [
        image_maps(image, labels[i], targets[i], single, seed=seed, **known)[0]
        for i, image in enumerate(images[1:], start=1)
    ]
    return np.stack([first[0], *rest]), names, first[1:]
