"""Training the study's CNN on a dataset, as the study did, but resumable and documented.

Balanced training classes and a stratified validation split (experiments.inputs.datasets), the tf.data
pipeline (experiments.models.training_data), Adam and sparse categorical cross-entropy, early stopping and a
best checkpoint on validation accuracy. Beside the model file `<name>.keras` go:
  <name>.model_card.json   data counts per split / class / style / generator, unreadable files,
                           metrics, config, versions, training time, the training fingerprint
                           (experiments.models.training_fingerprint) and the model file's sha256
  <name>.training/         history.csv, history.png, the per-epoch backup (a killed training
                           resumes from its last finished epoch), best.keras, the tf.data cache
The model, its card and history.csv are each replaced whole (written beside, fsynced, renamed),
the card after the model. Callers hold the model path's lock (experiments.models.trained_models).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from experiments.rundir.atomic import atomic_write, atomic_write_json
from experiments.config.model_blocks import TrainConfig
from experiments.inputs.datasets import counts, training_splits
from experiments.inputs.fingerprints import file_sha256
from experiments.inputs.images import DecodePolicy
from experiments.models.architecture import build_cnn, keras
from experiments.models.training_folder import card_path, training_dir
from experiments.models.init_weights import initialise
from experiments.models.training_data import SkipLog, cache_writes, image_dataset
from experiments.models.training_fingerprint import training_fingerprint
from experiments.models.chance_guard import chance_guard
from experiments.models.training_callbacks import Backup, BestCheckpoint, EpochProgress, HistoryLog, save_model
from experiments.models.training_callbacks import recent_rate  # noqa: F401 (public here, as before)
from experiments.models.training_folder import TRAINING_MARKER, claim, clear_earlier_training
from experiments.rundir.runfolder import remove

log = logging.getLogger("artxai")


def optimizer(cfg: TrainConfig) -> keras.optimizers.Optimizer:
    """The configured optimizer; at `fine_tune_learning_rate` when training starts from `init_from`."""
    kinds = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    rate = cfg.optimizer.learning_rate
    if cfg.init_from is not None and cfg.fine_tune_learning_rate is not None:
        rate = cfg.fine_tune_learning_rate
    return kinds[cfg.optimizer.name](learning_rate=rate)


def read_history(path: Path) -> pd.DataFrame:
    """history.csv, one row per finished epoch (a row written twice around a kill is kept once)."""
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    return pd.read_csv(path).drop_duplicates("epoch", keep="last").sort_values("epoch", ignore_index=True)


def start_or_resume(work: Path, fingerprint: dict) -> bool:
    """Whether the training folder holds a killed training of this very fingerprint to resume;
    if not, what an earlier training left there (its history, best checkpoint, backup, cache)
    is removed first, so it can neither be resumed into nor win the best checkpoint."""
    started_as = work / "fingerprint.json"
    try:
        recorded = json.loads(started_as.read_text(encoding="utf-8"))
        resumable = (work / "backup").is_dir() and recorded == json.loads(json.dumps(fingerprint))
    except (OSError, ValueError):
        resumable = False
    if not resumable:
        clear_earlier_training(work)  # only in a folder marked as artxai's (experiments.models.training_folder)
        atomic_write_json(started_as, fingerprint)
    return resumable


def plot_history(history: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), layout="constrained")
    for ax, metric in zip(axes, ("loss", "accuracy")):
        ax.plot(history["epoch"] + 1, history[metric], marker="o", label="train")
        ax.plot(history["epoch"] + 1, history[f"val_{metric}"], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
    fig.suptitle(title)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def compiled_model(name: str, cfg: TrainConfig, input_size: int, seed: int) -> tuple[keras.Model, dict | None]:
    """The CNN, seeded, started from `cfg.init_from` when set (experiments.models.init_weights),
    compiled; with what was copied into it (None from scratch)."""
    keras.utils.set_random_seed(seed)
    model = build_cnn(input_size)
    start = None if cfg.init_from is None else initialise(model, cfg.init_from, name)
    model.compile(optimizer=optimizer(cfg), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, start


def input_datasets(
    splits: dict, cfg: TrainConfig, input_size: int, seed: int, policy: DecodePolicy, work: Path, skips: SkipLog
) -> tuple:
    """The training stream (permuted, shuffled) and the validation stream (in order)."""
    common = {"batch_size": cfg.batch_size, "skips": skips, "policy": policy, "cache": cfg.cache}
    keras.utils.set_random_seed(seed)  # tf.data's seeded ops (shuffle, augmentation keys) combine it with their own
    train_ds = image_dataset(
        splits["train"],
        input_size,
        shuffle_seed=seed,
        shuffle_buffer=cfg.shuffle_buffer,
        cache_file=work / "cache" / "train",
        augment=cfg.augment,
        **common,
    )
    return train_ds, image_dataset(splits["val"], input_size, cache_file=work / "cache" / "val", **common)


def fit(
    name: str,
    model: keras.Model,
    cfg: TrainConfig,
    datasets: tuple,
    work: Path,
    previous: pd.DataFrame,
    extra: list,
    steps: int,
) -> float:
    """model.fit with the history log, the best checkpoint, early stopping and the per-epoch
    backup (and a progress line off a terminal); the seconds it took."""
    best_so_far = float(previous["val_accuracy"].max()) if len(previous) else None
    callbacks = [
        HistoryLog(work / "history.csv", previous),
        BestCheckpoint(work / "best.keras", best_so_far),  # a resumed run keeps a better checkpoint of before a kill
        keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=cfg.patience),
        Backup(work / "backup", TRAINING_MARKER),
        *extra,
    ]
    if not sys.stderr.isatty():
        callbacks.append(EpochProgress(name, cfg.epochs, steps, cfg.batch_size, cfg.progress_every_s))
    started = time.perf_counter()
    train_ds, val_ds = datasets
    with cache_writes(work / "cache"):  # a full disk while tf.data writes its cache: one line naming it
        model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=cfg.epochs,
            shuffle=False,
            callbacks=callbacks,
            verbose=1 if sys.stderr.isatty() else 2,
        )
    return time.perf_counter() - started


def model_card(
    name: str,
    cfg: TrainConfig,
    input_size: int,
    model_path: Path,
    best: keras.Model,
    splits: dict,
    skips: SkipLog,
    training: dict,
) -> dict:
    """The model card's fields but the fingerprint and the model file's digest."""
    return {
        "name": name,
        "file": model_path.name,
        "architecture": "Conv(64,3,relu)-MaxPool-Conv(64,3,relu)-MaxPool-Flatten-Dense(64,relu)-Dense(2,softmax)",
        "input_size": input_size,
        "class_names": ["ai", "human"],
        "params": int(best.count_params()),
        "data": {
            "root": str(cfg.dataset.root),
            "layout": cfg.dataset.layout,
            "balanced": cfg.dataset.balance,
            **{split: {"images": len(df), **counts(df)} for split, df in splits.items()},
            "unreadable_files": len(skips.reasons),
            "unreadable_examples": dict(list(skips.reasons.items())[:20]),
        },
        "training": training | {"backend": keras.backend.backend(), "config": cfg.model_dump(mode="json")},
    }


def training_record(
    history: pd.DataFrame, previous: pd.DataFrame, val_labels: pd.Series, images: int, fit_seconds: float
) -> dict:
    """The card's `training` block from the history: epochs, the best epoch, the chance guard."""
    best_row = history.loc[history["val_accuracy"].idxmax()]
    epochs_now = len(history) - len(previous)
    return {
        "epochs_run": len(history),
        "best_epoch": int(best_row["epoch"]) + 1,
        "best_val_accuracy": float(best_row["val_accuracy"]),
        "final_train_accuracy": float(history["accuracy"].iloc[-1]),
        **chance_guard(float(best_row["val_accuracy"]), val_labels),
        "fit_images_per_second": round(epochs_now * images / fit_seconds, 1) if epochs_now else None,
    }


