"""Generators and sources from a dataset's sub-folders (dataset.generator_from), on the real
images of ../shared/art-6gen, and the refusals that protect them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from experiments import run as cli
from experiments.config.fields import ConfigError
from experiments.config.model_blocks import DatasetConfig
from experiments.inputs.datasets import counts, scan, training_splits
from experiments.inputs.samples import samples_from_dataset
from tests.conftest import MODEL_32

TEST_COUNTS = {
    "dalle": 17,
    "dreamstudio": 16,
    "midjourney": 17,
    "original_ldm": 17,
    "stable_diffusion": 17,
    "starryai": 17,
}
SOURCE_COUNTS = {"classical_art": 50, "general_art": 20, "illustrations": 30}


def small_copy(art6gen: Path, dest: Path, per_folder: int = 2, splits=("test",)) -> Path:
    """The first `per_folder` images of every generator and source folder of art-6gen."""
    for split in splits:
        for folder in sorted((art6gen / split).glob("*/*")):
            target = dest / split / folder.relative_to(art6gen / split)
            target.mkdir(parents=True)
            for image in sorted(folder.iterdir())[:per_folder]:
                shutil.copy(image, target / image.name)
    return dest


def test_generators_and_sources_come_from_the_sub_folders(art6gen):
    df = scan(DatasetConfig(root=art6gen, layout="generic", generator_from="subfolder"), ["test"])
    ai, human = df[df["label"] == "ai"], df[df["label"] == "human"]
    assert ai["generator"].value_counts().to_dict() == TEST_COUNTS
    assert human["source"].value_counts().to_dict() == SOURCE_COUNTS
    assert set(ai["source"]) == {""} and set(human["generator"]) == {"human"} and set(df["style"]) == {""}
    # without generator_from the old reading stands: every AI image is `unknown`, the sub-folder a style
    plain = scan(DatasetConfig(root=art6gen, layout="generic"), ["test"])
    assert set(plain.loc[plain["label"] == "ai", "generator"]) == {"unknown"} and "dalle" in set(plain["style"])


def test_a_mapping_renames_some_generators_and_samples_carry_sources(art6gen):
    names = {"original_ldm": "latent_diffusion", "stable_diffusion": "standard_diffusion"}
    dataset = DatasetConfig(root=art6gen, layout="generic", generator_from=names)
    samples = samples_from_dataset(dataset, "test")
    generators = {s.generator for s in samples if s.truth == "ai"}
    assert generators == {"dalle", "dreamstudio", "midjourney", "latent_diffusion", "standard_diffusion", "starryai"}
    assert {s.source for s in samples if s.truth == "human"} == set(SOURCE_COUNTS)
    assert samples[0].labels().keys() == {"source", "generator"}  # never a style column
    card = counts(training_splits(dataset, seed=0)["train"])
    assert set(card) == {"label", "generator", "source"} and card["generator"]["latent_diffusion"] > 40


def test_generator_from_needs_the_generic_layout():
    with pytest.raises(ValueError, match="generator_from goes with layout: generic"):
        DatasetConfig(root="/x", generator_from="subfolder")


def test_a_generator_folder_without_images_is_refused(art6gen, tmp_path):
    root = small_copy(art6gen, tmp_path / "d")
    (root / "test" / "ai" / "empty_gen").mkdir()
    with pytest.raises(ConfigError, match=r"empty_gen is a generator folder with no images"):
        scan(DatasetConfig(root=root, layout="generic", generator_from="subfolder"), ["test"])


def test_a_name_in_both_classes_is_refused(art6gen, tmp_path):
    root = small_copy(art6gen, tmp_path / "d")
    shutil.copytree(root / "test" / "human" / "illustrations", root / "test" / "ai" / "illustrations")
    with pytest.raises(ConfigError, match="'illustrations' names a folder in both classes"):
        scan(DatasetConfig(root=root, layout="generic", generator_from="subfolder"), ["test"])


def test_bad_generator_folders_stop_the_run_before_anything_is_made(art6gen, tmp_path, seed_mirror, capsys):
    root = small_copy(art6gen, tmp_path / "d")
    (root / "test" / "ai" / "empty_gen").mkdir()
    cfg = {
        "name": "bad", "out_dir": str(tmp_path / "results"), "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
        "samples": {"dataset": {"root": str(root), "layout": "generic", "generator_from": "subfolder"}},
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty_gen is a generator folder with no images" in err[0]
    assert not (tmp_path / "results").exists()


# --- per generator, seen vs unseen: the study's 32 px model on art-6gen's test split ----------------

ARTBENCH_NAMES = {"original_ldm": "latent_diffusion", "stable_diffusion": "standard_diffusion"}


@pytest.fixture(scope="module")
def art_run(tmp_path_factory, art6gen, seed_mirror):
    tmp = tmp_path_factory.mktemp("art")
    cfg = {
        "name": "art", "out_dir": str(tmp / "results"), "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
        "samples": {"dataset": {"root": str(art6gen), "layout": "generic", "generator_from": ARTBENCH_NAMES}},
        "part_size": 201, "bootstrap": 100,
    }  # fmt: skip
    (tmp / "art.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp / "art.yaml")]) == 0
    return tmp / "results" / "art"


def test_detection_per_generator_seen_and_unseen(art_run):
    import json

    import pandas as pd

    from experiments.stats.statistics import wilson_ci

    table = pd.read_parquet(art_run / "generators.parquet").set_index("name")
    found = {name: (r.k, r.n, r.seen) for name, r in table.iterrows()}
    assert found == {  # the numbers: AI-ArtBench's two generators caught, the four others missed
        "latent_diffusion": (16, 17, "seen"), "standard_diffusion": (16, 17, "seen"), "dreamstudio": (1, 16, "unseen"),
        "dalle": (3, 17, "unseen"), "starryai": (3, 17, "unseen"), "midjourney": (5, 17, "unseen"),
        "seen generators": (32, 34, "seen"), "unseen generators": (12, 67, "unseen"),
        "all generators": (44, 101, "all"),
        "classical_art": (5, 50, ""), "general_art": (4, 20, ""), "illustrations": (4, 30, ""),
        "all sources": (13, 100, ""),
    }  # fmt: skip
    assert (table.loc["unseen generators", ["ci_low", "ci_high"]].tolist()) == pytest.approx(wilson_ci(12, 67))
    assert set(table.loc[table["kind"] == "source", "metric"]) == {"false_positive_rate"}
    scores = pd.read_parquet(art_run / "scores.parquet")
    assert "source" in scores and "style" not in scores
    groups = pd.read_parquet(art_run / "evaluation_groups.parquet")
    assert set(groups["by"]) == {"generator", "source"} and "human" not in set(groups["group"])
    card = json.loads((art_run / "models" / "cnn32.model_card.json").read_text())
    assert card["trained_on_generators"] == ["latent_diffusion", "standard_diffusion"]
    html = (art_run / "report" / "index.html").read_text()
    assert (
        "cnn32 catches 2 of 6 generators (standard_diffusion 16/17, latent_diffusion 16/17); misses dreamstudio 1/16, "
        "dalle 3/17, starryai 3/17, midjourney 5/17; worst: dreamstudio, 1 of 16 detected"
    ) in html
    assert 'id="generators"' in html and (art_run / "report" / "img" / "generators_cnn32.png").is_file()


def test_a_config_names_the_generators_a_model_was_trained_on():
    from experiments.config.model_blocks import ModelConfig
    from experiments.stages.generators import trained_generators

    assert trained_generators(ModelConfig(name="m", input_size=32, seed_asset=MODEL_32)) == [
        "latent_diffusion",
        "standard_diffusion",
    ]
    own = ModelConfig(name="m", input_size=32, path="/nowhere/m.h5", trained_on=["dalle", "midjourney"])
    assert trained_generators(own) == ["dalle", "midjourney"]
    assert trained_generators(ModelConfig(name="m", input_size=32, path="/nowhere/m.h5")) is None  # no card: unknown


# --- the cross-generator matrix on a labelled layout --------------------------------------------------


def two_generator_copy(art6gen: Path, dest: Path, generators=("dalle", "stable_diffusion")) -> Path:
    """A few real art-6gen images: two generators, two human sources, train and test."""
    for split, n in (("train", 8), ("test", 4)):
        for folder in [*(f"ai/{g}" for g in generators), "human/classical_art", "human/illustrations"]:
            (dest / split / folder).mkdir(parents=True)
            for image in sorted((art6gen / split / folder).iterdir())[:n]:
                shutil.copy(image, dest / split / folder / image.name)
    return dest


def matrix_config(tmp_path: Path, root: Path, **cross) -> Path:
    dataset = {"root": str(root), "layout": "generic", "generator_from": "subfolder", "val_fraction": 0.25}
    cfg = {
        "name": "matrix", "out_dir": str(tmp_path / "results"), "report": "none", "bootstrap": 100,
        "models": [{"name": "cnn32", "input_size": 32, "path": str(tmp_path / "models" / "cnn32.keras"),
                    "train": {"dataset": dataset, "epochs": 1, "batch_size": 16}}],
        "samples": {"dataset": dataset, "split": "test"}, "part_size": 100,
        "cross_generator": {"designs": ["leave_one_out"]} | cross,
    }  # fmt: skip
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path / "m.yaml"


def test_a_held_out_generator_is_never_in_its_copys_training_record(art6gen, tmp_path):
    import json

    from experiments.config.schema import load_config
    from experiments.inputs.images import DecodePolicy
    from experiments.stages.cross_generator import cross_generator_matrix, held_out_rows

    root = two_generator_copy(art6gen, tmp_path / "d")
    cfg = load_config(matrix_config(tmp_path, root))
    matrix = cross_generator_matrix(cfg, [], DecodePolicy())  # the copies alone: the run's own model is not loaded
    assert sorted(set(matrix["trained_on"])) == ["all but dalle", "all but stable_diffusion"]
    assert (
        set(matrix["tested_on"]) == {"dalle", "stable_diffusion"}
        and (matrix["n_ai"] == 4).all()
        and (matrix["n_human"] == 8).all()
    )
    assert (matrix["roc_auc_ci_low"] <= matrix["roc_auc"]).all() and (
        matrix["recall_ai_ci_high"] >= matrix["recall_ai"]
    ).all()
    for held_out in ("dalle", "stable_diffusion"):
        card = json.loads(
            (tmp_path / "models" / "cnn32.cross_generator" / f"without_{held_out}.model_card.json").read_text()
        )
        for split in ("train", "val"):
            seen = set(card["data"][split]["generator"])
            assert held_out not in seen and seen == {"dalle", "stable_diffusion", "human"} - {held_out}
    assert sorted(held_out_rows(matrix)["held_out"]) == ["dalle", "stable_diffusion"]


def test_a_matrix_of_one_generator_stops_the_run_before_anything_is_made(art6gen, tmp_path, capsys):
    root = two_generator_copy(art6gen, tmp_path / "d", generators=("dalle",))
    assert cli.main([str(matrix_config(tmp_path, root))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has AI generators ['dalle'] in its test split; the matrix needs two or more" in err[0]
    assert not (tmp_path / "models").exists() and not (tmp_path / "results").exists()
