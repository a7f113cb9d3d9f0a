"""LIME that means something at 32 px.

With lime's defaults (quickshift on the model's own 32x32 input) an image gets one or two
superpixels and the explanation is empty. Here superpixels are computed with SLIC on a
display-resolution copy of the image (256 px by default), and the classifier function brings
each perturbed copy back to the model input with the caller's preprocessing (by default the
study's: PIL nearest resize, then / 255), in batches of 256, calling the model directly.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import keras
import numpy as np
from lime import lime_image
from PIL import Image
from skimage.segmentation import slic


# lime 0.2.0.1 wraps its sampling loop in a tqdm bar it offers no switch for; callers show
# their own progress, so one bar per explanation would only be noise.
lime_image.tqdm = lambda iterable, **_: iterable


def nearest_preprocess(size: int) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 RGB at any size -> float32 (size, size, 3) / 255 via PIL nearest (load_img's way)."""

    def preprocess(image: np.ndarray) -> np.ndarray:
        im = Image.fromarray(np.asarray(image, dtype=np.uint8))
        return np.asarray(im.resize((size, size), Image.Resampling.NEAREST), dtype=np.float32) / 255.0

    return preprocess


def display_copy(image: np.ndarray, display_size: int) -> np.ndarray:
    """A model input (float in [0, 1]) enlarged with nearest neighbour to display_size."""
    pixels = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(pixels).resize((display_size, display_size), Image.Resampling.NEAREST))


def superpixels(display: np.ndarray, n_segments: int = 50, compactness: float = 10.0) -> np.ndarray:
    return slic(display, n_segments=n_segments, compactness=compactness, start_label=0, channel_axis=-1)


def lime_maps(
    model: keras.Model,
    images: np.ndarray,
    targets: list[int],
    *,
    seed: int = 0,
    num_samples: int = 1000,
    display: list[np.ndarray] | None = None,
    display_size: int = 256,
    n_segments: int = 50,
    preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """LIME weight of each pixel's superpixel for the target class, at the model input size."""
    n, height, width = images.shape[:3]
    preprocess = preprocess or nearest_preprocess(height)

    def classifier(batch: np.ndarray) -> np.ndarray:
        x = np.stack([preprocess(b) for b in batch])
        return keras.ops.convert_to_numpy(model(x, training=False))

    maps = np.zeros((n, height, width))
    for i in range(n):
        shown = display[i] if display is not None else display_copy(images[i], display_size)
        segments = superpixels(shown, n_segments)
        explainer = lime_image.LimeImageExplainer(random_state=seed)
        explanation = explainer.explain_instance(
            shown,
            classifier,
            labels=(targets[i],),
            top_labels=None,
            hide_color=0,
            num_samples=num_samples,
            batch_size=batch_size,
            segmentation_fn=lambda _: segments,
            random_seed=seed,
        )
        weights = np.zeros(segments.max() + 1)
        for segment, weight in explanation.local_exp[targets[i]]:
            weights[segment] = weight
        maps[i] = cv2.resize(weights[segments], (width, height), interpolation=cv2.INTER_AREA)
    return maps
