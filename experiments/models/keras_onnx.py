"""The ONNX copy of a Keras model: what a run scores the study's CNNs (any Keras file without a
train block) with, through onnxruntime, faster than Keras and without importing TensorFlow (it
takes 4-10 s to import, in the driver and in each worker of a stage); the explanation stage
takes the Keras model back (`with_gradients`), and imports TensorFlow there only.

The copy is made once per model file (Keras 3's `model.export(..., format="onnx")`, tf2onnx), of the
network with two outputs, probabilities and pre-softmax logits, so the margin stays the logit
difference. It is checked against Keras on seeded images when made: p_ai within COPY_TOLERANCE,
margins within MARGIN_TOLERANCE; a copy that fails the check is not kept, and the run says so and
scores with Keras. The copy and its check record live in the artxai cache under the model file's
sha256 (`<cache>/onnx/<sha256>-<output>/`), written atomically; a later run reads them without
TensorFlow.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from experiments.models.detector import InputSpec, ModelLoadError, STUDY_INPUT
from experiments.models.onnx_detector import Normalisation, OnnxDetector, session

log = logging.getLogger("artxai")

COPY_TOLERANCE = 1e-5  # largest |p_ai| difference from Keras on the check images
MARGIN_TOLERANCE = 1e-4  # and of the margin (the pins' log-odds tolerance: tests/tolerance.py)
CHECK_IMAGES = 32


def copy_folder(digest: str, output: str, positive: str | None) -> Path:
    from experiments.models.fetch import cache_root

    return cache_root() / "onnx" / f"{digest}-{output}{'-' + positive if positive else ''}"


@dataclass(frozen=True)
class KerasOnnxDetector(OnnxDetector):
    """A Keras model scored through its checked ONNX copy: (probabilities, logits) per pass."""

    kind: ClassVar[str] = "keras"

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probs, logits = self.session.run(None, {self.input_name: np.asarray(x, np.float32)})
        z = np.asarray(logits, np.float64)
        return np.asarray(probs, np.float64), z[:, 0] - z[:, 1]

    def metadata(self) -> dict[str, object]:
        return super().metadata() | {"kind": "keras", "runs_on": "onnxruntime (checked ONNX copy)"}

    def with_gradients(self):
        """The Keras model this copy was made from, for gradient explanations (imports TensorFlow)."""
        from dataclasses import replace

        from experiments.models.architecture import load_keras

        keras_detector = load_keras(Path(self.source), self.name, self.input.size, self.output, self.positive)
        return replace(keras_detector, digest=self.digest, recipe=self.recipe)


def check_images(size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.random((CHECK_IMAGES, size, size, 3), dtype=np.float32)
    return x * np.linspace(0.1, 1.0, CHECK_IMAGES, dtype=np.float32)[:, None, None, None]


def made_copy(keras_path: Path, digest: str, name: str, input_size: int, output: str, positive: str | None) -> bool:
    """Export the Keras model's (probabilities, logits) network and check it against Keras; keep
    it in the cache when it agrees. Imports TensorFlow."""
    from experiments.models.architecture import load_keras
    from experiments.rundir.atomic import atomic_write, atomic_write_json

    keras_detector = load_keras(keras_path, name, input_size, output, positive)
    net = keras_detector._with_logits
    if net is None:
        return False
    folder = copy_folder(digest, output, positive)
    folder.mkdir(parents=True, exist_ok=True)
    x = check_images(input_size)
    net(x[:1])  # built, as export needs
    try:
        atomic_write(folder / "model.onnx", lambda tmp: net.export(str(tmp), format="onnx", verbose=False))
    except Exception as e:  # tf2onnx missing, or a layer it cannot convert: Keras scores it
        log.warning("models[%s]: no ONNX copy (%s: %s): scoring with Keras", name, type(e).__name__, str(e)[:160])
        return False
    sess = session(folder / "model.onnx", None, f"models[{name}]")
    p, z = sess.run(None, {sess.get_inputs()[0].name: x})
    p_keras, margin_keras = keras_detector.predict_proba_and_margin(x)
    p_gap = float(np.abs(np.asarray(p, np.float64)[:, 0] - p_keras[:, 0]).max())
    m_gap = float(np.abs((np.asarray(z, np.float64)[:, 0] - z[:, 1]) - margin_keras).max())
    agrees = p_gap <= COPY_TOLERANCE and m_gap <= MARGIN_TOLERANCE
    record = {"model_sha256": digest, "p_ai_gap": p_gap, "margin_gap": m_gap, "images": CHECK_IMAGES,
              "agrees": agrees, "params": keras_detector.parameter_count()}  # fmt: skip
    atomic_write_json(folder / "check.json", record)
    if not agrees:
        log.warning("models[%s]: its ONNX copy differs from Keras (p_ai by %.2g): scoring with Keras", name, p_gap)
    return agrees


def check_record(digest: str, output: str, positive: str | None) -> dict | None:
    """The copy's check record for this model file (its verdict, gaps, parameter count); None when
    no copy was made, or its record or file is missing or damaged."""
    folder = copy_folder(digest, output, positive)
    try:
        data = json.loads((folder / "check.json").read_text(encoding="utf-8"))
        if data["model_sha256"] != digest or (data["agrees"] and not (folder / "model.onnx").is_file()):
            return None
        return data
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_copy(
    digest: str, name: str, input_size: int, output: str, positive: str | None, source: str,
    providers: tuple[str, ...] | None = None,
):  # fmt: skip
    """The checked ONNX copy as a detector (no TensorFlow), on onnxruntime's `providers`."""
    record = check_record(digest, output, positive) or {}
    path = copy_folder(digest, output, positive) / "model.onnx"
    sess = session(path, providers, f"models[{name}]")
    inputs, outputs = sess.get_inputs(), sess.get_outputs()
    if len(inputs) != 1 or len(outputs) != 2:
        raise ModelLoadError(f"models[{name}]: the cached ONNX copy {path} is not a (probabilities, logits) graph")
    return KerasOnnxDetector(
        name=name, input=InputSpec(input_size), source=source, preprocessing=STUDY_INPUT, output=output,
        norm=Normalisation(layout="nhwc"), positive=positive, session=sess, input_name=inputs[0].name,
        parameters=int(record.get("params") or 0),
    )  # fmt: skip


def onnx_copy(
    keras_path: Path, digest: str, name: str, input_size: int, output: str, positive: str | None,
    providers: tuple[str, ...] | None = None,
):  # fmt: skip
    """The Keras model's checked ONNX copy, made first when this file has none; None when the
    copy does not agree with Keras (the run scores with Keras)."""
    record = check_record(digest, output, positive)
    verdict = record["agrees"] if record else made_copy(keras_path, digest, name, input_size, output, positive)
    if not verdict:
        return None
    return load_copy(digest, name, input_size, output, positive, str(keras_path), providers)
