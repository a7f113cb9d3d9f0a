"""The blurred random control (xai.controls): seeded, smoother than the random map by two stated measures
(lag-1 autocorrelation, mean absolute difference between neighbouring pixels), matched to a target map's
smoothness, its maximum as likely on any pixel as a random map's; and the stage's ROAD checks against it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xai.controls import autocorrelation, blurred_random, kernel_autocorrelation, sigma_for, typical_sigma


def neighbour_difference(maps: np.ndarray) -> np.ndarray:
    """Per map: mean |difference| between horizontally and vertically neighbouring pixels (maps in [0, 1])."""
    return (np.abs(np.diff(maps, axis=2)).mean(axis=(1, 2)) + np.abs(np.diff(maps, axis=1)).mean(axis=(1, 2))) / 2


def test_the_control_is_seeded_and_smoother_than_the_random_map():
    shape = (6, 32, 32)
    control = blurred_random(shape, 2.0, seed=3)
    assert control.shape == shape and control.dtype == np.float32
    assert np.array_equal(control, blurred_random(shape, 2.0, seed=3))
    assert not np.array_equal(control, blurred_random(shape, 2.0, seed=4))
    assert control.min() == 0 and control.max() == 1  # each map rescaled to [0, 1], as a random map's values
    random = np.random.default_rng(3).random(shape)  # xai's `random` method: seeded uniform noise
    assert np.abs(autocorrelation(random)).max() < 0.1 and (autocorrelation(control) > 0.8).all()
    assert (neighbour_difference(control) < neighbour_difference(random) / 3).all()
    low, high = random.min(axis=(1, 2), keepdims=True), random.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(blurred_random(shape, 0.0, seed=3), (random - low) / (high - low), rtol=1e-6)  # no blur


def test_sigma_matches_a_maps_autocorrelation():
    for sigma in (0.7, 1.5, 3.0):
        assert sigma_for(kernel_autocorrelation(sigma), 32) == pytest.approx(sigma, rel=1e-6)
    assert kernel_autocorrelation(1.5) == pytest.approx(np.exp(-1 / (4 * 1.5**2)), abs=1e-3)  # the continuous limit
    assert sigma_for(-0.2, 32) == 0 and sigma_for(np.nan, 32) == 0 and sigma_for(0.9999, 32) == 4  # 32 / 8
    # a method's smooth maps: white noise blurred at 2 px; the control drawn to match has their autocorrelation
    maps = np.stack([blurred_random((1, 48, 48), 2.0, seed=s)[0] for s in range(8)])
    sigma, rho = typical_sigma(maps)
    assert sigma == pytest.approx(2.0, rel=0.15) and rho == pytest.approx(kernel_autocorrelation(2.0), abs=0.03)
    control = blurred_random((8, 48, 48), sigma, seed=99)
    assert np.median(autocorrelation(control)) == pytest.approx(rho, abs=0.03)


def test_the_controls_maximum_falls_in_a_region_as_often_as_its_share():
    """Wrapped at the edges, the smoothed field is stationary: its pointing-game rate is the region's
    share of the image, the reference a random map's pointing is read against."""
    maps = blurred_random((2000, 16, 16), 1.5, seed=5)
    argmax = maps.reshape(len(maps), -1).argmax(axis=1)
    rows, cols = np.divmod(argmax, 16)
    inside = ((rows < 4) & (cols < 8)).mean()  # a 4 x 8 box: 1/8 of the image
    assert inside == pytest.approx(1 / 8, abs=3 * np.sqrt(1 / 8 * 7 / 8 / 2000))


def test_the_stage_adds_the_control_after_random_and_checks_road_against_both():
    from experiments.stages.explanations.checks import CONTROL, CheckUnit, road_checks, with_blurred_control

    rng = np.random.default_rng(0)
    smooth = blurred_random((2, 16, 16), 2.0, seed=1)
    unit = CheckUnit("s", "m", ["identity", "v"], rng.random((2, 16, 16, 3)).astype(np.float32),
                     {"gradcam": smooth, "random": rng.random((2, 16, 16))}, {})  # fmt: skip
    (found,) = with_blurred_control([unit], seed=7)
    assert list(found.maps) == ["gradcam", "random", CONTROL] and list(unit.maps) == ["gradcam", "random"]
    assert found.maps[CONTROL].shape == (2, 16, 16)
    assert autocorrelation(found.maps[CONTROL][:1])[0] > 0.5  # matched to gradcam's smooth map, not random's
    assert np.array_equal(found.maps[CONTROL], with_blurred_control([unit], seed=7)[0].maps[CONTROL])
    other = CheckUnit("t", "m2", unit.ids, unit.images, unit.maps, {})
    mixed = with_blurred_control([unit, other, CheckUnit("u", "m", unit.ids, unit.images, unit.maps, {})], seed=7)
    assert [(u.sample, u.model) for u in mixed] == [("s", "m"), ("t", "m2"), ("u", "m")]  # the units' order kept
    assert np.array_equal(mixed[0].maps[CONTROL], found.maps[CONTROL])  # seeded per sample and model
    rows = []
    for method, shift in (("gradcam", -1.0), ("random", 0.0), (CONTROL, -1.0)):
        for i in range(6):
            for order, sign in (("morf", 1), ("lerf", -1)):
                wobble = 0.05 * np.sin(i + len(method))
                rows.append({"model": "m", "method": method, "sample": f"s{i}", "order": order, "percent": 50,
                             "probability": 0.5, "log_odds": sign * shift + wobble})  # fmt: skip
    checks = pd.DataFrame(road_checks(pd.DataFrame(rows), 500, 0)).set_index("check")
    assert list(checks.index) == ["road_morf", "road_morf_blurred", "road_lerf", "road_lerf_blurred"]
    assert set(checks["method"]) == {"gradcam"}  # neither control is checked against the other
    # beats the pixel-wise random map, but only as much as a random map as smooth as it: blur alone
    assert checks.loc["road_morf", "verdict"] == "pass" and checks.loc["road_lerf", "verdict"] == "pass"
    assert checks.loc["road_morf_blurred", "verdict"] != "pass" and checks.loc["road_lerf_blurred", "verdict"] != "pass"
