"""The callbacks of a training (experiments.models.training) and how it saves a model: the
progress line off a terminal, history.csv, the best checkpoint and the per-epoch backup.

Every file they write fails as the run's other writes do (experiments.rundir.atomic): one
WriteFailed line naming the file (a full disk: exit 1). The model and its best checkpoint are
replaced whole; a backup whose write failed is removed, so the next run trains anew rather than
resuming from half a file.
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pandas as pd

from experiments.models.architecture import keras
from experiments.rundir.atomic import WriteFailed, atomic_write, write_failed
from experiments.rundir.runfolder import remove

log = logging.getLogger("artxai")


RATE_WINDOW_S = 30.0  # the progress line's speed: over the steps that ended in the last 30 s
RATE_WINDOW_STEPS = 1000  # and at most this many


def recent_rate(step_ends: Sequence[float], window_s: float = RATE_WINDOW_S) -> float | None:
    """Steps per second over the recent steps of one epoch: `step_ends` are the times its steps
    ended, in order. The rate spans from the earliest end at most `window_s` before the last one
    (at least one whole step back) to the last one, so a step's own length is only counted from
    the end of the step before it: the first step of an epoch, which also waits for the pipeline
    to fill after the previous epoch's validation, never sets the rate. None until two steps ended."""
    if len(step_ends) < 2:
        return None
    last = step_ends[-1]
    first = next(i for i, t in enumerate(step_ends) if last - t <= window_s or i == len(step_ends) - 2)
    span = last - step_ends[first]
    return (len(step_ends) - 1 - first) / span if span > 0 else None


class EpochProgress(keras.callbacks.Callback):
    """A log line every `every_s` seconds inside each epoch (steps, images/s and ETA from the
    recent steps: `recent_rate`), for output that is not a terminal, where Keras prints nothing
    until the epoch ends."""

    def __init__(self, name: str, epochs: int, steps: int, batch_size: int, every_s: float = 30.0):
        super().__init__()
        self.name, self.epochs, self.steps, self.batch_size, self.every_s = name, epochs, steps, batch_size, every_s

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.last = epoch, time.perf_counter()
        self.ends: deque[float] = deque(maxlen=RATE_WINDOW_STEPS + 1)

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        self.ends.append(now)
        rate = recent_rate(self.ends) if now - self.last >= self.every_s else None
        if rate is None:  # not time yet, or no whole step measured yet (the line comes one step later)
            return
        self.last, done = now, batch + 1
        log.info(
            "%s: epoch %d/%d, step %d/%d (%.0f%%), %.0f images/s, ETA %.0f s, loss %.4f, accuracy %.3f",
            self.name,
            self.epoch + 1,
            self.epochs,
            done,
            self.steps,
            100 * done / self.steps,
            rate * self.batch_size,
            max(self.steps - done, 0) / rate,
            (logs or {}).get("loss", float("nan")),
            (logs or {}).get("accuracy", float("nan")),
        )


class HistoryLog(keras.callbacks.Callback):
    """history.csv as Keras' CSVLogger writes it (epoch, then the metrics sorted), but rewritten
    whole and atomically after each epoch: a kill leaves the last complete file, never half a row."""

    def __init__(self, path: Path, previous: pd.DataFrame):
        super().__init__()
        self.path, self.rows = path, previous.to_dict("records")

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **{k: float(v) for k, v in sorted((logs or {}).items())}}
        self.rows = [r for r in self.rows if r["epoch"] != epoch] + [row]
        table = pd.DataFrame(self.rows)
        atomic_write(self.path, lambda tmp: table.to_csv(tmp, index=False))


@contextlib.contextmanager
def unheard() -> Iterator[None]:
    """What the block prints to sys.stderr, or reports as an exception Python cannot raise, is dropped."""
    hook, sys.unraisablehook = sys.unraisablehook, lambda _: None
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        sys.unraisablehook = hook


def keras_write(path: Path, write: Callable[[], object]) -> None:
    """`write()`, a write by Keras; its OSError is WriteFailed naming `path`. h5py's handle on the
    half-written file fails to close again when it is collected, and prints that: it is collected
    here, with the error's frames, unheard."""
    try:
        write()
        return
    except OSError as e:
        failed = write_failed(path, e)
        with unheard():
            e.__traceback__ = None
            gc.collect()
    raise failed


def save_model(model: keras.Model, path: Path) -> None:
    """Atomically: Keras insists on a .keras suffix, so save into a temporary folder beside it."""

    def save() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            staged = Path(tmp) / path.name
            model.save(staged)
            with open(staged, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(staged, path)

    keras_write(path, save)


class BestCheckpoint(keras.callbacks.Callback):
    """The model of the best validation accuracy so far, saved whole to `path` (save_model) when
    an epoch beats `best` (ModelCheckpoint's save_best_only, which writes the file in place)."""

    def __init__(self, path: Path, best: float | None):
        super().__init__()
        self.path, self.best = path, best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_accuracy")
        if value is not None and (self.best is None or value > self.best):
            self.best = float(value)
            save_model(self.model, self.path)


class Backup(keras.callbacks.BackupAndRestore):
    """Keras' per-epoch backup (a killed training resumes from its last finished epoch); a write
    that fails is WriteFailed naming the backup folder, and the half-written backup is removed
    (`marker`: the training folder's, experiments.models.training_folder)."""

    def __init__(self, backup_dir: Path, marker: tuple[str, str]):
        super().__init__(str(backup_dir))
        self.folder, self.marker = backup_dir, marker

    def on_epoch_end(self, epoch, logs=None):
        try:
            keras_write(self.folder, lambda: super(Backup, self).on_epoch_end(epoch, logs))
        except WriteFailed:
            if os.path.lexists(self.folder):
                remove(self.folder.parent, self.folder, self.marker)
            raise
