"""Max- and average-sensitivity (xai.sensitivity) against a hand computation, seeded, bad input by name."""

from __future__ import annotations

import numpy as np
import pytest

from xai.sensitivity import DIRECTIONS, noisy_copies, sensitivity


def first_channel(x: np.ndarray) -> np.ndarray:
    return np.asarray(x)[..., 0]


def test_sensitivity_of_a_map_that_is_the_image_itself_is_the_noise_relative_to_the_image():
    images = np.random.default_rng(0).random((3, 8, 8, 3)).astype(np.float32) + 0.5
    found = sensitivity(first_channel, images, radius=0.05, samples=4, seed=9)
    noise = noisy_copies(images, 0.05, 4, 9)[..., 0] - images[None, ..., 0]
    expected = np.linalg.norm(noise.reshape(4, 3, -1), axis=2) / np.linalg.norm(images[..., 0].reshape(3, -1), axis=1)
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


def test_between_images_is_the_next_map_against_this_one_and_base_maps_are_reused():
    from xai.sensitivity import between_images

    maps = np.array([[[3.0, 4.0]], [[0.0, 4.0]], [[0.0, 0.0]]])  # norms 5, 4, 0
    np.testing.assert_allclose(between_images(maps), [3 / 5, 4 / 4, np.nan])  # next of the last is the first
    assert np.isnan(between_images(maps[:1])).all()
    images = np.random.default_rng(4).random((2, 5, 5, 3)).astype(np.float32) + 0.5
    given = sensitivity(first_channel, images, seed=1, base=images[..., 0])
    assert np.array_equal(given["avg_sensitivity"], sensitivity(first_channel, images, seed=1)["avg_sensitivity"])
