"""What every detector is, whatever runs it: the interface the study's stages call.

A `Detector` takes images as float32 (N, S, S, 3) in [0, 1], made from the decoded (and edited)
image by its `InputSpec` (size, resize filter, crop: `InputSpec.prepare`), and gives a probability
pair (index 0 = AI, 1 = human, `CLASS_NAMES`) and the margin log p_ai - log p_human from the same
pass. Anything else its model needs (mean / std, NCHW, a CLIP encoder and a linear head) happens
inside it. The backends (experiments.models.backends) are the Keras CNN, any ONNX classifier and an
ONNX encoder with a linear head.

A detector whose output for an image depends on the other images in its batch (an INT8 graph
quantising its activations per call) is noticed at load (`batch_dependence`) and then runs one
image per call (`one_per_call`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

CLASS_NAMES = ("ai", "human")
RESIZE_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
CROPS = ("none", "centre")


class ModelLoadError(ValueError):
    """A model file that cannot be used; the message is one line naming the model, the file and the cause."""


@dataclass(frozen=True)
class InputSpec:
    """How a decoded RGB image (uint8, any size) becomes a detector's input picture (uint8,
    size x size): `crop: none` resizes it to size x size; `crop: centre` resizes its shortest side
    to `size` (keeping the aspect) and cuts the centre square. The study's CNNs use nearest and
    none, artxai's own gather (experiments.inputs.images.resize_nearest, bit-identical to
    keras.utils.load_img); every other filter is PIL's."""

    size: int
    resize: str = "nearest"
    crop: str = "none"

    def __post_init__(self):
        if self.resize not in RESIZE_FILTERS or self.crop not in CROPS:
            raise ValueError(
                f"resize {self.resize!r} / crop {self.crop!r}: not one of {list(RESIZE_FILTERS)} / {CROPS}"
            )

    @property
    def is_study(self) -> bool:
        """The study's own resize (nearest to size x size): pointwise edits may run on the rows it keeps."""
        return self.resize == "nearest" and self.crop == "none"

    def describe(self) -> str:
        if self.crop == "centre":
            return f"shortest side to {self.size} ({self.resize}), centre crop {self.size}"
        return f"{self.resize} resize to {self.size}x{self.size}"

    def prepare(self, pixels: np.ndarray) -> np.ndarray:
        """The detector's input picture, uint8 (size, size, 3)."""
        from experiments.inputs.images import resize_nearest

        if self.is_study:
            return resize_nearest(pixels, self.size)
        h, w = pixels.shape[:2]
        if self.crop == "none":
            if (h, w) == (self.size, self.size):
                return pixels
            return np.asarray(Image.fromarray(pixels).resize((self.size, self.size), RESIZE_FILTERS[self.resize]))
        scale = self.size / min(w, h)
        new_w, new_h = int(round(w * scale)), int(round(h * scale))
        image = Image.fromarray(pixels)
        if (new_w, new_h) != (w, h):
            image = image.resize((new_w, new_h), RESIZE_FILTERS[self.resize])
        left, top = (new_w - self.size) // 2, (new_h - self.size) // 2
        return np.asarray(image.crop((left, top, left + self.size, top + self.size)))


STUDY_INPUT = "PIL RGB -> nearest resize to input size -> float32 / 255 (keras.utils.load_img)"


def margin_from_probabilities(p_ai: np.ndarray, p_human: np.ndarray) -> np.ndarray:
    """log p_ai - log p_human from probabilities, in float64, each clipped at float32's smallest
    normal number (|margin| <= 174.7): the fallback when no logits can be had."""
    tiny = float(np.finfo(np.float32).tiny)
    return np.log(np.clip(np.asarray(p_ai, np.float64), tiny, None)) - np.log(
        np.clip(np.asarray(p_human, np.float64), tiny, None)
    )


