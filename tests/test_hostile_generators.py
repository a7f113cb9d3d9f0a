"""Hostile generator and source folders and silently ignored settings (issue 27, red team
2026-12-07): folders named like the labels of unnamed images, bidi controls and 250-character
generator names, generator_from mappings that match nothing or give bad names, fine-tuning
without a start, a cue reversal that cannot be made, an init_from file with NaN weights. Real
art-6gen images, the study's 32 px model, real Keras models."""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from experiments import run as cli
from experiments.config.model_blocks import DatasetConfig
from experiments.inputs.datasets import scan
from tests.conftest import MODEL_32
from tests.test_generators import matrix_config, two_generator_copy
from tests.test_hostile_inputs import one_error_line


def small_art(art6gen: Path, dest: Path, folders=("ai/dalle", "ai/stable_diffusion", "human/classical_art"), n=2,
              splits=("test",)) -> Path:  # fmt: skip
    """The first `n` images of a few art-6gen generator and source folders."""
    for split in splits:
        for folder in folders:
            (dest / split / folder).mkdir(parents=True)
            for image in sorted((art6gen / split / folder).iterdir())[:n]:
                shutil.copy(image, dest / split / folder / image.name)
    return dest


def run_config(tmp_path: Path, seed_mirror: Path, dataset: dict, **overrides) -> Path:
    cfg = {
        "name": "gens", "seed": 3, "out_dir": str(tmp_path / "results"), "bootstrap": 100, "report": "none",
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32, "required": True}],
        "samples": {"dataset": {"layout": "generic"} | dataset, "split": "test"},
    } | overrides  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


# --- generator folders named like the labels of unnamed images ----------------------------------


@pytest.mark.parametrize(
    ("folder", "name"), [("ai/dalle", "human"), ("ai/dalle", "unknown"), ("human/classical_art", "unknown")]
)
def test_a_folder_named_human_or_unknown_is_refused_in_one_line_and_a_mapping_renames_it(
    art6gen, tmp_path, seed_mirror, capsys, folder, name
):
    root = small_art(art6gen, tmp_path / "d")
    renamed = root / "test" / folder.split("/")[0] / name
    (root / "test" / folder).rename(renamed)
    shutil.copy(next((root / "test" / "ai" / "stable_diffusion").iterdir()), root / "test" / "ai" / "loose.jpg")
    config = run_config(tmp_path, seed_mirror, {"root": str(root), "generator_from": "subfolder"})
    assert cli.main([str(config)]) == 2  # on main: 0, and its images counted with the loose one, or not at all
    line = one_error_line(capsys)
    kind = "generator" if folder.startswith("ai") else "source"
    assert f"dataset.generator_from: {renamed} is a {kind} folder named '{name}', a reserved name" in line
    assert f"generator_from: {{{name}: another_name}}" in line
    assert not (tmp_path / "results").exists()
    # renamed by a mapping, the folder is its own generator or source; the loose image stays `unknown`
    df = scan(DatasetConfig(root=root, layout="generic", generator_from={name: "renamed"}), ["test"])
    column = "generator" if kind == "generator" else "source"
    assert (df[column] == "renamed").sum() == 2
    assert df.loc[df["path"].str.endswith("loose.jpg"), "generator"].tolist() == ["unknown"]
    assert (df["generator"] == "unknown").sum() == 1


# --- generator_from mappings that would be ignored or that give a bad name -------------------------


@pytest.mark.parametrize(
    ("mapping", "words"),
    [
        ({"dalle": "latent diffusion"}, "the name for folder 'dalle', 'latent diffusion', may hold only letters"),
        ({"dalle": "unknown"}, "the name for folder 'dalle', 'unknown', is reserved"),
        ({"original_lmd": "latent_diffusion"}, "'original_lmd' names no generator or source folder of"),
    ],
)
def test_a_generator_from_mapping_that_renames_nothing_or_badly_is_one_line_naming_it(
    art6gen, tmp_path, seed_mirror, capsys, mapping, words
):
    root = small_art(art6gen, tmp_path / "d")
    assert cli.main([str(run_config(tmp_path, seed_mirror, {"root": str(root), "generator_from": mapping}))]) == 2
    line = one_error_line(capsys)
    assert "generator_from: " in line and words in line
    assert not (tmp_path / "results").exists()


