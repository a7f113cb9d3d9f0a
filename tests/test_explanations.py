"""The runner's explanation stage with the study's real 32 px model and real images."""

import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from augment import expand_grid
from experiments.models.detector import InputSpec
from experiments import run as cli
from experiments.config.fields import BUILTIN_MANIFESTS, ConfigError
from experiments.config.schema import load_config
from experiments.config.sections import EXPLAIN_METHODS, ExplainConfig
from experiments.stages.explanations.maps import chosen_variants, prepare_sample
from experiments.inputs.images import DecodePolicy, decode_image, display_resize, model_pixels_in, resize_for_model
from experiments.inputs.samples import Sample
from tests.conftest import MODEL_32, SAMPLES_DIR
from xai import METHODS
from xai.lime_explain import perturbed_batch, superpixels
from tests.tolerance import assert_frames_match

ORIGINALS = ["mona lisa.JPG", "ai_oil_painting_civitai.jpg"]


def test_config_knows_every_method_and_names_bad_fields(tmp_path):
    assert set(EXPLAIN_METHODS) == set(METHODS)
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "models": [{"name": "m", "input_size": 32, "path": "m.h5"}],
                "samples": {"folder": "."},
                "explain": {"methods": ["gradcam", "gradcam"]},
            }
        )
    )
    with pytest.raises(ConfigError, match="explain.methods: methods must not repeat"):
        load_config(path)


def test_lime_hides_superpixels_exactly_as_the_preprocessing_would(seed_mirror):
    """Hiding superpixels on the full-resolution image and then resizing as the runner does gives
    the same pixels as hiding the carried-down superpixels on the model input."""
    full = decode_image(seed_mirror / SAMPLES_DIR / "starry_night.jpg").pixels
    display = display_resize(full, 256)
    labels = superpixels(display, 50)
    h, w = full.shape[:2]
    dr = ((np.arange(h) + 0.5) * display.shape[0] / h).astype(int)
    dc = ((np.arange(w) + 0.5) * display.shape[1] / w).astype(int)
    full_labels = labels[np.minimum(dr, display.shape[0] - 1)][:, np.minimum(dc, display.shape[1] - 1)]
    keep = np.random.default_rng(0).integers(0, 2, (3, labels.max() + 1))
    for size in (32, 128):
        rows, cols = model_pixels_in(full.shape[:2], size, labels.shape)
        fast = perturbed_batch(resize_for_model(full, size), labels[rows][:, cols], keep)
        for k in range(3):
            slow = resize_for_model(full * keep[k][full_labels][..., None].astype(np.uint8), size)
            np.testing.assert_array_equal(fast[k], slow)


def test_superpixels_survive_at_32_px(seed_mirror):
    cfg = ExplainConfig(methods=["lime"])
    identity = expand_grid({})
    study = pd.read_csv(BUILTIN_MANIFESTS["study"])
    for rel in study.loc[study["variant"] == "original", "path"]:  # the 11 unedited artworks
        sample = Sample(rel, seed_mirror / rel, rel, "original", "human")
        prep = prepare_sample(sample, identity, {InputSpec(32)}, cfg, 0, DecodePolicy())
        assert len(np.unique(prep.segments[InputSpec(32)]["identity"])) >= 20, rel  # lime's defaults give 1-2


def test_top_k_picks_the_largest_shifts_unedited_first():
    variants = expand_grid({"gaussian_noise": {"std": [0.1, 0.2]}, "gaussian_blur": {"sigma": [2]}})
    ids = [v.id for v in variants]
    scores = pd.DataFrame({"sample": "s", "model": "m", "variant": ids, "delta_p_ai": [0, 0.1, -0.5, 0.3]})
    pick = lambda **kw: [v.id for v in chosen_variants(scores, "s", "m", variants, ExplainConfig(**kw))]  # noqa: E731
    assert pick(images="top_k", top_k=2) == ["identity", ids[2], ids[3]]
    assert pick(images="originals") == ["identity"]
    assert pick(images="all") == ids
    assert chosen_variants(scores[scores["variant"] != "identity"], "s", "m", variants, ExplainConfig()) == []


