"""ROAD (xai.road): noisy linear imputation against its definition and a hand-solved 4x4 case,
MoRF / LeRF on models whose truth is known, and bad input refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from xai import road as road_module
from tests.synthetic import constant_model, patch_model
from xai.road import NEIGHBOURS, noisy_linear_impute, ranking_agreement, removal_masks, road


def neighbour_mean(image: np.ndarray, y: int, x: int) -> np.ndarray:
    """The definition, pixel by pixel: the weighted mean of the in-image 8 neighbours."""
    h, w = image.shape[:2]
    total, weights = 0.0, 0.0
    for (dy, dx), weight in NEIGHBOURS:
        if 0 <= y + dy < h and 0 <= x + dx < w:
            total, weights = total + weight * image[y + dy, x + dx], weights + weight
    return total / weights


def test_imputed_pixels_satisfy_the_neighbour_equations_and_kept_pixels_are_untouched():
    rng = np.random.default_rng(3)
    image = rng.random((9, 7, 3)).astype(np.float32)
    removed = rng.random((9, 7)) < 0.6
    removed[0, 0] = removed[8, 6] = True  # corners: neighbours outside the image are left out
    filled = noisy_linear_impute(image, removed, noise=0.0)
    for y, x in zip(*np.nonzero(removed)):
        np.testing.assert_allclose(filled[y, x], neighbour_mean(filled.astype(np.float64), y, x), atol=1e-5)
    assert np.array_equal(filled[~removed], image[~removed])
    assert not np.allclose(filled[removed], image[removed])  # the removed values are gone


def test_the_noise_is_seeded_small_and_only_on_removed_pixels():
    rng = np.random.default_rng(4)
    image = rng.random((32, 32, 3)).astype(np.float32)
    removed = rng.random((32, 32)) < 0.5
    exact = noisy_linear_impute(image, removed, noise=0.0)
    a, b = (noisy_linear_impute(image, removed, noise=0.01, seed=5) for _ in range(2))
    c = noisy_linear_impute(image, removed, noise=0.01, seed=6)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(a[~removed], image[~removed])
    assert np.std(a[removed] - exact[removed]) == pytest.approx(0.01, rel=0.1)


def test_a_hand_solved_4x4_case():
    ramp = np.arange(16, dtype=np.float32).reshape(4, 4, 1)  # v(r, c) = 4 r + c
    pair = np.zeros((4, 4), bool)
    pair[1, 1] = pair[1, 2] = True
    # x = (1 + 4 + 9 + y) / 6 + (0 + 2 + 8 + 10) / 12 and y = (2 + 7 + 10 + x) / 6 + (1 + 3 + 9 + 11) / 12
    # give x = 4 + y / 6, y = 31 / 6 + x / 6: x = 5, y = 6
    filled = noisy_linear_impute(ramp, pair, noise=0.0)
    np.testing.assert_allclose(filled[1, 1:3, 0], [5.0, 6.0], atol=1e-5)
    corner = np.zeros((4, 4), bool)
    corner[0, 0] = True  # (1 / 6 * 1 + 1 / 6 * 4 + 1 / 12 * 5) / (5 / 12) = 3: the weights left re-normalised
    assert noisy_linear_impute(ramp, corner, noise=0.0)[0, 0, 0] == pytest.approx(3.0, abs=1e-5)


def test_the_dissection_order_gives_the_dense_solution_of_the_row_major_system():
    """The solve runs in a nested-dissection order (for speed); its values are the row-major
    system's dense solution, on a smooth blob (one big region) and on scattered pixels."""
    from xai.road import dissection_rank, imputation_system

    rng = np.random.default_rng(7)
    image = rng.random((40, 36, 3)).astype(np.float32)
    yy, xx = np.mgrid[:40, :36]
    blob = (yy - 15) ** 2 + (xx - 20) ** 2 < 150
    for removed in (blob, rng.random((40, 36)) < 0.7):
        a, b = imputation_system(image, removed)
        dense = np.linalg.solve(a.toarray(), b)
        filled = noisy_linear_impute(image, removed, noise=0.0)
        np.testing.assert_allclose(filled[removed], dense, atol=1e-6)
    rank = dissection_rank(40, 36)
    assert sorted(rank.tolist()) == list(range(40 * 36))  # every pixel once


def test_removal_is_nested_and_morf_lerf_take_opposite_ends():
    m = np.arange(100, dtype=float).reshape(10, 10)
    masks = removal_masks(m, (10, 50, 90), np.random.default_rng(0))
    assert masks.sum(axis=(2, 3)).tolist() == [[10, 50, 90], [10, 50, 90]]
    assert masks[0, 0].ravel()[90:].all() and masks[1, 0].ravel()[:10].all()  # MoRF: top values; LeRF: lowest
    assert (masks[:, 1] >= masks[:, 0]).all() and (masks[:, 2] >= masks[:, 1]).all()


