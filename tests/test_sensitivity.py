"""Max- and average-sensitivity (xai.sensitivity) against a hand computation on unit-norm maps, scale-free,
bounded, seeded, bad input by name."""

from __future__ import annotations

import numpy as np
import pytest

from xai.sensitivity import BOUND, DIRECTIONS, between_images, noisy_copies, sensitivity


def first_channel(x: np.ndarray) -> np.ndarray:
    return np.asarray(x)[..., 0]


def unit(maps: np.ndarray) -> np.ndarray:
    flat = np.asarray(maps, np.float64).reshape(*np.shape(maps)[:-2], -1)
    return flat / np.linalg.norm(flat, axis=-1, keepdims=True)


def test_sensitivity_of_a_map_that_is_the_image_itself_is_the_change_of_the_unit_map():
    images = np.random.default_rng(0).random((3, 8, 8, 3)).astype(np.float32) + 0.5
    found = sensitivity(first_channel, images, radius=0.05, samples=4, seed=9)
    noisy = noisy_copies(images, 0.05, 4, 9)[..., 0]
    expected = np.linalg.norm(unit(noisy) - unit(images[..., 0])[None], axis=2)  # (4 copies, 3 images)
    np.testing.assert_allclose(found["max_sensitivity"], expected.max(axis=0), rtol=1e-5)
    np.testing.assert_allclose(found["avg_sensitivity"], expected.mean(axis=0), rtol=1e-5)
    assert (found["max_sensitivity"] > found["avg_sensitivity"]).all()
    again = sensitivity(first_channel, images, radius=0.05, samples=4, seed=9)
    assert np.array_equal(again["max_sensitivity"], found["max_sensitivity"])
    assert DIRECTIONS == {"max_sensitivity": "lower", "avg_sensitivity": "lower"}


def test_a_map_that_ignores_the_image_has_zero_sensitivity():
    images = np.random.default_rng(1).random((2, 6, 6, 3)).astype(np.float32)
    fixed = np.random.default_rng(2).random((2, 6, 6))
    found = sensitivity(lambda x: fixed, images, seed=3)
    assert found["max_sensitivity"].tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    ("kwargs", "fn", "words"),
    [
        ({"radius": 0}, first_channel, "^radius:"),
        ({"samples": 0}, first_channel, "^samples:"),
        ({}, lambda x: np.zeros(x.shape[:3]), "^explain_fn: the map of image 0 is all zero"),
        ({}, lambda x: np.full(x.shape[:3], np.nan), "^explain_fn:"),
        ({}, lambda x: x[..., :2, 0], "^explain_fn:"),
    ],
)
def test_bad_input_is_refused_by_name(kwargs, fn, words):
    with pytest.raises(ValueError, match=words):
        sensitivity(fn, np.ones((1, 4, 4, 3), np.float32), **kwargs)


def test_a_map_times_a_million_has_the_sensitivity_and_reference_of_the_map_itself():
    images = np.random.default_rng(5).random((4, 8, 8, 3)).astype(np.float32) + 0.5
    found = sensitivity(first_channel, images, radius=0.05, samples=3, seed=2)
    scaled = sensitivity(lambda x: 1e6 * first_channel(x), images, radius=0.05, samples=3, seed=2)
    tiny = sensitivity(lambda x: 1e-9 * first_channel(x), images, radius=0.05, samples=3, seed=2)
    for name in ("max_sensitivity", "avg_sensitivity"):
        np.testing.assert_allclose(scaled[name], found[name], rtol=1e-6)  # float32 maps
        np.testing.assert_allclose(tiny[name], found[name], rtol=1e-6)
    maps = images[..., 0].astype(np.float64)
    np.testing.assert_allclose(between_images(maps * 1e6), between_images(maps), rtol=1e-12)
    mixed = maps * np.array([1e-6, 1.0, 1e6, 1.0])[:, None, None]  # near-zero maps beside large ones
    np.testing.assert_allclose(between_images(mixed), between_images(maps), rtol=1e-9)
    assert (between_images(mixed) <= BOUND).all()


def test_changes_are_bounded_by_two_a_negated_map_reaching_it():
    images = np.random.default_rng(6).random((2, 6, 6, 3)).astype(np.float32) + 0.5
    base = images[..., 0]
    found = sensitivity(lambda x: -base, images, seed=1, base=base)  # every noisy copy's map the negative
    np.testing.assert_allclose(found["max_sensitivity"], [BOUND, BOUND], rtol=1e-6)
    np.testing.assert_allclose(between_images(np.stack([base[0], -base[0]])), [BOUND, BOUND])


def test_between_images_is_the_next_unit_map_against_this_one_and_base_maps_are_reused():
    maps = np.array([[[3.0, 4.0]], [[0.0, 4.0]], [[0.0, 0.0]], [[8.0, 0.0]]])  # norms 5, 4, 0, 8
    # unit maps (0.6, 0.8), (0, 1), none, (1, 0); the next of the last is the first
    expected = [np.hypot(0.6, 0.2), np.nan, np.nan, np.hypot(0.4, 0.8)]
    np.testing.assert_allclose(between_images(maps), expected)
    assert np.isnan(between_images(maps[:1])).all()
    images = np.random.default_rng(4).random((2, 5, 5, 3)).astype(np.float32) + 0.5
    given = sensitivity(first_channel, images, seed=1, base=images[..., 0])
    assert np.array_equal(given["avg_sensitivity"], sensitivity(first_channel, images, seed=1)["avg_sensitivity"])
