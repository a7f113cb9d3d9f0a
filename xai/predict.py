"""One forward pass for any detector: a Keras model or a plain function of images.

Detectors that are not Keras models (an ONNX graph run through onnxruntime, an embedding model
with a linear head) come to xai as a callable `f(images) -> (N, n_classes)` class probabilities,
images float32 (N, H, W, 3) in [0, 1] (class 0 = ai, 1 = human in the study). They have no
gradients and no layers: only the black-box methods (xai.methods: `needs_gradients` False)
explain them. `probabilities` runs either kind; a Keras model through xai.compiled's compiled
passes (the same values the gradient methods see), a callable in chunks of `batch_size`.

This module does not import Keras: a Keras model can only be passed in once Keras is loaded.
"""

from __future__ import annotations

import sys

import numpy as np

BATCH_SIZE = 256


def is_keras(model) -> bool:
    """Whether `model` is a keras.Model (False for any other callable, without loading Keras)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


def differentiable(model) -> bool:
    """Whether gradient methods can explain `model`: only a Keras model gives gradients and layers."""
    return is_keras(model)


def kind(model) -> str:
    """How a refusal names the model: a callable's own `kind` attribute (e.g. 'onnx', 'embedding')
    where it has one, else 'keras' or 'black-box'."""
    return "keras" if is_keras(model) else str(getattr(model, "kind", None) or "black-box")


def probabilities(model, images: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """The model's outputs (N, n_classes) for float32 images (N, H, W, C), as float64: a Keras
    model's first output through its compiled pass, a callable's answers chunk by chunk. A
    callable that gives anything but one finite row per image is a ValueError saying what came."""
    images = np.asarray(images, np.float32)
    if is_keras(model):
        from xai import compiled

        return compiled.forward(model, images, batch_size).astype(np.float64)
    if not callable(model):
        raise TypeError(f"model: must be a keras.Model or a callable of images, got {type(model).__name__}")
    chunks = [np.asarray(model(images[i : i + batch_size]), np.float64) for i in range(0, len(images), batch_size)]
    for chunk, start in zip(chunks, range(0, len(images), batch_size)):
        expected = min(batch_size, len(images) - start)
        if chunk.ndim != 2 or len(chunk) != expected or not np.isfinite(chunk).all():
            raise ValueError(f"model: gave shape {chunk.shape} for {expected} images (must be (N, n_classes), finite)")
    return np.concatenate(chunks) if chunks else np.zeros((0, 0))