# --- names that would steer text layout, names too long for a file name -------------------------------


def test_bidi_controls_in_generator_and_source_names_show_as_escapes(art6gen, tmp_path, seed_mirror):
    root = small_art(art6gen, tmp_path / "d")
    (root / "test" / "ai" / "dalle").rename(root / "test" / "ai" / "evil\u202egpj")
    (root / "test" / "human" / "classical_art").rename(root / "test" / "human" / "art\u202ecilbup")
    config = run_config(tmp_path, seed_mirror, {"root": str(root), "generator_from": "subfolder"}, report="html")
    assert cli.main([str(config)]) == 0
    out = tmp_path / "results" / "gens"
    table = pd.read_parquet(out / "generators.parquet")
    assert {"evil\\u202egpj", "art\\u202ecilbup"} <= set(table["name"])
    html = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert re.search(r"cnn32 catches \d of 2 generators[^<]*evil\\u202egpj \d/2", html)  # the findings sentence
    tables = [(out / f"{t}.csv").read_text(encoding="utf-8") for t in ("generators", "evaluation_groups")]
    assert "\u202e" not in html and not [t for t in tables if "\u202e" in t] and "art\\u202ecilbup" in tables[1]
    scores = pd.read_parquet(out / "scores.parquet")  # sample ids keep their names (inputs.md); the labels are escaped
    assert set(scores["generator"]) == {"evil\\u202egpj", "stable_diffusion", "human"}
    assert set(scores["source"]) == {"", "art\\u202ecilbup"}


def test_a_250_character_generator_name_trains_its_matrix_copies_under_bounded_file_names(art6gen, tmp_path):
    from experiments.config.schema import load_config
    from experiments.inputs.images import DecodePolicy
    from experiments.stages.cross_generator import cross_generator_matrix

    long = "g" * 250
    root = two_generator_copy(art6gen, tmp_path / "d")
    for split in ("train", "test"):
        (root / split / "ai" / "stable_diffusion").rename(root / split / "ai" / long)
    matrix = cross_generator_matrix(load_config(matrix_config(tmp_path, root)), [], DecodePolicy())
    assert sorted(set(matrix["held_out"])) == ["dalle", long]  # the name itself, in the table
    copies = tmp_path / "models" / "cnn32.cross_generator"
    names = [p.name for p in copies.iterdir()]
    assert all(len(os.fsencode(n)) <= 255 for n in names)
    assert "without_dalle.keras" in names  # a short name stays as it is
    long_copies = [n for n in names if n.startswith("without_g") and n.endswith(".keras")]
    assert len(long_copies) == 1 and len(long_copies[0]) < 100 and (copies / long_copies[0]).is_file()


# --- fine-tuning without a model file to start from ------------------------------------------------


def test_fine_tune_learning_rate_without_init_from_is_refused_naming_it(art6gen, tmp_path, seed_mirror, capsys):
    root = small_art(art6gen, tmp_path / "d", splits=("train", "test"), n=4)
    dataset = {"root": str(root), "layout": "generic", "val_fraction": 0.5}
    train = {"dataset": dataset, "epochs": 1, "batch_size": 8, "fine_tune_learning_rate": 1e-4}
    models = [{"name": "cnn32", "input_size": 32, "path": str(tmp_path / "models" / "cnn32.keras"), "train": train}]
    assert cli.main([str(run_config(tmp_path, seed_mirror, dataset, models=models))]) == 2
    line = one_error_line(capsys)
    assert "models.0.train: fine_tune_learning_rate: 0.0001 is used only with init_from" in line
    assert not (tmp_path / "results").exists() and not (tmp_path / "models").exists()


# --- a cue reversal that cannot be made -------------------------------------------------------------


