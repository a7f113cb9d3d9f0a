"""Numbers that do not mislead: intervals, fooled vs corrected, margins, replicates, minimal flips,
explanation methods against the random baseline. Small cases whose answers are known by hand."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from sklearn.metrics import average_precision_score

from augment import GridError, apply, expand_grid, variant_seed
from augment.grid import count_grid
from experiments import run as cli
from experiments.stages.evaluation import calibration, calibration_error_stat, metrics_with_ci
from experiments.stages.explanations.trust import explanations_vs_random
from experiments.models.architecture import KerasDetector, keras, margin_from_probabilities
from experiments.models.detector import InputSpec
from experiments.stats.metrics import average_precision_stat
from experiments.stats.statistics import (
    bootstrap_ci,
    mcnemar_exact,
    mean_ci,
    paired_difference_ci,
    row_mean_cis,
    verdict,
    wilson_ci,
)
from experiments.stages.scoring.tables import finish_scores, summarise

# --- intervals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "k, n, low, high",
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)],
)
def test_wilson_interval_matches_published_values(k, n, low, high):
    """Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score)."""
    assert wilson_ci(k, n) == pytest.approx((low, high), abs=5e-5)


def test_proportions_at_zero_and_one_keep_a_width_and_no_n_means_no_interval():
    # 11 of 11 right: a percentile bootstrap says [1, 1]; Wilson says how little 11 images show
    low, high = wilson_ci(11, 11)
    assert high == 1 and low == pytest.approx(0.7412, abs=1e-4)
    assert wilson_ci(0, 11) == pytest.approx((0.0, 0.2588), abs=1e-4)
    assert np.isnan(wilson_ci(0, 0)).all()
    lows, highs = wilson_ci(np.array([0, 5, 10]), np.array([10, 10, 10]))  # arrays broadcast
    assert lows[1] == pytest.approx(0.2366, abs=1e-4) and highs[1] == pytest.approx(0.7634, abs=1e-4)
    # precision at n = 11 with every call right: Wilson, never [1.000, 1.000]
    truth = pd.Series(["ai"] * 6 + ["human"] * 5)
    m = metrics_with_ci(truth, pd.Series([0.9] * 6 + [0.1] * 5), resamples=200).set_index("metric")
    assert (
        m.at["precision_ai", "value"] == 1 and m.at["precision_ai", "ci_low"] < 0.65 and m.at["precision_ai", "n"] == 6
    )
    assert m["exploratory"].all()


def test_bootstrap_is_bca_where_it_can_be_and_percentile_where_it_cannot():
    values = np.random.default_rng(0).exponential(size=60)
    low, high, method = bootstrap_ci((values,), lambda x, axis=-1: x.mean(axis), resamples=2000, seed=1)
    assert method == "bca" and low < values.mean() < high
    assert (low, high, method) == bootstrap_ci(
        (values,), lambda x, axis=-1: x.mean(axis), resamples=2000, seed=1
    )  # seeded
    # constant data: BCa is undefined, the percentile interval is the point itself
    flat = mean_ci(np.full(12, 0.25), resamples=500, seed=0)
    assert flat["ci_method"] == "percentile" and flat["ci_low"] == flat["ci_high"] == 0.25 and flat["exploratory"]
    # one interval per row from one call, equal to the interval of each row alone
    rows = np.random.default_rng(2).normal(size=(3, 15))
    means, lows, highs, methods = row_mean_cis(rows, resamples=500, seed=4)
    assert list(methods) == ["bca"] * 3 and np.allclose(means, rows.mean(axis=1))
    alone = bootstrap_ci((rows[1],), lambda x, axis=-1: x.mean(axis), resamples=500, seed=4)
    assert (lows[1], highs[1]) == pytest.approx(alone[:2])
    # missing values: the percentile path, the mean of what is there
    rows[0, :3] = np.nan
    means, lows, highs, methods = row_mean_cis(rows, resamples=500, seed=4)
    assert (
        methods[0] == "percentile" and means[0] == pytest.approx(np.nanmean(rows[0])) and lows[0] < means[0] < highs[0]
    )


def test_paired_difference_and_verdicts():
    rng = np.random.default_rng(3)
    a = rng.normal(0.3, 0.05, 40)
    lower = paired_difference_ci(a - 0.1, a, resamples=1000, seed=0)  # 0.1 lower on every item
    assert lower["difference"] == pytest.approx(-0.1) and lower["ci_high"] < 0
    assert verdict(lower["ci_low"], lower["ci_high"], "lower") == "better"
    assert verdict(lower["ci_low"], lower["ci_high"], "higher") == "worse"
    noise = paired_difference_ci(a + rng.normal(0, 0.05, 40), a, resamples=1000, seed=0)
    assert (
        noise["ci_low"] < 0 < noise["ci_high"]
        and verdict(noise["ci_low"], noise["ci_high"], "lower") == "no_difference"
    )
    assert verdict(np.nan, np.nan, "higher") == "no_difference"


def test_average_precision_and_calibration_error_by_hand():
    y = np.array([1, 1, 0, 0], float)
    p = np.array([0.9, 0.7, 0.2, 0.4])
    # one image per bin: (|1 - 0.9| + |1 - 0.7| + |0 - 0.2| + |0 - 0.4|) / 4
    assert calibration_error_stat(y, p) == pytest.approx(0.25)
    table = calibration(pd.Series(["ai", "ai", "human", "human"]), pd.Series(p))
    assert table["n"].sum() == 4 and table.loc[9, "share_ai"] == 1 and table.loc[2, "share_ai"] == 0
    # AP with ties, vectorised over rows, equal to scikit-learn's on each row
    rng = np.random.default_rng(5)
    ys = rng.random((6, 40)) < 0.4
    scores = rng.integers(0, 6, (6, 40)) / 5  # many ties
    got = average_precision_stat(ys.astype(float), scores)
    assert got == pytest.approx([average_precision_score(ys[i], scores[i]) for i in range(6)], abs=1e-12)


# --- scores: margins, directions, fooled vs corrected ------------------------------------------------


def raw_rows(rows):
    base = {
        "subject": "",
        "edit": "original",
        "params": "{}",
        "style": "",
        "generator": "",
        "model": "m",
        "replicate": 0,
    }
    df = pd.DataFrame([base | r for r in rows])
    df["p_human"] = 1 - df["p_ai"]
    if "margin" not in df:
        df["margin"] = margin_from_probabilities(df["p_ai"], df["p_human"])
    return df


def test_flips_that_are_all_corrections_are_not_fooling():
    """The 32 px model gets some AI originals wrong; an edit that pushes everything towards AI
    'flips' them, but it makes the model right, not fooled."""
    rows = []
    for i, p0 in enumerate([0.27, 0.03, 0.24]):  # AI images called human: wrong when unedited
        rows.append(
            {"sample": f"s{i}", "truth": "ai", "variant": "identity", "op": "identity", "severity": np.nan, "p_ai": p0}
        )
        rows.append(
            {
                "sample": f"s{i}",
                "truth": "ai",
                "variant": "gaussian_noise(std=0.2)",
                "op": "gaussian_noise",
                "severity": 0.2,
                "p_ai": 0.9,
            }
        )
    scores = finish_scores(raw_rows(rows))
    edited = scores[scores["variant"] != "identity"]
    assert edited["flipped"].all() and edited["corrected"].all() and not edited["fooled"].any()
    assert (edited["direction"] == "towards_ai").all() and (
        scores.loc[scores["variant"] == "identity", "direction"] == "none"
    ).all()
    s = summarise(scores, resamples=200).set_index("variant").loc["gaussian_noise(std=0.2)"]
    assert s["flip_rate"] == 1 and s["n_correct"] == 0 and np.isnan(s["fooling_rate"]) and np.isnan(s["fooling_ci_low"])
    assert s["correction_rate"] == 1 and s["n_wrong"] == 3
    assert (s["correction_ci_low"], s["correction_ci_high"]) == pytest.approx(wilson_ci(3, 3))
    assert s["mean_delta_p_ai"] == pytest.approx(np.mean([0.63, 0.87, 0.66])) and s["exploratory"]


def test_fooled_counts_only_images_right_when_unedited():
    rows = []
    for i, (truth, p0, p1) in enumerate([("ai", 0.9, 0.2), ("ai", 0.8, 0.7), ("human", 0.1, 0.6), ("ai", 0.3, 0.1)]):
        rows.append(
            {"sample": f"s{i}", "truth": truth, "variant": "identity", "op": "identity", "severity": np.nan, "p_ai": p0}
        )
        rows.append(
            {"sample": f"s{i}", "truth": truth, "variant": "gamma(gamma=2)", "op": "gamma", "severity": 2.0, "p_ai": p1}
        )
    scores = finish_scores(raw_rows(rows))
    edited = scores[scores["variant"] != "identity"].set_index("sample")
    assert edited["fooled"].tolist() == [True, False, True, False]  # s3 was wrong already: not fooled, not corrected
    assert edited["direction"].tolist() == ["towards_human", "towards_human", "towards_ai", "towards_human"]
    s = summarise(scores, resamples=200).set_index("variant").loc["gamma(gamma=2)"]
    assert (s["fooling_rate"], s["n_correct"], s["correction_rate"], s["n_wrong"]) == (pytest.approx(2 / 3), 3, 0, 1)
    assert (s["fooling_ci_low"], s["fooling_ci_high"]) == pytest.approx(wilson_ci(2, 3))
    assert s["mean_delta_p_ai"] == pytest.approx(np.mean([-0.7, -0.1, 0.5, -0.2]))  # signed


def saturating_detector():
    """p_ai from a linear layer: logit_ai = 40 x, logit_human = 0, where x is the input's mean."""
    model = keras.Sequential(
        [keras.Input((1, 1, 3)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")]
    )
    model.layers[-1].set_weights([np.array([[40 / 3, 0]] * 3, np.float32), np.zeros(2, np.float32)])
    return KerasDetector(name="toy", model=model, input=InputSpec(1), source="test")


def test_saturated_image_has_no_delta_p_but_a_large_delta_margin():
    detector = saturating_detector()
    batch = np.array([1.0, 0.75], np.float32)[:, None, None, None] * np.ones((2, 1, 1, 3), np.float32)
    probs, margin = detector.predict_proba_and_margin(batch)
    np.testing.assert_array_equal(probs, detector.predict_proba(batch))  # the same probabilities as before
    assert probs[0, 0] == probs[1, 0] == 1.0 and probs[0, 1] < 1e-12  # float32 p_ai saturates at 1
    assert margin == pytest.approx([40.0, 30.0], abs=1e-4)  # the logits do not
    rows = [
        {
            "sample": "a",
            "truth": "ai",
            "variant": "identity",
            "op": "identity",
            "severity": np.nan,
            "p_ai": probs[0, 0],
            "margin": margin[0],
        },
        {
            "sample": "a",
            "truth": "ai",
            "variant": "gamma(gamma=2)",
            "op": "gamma",
            "severity": 2.0,
            "p_ai": probs[1, 0],
            "margin": margin[1],
        },
    ]
    edited = finish_scores(raw_rows(rows)).iloc[1]
    assert edited["delta_p_ai"] == 0 and edited["delta_margin"] == pytest.approx(-10, abs=1e-4)
    assert edited["direction"] == "towards_human" and not edited["flipped"]


# --- replicates ------------------------------------------------------------------------------------


def test_replicates_differ_only_in_placement():
    grid = {"repeats": 3, "occlusion": {"area": 0.04, "colour": "red", "count": 1}, "gaussian_blur": {"sigma": [2]}}
    variants = expand_grid(grid)
    assert [(v.id, v.replicate) for v in variants] == [
        ("identity", 0),
        ("occlusion(area=0.04, colour='red', count=1, position='random')", 0),
        ("occlusion(area=0.04, colour='red', count=1, position='random')#1", 1),
        ("occlusion(area=0.04, colour='red', count=1, position='random')#2", 2),
        ("gaussian_blur(sigma=2)", 0),  # deterministic: drawn once whatever repeats says
    ]
    assert [v.id for v in expand_grid({"occlusion": grid["occlusion"]})][1] == variants[
        1
    ].id  # replicate 0 keeps its id (and seed)
    image = np.full((100, 100, 3), 128, np.uint8)
    red = [np.all(apply(image, v, variant_seed(7, "s", v.id)) == (255, 0, 0), axis=-1) for v in variants[1:4]]
    assert [m.sum() for m in red] == [400, 400, 400]  # the same square of 20 x 20 px ...
    corners = {tuple(np.argwhere(m)[0]) for m in red}
    assert len(corners) == 3  # ... in three places
    for v, m in zip(variants[1:4], red):  # nothing else changed
        assert (apply(image, v, variant_seed(7, "s", v.id))[~m] == 128).all()
    # noise: the same strength, a different field
    noise = [v for v in expand_grid({"gaussian_noise": {"std": 0.1, "repeats": 2}}) if v.op == "gaussian_noise"]
    fields = [apply(image, v, variant_seed(7, "s", v.id)).astype(float) - 128 for v in noise]
    assert (
        all(f.std() == pytest.approx(25.5, rel=0.03) for f in fields)
        and np.corrcoef(fields[0].ravel(), fields[1].ravel())[0, 1] < 0.05
    )


@pytest.mark.parametrize(
    "grid",
    [
        {
            "repeats": 3,
            "occlusion": {"area": [0.1, 0.2], "position": ["random", "center"]},
            "text_watermark": {"opacity": [0.2]},
        },
        {
            "repeats": 2,
            "combined": [[{"jpeg": {"quality": 5}}], [{"gaussian_noise": {"std": 0.1}}, {"jpeg": {"quality": 5}}]],
        },
        {"gaussian_noise": {"std": [0.1, 0.2], "repeats": 4}, "text_watermark": {"opacity": 0.2, "position": "random"}},
    ],
)
def test_the_grid_cap_counts_replicates_before_building(grid):
    assert count_grid(grid) == len(expand_grid(grid))
    with pytest.raises(GridError, match="over max_variants"):
        expand_grid(grid, max_variants=len(expand_grid(grid)) - 1)


@pytest.mark.parametrize(
    "grid, field",
    [
        ({"gaussian_blur": {"sigma": [1], "repeats": 3}}, "augment.gaussian_blur.repeats"),
        ({"repeats": 0}, "augment.repeats"),
        ({"occlusion": {"area": 0.1, "repeats": "3"}}, "augment.occlusion.repeats"),
    ],
)
def test_bad_repeats_name_their_field(grid, field):
    with pytest.raises(GridError, match=field.replace(".", r"\.")):
        expand_grid(grid)


def test_summary_separates_replicate_spread_from_image_spread():
    """Two images x three placements: delta margins (1, 2, 3) and (5, 6, 7)."""
    rows = []
    for sample, deltas in (("a", [1.0, 2.0, 3.0]), ("b", [5.0, 6.0, 7.0])):
        rows.append(
            {
                "sample": sample,
                "truth": "ai",
                "variant": "identity",
                "op": "identity",
                "severity": np.nan,
                "p_ai": 0.5,
                "margin": 0.0,
            }
        )
        for r, d in enumerate(deltas):
            vid = "occlusion(area=0.1)" + (f"#{r}" if r else "")
            rows.append(
                {
                    "sample": sample,
                    "truth": "ai",
                    "variant": vid,
                    "op": "occlusion",
                    "severity": 0.1,
                    "p_ai": 0.9,
                    "margin": d,
                    "replicate": r,
                }
            )
    s = summarise(finish_scores(raw_rows(rows)), resamples=200).set_index("variant").loc["occlusion(area=0.1)"]
    assert s["n"] == 2 and s["n_replicates"] == 3  # n counts images, not draws
    assert s["mean_delta_margin"] == pytest.approx(4.0)
    assert s["delta_margin_sd_between_images"] == pytest.approx(np.std([2.0, 6.0], ddof=1))  # sd of the image means
    assert s["delta_margin_sd_between_replicates"] == pytest.approx(1.0)  # pooled within-image sd
    assert s["fooling_rate_sd_between_replicates"] == 0  # p_ai 0.9 on every draw: never fooled


# --- minimal flip on a model whose threshold is known ------------------------------------------------


def brightness_model(path):
    """p_ai = softmax(20 (mean pixel - 0.5), 0): AI exactly when the image's mean is above 0.5."""
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")]
    )
    model.layers[-1].set_weights([np.array([[20 / 3, 0]] * 3, np.float32), np.array([-10, 0], np.float32)])
    model.save(path)


def test_minimal_flip_on_a_model_whose_threshold_is_known(tmp_path):
    """Flat grey images through the whole runner. Darkening by b (a fraction of 255) fools an AI
    image of level m exactly when m - b < 0.5, so the mildest fooling darkening is known."""
    brightness_model(tmp_path / "toy.keras")
    images = tmp_path / "images"
    images.mkdir()
    levels = {"ai_a.png": 140, "ai_b.png": 166, "ai_c.png": 191, "ai_d.png": 242, "human_e.png": 89, "ai_wrong.png": 97}
    for name, level in levels.items():
        Image.fromarray(np.full((24, 24, 3), level, np.uint8)).save(images / name)
    cfg = {
        "name": "toy", "seed": 0, "out_dir": str(tmp_path / "results"), "report": "none",
        "models": [{"name": "toy", "input_size": 8, "path": str(tmp_path / "toy.keras")}],
        "samples": {"folder": str(images)},
        "augment": {"brightness_contrast": {"brightness": [-0.4, -0.3, -0.2, -0.1, 0.1, 0.2]},
                    "gaussian_noise": {"std": [0.02], "repeats": 2}},
        "bootstrap": 200,
    }  # fmt: skip
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp_path / "toy.yaml")]) == 0
    run_dir = tmp_path / "results" / "toy"
    flips = pd.read_parquet(run_dir / "minimal_flip.parquet")
    darker = flips[flips["side"] == "decrease"].set_index("sample")["min_fooling_severity"]
    expected = {
        "ai_a.png": -0.1,
        "ai_b.png": -0.2,
        "ai_c.png": -0.3,
        "ai_d.png": np.nan,
        "human_e.png": np.nan,
        "ai_wrong.png": np.nan,
    }
    assert darker.to_dict() == pytest.approx(expected, nan_ok=True)
    brighter = flips[(flips["side"] == "increase") & (flips["op"] == "brightness_contrast")].set_index("sample")
    assert brighter.at["human_e.png", "min_fooling_severity"] == pytest.approx(0.2)  # 89 + 51 = 140 > 127.5
    assert not brighter.at["ai_wrong.png", "correct_unedited"] and np.isnan(
        brighter.at["ai_wrong.png", "min_fooling_severity"]
    )
    assert set(flips["series"]) == {
        "brightness_contrast(brightness<0, contrast=0)",
        "brightness_contrast(brightness>0, contrast=0)",
        "gaussian_noise(std>0)",
    }

    # survival curve: of the 5 images right when unedited, fooled at or below each darkening
    curve = pd.read_parquet(run_dir / "minimal_flip_curve.parquet")
    dark = curve[curve["side"] == "decrease"]
    assert dark["severity"].tolist() == pytest.approx([-0.1, -0.2, -0.3, -0.4])  # mildest first
    assert dark["fooled_at_or_below"].tolist() == [1, 2, 3, 3] and (dark["n"] == 5).all()
    assert dark["share_fooled_at"].tolist() == pytest.approx([0.2, 0.4, 0.6, 0.6])  # fooled at exactly this darkening
    low, high = wilson_ci(3, 5)
    assert (dark["ci_low"].iloc[-1], dark["ci_high"].iloc[-1]) == pytest.approx((low, high))

    scores = pd.read_parquet(run_dir / "scores.parquet").set_index(["sample", "variant"])
    assert scores.at[("ai_wrong.png", "brightness_contrast(brightness=0.2, contrast=0)"), "corrected"]  # 97 + 51 = 148
    assert scores.at[("ai_a.png", "identity"), "margin"] == pytest.approx(20 * (140 / 255 - 0.5), abs=1e-4)
    summary = pd.read_parquet(run_dir / "summary.parquet").set_index("variant")
    assert summary.at["brightness_contrast(brightness=-0.4, contrast=0)", "fooling_rate"] == pytest.approx(3 / 5)
    # the noise was drawn twice per image: two rows per image, one summary row over 6 images
    noisy = scores.reset_index()[lambda d: d["variant"].str.startswith("gaussian_noise")]
    assert sorted(noisy["replicate"].value_counts().items()) == [(0, 6), (1, 6)]
    assert noisy["variant"].nunique() == 2 and summary.at["gaussian_noise(std=0.02)", "n"] == 6
    assert (
        summary.at["gaussian_noise(std=0.02)", "n_replicates"] == 2
        and "gaussian_noise(std=0.02)#1" not in summary.index
    )
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {"minimal_flip", "minimal_flip_curve"} <= set(manifest["tables"])