def test_road_on_a_model_that_ignores_its_input_gives_zero_gap():
    rng = np.random.default_rng(0)
    images, maps = rng.random((3, 8, 8, 3)).astype(np.float32), rng.random((3, 8, 8))
    curves = road(constant_model(), images, maps, [0, 0, 1], percentages=(20, 50, 80))
    assert curves.morf_probability.shape == (3, 3)
    assert np.array_equal(curves.gap("probability"), np.zeros(3))
    assert np.array_equal(curves.gap("log_odds"), np.zeros(3))
    assert curves.morf_log_odds[0, 0] == pytest.approx(0.5, abs=1e-5)  # logits 0.3 vs -0.2: the logit copy's log-odds


def test_road_tells_the_true_map_from_its_reverse_on_a_patch_model():
    rng = np.random.default_rng(1)
    images = rng.random((4, 16, 16, 3)).astype(np.float32)
    images[:, 4:8, 4:8] = 1.0  # a bright patch: class 0 wins
    truth = np.zeros((4, 16, 16))
    truth[:, 4:8, 4:8] = 1.0
    truth += rng.random(truth.shape) * 1e-3
    good = road(patch_model(), images, truth, [0] * 4, percentages=(10, 30))
    bad = road(patch_model(), images, -truth, [0] * 4, percentages=(10, 30))
    assert (good.gap() > 1).all() and (bad.gap() < -1).all()


@pytest.mark.parametrize(
    ("maps", "words"),
    [(np.ones((2, 8, 7)), "maps: shape"), (np.zeros((2, 8, 8)), "all zero"), (np.full((2, 8, 8), np.nan), "NaN")],
)
def test_bad_maps_are_refused_by_name(maps, words):
    images = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=words) as info:
        road(constant_model(), images, maps, [0, 0])
    assert str(info.value).startswith("maps:")


@pytest.mark.parametrize("percentages", [(0, 50), (50, 100), (-5,), (150,), ()])
def test_percentages_outside_0_100_are_refused_by_name(percentages):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="^percentages:"):
        road(constant_model(), rng.random((1, 8, 8, 3)), rng.random((1, 8, 8)), [0], percentages=percentages)


def test_ranking_agreement_of_consistent_and_reversed_orders():
    morf = {"a": 0.1, "b": 0.5, "c": 0.9}
    assert ranking_agreement(morf, {"a": 0.9, "b": 0.6, "c": 0.2}) == pytest.approx(1.0)
    assert ranking_agreement(morf, {"a": 0.1, "b": 0.6, "c": 0.9}) == pytest.approx(-1.0)
    assert np.isnan(ranking_agreement({"a": 1.0}, {"a": 2.0}))
    assert road_module.PERCENTAGES == tuple(sorted(road_module.PERCENTAGES))


def test_the_docs_example_runs():
    """docs/explanation-checks.md's example runs as written, and says what it should."""
    import contextlib
    import io
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "explanation-checks.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "explanation-checks.md", "exec"), {})
    lines = dict(line.split(" ", 1) for line in out.getvalue().splitlines())
    assert lines["saliency"].endswith("pointing 1.0")
    assert float(lines["saliency"].split()[2]) > float(lines["random"].split()[2])


def two_patch_model(size: int = 16):
    """A conv + dense softmax model: class 0 reads the top-left patch, class 1 the bottom-right."""
    from experiments.models.architecture import keras

    model = keras.Sequential([keras.Input((size, size, 3)), keras.layers.Conv2D(1, 1), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])  # fmt: skip
    kernel = np.zeros((size, size, 2), np.float32)
    kernel[2:6, 2:6, 0], kernel[10:14, 10:14, 1] = 1.0, 1.0
    model.layers[0].set_weights([np.ones((1, 1, 3, 1), np.float32), np.zeros(1, np.float32)])
    model.layers[-1].set_weights([kernel.reshape(-1, 2), np.zeros(2, np.float32)])
    return model


def test_independent_randomisation_changes_only_the_named_layer():
    from xai.sanity import independent_randomisation

    model = two_patch_model()
    trained = [layer.get_weights() for layer in model.layers]
    seen = []
    for name, copy in independent_randomisation(model, seed=4):
        seen.append(name)
        for layer, before in zip(copy.layers, trained):
            same = all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), before))
            assert same == (layer.name != name), (name, layer.name)
    assert seen == [model.layers[2].name, model.layers[0].name]  # the weighted layers, output first
    assert all(np.array_equal(a, b) for layer, t in zip(model.layers, trained) for a, b in zip(layer.get_weights(), t))


def test_the_random_logit_check_tells_a_class_specific_map_from_a_random_one():
    from xai.sanity import random_logit_similarity

    images = np.random.default_rng(5).random((4, 16, 16, 3)).astype(np.float32)
    model = two_patch_model()
    assert (random_logit_similarity(model, images, "saliency", seed=1) < 0.5).all()
    assert random_logit_similarity(model, images, "random", seed=1) == pytest.approx([1.0] * 4)  # it ignores the class
