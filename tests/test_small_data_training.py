"""Small-data training on real art (../shared/art-6gen): starting from a model file (`init_from`),
seeded train-time augmentation."""

import json

import numpy as np
import pytest
import yaml

from experiments.config.model_blocks import DatasetConfig, TrainAugmentConfig, TrainConfig
from experiments.inputs.datasets import training_splits
from experiments.inputs.fingerprints import file_sha256
from experiments.models.training_fingerprint import differences, training_fingerprint
from experiments.inputs.images import DecodePolicy
from experiments.models.architecture import card_path, keras, read_model
from experiments.models.training import compiled_model, train
from experiments.models.train_augment import augment_image
from experiments.models.training_data import SkipLog, image_dataset
from tests.conftest import MODEL_32, shared_folder


@pytest.fixture(scope="module")
def art6gen():
    """795 real 256 px JPEGs in {train,test}/{ai,human}/<generator or source>/
    ($ARTXAI_ART_6GEN or ../shared/art-6gen)."""
    return shared_folder("ARTXAI_ART_6GEN", "art-6gen", "train")


@pytest.fixture(scope="module")
def few_art(art6gen):
    return DatasetConfig(root=art6gen, layout="generic", limit_per_class=12)  # 24 images: 21 train, 3 val


class FirstBatchLoss(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0 and not hasattr(self, "loss"):
            self.loss = float(logs["loss"])  # the forward pass of batch 0, before its update


def test_init_from_starts_from_the_given_weights(few_art, seed_mirror, tmp_path):
    """The first batch (the whole training split: batch 64 > 21 images, so its order cannot
    matter) has the study model's own loss; from scratch it does not."""
    study = seed_mirror / MODEL_32
    cfg = TrainConfig(dataset=few_art, epochs=1, batch_size=64, init_from=study, fine_tune_learning_rate=1e-4)
    first = FirstBatchLoss()
    card = train("tuned", cfg, 32, tmp_path / "tuned.keras", seed=0, extra_callbacks=[first])

    splits = training_splits(few_art, 0)
    x, y = next(iter(image_dataset(splits["train"], 32, batch_size=64, skips=SkipLog())))
    source = read_model(study)
    expected = float(keras.losses.sparse_categorical_crossentropy(y, source(x)).numpy().mean())
    assert len(splits["train"]) == 21 and first.loss == pytest.approx(expected, rel=1e-4)
    scratch = compiled_model("scratch", cfg.model_copy(update={"init_from": None}), 32, seed=0)[0]
    scratch_loss = float(keras.losses.sparse_categorical_crossentropy(y, scratch(x)).numpy().mean())
    assert abs(scratch_loss - expected) > 0.05

    assert card["init"]["sha256"] == file_sha256(study) == card["fingerprint"]["init_from"]
    assert card["init"]["layers_initialised"] == [] and len(card["init"]["layers_copied"]) == 4
    assert card["training"]["config"]["fine_tune_learning_rate"] == 1e-4
    saved = json.loads(card_path(tmp_path / "tuned.keras").read_text())
    assert saved["init"] == card["init"]
    # a model trained otherwise (from scratch) is not reused for this block, and the line says why
    plain = training_fingerprint(
        cfg.model_copy(update={"init_from": None, "fine_tune_learning_rate": None}), 32, 0, DecodePolicy()
    )
    found = " ".join(differences(plain, card["fingerprint"]))
    assert "init_from (sha256) (card: unset" in found and "fine_tune_learning_rate" in found


def test_cnn128_starts_from_cnn32s_convolution_kernels(few_art, seed_mirror):
    study = seed_mirror / MODEL_32
    model, start = compiled_model("cnn128", TrainConfig(dataset=few_art, init_from=study), 128, seed=0)
    source = read_model(study)
    theirs = [layer.get_weights() for layer in source.layers if layer.weights]
    ours = [layer.get_weights() for layer in model.layers if layer.weights]
    for a, b in zip(theirs[:2], ours[:2]):  # both convolutions: kernel and bias
        assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert ours[2][0].shape == (30 * 30 * 64, 64) and theirs[2][0].shape == (6 * 6 * 64, 64)  # grew with the image
    assert all(np.array_equal(u, v) for u, v in zip(theirs[3], ours[3]))  # Dense(2) has the same shape
    assert start["source_input_size"] == 32 and len(start["layers_initialised"]) == 1


def test_init_from_another_architecture_is_one_line_exit_2(few_art, tmp_path, capsys):
    from experiments import run as cli

    other = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    other.save(tmp_path / "other.keras")
    train_block = {
        "dataset": {"root": str(few_art.root), "layout": "generic", "limit_per_class": 12},
        "init_from": "other.keras",
    }
    cfg = {
        "name": "bad", "out_dir": str(tmp_path / "results"),
        "models": [{"name": "cnn32", "input_size": 32, "path": "cnn32.keras", "train": train_block}],
        "samples": {"dataset": {"root": str(few_art.root), "layout": "generic", "limit_per_class": 2}, "split": "test"},
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "models[cnn32].train.init_from" in err[0] and "another architecture" in err[0], err
    assert "Conv2D" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "results").exists() and not (tmp_path / "cnn32.keras").exists()
    assert not (tmp_path / "cnn32.training").exists()


AUGMENT = TrainAugmentConfig(
    flip=0.5, crop=0.8, brightness=0.2, contrast=0.2, saturation=0.3, hue=10, jpeg_quality=(50, 95)
)


def first_batch(records, seed, augment):
    keras.utils.set_random_seed(0)  # as training sets it before building its streams
    ds = image_dataset(records, 32, batch_size=21, skips=SkipLog(), shuffle_seed=seed, augment=augment)
    x, y = next(iter(ds))
    return x.numpy(), y.numpy()


def test_augmentation_is_reproducible_from_the_seed(few_art):
    records = training_splits(few_art, 0)["train"]
    x, y = first_batch(records, 3, AUGMENT)
    again, _ = first_batch(records, 3, AUGMENT)
    other, _ = first_batch(records, 4, AUGMENT)
    plain, y_plain = first_batch(records, 3, None)
    assert x.shape == (21, 32, 32, 3) and np.array_equal(x, again)
    assert not np.array_equal(x, other)
    assert (
        np.array_equal(y, y_plain) and (np.abs(x - plain).reshape(21, -1).max(axis=1) > 0.05).all()
    )  # every image edited
    pixels = (plain[0] * 255).round().astype(np.uint8)
    assert np.array_equal(augment_image(pixels, AUGMENT, 7), augment_image(pixels, AUGMENT, 7))
    flipped = augment_image(pixels, TrainAugmentConfig(flip=1.0), 7)
    assert np.array_equal(flipped, pixels[:, ::-1])  # the flip alone, exactly


def test_augmentation_is_part_of_the_training_fingerprint(few_art):
    plain = TrainConfig(dataset=few_art)
    card = training_fingerprint(plain, 32, 0, DecodePolicy())
    assert "augment" not in card["settings"]  # unset: earlier fingerprints stay as they were
    wanted = training_fingerprint(plain.model_copy(update={"augment": AUGMENT}), 32, 0, DecodePolicy())
    assert "settings (augment.brightness card: unset, this config: 0.2" in " ".join(differences(card, wanted))
