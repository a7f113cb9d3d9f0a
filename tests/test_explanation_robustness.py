"""The explanation stage's robustness of the maps (experiments.stages.explanations.robustness):
sensitivity under small noise on the study's images with its 32 px model, in one table with the
drift under edits, directions read from METRICS, feeding the verdict's "stable under small noise"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from augment import IDENTITY
from experiments.inputs.images import load_for_model
from experiments.stages.explanations.checks import CheckUnit, check_table
from experiments.stages.explanations.robustness import NOISE_SAMPLES, noise_sensitivity, robustness_table
from experiments.stats.statistics import METRICS


@pytest.fixture(scope="module")
def sensitivities(cnn32, study_images):
    """Four study images of different subjects (6 files each), explained again under noise by
    Grad-CAM, random and (not) LIME."""
    paths = study_images[::6][:4]
    units = [CheckUnit(p.stem, "cnn32", [IDENTITY], load_for_model(p, 32)[None], {}, {}) for p in paths]
    return noise_sensitivity(units, {"cnn32": cnn32}, ["gradcam", "random", "lime"], "ai", seed=3)


def test_each_image_is_measured_by_every_method_but_lime_and_random_maps_do_not_move(sensitivities):
    assert sensitivities.groupby("method").size().to_dict() == {"gradcam": 4, "random": 4}
    random = sensitivities[sensitivities["method"] == "random"]
    assert (random[["max_sensitivity", "avg_sensitivity"]] == 0).all().all()  # one seed: the pixels do not matter
    assert (random["between_images"] > 0.5).all()  # but each image of a batch draws its own map
    cam = sensitivities[sensitivities["method"] == "gradcam"]
    assert (cam["avg_sensitivity"] > 0).all() and (cam["max_sensitivity"] >= cam["avg_sensitivity"]).all()
    assert (cam["between_images"] > cam["avg_sensitivity"]).all()  # 2 % noise moves a CAM less than a new image
    assert NOISE_SAMPLES == 5


def test_one_table_with_the_drift_under_edits_and_directions_from_metrics(sensitivities):
    explanations = pd.DataFrame({"model": "cnn32", "method": ["gradcam"] * 3 + ["random"] * 3,
                                 "variant": [IDENTITY, "jpeg_q5", "blur_s8"] * 2,
                                 "drift_spearman": [np.nan, 0.9, 0.7, np.nan, 1.0, 1.0]})  # fmt: skip
    table = robustness_table(sensitivities, explanations, resamples=200, seed=0)
    assert table[["method", "metric"]].values.tolist() == [
        ["gradcam", "max_sensitivity"], ["gradcam", "avg_sensitivity"], ["gradcam", "drift_spearman"],
        ["random", "max_sensitivity"], ["random", "avg_sensitivity"], ["random", "drift_spearman"]]  # fmt: skip
    assert (table["better"] == [METRICS[m].direction for m in table["metric"]]).all()
    assert table["better"].tolist()[:3] == ["lower", "lower", "higher"]
    cam = table.set_index(["method", "metric"]).loc["gradcam"]
    assert cam.loc["drift_spearman", "value"] == pytest.approx(0.8) and cam.loc["drift_spearman", "n"] == 2
    assert cam.loc["avg_sensitivity", "n"] == 4
    assert (
        cam.loc["avg_sensitivity", "ci_low"]
        <= cam.loc["avg_sensitivity", "value"]
        <= cam.loc["avg_sensitivity", "ci_high"]
    )
    mine = sensitivities[sensitivities["method"] == "gradcam"]
    assert cam.loc["avg_sensitivity", "reference"] == pytest.approx(mine["between_images"].mean())


def test_the_verdict_reads_stable_under_noise_and_lime_is_not_measured(sensitivities):
    empty = pd.DataFrame(
        columns=["model", "method", "sample", "variant", "order", "percent", "probability", "log_odds"]
    )
    sanity = pd.DataFrame(
        columns=["sample", "model", "method", "randomised_layers", "top_layer", "spearman", "top_iou"]
    )
    localisation = pd.DataFrame(columns=["model", "method", "pointing_game", "region_share"])
    methods = [("cnn32", "gradcam"), ("cnn32", "lime")]
    checks = check_table(empty, localisation, sanity, methods, 200, 0, sensitivities).set_index(["method", "check"])
    cam, lime = checks.loc[("gradcam", "noise")], checks.loc[("lime", "noise")]
    assert cam["metric"] == "avg_sensitivity" and cam["better"] == "lower" and cam["n"] == 4
    assert cam["ci_high"] < 0 and cam["verdict"] == "pass" and cam["passed"] and cam["n_to_pass"] <= cam["n"]
    assert cam["difference"] == pytest.approx(cam["value"] - cam["reference"])
    assert lime["verdict"] == "not_measured" and lime["n"] == 0 and not lime["passed"] and np.isnan(lime["n_to_pass"])
