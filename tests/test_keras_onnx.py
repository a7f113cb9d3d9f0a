"""A run whose stages need only forward passes scores the Keras CNNs through their checked ONNX
copies (experiments.models.keras_onnx): made once per model file, checked against Keras, reused
without importing TensorFlow; outputs equal to Keras's within the pins' tolerance."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments import run as cli
from experiments.inputs.fingerprints import file_sha256
from experiments.inputs.images import decode_image
from experiments.models import keras_onnx
from experiments.models.architecture import load_keras
from experiments.models.detector import InputSpec
from tests.conftest import MODEL_32, SAMPLES_DIR
from tests.tolerance import LOG_ODDS, PROBABILITY

ROOT = Path(__file__).resolve().parents[1]


def study_pictures(seed_mirror, size=32):
    paths = sorted((seed_mirror / SAMPLES_DIR).iterdir())
    return np.stack([InputSpec(size).prepare(decode_image(p).pixels) for p in paths]).astype(np.float32) / 255


def test_the_copy_scores_as_keras_does_and_is_reused_from_its_record(tmp_path, seed_mirror, monkeypatch):
    monkeypatch.setenv("ARTXAI_CACHE", str(tmp_path / "cache"))
    path = seed_mirror / MODEL_32
    digest = file_sha256(path)
    copy = keras_onnx.onnx_copy(path, digest, "cnn32", 32, "softmax", None)
    record = keras_onnx.check_record(digest, "softmax", None)
    assert copy is not None and record["agrees"] and record["images"] == keras_onnx.CHECK_IMAGES
    assert record["p_ai_gap"] <= keras_onnx.COPY_TOLERANCE and record["params"] == 186370
    x = study_pictures(seed_mirror)  # the study's 66 images, not the check's seeded ones
    p, margin = copy.predict_proba_and_margin(x, 16)
    p_keras, margin_keras = load_keras(path, "cnn32", 32).predict_proba_and_margin(x, 16)
    np.testing.assert_allclose(p, p_keras, rtol=PROBABILITY.rtol, atol=PROBABILITY.atol)
    np.testing.assert_allclose(margin, margin_keras, rtol=LOG_ODDS.rtol, atol=LOG_ODDS.atol)
    assert copy.metadata()["kind"] == "keras" and "onnxruntime" in copy.metadata()["runs_on"]
    assert copy.parameter_count() == 186370
    made = (keras_onnx.copy_folder(digest, "softmax", None) / "model.onnx").stat().st_mtime_ns
    again = keras_onnx.onnx_copy(path, digest, "cnn32", 32, "softmax", None)  # from the cache: not exported again
    assert (keras_onnx.copy_folder(digest, "softmax", None) / "model.onnx").stat().st_mtime_ns == made
    np.testing.assert_array_equal(again.predict_proba(x[:4]), copy.predict_proba(x[:4]))


def test_a_copy_that_does_not_agree_is_not_used_and_the_run_says_so(tmp_path, seed_mirror, monkeypatch, caplog):
    monkeypatch.setenv("ARTXAI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(keras_onnx, "COPY_TOLERANCE", 0.0)  # any float difference at all: refused
    path = seed_mirror / MODEL_32
    digest = file_sha256(path)
    assert keras_onnx.onnx_copy(path, digest, "cnn32", 32, "softmax", None) is None
    assert "its ONNX copy differs from Keras" in caplog.text and "scoring with Keras" in caplog.text
    assert keras_onnx.check_record(digest, "softmax", None)["agrees"] is False
    assert keras_onnx.onnx_copy(path, digest, "cnn32", 32, "softmax", None) is None  # the record decides: no new export


HEAVY = ("tensorflow", "albumentations", "sklearn")  # what a scoring run without edits never needs


def run_cli(config: Path, env: dict) -> subprocess.CompletedProcess:
    """The run in a fresh interpreter, which then prints which of HEAVY it imported at all."""
    code = (
        "import sys; from experiments.run import main; rc = main([sys.argv[1]]); "
        f"print(*[m for m in {HEAVY!r} if m in sys.modules], flush=True); sys.exit(rc)"
    )
    return subprocess.run([sys.executable, "-c", code, str(config)], cwd=ROOT, env=env, capture_output=True, text=True)


def test_a_scoring_run_imports_no_tensorflow_once_the_copy_is_made(tmp_path, seed_mirror, cifake, monkeypatch):
    cfg = {
        "name": "fwd", "seed": 2, "out_dir": str(tmp_path / "results"), "report": "none",
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
        "samples": {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": 20}, "split": "test"},
        "augment": {"jpeg": {"quality": [30]}},
    }  # fmt: skip
    (tmp_path / "fwd.yaml").write_text(yaml.safe_dump(cfg))
    env = os.environ | {"ARTXAI_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    monkeypatch.setenv("ARTXAI_CACHE", env["ARTXAI_CACHE"])
    assert cli.main([str(tmp_path / "fwd.yaml")]) == 0  # here, where TensorFlow is imported: the copy is made
    assert (
        keras_onnx.COPY_TOLERANCE
        >= json.loads(next((tmp_path / "cache" / "onnx").glob("*/check.json")).read_text())["p_ai_gap"]
    )
    scores = pd.read_parquet(tmp_path / "results" / "fwd" / "scores.parquet")
    cfg["out_dir"] = str(tmp_path / "again")
    (tmp_path / "fwd.yaml").write_text(yaml.safe_dump(cfg))
    second = run_cli(tmp_path / "fwd.yaml", env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.stdout.split() == ["albumentations"], second.stderr[-2000:]  # no TensorFlow, at start-up or later
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again" / "fwd" / "scores.parquet"), scores)
    del cfg["augment"]  # no edits: albumentations is not imported either (augment.transforms)
    cfg["out_dir"] = str(tmp_path / "unedited")
    (tmp_path / "fwd.yaml").write_text(yaml.safe_dump(cfg))
    third = run_cli(tmp_path / "fwd.yaml", env)
    assert third.returncode == 0 and third.stdout.split() == [], third.stderr[-2000:]
    unedited = pd.read_parquet(tmp_path / "unedited" / "fwd" / "scores.parquet")
    pd.testing.assert_frame_equal(unedited, scores[scores["variant"] == "identity"].reset_index(drop=True))
    card = json.loads((tmp_path / "again" / "fwd" / "manifest.json").read_text())["models"][0]
    assert card["runs_on"].startswith("onnxruntime") and card["sha256"] == file_sha256(seed_mirror / MODEL_32)


def test_a_keras_files_copy_runs_on_the_providers_asked_for_and_its_workers_reopen_it_so(
    tmp_path, seed_mirror, cifake, capsys
):
    from experiments.config.model_blocks import ModelConfig
    from experiments.models.backends import Opening, open_model, reopen

    block = {"name": "cnn32", "input_size": 32, "path": str(seed_mirror / MODEL_32)}
    opening = Opening(None, 0, None, onnx_copies=True)
    cpu = open_model(ModelConfig(**block, providers=["CPUExecutionProvider"]), opening)
    assert cpu.session.get_providers() == ["CPUExecutionProvider"]
    again = reopen(cpu.recipe, cpu.digest)  # as a worker opens it
    assert again.session.get_providers() == ["CPUExecutionProvider"] and again.recipe == cpu.recipe
    cfg = {
        "name": "p", "seed": 0, "out_dir": str(tmp_path / "results"), "report": "none",
        "models": [block | {"providers": ["NoSuchExecutionProvider"]}],
        "samples": {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": 2}, "split": "test"},
    }  # fmt: skip
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp_path / "p.yaml")]) == 2
    err = capsys.readouterr().err
    assert "models[cnn32].providers: NoSuchExecutionProvider is not available here" in err
    assert not (tmp_path / "results" / "p").exists()
    trained = block | {"providers": ["CPUExecutionProvider"], "train": {"dataset": {"root": str(cifake)}}}
    with pytest.raises(ValueError, match=r"models\[cnn32\].providers: a Keras model with a train block scores with"):
        ModelConfig(**trained)
