"""The training folder beside a model file (`<model>.training/`: history, backups, best checkpoint,
the fingerprint training started with), and what makes it artxai's own.

A new training clears what an earlier one left there. It does so only in a folder that carries
the marker `.artxai-training.json`, which artxai writes when it makes the folder, never in a folder
recognised by the names of the files in it: a `<model>.training/` folder someone else made (or one
from an artxai before the marker) stops the run in the preflight with one line, nothing touched.
Every deletion goes through experiments.rundir.runfolder.remove (marker checked, links never
followed). No TensorFlow here: the preflight checks the folder before anything trains.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

from experiments.rundir.atomic import atomic_write_json
from experiments.rundir.runfolder import RunFolderError, read_marker, remove

TRAINING_MARKER = (".artxai-training.json", "artxai_training")  # file name, the key only artxai writes
LEFT_BY_TRAINING = ("backup", "cache", "history.csv", "best.keras")  # what a new training starts without


def card_path(model_path: Path) -> Path:
    """Where a model trained by artxai keeps its model card: beside it."""
    return Path(model_path).with_name(Path(model_path).stem + ".model_card.json")


def training_dir(model_path: Path) -> Path:
    """Where training keeps its history, backups and best checkpoint: beside the model."""
    return Path(model_path).with_name(Path(model_path).stem + ".training")


def folder_problem(work: Path) -> str | None:
    """Why artxai may not train into `work`, as the end of a sentence about it; None when it may
    (missing, empty, or marked as artxai's)."""
    if os.path.islink(work) or (os.path.lexists(work) and not work.is_dir()):
        return "is not a folder (a file or a symbolic link)"
    if not work.is_dir() or not any(work.iterdir()):
        return None
    try:
        marked = read_marker(work, *TRAINING_MARKER) is not None
    except RunFolderError as e:
        return f"has a damaged marker ({e})"
    if not marked:
        return (
            f"holds files but no {TRAINING_MARKER[0]}: artxai did not make it (or an artxai before the "
            "marker did), and a training would replace its history, backups and checkpoint"
        )
    return None


def claim(work: Path) -> None:
    """Make `work` (or find it) as artxai's training folder, writing its marker when it has none;
    RunFolderError, nothing touched, when folder_problem says it is not artxai's."""
    if problem := folder_problem(work):
        raise RunFolderError(f"{work} {problem}; move it away or set another model path")
    work.mkdir(parents=True, exist_ok=True)
    if read_marker(work, *TRAINING_MARKER) is None:
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        atomic_write_json(work / TRAINING_MARKER[0], {TRAINING_MARKER[1]: uuid.uuid4().hex, "created": created})


def clear_earlier_training(work: Path) -> None:
    """Remove what an earlier training left in the claimed folder `work` (LEFT_BY_TRAINING)."""
    for name in LEFT_BY_TRAINING:
        if os.path.lexists(work / name):
            remove(work, work / name, TRAINING_MARKER)