@dataclass(frozen=True)
class Detector:
    """The interface. A backend fills `kind`, `differentiable` and `forward`; `provenance` is
    what its card says of where its files came from (and their licence as stated upstream)."""

    kind: ClassVar[str] = ""
    differentiable: ClassVar[bool] = False  # gradients through a Keras graph (gradient and CAM explainers)

    name: str
    input: InputSpec
    source: str  # where the weights came from
    class_names: tuple[str, ...] = CLASS_NAMES
    preprocessing: str = STUDY_INPUT
    output: str = "softmax"  # what the file's model gives (models[].output)
    digest: str = ""  # sha256 of the file, read before it was loaded (experiments.inputs.fingerprints)
    one_per_call: bool = False  # outputs depend on the batch: run one image per call
    provenance: dict = field(default_factory=dict, compare=False)
    recipe: tuple = field(default=(), compare=False, repr=False)  # (kind, loader arguments): a worker reopens it

    @property
    def input_size(self) -> int:
        return self.input.size

    def trained_file(self) -> Path:
        """The file that a training by artxai would have written, its model card beside it
        (experiments.models.training_folder.card_path): the weights' file."""
        return Path(self.source)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One pass over a float32 batch: (probabilities (N, 2) in class order, margin (N,))."""
        raise NotImplementedError

    def predict_proba_and_margin(self, batch: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities (float64, (N, 2)) and margins log p_ai - log p_human, in chunks of
        `batch_size` images (one at a time for a detector whose outputs depend on the batch)."""
        return self.passes(batch, batch_size)

    def passes(self, batch: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """`forward` over the batch in chunks (no cache): what explainers' perturbed images go through."""
        step = 1 if self.one_per_call else max(1, batch_size)
        probs, margins = [], []
        for i in range(0, len(batch), step):
            p, m = self.forward(batch[i : i + step])
            probs.append(np.asarray(p, np.float64))
            margins.append(np.asarray(m, np.float64))
        if not probs:
            return np.zeros((0, len(self.class_names))), np.zeros(0)
        return np.concatenate(probs), np.concatenate(margins)

    def predict_proba(self, batch: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return self.predict_proba_and_margin(batch, batch_size)[0]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Probabilities of float32 images: what black-box explainers (occlusion, RISE, LIME) call."""
        return self.passes(np.asarray(images, np.float32))[0].astype(np.float32)

    @property
    def explainable(self):
        """What xai's explainers are given: a Keras graph (gradients and layers), or the detector
        itself, a callable of images (outputs only: xai.methods.refusal names what it cannot take)."""
        return self

    def with_gradients(self) -> "Detector":
        """This detector as the explanation stage uses it: itself, or, for a Keras model scored
        through its ONNX copy, the Keras model (gradients and layers; imports TensorFlow)."""
        return self

    def log_odds_scorer(self):
        """A callable of images giving (margin, -margin) per image, the log-odds of (ai, human):
        the score deletion / insertion curves follow (it does not saturate)."""

        def log_odds(images: np.ndarray) -> np.ndarray:
            margin = self.passes(np.asarray(images, np.float32))[1]
            return np.stack([margin, -margin], axis=1)

        return log_odds

    def randomised_copies(self, seed: int) -> tuple[list[tuple[str, object]], str | None]:
        """The model randomisation check's copies, top layer first, each with one more layer's
        weights randomised (seeded): [(layer, callable)], and why it stops where it stops (None
        when every layer was reached)."""
        return [], f"a {self.kind} detector's weights cannot be randomised by artxai"

    def parameter_count(self) -> int | None:
        return None

    def metadata(self) -> dict[str, object]:
        return (
            {
                "name": self.name,
                "kind": self.kind or "keras",
                "input_size": self.input_size,
                "input": {"size": self.input.size, "resize": self.input.resize, "crop": self.input.crop},
                "class_names": list(self.class_names),
                "preprocessing": self.preprocessing,
                "source": self.source,
                "params": self.parameter_count(),
                "sha256": self.digest or None,
                "one_image_per_call": self.one_per_call,
            }
            | ({"output": self.output} if self.output != "softmax" else {})
            | ({"provenance": self.provenance} if self.provenance else {})
        )


BATCH_CHECK_IMAGES = 4  # seeded images scored alone and together at load
BATCH_CHECK_TOLERANCE = 1e-5  # how far p_ai may move between the two: float rounding, not quantisation


def batch_dependence(detector: Detector) -> float:
    """The largest change in p_ai between scoring BATCH_CHECK_IMAGES seeded images one per call
    and all in one call (0 for a detector whose outputs are its own image's alone)."""
    rng = np.random.default_rng(0)
    size = detector.input_size
    x = rng.random((BATCH_CHECK_IMAGES, size, size, 3), dtype=np.float32)
    x[1::2] = np.round(x[1::2] * 4) / 4  # flat patches beside noise
    x *= np.linspace(0.3, 1.0, len(x), dtype=np.float32)[:, None, None, None]  # and a spread of ranges
    ai = detector.class_names.index("ai")
    together = np.asarray(detector.forward(x)[0], np.float64)[:, ai]
    alone = np.array([np.asarray(detector.forward(x[i : i + 1])[0], np.float64)[0, ai] for i in range(len(x))])
    return float(np.abs(together - alone).max())