def test_a_cue_reversal_that_cannot_be_made_leaves_a_row_and_a_line_saying_why(art6gen, cnn32, tmp_path, caplog):
    from experiments.config.sections import AuditConfig
    from experiments.inputs.images import DecodePolicy
    from experiments.inputs.samples import samples_from_dataset
    from experiments.report.sections import reversal_block
    from experiments.stages.audit import run_audit
    from experiments.stages.cue_reversal import run_reversal

    root = small_art(art6gen, tmp_path / "d", folders=("ai/dalle", "human/classical_art"), n=6)
    for jpeg in (root / "test" / "human" / "classical_art").iterdir():  # no human JPEG: no quality to reverse to
        Image.open(jpeg).save(jpeg.with_suffix(".png"))
        jpeg.unlink()
    samples = samples_from_dataset(DatasetConfig(root=root, layout="generic"), "test")
    cfg = AuditConfig(factors=["jpeg", "size"], reversal=True)
    tables = run_audit(cfg, samples, [cnn32], DecodePolicy(), seed=0, resamples=100)
    with caplog.at_level(logging.INFO, logger="artxai"):
        table = run_reversal(cfg, samples, [cnn32], tables, tmp_path, DecodePolicy(), seed=0, resamples=100)[
            "audit_reversal"
        ]
    why = "no JPEG among the human files: no typical setting to re-encode the other class at"
    assert f"audit: jpeg reversal not made: {why}" in caplog.messages
    rows = table.set_index(["factor", "class"])
    assert sorted(rows.index) == [("jpeg_reversed", "ai"), ("jpeg_reversed", "human"), ("size_reversed", "ai"),
                                  ("size_reversed", "human")]  # fmt: skip
    assert (rows.loc["jpeg_reversed", "verdict"] == "not_made").all() and (rows.loc["jpeg_reversed", "n"] == 0).all()
    assert (rows.loc["jpeg_reversed", "note"] == why).all() and (rows.loc["size_reversed", "note"] == "").all()
    assert (rows.loc["size_reversed", "n"] == 6).all()
    written = pd.read_parquet(tmp_path / "audit_reversal.parquet")
    assert (written["verdict"] == "not_made").sum() == 2
    assert why in reversal_block(table)["html"] + reversal_block(table)["constants"]


def test_a_reversal_with_no_factor_it_can_reverse_is_refused_with_the_config(art6gen, tmp_path, seed_mirror, capsys):
    root = small_art(art6gen, tmp_path / "d")
    audit = {"factors": ["png", "all"], "reversal": True}
    assert cli.main([str(run_config(tmp_path, seed_mirror, {"root": str(root)}, audit=audit))]) == 2
    line = one_error_line(capsys)
    assert "audit: reversal: true reverses jpeg or size, and factors ['png', 'all'] has neither" in line
    assert not (tmp_path / "results").exists()


# --- an init_from file with NaN weights ----------------------------------------------------------------


def test_an_init_from_file_with_nan_weights_is_refused_before_anything_is_made(art6gen, tmp_path, seed_mirror, capsys):
    from experiments.models.architecture import build_cnn, keras

    keras.utils.set_random_seed(0)
    model = build_cnn(32)
    weights = model.get_weights()
    weights[0][0, 0, 0, :3] = np.nan
    model.set_weights(weights)
    start = tmp_path / "start" / "nan.keras"
    start.parent.mkdir()
    model.save(start)
    root = small_art(art6gen, tmp_path / "d", splits=("train", "test"), n=4)
    dataset = {"root": str(root), "layout": "generic", "val_fraction": 0.5}
    train = {"dataset": dataset, "epochs": 1, "batch_size": 8, "init_from": str(start)}
    models = [{"name": "cnn32", "input_size": 32, "path": str(tmp_path / "models" / "cnn32.keras"), "train": train}]
    assert cli.main([str(run_config(tmp_path, seed_mirror, dataset, models=models))]) == 2
    line = one_error_line(capsys)
    assert f"models[cnn32].train.init_from: {start}: weights are not finite (3 NaN or infinite values in" in line
    assert not (tmp_path / "results").exists() and not (tmp_path / "models").exists()
