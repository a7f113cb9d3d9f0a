"""Probes artxai fits (experiments.models.probe) with the real INT8 CLIP encoder on real art-6gen
images: a small copied subset (three generators, three human sources), each picture embedded once
per session (the embedding cache is the session's, ARTXAI_CACHE)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

# A 38-image probe is weak: of art-6gen's 20 three-generator subsets with 8 images per folder, 7 reach an
# out-of-fold accuracy whose interval clears the majority rate (2026-12-07); this one does (0.711 [0.552, 0.830]).
# On the whole of art-6gen (531 training images) the probe reads its 201 test images at accuracy 0.841, ROC-AUC 0.906.
GENERATORS = ("midjourney", "original_ldm", "stable_diffusion")
SOURCES = ("classical_art", "general_art", "illustrations")
PER_FOLDER = {"train": 8, "test": 4}  # 48 training images (24 per class), 24 test images


def art_subset(art6gen: Path, dest: Path) -> Path:
    """The first images of each folder of art-6gen's train and test splits, copied."""
    for split, n in PER_FOLDER.items():
        for folder in [*(f"ai/{g}" for g in GENERATORS), *(f"human/{s}" for s in SOURCES)]:
            (dest / split / folder).mkdir(parents=True)
            for image in sorted((art6gen / split / folder).iterdir())[:n]:
                shutil.copy(image, dest / split / folder / image.name)
    return dest


def dataset(root: Path) -> dict:
    return {"root": str(root), "layout": "generic", "generator_from": "subfolder", "val_fraction": 0.2}


def probe_config(path: Path, root: Path, **train):
    from experiments.config.model_blocks import ModelConfig

    block = {"dataset": dataset(root)} | train
    return ModelConfig(name="clip_art", kind="embedding", encoder="clip-vit-b16-int8", path=str(path), train=block)


def opening(retrain: bool = False):
    from experiments.inputs.images import DecodePolicy
    from experiments.models.backends import Opening

    return Opening(None, 3, DecodePolicy(), retrain)


def pictures(embedder, paths) -> np.ndarray:
    """The encoder's input pictures of `paths`, uint8 (N, S, S, 3), as a probe prepares them."""
    from experiments.inputs.images import decode_image

    return np.stack([embedder.input.prepare(decode_image(Path(p)).pixels) for p in paths])


def pixel_keys(embedder, paths) -> list[str]:
    from experiments.models.embedding_cache import pixel_key

    return [pixel_key(p) for p in pictures(embedder, paths)]


@pytest.fixture(scope="module")
def subset(art6gen, tmp_path_factory) -> Path:
    return art_subset(art6gen, tmp_path_factory.mktemp("art-subset") / "art")


@pytest.fixture(scope="module")
def embedder(clip_cache, tmp_path_factory):
    """The encoder, its embeddings cached in a cache of this module's own (the CLIP files linked in
    from the session's): what the fitting encodes is counted apart from the other tests' pictures.
    Set here, as a module fixture runs before the function-scoped _isolated_env sets ARTXAI_CACHE."""
    from experiments.models.embedding_files import open_embedder
    from experiments.models.fetch import CACHE_ENV
    from tests.conftest import link_or_copy

    own = tmp_path_factory.mktemp("probe-cache")
    for file in (f for f in (clip_cache / "detectors").rglob("*") if f.is_file()):
        link_or_copy(file, own / file.relative_to(clip_cache))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(own))
        found = open_embedder(probe_config(tmp_path_factory.mktemp("p") / "p.npz", Path("/nowhere")))
    assert found.cache.folder.is_relative_to(own) and len(found.cache) == 0
    return found


@pytest.fixture(scope="module")
def fitted(subset, embedder, tmp_path_factory):
    """The probe fitted on the subset's training split: (config, card, len(cache) before fitting)."""
    from experiments.models.probe import trained_probe

    m = probe_config(tmp_path_factory.mktemp("models") / "clip_art.npz", subset)
    before = len(embedder.cache)
    assert trained_probe(m, embedder, opening()) is True
    card = json.loads(m.path.with_name("clip_art.model_card.json").read_text())
    return m, card, before


