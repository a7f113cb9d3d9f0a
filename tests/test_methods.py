"""The explainers' registry (xai.methods): strict options per method, the config's method list
read from it, and every method's maps unchanged by the move behind it."""

import typing

import numpy as np
import pytest

from experiments.config.sections import EXPLAIN_METHODS, ExplainConfig
from xai.methods import BATCH_SIZE, NAMES, REGISTRY, options_for
from tests.test_outputs_pinned import PINS, UPDATE
from tests.tolerance import assert_maps_match


def test_the_configs_method_list_is_the_registrys():
    (literal,) = typing.get_args(ExplainConfig.model_fields["methods"].annotation)
    assert typing.get_args(literal) == NAMES == EXPLAIN_METHODS
    assert NAMES == (
        "saliency", "smoothgrad", "gradcam", "gradcam++", "scorecam", "faster_scorecam", "layercam", "lime",
        "occlusion", "rise", "random",
    )  # fmt: skip
    assert {m.family for m in REGISTRY.values()} == {"gradient", "cam", "perturbation", "baseline"}
    assert [n for n, m in REGISTRY.items() if m.signed] == ["lime", "occlusion"]


def test_an_unknown_or_misspelt_option_is_an_error_naming_it_and_the_method():
    with pytest.raises(ValueError, match=r"^gradcam: unknown option 'num_samples' \(known: batch_size, layer\)$"):
        options_for("gradcam", {"num_samples": 10})
    known = r"\(known: batch_size, smooth_samples, smooth_noise\)$"
    with pytest.raises(ValueError, match=r"^smoothgrad: unknown option 'smooth_sample' " + known):
        options_for("smoothgrad", {"smooth_sample": 5})
    with pytest.raises(ValueError, match=r"^random: unknown option 'batch_size' \(known: none\)$"):
        options_for("random", {"batch_size": 8})
    with pytest.raises(ValueError, match=r"^scorecam: option 'batch_size': Input should be greater than or equal to 1"):
        options_for("scorecam", {"batch_size": 0})
    with pytest.raises(ValueError, match=r"^unknown method 'gradcam\+\+\+'"):
        options_for("gradcam+++", {})
    assert options_for("faster_scorecam", {"batch_size": 32}).batch_size == 32  # no longer fixed at 256
    assert options_for("scorecam", {}).batch_size == BATCH_SIZE == 256


def test_explain_refuses_an_option_the_method_does_not_take(cnn32):
    from xai import compiled
    from xai.explain import explain

    assert BATCH_SIZE == compiled.BATCH_SIZE
    images = np.zeros((1, 32, 32, 3), np.float32)
    with pytest.raises(ValueError, match="saliency: unknown option 'layer'"):
        explain(cnn32.model, images, "saliency", 0, layer="conv2d")
    with pytest.raises(ValueError, match="lime: option 'num_samples'"):
        explain(cnn32.model, images, "lime", 0, num_samples=0)


def method_maps(detector, images: np.ndarray) -> dict[str, np.ndarray]:
    """Every registered method's own values (rescale=False) on fixed inputs."""
    from xai.explain import explain

    maps = {}
    for name in NAMES:
        options = {"num_samples": 200} if name == "lime" else {}
        maps[name] = explain(detector.model, images, name, "ai", class_names=detector.class_names, seed=3,
                             rescale=False, **options)  # fmt: skip
    return maps


def test_every_method_gives_the_maps_it_gave_before_the_registry(cnn32, study_images):
    """The maps were first pinned (as digests) with the string-dispatching explain() of main before
    the registry; now by value, within tests/tolerance.py's rule for maps, so that they hold on any
    CPU. ARTXAI_UPDATE_PINS=1 rewrites tests/pins/method_maps.npz."""
    from experiments.inputs.images import decode_image, resize_for_model

    images = np.stack([resize_for_model(decode_image(p).pixels, 32) for p in study_images[:2]])
    found = method_maps(cnn32, images)
    if UPDATE:
        np.savez_compressed(PINS / "method_maps.npz", **found)
        return
    pinned = dict(np.load(PINS / "method_maps.npz"))
    assert sorted(found) == sorted(pinned)
    for name in NAMES:
        assert_maps_match(found[name], pinned[name], name)
