"""Training both CNNs on a generated AI-ArtBench-layout dataset: learning, resuming, the card."""

import json

import numpy as np
import pandas as pd
import pytest

from experiments.config.model_blocks import DatasetConfig, TrainConfig
from experiments.inputs.images import load_for_model
from experiments.models.architecture import card_path, keras, load_keras, training_dir
from experiments.models.training import read_history, train
from tests.synthetic import make_artbench


@pytest.fixture(scope="module")
def artbench(tmp_path_factory):
    root = make_artbench(tmp_path_factory.mktemp("artbench"), per_folder=24, seed=1)
    (root / "train" / "impressionism" / "unreadable.jpg").write_bytes(b"this is not an image")
    return root


def accuracy_on_test(model_path, root, size):
    detector = load_keras(model_path, "m", size)
    paths = sorted(p for p in (root / "test").rglob("*.jpg"))
    x = np.stack([load_for_model(p, size) for p in paths])
    truth = np.array([0 if p.parent.name.startswith("AI_") else 1 for p in paths])
    return (detector.predict_proba(x).argmax(axis=1) == truth).mean()


@pytest.mark.parametrize("size", [32, 128])
def test_both_cnns_learn_and_document_themselves(artbench, tmp_path, size):
    cfg = TrainConfig(dataset=DatasetConfig(root=artbench, val_fraction=0.2), epochs=5, batch_size=8)
    model_path = tmp_path / f"cnn{size}.keras"
    card = train(f"cnn{size}", cfg, size, model_path, seed=0)
    assert accuracy_on_test(model_path, artbench, size) >= 0.85  # chance is 0.67 (2 AI : 1 human)
    saved = json.loads(card_path(model_path).read_text())
    assert saved == json.loads(json.dumps(card))
    data = saved["data"]
    assert data["unreadable_files"] == 1 and "unreadable.jpg" in next(iter(data["unreadable_examples"]))
    train_val = {k: data["train"]["label"][k] + data["val"]["label"][k] for k in ("ai", "human")}
    assert train_val == {"ai": 49, "human": 49}  # balanced: 49 human files (one unreadable), AI cut to 49
    assert set(data["train"]["generator"]) == {"human", "latent_diffusion", "standard_diffusion"}
    assert data["test"]["images"] == 144 and data["test"]["label"] == {"ai": 96, "human": 48}
    assert saved["training"]["epochs_run"] >= 3 and saved["input_size"] == size
    history = pd.read_csv(training_dir(model_path) / "history.csv")
    assert (
        history["epoch"].tolist() == list(range(len(history))) and (training_dir(model_path) / "history.png").is_file()
    )
    assert saved["training"]["best_val_accuracy"] == pytest.approx(history["val_accuracy"].max())


class Killed(Exception):
    pass


class KillAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Killed  # after the backup of this epoch is written, as a kill would find it


def test_killed_training_resumes_from_its_last_epoch(artbench, tmp_path):
    cfg = TrainConfig(dataset=DatasetConfig(root=artbench), epochs=4, batch_size=16, patience=10)
    model_path = tmp_path / "cnn32.keras"
    with pytest.raises(Killed):
        train("cnn32", cfg, 32, model_path, seed=0, extra_callbacks=[KillAfterEpoch(1)])
    assert not model_path.exists()
    before = read_history(training_dir(model_path) / "history.csv")
    assert before["epoch"].tolist() == [0, 1]

    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append(epoch)

    train("cnn32", cfg, 32, model_path, seed=0, extra_callbacks=[Record()])
    assert seen == [2, 3]  # the two finished epochs were not trained again
    after = read_history(training_dir(model_path) / "history.csv")
    assert after["epoch"].tolist() == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(after.iloc[:2], before)
    assert model_path.is_file() and json.loads(card_path(model_path).read_text())["training"]["epochs_run"] == 4
