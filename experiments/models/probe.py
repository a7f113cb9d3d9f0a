"""A probe artxai fits: an embedding detector's linear head (`models[].train` on `kind:
embedding`), a logistic regression on the encoder's embeddings of the training split, its C chosen
by cross-validation on that split alone (experiments.models.probe_fit). docs/probes.md.

Splits (experiments.inputs.datasets.training_splits, as a CNN's): the probe is fitted on `train`
(balanced as the dataset says); C is chosen by `train.folds`-fold stratified cross-validation
inside it. The validation split (the dataset's own `val` folder, else `val_fraction` of train held
out, stratified) is never fitted on: it is the held-out check the card reports. The test split is
never read.

The probe is artxai's own file, kept as a CNN trained by artxai is (experiments.models.trained_models):
- `<path>.npz` holds `w` (dim,) and `b` (a scalar), p(AI) = sigmoid(w . e + b);
- `<stem>.model_card.json` beside it (experiments.models.training_folder.card_path): the files'
  counts per class / generator / source, the chosen C and the cross-validated log loss of each C
  tried, the out-of-fold accuracy at the chosen C with its Wilson interval and the chance guard
  (experiments.models.chance_guard: a warning when that interval reaches the majority rate), the
  held-out validation accuracy, the training fingerprint and the .npz file's sha256;
- the fingerprint is a CNN's (experiments.models.training_fingerprint: every training and
  validation file, the settings that change the result, decoding, seed) with the encoder's sha256
  and preprocessing and the fitting recipe in its settings;
- the lock `<path>.lock` (model_lock): exclusive while fitting, shared while checking;
- reuse as a CNN's: card there, the file's sha256 the card's, the fingerprint this config's; else
  one line (ModelRefused) saying what differs; `--retrain` or `train.retrain: true` fits again.
The .npz and the card are each written whole (experiments.rundir.atomic), the card after the .npz.
"""

from __future__ import annotations

import io
import logging
import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.config.fields import ConfigError
from experiments.config.model_blocks import ModelConfig, ProbeTrainConfig
from experiments.inputs.datasets import counts, training_splits
from experiments.inputs.fingerprints import file_sha256
from experiments.models.chance_guard import chance_guard
from experiments.models.probe_fit import C_GRID, MAX_ITER, Embedded, ProbeFit, embed_files, fit_logistic
from experiments.models.trained_models import ModelRefused, card_problem, model_lock
from experiments.models.training_fingerprint import compared_settings, files_digest
from experiments.models.training_folder import card_path
from experiments.rundir.atomic import atomic_write_bytes, atomic_write_json

log = logging.getLogger("artxai")

ARCHITECTURE = "logistic regression on the encoder's L2-normalised embeddings: p(AI) = sigmoid(w . e + b)"
RECIPE = {  # how a probe is fitted (experiments.models.probe_fit): part of the fingerprint's settings
    "method": "L2 logistic regression (scikit-learn lbfgs), C by out-of-fold log loss",
    "C_grid": list(C_GRID),
    "class_weight": "balanced",
    "max_iter": MAX_ITER,
}
UNCOMPARED = {"retrain": True, "dataset": {"root": True}}  # train-block fields that do not change the probe


def probe_fingerprint(
    cfg: ProbeTrainConfig, embedder, seed: int, policy, splits: dict[str, pd.DataFrame] | None = None
) -> dict:
    """What a probe fitted from `cfg` with `embedder`'s encoder is made of (the module's docstring)."""
    splits = training_splits(cfg.dataset, seed) if splits is None else splits
    used = pd.concat([splits["train"], splits["val"]], ignore_index=True)
    decoding = {"max_pixels": policy.max_pixels, "min_side": policy.min_side, "exif_transpose": policy.exif_transpose}
    encoder = {"sha256": embedder.encoder.sha256, "preprocessing": embedder.preprocessing}
    settings = compared_settings(cfg.model_dump(mode="json"), UNCOMPARED)
    settings |= {"preprocess": decoding, "encoder": encoder, "fit": RECIPE}
    files = {"count": len(used), "train": len(splits["train"]), "val": len(splits["val"])}
    return {
        "architecture": ARCHITECTURE,
        "input_size": embedder.input.size,
        "files": files | {"digest": files_digest(used, cfg.dataset.root)},
        "settings": settings,
        "seed": seed,
        "artxai": metadata.version("artxai"),
    }


