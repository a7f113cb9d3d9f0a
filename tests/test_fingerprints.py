"""Fingerprints that cover what produced a number (issue 19, item 2): a trained model is reused
only when its card says it was trained as the config asks, one training per model path at a
time, and --resume scores again every part whose model, input or config changed. Real CIFAKE
and real-mini images, small Keras models trained here in seconds."""

import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments import run as cli
from experiments.inputs.fingerprints import file_sha256
from experiments.models.architecture import build_cnn, card_path, keras, training_dir
from experiments.models.trained_models import lock_path
from tests.conftest import MODEL_32, REPO
from tests.tolerance import assert_frames_match


def cifake_copy(root, cifake, per_class, split="train", skip=0):
    """A small generic-layout dataset of real CIFAKE images (copied: they are 1 KB each)."""
    for label in ("ai", "human"):
        (root / split / label).mkdir(parents=True, exist_ok=True)
        for src in sorted((cifake / split / label).iterdir())[skip : skip + per_class]:
            shutil.copy(src, root / split / label / src.name)
    return root


def write_config(folder, name, models, samples, seed=1, **overrides):
    cfg = {
        "name": name, "seed": seed, "out_dir": str(folder / "results"), "models": models, "samples": samples,
        "augment": {"gaussian_noise": {"std": [0.1]}}, "part_size": 4, "bootstrap": 100, "report": "none",
    } | overrides  # fmt: skip
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def trained_model(model_path, dataset_root, epochs=2):
    train = {"dataset": {"root": str(dataset_root), "layout": "generic"}, "epochs": epochs, "batch_size": 8}
    return {"name": "cnn32", "input_size": 32, "path": str(model_path), "train": train}


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and err.strip().splitlines()[-1] == lines[0], err
    return lines[0]


def tables_equal(a, b):
    for name in ("scores", "summary", "skipped"):
        left, right = pd.read_parquet(a / f"{name}.parquet"), pd.read_parquet(b / f"{name}.parquet")
        assert_frames_match(left, right, f"{name}.parquet")


