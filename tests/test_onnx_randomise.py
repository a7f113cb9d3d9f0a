"""Model randomisation of a real ONNX graph (xai.onnx_randomise): the graph still runs in
onnxruntime and answers differently, the same seed gives the same graph, layers are randomised
from the top as xai.sanity does for Keras, and an INT8 graph gets a reason instead."""

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from tests.blackbox_graphs import OnnxClassifier, conv_graph, int8_graph, planted_images, region_graph
from xai.onnx_randomise import (
    QUANTISED_REASON, cascading_onnx, randomised_onnx, weight_layers, why_not_randomisable,
)  # fmt: skip


def weights(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def test_a_randomised_graph_runs_and_answers_differently_and_the_seed_fixes_it():
    graph, images = conv_graph(), planted_images(4, seed=3)
    before = OnnxClassifier(graph)(images)
    original = graph.SerializeToString()
    first = randomised_onnx(graph, seed=1)
    again = randomised_onnx(original, seed=1)  # from bytes too
    other = randomised_onnx(graph, seed=2)
    assert graph.SerializeToString() == original  # the input is not changed
    assert first.SerializeToString() == again.SerializeToString()
    after = OnnxClassifier(first)(images)
    assert after.shape == (4, 2) and np.isfinite(after).all() and np.allclose(after.sum(axis=1), 1, atol=1e-5)
    assert np.abs(after - before).max() > 0.05
    np.testing.assert_array_equal(OnnxClassifier(again)(images), after)
    assert np.abs(OnnxClassifier(other)(images) - after).max() > 1e-3
    old, new = weights(graph), weights(first)
    for name in old:
        assert new[name].shape == old[name].shape and new[name].dtype == old[name].dtype
    np.testing.assert_array_equal(new["conv_B"], 0)  # 1-D: zero, as Keras biases
    np.testing.assert_array_equal(new["gemm_B"], 0)
    limit = np.sqrt(6 / ((4 + 3) * 9))  # Glorot-uniform of (out 4, in 3, 3, 3)
    assert np.abs(new["conv_W"]).max() <= limit and np.abs(new["conv_W"]).max() > 0.8 * limit
    assert np.abs(new["gemm_W"]).max() <= np.sqrt(6 / 6)


def test_layers_are_randomised_from_the_top_with_the_same_draws_at_every_depth():
    graph = conv_graph()
    assert weight_layers(graph) == [("gemm", ["gemm_W", "gemm_B"]), ("conv", ["conv_W", "conv_B"])]
    old, everything = weights(graph), weights(randomised_onnx(graph, seed=5))
    last = weights(randomised_onnx(graph, seed=5, which="last"))
    depths = [(layer, weights(g)) for layer, g in cascading_onnx(graph, seed=5)]
    assert [layer for layer, _ in depths] == ["gemm", "conv"]
    for name in ("gemm_W", "gemm_B"):
        for found in (last, depths[0][1], depths[1][1]):
            np.testing.assert_array_equal(found[name], everything[name])
    for name in ("conv_W", "conv_B"):
        np.testing.assert_array_equal(last[name], old[name])
        np.testing.assert_array_equal(depths[0][1][name], old[name])
        np.testing.assert_array_equal(depths[1][1][name], everything[name])
    only_conv = weights(randomised_onnx(graph, seed=5, which=["conv_W"]))
    np.testing.assert_array_equal(only_conv["conv_W"], everything["conv_W"])
    np.testing.assert_array_equal(only_conv["gemm_W"], old["gemm_W"])
    cascaded = weights(randomised_onnx(graph, seed=5, which=["conv_W"], cascading=True))
    assert all(np.array_equal(cascaded[n], everything[n]) for n in everything)
    with pytest.raises(ValueError, match=r"^which: .*unknown \['conv_w'\]"):
        randomised_onnx(graph, which=["conv_w"])


def test_constants_that_are_not_weights_stay():
    graph = region_graph()
    assert weight_layers(graph) == [("bias", ["b"]), ("head", ["W"])]  # not the Slice and Reshape int64s
    new, old = weights(randomised_onnx(graph, seed=0)), weights(graph)
    for name in ("starts", "ends", "axes", "column"):
        np.testing.assert_array_equal(new[name], old[name])
    assert not np.array_equal(new["W"], old["W"])
    out = OnnxClassifier(randomised_onnx(graph, seed=0))(planted_images(2))
    assert np.isfinite(out).all() and np.abs(out - OnnxClassifier(graph)(planted_images(2))).max() > 0.05


def test_an_int8_graph_gets_the_reason_it_cannot_be_randomised():
    graph = int8_graph()
    out = OnnxClassifier(graph)(planted_images(2))  # a real graph that runs
    assert out.shape == (2, 2) and np.isfinite(out).all()
    assert weight_layers(graph) == []  # the float scale is a quantisation rule, not a weight
    assert why_not_randomisable(graph) == QUANTISED_REASON and "\n" not in QUANTISED_REASON
    assert QUANTISED_REASON.startswith("quantised INT8 weights: their randomisation would change")
    with pytest.raises(ValueError, match="^quantised INT8 weights"):
        randomised_onnx(graph)
    with pytest.raises(ValueError, match="^quantised INT8 weights"):
        next(cascading_onnx(graph))
    assert why_not_randomisable(conv_graph()) is None
