"""ONNX detectors, run through onnxruntime: any image classifier exported to ONNX (a PyTorch
detector through `torch.onnx.export`, a Keras one through `model.export(..., format="onnx")`), and
the sessions of embedding detectors' encoders (experiments.models.embedding_detector).

A graph is checked at load, each failure one line naming the model and the field: the file is an
ONNX model, its one image input has the layout and size the config declares, its output has the
width the declared `output` needs, its float weights are finite, and on seeded images its outputs
are what `output` says (probabilities that sum to 1, or finite logits). Then the batch check
(experiments.models.detector.batch_dependence) decides whether it runs one image per call.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from experiments.models.detector import (
    BATCH_CHECK_TOLERANCE,
    Detector,
    InputSpec,
    ModelLoadError,
    batch_dependence,
    margin_from_probabilities,
)

log = logging.getLogger("artxai")

PROBE_TOLERANCE = 1e-3  # how far from 1 a softmax row may sum
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)


@dataclass(frozen=True)
class Normalisation:
    """What happens to a [0, 1] float32 NHWC batch before the graph: (x - mean) / std per channel,
    then the layout."""

    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    layout: str = "nchw"

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if self.mean != (0.0, 0.0, 0.0) or self.std != (1.0, 1.0, 1.0):
            x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if self.layout == "nchw" else x

    def describe(self) -> str:
        return f"/255, mean {list(self.mean)}, std {list(self.std)}, {self.layout.upper()}"


def read_graph(path: Path, where: str):
    """The ONNX model in `path` (onnx.load, with external data beside it), checked by onnx's
    checker; one ModelLoadError line otherwise."""
    import onnx

    if not path.is_file():
        raise ModelLoadError(f"{where}: {path} not found")
    try:
        graph = onnx.load(str(path))
        onnx.checker.check_model(graph)
    except Exception as e:  # DecodeError, ValidationError, OSError...
        first = " ".join(str(e).split())[:160] or type(e).__name__
        raise ModelLoadError(f"{where}: {path} is not a valid ONNX model ({first})") from None
    return graph


def nonfinite_initializers(graph) -> str | None:
    """The first float weight of the graph that is not finite ('3 NaN or infinite values in
    fc.weight'), or None."""
    from onnx import numpy_helper

    for tensor in graph.graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            return f"{int(values.size - np.isfinite(values).sum())} NaN or infinite values in {tensor.name}"
    return None


def session(path: Path, providers: tuple[str, ...] | None, where: str):
    """An onnxruntime session on the file; the providers asked for that this onnxruntime has,
    else one line saying which it has."""
    import onnxruntime as ort

    wanted = tuple(providers or DEFAULT_PROVIDERS)
    known = ort.get_available_providers()
    if missing := [p for p in wanted if p not in known]:
        raise ModelLoadError(f"{where}.providers: {missing[0]} is not available here (available: {', '.join(known)})")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Its threads sleep between calls instead of spinning: scoring decodes the next images on the same
    # cores while the model runs (benchmarks.dataset: faster scoring, the floor no slower).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads := os.environ.get("ARTXAI_ORT_THREADS"):
        options.intra_op_num_threads = int(threads)
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=list(wanted))
    except Exception as e:
        raise ModelLoadError(f"{where}: onnxruntime cannot run {path} ({' '.join(str(e).split())[:160]})") from None


def check_input(sess, norm: Normalisation, size: int, where: str) -> tuple[str, bool]:
    """The graph's image input name and whether its batch dimension is fixed at 1; one line
    when it is not one 4-d input of the declared layout and size."""
    inputs = sess.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        shapes = [i.shape for i in inputs]
        raise ModelLoadError(
            f"{where}.input: expected one image input (N, C, H, W or N, H, W, C), the graph has {shapes}"
        )
    shape = inputs[0].shape
    spatial = shape[2:] if norm.layout == "nchw" else shape[1:3]
    channels = shape[1] if norm.layout == "nchw" else shape[3]
    fixed = [d for d in spatial if isinstance(d, int)]
    if channels != 3 or any(d != size for d in fixed):
        raise ModelLoadError(
            f"{where}.input: the graph takes {shape}, not {norm.layout.upper()} images of {size}x{size} with 3 channels"
        )
    return inputs[0].name, shape[0] == 1


@dataclass(frozen=True)
class OnnxDetector(Detector):
    """An ONNX classifier: (x - mean) / std in its layout, one pass, its output turned into
    (p_ai, p_human) and the margin: `softmax` (two probabilities, in `classes` order; the margin is
    their log-ratio), `logits` (two scores; softmax here; the margin is their difference, exactly)
    or `sigmoid` (one probability of `positive`; the margin is its log-odds)."""

    kind: ClassVar[str] = "onnx"

    norm: Normalisation = Normalisation()
    classes: tuple[str, str] = ("ai", "human")
    positive: str | None = None
    session: object = field(default=None, repr=False, compare=False)
    input_name: str = ""
    parameters: int = 0

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = np.asarray(self.session.run(None, {self.input_name: self.norm.apply(x)})[0], np.float64)
        out = out.reshape(len(x), -1)
        if self.output == "sigmoid":
            p = out[:, 0] if self.positive == "ai" else 1.0 - out[:, 0]
            return np.stack([p, 1.0 - p], axis=1), margin_from_probabilities(p, 1.0 - p)
        ai, human = self.classes.index("ai"), self.classes.index("human")
        if self.output == "logits":
            z = out[:, [ai, human]]
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True), z[:, 0] - z[:, 1]
        probs = out[:, [ai, human]]
        return probs, margin_from_probabilities(probs[:, 0], probs[:, 1])

    def parameter_count(self) -> int:
        return self.parameters

    def randomised_copies(self, seed: int) -> tuple[Iterator[tuple[str, object]], str | None]:
        """Copies of the graph with its weights randomised from the top layer down (see
        `cascade`), made one at a time; none, and why, for a graph it cannot randomise."""
        graph, reason = randomisable(self.source)
        if reason:
            return iter(()), reason
        return ((layer, replace(self, session=graph_session(copy))) for layer, copy in cascade(graph, seed)), None


