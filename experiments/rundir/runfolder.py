"""The run folder: artxai's own, one run at a time in it, and the only place it deletes.

- Marker: `<run>/.artxai-run.json` ({"artxai_run": a uuid4, "created": UTC time, "fingerprint":
  the config's}) is written atomically as soon as a run has locked a new or cleared folder,
  before anything else goes in. artxai resumes, clears (`--force`) or cleans up only a folder
  carrying it; any other non-empty folder is refused with one line, nothing touched (a model
  folder with its config.json, a home folder). A run folder made by an artxai older than the
  marker has none: `python -m experiments.rundir.runfolder adopt DIR` marks it after checking it holds
  an artxai snapshot (config.json with a fingerprint and a config).
- Deletion: `remove(root, path)` is the one function that deletes in a run folder: the folder
  carries the marker, `path` lies inside it, and no folder on the way is a symbolic link (it
  walks with O_NOFOLLOW from the run folder down; a link is removed, never followed).
- Lock: a run holds an exclusive `flock` on `<run>/.lock` from before it writes the folder until
  it ends (the kernel releases it when the process dies). A second run into the same folder,
  `--force` included, is refused with the holder's pid. The lock file is never deleted. It is
  opened with O_NOFOLLOW | O_NONBLOCK and must be a regular file with one link: a link, a FIFO
  or a hard link to another file is refused, not written through.
- Policy (`folder_action`): a folder that does not exist or is empty (at most a lock file) is
  started in; a marked folder whose run finished nothing (no part, no manifest) is taken over;
  a marked folder with finished parts needs `--resume` with the same config (the fingerprint in
  its config.json, or in its marker when that is gone), or `--force`. A folder to resume may
  hold no symbolic link, FIFO, socket or device anywhere, and its `parts` must be a folder.
  All of it is checked before the folder is created or written.
- Apart from the inputs (`check_apart`): the run folder may not lie inside an input folder (its
  own figures would be scored as samples), nor an input inside it (`--force` would delete it).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import stat
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from experiments.rundir.atomic import WriteFailed, atomic_write_json, read_regular
from experiments.config.fields import ConfigError

LOCK_NAME = ".lock"
MARKER = ".artxai-run.json"
SNAPSHOT = "config.json"
ADOPT = "python -m experiments.rundir.runfolder adopt"


class RunFolderError(ConfigError):
    """A run folder that cannot be used as asked; the message names it and says what to do."""


class RunFolderBusy(RunFolderError):
    """Another process holds the run folder's lock."""


def read_json(path: Path) -> dict:
    """A JSON object from a regular file in a run folder (never through a link, never a FIFO);
    RunFolderError naming the file when it is missing, not a regular file, or not such JSON."""
    try:
        data = json.loads(read_regular(path))
    except OSError as e:
        why = "a symbolic link, not followed" if e.errno == errno.ELOOP else e.strerror
        raise RunFolderError(f"{path}: cannot be read ({why})") from None
    except ValueError as e:
        raise RunFolderError(f"{path}: not valid JSON, truncated or damaged ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path}: not valid JSON, truncated or damaged (not an object)")
    return data


def read_marker(root: Path, name: str = MARKER, key: str = "artxai_run") -> dict | None:
    """The run folder's marker (or another folder's artxai marker `name`, holding `key`); None when
    it has none; RunFolderError when it is not one artxai wrote."""
    if not os.path.lexists(root / name):
        return None
    marker = read_json(root / name)
    if not isinstance(marker.get(key), str):
        raise RunFolderError(f"{root / name}: not an artxai marker; artxai will not clear or resume {root}")
    return marker


def write_marker(root: Path, fingerprint: str) -> dict:
    """Mark `root` as a run folder of a new run (atomically); returns the marker."""
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    marker = {"artxai_run": uuid.uuid4().hex, "created": created, "fingerprint": fingerprint}
    atomic_write_json(root / MARKER, marker)
    return marker


def _open_dir(path: Path | str, dir_fd: int | None = None) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def remove(root: Path, path: Path, marker: tuple[str, str] = (MARKER, "artxai_run")) -> None:
    """Delete `path` (a file, a link or a folder with its contents) inside the marked run folder
    `root` (or another folder artxai made, by its `marker`: file name and key); RunFolderError,
    nothing deleted, when `root` has no marker, `path` is not inside it, is the lock or the
    marker, or a folder on the way is a symbolic link."""
    rel = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(root)))
    if not rel.parts or rel.parts[0] == os.pardir or str(rel) in (LOCK_NAME, marker[0]):  # the folder itself, outside
        raise RunFolderError(f"{path}: not deleted: not inside the folder {root}")
    if read_marker(root, *marker) is None:
        raise RunFolderError(f"{path}: not deleted: {root} is not a folder artxai made (no {marker[0]})")
    try:
        fd = _open_dir(root)
    except OSError as e:
        raise RunFolderError(f"{path}: not deleted: {root} cannot be opened as a folder ({e.strerror})") from None
    try:
        for part in rel.parts[:-1]:
            try:
                inner = _open_dir(part, dir_fd=fd)
            except OSError as e:
                raise RunFolderError(f"{path}: not deleted: {part} on the way is not a folder ({e.strerror})") from None
            os.close(fd)
            fd = inner
        if stat.S_ISDIR(os.stat(rel.name, dir_fd=fd, follow_symlinks=False).st_mode):
            shutil.rmtree(rel.name, dir_fd=fd)  # descends by file descriptor, never through a link
        else:
            os.unlink(rel.name, dir_fd=fd)
    finally:
        os.close(fd)


