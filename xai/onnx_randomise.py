"""Model-parameter randomisation of an ONNX graph (Adebayo et al. 2018; xai.sanity for Keras).

xai.sanity re-initialises a Keras model's weighted layers from the top: kernels Glorot-uniform,
biases (every 1-D weight) zero, all drawn from one generator seeded with the seed, output layer
first. Here the same is done to an ONNX graph's initializers:

- a *weight* is a float initializer (float32, float16, bfloat16, double) of 2 or more values that
  no quantisation node reads (QuantizeLinear, DequantizeLinear, QLinear*, *Integer: its scales and
  zero points are the quantisation's rules, not learned weights). Scalars (epsilons, scale
  factors, the constants of a graph's preprocessing) stay: zeroing one would divide by zero;
- a *layer* is the node that reads a weight first; the graph's nodes are in topological order,
  so the last node with weights is the output layer;
- a weight of 2 or more dimensions is drawn Glorot-uniform, U(-l, l), l = sqrt(6 / (fan_in +
  fan_out)): ONNX keeps (out, in, spatial...) for Conv and (in, out) or (out, in) for MatMul and
  Gemm, and the sum of the fans is the same in every layout; a 1-D weight is set to zero.

Every weight's values are drawn once per seed, output layer first, whatever is randomised: a layer
gets the same values in `randomised_onnx(which='last')`, in every depth of `cascading_onnx` and
with `which='all'`. The result is a new ModelProto (the input is never changed) that runs wherever
the original ran. A graph with no weight to randomise (an INT8 graph: integer weights, float
scales) gets a reason instead (`why_not_randomisable`), for the sanity row to show.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

FLOAT_TYPES = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.BFLOAT16, TensorProto.DOUBLE}
INTEGER_WEIGHT_TYPES = {TensorProto.INT8, TensorProto.UINT8, TensorProto.INT4, TensorProto.UINT4}
QUANTISATION_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}
QUANTISED_REASON = (
    "quantised INT8 weights: their randomisation would change the graph's dtype rules "
    "(integer weights with float scales and zero points; no float weight to randomise)"
)


def load(model: onnx.ModelProto | bytes | str | os.PathLike) -> onnx.ModelProto:
    """A ModelProto from a ModelProto (as it is), serialised bytes or a path."""
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    return onnx.load(os.fspath(model))


def _quantisation_inputs(graph: onnx.GraphProto) -> set[str]:
    quantised = [n for n in graph.node if n.op_type in QUANTISATION_OPS or n.op_type.startswith("QLinear")]
    return {name for node in quantised for name in node.input}


def weight_layers(model: onnx.ModelProto | bytes | str | os.PathLike) -> list[tuple[str, list[str]]]:
    """(layer, names of its weight initializers) for each node that reads a weight first, output
    layer first (see the module's docstring). A node without a name is called op_type:index."""
    graph = load(model).graph
    skip = _quantisation_inputs(graph)
    weights = {
        t.name
        for t in graph.initializer
        if t.data_type in FLOAT_TYPES and int(np.prod(t.dims)) >= 2 and t.name not in skip
    }
    seen: set[str] = set()
    layers = []
    for index, node in enumerate(graph.node):
        own = [name for name in dict.fromkeys(node.input) if name in weights and name not in seen]
        seen.update(own)
        if own:
            layers.append((node.name or f"{node.op_type}:{index}", own))
    return layers[::-1]


def why_not_randomisable(model: onnx.ModelProto | bytes | str | os.PathLike) -> str | None:
    """None when the graph has a weight to randomise; else one line saying why it cannot be."""
    model = load(model)
    if weight_layers(model):
        return None
    graph = model.graph
    if any(t.data_type in INTEGER_WEIGHT_TYPES for t in graph.initializer) or _quantisation_inputs(graph):
        return QUANTISED_REASON
    return "no float weight initializers (the weights may be graph inputs or Constant nodes)"


def _glorot_uniform(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """U(-l, l), l = sqrt(6 / (fan_in + fan_out)), channels first: (out, in, spatial...)."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    limit = np.sqrt(6 / ((shape[0] + shape[1]) * receptive))
    return rng.uniform(-limit, limit, shape)


def randomised_values(model: onnx.ModelProto | bytes | str | os.PathLike, seed: int = 0) -> dict[str, np.ndarray]:
    """Every weight's new values (its own dtype and shape), drawn output layer first from one
    generator seeded with `seed`: Glorot-uniform for 2 or more dimensions, zero for 1-D."""
    model = load(model)
    current = {t.name: t for t in model.graph.initializer}
    rng = np.random.default_rng(seed)
    values = {}
    for _, names in weight_layers(model):
        for name in names:
            old = numpy_helper.to_array(current[name])
            new = _glorot_uniform(old.shape, rng) if old.ndim > 1 else np.zeros(old.shape)
            values[name] = new.astype(old.dtype)
    return values


def _chosen(layers: list[tuple[str, list[str]]], which, cascading: bool) -> list[str]:
    """The weight names `which` picks ('all', 'last' or initializer names); with `cascading`, also
    every weight of the layers above the lowest layer picked."""
    if which == "all":
        return [name for _, names in layers for name in names]
    if which == "last":
        return list(layers[0][1])
    known = [name for _, names in layers for name in names]
    unknown = [which] if isinstance(which, str) else [name for name in which if name not in known]
    if unknown or not which:
        raise ValueError(f"which: 'all', 'last' or weight names; unknown {unknown or which!r} (weights: {known})")
    if not cascading:
        return list(dict.fromkeys(which))
    depth = max(k for k, (_, names) in enumerate(layers) if set(names) & set(which))
    return [name for _, names in layers[: depth + 1] for name in names]


def randomised_onnx(
    model: onnx.ModelProto | bytes | str | os.PathLike,
    seed: int = 0,
    which: Literal["all", "last"] | Sequence[str] = "all",
    cascading: bool = False,
) -> onnx.ModelProto:
    """A copy of the graph with weights re-initialised (`randomised_values`): every weight
    ('all'), the output layer's ('last') or the named initializers, with `cascading` also every
    layer above them (xai.sanity's cascading randomisation down to that layer). A graph with no
    weight to randomise is a ValueError carrying `why_not_randomisable`'s reason."""
    model = load(model)
    reason = why_not_randomisable(model)
    if reason:
        raise ValueError(reason)
    return _with_values(model, randomised_values(model, seed), _chosen(weight_layers(model), which, cascading))


def _with_values(model: onnx.ModelProto, values: dict[str, np.ndarray], names: Sequence[str]) -> onnx.ModelProto:
    """A copy of `model` whose initializers `names` hold `values`."""
    names = set(names)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for tensor in out.graph.initializer:
        if tensor.name in names:
            tensor.CopyFrom(numpy_helper.from_array(values[tensor.name], tensor.name))
    return out


def cascading_onnx(
    model: onnx.ModelProto | bytes | str | os.PathLike, seed: int = 0
) -> Iterator[tuple[str, onnx.ModelProto]]:
    """(layer, graph) with 1, 2, ... weighted layers randomised from the top, as
    xai.sanity.cascading_randomisation yields them for a Keras model; each graph a new copy."""
    model = load(model)
    reason = why_not_randomisable(model)
    if reason:
        raise ValueError(reason)
    layers, values = weight_layers(model), randomised_values(model, seed)
    for depth, (layer, _) in enumerate(layers):
        yield layer, _with_values(model, values, [name for _, names in layers[: depth + 1] for name in names])
