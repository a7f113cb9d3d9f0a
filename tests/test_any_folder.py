"""Scoring a pretrained model on someone's test set: test-only folders in both dataset layouts,
and class folders of any name in folder mode, on real CIFAKE images."""

import shutil

import pandas as pd
import pytest
import yaml

from experiments import run as cli
from experiments.config.fields import ConfigError
from experiments.config.schema import load_config
from experiments.inputs.samples import load_samples
from tests.conftest import MODEL_32

PER_CLASS = 6


def copy_some(src, dst, n=PER_CLASS):
    dst.mkdir(parents=True, exist_ok=True)
    for p in sorted(src.iterdir())[:n]:
        shutil.copy(p, dst / p.name)


def run_on(tmp_path, seed_mirror, samples):
    cfg = {
        "name": "anyfolder", "seed": 1, "out_dir": str(tmp_path / "results"), "report": "none",
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32, "required": True}],
        "samples": samples,
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli.main([str(path)]) == 0
    run_dir = tmp_path / "results" / "anyfolder"
    return pd.read_parquet(run_dir / "scores.parquet"), pd.read_parquet(run_dir / "evaluation_metrics.parquet")


def test_artbench_layout_with_only_a_test_split(tmp_path, seed_mirror, cifake):
    root = tmp_path / "artbench"
    copy_some(cifake / "test" / "human", root / "test" / "baroque")
    copy_some(cifake / "test" / "ai", root / "test" / "AI_SD_baroque")
    scores, metrics = run_on(
        tmp_path, seed_mirror, {"dataset": {"root": str(root), "layout": "artbench"}, "split": "test"}
    )
    assert scores.groupby("truth").size().to_dict() == {"ai": PER_CLASS, "human": PER_CLASS}
    assert set(scores["generator"]) == {"standard_diffusion", "human"} and set(scores["style"]) == {"baroque"}
    assert metrics.set_index("metric").at["accuracy", "n"] == 2 * PER_CLASS


def test_generic_layout_with_only_a_test_split_and_mapped_class_folders(tmp_path, seed_mirror, cifake):
    root = tmp_path / "generic"
    copy_some(cifake / "test" / "ai", root / "test" / "FAKE")
    copy_some(cifake / "test" / "human", root / "test" / "REAL")
    dataset = {"root": str(root), "layout": "generic", "class_dirs": {"ai": ["FAKE", "1_fake"], "human": "REAL"}}
    scores, _ = run_on(tmp_path, seed_mirror, {"dataset": dataset, "split": "test"})
    assert scores.groupby("truth").size().to_dict() == {"ai": PER_CLASS, "human": PER_CLASS}
    assert scores.loc[scores["truth"] == "ai", "sample"].str.startswith("test/FAKE/").all()


def test_folder_mode_takes_truth_from_class_folder_patterns(tmp_path, seed_mirror, cifake):
    root = tmp_path / "mixed"
    copy_some(cifake / "test" / "ai", root / "unseen_AI_images")
    copy_some(cifake / "test" / "human", root / "unseen_Human_images" / "cats", n=3)
    copy_some(cifake / "test" / "human", root / "REAL", n=3)
    classes = {"ai": ["FAKE", "unseen_AI_*"], "human": ["REAL", "unseen_Human_*"]}
    scores, metrics = run_on(tmp_path, seed_mirror, {"folder": str(root), "classes": classes})
    truth = scores.set_index("sample")["truth"]
    assert (truth[truth.index.str.startswith("unseen_AI_images/")] == "ai").sum() == PER_CLASS
    assert (truth[~truth.index.str.startswith("unseen_AI_images/")] == "human").sum() == PER_CLASS
    assert metrics.set_index("metric").at["accuracy", "n"] == 2 * PER_CLASS


def write_folder_config(tmp_path, root, classes):
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "x",
                "models": [{"name": "m", "input_size": 32, "path": "m.h5"}],
                "samples": {"folder": str(root), "classes": classes},
            }
        )
    )
    return load_config(path)


def test_a_file_in_no_class_folder_or_in_both_is_a_clear_error(tmp_path, cifake):
    root = tmp_path / "mixed"
    copy_some(cifake / "test" / "ai", root / "FAKE", n=2)
    copy_some(cifake / "test" / "human", root / "other", n=1)
    cfg = write_folder_config(tmp_path, root, {"ai": "FAKE", "human": "REAL"})
    with pytest.raises(ConfigError, match=r"samples\.classes: other/.*\.jpg is in no folder matching a class"):
        load_samples(cfg.samples, resolver=None)
    shutil.rmtree(root / "other")
    copy_some(cifake / "test" / "human", root / "REAL" / "FAKE", n=1)
    cfg = write_folder_config(tmp_path, root, {"ai": "FAKE", "human": "REAL"})
    with pytest.raises(ConfigError, match=r"REAL/FAKE/.*match(es)? both classes"):
        load_samples(cfg.samples, resolver=None)


def test_training_still_needs_a_train_split(tmp_path, cifake):
    root = tmp_path / "testonly"
    copy_some(cifake / "test" / "ai", root / "test" / "ai", n=2)
    copy_some(cifake / "test" / "human", root / "test" / "human", n=2)
    from experiments.inputs.datasets import training_splits
    from experiments.config.model_blocks import DatasetConfig

    with pytest.raises(ConfigError, match=r"has no train folder \(it has: test\)"):
        training_splits(DatasetConfig(root=root, layout="generic"), seed=0)


def test_one_folder_matcher_serves_datasets_samples_and_the_default_rule():
    """labels.py is the one place a folder name is matched to a class: the default rule (nearest
    folder named ai / human), pattern maps, and a name matching both classes is refused."""
    from pathlib import PurePath

    from experiments.inputs.labels import LabelError, class_patterns, folder_class, nearest_class
    from experiments.inputs.samples import truth_from_name

    assert nearest_class(PurePath("human/x/AI/img.png")) == "ai"  # the nearest folder wins, case-insensitive
    assert nearest_class(PurePath("x/y/img.png")) is None
    assert (
        truth_from_name(PurePath("x/ai_img.png")) == "ai" and truth_from_name(PurePath("Human/ai_img.png")) == "human"
    )
    classes = class_patterns({"ai": "FAKE*", "human": ["REAL", "orig_*"]})
    assert classes == {"ai": ["FAKE*"], "human": ["REAL", "orig_*"]}
    assert (folder_class("fake_v2", classes), folder_class("Orig_1", classes), folder_class("misc", classes)) == (
        "ai",
        "human",
        None,
    )
    with pytest.raises(LabelError, match="both classes"):
        folder_class("fake_real", {"ai": ["fake*"], "human": ["*real"]})