def test_p_ai_is_sigmoid_of_w_e_plus_b_in_sklearns_own_class_order(fitted, embedder):
    from sklearn.linear_model import LogisticRegression

    from experiments.inputs.datasets import training_splits
    from experiments.models.embedding_detector import read_head

    m, card, _ = fitted
    w, b = read_head(m.path, "t")
    train = training_splits(m.train.dataset, 3)["train"]
    x = embedder.embeddings(pictures(embedder, train["path"]).astype(np.float32) / 255.0)
    labels = train["label"].to_numpy()  # strings: sklearn orders them ai, human, so its coef_ is human's
    reference = LogisticRegression(C=card["training"]["C"], class_weight="balanced", max_iter=10_000).fit(x, labels)
    p_ai = reference.predict_proba(x)[:, list(reference.classes_).index("ai")]
    assert list(reference.classes_) == ["ai", "human"]
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-(x @ w + b))), p_ai, rtol=0, atol=1e-9)
    assert np.mean((x @ w + b > 0) == (labels == "ai")) == card["training"]["final_train_accuracy"]


def test_cv_chooses_c_on_the_training_split_alone_and_the_card_records_it(fitted, embedder, subset):
    from experiments.models.probe_fit import C_GRID

    m, card, before = fitted
    training = card["training"]
    assert training["C"] in C_GRID and len(training["cv_log_loss"]) == len(C_GRID)
    assert training["cv_log_loss"][f"{training['C']:g}"] == min(training["cv_log_loss"].values())
    n_train, n_val = card["data"]["train"]["images"], card["data"]["val"]["images"]
    assert (n_train, n_val) == (38, 10) and card["data"]["train"]["label"] == {"ai": 18, "human": 20}
    assert training["cv_n"] == n_train and training["val_n"] == n_val
    assert sorted(g for g in card["data"]["train"]["generator"] if g != "human") == sorted(GENERATORS)
    assert training["embeddings_encoded"] == n_train + n_val == len(embedder.cache) - before
    test_files = sorted((subset / "test").rglob("*.jpg"))
    assert len(test_files) == 24 and embedder.cache.lookup(pixel_keys(embedder, test_files)) == {}  # never embedded
    low, high = training["cv_accuracy_ci"]
    assert low <= training["cv_accuracy"] <= high and training["warning"] == ""  # above the majority rate
    assert card["model_sha256"] and card["fingerprint"]["settings"]["encoder"]["sha256"] == embedder.encoder.sha256


def test_the_probe_reads_the_test_split_above_chance(fitted, embedder, subset):
    from experiments.models.embedding_detector import read_head
    from experiments.stats.statistics import metric

    m, _, _ = fitted
    w, b = read_head(m.path, "t")
    files = sorted((subset / "test").rglob("*.jpg"))
    truth = np.array([f.relative_to(subset / "test").parts[0] == "ai" for f in files])
    z = embedder.embeddings(pictures(embedder, files).astype(np.float32) / 255.0) @ w + b
    accuracy, auc = float(np.mean((z > 0) == truth)), metric("roc_auc", truth, z)
    print(f"probe on the 24 test images: accuracy {accuracy:.3f}, ROC-AUC {auc:.3f}")
    assert accuracy >= 0.75 and auc >= 0.75


def test_a_second_open_reuses_the_file_and_encodes_nothing(fitted, embedder):
    from experiments.inputs.fingerprints import file_sha256
    from experiments.models.probe import trained_probe

    m, card, _ = fitted
    size = len(embedder.cache)
    assert trained_probe(m, embedder, opening()) is False
    assert len(embedder.cache) == size and file_sha256(m.path) == card["model_sha256"]


def test_a_changed_train_block_is_refused_in_one_line_and_retrain_refits(fitted, embedder, tmp_path):
    from experiments.models.probe import trained_probe
    from experiments.models.trained_models import ModelRefused

    m, card, _ = fitted
    for name in ("clip_art.npz", "clip_art.model_card.json"):
        shutil.copy(m.path.with_name(name), tmp_path / name)
    other = probe_config(tmp_path / "clip_art.npz", Path(m.train.dataset.root), folds=4)
    with pytest.raises(ModelRefused) as refused:
        trained_probe(other, embedder, opening())
    message = str(refused.value)
    assert "\n" not in message and message.startswith("models[clip_art]: ")
    assert "settings (folds card: 5, this config: 4)" in message and "--retrain" in message
    size = len(embedder.cache)
    assert trained_probe(other, embedder, opening(retrain=True)) is True
    refit = json.loads((tmp_path / "clip_art.model_card.json").read_text())
    assert refit["training"]["folds"] == 4 and refit["training"]["embeddings_encoded"] == 0
    assert len(embedder.cache) == size and trained_probe(other, embedder, opening()) is False


