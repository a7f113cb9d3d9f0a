"""Real ONNX graphs for the tests: the study's cnn32 exported by Keras 3 (tf2onnx), and small
classifiers built with onnx.helper for the layouts and output kinds the CNN does not cover."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CNN32 = "Models/AI-artbench/model 1 32px/best_model.h5"


def export_cnn32(seed_mirror: Path, out: Path) -> Path:
    """The study's 32 px CNN as ONNX (keras `model.export(..., format="onnx")`): NHWC input, softmax (ai, human)."""
    from experiments.models.architecture import load_keras

    detector = load_keras(seed_mirror / CNN32, "cnn32", 32)
    detector.model.export(str(out), format="onnx", verbose=False)
    return out


def pooled_classifier(
    path: Path, size: int, weights: np.ndarray, bias: np.ndarray, layout: str = "nchw", sigmoid: bool = False
) -> Path:
    """A classifier over each channel's mean: (N, 3, S, S) or (N, S, S, 3) -> GlobalAveragePool ->
    Gemm(weights (3, k), bias (k,)) -> k raw outputs, or a sigmoid of the one output."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    k = weights.shape[1]
    shape = ["N", 3, size, size] if layout == "nchw" else ["N", size, size, 3]
    nodes = []
    x = "pixels"
    if layout == "nhwc":
        nodes.append(helper.make_node("Transpose", ["pixels"], ["nchw"], perm=[0, 3, 1, 2]))
        x = "nchw"
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "W", "B"], ["scores" if sigmoid else "out"]),
    ]
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", ["scores"], ["out"]))
    graph = helper.make_graph(
        nodes,
        "pooled_classifier",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", k])],
        initializer=[
            numpy_helper.from_array(weights.astype(np.float32), "W"),
            numpy_helper.from_array(bias.astype(np.float32), "B"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def pooled_reference(x: np.ndarray, mean, std, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """What pooled_classifier computes from float32 NHWC [0, 1] pictures, in float64."""
    z = (np.asarray(x, np.float64) - np.asarray(mean)) / np.asarray(std)
    return z.mean(axis=(1, 2)) @ weights.astype(np.float64) + bias.astype(np.float64)


def batch_dependent_classifier(path: Path, size: int = 16) -> Path:
    """A graph whose outputs depend on its batch, as dynamic quantisation's are: it divides the
    NCHW pixels by the batch's largest value, then pools each channel and gives two logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMax", ["pixels"], ["top"], keepdims=1),
        helper.make_node("Div", ["pixels", "top"], ["scaled"]),
        helper.make_node("GlobalAveragePool", ["scaled"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("Gemm", ["flat", "W", "B"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes, "batch_dependent",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 2])],
        initializer=[numpy_helper.from_array(np.eye(3, 2, dtype=np.float32) * 5, "W"),
                     numpy_helper.from_array(np.zeros(2, np.float32), "B")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(path))
    return path