# --- explanation methods against the random baseline ----------------------------------------------------


def test_explanation_methods_are_judged_against_random_on_the_same_images():
    rng = np.random.default_rng(0)
    rows = []
    for s in range(12):
        for variant, shift in (("identity", 0.0), ("blur", 1.0), ("noise", 3.0)):
            base = rng.normal(2.0, 0.5)
            change = {"good": 0.1 * shift, "bad": 0.0, "random": 0.0}
            for method, offset in (("good", -0.6), ("bad", 0.6), ("same", 0.0), ("random", 0.0)):
                rows.append({
                    "model": "m", "sample": f"s{s}", "variant": variant, "method": method,
                    "deletion_auc_logit": base + offset + (rng.normal(0, 0.3) if method == "same" else 0.0),
                    "insertion_auc_logit": base - offset, "deletion_auc": 0.3, "insertion_auc": 0.6,
                    "drift_spearman": np.nan if variant == "identity"
                    else 1 - change.get(method, 0.0) * (1 + 0.1 * s)
                    + (rng.normal(0, 0.01) if method == "random" else 0),
                    "delta_margin": 0.0 if variant == "identity" else shift * (1 + 0.1 * s),
                })  # fmt: skip
    versus = explanations_vs_random(pd.DataFrame(rows), resamples=500, seed=0)
    v = versus.set_index(["method", "metric", "images"])
    assert v.at[("good", "deletion_auc_logit", "all"), "vs_random"] == "better"
    assert v.at[("good", "insertion_auc_logit", "unedited"), "vs_random"] == "better"
    assert v.at[("bad", "deletion_auc_logit", "all"), "vs_random"] == "worse"
    assert v.at[("same", "deletion_auc_logit", "all"), "vs_random"] == "no_difference"
    assert v.at[("good", "deletion_auc_logit", "all"), "difference"] == pytest.approx(-0.6)
    assert (
        v.at[("good", "deletion_auc_logit", "all"), "n"] == 12
        and v.at[("good", "deletion_auc_logit", "all"), "n_maps"] == 36
    )
    assert (
        v.at[("good", "deletion_auc", "all"), "vs_random"] == "no_difference"
    )  # identical AUCs: no difference, not "better"
    # the good method's maps change as much as the score does; random's do not
    assert v.at[("good", "drift_margin_spearman", "edited"), "vs_random"] == "better"
    assert v.at[("good", "drift_margin_spearman", "edited"), "method_mean"] == pytest.approx(1.0)
    assert "random" not in set(versus["method"]) and versus["exploratory"].all()
    only_random = explanations_vs_random(pd.DataFrame(rows).query("method == 'random'"))
    assert only_random.empty and list(only_random.columns) == list(versus.columns)


