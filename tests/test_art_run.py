"""art.yaml's pieces on a small real run: the study's 32 px model (trained on AI-ArtBench's art)
and a cnn32 trained here on a few CIFAKE images (its training at chance: 4 validation images), both
scored on 16 art-6gen test images and on 16 CIFAKE test images. The training comparison (table
model_comparison), claims made inconclusive by a model at chance, the cross-domain eval_sets table."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments import run as cli
from experiments.stats.claims import verdicts
from experiments.stats.statistics import mcnemar_exact, proportion
from tests.conftest import MODEL_32
from tests.test_report import fake_scores

GENERATORS = {"original_ldm": "latent_diffusion", "stable_diffusion": "standard_diffusion"}


@pytest.fixture(scope="module")
def art_run(tmp_path_factory, seed_mirror, art6gen, cifake):
    tmp = tmp_path_factory.mktemp("art")
    art = {"root": str(art6gen), "layout": "generic", "generator_from": GENERATORS, "limit_per_class": 8}
    cifake_set = {"root": str(cifake), "layout": "generic", "limit_per_class": 8}
    train = {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": 20}, "epochs": 1, "batch_size": 8}
    cfg = {
        "name": "art_small", "seed": 3, "out_dir": str(tmp / "results"),
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [
            {"name": "study32", "input_size": 32, "seed_asset": MODEL_32},
            {"name": "cnn32_cifake", "input_size": 32, "path": str(tmp / "models" / "cnn32_cifake.keras"),
             "train": train},
        ],
        "samples": {"dataset": art, "split": "test"},
        "augment": {"gaussian_noise": {"std": [0.1]}},
        "eval_sets": [
            {"name": "art6gen_test"}, {"name": "cifake_test", "samples": {"dataset": cifake_set, "split": "test"}},
        ],
        "model_comparison": True,
        "audit": {"factors": ["jpeg"], "reversal": True},
        "bootstrap": 200,
    }  # fmt: skip
    (tmp / "art.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp / "art.yaml")]) == 0
    return tmp / "results" / "art_small"


def test_model_comparison_pairs_the_models_on_the_same_images(art_run):
    table = pd.read_parquet(art_run / "model_comparison.parquet")
    assert len(table) == 1 and tuple(table.loc[0, ["model_a", "model_b"]]) == ("study32", "cnn32_cifake")
    scores = pd.read_parquet(art_run / "scores.parquet")
    base = scores[scores["variant"] == "identity"].pivot(index="sample", columns="model", values="correct")
    a, b = base["study32"].to_numpy(bool), base["cnn32_cifake"].to_numpy(bool)
    row, test = table.iloc[0], mcnemar_exact(a, b)
    assert row["n"] == len(base) == 16
    assert (row["a_only"], row["b_only"]) == (test["a_only"], test["b_only"])
    assert row["mcnemar_p"] == pytest.approx(test["p_value"])
    for side, right in (("a", a), ("b", b)):
        acc = proportion(int(right.sum()), len(right))
        assert row[f"accuracy_{side}"] == pytest.approx(acc["value"])
        bounds = (row[f"accuracy_{side}_ci_low"], row[f"accuracy_{side}_ci_high"])
        assert bounds == pytest.approx((acc["ci_low"], acc["ci_high"]))
    assert row["exploratory"]  # 16 images
    html = (art_run / "report" / "index.html").read_text()
    assert 'id="training-comparison"' in html and "exact McNemar p" in html
    assert "Training warning, cnn32_cifake:" in html and "Training warning, study32" not in html
    reversal = pd.read_parquet(art_run / "audit_reversal.parquet")  # art-6gen: every file q95, so 95 -> 95
    assert len(reversal) == 4 and (reversal[["from_setting", "to_setting"]] == 95).all().all()
    assert "Cue reversal: each class re-encoded" in html and "jpeg_reversed" in html
    assert len(re.findall(r'id="T_audit_reversal_row(\d+)_col0"', html)) == 4  # one row per model and class


def test_a_model_at_chance_makes_its_claims_inconclusive(art_run):
    card = json.loads((art_run / "models" / "cnn32_cifake.model_card.json").read_text())
    assert "has not learnt the task" in card["training"]["warning"]
    claims = pd.read_csv(art_run / "report" / "claims.csv").set_index("claim")
    assert (claims["verdict"] == "inconclusive").all()
    assert claims["why"].str.startswith("cnn32_cifake's training did not beat chance (best validation accuracy").all()
    assert claims.at["noise", "n_samples"] == 16 and "measured: study32 - cnn32_cifake = " in claims.at["noise", "why"]


def test_the_training_warning_overrides_an_interval_that_would_decide():
    scores = fake_scores(0.05, 0.4)  # the small model is clearly steadier under noise: supported
    plain = verdicts(scores, {"small": 32, "large": 128}, resamples=200).set_index("claim")
    assert plain.at["noise", "verdict"] == "supported"
    warned = verdicts(scores, {"small": 32, "large": 128}, resamples=200, warnings={"large": "at chance", "small": ""})
    row = warned.set_index("claim").loc["noise"]
    assert row["verdict"] == "inconclusive"
    assert row["why"].startswith("large's training did not beat chance (at chance)")
    assert row["difference"] == pytest.approx(-0.35, abs=0.03)  # the evidence is kept


def test_cross_domain_is_one_eval_sets_table(art_run):
    sets = pd.read_parquet(art_run / "eval_sets.parquet")
    assert sets[["set", "model"]].value_counts().to_dict() == {
        (s, m): 1 for s in ("art6gen_test", "cifake_test") for m in ("study32", "cnn32_cifake")
    }
    assert (sets["n"] == 16).all() and (sets["n_ai"] == 8).all() and (sets["n_human"] == 8).all()
    assert np.isfinite(sets["accuracy"]).all() and (sets["accuracy_ci_low"] <= sets["accuracy"]).all()
    own = sets[sets["set"] == "art6gen_test"].set_index("model")["accuracy"]
    scores = pd.read_parquet(art_run / "scores.parquet")
    base = scores[scores["variant"] == "identity"].groupby("model")["correct"].mean()
    assert own.to_dict() == pytest.approx(base.to_dict())  # the first set is the run's own art-6gen images