def reusable_or_refused(m: ModelConfig, embedder, seed: int, policy) -> None:
    """ModelRefused, one line, unless the file at `m.path` is the probe `m.train` would fit."""
    try:
        wanted = probe_fingerprint(m.train, embedder, seed, policy)
    except ConfigError as e:
        raise ModelRefused(
            f"models[{m.name}]: cannot check what fitted {m.path} ({e}); make the training data available, "
            "or drop the train block and give the file as head"
        ) from None
    if problem := card_problem(m.path, wanted):
        raise ModelRefused(f"models[{m.name}]: {m.path} {problem}; pass --retrain or set another path")


def checked_splits(m: ModelConfig, seed: int) -> dict[str, pd.DataFrame]:
    """The training splits, refused in one line (before anything is written) when there are fewer
    training images of a class than `train.folds`."""
    try:
        splits = training_splits(m.train.dataset, seed)
    except ConfigError as e:
        raise ModelRefused(f"models[{m.name}].train.{e}") from None
    per_class = splits["train"]["label"].value_counts()
    if per_class.min() < m.train.folds:
        raise ModelRefused(
            f"models[{m.name}].train.folds: {m.train.folds} folds need {m.train.folds} training images of each "
            f"class; the training split has {per_class.min()} {per_class.idxmin()} images"
        )
    return splits


def embedded_split(embedder, records: pd.DataFrame, policy) -> tuple[Embedded, pd.DataFrame]:
    """A split's embeddings and the records of the files that could be read."""
    found = embed_files(embedder, list(records["path"]), policy)
    return found, records.iloc[found.kept].reset_index(drop=True)


def npz_bytes(w: np.ndarray, b: float) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, w=np.asarray(w, np.float64), b=np.float64(b))
    return buffer.getvalue()


def fit_record(fit: ProbeFit, train: pd.DataFrame, val: pd.DataFrame, val_x: np.ndarray, folds: int) -> dict:
    """The card's `training` block: the chosen C, the cross-validation, the held-out validation."""
    val_accuracy = float(np.mean((fit.p_ai(val_x) >= 0.5) == (val["label"] == "ai"))) if len(val) else None
    return {
        "C": fit.C,
        "folds": folds,
        "cv_log_loss": {f"{c:g}": round(loss, 6) for c, loss in fit.cv_log_loss.items()},
        "cv_accuracy": fit.cv_accuracy,
        **chance_guard(fit.cv_accuracy, train["label"], "out-of-fold (cross-validated) accuracy", "cv"),
        "val_accuracy": val_accuracy,
        "val_n": len(val),
        "final_train_accuracy": fit.train_accuracy,
    }


def probe_card(m: ModelConfig, embedder, used: dict[str, pd.DataFrame], skipped: dict, record: dict) -> dict:
    """The model card's fields but the fingerprint and the file's digest (a CNN's card's shape)."""
    cfg = m.train
    return {
        "name": m.name,
        "file": m.path.name,
        "architecture": ARCHITECTURE,
        "input_size": embedder.input.size,
        "class_names": ["ai", "human"],
        "params": int(embedder.encoder.dim + 1),
        "encoder": {
            "sha256": embedder.encoder.sha256,
            "preprocessing": embedder.preprocessing,
            "dim": int(embedder.encoder.dim),
        },  # fmt: skip
        "data": {
            "root": str(cfg.dataset.root),
            "layout": cfg.dataset.layout,
            "balanced": cfg.dataset.balance,
            **{split: {"images": len(df), **counts(df)} for split, df in used.items()},
            "unreadable_files": len(skipped),
            "unreadable_examples": dict(list(skipped.items())[:20]),
        },
        "training": record | {"method": RECIPE["method"], "config": cfg.model_dump(mode="json")},
    }


