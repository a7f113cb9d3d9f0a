"""A model's training fingerprint: what a model trained by artxai was made from, as far as it
decides the weights: the architecture (the build function's Keras config, layer names left out),
the input size, every training and validation file (label, path relative to the dataset root,
size and sha256, one digest over the sorted list), the training settings that change the result,
the decoding settings, the seed, and the sha256 of the model file training started from
(`init_from`, only when set, so earlier fingerprints stay as they were). The artxai version is
recorded too but not compared (a new release would otherwise refuse every model trained before it). Hashing CIFAKE's
8,000 training files (7.4 MB) takes 1.5 s from a cold disk, 0.16 s warm. `differences` says what differs between
a model card's fingerprint and the one a config asks for.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

import pandas as pd

from experiments.config.model_blocks import TrainConfig
from experiments.inputs.fingerprints import file_sha256, sized_sha256
from experiments.inputs.images import DecodePolicy
from experiments.models.architecture import build_cnn

# train-block fields that do not change the weights (or are covered by the file list)
# (init_from: the file's content is compared, as `init_from`, not where it lies)
UNCOMPARED_SETTINGS = {
    "retrain": True,
    "progress_every_s": True,
    "cache": True,
    "dataset": {"root": True},
    "init_from": True,
}


def architecture_digest(input_size: int) -> str:
    """sha256 of the Keras config of the network training builds, without the layer names
    Keras numbers per process (conv2d_3 ...)."""
    config = json.loads(build_cnn(input_size).to_json())
    for layer in config["config"]["layers"]:
        layer["config"].pop("name", None)
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def files_digest(records: pd.DataFrame, root: Path) -> str:
    """One sha256 over the sorted lines `label, path below root, size, sha256` of every file (which
    of them validate follows from the listing, the seed and the settings)."""
    lines = []
    for path, label in zip(records["path"], records["label"]):
        size, digest = sized_sha256(path)
        fields = [str(label).encode(), os.fsencode(os.path.relpath(path, root)), b"%d" % size, digest.encode()]
        lines.append(b"\t".join(fields))
    return hashlib.sha256(b"\n".join(sorted(lines))).hexdigest()


def compared_settings(data: dict, leave_out: dict) -> dict:
    """`data` without the keys `leave_out` marks True (nested dicts are walked)."""
    kept = {k: v for k, v in data.items() if leave_out.get(k) is not True}
    return {k: compared_settings(v, leave_out.get(k, {})) if isinstance(v, dict) else v for k, v in kept.items()}


def training_fingerprint(
    cfg: TrainConfig, input_size: int, seed: int, policy: DecodePolicy, splits: dict[str, pd.DataFrame] | None = None
) -> dict:
    """What a model trained from `cfg` is made of (see the module's docstring); `splits` are
    the training splits when already listed (experiments.inputs.datasets.training_splits)."""
    if splits is None:
        from experiments.inputs.datasets import training_splits

        splits = training_splits(cfg.dataset, seed)
    used = pd.concat([splits["train"], splits["val"]], ignore_index=True)
    decoding = {"max_pixels": policy.max_pixels, "min_side": policy.min_side, "exif_transpose": policy.exif_transpose}
    settings = compared_settings(cfg.model_dump(mode="json"), UNCOMPARED_SETTINGS) | {"preprocess": decoding}
    files = {"count": len(used), "train": len(splits["train"]), "val": len(splits["val"])}
    start = {} if cfg.init_from is None else {"init_from": file_sha256(cfg.init_from)}
    return {
        "architecture": architecture_digest(input_size),
        "input_size": input_size,
        "files": files | {"digest": files_digest(used, cfg.dataset.root)},
        "settings": settings,
        "seed": seed,
        **start,
        "artxai": metadata.version("artxai"),
    }


def _flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in data.items():
        out |= _flat(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}": v}
    return out


def differences(card: dict, wanted: dict) -> list[str]:
    """What differs between a card's training fingerprint and the one a config asks for, as
    clauses naming the card's value and this config's ("seed (card: 1, this config: 5)")."""
    out = []
    files, want = card.get("files", {}), wanted["files"]
    if files.get("digest") != want["digest"]:
        if files.get("count") != want["count"]:
            out.append(f"dataset (card: {files.get('count', '?'):,} files, this config: {want['count']:,})")
        else:
            out.append(f"dataset ({want['count']:,} files either way; their names, labels or content differ)")
    theirs, ours = _flat(card.get("settings", {})), _flat(wanted["settings"])
    changed = [k for k in sorted(theirs.keys() | ours.keys()) if theirs.get(k) != ours.get(k)]
    if changed:
        pairs = [f"{k} card: {theirs.get(k, 'unset')}, this config: {ours.get(k, 'unset')}" for k in changed[:3]]
        shown = "; ".join(pairs)
        out.append(f"settings ({shown}{'; ...' if len(changed) > 3 else ''})")
    for key, what in (("seed", "seed"), ("input_size", "input size"), ("init_from", "init_from (sha256)")):
        if card.get(key) != wanted.get(key):
            theirs_, ours_ = (str(fp.get(key, "unset"))[:12] for fp in (card, wanted))
            out.append(f"{what} (card: {theirs_}, this config: {ours_})")
    if card.get("architecture") != wanted["architecture"] and card.get("input_size") == wanted["input_size"]:
        out.append("architecture (the network artxai builds has changed since)")
    return out
