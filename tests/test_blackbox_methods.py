"""Black-box explanation (issue #29 item 4): occlusion and RISE on any detector, a Keras model or a
plain function of images (a real ONNX graph through onnxruntime, a NumPy function); LIME on a
function too; gradient methods refused on a function in one line; the explanation checks (ROAD,
deletion/insertion, sensitivity, localisation, sanity with an ONNX graph's randomised copies)
running on a function."""

import numpy as np
import pytest

from tests.blackbox_graphs import (
    REGION, OnnxClassifier, conv_graph, planted, planted_images, planted_keras, region_graph, region_mask,
)  # fmt: skip
from xai.methods import BLACK_BOX, REGISTRY, options_for, refusal

FAST = {"occlusion": {}, "rise": {"num_masks": 300}, "lime": {"num_samples": 200}}


@pytest.fixture(scope="module")
def detectors():
    """The planted-region detector three ways: NumPy, ONNX through onnxruntime, Keras."""
    return {"numpy": planted, "onnx": OnnxClassifier(region_graph()), "keras": planted_keras()}


def test_which_methods_need_gradients_and_the_one_line_refusal():
    needs = {name for name, m in REGISTRY.items() if m.needs_gradients}
    assert needs == {"saliency", "smoothgrad", "gradcam", "gradcam++", "scorecam", "faster_scorecam", "layercam"}
    assert BLACK_BOX == ("lime", "occlusion", "rise")
    assert REGISTRY["occlusion"].family == REGISTRY["rise"].family == "perturbation"
    assert REGISTRY["occlusion"].signed and not REGISTRY["rise"].signed
    assert refusal("gradcam", False, "onnx") == (
        "gradcam needs the model's gradients and layers; onnx detectors give only outputs: use lime, occlusion or rise"
    )
    assert refusal("gradcam", True) is None and refusal("rise", False) is None and refusal("random", False) is None


@pytest.mark.parametrize("method", sorted(n for n, m in REGISTRY.items() if m.needs_gradients))
def test_explain_refuses_a_gradient_method_on_a_function_in_one_line(detectors, method):
    from xai.explain import explain

    with pytest.raises(ValueError) as raised:
        explain(detectors["onnx"], planted_images(1), method, 0)
    assert str(raised.value) == refusal(method, False, "onnx") and "\n" not in str(raised.value)
    with pytest.raises(ValueError, match="^saliency needs the model's gradients and layers; black-box detectors"):
        explain(planted, planted_images(1), "saliency", 0)  # a function without a `kind`


def test_options_are_checked():
    assert options_for("occlusion", {}).model_dump() == {
        "batch_size": 256,
        "patch": 0.25,
        "stride": None,
        "fill": "mean",
    }
    assert options_for("rise", {}).model_dump() == {"batch_size": 256, "num_masks": 1000, "cells": 8, "p1": 0.5}
    assert options_for("occlusion", {"patch": 4, "stride": 0.1}).patch == 4
    for bad in ({"patch": 0}, {"patch": 1.5}, {"fill": "median"}, {"fill": 2.0}, {"masks": 3}):
        with pytest.raises(ValueError, match="^occlusion: "):
            options_for("occlusion", bad)
    for bad in ({"p1": 1.0}, {"p1": 0}, {"cells": 1}, {"num_masks": 0}):
        with pytest.raises(ValueError, match="^rise: "):
            options_for("rise", bad)


@pytest.mark.parametrize("kind", ["numpy", "onnx", "keras"])
@pytest.mark.parametrize("method", ["occlusion", "rise", "lime"])
def test_black_box_maps_find_the_only_region_the_detector_reads(detectors, kind, method):
    from xai.explain import explain
    from xai.localisation import localisation

    images = planted_images(2)
    maps = explain(detectors[kind], images, method, 0, seed=4, rescale=False, **FAST[method])
    assert maps.shape == (2, 32, 32)
    found = localisation(maps, region_mask(2))  # the region is 1/16 of the image
    # LIME's superpixels straddle the region's edge: its top superpixel lies partly outside
    pointing, rank = {"occlusion": (1, 0.99), "rise": (1, 0.75), "lime": (0.6, 0.7)}[method]
    assert (found["pointing_game"] >= pointing).all() and (found["relevance_rank"] >= rank).all(), (method, found)
    if method == "occlusion":  # hiding a patch outside the region changes nothing: all the mass is near it
        assert (found["relevance_mass"] > 0.75).all(), found  # 8 px patches overlap its edge
        assert np.abs(maps[:, :4, :4]).max() == 0


def test_maps_are_deterministic_by_seed_and_the_same_from_keras_and_from_a_function(detectors):
    from xai.explain import explain

    images = planted_images(2, seed=1)
    for method in ("occlusion", "rise"):
        a, b = (explain(detectors["numpy"], images, method, 0, seed=7, **FAST[method]) for _ in range(2))
        np.testing.assert_array_equal(a, b)
        for kind in ("onnx", "keras"):
            other = explain(detectors[kind], images, method, 0, seed=7, **FAST[method])
            np.testing.assert_allclose(other, a, atol=1e-5)
    rise = [explain(planted, images, "rise", 0, seed=s, num_masks=100) for s in (1, 2)]
    assert np.abs(rise[0] - rise[1]).max() > 0.05  # another seed, other masks
    occlusion = [explain(planted, images, "occlusion", 0, seed=s) for s in (1, 2)]
    np.testing.assert_array_equal(*occlusion)  # occlusion draws nothing


