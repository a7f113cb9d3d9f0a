"""One interface to many attribution methods: `explain(model, images, method, target)`.

The methods are the entries of xai.methods' registry: saliency and SmoothGrad (gradients),
Grad-CAM, Grad-CAM++, Score-CAM, Faster-ScoreCAM and LayerCAM (class activation maps, computed
in xai.attributions), LIME (xai.lime_explain) and `random`, a seeded-noise baseline that
faithfulness and sanity numbers are read against. Callers never branch on the method: every one
returns maps of shape (N, H, W) at the images' resolution, scaled to [0, 1] per image (higher =
more important for the target class). With `rescale=False` each method's own values come back
instead, which a picture needs to put several maps on one scale: gradient magnitudes, ReLU'd CAMs
(both >= 0), and LIME's signed weights (SIGNED_METHODS: above 0 for the target class, below 0
against it). The order of the pixels, all that faithfulness and drift read, is the same either way.

`model` is a keras.Model or any callable `f(images) -> (N, n_classes)` class probabilities (an
ONNX graph, an embedding model with a head; xai.predict). A callable has no gradients: the
black-box methods (LIME, occlusion, RISE) and `random` explain it, and a gradient or CAM method
is a ValueError saying so in one line (xai.methods.refusal).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import keras
import numpy as np

from xai.attributions import Target, last_conv_layer, logit_model, resolve_targets
from xai.methods import REGISTRY, method as method_named, options_for, refusal
from xai.predict import differentiable, kind

METHODS = tuple(REGISTRY)
GRADIENT_METHODS = tuple(name for name, m in REGISTRY.items() if m.family == "gradient")
CAM_METHODS = tuple(name for name, m in REGISTRY.items() if m.family == "cam")
BASELINE_METHODS = tuple(name for name, m in REGISTRY.items() if m.family == "baseline")
SIGNED_METHODS = tuple(name for name, m in REGISTRY.items() if m.signed)
BLACK_BOX_METHODS = tuple(name for name, m in REGISTRY.items() if not m.needs_gradients)

__all__ = [
    "BLACK_BOX_METHODS",
    "METHODS",
    "SIGNED_METHODS",
    "Target",
    "explain",
    "last_conv_layer",
    "logit_model",
    "resolve_targets",
]


def _rescale(maps: np.ndarray) -> np.ndarray:
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float64))
    low = maps.reshape(len(maps), -1).min(axis=1)[:, None, None]
    high = maps.reshape(len(maps), -1).max(axis=1)[:, None, None]
    return np.where(high > low, (maps - low) / np.where(high > low, high - low, 1), 0.0)


def _raw(maps: np.ndarray) -> np.ndarray:
    """A method's own values, as float64 with NaN and inf made finite (as _rescale does)."""
    return np.nan_to_num(np.asarray(maps, dtype=np.float64))


def explain(
    model: keras.Model | Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    method: str,
    target: Target = "predicted",
    *,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
    rescale: bool = True,
    **options,
) -> np.ndarray:
    """Attribution maps (N, H, W) in [0, 1] for float32 model inputs `images` (N, H, W, 3);
    each method's own values with `rescale=False` (see the module's docstring).

    `options` are the method's own (xai.methods: every method but random takes `batch_size`;
    smoothgrad `smooth_samples`, `smooth_noise`; CAMs `layer`; faster_scorecam `max_n`; lime
    `num_samples`, `segments`, `display_size`, `n_segments`; occlusion `patch`, `stride`, `fill`;
    rise `num_masks`, `cells`, `p1`). An option the method does not take, or a value out of its
    bounds, is a ValueError naming the option and the method; so is a method that needs gradients
    given a model without them (a callable)."""
    entry = method_named(method)
    checked = options_for(method, options)
    why_not = refusal(method, differentiable(model), kind(model))
    if why_not:
        raise ValueError(why_not)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
    targets = resolve_targets(model, images, target, class_names)
    scale = _rescale if rescale else _raw
    with warnings.catch_warnings():  # tf-keras-vis passes inputs as a list; Keras 3 notes it
        warnings.filterwarnings("ignore", message="The structure of `inputs`", category=UserWarning)
        maps = entry.compute(model, images, targets, seed, checked, rescale)
    return scale(maps)
