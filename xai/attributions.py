"""How each attribution method computes its maps: the logit copy of a model, target resolution,
and the gradient, CAM and Score-CAM computations that xai.methods' entries call.

Saliency, SmoothGrad, Grad-CAM, Grad-CAM++, LayerCAM and Score-CAM follow tf-keras-vis 0.8.7's
formulas step for step (its own functions do the resizing and normalising), but run on compiled
passes with fixed batch shapes (xai.compiled): one forward and backward pass per batch instead of
an eager tape and a freshly built Keras model per call; SmoothGrad's noisy copies go through one
batched pass. The tests hold each map equal to tf-keras-vis' own within float tolerance.
Faster-ScoreCAM runs through tf-keras-vis itself.

Maps explain pre-softmax scores (logits). tf-keras-vis' own `ReplaceToLinear` modifier fails on
Keras 3 Sequential models (they have no `output_names`), so `logit_model` rebuilds the network
as a functional model whose last layer has no activation, with the model's weights.
"""

from __future__ import annotations

import contextlib
import io
import json
import weakref
from collections.abc import Sequence

import keras
import numpy as np

from xai import compiled

Target = int | str | Sequence[int]

_logit_models: dict[str, tuple[keras.Model, list[keras.layers.Layer]]] = {}
_architectures: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def architecture(model: keras.Model) -> str:
    """The model's layer types and settings (names left out): models with the same one can share
    a copy whose weights are refreshed."""
    if model not in _architectures:
        layers = [
            (type(layer).__name__, {k: v for k, v in layer.get_config().items() if k != "name"})
            for layer in model.layers
        ]
        _architectures[model] = json.dumps([list(model.input_shape[1:]), layers], sort_keys=True, default=str)
    return _architectures[model]


def logit_model(model: keras.Model) -> keras.Model:
    """A functional copy of `model` (fresh layers) whose final layer outputs logits, holding
    `model`'s weights as they are now. One copy per architecture, built once (its compiled passes
    with it) and given the current weights on every call, so a sanity copy being randomised or a
    retrained model is never explained with stale weights. The copy is shared: use it before the
    next call for another model of the same architecture. Fresh layers matter: tf-keras-vis reads
    `layer.output`, which for a reused layer would point into the original model's graph."""
    key = architecture(model)
    if key not in _logit_models:
        inputs = keras.Input(model.input_shape[1:])
        x, clones = inputs, []
        for i, layer in enumerate(model.layers):
            config = layer.get_config()
            if i == len(model.layers) - 1:
                config |= {"activation": "linear", "name": f"{layer.name}_logits"}
            clone = type(layer).from_config(config)
            x = clone(x)
            clones.append(clone)
        _logit_models[key] = (keras.Model(inputs, x, name=f"{model.name}_logits"), clones)
    copy, clones = _logit_models[key]
    compiled.copy_weights(model, copy)
    return copy


def layer_index(model: keras.Model, logits: keras.Model, name: str | None) -> int | None:
    """Index in `logits.layers` of the copy of `model`'s layer `name` (default: the last Conv2D;
    None for a model without one, which only the gradient methods can explain)."""
    if name is None and not any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers):
        return None
    name = name or last_conv_layer(model)
    position = [layer.name for layer in model.layers].index(name)
    return logits.layers.index(_logit_models[architecture(model)][1][position])


def last_conv_layer(model: keras.Model) -> str:
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"{model.name}: CAM methods need a Conv2D layer, the model has none")
    return convs[-1]


def resolve_targets(model, images: np.ndarray, target: Target, class_names: Sequence[str] | None) -> list[int]:
    """Class index per image: 'predicted', a class name, an index, or one index per image. `model`:
    a keras.Model or a callable of images (xai.predict)."""
    from xai.predict import probabilities

    if isinstance(target, str) and target == "predicted":
        return [int(i) for i in np.argmax(probabilities(model, images), axis=1)]
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


def expand(cam: np.ndarray, images: np.ndarray, rescale: bool = True) -> np.ndarray:
    """tf-keras-vis' last step for every CAM: bilinear zoom to the input size, then rescale to [0, 1] (`rescale`)."""
    from scipy.ndimage import zoom
    from tf_keras_vis.utils import normalize, zoom_factor

    zoomed = zoom(cam, zoom_factor(cam.shape, images.shape), order=1)
    return normalize(zoomed) if rescale else zoomed


def saliency(
    logits: keras.Model,
    layer: int | None,
    images: np.ndarray,
    targets: list[int],
    smooth_samples: int,
    smooth_noise: float,
    seed: int,
    rescale: bool = True,
    batch_size: int = compiled.BATCH_SIZE,
) -> np.ndarray:
    """tf-keras-vis' Saliency: |d logit / d input|, max over channels, rescaled. SmoothGrad
    draws the noise tf-keras-vis draws after `keras.utils.set_random_seed(seed)` (NumPy's legacy
    generator with that seed, here a local one) and runs all noisy copies through one batched
    pass, averaging in the same order."""
    import tensorflow as tf
    from tf_keras_vis.utils import normalize as tf_keras_vis_normalize

    normalize = tf_keras_vis_normalize if rescale else np.asarray
    if not smooth_samples:
        grads = compiled.gradients(logits, layer, images, np.asarray(targets), batch_size)[1]
        return normalize(np.max(np.abs(grads), axis=-1))
    x = tf.constant(images)
    x = tf.reshape(tf.tile(x, (smooth_samples, 1, 1, 1)), (smooth_samples, -1, *x.shape[1:]))
    spread = tf.math.reduce_max(x, axis=(2, 3, 4), keepdims=True) - tf.math.reduce_min(x, axis=(2, 3, 4), keepdims=True)
    noisy = np.asarray(x + np.random.RandomState(seed).normal(0.0, smooth_noise * spread, x.shape), np.float32)
    grads = compiled.gradients(
        logits, layer, noisy.reshape(-1, *images.shape[1:]), np.tile(targets, smooth_samples), batch_size
    )[1]
    grads = np.abs(grads.reshape(noisy.shape))
    total = np.zeros_like(grads[0])
    for g in grads:  # summed one copy after another, as tf-keras-vis does
        total = total + g
    return normalize(np.max(total / smooth_samples, axis=-1))


