"""LIME that means something at 32 px.

With lime's defaults (quickshift on the model's own 32x32 input) an image gets one or two
superpixels and the explanation is empty. Here superpixels are computed with SLIC on a
display-resolution copy of the image (256 px by default) and carried down to the model input.

lime's own `explain_instance` would then build every perturbed copy at display resolution and
resize it back. Because the preprocessing is a nearest-neighbour resize (a pure gather of
pixels), hiding superpixels and then resizing equals resizing and then hiding the same
superpixels at model resolution, pixel for pixel. So the perturbed batch is built directly at
model resolution with one masked multiply, the model runs compiled in batches of 256
(xai.compiled), and lime's own sampling, kernel and ridge fit (`LimeImageExplainer.base`) turn the
predictions into superpixel weights: lime's algorithm, without its per-image Python loop. The model
is a Keras model or any callable of images giving class probabilities (xai.predict).
`image_maps` fits one image's samples against several models' predictions at once (the trained
model and its randomised copies in a sanity check share the samples, see xai.sanity).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import sklearn.metrics
from lime import lime_image
from skimage.segmentation import slic

from xai.predict import probabilities


def display_copy(image: np.ndarray, display_size: int) -> np.ndarray:
    """A model input (float in [0, 1]) enlarged with nearest neighbour to display_size: the
    display copy used when the caller has no better (full-resolution) one."""
    pixels = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    return cv2.resize(pixels, (display_size, display_size), interpolation=cv2.INTER_NEAREST)


def superpixels(
    display: np.ndarray, n_segments: int = 50, compactness: float = 20.0, min_segments: int = 20
) -> np.ndarray:
    """SLIC labels 0..K-1 of a uint8 RGB display image. SLIC's count is approximate (flat or
    elongated images get fewer); below `min_segments` it is asked for more, up to three times."""
    for _ in range(3):
        labels = slic(display, n_segments=n_segments, compactness=compactness, start_label=0, channel_axis=-1)
        if labels.max() + 1 >= min_segments:
            break
        n_segments *= 2
    return labels


def segments_at(segments: np.ndarray, height: int, width: int) -> np.ndarray:
    """Display-resolution labels carried to a height x width grid by nearest neighbour (the label
    under each model pixel's centre). Callers with an exact index map pass their own."""
    rows = ((np.arange(height) + 0.5) * segments.shape[0] / height).astype(int)
    cols = ((np.arange(width) + 0.5) * segments.shape[1] / width).astype(int)
    return segments[rows][:, cols]


def perturbed_batch(image: np.ndarray, segments: np.ndarray, keep: np.ndarray, hide_value: float = 0.0) -> np.ndarray:
    """Copies of `image` (H, W, C) with the superpixels where keep[k, s] == 0 set to hide_value."""
    visible = keep[:, segments].astype(image.dtype)[..., None]  # (K, H, W, 1)
    return image[None] * visible + hide_value * (1 - visible)


def image_maps(
    image: np.ndarray,
    labels: np.ndarray,
    target: int,
    predict: Callable[[np.ndarray], list[np.ndarray]],
    *,
    seed: int = 0,
    num_samples: int = 1000,
    batch_size: int = 256,
) -> list[np.ndarray]:
    """LIME maps of one image (H, W, C) with superpixel `labels` (H, W) at model resolution: one
    map per output of `predict`, which maps a batch of perturbed copies to a list of prediction
    arrays (one per model explained). Every model sees the same samples."""
    height, width = labels.shape
    labels = np.unique(labels, return_inverse=True)[1].reshape(height, width)  # labels 0..K-1, none empty
    features = labels.max() + 1
    explainer = lime_image.LimeImageExplainer(random_state=seed)
    # lime_image.data_labels' sampling: each superpixel on or off at random, row 0 = all on.
    data = explainer.random_state.randint(0, 2, num_samples * features).reshape(num_samples, features)
    data[0, :] = 1
    chunks = [
        predict(perturbed_batch(image, labels, data[j : j + batch_size])) for j in range(0, num_samples, batch_size)
    ]
    distances = sklearn.metrics.pairwise_distances(data, data[:1], metric="cosine").ravel()
    maps = []
    for k in range(len(chunks[0])):
        predictions = np.concatenate([c[k] for c in chunks])
        _, weights, _, _ = explainer.base.explain_instance_with_data(
            data, predictions, distances, target, num_features=100_000, feature_selection=explainer.feature_selection
        )
        per_segment = np.zeros(features)
        for segment, weight in weights:
            per_segment[segment] = weight
        maps.append(per_segment[labels])
    return maps


def model_labels(image: np.ndarray, display_size: int = 256, n_segments: int = 50) -> np.ndarray:
    """Superpixels for a model input that has no full-resolution display copy: SLIC on a
    nearest-enlarged copy, carried back down."""
    height, width = image.shape[:2]
    return segments_at(superpixels(display_copy(image, display_size), n_segments), height, width)


def lime_maps(
    model,
    images: np.ndarray,
    targets: list[int],
    *,
    seed: int = 0,
    num_samples: int = 1000,
    segments: list[np.ndarray] | None = None,
    display_size: int = 256,
    n_segments: int = 50,
    batch_size: int = 256,
) -> np.ndarray:
    """LIME weight of each pixel's superpixel for the target class, at the model input size.

    `segments`: per image, superpixel labels at model resolution (computed by the caller on a
    full-resolution display copy and carried down with its own preprocessing). Without them,
    SLIC runs on a nearest-enlarged copy of the model input."""
    predict = lambda x: [probabilities(model, x, batch_size)]
    maps = np.zeros(images.shape[:3])
    for i, image in enumerate(images):
        labels = segments[i] if segments is not None else model_labels(image, display_size, n_segments)
        maps[i] = image_maps(
            image, labels, targets[i], predict, seed=seed, num_samples=num_samples, batch_size=batch_size
        )[0]
    return maps
