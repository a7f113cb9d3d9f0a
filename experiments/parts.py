"""Part files: the finished chunks of a run that `--resume` keeps, each with its checksum.

A chunk of samples is written to `parts/` as three files, in this order:
  <key>.skips.json    what in the chunk could not be scored, and why
  <key>.parquet       its score rows
  <key>.sha256.json   the sha256 of both and the chunk's sample ids; written last, so its
                      presence means the chunk was finished
Each is written atomically. A finished part whose files are missing, unreadable, or no longer
match their checksums (truncated, emptied, edited), or that is not a regular file (a link is not
followed, a FIFO never read) is damaged: `--resume` scores its samples again after one warning
line, and assembling the tables refuses to go on without it (`IncompleteRun`, exit 1), so a run
never reports on samples it did not score.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
from pathlib import Path

import pandas as pd

from experiments.atomic import atomic_write_bytes, read_regular


class PartDamaged(Exception):
    """A part that cannot be used; the message says why."""


class IncompleteRun(RuntimeError):
    """Parts that should be there are missing or damaged; the message names them."""


def check_path(part: Path) -> Path:
    return part.with_suffix(".sha256.json")


def skips_path(part: Path) -> Path:
    return part.with_suffix(".skips.json")


def finished(part: Path) -> bool:
    """Whether the chunk was finished once (its checksum file exists), intact or not."""
    return check_path(part).is_file()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_part(part: Path, rows: pd.DataFrame, skips: list[dict], ids: list[str]) -> None:
    """Write a chunk's skip records, rows and, last, their checksums."""
    skips_data = (json.dumps(skips, indent=1, sort_keys=True) + "\n").encode()
    rows_data = rows.to_parquet(None, index=False)
    atomic_write_bytes(skips_path(part), skips_data)
    atomic_write_bytes(part, rows_data)
    check = {"samples": ids, "parquet_sha256": _sha256(rows_data), "skips_sha256": _sha256(skips_data)}
    atomic_write_bytes(check_path(part), json.dumps(check, indent=1).encode())


def read_part(part: Path, ids: list[str]) -> tuple[pd.DataFrame, list[dict]]:
    """A finished part's rows and skip records, verified against its checksums; PartDamaged
    (missing, unreadable, altered, or written for other samples) otherwise."""
    if not finished(part):
        raise PartDamaged("missing" if not part.is_file() else "its checksum file is missing")
    try:
        check = json.loads(read_regular(check_path(part)))
        expected = {part: check["parquet_sha256"], skips_path(part): check["skips_sha256"]}
        samples = check["samples"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PartDamaged(f"its checksum file is unreadable ({type(e).__name__})") from None
    if samples != ids:
        raise PartDamaged("written for other samples")
    data = {}
    for (path, digest), what in zip(expected.items(), ("its rows", "its skip records")):
        try:
            data[path] = read_regular(path)  # never through a link, never blocking on a FIFO
        except OSError as e:
            why = "are missing" if e.errno == errno.ENOENT else f"cannot be read ({e.strerror})"
            raise PartDamaged(f"{what} {why}") from None
        if _sha256(data[path]) != digest:
            raise PartDamaged(f"{what} do not match their checksum ({len(data[path])} bytes)")
    try:
        return pd.read_parquet(io.BytesIO(data[part])), json.loads(data[skips_path(part)])
    except Exception as e:  # checksums matched, so the files were written this way: still say so
        raise PartDamaged(f"unreadable ({type(e).__name__})") from None
