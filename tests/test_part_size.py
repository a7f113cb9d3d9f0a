"""part_size chosen when a config does not give it: parts that fill the compiled batches, a small
run kept at one sample a part, the choice printed, and --resume over parts cut that way."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import yaml

from experiments import run as cli
from experiments.config.schema import RunConfig
from experiments.stages.scoring.driver import PART_BATCHES, chosen_part_size
from tests.conftest import MODEL_32
from tests.tolerance import assert_frames_match


def config(**fields) -> RunConfig:
    base = {"name": "p", "models": [{"name": "m", "input_size": 32, "path": "m.keras"}], "samples": {"folder": "x"}}
    return RunConfig.model_validate(base | fields, context={"config": ".", "cwd": "."})


@pytest.mark.parametrize(
    "fields, samples, variants, expected",
    [
        ({}, 2000, 1, PART_BATCHES * 256),  # a dataset unedited: parts of 4 batches
        ({}, 2000, 10, 103),  # ceil(1024 / 10): 1030 images a part
        ({}, 2000, 2000, 1),  # a sample's edits fill the batches alone
        ({"batch_size": 64}, 500, 3, 86),  # ceil(256 / 3)
        ({}, 11, 68, 1),  # the default study: 748 images, at most 4 batches in all: a sample a part
        ({}, 66, 1, 1),  # the study's table: likewise
        ({}, 1025, 1, 1024),  # one image over 4 batches: chosen
        ({"part_size": 7}, 2000, 1, 7),  # given: kept
    ],
)
def test_part_size_is_chosen_to_fill_batches_unless_given(fields, samples, variants, expected):
    assert chosen_part_size(config(**fields), samples, variants) == expected


def test_a_chosen_part_size_is_printed_and_a_run_resumes_over_its_parts(tmp_path, cifake, seed_mirror, caplog):
    """40 CIFAKE images at batch_size 4: parts of 16 samples (3 parts); a part lost is scored again on
    --resume, the others kept, and the tables are those of the whole run."""
    cfg = {
        "name": "chosen", "seed": 2, "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}], "batch_size": 4,
        "samples": {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": 20}, "split": "test"},
        "bootstrap": 100, "report": "none",
    }  # fmt: skip
    path = tmp_path / "chosen.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    caplog.set_level(logging.INFO, logger="artxai")
    assert cli.main([str(path), "--out", str(out)]) == 0
    chosen = [r.getMessage() for r in caplog.records if r.getMessage().startswith("part_size ")]
    assert chosen == [
        "part_size 16 (chosen for 40 samples x 1 variants at batch_size 4: 3 part(s); set part_size to choose)"
    ]
    checks = sorted((out / "parts").glob("*.sha256.json"))
    assert sorted(len(json.loads(c.read_text())["samples"]) for c in checks) == [8, 16, 16]
    whole = pd.read_parquet(out / "scores.parquet")

    lost = checks[0]
    lost_samples = len(json.loads(lost.read_text())["samples"])
    kept = {c: c.stat().st_mtime_ns for c in checks[1:]}
    lost.unlink()  # as if the run had been killed before this part was finished
    assert cli.main([str(path), "--out", str(out), "--resume"]) == 0
    assert {c: c.stat().st_mtime_ns for c in checks[1:]} == kept and lost.is_file()
    assert json.loads((out / "manifest.json").read_text())["counts"]["resumed_samples"] == 40 - lost_samples
    assert_frames_match(pd.read_parquet(out / "scores.parquet"), whole, "scores.parquet")