QUANTISED = (
    "its weights are quantised to integers (INT8): randomising them would change the graph's dtype rules, "
    "and randomising only its float weights would leave most of the model as trained"
)
MAX_CASCADE = 8  # layers randomised one by one from the top; then every layer at once (a ResNet has ~50)


def randomisable(path: str):
    """(the graph, None), or (None, why its weights cannot be randomised: quantised integer
    weights, or no float weight initializer)."""
    from xai.onnx_randomise import INTEGER_WEIGHT_TYPES, load, why_not_randomisable

    graph = load(path)
    if any(t.data_type in INTEGER_WEIGHT_TYPES for t in graph.graph.initializer):
        return None, QUANTISED

    if reason := why_not_randomisable(graph):
        return None, reason
    return graph, None


def cascade(graph, seed: int) -> Iterator[tuple[str, object]]:
    """xai.sanity's cascading randomisation of an ONNX graph (xai.onnx_randomise.cascading_onnx):
    the top MAX_CASCADE weighted layers one by one, then, when there are more, all of them."""
    from xai.onnx_randomise import cascading_onnx, randomised_onnx, weight_layers

    layers = weight_layers(graph)
    for depth, found in enumerate(cascading_onnx(graph, seed), start=1):
        if depth > MAX_CASCADE and depth < len(layers):
            yield f"all {len(layers)} weighted layers", randomised_onnx(graph, seed, "all")
            return
        yield found


def graph_session(graph):
    """An onnxruntime session (CPU) on an in-memory graph: a randomised copy."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(graph.SerializeToString(), sess_options=options, providers=list(DEFAULT_PROVIDERS))


def check_outputs(detector: OnnxDetector, where: str) -> None:
    """On seeded images: the declared output is what the graph gives (width, probabilities)."""
    width = detector.session.get_outputs()[0].shape[-1]
    wanted = 1 if detector.output == "sigmoid" else 2
    if isinstance(width, int) and width != wanted:
        raise ModelLoadError(
            f"{where}.output: {detector.output} needs {wanted} output(s) per image, the graph gives {width}"
        )
    x = np.random.default_rng(0).random((2, detector.input_size, detector.input_size, 3), dtype=np.float32)
    try:
        raw = np.asarray(detector.session.run(None, {detector.input_name: detector.norm.apply(x[:1])})[0], np.float64)
    except Exception as e:
        raise ModelLoadError(f"{where}: the graph fails on a seeded image ({' '.join(str(e).split())[:160]})") from None
    raw = raw.reshape(1, -1)
    if raw.shape[1] != wanted:
        raise ModelLoadError(
            f"{where}.output: {detector.output} needs {wanted} output(s) per image, the graph gives {raw.shape[1]}"
        )
    if not np.isfinite(raw).all():
        raise ModelLoadError(f"{where}: the graph's outputs are not finite on a seeded image")
    if detector.output == "softmax" and (raw.min() < 0 or abs(raw.sum() - 1) > PROBE_TOLERANCE):
        raise ModelLoadError(f"{where}.output: softmax, but the outputs sum to {raw.sum():.3g}; declare output: logits")
    if detector.output == "sigmoid" and not 0 <= raw.min() <= raw.max() <= 1:
        raise ModelLoadError(f"{where}.output: sigmoid, but the output {raw.max():.3g} is not a probability")


def settled(detector: Detector, fixed_batch: bool, where: str) -> Detector:
    """The detector with `one_per_call` set when its outputs depend on its batch (or its graph
    takes one image at a time), said in one line."""
    if fixed_batch:
        log.info("%s: the graph takes one image per call", where)
        return replace(detector, one_per_call=True)
    moved = batch_dependence(detector)
    if moved > BATCH_CHECK_TOLERANCE:
        log.warning(
            "%s: p_ai moved by %.2g between an image alone and in a batch (quantised per call?): "
            "it runs one image per call",
            where,
            moved,
        )
        return replace(detector, one_per_call=True)
    return detector


def load_onnx(
    path: Path,
    name: str,
    spec: InputSpec,
    norm: Normalisation,
    output: str = "softmax",
    positive: str | None = None,
    classes: tuple[str, str] = ("ai", "human"),
    providers: tuple[str, ...] | None = None,
) -> OnnxDetector:
    """An ONNX classifier from its file, checked (see the module's docstring)."""
    from onnx import numpy_helper

    where = f"models[{name}]"
    graph = read_graph(Path(path), where)
    if found := nonfinite_initializers(graph):
        raise ModelLoadError(f"{where}: {path}: weights are not finite ({found})")
    weights = [numpy_helper.to_array(t) for t in graph.graph.initializer]
    parameters = sum(int(w.size) for w in weights if w.dtype.kind == "f")  # not shapes, nor quantised codes
    sess = session(Path(path), providers, where)
    input_name, fixed_batch = check_input(sess, norm, spec.size, where)
    detector = OnnxDetector(
        name=name,
        input=spec,
        source=str(path),
        preprocessing=f"{spec.describe()}, {norm.describe()}",
        output=output,
        norm=norm,
        classes=tuple(classes),
        positive=positive,
        session=sess,
        input_name=input_name,
        parameters=parameters,
    )
    check_outputs(detector, where)
    return settled(detector, fixed_batch, where)