def test_too_many_folds_for_the_data_is_one_line_and_creates_nothing(subset, embedder, tmp_path):
    from experiments.models.probe import trained_probe
    from experiments.models.trained_models import ModelRefused

    m = probe_config(tmp_path / "models" / "p.npz", subset, folds=20)
    with pytest.raises(ModelRefused, match=r"^models\[clip_art\]\.train\.folds: 20 folds need 20 training images"):
        trained_probe(m, embedder, opening())
    assert not (tmp_path / "models").exists()


def test_random_labels_get_the_chance_guards_warning(subset, embedder, tmp_path):
    from experiments.models.probe import trained_probe

    files = sorted((subset / "train").rglob("*.jpg"))
    flipped = np.random.default_rng(0).permutation([f.parts[-3] for f in files])  # the same labels, shuffled
    for f, label in zip(files, flipped):
        (tmp_path / "shuffled" / "train" / label / f"{label}_shuffled").mkdir(parents=True, exist_ok=True)
        shutil.copy(f, tmp_path / "shuffled" / "train" / label / f"{label}_shuffled" / f.name)
    m = probe_config(tmp_path / "random.npz", tmp_path / "shuffled")
    assert trained_probe(m, embedder, opening()) is True
    training = json.loads((tmp_path / "random.model_card.json").read_text())["training"]
    assert training["embeddings_encoded"] == 0  # the same pictures: every embedding from the cache
    assert training["cv_accuracy_ci"][0] <= training["majority_class_cv_accuracy"]
    assert training["warning"].startswith("out-of-fold (cross-validated) accuracy ")
    print(f"random labels: out-of-fold accuracy {training['cv_accuracy']:.3f} {training['cv_accuracy_ci']}")


def test_a_probe_knows_the_generators_it_saw_as_a_cnn_does(fitted, clip_cache):
    from experiments.models.backends import open_model
    from experiments.stages.generators import trained_generators

    m, _, _ = fitted
    detector = open_model(m, opening())  # the embedding backend: the probe reused, the head read from its file
    assert detector.trained_file() == m.path and detector.head_file == str(m.path)
    assert trained_generators(m, detector) == sorted(GENERATORS) == trained_generators(m)


def test_a_cnns_train_keys_in_a_probes_block_are_refused_naming_them(subset, tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="epochs"):
        probe_config(tmp_path / "p.npz", subset, epochs=3)


def test_the_matrix_of_a_probe_runs_through_the_cli_from_cached_embeddings(fitted, subset, clip_cache, tmp_path):
    import pandas as pd

    from experiments import run as cli

    train = {"dataset": dataset(subset)}
    cfg = {
        "name": "probe_matrix", "seed": 3, "out_dir": str(tmp_path / "results"), "report": "none", "bootstrap": 100,
        "models": [{"name": "clip_art", "kind": "embedding", "encoder": "clip-vit-b16-int8",
                    "path": str(tmp_path / "models" / "clip_art.npz"), "train": train}],
        "samples": {"dataset": dataset(subset), "split": "test"}, "part_size": 100,
        "cross_generator": {"designs": ["single", "leave_one_out"]},
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp_path / "c.yaml")]) == 0
    matrix = pd.read_parquet(tmp_path / "results" / "probe_matrix" / "cross_generator.parquet")
    copies = {"all", *GENERATORS, *(f"all but {g}" for g in GENERATORS)}
    assert set(matrix["trained_on"]) == copies and len(matrix) == len(copies) * len(GENERATORS)
    for trained_on, rows in matrix.groupby("trained_on"):
        assert sorted(rows["tested_on"]) == sorted(GENERATORS) and (rows["n_ai"] == 4).all()
        assert (rows["n_human"] == 12).all() and rows["roc_auc"].between(0, 1).all()
    folder = tmp_path / "models" / "clip_art.cross_generator"
    for g in GENERATORS:
        card = json.loads((folder / f"without_{g}.model_card.json").read_text())
        assert g not in card["data"]["train"]["generator"] and card["training"]["embeddings_encoded"] == 0
        assert (folder / f"{g}.npz").is_file()
    held = matrix[matrix["held_out"] == matrix["tested_on"]]
    print(held[["trained_on", "tested_on", "roc_auc", "at_chance"]].to_string(index=False))
