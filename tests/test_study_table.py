"""The shipped study manifest and the one-command reproduction of the study's table."""

import numpy as np
import pandas as pd
import pytest

from experiments import run as cli
from experiments.config.fields import BUILTIN_MANIFESTS
from experiments.models.architecture import keras
from experiments.inputs.samples import read_manifest
from experiments.stages.scoring.tables import study_table

EDITS = ["original", "noise", "blur", "colour", "combined", "watermark"]


def test_study_manifest_groups_66_files_into_11_subjects_by_6_edits(seed_mirror):
    rows = pd.DataFrame(read_manifest(BUILTIN_MANIFESTS["study"]))
    assert len(rows) == 66 and rows["path"].is_unique
    assert rows.groupby("subject")["edit"].apply(sorted).map(lambda e: e == sorted(EDITS)).all()
    assert rows["subject"].nunique() == 11
    assert rows.drop_duplicates("subject")["truth"].value_counts().to_dict() == {"ai": 6, "human": 5}
    assert (rows["truth"] == np.where(rows["path"].str.contains("/ai_"), "ai", "human")).all()
    assert all((seed_mirror / p).is_file() for p in rows["path"])


def test_study_config_reproduces_the_classifier_tool_exactly(seed_mirror, tmp_path, monkeypatch, cnn32):
    monkeypatch.setenv("ARTXAI_SEED_MIRROR", str(seed_mirror))
    out = tmp_path / "study"
    assert cli.main(["study_table.yaml", "--out", str(out)]) == 0
    table = pd.read_parquet(out / "study_table.parquet")
    assert len(table) == 66 and set(table["model"]) == {"cnn32"}  # the 128 px weights are not mirrored
    # Each number is what the study's classifier tool printed: load_img(32x32)/255, model.predict.
    for row in table.itertuples():
        x = keras.utils.img_to_array(keras.utils.load_img(seed_mirror / row.sample, target_size=(32, 32))) / 255
        p = cnn32.model.predict(x[None], verbose=0)[0]
        assert row.ai_pct == pytest.approx(100 * float(p[0]), abs=1e-4)
        assert row.human_pct == pytest.approx(100 * float(p[1]), abs=1e-4)
    originals = table[table["edit"] == "original"].set_index("subject")["ai_pct"]
    np.testing.assert_allclose(table["delta_ai_pct_vs_original"], table["ai_pct"] - table["subject"].map(originals))
    wide = pd.read_csv(out / "study_table_wide.csv")
    assert list(wide.columns) == ["subject", "truth", "edit", "cnn32 ai %", "cnn32 human %"] and len(wide) == 66


def test_study_table_delta_is_against_the_subjects_original():
    scores = pd.DataFrame(
        {
            "sample": ["a0", "a1", "b0", "a0"],
            "subject": ["a", "a", "b", "a"],
            "edit": ["original", "noise", "original", "original"],
            "truth": ["ai", "ai", "human", "ai"],
            "variant": ["identity", "identity", "identity", "jpeg(quality=5)"],
            "model": "m",
            "p_ai": [0.9, 0.4, 0.2, 0.1],
            "p_human": [0.1, 0.6, 0.8, 0.9],
            "predicted": ["ai", "human", "human", "human"],
            "correct": [True, False, True, False],
        }
    )
    table = study_table(scores)
    assert table["sample"].tolist() == ["a0", "a1", "b0"]  # augmented rows are not part of it
    np.testing.assert_allclose(table["delta_ai_pct_vs_original"], [0, -50, 0])