def fit_probe(m: ModelConfig, embedder, ctx, splits: dict[str, pd.DataFrame]) -> dict:
    """Fit the probe, write its .npz and then its card; return the card."""
    started = time.perf_counter()
    fingerprint = probe_fingerprint(m.train, embedder, ctx.seed, ctx.policy, splits)  # the files as they are now
    before = len(embedder.cache) if embedder.cache is not None else 0
    train_found, train = embedded_split(embedder, splits["train"], ctx.policy)
    val_found, val = embedded_split(embedder, splits["val"], ctx.policy)
    encoded = (len(embedder.cache) - before) if embedder.cache is not None else None
    if train["label"].value_counts().min() < m.train.folds or train["label"].nunique() < 2:
        raise ModelRefused(f"models[{m.name}].train.folds: too few readable training images of a class to fit")
    fit = fit_logistic(train_found.embeddings, (train["label"] == "ai").to_numpy(), m.train.folds, ctx.seed)
    record = fit_record(fit, train, val, val_found.embeddings, m.train.folds)
    record |= {"embeddings_encoded": encoded, "seconds_this_session": round(time.perf_counter() - started, 2)}
    atomic_write_bytes(m.path, npz_bytes(fit.w, fit.b))
    card = probe_card(m, embedder, {"train": train, "val": val}, train_found.skipped | val_found.skipped, record)
    card |= {
        "run_config": ctx.snapshot or {},
        "fingerprint": fingerprint,
        "model_sha256": file_sha256(m.path),
        "versions": {
            "python": platform.python_version(),
            **{p: metadata.version(p) for p in ("scikit-learn", "numpy", "onnxruntime")},
        },
    }
    atomic_write_json(card_path(m.path), card)
    log.info(
        "%s: probe fitted on %d embeddings (%d encoded now), C %g, out-of-fold accuracy %.3f [%.3f, %.3f], "
        "held-out validation %s -> %s", m.name, len(train), encoded or 0, fit.C, fit.cv_accuracy,
        *record["cv_accuracy_ci"], "none" if record["val_accuracy"] is None else f"{record['val_accuracy']:.3f}",
        m.path,
    )  # fmt: skip
    if record["warning"]:
        log.warning("%s: %s", m.name, record["warning"])
    return card


def probe_detector(embedder, name: str, path: Path):
    """`embedder` (an encoder, experiments.models.embedding_files) with the probe at `path` as its
    head, read and checked: a cross-generator copy (experiments.stages.cross_generator)."""
    from dataclasses import replace

    from experiments.models.embedding_detector import check_head, read_head

    where = f"models[{name}]"
    w, b = read_head(Path(path), where)
    check_head(w, b, embedder.encoder.dim, where, path)
    return replace(embedder, name=name, source=str(path), w=w, b=b, head_file=str(path), digest=file_sha256(path))


def trained_probe(m: ModelConfig, embedder, ctx) -> bool:
    """The probe `m.train` describes at `m.path`: fitted now (True) when the file is missing,
    `--retrain` (ctx.retrain) or `train.retrain`; else checked against its card and reused (False),
    or refused in one line. `embedder`: the encoder (experiments.models.embedding_files)."""
    fit_now = ctx.retrain or m.train.retrain or not Path(m.path).is_file()
    splits = checked_splits(m, ctx.seed) if fit_now else None
    with model_lock(m.path, m.name, exclusive=fit_now):
        if ctx.retrain or m.train.retrain or not Path(m.path).is_file():  # not fitted by another run meanwhile
            fit_probe(m, embedder, ctx, splits)
            return True
        reusable_or_refused(m, embedder, ctx.seed, ctx.policy)  # present: it must match
        return False
