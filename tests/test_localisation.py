"""Localisation (xai.localisation): each measure by hand, and a synthetic Keras model whose
decision depends on one known patch only: a gradient method points at it, a random map does not."""

from __future__ import annotations

import numpy as np
import pytest

from experiments.stats.statistics import wilson_ci
from tests.synthetic import patch_model
from xai import explain
from xai.localisation import localisation, pointing_game, relevance_mass, relevance_rank


def test_each_measure_on_a_hand_made_map():
    mask = np.zeros((4, 4), bool)
    mask[0, :2] = True  # 2 of 16 pixels
    m = np.zeros((4, 4))
    m[0, 0], m[3, 3], m[2, 2] = 3.0, 3.0, 2.0  # two tied maxima, one inside
    assert pointing_game(m, mask) == 0.5
    assert relevance_mass(m, mask) == pytest.approx(3 / 8)
    assert relevance_rank(m, mask) == pytest.approx(0.5)  # top 2: (0, 0) and (3, 3)
    assert np.isnan(relevance_mass(-np.abs(m) - 1, mask))  # nothing positive: no mass to share
    assert localisation(m[None], mask[None])["region_share"].tolist() == [2 / 16]


@pytest.mark.parametrize(
    ("maps", "masks", "words"),
    [
        (np.ones((1, 4, 5)), np.ones((1, 4, 4), bool), "^masks: shape"),
        (np.zeros((1, 4, 4)), np.eye(4, dtype=bool)[None], "^maps: map 0 is all zero"),
        (np.full((1, 4, 4), np.nan), np.eye(4, dtype=bool)[None], "^maps: contain NaN"),
        (np.eye(4)[None], np.zeros((1, 4, 4), bool), "^masks: mask 0 is empty"),
    ],
)
def test_bad_input_is_refused_by_name(maps, masks, words):
    with pytest.raises(ValueError, match=words):
        localisation(maps, masks)


def test_a_gradient_method_finds_the_patch_that_decides_and_random_does_not():
    rng = np.random.default_rng(0)
    images = rng.random((20, 16, 16, 3)).astype(np.float32)
    masks = np.zeros((20, 16, 16), bool)
    masks[:, 4:8, 4:8] = True  # the model reads this patch only (1/16 of the image)
    model = patch_model(16, (4, 4, 8, 8))
    found = {m: localisation(explain(model, images, m, 0, seed=3), masks) for m in ("saliency", "random")}
    share = found["saliency"]["region_share"].mean()
    assert found["saliency"]["pointing_game"].tolist() == [1.0] * 20
    assert found["saliency"]["relevance_rank"].tolist() == [1.0] * 20
    assert found["saliency"]["relevance_mass"] == pytest.approx(np.ones(20))
    assert found["random"]["pointing_game"].sum() <= 4  # about 20 / 16 expected
    assert found["random"]["relevance_mass"].mean() == pytest.approx(share, abs=0.03)
    low, _ = wilson_ci(found["saliency"]["pointing_game"].sum(), 20)
    _, high = wilson_ci(found["random"]["pointing_game"].sum(), 20)
    assert low > share + 0.5 and high < 0.5
