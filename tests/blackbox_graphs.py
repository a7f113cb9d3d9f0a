"""Small real ONNX classifiers built with onnx.helper and run through onnxruntime, and the same
planted-region detector as a NumPy function and as a Keras model: detectors without gradients
(and one with) for the black-box methods' tests. Images NHWC float32 (N, 32, 32, 3) in [0, 1];
outputs (N, 2) probabilities, index 0 = ai."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

SIZE = 32
REGION = (slice(8, 16), slice(20, 28))  # the only pixels the planted detector reads
OPSET = [helper.make_opsetid("", 17)]


def region_mask(n: int = 1) -> np.ndarray:
    mask = np.zeros((n, SIZE, SIZE), bool)
    mask[:, REGION[0], REGION[1]] = True
    return mask


def planted(x: np.ndarray) -> np.ndarray:
    """p_ai = sigmoid(10 (mean of the region - 0.3)): reads the region and nothing else."""
    m = np.asarray(x, np.float64)[:, REGION[0], REGION[1]].mean(axis=(1, 2, 3))
    p = 1 / (1 + np.exp(-10 * (m - 0.3)))
    return np.stack([p, 1 - p], axis=1)


def planted_images(n: int = 2, seed: int = 0) -> np.ndarray:
    """Dark noise with a bright region: the planted detector calls them ai."""
    images = np.random.default_rng(seed).uniform(0, 0.4, (n, SIZE, SIZE, 3)).astype(np.float32)
    images[:, REGION[0], REGION[1]] = 0.9
    return images


def planted_keras():
    """`planted` as a Keras model: crop to the region, average, a softmax over +-z/2."""
    import keras

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Cropping2D(((8, SIZE - 16), (20, SIZE - 28)))(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, head(x))
    head.set_weights([np.tile([[5 / 3, -5 / 3]], (3, 1)).astype(np.float32), np.array([-1.5, 1.5], np.float32)])
    return model


def _model(nodes, initializers, outputs=("probs",)) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", SIZE, SIZE, 3])
    out = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 2]) for name in outputs]
    inits = [numpy_helper.from_array(np.asarray(v), name) for name, v in initializers.items()]
    graph = helper.make_graph(nodes, "classifier", [x], out, initializer=inits)
    model = helper.make_model(graph, opset_imports=OPSET)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def region_graph() -> onnx.ModelProto:
    """`planted` as an ONNX graph: Slice, ReduceMean, MatMul + Add, Softmax."""
    f32 = np.float32
    nodes = [
        helper.make_node("Slice", ["images", "starts", "ends", "axes"], ["region"], name="crop"),
        helper.make_node("ReduceMean", ["region"], ["mean"], axes=[1, 2, 3], keepdims=1, name="mean"),
        helper.make_node("Reshape", ["mean", "column"], ["m"], name="flat"),
        helper.make_node("MatMul", ["m", "W"], ["z"], name="head"),
        helper.make_node("Add", ["z", "b"], ["logits"], name="bias"),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1, name="softmax"),
    ]
    inits = {
        "starts": np.array([8, 20], np.int64),
        "ends": np.array([16, 28], np.int64),
        "axes": np.array([1, 2], np.int64),
        "column": np.array([-1, 1], np.int64),
        "W": np.array([[5, -5]], f32),
        "b": np.array([-1.5, 1.5], f32),
    }
    return _model(nodes, inits)


def conv_graph(seed: int = 0) -> onnx.ModelProto:
    """A tiny CNN: NHWC -> NCHW, Conv 3x3 (4 channels) + Relu, global average pool, Gemm, Softmax."""
    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Transpose", ["images"], ["nchw"], perm=[0, 3, 1, 2], name="to_nchw"),
        helper.make_node("Conv", ["nchw", "conv_W", "conv_B"], ["c"], pads=[1, 1, 1, 1], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="pool"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "gemm_W", "gemm_B"], ["logits"], name="gemm"),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1, name="softmax"),
    ]
    inits = {
        "conv_W": rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32),
        "conv_B": rng.normal(0, 0.1, 4).astype(np.float32),
        "gemm_W": rng.normal(0, 2, (4, 2)).astype(np.float32),
        "gemm_B": np.array([0.3, -0.3], np.float32),
    }
    return _model(nodes, inits)


def int8_graph() -> onnx.ModelProto:
    """An INT8 head: channel means times DequantizeLinear(int8 weights, float scale, int8 zero point)."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], axes=[1, 2], keepdims=0, name="mean"),
        helper.make_node("DequantizeLinear", ["Wq", "scale", "zero"], ["W"], name="dequantise"),
        helper.make_node("MatMul", ["m", "W"], ["logits"], name="head"),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1, name="softmax"),
    ]
    inits = {
        "Wq": np.array([[40, -40], [-20, 20], [10, -10]], np.int8),
        "scale": np.array(0.05, np.float32),
        "zero": np.array(0, np.int8),
    }
    return _model(nodes, inits)


class OnnxClassifier:
    """A graph run through onnxruntime: f(images) -> (N, 2) probabilities, a detector with no gradients."""

    kind = "onnx"

    def __init__(self, model: onnx.ModelProto | bytes) -> None:
        data = model if isinstance(model, bytes) else model.SerializeToString()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"images": np.asarray(images, np.float32)})[0]