def write_config(tmp_path, seed_mirror, name="explained", **explain):
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    for n in ORIGINALS:
        shutil.copy(seed_mirror / SAMPLES_DIR / n, images / n)
    cfg = {
        "name": name,
        "seed": 5,
        "out_dir": str(tmp_path / "results"),
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
        "samples": {"folder": "images"},
        "augment": {
            "gaussian_noise": {"std": [0.2]},
            "occlusion": {"area": 0.1, "colour": "red"},
            "gaussian_blur": {"sigma": [4]},
        },
        "explain": {"methods": ["gradcam", "lime", "random"], "top_k": 2, "lime_samples": 100, "faithfulness_steps": 4}
        | explain,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def read(run_dir):
    return {
        t: pd.read_parquet(run_dir / f"{t}.parquet")
        for t in ("explanations", "explanation_sanity", "explanation_summary")
    }


def test_runner_explains_caches_and_resumes(tmp_path, seed_mirror, caplog):
    caplog.set_level(logging.INFO, logger="artxai")
    config = write_config(tmp_path, seed_mirror)
    assert cli.main([str(config)]) == 0
    run_dir = tmp_path / "results" / "explained"
    first = read(run_dir)
    table, sanity, summary = first["explanations"], first["explanation_sanity"], first["explanation_summary"]

    assert len(table) == 2 * 3 * 3  # samples x (unedited + top 2) x methods
    scores = pd.read_parquet(run_dir / "scores.parquet")
    for (sample, method), group in table.groupby(["sample", "method"]):
        assert group["variant"].iloc[0] == "identity"
        edited = scores[(scores["sample"] == sample) & (scores["variant"] != "identity")]
        assert set(group["variant"][1:]) == set(edited.loc[edited["delta_p_ai"].abs().nlargest(2).index, "variant"])
    assert table.loc[table["variant"] == "identity", "drift_spearman"].isna().all()
    edited_rows = table[table["variant"] != "identity"]
    assert edited_rows[["drift_spearman", "drift_top_iou"]].notna().all().all()
    assert edited_rows.loc[edited_rows["method"] == "random", "drift_spearman"].abs().max() < 0.2  # noise vs noise
    assert table[["deletion_auc", "insertion_auc"]].apply(lambda c: c.between(0, 1)).all().all()
    # the same curves in log-odds of the target (unsaturated); at zero pixels deleted, the image's own
    merged = table.merge(scores[["sample", "variant", "margin"]], on=["sample", "variant"])
    np.testing.assert_allclose(merged["target_logit"], merged["margin"], atol=1e-3)  # target: ai
    assert table[["deletion_auc_logit", "insertion_auc_logit"]].notna().all().all()
    versus = pd.read_parquet(run_dir / "explanation_vs_random.parquet")
    assert set(versus["method"]) == {"gradcam", "lime"} and set(versus["vs_random"]) <= {
        "better",
        "no_difference",
        "worse",
    }
    assert (
        set(versus["images"]) == {"all", "unedited", "edited"}
        and (versus.loc[versus["images"] == "all", "n"] == 2).all()
    )
    assert {"deletion_vs_random", "insertion_vs_random"} <= set(summary.columns)
    assert (table["target"] == "ai").all()

    assert len(sanity) == 2 * 3 * 4  # samples x methods x weighted layers randomised in turn
    assert sanity.groupby(["sample", "method"])["randomised_layers"].apply(list).map(lambda v: v == [1, 2, 3, 4]).all()
    assert sanity.loc[sanity["method"] == "random", "spearman"].eq(1).all()  # ignores the model: caught
    assert set(summary["method"]) == {"gradcam", "lime", "random"}

    for rel in table["overlay"]:
        with Image.open(run_dir / rel) as im:
            assert im.format == "PNG" and im.height == 256  # display copy (portrait: long side 256) + colour bar
    grids = sorted((run_dir / "explain" / "grids" / "cnn32").glob("*.png"))
    assert len(grids) == 2
    for g in grids:  # 3 rows (methods) x 3 columns (variants) of cells, long side 180 px, under 1 MB
        with Image.open(g) as im:
            assert im.height > 3 * 180 and im.width > 3 * 100 and g.stat().st_size < 1_000_000

    # a rerun computes nothing and gives the same tables
    caplog.clear()
    assert cli.main([str(config), "--resume"]) == 0
    assert "0 map sets computed, 6 from the cache" in caplog.text
    again = read(run_dir)
    for name in first:
        assert_frames_match(again[name], first[name], f"{name}.parquet")

    # adding a method computes only that method
    caplog.clear()
    config = write_config(tmp_path, seed_mirror, methods=["gradcam", "lime", "random", "saliency"])
    assert cli.main([str(config), "--resume"]) == 0
    assert "2 map sets computed, 6 from the cache" in caplog.text


def test_same_seed_same_explanation_tables(tmp_path, seed_mirror):
    tables = []
    for name in ("a", "b"):
        config = write_config(
            tmp_path, seed_mirror, name=name, methods=["lime", "gradcam"], sanity=False, pictures=False, max_samples=1
        )
        assert cli.main([str(config)]) == 0
        tables.append(read(tmp_path / "results" / name))
    for name in tables[0]:
        assert_frames_match(tables[1][name], tables[0][name], f"{name}.parquet")
    assert "overlay" not in tables[0]["explanations"]
    # max_samples: only the sample whose scores moved most was explained
    scores = pd.read_parquet(tmp_path / "results" / "a" / "scores.parquet")
    most = scores.assign(a=scores["delta_p_ai"].abs()).groupby("sample")["a"].mean().idxmax()
    assert set(tables[0]["explanations"]["sample"]) == {most}