def clear(root: Path) -> None:
    """Delete everything in the marked run folder but its lock file and marker."""
    for name in sorted(os.listdir(root)):
        if name not in (LOCK_NAME, MARKER):
            remove(root, root / name)


def remove_leftovers(root: Path) -> int:
    """Delete the `.<name>.tmp` files that killed atomic writes left behind; how many there were.
    Only safe under the lock: no other process is writing here. Links are not followed."""
    leftovers = []
    for here, _, files in os.walk(root):  # os.walk does not descend into linked folders
        leftovers += [Path(here, f) for f in files if f.startswith(".") and f.endswith(".tmp")]
    for p in leftovers:
        remove(root, p)
    return len(leftovers)


def _creatable(root: Path) -> None:
    """Raise RunFolderError when `root` is a link, a file or cannot be made (checked without making it)."""
    if root.is_symlink():
        raise RunFolderError(f"run folder {root}: is a symbolic link; give the folder itself (--out / out_dir)")
    if root.exists() and not root.is_dir():
        raise RunFolderError(f"run folder {root}: is a file, not a folder (--out / out_dir)")
    parent = root
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise RunFolderError(f"run folder {root}: cannot be created ({parent} is not a writable folder)")


def _empty(root: Path) -> bool:
    """Nothing in it but, at most, a lock file a run left (a regular file holding a pid or nothing)."""
    names = os.listdir(root)
    if names != [LOCK_NAME]:
        return not names
    info = os.lstat(root / LOCK_NAME)
    if not stat.S_ISREG(info.st_mode) or info.st_size > 32:
        return False
    pid = read_regular(root / LOCK_NAME).strip()
    return pid == b"" or pid.isdigit()


def _not_artxai(root: Path) -> RunFolderError:
    snapshot = root / SNAPSHOT
    older = not snapshot.is_symlink() and {"fingerprint", "config"} <= set(_json_or_empty(snapshot))
    hint = f"; if an older artxai made it, `{ADOPT} {root}` marks it" if older else ""
    return RunFolderError(
        f"{root}: not empty and not an artxai run folder (no {MARKER}); nothing was touched: "
        f"choose another --out, or empty it yourself{hint}"
    )


def _json_or_empty(path: Path) -> dict:
    try:
        return read_json(path)
    except RunFolderError:
        return {}