def test_occlusion_values_are_the_probability_drops():
    from xai.blackbox import occlusion_maps, positions

    assert positions(32, 8, 4).tolist() == [0, 4, 8, 12, 16, 20, 24]
    assert positions(32, 10, 8).tolist() == [0, 8, 16, 22]  # one flush with the edge
    images = planted_images(1)
    maps = occlusion_maps(planted, images, [0], patch=4, stride=4, fill=0.0)  # each pixel under one patch
    copy = images.copy()
    copy[:, 12:16, 24:28] = 0  # one of the 4 x 4 patches inside the region
    np.testing.assert_allclose(maps[0, 12:16, 24:28], planted(images)[0, 0] - planted(copy)[0, 0], rtol=1e-6)
    np.testing.assert_allclose(maps[0][REGION], maps[0, 12, 24], rtol=1e-6)  # every patch there hides as much
    assert maps[0, 12, 24] > 0.01 and maps[0][~region_mask(1)[0]].max() == 0


def test_rise_masks_are_seeded_smooth_and_keep_p1_of_the_pixels():
    from xai.blackbox import RiseMasks

    drawn = RiseMasks(400, 8, 0.3, 32, 32, seed=5)
    masks = drawn.masks(0, 400)
    assert masks.shape == (400, 32, 32) and masks.min() >= 0 and masks.max() <= 1
    assert abs(masks.mean() - 0.3) < 0.03
    assert 0 < np.mean((masks > 0.01) & (masks < 0.99))  # bilinear: soft edges
    np.testing.assert_array_equal(drawn.masks(100, 200), masks[100:200])
    np.testing.assert_array_equal(RiseMasks(400, 8, 0.3, 32, 32, seed=5).masks(0, 400), masks)


def test_the_explanation_checks_run_on_a_function(detectors):
    from xai.explain import explain
    from xai.faithfulness import deletion_insertion
    from xai.road import road
    from xai.sensitivity import sensitivity

    images, onnx = planted_images(2), detectors["onnx"]
    maps = explain(onnx, images, "occlusion", 0)
    noise = explain(onnx, images, "random", 0, seed=3)
    curves = {key: road(onnx, images, m, [0, 0], seed=1) for key, m in (("occlusion", maps), ("random", noise))}
    assert (curves["occlusion"].gap() > 1).all() and (curves["occlusion"].gap() > curves["random"].gap() + 1).all()
    keras_curves = road(detectors["keras"], images, maps, [0, 0], seed=1, output="probabilities")
    np.testing.assert_allclose(keras_curves.morf_probability, curves["occlusion"].morf_probability, atol=1e-5)
    di = deletion_insertion(onnx, images, maps, [0, 0], steps=8)
    assert (di.deletion_auc < deletion_insertion(onnx, images, noise, [0, 0], steps=8).deletion_auc).all()
    moved = sensitivity(lambda x: explain(onnx, x, "occlusion", 0), images, samples=2)
    assert (moved["max_sensitivity"] < 0.2).all()


def test_sanity_takes_an_onnx_graphs_randomised_copies_and_refuses_without_them():
    from xai.onnx_randomise import cascading_onnx
    from xai.sanity import random_logit_similarity, sanity_maps
    from xai.similarity import spearman

    graph, images = conv_graph(), planted_images(2, seed=2)
    model = OnnxClassifier(graph)
    with pytest.raises(ValueError, match="^model: not a Keras model, so xai cannot randomise it"):
        sanity_maps(model, images, "occlusion", [0, 0])
    copies = [(layer, OnnxClassifier(g)) for layer, g in cascading_onnx(graph, seed=1)]
    for method, options in (("occlusion", {"patch": 4}), ("lime", {"num_samples": 100})):
        maps, randomised = sanity_maps(model, images, method, [0, 0], seed=1, randomised=copies, **options)
        assert maps.shape == (2, 32, 32) and [name for name, _ in randomised] == ["gemm", "conv"]
        assert all(spearman(maps[0], m) < 0.9 for _, m in randomised), method
    assert random_logit_similarity(model, images, "occlusion").shape == (2,)


def test_the_study_cnn_gives_the_same_maps_as_a_keras_model_and_as_a_function(cnn32, study_images):
    from experiments.inputs.images import decode_image, resize_for_model
    from xai.explain import explain

    images = np.stack([resize_for_model(decode_image(p).pixels, 32) for p in study_images[:2]])
    function = lambda x: np.asarray(cnn32.model(x, training=False))  # eager calls, not xai.compiled's
    for method, options in (("occlusion", {"patch": 4}), ("rise", {"num_masks": 200}), ("lime", {"num_samples": 100})):
        found = [
            explain(m, images, method, "ai", class_names=cnn32.class_names, seed=3, rescale=False, **options)
            for m in (cnn32.model, function)
        ]
        assert found[0].shape == (2, 32, 32) and found[0].std(axis=(1, 2)).min() > 0, method
        np.testing.assert_allclose(found[1], found[0], atol=1e-5, err_msg=method)
