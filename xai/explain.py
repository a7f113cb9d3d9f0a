"""One interface to many attribution methods: `explain(model, images, method, target)`.

Gradient and CAM methods run through tf-keras-vis 0.8.7; LIME through `lime`; `random` is a
seeded-noise baseline that faithfulness and sanity numbers are read against. Callers never
branch on the method: every one returns maps of shape (N, H, W) at the images' resolution,
scaled to [0, 1] per image (higher = more important for the target class).

Maps explain pre-softmax scores (logits). tf-keras-vis' own `ReplaceToLinear` modifier fails on
Keras 3 Sequential models (they have no `output_names`), so `logit_model` rebuilds the network
as a functional model whose last layer has no activation, with the trained weights.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence

import keras
import numpy as np

GRADIENT_METHODS = ("saliency", "smoothgrad")
CAM_METHODS = ("gradcam", "gradcam++", "scorecam", "faster_scorecam", "layercam")
BASELINE_METHODS = ("random",)  # seeded noise: the floor any method must beat in faithfulness
METHODS = (*GRADIENT_METHODS, *CAM_METHODS, "lime", *BASELINE_METHODS)

Target = int | str | Sequence[int]


def logit_model(model: keras.Model) -> keras.Model:
    """A functional copy of `model` (fresh layers, copied weights) whose final layer outputs
    logits. Built per call on purpose (about 10 ms): a cached copy would go stale when the
    model's weights change, e.g. in a parameter-randomisation sanity check. Fresh layers matter: tf-keras-vis reads `layer.output`, which for a reused layer
    would point into the original model's graph."""
    inputs = keras.Input(model.input_shape[1:])
    x = inputs
    for i, layer in enumerate(model.layers):
        config = layer.get_config()
        if i == len(model.layers) - 1:
            config |= {"activation": "linear", "name": f"{layer.name}_logits"}
        clone = type(layer).from_config(config)
        x = clone(x)
        clone.set_weights(layer.get_weights())
    return keras.Model(inputs, x, name=f"{model.name}_logits")


def last_conv_layer(model: keras.Model) -> str:
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"{model.name}: CAM methods need a Conv2D layer, the model has none")
    return convs[-1]


def resolve_targets(model: keras.Model, images: np.ndarray, target: Target, class_names: Sequence[str] | None) -> list[int]:
    """Class index per image: 'predicted', a class name, an index, or one index per image."""
    if isinstance(target, str) and target == "predicted":
        return [int(i) for i in np.argmax(keras.ops.convert_to_numpy(model(images, training=False)), axis=1)]
    if isinstance(target, str):
        if not class_names or target not in class_names:
            raise ValueError(f"target {target!r}: not 'predicted' and not one of the class names {class_names}")
        return [list(class_names).index(target)] * len(images)
    if isinstance(target, (int, np.integer)):
        return [int(target)] * len(images)
    targets = [int(t) for t in target]
    if len(targets) != len(images):
        raise ValueError(f"got {len(targets)} targets for {len(images)} images")
    return targets


def _normalise(maps: np.ndarray) -> np.ndarray:
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float64))
    low = maps.reshape(len(maps), -1).min(axis=1)[:, None, None]
    high = maps.reshape(len(maps), -1).max(axis=1)[:, None, None]
    return np.where(high > low, (maps - low) / np.where(high > low, high - low, 1), 0.0)


def _tf_keras_vis(logits: keras.Model, images, targets, method: str, seed: int, options: dict) -> np.ndarray:
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    score = CategoricalScore(targets)
    keras.utils.set_random_seed(seed)  # SmoothGrad noise and Faster-ScoreCAM sampling
    if method in GRADIENT_METHODS:
        samples = options.get("smooth_samples", 20) if method == "smoothgrad" else 0
        noise = options.get("smooth_noise", 0.2)
        return Saliency(logits, clone=False)(score, images, smooth_samples=samples, smooth_noise=noise)
    layer = options.get("layer") or last_conv_layer(logits)
    if method in ("scorecam", "faster_scorecam"):
        max_n = options.get("max_n", 10) if method == "faster_scorecam" else None
        with contextlib.redirect_stdout(io.StringIO()):  # its model.predict calls print progress bars
            return Scorecam(logits, clone=False)(score, images, penultimate_layer=layer, max_N=max_n, batch_size=256)
    cam = {"gradcam": Gradcam, "gradcam++": GradcamPlusPlus, "layercam": Layercam}[method]
    return cam(logits, clone=False)(score, images, penultimate_layer=layer)


def explain(
    model: keras.Model,
    images: np.ndarray,
    method: str,
    target: Target = "predicted",
    *,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
    **options,
) -> np.ndarray:
    """Attribution maps (N, H, W) in [0, 1] for float32 model inputs `images` (N, H, W, 3).

    Options by method: smoothgrad `smooth_samples`, `smooth_noise`; CAMs `layer`;
    faster_scorecam `max_n`; lime `num_samples`, `segments`, `display_size`, `n_segments`,
    `batch_size` (see xai.lime_explain). Each method reads the options it knows and ignores the
    rest, so one options dict serves every method."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C), got shape {images.shape}")
    targets = resolve_targets(model, images, target, class_names)
    if method == "random":
        return _normalise(np.random.default_rng(seed).random(images.shape[:3]))
    if method == "lime":
        from xai.lime_explain import lime_maps

        known = ("num_samples", "segments", "display_size", "n_segments", "batch_size")
        return _normalise(lime_maps(model, images, targets, seed=seed, **{k: v for k, v in options.items() if k in known}))
    with warnings.catch_warnings():  # tf-keras-vis passes inputs as a list; Keras 3 notes it
        warnings.filterwarnings("ignore", message="The structure of `inputs`", category=UserWarning)
        maps = _tf_keras_vis(logit_model(model), images, targets, method, seed, options)
    return _normalise(maps)