def test_one_verdict_rule_reads_each_metrics_direction_from_its_metric_info():
    """statistics.verdict is the rule of claims, the audit and explanations; which way is better
    is data (statistics.METRICS), so a claim's verdict flips with the measured difference."""
    from experiments.stages.audit import moved
    from experiments.stats.claims import CLAIMS, verdicts
    from experiments.stats.statistics import METRICS

    assert [verdict(0.1, 0.2, d) for d in ("higher", "lower", "either")] == ["better", "worse", "differs"]
    assert [verdict(-0.2, -0.1, d) for d in ("higher", "lower", "either")] == ["worse", "better", "differs"]
    assert {verdict(-0.1, 0.2, d) for d in ("higher", "lower", "either")} | {verdict(np.nan, 1.0, "higher")} == {
        "no_difference"
    }
    assert (METRICS["deletion_auc_logit"].direction, METRICS["insertion_auc_logit"].direction) == ("lower", "higher")
    assert {c.measure: c.description() for c in CLAIMS}["abs_delta"] == METRICS["abs_delta"].description
    assert moved((0.2, 0.1, 0.3), 0.05) and not moved((0.2, -0.1, 0.3), 0.05) and not moved((0.01, 0.005, 0.02), 0.05)
    samples = [f"s{i}" for i in range(12)]
    rows = [
        {"model": m, "sample": s, "variant": "gaussian_noise(sigma=0.1)", "op": "gaussian_noise", "edit": "",
            "params": "{}",
         "delta_p_ai": (0.01 if m == "small" else 0.3) + 0.001 * i, "correct": True}
        for m in ("small", "large") for i, s in enumerate(samples)
    ]  # fmt: skip
    scores = pd.DataFrame(rows)
    found = verdicts(scores, {"small": 32, "large": 128}, resamples=200).set_index("claim")
    assert found.loc["noise", "verdict"] == "supported"  # the favoured small model moves less: lower is better
    assert found.loc["noise", "difference"] == pytest.approx(-0.29)
    swapped = verdicts(scores, {"small": 128, "large": 32}, resamples=200).set_index("claim")
    assert swapped.loc["noise", "verdict"] == "contradicted"
    assert set(found.drop(index="noise")["verdict"]) == {"inconclusive"}


def test_exact_mcnemar_against_a_hand_computed_case():
    """12 images: both right 3, both wrong 2, only A right 1, only B right 6. Of 7 discordant
    pairs, 1 went A's way: two-sided p = 2 * P(X <= 1), X ~ Bin(7, 1/2) = 2 * (1 + 7) / 128 = 0.125."""
    a = np.array([1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0], bool)
    b = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1], bool)
    found = mcnemar_exact(a, b)
    assert found == {"n": 12, "a_only": 1, "b_only": 6, "p_value": pytest.approx(0.125)}
    assert mcnemar_exact(b, a)["p_value"] == pytest.approx(0.125)
    assert mcnemar_exact(a[:1].repeat(5), ~a[:1].repeat(5))["p_value"] == pytest.approx(2 / 32)  # 5 to 0: 2 * 0.5 ** 5
    assert mcnemar_exact(a, a) == {"n": 12, "a_only": 0, "b_only": 0, "p_value": 1.0}
    with pytest.raises(ValueError, match="same items"):
        mcnemar_exact(a, b[:5])
