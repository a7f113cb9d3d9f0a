"""Datasets on disk and the training input pipeline, on generated and on real images."""

import numpy as np
import pandas as pd
import pytest

from experiments.config.fields import ConfigError
from experiments.config.model_blocks import DatasetConfig
from experiments.inputs.datasets import balance, counts, scan, training_splits
from experiments.inputs.images import load_for_model
from experiments.models.training_data import SkipLog, image_dataset
from tests.synthetic import STYLES, make_artbench


@pytest.fixture(scope="module")
def artbench(tmp_path_factory):
    return make_artbench(tmp_path_factory.mktemp("artbench"), per_folder=6)


def test_artbench_layout_keeps_label_style_and_generator(artbench):
    df = scan(DatasetConfig(root=artbench))
    assert len(df) == 2 * len(STYLES) * 3 * 6
    by = df[df["split"] == "train"].groupby(["label", "generator"]).size().to_dict()
    assert by == {("ai", "latent_diffusion"): 12, ("ai", "standard_diffusion"): 12, ("human", "human"): 12}
    assert set(df["style"]) == set(STYLES)
    row = df[df["path"].str.contains("AI_SD_ukiyo_e")].iloc[0]
    assert (row["label"], row["style"], row["generator"]) == ("ai", "ukiyo_e", "standard_diffusion")


def test_training_classes_are_balanced_and_validation_is_stratified(artbench):
    cfg = DatasetConfig(root=artbench, val_fraction=0.25)
    splits = training_splits(cfg, seed=3)
    train_val = pd.concat([splits["train"], splits["val"]])
    assert (train_val["label"] == "ai").sum() == (train_val["label"] == "human").sum() == 12  # AI dropped to 12
    assert set(splits["val"]["label"] + splits["val"]["style"]) == {f"{l}{s}" for l in ("ai", "human") for s in STYLES}
    assert not set(splits["train"]["path"]) & set(splits["val"]["path"])
    assert len(splits["test"]) == 36  # the test split is never balanced
    again = training_splits(cfg, seed=3)
    assert all(splits[k]["path"].tolist() == again[k]["path"].tolist() for k in splits)  # seeded
    other = training_splits(cfg, seed=4)
    assert splits["val"]["path"].tolist() != other["val"]["path"].tolist()


def test_balance_drops_only_ai_rows():
    df = pd.DataFrame({"label": ["ai"] * 7 + ["human"] * 3, "path": [str(i) for i in range(10)]})
    out = balance(df, seed=0)
    assert counts(out.assign(style="", generator=""))["label"] == {"ai": 3, "human": 3}
    assert set(out.loc[out["label"] == "human", "path"]) == {"7", "8", "9"}


def test_generic_layout_on_real_mini(real_mini):
    splits = training_splits(DatasetConfig(root=real_mini, layout="generic"), seed=0)
    assert {k: len(v) for k, v in splits.items()} == {"train": 20, "val": 20, "test": 20}  # its own val split
    with pytest.raises(ConfigError, match="class_dirs"):
        scan(DatasetConfig(root=real_mini, layout="generic", class_dirs={"ai": "fake", "human": "human"}))
    with pytest.raises(ConfigError, match="is not a folder"):
        scan(DatasetConfig(root=real_mini / "nope"))


@pytest.mark.parametrize("size", [32, 128])
def test_pipeline_equals_the_runners_preprocessing_and_skips_bad_files(real_mini, tmp_path, size):
    records = training_splits(DatasetConfig(root=real_mini, layout="generic"), seed=0)["test"]
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    records = pd.concat(
        [records, pd.DataFrame([{"path": str(bad), "split": "test", "label": "ai", "style": "", "generator": ""}])],
        ignore_index=True,
    )
    skips = SkipLog()
    batches = list(
        image_dataset(records, size, batch_size=7, skips=skips, cache="disk", cache_file=tmp_path / "cache" / "t")
    )
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert images.shape == (20, size, size, 3) and images.dtype == np.float32
    for image, path in zip(images, records["path"][:20]):
        np.testing.assert_array_equal(image, load_for_model(path, size))  # bit-identical
    assert labels.tolist() == [0 if l == "ai" else 1 for l in records["label"][:20]]
    assert list(skips.reasons) == [str(bad)]
    # the second epoch comes from the cache, without decoding: same pixels
    again = np.concatenate(
        [
            b[0].numpy()
            for b in image_dataset(
                records, size, batch_size=7, skips=SkipLog(), cache="disk", cache_file=tmp_path / "cache" / "t"
            )
        ]
    )
    np.testing.assert_array_equal(images, again)


def test_shuffle_is_seeded(real_mini):
    records = training_splits(DatasetConfig(root=real_mini, layout="generic"), seed=0)["train"]
    order = [
        np.concatenate(
            [b[1].numpy() for b in image_dataset(records, 8, batch_size=5, skips=SkipLog(), shuffle_seed=seed)]
        )
        for seed in (1, 1, 2)
    ]
    assert order[0].tolist() == order[1].tolist() and sorted(order[0]) == sorted(order[2])


def test_generic_scan_does_not_follow_symbolic_links(real_mini, tmp_path):
    """A dataset folder is listed as folders.list_images lists a sample folder: a link to an
    image, or to a folder of images, outside the dataset is not scanned (rglob followed them)."""
    import shutil

    for split in ("train", "test"):
        for label in ("ai", "human"):
            (tmp_path / split / label).mkdir(parents=True)
            for src in sorted((real_mini / split / label).iterdir())[:2]:
                shutil.copy(src, tmp_path / split / label / src.name)
    outside = sorted((real_mini / "val" / "ai").iterdir())[0]
    (tmp_path / "train" / "ai" / "linked.png").symlink_to(outside)
    (tmp_path / "train" / "human" / "more").symlink_to(real_mini / "val" / "human", target_is_directory=True)
    df = scan(DatasetConfig(root=tmp_path, layout="generic"))
    assert len(df) == 8  # the 2 copied files per class and split, nothing through a link
    assert not df["path"].str.contains("linked|more").any()
