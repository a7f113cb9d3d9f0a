"""The runner end to end, with the study's real 32 px model and real images."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments import run as cli
from experiments.stages.scoring import driver as scoring_driver
from experiments.config.fields import ConfigError
from experiments.config.schema import load_config
from experiments.models.architecture import keras
from tests.conftest import MODEL_32, MODEL_128, SAMPLES_DIR
from tests.tolerance import assert_frames_match

ORIGINALS = ["mona lisa.JPG", "starry_night.jpg", "ai_oil_painting_civitai.jpg"]
GRID = {"gaussian_noise": {"std": [0.05, 0.2]}, "occlusion": {"area": 0.1, "colour": "yellow"}, "jpeg": {"quality": 10}}


def write_config(tmp_path, seed_mirror, **overrides):
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    for name in ORIGINALS:
        shutil.copy(seed_mirror / SAMPLES_DIR / name, images / name)
    (images / "ai_broken.jpg").write_bytes(b"not a jpeg at all")
    manifest = tmp_path / "samples.csv"
    rows = [
        {"path": f"images/{n}", "subject": n.split(".")[0], "variant": "original", "truth": ""}
        for n in [*ORIGINALS, "ai_broken.jpg"]
    ]
    pd.DataFrame(rows).to_csv(manifest, index=False)
    cfg = {
        "name": "small",
        "seed": 3,
        "out_dir": str(tmp_path / "results"),
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [
            {"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32},
            {"name": "cnn128", "input_size": 128, "seed_asset": MODEL_128},  # absent: a warning
        ],
        "samples": {"manifest": "samples.csv"},
        "augment": GRID,
    } | overrides
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def read_tables(run_dir):
    return {
        name: pd.read_parquet(run_dir / f"{name}.parquet")
        for name in ("scores", "summary", "skipped", "minimal_flip", "minimal_flip_curve")
    }


def test_small_run_writes_correct_tables(tmp_path, seed_mirror, cnn32, caplog):
    config = write_config(tmp_path, seed_mirror)
    assert cli.main([str(config)]) == 0
    run_dir = tmp_path / "results" / "small"
    tables = read_tables(run_dir)
    scores = tables["scores"]
    n_variants = 1 + 2 + 1 + 1
    assert len(scores) == len(ORIGINALS) * n_variants  # one model: the 128 px one is absent
    assert list(scores.columns[:9]) == [
        "sample",
        "subject",
        "edit",
        "truth",
        "variant",
        "op",
        "params",
        "severity",
        "model",
    ]
    assert scores["truth"].tolist()[::n_variants] == ["human", "human", "ai"]  # filename rule
    ident = scores[scores["variant"] == "identity"]
    assert (ident["delta_p_ai"] == 0).all() and not ident["flipped"].any()
    np.testing.assert_allclose(scores["p_ai"] + scores["p_human"], 1, atol=1e-6)
    # the unedited scores are exactly what the study's classifier computed, image by image
    for row in ident.itertuples():
        x = keras.utils.img_to_array(keras.utils.load_img(tmp_path / row.sample, target_size=(32, 32))) / 255
        assert row.p_ai == pytest.approx(float(cnn32.model.predict(x[None], verbose=0)[0, 0]), abs=1e-6)
    # deltas are p_ai minus the same sample's identity p_ai
    merged = scores.merge(ident[["sample", "p_ai"]], on="sample", suffixes=("", "_0"))
    np.testing.assert_allclose(merged["delta_p_ai"], merged["p_ai"] - merged["p_ai_0"])
    assert set(scores.loc[scores["op"] == "gaussian_noise", "severity"]) == {0.05, 0.2}
    assert json.loads(scores.loc[scores["op"] == "jpeg", "params"].iloc[0]) == {"quality": 10}

    # margins: the logits' difference, equal to log p_ai - log p_human where float32 does not saturate
    unsaturated = scores[scores["p_ai"].between(1e-4, 1 - 1e-4)]
    np.testing.assert_allclose(
        unsaturated["margin"], np.log(unsaturated["p_ai"]) - np.log(unsaturated["p_human"]), atol=1e-4
    )
    merged = scores.merge(ident[["sample", "margin", "correct"]], on="sample", suffixes=("", "_0"))
    np.testing.assert_allclose(merged["delta_margin"], merged["margin"] - merged["margin_0"])
    signs = np.sign(merged["delta_margin"].where(merged["delta_margin"].abs() > 1e-4, 0))
    assert (signs.map({1.0: "towards_ai", -1.0: "towards_human", 0.0: "none"}) == merged["direction"]).all()
    assert (merged["fooled"] == (merged["correct_0"] & ~merged["correct"])).all()
    assert (merged["corrected"] == (~merged["correct_0"] & merged["correct"])).all()
    assert (scores["flipped"] == (scores["fooled"] | scores["corrected"])).all() and (scores["replicate"] == 0).all()

    summary = tables["summary"]
    noisy = summary[summary["variant"] == "gaussian_noise(std=0.2)"].iloc[0]
    sub = scores[scores["variant"] == "gaussian_noise(std=0.2)"]
    assert noisy["n"] == 3 and noisy["max_abs_delta_p_ai"] == pytest.approx(sub["delta_p_ai"].abs().max())
    assert noisy["flip_rate"] == pytest.approx(sub["flipped"].mean())
    assert (
        noisy["fooling_rate"] == pytest.approx(sub["fooled"].sum() / ident["correct"].sum())
        and noisy["n_correct"] == ident["correct"].sum()
    )
    assert (
        noisy["mean_delta_margin_ci_low"] <= noisy["mean_delta_margin"] <= noisy["mean_delta_margin_ci_high"]
        and noisy["exploratory"]
    )
    assert (run_dir / "minimal_flip.parquet").is_file() and (run_dir / "minimal_flip_curve.parquet").is_file()

    skipped = tables["skipped"]
    assert skipped["sample"].tolist() == ["images/ai_broken.jpg"] and "not an image" in skipped["reason"][0]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["models_unavailable"] == ["cnn128"] and manifest["models"][0]["git_blob_sha1"].startswith("ac5db7")
    assert manifest["versions"]["tensorflow"] == "2.21.0" and manifest["counts"]["skipped"] == 1
    assert sum("model cnn128 skipped" in r.getMessage() for r in caplog.records) == 1
    assert pd.read_csv(run_dir / "scores.csv").shape == scores.shape


def test_same_config_and_seed_give_identical_tables(tmp_path, seed_mirror):
    config = write_config(tmp_path, seed_mirror)
    assert cli.main([str(config), "--out", str(tmp_path / "a")]) == 0
    assert cli.main([str(config), "--out", str(tmp_path / "b")]) == 0
    a, b = read_tables(tmp_path / "a"), read_tables(tmp_path / "b")
    for name in a:
        assert_frames_match(a[name], b[name], f"{name}.parquet")
    one_thread = write_config(tmp_path, seed_mirror, workers=1)
    assert cli.main([str(one_thread), "--out", str(tmp_path / "serial")]) == 0
    assert_frames_match(a["scores"], read_tables(tmp_path / "serial")["scores"], "scores.parquet")
    other_seed = write_config(tmp_path, seed_mirror, seed=4)
    assert cli.main([str(other_seed), "--out", str(tmp_path / "c")]) == 0
    noise = lambda t: t["scores"].query("op == 'gaussian_noise'")["p_ai"].to_numpy()  # noqa: E731
    assert not np.array_equal(noise(a), noise(read_tables(tmp_path / "c")))


def test_killed_run_resumes_without_redoing_work(tmp_path, seed_mirror, monkeypatch):
    config = write_config(tmp_path, seed_mirror)
    assert cli.main([str(config), "--out", str(tmp_path / "whole")]) == 0

    real, calls = scoring_driver.score_chunk, []

    def dies_on_third_image(chunk, *args, **kwargs):  # part_size 1: a chunk is one image
        calls.append(chunk[0].id)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the process is killed mid-run
        return real(chunk, *args, **kwargs)

    monkeypatch.setattr(scoring_driver, "score_chunk", dies_on_third_image)
    assert cli.main([str(config), "--out", str(tmp_path / "cut")]) == 130  # one line: interrupted; --resume continues
    parts = sorted((tmp_path / "cut" / "parts").glob("*.parquet"))
    assert len(parts) == 2 and not (tmp_path / "cut" / "scores.parquet").exists()
    assert not list((tmp_path / "cut").rglob("*.tmp"))

    stamps = {p: p.stat().st_mtime_ns for p in parts}
    calls.clear()
    assert cli.main([str(config), "--out", str(tmp_path / "cut"), "--resume"]) == 0
    assert calls == ["images/ai_oil_painting_civitai.jpg", "images/ai_broken.jpg"]  # only the chunks not done yet
    assert {p: p.stat().st_mtime_ns for p in parts} == stamps
    whole, resumed = read_tables(tmp_path / "whole"), read_tables(tmp_path / "cut")
    for name in whole:
        assert_frames_match(whole[name], resumed[name], f"{name}.parquet")


def test_existing_run_needs_resume_or_force_and_the_same_config(tmp_path, seed_mirror, capsys):
    config = write_config(tmp_path, seed_mirror)
    out = ["--out", str(tmp_path / "r")]
    assert cli.main([str(config), *out]) == 0
    assert cli.main([str(config), *out]) == 2
    assert "pass --resume" in capsys.readouterr().err
    changed = write_config(tmp_path, seed_mirror, seed=99)
    assert cli.main([str(changed), *out, "--resume"]) == 2
    assert "different config" in capsys.readouterr().err
    assert cli.main([str(changed), *out, "--force"]) == 0


def test_nothing_scored_exits_1(tmp_path, seed_mirror):
    config = write_config(tmp_path, seed_mirror)
    for name in ORIGINALS:
        (tmp_path / "images" / name).write_bytes(b"")
    assert cli.main([str(config)]) == 1
    skipped = pd.read_csv(tmp_path / "results" / "small" / "skipped.csv")
    assert len(skipped) == 4 and (skipped["reason"] == "empty file").sum() == 3


@pytest.mark.parametrize(
    "override, message",
    [
        (
            {"augment": {"gaussian_blur": {"sigma": [1, 0]}}},
            "augment.gaussian_blur.sigma[1]: Input should be greater than 0",
        ),
        ({"augment": {"frobnicate": {"amount": 1}}}, "augment.frobnicate: unknown op"),
        ({"seed": "abc"}, "seed: Input should be a valid integer"),
        ({"models": []}, "models: List should have at least 1 item"),
        ({"samples": {"manifest": "x.csv", "folder": "y"}}, "samples: give exactly one of manifest, folder or dataset"),
        ({"batch_size": 0}, "batch_size: Input should be greater than or equal to 1"),
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_config_errors_are_one_line_naming_the_field(tmp_path, seed_mirror, capsys, override, message):
    config = write_config(tmp_path, seed_mirror, **override)
    assert cli.main([str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {config}: ") and message in err
    assert "\n" not in err and "Traceback" not in err


def test_unknown_config_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="robustness.yaml"):
        load_config("no-such-config.yaml")


def test_required_model_missing_is_an_error(tmp_path, seed_mirror, capsys):
    config = write_config(
        tmp_path, seed_mirror, models=[{"name": "m", "input_size": 128, "seed_asset": MODEL_128, "required": True}]
    )
    assert cli.main([str(config)]) == 2
    assert "model m: " in capsys.readouterr().err


def test_shipped_configs_are_valid():
    robustness = load_config("robustness.yaml")
    ops = {v.op for v in robustness.variants()}
    assert ops >= {"identity", "gaussian_noise", "gaussian_blur", "motion_blur", "hue_shift", "saturation",
                   "brightness_contrast", "gamma", "jpeg", "downscale", "occlusion", "text_watermark",
                   "combined"}  # fmt: skip
    per_op = pd.Series([v.op for v in robustness.variants() if v.replicate == 0]).value_counts()
    assert per_op.drop(["identity", "combined"]).between(3, 5).all()
    drawn = pd.Series(
        [v.base_id for v in robustness.variants()]
    ).value_counts()  # 3 draws where placement or noise is random
    assert set(drawn[drawn == 3].index.map(lambda i: i.split("(")[0])) == {"gaussian_noise", "occlusion", "combined"}
    assert (drawn[drawn.index.str.startswith(("gaussian_blur", "jpeg", "text_watermark"))] == 1).all()
    assert [m.input_size for m in robustness.models] == [32, 128]
    assert load_config("study_table.yaml").variants()[0].id == "identity"


def test_dataset_configs_need_their_data_named(monkeypatch, tmp_path):
    monkeypatch.delenv("ARTXAI_ARTBENCH", raising=False)
    with pytest.raises(ConfigError, match="ARTXAI_ARTBENCH, which is not set"):
        load_config("artbench.yaml")
    monkeypatch.setenv("ARTXAI_ARTBENCH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    cfg = load_config("artbench.yaml")
    assert (
        cfg.samples.dataset.root == tmp_path and cfg.models[0].path == tmp_path / "models" / "artbench" / "cnn32.keras"
    )
    assert all(m.train.dataset.root == tmp_path for m in cfg.models)
    monkeypatch.setenv("ARTXAI_REAL_MINI", str(tmp_path))
    assert load_config("real_mini.yaml").models[1].train.dataset.layout == "generic"


def test_folder_of_real_images_takes_truth_from_class_folders(tmp_path, seed_mirror):
    real_mini = seed_mirror.parent / "real-mini" / "test"
    if not real_mini.is_dir():
        pytest.fail(f"{real_mini} is needed (../shared/real-mini)")
    config = write_config(tmp_path, seed_mirror, samples={"folder": str(real_mini)}, augment={"jpeg": {"quality": 30}})
    assert cli.main([str(config)]) == 0
    scores = pd.read_parquet(tmp_path / "results" / "small" / "scores.parquet")
    assert len(scores) == 20 * 2
    truth = scores.drop_duplicates("sample").set_index("sample")["truth"]
    assert (truth == truth.index.str.split("/").str[0]).all() and truth.value_counts().to_dict() == {
        "ai": 10,
        "human": 10,
    }


def test_the_manifest_is_written_once_when_the_run_ends(tmp_path, seed_mirror, monkeypatch):
    """manifest.json is the record of a finished run: written once, after the report, with the
    report's time in it (the report is built from the same fields, in memory)."""
    from experiments.rundir import atomic

    written, real = [], atomic.atomic_write_text

    def spy(path, text, *args, **kwargs):
        if path.name == "manifest.json":
            written.append(json.loads(text))
        return real(path, text, *args, **kwargs)

    monkeypatch.setattr(atomic, "atomic_write_text", spy)
    config = write_config(tmp_path, seed_mirror, report="html")
    assert cli.main([str(config)]) == 0
    assert len(written) == 1
    assert {"report", "scoring", "tables", "total"} <= set(written[0]["timings_s"])
    assert written[0] == json.loads((tmp_path / "results" / "small" / "manifest.json").read_text())
    assert (tmp_path / "results" / "small" / "report" / "index.html").is_file()
