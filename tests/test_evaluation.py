"""Metrics with bootstrap CIs, checked against scikit-learn; the runner's dataset tables."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from experiments import run as cli
from experiments.stages.evaluation import (
    BOOTSTRAPPED,
    bootstrapped_cis,
    evaluate,
    fast_metrics_with_ci,
    jackknife_statistics,
    metrics_with_ci,
    robustness,
)
from experiments.stats.metrics import average_precision_stat, resampled_average_precision, weighted_auc
from experiments.stats.statistics import BCA_MAX_N, bootstrap_ci, draw_counts
from experiments.stats.statistics import BLOCK as BOOTSTRAP_BLOCK
from experiments.stages.scoring.tables import finish_scores


def fake_predictions(n, seed=0):
    rng = np.random.default_rng(seed)
    truth = np.where(rng.random(n) < 0.6, "ai", "human")
    p_ai = np.clip(rng.normal(np.where(truth == "ai", 0.65, 0.35), 0.2), 0, 1).round(2)  # ties too
    return pd.Series(truth), pd.Series(p_ai)


def test_point_values_match_scikit_learn_and_intervals_cover_them():
    truth, p_ai = fake_predictions(400)
    m = metrics_with_ci(truth, p_ai, resamples=500, seed=1).set_index("metric")
    y, pred = truth == "ai", p_ai >= 0.5
    expected = {
        "accuracy": accuracy_score(y, pred),
        "precision_ai": precision_score(y, pred),
        "recall_ai": recall_score(y, pred),
        "f1_ai": f1_score(y, pred),
        "precision_human": precision_score(~y, ~pred),
        "recall_human": recall_score(~y, ~pred),
        "f1_human": f1_score(~y, ~pred),
        "macro_f1": f1_score(y, pred, average="macro"),
        "roc_auc": roc_auc_score(y, p_ai),
        "average_precision": average_precision_score(y, p_ai),
        "false_positive_rate": ((~y) & pred).sum() / (~y).sum(),
        "false_negative_rate": (y & ~pred).sum() / y.sum(),
    }
    for k, v in expected.items():
        assert m.at[k, "value"] == pytest.approx(v, abs=1e-12), k
        assert m.at[k, "ci_low"] < v < m.at[k, "ci_high"], k
    # every proportion at the n of its own denominator, with a Wilson interval; the rest bootstrapped (BCa)
    denominators = {
        "accuracy": 400,
        "precision_ai": pred.sum(),
        "recall_ai": y.sum(),
        "false_positive_rate": (~y).sum(),
        "false_negative_rate": y.sum(),
    }
    for k, n in denominators.items():
        assert m.at[k, "n"] == n and m.at[k, "ci_method"] == "wilson", k
    assert set(
        m.loc[["f1_ai", "macro_f1", "roc_auc", "average_precision", "expected_calibration_error"], "ci_method"]
    ) == {"bca"}
    assert not m["exploratory"].any()
    # more data, narrower intervals; same seed, same table
    big = metrics_with_ci(*fake_predictions(4000), resamples=500, seed=1).set_index("metric")
    assert (big["ci_high"] - big["ci_low"] < (m["ci_high"] - m["ci_low"]) * 0.6).all()
    pd.testing.assert_frame_equal(metrics_with_ci(truth, p_ai, resamples=500, seed=1), m.reset_index())


def test_eval_set_metrics_are_the_evaluation_metrics_under_the_tables_names():
    """An eval set's accuracy, FPR, FNR, AUC and AP and their intervals are metrics_with_ci's on
    the same images, value for value; a set of one class has no AUC or AP, and no interval."""
    from experiments.stages.eval_sets import SET_METRICS, set_metrics

    truth, p_ai = fake_predictions(120, seed=4)
    full = metrics_with_ci(truth, p_ai, resamples=300, seed=2).set_index("metric")
    found = set_metrics(truth, p_ai, resamples=300, seed=2)
    assert (found["n"], found["n_ai"], found["n_human"]) == (120, (truth == "ai").sum(), (truth == "human").sum())
    for name, metric in SET_METRICS.items():
        for suffix, column in (("", "value"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high")):
            assert found[name + suffix] == full.at[metric, column], name + suffix
    assert found["fpr"] == ((truth == "human") & (p_ai >= 0.5)).sum() / (truth == "human").sum()
    only_ai = set_metrics(truth[truth == "ai"], p_ai[truth == "ai"], resamples=300, seed=2)
    curves = [only_ai[f"{m}{s}"] for m in ("roc_auc", "average_precision") for s in ("", "_ci_low", "_ci_high")]
    assert np.isnan(curves).all()
    assert only_ai["fnr"] == pytest.approx((p_ai[truth == "ai"] < 0.5).mean())


def test_vectorised_bootstrap_auc_equals_scikit_learn_on_each_resample():
    truth, p_ai = fake_predictions(300, seed=2)
    y, s = (truth == "ai").to_numpy(), p_ai.to_numpy()
    idx, counts = draw_counts(300, 20, np.random.default_rng(0))
    np.testing.assert_allclose(weighted_auc(y, s, counts), [roc_auc_score(y[i], s[i]) for i in idx], atol=1e-12)


def scores_frame():
    truth, p_ai = fake_predictions(200, seed=3)
    rows = []
    for variant, shift in (("identity", 0.0), ("gaussian_noise(std=0.1)", 0.3)):
        p = np.clip(p_ai + shift, 0, 1)
        rows.append(pd.DataFrame({
            "sample": range(200), "subject": "", "edit": "original", "model": "m", "variant": variant,
            "op": variant.split("(")[0],
            "params": "{}", "severity": np.nan if shift == 0 else 0.1, "truth": truth, "p_ai": p, "p_human": 1 - p,
            "style": np.where(np.arange(200) % 2, "baroque", "ukiyo_e"), "generator": "",
        }))  # fmt: skip
    return finish_scores(pd.concat(rows, ignore_index=True))


def test_evaluation_groups_confusion_and_robustness():
    df = scores_frame()
    ev = evaluate(df, resamples=300, seed=0)
    base = df[df["variant"] == "identity"]
    confusion = ev["confusion"].set_index(["truth", "predicted"])["count"]
    assert (
        confusion.sum() == 200
        and confusion[("ai", "ai")] == ((base["truth"] == "ai") & (base["predicted"] == "ai")).sum()
    )
    groups = ev["evaluation_groups"]
    assert groups["by"].tolist() == ["style", "style"]  # empty generators are left out
    odd = base[base["style"] == "baroque"]
    assert groups.set_index("group").at["baroque", "accuracy"] == pytest.approx(odd["correct"].mean())
    robust = robustness(df, resamples=300, seed=0).set_index("variant")
    assert robust.at["identity", "accuracy"] == pytest.approx(base["correct"].mean())
    noisy = df[df["variant"] != "identity"]
    assert robust.at["gaussian_noise(std=0.1)", "delta_p_ai_median"] == pytest.approx(noisy["delta_p_ai"].median())
    assert robust.at["gaussian_noise(std=0.1)", "flip_rate"] == pytest.approx(noisy["flipped"].mean())


def test_one_bootstrap_draw_serves_every_variant_with_the_intervals_each_would_get_alone():
    """robustness() draws the resample counts once per test-set size and shares them across
    variants; each variant's intervals must equal those of its own draw, across a block boundary
    of the count matrices (resamples > BOOTSTRAP_BLOCK)."""
    df = scores_frame()
    resamples = BOOTSTRAP_BLOCK + 37
    robust = robustness(df, resamples=resamples, seed=5).set_index("variant")
    for variant, rows in df.groupby("variant"):
        alone = fast_metrics_with_ci(rows, resamples, seed=5)
        for metric in ("macro_f1", "roc_auc"):
            assert (
                robust.at[variant, metric],
                robust.at[variant, f"{metric}_ci_low"],
                robust.at[variant, f"{metric}_ci_high"],
            ) == alone[metric]
    # and the shared draw really is per size: a variant with fewer images gets its own
    shared = {}
    fewer = df[(df["variant"] != "identity") & (df["sample"] < 150)]
    fast_metrics_with_ci(df[df["variant"] == "identity"], resamples, 5, shared)
    assert fast_metrics_with_ci(fewer, resamples, 5, shared) == fast_metrics_with_ci(fewer, resamples, 5)
    assert sorted(shared) == [150, 200] and sum(b.shape[0] for b in shared[200]) == resamples


def test_runner_trains_on_real_mini_then_evaluates(trained_run, caplog):
    """The whole pipeline on real pixels: train from the config, evaluate on the test split with
    CIs, robustness per edit, figures and model cards in the run folder."""
    run_dir, config, log_text = trained_run
    assert "cnn32: training at 32 px on 20 images" in log_text
    scores = pd.read_parquet(run_dir / "scores.parquet")
    assert len(scores) == 20 * 3 and set(scores["generator"]) == {"human", "unknown"}
    metrics = pd.read_parquet(run_dir / "evaluation_metrics.parquet").set_index("metric")
    assert metrics.at["accuracy", "value"] == pytest.approx(
        scores.loc[scores["variant"] == "identity", "correct"].mean()
    )
    assert metrics.at["accuracy", "n"] == 20
    robust = pd.read_parquet(run_dir / "robustness_metrics.parquet")
    assert robust["variant"].tolist() == ["identity", "gaussian_noise(std=0.1)", "gaussian_noise(std=0.2)"]
    calibration = pd.read_parquet(run_dir / "calibration.parquet")
    assert calibration["n"].sum() == 20 and len(calibration) == 10
    assert {"false_positive_rate", "average_precision", "expected_calibration_error"} <= set(metrics.index) and metrics[
        "exploratory"
    ].all()
    assert robust["n"].tolist() == [20, 20, 20] and {"fooling_rate", "n_correct", "fooling_ci_low"} <= set(
        robust.columns
    )
    for figure in (
        "confusion_cnn32.png",
        "reliability_cnn32.png",
        "robustness_accuracy.png",
        "history_cnn32.png",
        "accuracy_by_generator_cnn32.png",
    ):
        assert (run_dir / "figures" / figure).stat().st_size > 1000, figure
    card = json.loads((run_dir / "models" / "cnn32.model_card.json").read_text())
    assert card["data"]["train"]["images"] == 20 and card["training"]["epochs_run"] == 2
    assert {r["metric"] for r in card["evaluation"]} >= {"accuracy", "roc_auc"}
    assert len(list((run_dir / "parts").glob("*.parquet"))) == 3  # 20 samples in parts of 8
    # the model file now exists: a second run (in another folder) loads it instead of training
    caplog.set_level("INFO", logger="artxai")
    assert cli.main([str(config), "--out", str(run_dir.parent / "again")]) == 0
    assert "training at" not in caplog.text and "cnn32 on the unedited images" in caplog.text
    caplog.clear()
    assert cli.main([str(config), "--out", str(run_dir.parent / "retrained"), "--retrain"]) == 0
    assert "cnn32: training at 32 px" in caplog.text


def test_headline_intervals_above_the_bca_limit_equal_scipys_resampled_ones():
    """Above BCA_MAX_N images the headline intervals come from draw counts (one sort of the scores
    for every resample), not from scipy resampling the images: the same draws, the same interval.
    F1 and AUC bit for bit; average precision and calibration error to float rounding."""
    rng = np.random.default_rng(11)
    n = BCA_MAX_N + 400
    y = rng.random(n) < 0.45
    score = np.round(np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.25, n), 0, 1), 2)  # ties, 0 and 1
    fast = bootstrapped_cis(y, score, resamples=300, seed=4)
    assert set(fast) == set(BOOTSTRAPPED)
    for name, stat in BOOTSTRAPPED.items():
        low, high, method = bootstrap_ci((y.astype(float), score), stat, resamples=300, seed=4)
        assert method == fast[name][2] == "percentile"
        if name in ("f1_ai", "f1_human", "macro_f1", "roc_auc"):
            assert fast[name][:2] == (low, high), name
        else:
            assert fast[name][:2] == pytest.approx((low, high), abs=1e-12, rel=0), name
        assert low < high
    other_seed = bootstrapped_cis(y, score, resamples=300, seed=5)
    assert other_seed["roc_auc"] != fast["roc_auc"]


def _jackknife_sets():
    """Label and score sets that cross each case of the leave-one-out formulas: ties (rounded
    scores, p_ai saturated at 0 and 1), a single positive or negative (left out: AUC and AP
    undefined), one class only, two items, a first tie group of one, and larger sets."""
    rng = np.random.default_rng(21)
    for n, decimals in ((2, 2), (3, 0), (7, 1), (40, 1), (41, 6), (301, 2)):
        y = rng.random(n) < 0.5
        y[0], y[-1] = True, False  # both classes
        yield y, np.round(np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.3, n), 0, 1), decimals)
    yield np.array([True] + [False] * 9), np.linspace(0, 1, 10)  # one positive
    yield np.array([False] + [True] * 9), np.r_[0.9, np.full(9, 0.5)]  # one negative, one big tie
    yield np.ones(6, bool), np.array([0.1, 0.7, 0.7, 1.0, 0.2, 0.0])  # one class only


def test_jackknife_values_equal_the_statistic_on_each_leave_one_out_subset():
    """BCa's acceleration needs each statistic with every image left out in turn; the fast
    values (O(n log n)) equal the statistic recomputed on each subset of n - 1 images, as scipy
    computes them: F1 and AUC bit for bit, average precision and calibration error to rounding."""
    for y, score in _jackknife_sets():
        n = len(y)
        keep = ~np.eye(n, dtype=bool)
        ys, ss = (np.broadcast_to(v, (n, n))[keep].reshape(n, n - 1) for v in (y.astype(float), score))
        fast = jackknife_statistics(y, score)
        assert set(fast) == set(BOOTSTRAPPED)
        for name, stat in BOOTSTRAPPED.items():
            with np.errstate(invalid="ignore", divide="ignore"):
                naive = stat(ys, ss)
            assert fast[name].shape == (n,), name
            if name in ("average_precision", "expected_calibration_error"):
                np.testing.assert_allclose(fast[name], naive, rtol=1e-12, atol=1e-15, err_msg=f"{name}, n={n}")
            else:
                np.testing.assert_array_equal(fast[name], naive, err_msg=f"{name}, n={n}")


@pytest.mark.parametrize("n", [12, BCA_MAX_N])
def test_headline_intervals_up_to_the_bca_limit_equal_scipys_bca(n):
    """Up to BCA_MAX_N images (the limit included) the headline intervals are scipy's BCa, its
    jackknife from jackknife_statistics instead of n evaluations on n - 1 images: the same
    method, and the same interval to float rounding; where BCa is undefined (F1 of a class never
    predicted: every draw 0), the percentile interval of the same draws, as bootstrap_ci gives."""
    rng = np.random.default_rng(n)
    y = rng.random(n) < 0.5
    y[:2] = True, False
    score = np.round(np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.25, n), 0, 1), 2)
    cases = [(y, score, "bca")]
    if n < 100:  # nothing predicted human: F1 human is 0 in every draw
        cases.append((y, np.maximum(score, 0.5), "percentile"))
    for y, score, f1_human_method in cases:
        fast = bootstrapped_cis(y, score, resamples=200, seed=3)
        for name, stat in BOOTSTRAPPED.items():
            low, high, method = bootstrap_ci((y.astype(float), score), stat, resamples=200, seed=3)
            assert fast[name][2] == method == (f1_human_method if name == "f1_human" else "bca"), name
            assert fast[name][:2] == pytest.approx((low, high), abs=1e-12, rel=0), name


def test_resampled_average_precision_equals_the_statistic_on_the_resampled_images():
    """The headline's average precision on each resample (sorting the images' tie-group ranks
    instead of their scores) is average_precision_stat on the resampled images, bit for bit."""
    for y, score in _jackknife_sets():
        indices = np.random.default_rng(len(y)).integers(0, len(y), (50, len(y)))
        with np.errstate(invalid="ignore", divide="ignore"):
            naive = average_precision_stat(y.astype(float)[indices], score[indices])
        np.testing.assert_array_equal(resampled_average_precision(y, score, indices), naive)
