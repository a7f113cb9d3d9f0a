"""Atomic file writes: write beside the target, fsync, then rename over it; and reads that never
follow a symbolic link or block on a FIFO.

A reader (or a resumed run) sees either the old file or the complete new one, never a
half-written file, whatever moment the process is killed at. The file gets the mode any other
new file would (0666 less the umask: 0644 under the usual 022), not mkstemp's private 0600, so a
report served from a shared folder or a web server can be read; folders follow the umask too.
A write that fails (a full disk, a folder that is a file) raises `WriteFailed`: one line naming
the file; the temporary file is removed, the old file (if any) is left as it was.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd


def _read_umask() -> int:
    """The process umask, read without changing it where Linux tells it (/proc/self/status);
    elsewhere by setting and restoring it once, at import, before any thread writes files."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()  # read once: a file's mode is 0o666 & ~UMASK, as open() would give it
FILE_MODE = 0o666 & ~UMASK


FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # a full disk, a quota, a file-size limit


class WriteFailed(RuntimeError):
    """A file could not be written (disk full, no permission, ...); the message names it."""


def write_failed(path: Path, e: OSError) -> WriteFailed:
    """The one line for a write of `path` that failed (the system's text for its errno: h5py's
    own text for a full disk runs to several lines)."""
    return WriteFailed(f"{path}: cannot be written ({os.strerror(e.errno) if e.errno else e.strerror or e})")


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """For writes that cannot go through atomic_write (Keras' own files, a lock's pid): an
    OSError in the block is WriteFailed naming `path`."""
    try:
        yield
    except OSError as e:
        raise write_failed(path, e) from None


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp_path)` and move the result to `path` in one rename."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise write_failed(path, e) from None
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)  # mkstemp made it 0600
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)  # the file mkstemp made for this call (O_EXCL): nobody else's
        if isinstance(e, OSError):
            raise write_failed(path, e) from None
        raise
    return path


def read_regular(path: Path) -> bytes:
    """A regular file's bytes, opened without following a symbolic link (ELOOP) and without
    blocking on a FIFO; OSError naming what it is otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read()
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, obj: object) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet may run as a formula (OWASP)


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy for CSV: every text cell starting with = + - @ tab or CR gets a leading apostrophe,
    so a spreadsheet shows it as text instead of running it (OWASP, CSV injection). Text such
    as a sample's file name comes from outside; numbers are left as they are."""
    out = df
    for col in df.columns:
        values = df[col]
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            risky = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS)).astype(bool)
            if risky.any():
                out = out.copy() if out is df else out
                out[col] = values.where(~risky, "'" + values[risky].astype(str))
    return out


def atomic_write_table(df: pd.DataFrame, path_without_suffix: Path, csv: bool = True) -> None:
    """Write `<name>.parquet` (raw values) and `<name>.csv` (formulas neutralised) atomically."""
    base = Path(path_without_suffix)
    atomic_write(base.with_suffix(".parquet"), lambda tmp: df.to_parquet(tmp, index=False))
    if csv:
        atomic_write(base.with_suffix(".csv"), lambda tmp: neutralise_formulas(df).to_csv(tmp, index=False))
