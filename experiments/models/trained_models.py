"""A model file that a config trains (`models[].train`): trained, reused or refused, under a lock.

Such a file is artxai's own. A run that uses one first takes a lock on its path, `<file>.lock`
beside it (flock; opened without following a link, refused unless it is a regular file):
exclusive while it trains, shared while it checks and loads the file, so no run reads a model
another is replacing. A run that would train the path, or use it, while another run trains it
stops in the preflight with one line naming the path and the trainer's pid (exit 2), without
waiting (a training can take hours): run it again when the first ends, and it reuses the fresh
model if that was trained as it asks. A run about to train waits for runs that only check the
file (seconds).

An existing file is reused only when
- its model card (experiments.models.training) is there and holds a training fingerprint
  (experiments.models.training_fingerprint): without one the file was not trained by artxai, or its card was
  lost, and what trained it is unknown;
- the file's sha256 equals the card's: a file replaced after its card was written (or a training
  killed between writing the model and its card) is not the model the card describes;
- the card's fingerprint equals the one this config's train block gives now.
Otherwise the run stops with one line saying what differs: `--retrain` (or `train.retrain: true`)
trains it again, another `path` keeps both.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from experiments.config.fields import ConfigError
from experiments.config.model_blocks import TrainConfig
from experiments.inputs.fingerprints import file_sha256
from experiments.inputs.images import DecodePolicy
from experiments.models.detector import Detector
from experiments.models.training_folder import card_path, training_dir
from experiments.models.training_folder import folder_problem
from experiments.rundir.atomic import writing

READERS_WAIT_S = 60.0  # how long a run about to train waits for runs checking the file


class ModelRefused(ConfigError):
    """A model file the config trains that cannot be used as asked (one line, exit 2): it stops
    the run even when the model is optional, since going on would drop or misreport it."""


def lock_path(model_path: Path) -> Path:
    return Path(model_path).with_name(Path(model_path).name + ".lock")


def _open_lock(path: Path, name: str, exclusive: bool) -> int | None:
    """The lock file's descriptor; None when a run that only reads finds no lock file and cannot
    create one (a read-only folder, where no run can train either)."""
    flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        if exclusive:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, flags | os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        fd, error = None, e
        if not exclusive and e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            try:
                fd = os.open(path, flags | os.O_RDONLY)
            except FileNotFoundError:
                return None
            except OSError as again:
                error = again
        if fd is None:
            link = error.errno == errno.ELOOP
            why = "a symbolic link, not a lock file; remove it" if link else f"cannot be opened ({error.strerror})"
            raise ModelRefused(f"models[{name}]: the lock {path} is {why}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ModelRefused(f"models[{name}]: the lock {path} is not a regular file; remove it")
    return fd


def _trainer_holds(fd: int) -> bool:
    """Whether an exclusive lock is held (a trainer), not only shared ones (runs checking)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _acquire(fd: int, exclusive: bool) -> str:
    """Take the lock: '' when taken, else who holds it ('trainer' or 'checkers')."""
    deadline = time.monotonic() + READERS_WAIT_S
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            return ""
        except BlockingIOError:
            pass
        if not exclusive or _trainer_holds(fd):
            return "trainer"
        if time.monotonic() > deadline:
            return "checkers"
        time.sleep(0.05)


@contextmanager
def model_lock(model_path: Path, name: str, exclusive: bool) -> Iterator[None]:
    """Hold the model path's lock (exclusive: to train it) for the block; ModelRefused when a
    trainer holds it, naming its pid."""
    path = lock_path(model_path)
    fd = _open_lock(path, name, exclusive)
    if fd is None:
        yield
        return
    try:
        if holder := _acquire(fd, exclusive):
            if holder == "checkers":
                raise ModelRefused(
                    f"models[{name}]: {model_path} is being read by other runs (for over {READERS_WAIT_S:.0f} s); "
                    "try again"
                )
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise ModelRefused(
                f"models[{name}]: {model_path} is being trained by another run (pid {pid}); "
                "run again when it ends (its model is reused if it was trained as this config asks)"
            )
        if exclusive:
            with writing(path):  # a full disk: the run's failed write, naming the lock
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _and(clauses: list[str]) -> str:
    return clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]


def card_problem(model_path: Path, wanted: dict) -> str | None:
    """Why the file at `model_path` is not the model `wanted` (a training fingerprint) asks for,
    as the end of a sentence about the file; None when it is."""
    card_file = card_path(model_path)
    if not card_file.is_file():
        return (
            f"has no model card ({card_file.name}): it was not trained by artxai, or its card was lost, "
            "so what trained it is unknown"
        )
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
        fingerprint, recorded = card["fingerprint"], card["model_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return (
            f"has a model card without a training fingerprint ({card_file.name}: from an older artxai, or damaged), "
            "so what trained it is unknown"
        )
    actual = file_sha256(model_path)
    if actual != recorded:
        return (
            f"is not the file its card describes (sha256 {actual[:12]}, card: {str(recorded)[:12]}): "
            "replaced after training, or a training was killed while saving"
        )
    from experiments.models.training_fingerprint import differences

    if found := differences(fingerprint, wanted):
        return "was trained otherwise: " + _and(found)
    return None


def reusable_or_refused(
    name: str, cfg: TrainConfig, input_size: int, path: Path, seed: int, policy: DecodePolicy
) -> None:
    """ModelRefused, one line, unless the file at `path` is what `cfg` would train."""
    from experiments.models.training_fingerprint import training_fingerprint

    try:
        wanted = training_fingerprint(cfg, input_size, seed, policy)
    except ConfigError as e:
        raise ModelRefused(
            f"models[{name}]: cannot check what trained {path} ({e}); make the training data available, "
            "or drop the train block to use the file as it is"
        ) from None
    if problem := card_problem(path, wanted):
        raise ModelRefused(f"models[{name}]: {path} {problem}; pass --retrain or set another path")


def trained_detector(
    name: str,
    cfg: TrainConfig,
    input_size: int,
    path: Path,
    seed: int,
    policy: DecodePolicy,
    retrain: bool = False,
    snapshot: dict | None = None,
) -> tuple[Detector, float | None]:
    """The model a train block describes, trained first when its file is missing or `retrain`,
    else checked against its card; with the seconds spent training (None when it was reused).
    The file's digest is read before it is loaded, under the lock. Imports TensorFlow (Keras)."""
    from experiments.models.architecture import load_keras
    from experiments.models.init_weights import check_init_from

    train_now = retrain or cfg.retrain or not path.is_file()
    seconds = None
    if train_now and (problem := folder_problem(training_dir(path))):
        raise ModelRefused(f"models[{name}]: {training_dir(path)} {problem}; move it away or set another model path")
    if train_now and cfg.init_from is not None:
        try:
            check_init_from(name, cfg.init_from, input_size)  # before anything is written
        except ConfigError as e:
            raise ModelRefused(str(e)) from None
    with model_lock(path, name, exclusive=train_now):
        if train_now and (retrain or cfg.retrain or not path.is_file()):
            from experiments.models.training import train  # TensorFlow's tf.data, only when training

            started = time.perf_counter()
            train(name, cfg, input_size, path, seed, policy, snapshot)
            seconds = time.perf_counter() - started
        else:  # present (trained by another run since this one looked, maybe): it must match
            reusable_or_refused(name, cfg, input_size, path, seed, policy)
        digest = file_sha256(path)
        return replace(load_keras(path, name, input_size), digest=digest), seconds