def grad_cam(method: str, a: np.ndarray, grads: np.ndarray, score: np.ndarray) -> np.ndarray:
    """The class activation map (before resizing) of tf-keras-vis' Gradcam, GradcamPlusPlus and
    Layercam from the layer's output `a`, the gradient of the target logit `score` on it. The
    same TensorFlow and NumPy operations in the same order: Grad-CAM++'s ratios of third powers
    of small gradients turn any other summation order into visible differences."""
    import tensorflow as tf

    relu = tf.nn.relu
    if method == "gradcam":
        return relu(np.sum(np.multiply(a, tf.reduce_mean(grads, axis=(1, 2), keepdims=True)), axis=-1)).numpy()
    if method == "layercam":
        return relu(np.sum(np.multiply(a, relu(grads)), axis=-1)).numpy()
    # Grad-CAM++ (Chattopadhay et al.), with an exponential score as tf-keras-vis has it
    a, grads = tf.constant(a), tf.constant(grads)
    first = tf.reshape(tf.math.exp(score), (-1, 1, 1, 1)) * grads
    second = first * grads
    third = second * grads
    global_sum = tf.reduce_sum(a, axis=(1, 2), keepdims=True)
    denominator = second * 2.0 + third * global_sum
    denominator = denominator + tf.cast(second == 0.0, second.dtype)
    alphas = second / denominator
    norm = tf.reduce_sum(alphas, axis=(1, 2), keepdims=True)
    alphas = alphas / (norm + tf.cast(norm == 0.0, norm.dtype))
    weights = tf.reduce_sum(relu(first) * alphas, axis=(1, 2), keepdims=True)
    return relu(tf.reduce_sum(weights * a, axis=-1)).numpy()


def _linear(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of scipy.ndimage.zoom's order-1 interpolation along one axis
    (output i samples input i * (n_in - 1) / (n_out - 1), between its two neighbours)."""
    x = np.arange(n_out) * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(1)
    low = np.minimum(np.floor(x).astype(int), n_in - 1)
    weights = np.zeros((n_out, n_in))
    np.add.at(weights, (np.arange(n_out), low), 1 - (x - low))
    np.add.at(weights, (np.arange(n_out), np.minimum(low + 1, n_in - 1)), x - low)
    return weights


def upsample(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """`zoom(a, (1, height / h, width / w, 1), order=1)` for a (N, h, w, C), as two matrix
    products in float64, four times faster: the same float32 values but for a rare last-bit
    rounding (tested)."""
    rows, cols = _linear(a.shape[1], height), _linear(a.shape[2], width)
    return np.einsum(
        "jq,niqc->nijc", cols, np.einsum("ip,npqc->niqc", rows, a.astype(np.float64), optimize=True), optimize=True
    ).astype(a.dtype)


def score_cam(logits: keras.Model, images: np.ndarray, targets: list[int], layer: int, batch_size: int) -> np.ndarray:
    """tf-keras-vis' Scorecam: each channel of the layer, upsampled and scaled to [0, 1], masks
    the input; the channel's weight is the softmax score of the target class on that input."""
    import tensorflow as tf

    a = compiled.gradients(logits, layer, images, np.asarray(targets), batch_size)[2]  # (N, h, w, C)
    up = upsample(a, *images.shape[1:3])
    low, high = up.min(axis=(1, 2), keepdims=True), up.max(axis=(1, 2), keepdims=True)
    masks = (up - low) / (high - low + keras.backend.epsilon())  # (N, H, W, C)
    channels = a.shape[-1]
    masked = images[None] * np.moveaxis(masks, -1, 0)[..., None]  # (C, N, H, W, 3)
    out = compiled.forward(logits, masked.reshape(-1, *images.shape[1:]), batch_size)
    probs = tf.nn.softmax(out.reshape(channels, len(images), -1)).numpy()
    weights = probs[:, np.arange(len(images)), targets].T  # (N, C)
    return np.maximum(np.einsum("nhwc,nc->nhw", a, weights), 0)


def faster_score_cam(
    logits: keras.Model,
    images,
    targets,
    layer: str,
    max_n: int,
    rescale: bool = True,
    batch_size: int = compiled.BATCH_SIZE,
) -> np.ndarray:
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    with contextlib.redirect_stdout(io.StringIO()):  # its model.predict calls print progress bars
        cam = Scorecam(logits, clone=False)
        return cam(
            CategoricalScore(targets),
            images,
            penultimate_layer=layer,
            max_N=max_n,
            batch_size=batch_size,
            normalize_cam=rescale,
        )