def save_best(name: str, input_size: int, work: Path, model_path: Path, skips: SkipLog) -> tuple[pd.DataFrame, object]:
    """After fitting: the best checkpoint saved to `model_path`, the history read and plotted, the
    files left out written to skipped_files.json; the history and the best model."""
    history = read_history(work / "history.csv")
    best = keras.models.load_model(work / "best.keras", compile=False)
    save_model(best, model_path)
    plot_history(history, work / "history.png", f"{name} ({input_size} px)")
    atomic_write(work / "skipped_files.json", lambda tmp: tmp.write_text(json.dumps(skips.reasons, indent=1)))
    if skips.reasons:
        why = work / "skipped_files.json"
        log.warning("%s: %d unreadable file(s) left out of training (reasons in %s)", name, len(skips.reasons), why)
    return history, best


def train(
    name: str,
    cfg: TrainConfig,
    input_size: int,
    model_path: Path,
    seed: int,
    policy: DecodePolicy = DecodePolicy(),
    config_snapshot: dict | None = None,
    extra_callbacks: list | None = None,
) -> dict:
    """Train (or resume training) and save the best model to `model_path`; return the model card."""
    started = time.perf_counter()
    work = training_dir(model_path)
    claim(work)  # made here with its marker, or refused when someone else's
    splits = training_splits(cfg.dataset, seed)
    fingerprint = training_fingerprint(cfg, input_size, seed, policy, splits)  # the files as they are now
    start_or_resume(work, fingerprint)
    skips = SkipLog()
    datasets = input_datasets(splits, cfg, input_size, seed, policy, work, skips)
    previous = read_history(work / "history.csv")
    if (work / "backup").is_dir() and len(previous):
        log.info("%s: resuming training after epoch %d", name, int(previous["epoch"].max()) + 1)
    per_class = ", ".join(f"{k} {v}" for k, v in counts(splits["train"])["label"].items())
    n_train, n_val = len(splits["train"]), len(splits["val"])
    log.info("%s: training at %d px on %d images (%s), validating on %d", name, input_size, n_train, per_class, n_val)
    model, start = compiled_model(name, cfg, input_size, seed)
    steps = -(-len(splits["train"]) // cfg.batch_size)
    fit_seconds = fit(name, model, cfg, datasets, work, previous, extra_callbacks or [], steps)

    history, best = save_best(name, input_size, work, model_path, skips)
    record = training_record(history, previous, splits["val"]["label"], len(splits["train"]), fit_seconds)
    record["seconds_this_session"] = round(time.perf_counter() - started, 1)
    card = model_card(name, cfg, input_size, model_path, best, splits, skips, record)
    card |= {"init": start} if start else {}
    card |= {
        "run_config": config_snapshot or {},
        "fingerprint": fingerprint,
        "model_sha256": file_sha256(model_path),
        "versions": {
            "python": platform.python_version(),
            **{p: metadata.version(p) for p in ("keras", "tensorflow", "numpy")},
        },
    }
    atomic_write_json(card_path(model_path), card)
    if os.path.lexists(work / "cache"):  # the resized-image cache is only for this training
        remove(work, work / "cache", TRAINING_MARKER)
    log.info(
        "%s: best validation accuracy %.3f at epoch %d -> %s",
        name,
        record["best_val_accuracy"],
        record["best_epoch"],
        model_path,
    )
    if record["warning"]:
        log.warning("%s: %s", name, record["warning"])
    return card
