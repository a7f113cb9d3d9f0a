"""Model-parameter randomisation (Adebayo et al., "Sanity Checks for Saliency Maps", 2018).

Copies of a trained model with its weighted layers re-initialised cumulatively from the top
(output layer first). A method whose maps stay the same while the model it explains is
destroyed is not explaining the model. Compare each copy's maps with the trained model's maps
(xai.similarity): similarity should fall as more layers are randomised.
"""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np


def _glorot_uniform(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Keras' default kernel initialiser: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = np.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def cascading_randomisation(model: keras.Model, seed: int = 0) -> Iterator[tuple[str, keras.Model]]:
    """(name of the last layer randomised, model copy) with 1, 2, ... weighted layers
    re-initialised from the top; kernels Glorot-uniform, biases zero, seeded. One copy is
    yielded again and again, randomised one layer further each time: use it before advancing.
    The model passed in is not changed."""
    rng = np.random.default_rng(seed)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in reversed(copy.layers):
        weights = layer.get_weights()
        if not weights:
            continue
        layer.set_weights([_glorot_uniform(w.shape, rng) if w.ndim > 1 else np.zeros_like(w) for w in weights])
        yield layer.name, copy
