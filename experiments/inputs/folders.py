"""Listing a folder of images without being led out of it, and names that are always valid text.

- Files keep the name the file system gives them (a `Path`, so a name that is not valid UTF-8
  still opens); `shown_name` is the text tables, logs and the report carry: undecodable bytes
  written as `\\xff` and a backslash of the name as `\\\\`, so the text is valid UTF-8, says
  which bytes the name has, and two names never show alike (`caf\\xe9.jpg` from the bytes
  b"caf\\xe9.jpg", `caf\\\\xe9.jpg` from a name holding a backslash).
- `open_regular` opens a file for reading only when it is a regular file (a FIFO is never
  opened blocking, so it cannot hang a run; a device is never read).
- Symbolic links are not followed unless `samples.follow_symlinks: true`: a link can lead out of
  the folder (another user's files, /etc/passwd). A link with an image suffix, or one to a
  folder, is listed as skipped with that reason.
- Whatever has an image suffix but is not a regular file is skipped with the reason, never
  ignored silently: a FIFO (reading it would block forever), a socket or device, a folder named
  `x.jpg` (whose contents are still listed), a broken link, a link loop.
With `follow_symlinks: true`, links to files and folders are followed, each folder once, so a
link back up the tree ends as a skipped entry instead of a loop.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

NOT_FOLLOWED = "symbolic link, not followed (samples.follow_symlinks is false)"


def shown_name(name: str | os.PathLike) -> str:
    """The name as valid text, one text per name: bytes that are not UTF-8 written as `\\xNN`
    (the bytes Python carries as surrogates in a str decoded from the file system), and a
    backslash of the name doubled, so no name shows as another's escaped bytes."""
    return os.fsencode(name).replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


class NotRegularFile(OSError):
    """A path that is not a regular file (FIFO, socket, device, folder); the message says which."""


def _refuse_unless_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise NotRegularFile(f"{'a folder' if stat.S_ISDIR(mode) else _kind(mode)}, not an image file")


def open_regular(path: Path):
    """`path` opened for binary reading when it is a regular file: a FIFO or device is never
    opened (checked before), and the open file is checked again (nothing swapped in between;
    opened without blocking, so a FIFO swapped in cannot hang the run)."""
    _refuse_unless_regular(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        _refuse_unless_regular(os.fstat(fd).st_mode)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file (NotRegularFile for anything else, see `open_regular`)."""
    with open_regular(path) as fh:
        return fh.read()


@dataclass(frozen=True)
class Listing:
    files: list[Path]  # regular image files, sorted
    skipped: list[tuple[Path, str]]  # (entry, why it is not scored), sorted


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def list_images(folder: Path, suffixes: Collection[str], follow_symlinks: bool = False) -> Listing:
    """Every regular file below `folder` whose suffix (lower case) is in `suffixes`, and the
    entries that look like images but cannot be scored, each with its reason."""
    files, skipped = [], []
    top = os.stat(folder)
    seen = {(top.st_dev, top.st_ino)}
    pending = [Path(folder)]
    while pending:
        here = pending.pop()
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError as e:
            skipped.append((here, f"folder cannot be read ({e.strerror})"))
            continue
        for entry in entries:
            path = Path(entry.path)
            image_name = path.suffix.lower() in suffixes
            try:
                link = entry.is_symlink()
                info = os.stat(path) if link and follow_symlinks else entry.stat(follow_symlinks=False)
            except OSError as e:
                if image_name or link:
                    loop = e.errno == errno.ELOOP
                    skipped.append(
                        (
                            path,
                            "symbolic link loop"
                            if loop
                            else f"broken symbolic link ({e.strerror})"
                            if link
                            else e.strerror,
                        )
                    )
                continue
            if link and not follow_symlinks:
                if image_name or path.is_dir():
                    skipped.append((path, NOT_FOLLOWED))
                continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in seen:
                    skipped.append((path, "symbolic link loop (a link to a folder already listed)"))
                    continue
                seen.add(key)
                pending.append(path)
                if image_name:
                    skipped.append((path, "a folder, not an image file"))
            elif image_name:
                if stat.S_ISREG(info.st_mode):
                    files.append(path)
                else:
                    skipped.append((path, f"{_kind(info.st_mode)}, not an image file"))
    return Listing(sorted(files), sorted(skipped))