@pytest.fixture(scope="module")
def cifake_model(tmp_path_factory, cifake):
    """cnn32 trained by a run on 24 real CIFAKE training images (seed 1, 2 epochs), scored on 8
    CIFAKE test images: (folder, model path, sha256 of the model, its samples block)."""
    tmp = tmp_path_factory.mktemp("cifake_model")
    dataset = cifake_copy(tmp / "cifake24", cifake, 12)
    samples = {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": 4}, "split": "test"}
    model = tmp / "models" / "cnn32.keras"
    assert cli.main([str(write_config(tmp, "first", [trained_model(model, dataset)], samples))]) == 0
    return tmp, model, file_sha256(model), samples


@pytest.fixture
def model_copy(cifake_model, tmp_path):
    """The trained model and its card, copied to this test's folder (moved with its card, a
    model is still the one its card describes)."""
    folder, model, _, samples = cifake_model
    (tmp_path / "models").mkdir()
    for src in (model, card_path(model)):
        shutil.copy(src, tmp_path / "models" / src.name)
    return tmp_path / "models" / model.name, folder / "cifake24", samples


def test_a_train_block_over_another_dataset_is_refused_in_one_line_and_retrain_retrains(
    model_copy, real_mini, tmp_path, capsys, caplog
):
    model, first_dataset, samples = model_copy
    before = file_sha256(model)
    caplog.set_level(logging.INFO, logger="artxai")
    same = write_config(tmp_path, "same", [trained_model(model, first_dataset)], samples)
    assert cli.main([str(same)]) == 0  # as trained: reused, not trained again
    assert "training at" not in caplog.text and file_sha256(model) == before
    capsys.readouterr()

    other = write_config(tmp_path, "other", [trained_model(model, real_mini)], samples)
    assert cli.main([str(other)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line == (
        f"error: models[cnn32]: {model} was trained otherwise: dataset (card: 24 files, this config: 40); "
        "pass --retrain or set another path"
    )
    assert not (tmp_path / "results" / "other").exists() and file_sha256(model) == before
    reseeded = write_config(tmp_path, "reseeded", [trained_model(model, first_dataset, epochs=3)], samples, seed=2)
    assert cli.main([str(reseeded)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "settings (epochs card: 2, this config: 3) and seed (card: 1, this config: 2)" in line

    caplog.clear()
    assert cli.main([str(other), "--retrain"]) == 0
    assert "cnn32: training at 32 px on 20 images" in caplog.text and file_sha256(model) != before
    card = json.loads(card_path(model).read_text())
    assert card["fingerprint"]["files"]["count"] == 40 and card["model_sha256"] == file_sha256(model)
    assert card["training"]["epochs_run"] == 2  # a fresh training, not appended to the first one's history
    history = pd.read_csv(training_dir(model) / "history.csv")
    assert history["epoch"].tolist() == [0, 1]
    assert cli.main([str(other), "--out", str(tmp_path / "again")]) == 0  # now it matches


def test_a_model_file_replaced_after_its_card_or_without_a_card_is_refused(model_copy, tmp_path, capsys):
    model, dataset, samples = model_copy
    config = write_config(tmp_path, "c", [trained_model(model, dataset)], samples)
    keras.utils.set_random_seed(3)
    build_cnn(32).save(model)  # another model at the same path, the card left as it was
    assert cli.main([str(config)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"models[cnn32]: {model} is not the file its card describes (sha256 {file_sha256(model)[:12]}" in line
    assert line.endswith("; pass --retrain or set another path")
    card_path(model).unlink()
    assert cli.main([str(config)]) == 2
    line = one_error_line(capsys.readouterr().err)
    no_card = "has no model card (cnn32.model_card.json): it was not trained by artxai, or its card was lost"
    assert f"{model} {no_card}" in line
    assert not (tmp_path / "results" / "c").exists()


def test_a_lock_file_that_is_a_link_is_refused_and_its_target_untouched(model_copy, tmp_path, capsys):
    model, dataset, samples = model_copy
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    lock_path(model).symlink_to(target)
    assert cli.main([str(write_config(tmp_path, "c", [trained_model(model, dataset)], samples))]) == 2
    assert f"the lock {lock_path(model)} is a symbolic link" in one_error_line(capsys.readouterr().err)
    assert target.read_text() == "keep me\n"


def test_a_killed_training_of_other_data_is_not_resumed_and_a_finished_one_leaves_nothing_to_win(tmp_path):
    from experiments.models.training import start_or_resume
    from experiments.models.training_folder import TRAINING_MARKER, claim

    work = tmp_path / "m.training"
    claim(work)  # made by artxai: its marker (what a training clears is only ever cleared there)
    (work / "backup").mkdir()
    (work / "history.csv").write_text("epoch,accuracy\n0,0.9\n")
    (work / "best.keras").write_bytes(b"an earlier best")
    assert not start_or_resume(work, {"seed": 1})  # no record of what it was started with: fresh
    assert sorted(p.name for p in work.iterdir()) == sorted([TRAINING_MARKER[0], "fingerprint.json"])
    (work / "backup").mkdir()
    (work / "history.csv").write_text("epoch,accuracy\n0,0.9\n")
    assert start_or_resume(work, {"seed": 1}) and (work / "history.csv").is_file()  # the same: resumed
    assert not start_or_resume(work, {"seed": 2}) and not (work / "history.csv").exists()


def _lock_held_exclusively(path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_two_runs_training_one_model_path_at_once_one_trains_the_other_is_one_line(cifake, tmp_path):
    dataset = cifake_copy(tmp_path / "data", cifake, 12)
    samples = {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": 2}, "split": "test"}
    model = tmp_path / "models" / "cnn32.keras"
    config = write_config(tmp_path, "c", [trained_model(model, dataset, epochs=3)], samples)
    env = os.environ | {"PYTHONPATH": str(REPO)}
    run = lambda out: subprocess.Popen(  # noqa: E731
        [sys.executable, "-m", "experiments.run", str(config), "--out", str(tmp_path / out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = run("first")
    try:
        while not _lock_held_exclusively(lock_path(model)):  # until the first run trains
            assert first.poll() is None, first.communicate()[1][-3000:]
            time.sleep(0.1)
        first.send_signal(signal.SIGSTOP)  # it keeps the lock while the second run starts and ends
        second = run("second")
        _, err = second.communicate(timeout=600)
        assert second.returncode == 2, err[-3000:]
        line = one_error_line(err)
        assert line == (
            f"error: models[cnn32]: {model} is being trained by another run (pid {first.pid}); "
            "run again when it ends (its model is reused if it was trained as this config asks)"
        )
        assert not (tmp_path / "second").exists()
    finally:
        first.send_signal(signal.SIGCONT)
        _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    history = (training_dir(model) / "history.csv").read_text().splitlines()
    epochs = [int(line.split(",")[0]) for line in history[1:]]
    assert history[0].startswith("epoch,") and epochs == list(range(len(history) - 1))
    assert len({line.count(",") for line in history}) == 1  # whole rows, none interleaved
    assert json.loads(card_path(model).read_text())["model_sha256"] == file_sha256(model)


# --resume ----------------------------------------------------------------------------------
def fitted_model(path, real_mini, seed):
    """cnn32 fitted for one epoch on real-mini's 20 training images (seconds)."""
    from experiments.inputs.images import load_for_model

    files = sorted((real_mini / "train").rglob("*.*"))
    x = np.stack([load_for_model(p, 32) for p in files])
    y = np.array([0 if p.parent.name == "ai" else 1 for p in files])
    keras.utils.set_random_seed(seed)
    model = build_cnn(32)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.save(path)
    return path


STUDY_MODEL = {"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}
RESUMED = "resume: {} of {} finished parts are scored again, as what they were made from changed"


def test_resume_after_the_model_file_was_replaced_scores_every_part_again(tmp_path, real_mini, cifake, caplog):
    model = tmp_path / "model.keras"
    fitted_model(model, real_mini, seed=0)
    samples = {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": 10}, "split": "test"}
    config = write_config(tmp_path, "c", [{"name": "cnn", "input_size": 32, "path": str(model)}], samples)
    out = tmp_path / "results" / "c"
    assert cli.main([str(config)]) == 0
    fitted_model(tmp_path / "other.keras", real_mini, seed=1)
    os.replace(tmp_path / "other.keras", model)
    caplog.clear()
    assert cli.main([str(config), "--resume"]) == 0
    assert cli.main([str(config), "--out", str(tmp_path / "fresh")]) == 0
    tables_equal(out, tmp_path / "fresh")
    assert f"{RESUMED.format(5, 5)}: model cnn (5 parts)" in caplog.text
    assert json.loads((out / "manifest.json").read_text())["counts"]["resumed_samples"] == 0


def test_resume_after_an_input_image_was_replaced_scores_it_again(tmp_path, seed_mirror, cifake, caplog):
    images = cifake_copy(tmp_path / "images", cifake, 4, split="test")
    assets = {"mirror": str(seed_mirror), "base_url": ""}
    config = write_config(tmp_path, "c", [STUDY_MODEL], {"folder": "images"}, assets=assets)
    out = tmp_path / "results" / "c"
    assert cli.main([str(config)]) == 0
    replaced = sorted((images / "test" / "ai").iterdir())[0]
    shutil.copy(sorted((cifake / "test" / "ai").iterdir())[-1], replaced)  # another real image, same name
    caplog.clear()
    assert cli.main([str(config), "--resume"]) == 0
    assert cli.main([str(config), "--out", str(tmp_path / "fresh")]) == 0
    tables_equal(out, tmp_path / "fresh")
    assert f"{RESUMED.format(1, 2)}: input files (1 part)" in caplog.text
    assert json.loads((out / "manifest.json").read_text())["counts"]["resumed_samples"] == 4


def test_resume_without_config_json_never_mixes_two_grids(tmp_path, seed_mirror, cifake, caplog, capsys):
    """The snapshot gone: another config is refused by the fingerprint the run folder's marker
    keeps (the old tables untouched); the same config resumes, each part checked on its own."""
    cifake_copy(tmp_path / "images", cifake, 4, split="test")
    assets = {"mirror": str(seed_mirror), "base_url": ""}
    first = write_config(tmp_path, "c", [STUDY_MODEL], {"folder": "images"}, assets=assets)
    out = tmp_path / "results" / "c"
    assert cli.main([str(first)]) == 0
    before = (out / "scores.parquet").read_bytes()
    (out / "config.json").unlink()
    (tmp_path / "second").mkdir()
    second = write_config(tmp_path / "second", "c", [STUDY_MODEL], {"folder": str(tmp_path / "images")}, assets=assets,
                          augment={"jpeg": {"quality": [30]}})  # fmt: skip
    capsys.readouterr()
    assert cli.main([str(second), "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different config" in err[0]
    assert (out / "scores.parquet").read_bytes() == before and not (out / "config.json").exists()
    caplog.clear()
    assert cli.main([str(first), "--resume"]) == 0
    assert cli.main([str(first), "--out", str(tmp_path / "fresh")]) == 0
    tables_equal(out, tmp_path / "fresh")
    assert "has no config.json: a finished part is kept only if it records this config's fingerprint" in caplog.text
    assert set(pd.read_parquet(out / "scores.parquet")["op"]) == set(
        pd.read_parquet(tmp_path / "fresh" / "scores.parquet")["op"]
    )


# the training folder beside a model: cleared only when artxai made it ------------------------


def test_a_training_folder_someone_else_made_is_refused_and_left_as_it_was(tmp_path, cifake, capsys):
    """A `<model>.training/` folder with files but no artxai marker (made by hand, or by another
    tool) stops the run before anything trains or is created; every file in it is kept. On old
    main a training deleted its history.csv, best.keras, backup/ and cache/, found by name."""
    dataset = cifake_copy(tmp_path / "data", cifake, 12)
    model = tmp_path / "models" / "cnn32.keras"
    theirs = training_dir(model)
    (theirs / "backup").mkdir(parents=True)
    for name, text in (("history.csv", "my notes"), ("best.keras", "not a model"), ("backup/keep.txt", "mine")):
        (theirs / name).write_text(text)
    samples = {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": 2}, "split": "test"}
    config = write_config(tmp_path, "theirs", [trained_model(model, dataset, epochs=1)], samples)
    assert cli.main([str(config)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(theirs) in line and ".artxai-training.json" in line and "models[cnn32]" in line
    kept = {p.relative_to(theirs).as_posix(): p.read_text() for p in theirs.rglob("*") if p.is_file()}
    assert kept == {"history.csv": "my notes", "best.keras": "not a model", "backup/keep.txt": "mine"}
    assert not model.exists() and not (tmp_path / "results" / "theirs").exists()


def test_a_training_marks_its_folder_and_remove_needs_that_marker(cifake_model):
    """The folder artxai trained in carries its marker; runfolder.remove refuses it under the run
    marker's name and deletes inside it only under its own."""
    from experiments.models.training_folder import TRAINING_MARKER
    from experiments.rundir.runfolder import RunFolderError, remove

    _, model, _, _ = cifake_model
    work = training_dir(model)
    marker = json.loads((work / TRAINING_MARKER[0]).read_text())
    assert len(marker[TRAINING_MARKER[1]]) == 32 and (work / "history.csv").is_file()
    probe = work / "probe.txt"
    probe.write_text("x")
    with pytest.raises(RunFolderError, match="no .artxai-run.json"):
        remove(work, probe)  # not a run folder
    assert probe.is_file()
    remove(work, probe, TRAINING_MARKER)
    assert not probe.exists()
