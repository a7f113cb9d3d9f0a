"""The run folder: one run at a time in it, and when it may be started in, resumed or cleared.

- Lock: a run holds an exclusive `flock` on `<run>/.lock` from before it touches the folder
  until it ends (the kernel releases it when the process dies, however it dies). A second run
  into the same folder, `--force` included, is refused with the holder's pid. The lock file is
  never deleted (deleting it would let two runs lock two different files).
- Policy (`folder_action`): a folder that does not exist or is empty is started in; a folder
  left by a run that finished no part (one that failed early) is taken over; a folder with
  finished parts needs `--resume` with the same config, or `--force`. Anything that makes the
  folder unusable (it is a file, it cannot be created) is found before it is created.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from experiments.config import ConfigError

LOCK_NAME = ".lock"
SNAPSHOT = "config.json"


class RunFolderBusy(ConfigError):
    """Another process holds the run folder's lock."""


def _creatable(root: Path) -> None:
    """Raise ConfigError when `root` is a file or cannot be made (checked without making it)."""
    if root.exists() and not root.is_dir():
        raise ConfigError(f"run folder {root}: is a file, not a folder (--out / out_dir)")
    parent = root
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"run folder {root}: cannot be created ({parent} is not a writable folder)")


def folder_action(root: Path, fingerprint: str, resume: bool, force: bool) -> str:
    """'start' (nothing to keep), 'clear' (delete what is there first) or 'resume'; raises
    ConfigError when the folder cannot be used as asked."""
    _creatable(root)
    if not root.exists() or not any(p.name != LOCK_NAME for p in root.iterdir()):
        return "start"
    if force:
        return "clear"
    finished = any((root / "parts").glob("*.sha256.json"))
    if (root / SNAPSHOT).is_file() and not finished:
        return "clear"  # a run that finished nothing (it failed early): take it over
    if not resume:
        raise ConfigError(f"{root} already holds a run: pass --resume to finish it, or --force to start over")
    if (root / SNAPSHOT).is_file():
        try:
            theirs = json.loads((root / SNAPSHOT).read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError, AttributeError):
            theirs = None
        if theirs != fingerprint:
            raise ConfigError(
                f"{root} holds a run of a different config; --resume needs the same config "
                "(use --out for a new folder, or --force to start over)"
            )
    return "resume"


def clear(root: Path) -> None:
    """Delete everything in the run folder but its lock file."""
    for child in root.iterdir():
        if child.name == LOCK_NAME:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def remove_leftovers(root: Path) -> int:
    """Delete the `.<name>.tmp` files that killed atomic writes left behind; how many there were.
    Only safe under the lock: no other process is writing here."""
    leftovers = [p for p in root.rglob(".*.tmp") if p.is_file()]
    for p in leftovers:
        p.unlink()
    return len(leftovers)


def _busy(fd: int, root: Path) -> RunFolderBusy | None:
    """None after taking the lock on `fd`; the error to raise when another process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return None
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
    return RunFolderBusy(f"{root} is in use by another run (pid {holder}); wait for it to end, or use --out for another folder")


def ensure_free(root: Path) -> None:
    """Raise RunFolderBusy when another run holds the folder now (creates nothing): found before
    models are loaded or trained, not after."""
    try:
        fd = os.open(root / LOCK_NAME, os.O_RDONLY)
    except OSError:
        return  # no lock file: nobody has ever locked it
    try:
        if busy := _busy(fd, root):
            raise busy
    finally:
        os.close(fd)


@contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """Hold the run folder's lock (creating the folder) for the duration of the block."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ConfigError(f"run folder {root}: cannot be created ({e.strerror})") from None
    try:
        if busy := _busy(fd, root):
            raise busy
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