def check_contents(root: Path) -> None:
    """Raise RunFolderError naming the first symbolic link or special file below `root`, or a
    `parts` that is not a folder: artxai never opens such an entry in a run folder."""
    if os.path.lexists(root / "parts") and not stat.S_ISDIR(os.lstat(root / "parts").st_mode):
        raise RunFolderError(f"{root / 'parts'}: not a folder; this run folder is damaged: --force starts over")
    for here, folders, files in os.walk(root):
        for name in folders + files:
            mode = os.lstat(os.path.join(here, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
                where = os.path.join(here, name)
                what = "artxai never opens one in a run folder: remove it, or --force to start over"
                raise RunFolderError(f"{where}: {kind}; {what}")


def folder_action(root: Path, fingerprint: str, resume: bool, force: bool) -> str:
    """'start' (nothing there), 'clear' (a marked folder: delete what is there first) or
    'resume'; raises RunFolderError when the folder cannot be used as asked."""
    _creatable(root)
    if not root.exists() or _empty(root):
        return "start"
    marker = read_marker(root)
    if marker is None:
        raise _not_artxai(root)
    if force:
        return "clear"
    parts = root / "parts"
    finished = parts.is_dir() and not parts.is_symlink() and any(n.endswith(".sha256.json") for n in os.listdir(parts))
    parts_usable = not os.path.lexists(parts) or (parts.is_dir() and not parts.is_symlink())
    if not finished and parts_usable and not os.path.lexists(root / "manifest.json"):
        return "clear"  # a run that finished nothing (it failed early): take it over
    if not resume:
        raise RunFolderError(f"{root} already holds a run: pass --resume to finish it, or --force to start over")
    check_contents(root)
    snapshot = read_json(root / SNAPSHOT) if os.path.lexists(root / SNAPSHOT) else marker  # both say the config's
    theirs = snapshot.get("fingerprint")
    if theirs != fingerprint:
        raise RunFolderError(
            f"{root} holds a run of a different config; --resume needs the same config "
            "(use --out for a new folder, or --force to start over)"
        )
    return "resume"


def _lock_fd(root: Path, flags: int) -> int | None:
    """The lock file opened without following a link or blocking on a FIFO; None when there is
    none (and `flags` does not create it); RunFolderError when it is not a plain file of its own."""
    try:
        folder = _open_dir(root)
    except OSError as e:
        raise RunFolderError(f"run folder {root}: cannot be opened as a folder ({e.strerror})") from None
    try:
        fd = os.open(LOCK_NAME, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644, dir_fd=folder)
    except OSError as e:
        if e.errno == errno.ENOENT and not flags & os.O_CREAT:
            return None
        why = "a symbolic link, not followed" if e.errno == errno.ELOOP else e.strerror
        raise RunFolderError(f"{root / LOCK_NAME}: cannot be used as the run's lock ({why}); remove it") from None
    finally:
        os.close(folder)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(info.st_mode) else "a hard link to another file"
        raise RunFolderError(f"{root / LOCK_NAME}: cannot be used as the run's lock ({what}); remove it")
    return fd


def _busy(fd: int, root: Path) -> RunFolderBusy | None:
    """None after taking the lock on `fd`; the error to raise when another process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return None
    except OSError as e:
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
    return RunFolderBusy(
        f"{root} is in use by another run (pid {holder}); wait for it to end, or use --out for another folder"
    )


def ensure_free(root: Path) -> None:
    """Raise RunFolderBusy when another run holds the folder now, RunFolderError when its lock
    is not a plain file (creates nothing): found before models are loaded or trained, not after."""
    if not root.is_dir() or root.is_symlink():
        return  # nobody has ever locked it (a link or a file is refused by folder_action)
    fd = _lock_fd(root, os.O_RDONLY)
    if fd is None:
        return
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
    except OSError as e:
        raise RunFolderError(f"run folder {root}: cannot be created ({e.strerror})") from None
    fd = _lock_fd(root, os.O_RDWR | os.O_CREAT)
    try:
        if busy := _busy(fd, root):
            raise busy
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:
            raise WriteFailed(f"{root / LOCK_NAME}: cannot be written ({e.strerror})") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def input_paths(cfg) -> list[tuple[str, Path, bool]]:
    """(field, path, is a folder) for every path a config reads from."""
    found = [("assets.mirror", cfg.assets.mirror, True), ("assets.cache_dir", cfg.assets.cache_dir, True)]
    sets = [("samples", cfg.samples)]
    sets += [(f"eval_sets[{e.name}].samples", e.samples) for e in cfg.eval_sets or [] if e.samples]
    for field, s in sets:
        manifest = Path(s.manifest) if s.manifest and os.sep in s.manifest else None
        found += [(f"{field}.folder", s.folder, True), (f"{field}.manifest", manifest, False)]
        found.append((f"{field}.dataset.root", s.dataset.root if s.dataset else None, True))
    for m in cfg.models:
        found.append((f"models[{m.name}].path", m.path, False))
        found.append((f"models[{m.name}].train.dataset.root", m.train.dataset.root if m.train else None, True))
    return [(field, Path(path), folder) for field, path, folder in found if path is not None]


def check_apart(root: Path, cfg) -> None:
    """Raise RunFolderError when the run folder lies inside an input folder (its own outputs
    would be read as inputs) or an input lies inside the run folder (--force would delete it)."""
    run = Path(os.path.realpath(root))
    for field, path, folder in input_paths(cfg):
        where = Path(os.path.realpath(path))
        if folder and run.is_relative_to(where):
            why = "its outputs would be read as inputs; choose an --out outside it"
            raise RunFolderError(f"run folder {root} lies inside {field} {path}: {why}")
        if where.is_relative_to(run):
            why = "--force could delete it; choose an --out elsewhere"
            raise RunFolderError(f"{field} {path} lies inside the run folder {root}: {why}")


def adopt(root: Path) -> int:
    """Mark a run folder an artxai older than the marker made (it holds config.json with a
    fingerprint and a config), so that --resume, --force and clean-up may act on it."""
    if read_marker(root) is not None:
        print(f"{root}: already marked as an artxai run folder")
        return 0
    snapshot = _json_or_empty(root / SNAPSHOT) if root.is_dir() and not root.is_symlink() else {}
    if not {"fingerprint", "config"} <= set(snapshot):
        why = "no artxai snapshot (config.json with a fingerprint and a config)"
        print(f"error: {root}: {why}; not marked", file=sys.stderr)
        return 2
    with run_lock(root):
        write_marker(root, snapshot["fingerprint"])
    print(f"{root}: marked as an artxai run folder ({MARKER})")
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m experiments.rundir.runfolder", description=adopt.__doc__.split(",")[0]
    )
    parser.add_argument("command", choices=["adopt"])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        return adopt(args.run_dir)
    except RunFolderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
