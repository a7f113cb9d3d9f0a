"""Part files: the finished chunks of a run that `--resume` keeps, each with its checksum.

A chunk of samples is written to `parts/` as three files, in this order:
  <key>.skips.json    what in the chunk could not be scored, and why
  <key>.parquet       its score rows
  <key>.sha256.json   the sha256 of both, the chunk's sample ids and what the rows were made
                      from (`made_from`: the config's fingerprint, each model file's sha256,
                      each input file's sha256, read before scoring); written last, so its
                      presence means the chunk was finished
Each is written atomically. A finished part whose files are missing, unreadable, or no longer
match their checksums (truncated, emptied, edited), or that is not a regular file (a link is not
followed, a FIFO never read) is damaged: `--resume` scores its samples again after one warning
line, and assembling the tables refuses to go on without it (`IncompleteRun`, exit 1), so a run
never reports on samples it did not score. A finished, intact part whose `made_from` differs from
what the run would make it from now (a model or an input file replaced, another config) is stale:
`--resume` scores it again, and says so in one line for all of them; a part written before
`made_from` was recorded counts as stale.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
from pathlib import Path

import pandas as pd

from experiments.rundir.atomic import atomic_write_bytes, read_regular


class PartDamaged(Exception):
    """A part that cannot be used; the message says why."""


class PartStale(PartDamaged):
    """An intact part made from something that has changed since; `reasons` says what."""

    def __init__(self, reasons: list[str]):
        super().__init__(", ".join(reasons) + " changed")
        self.reasons = reasons


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


def changes(recorded: object, now: dict) -> list[str]:
    """What differs between the `made_from` a part was written with and `now`: "config",
    "model <name>" (a digest changed, a model added or gone), "input files"."""
    if not isinstance(recorded, dict):
        return ["what made it (not recorded)"]
    found = ["config"] if recorded.get("config") != now["config"] else []
    models = recorded.get("models") if isinstance(recorded.get("models"), dict) else {}
    names = sorted(models.keys() | now["models"].keys())
    found += [f"model {name}" for name in names if models.get(name) != now["models"].get(name)]
    return found + (["input files"] if recorded.get("inputs") != now["inputs"] else [])


def write_part(
    part: Path, rows: pd.DataFrame, skips: list[dict], ids: list[str], made_from: dict | None = None
) -> None:
    """Write a chunk's skip records, rows and, last, their checksums and what they were made from."""
    skips_data = (json.dumps(skips, indent=1, sort_keys=True) + "\n").encode()
    rows_data = rows.to_parquet(None, index=False)
    atomic_write_bytes(skips_path(part), skips_data)
    atomic_write_bytes(part, rows_data)
    check = {"samples": ids, "parquet_sha256": _sha256(rows_data), "skips_sha256": _sha256(skips_data)}
    check["made_from"] = made_from
    atomic_write_bytes(check_path(part), json.dumps(check, indent=1).encode())


def read_part(part: Path, ids: list[str], made_from: dict | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """A finished part's rows and skip records, verified against its checksums; PartDamaged
    (missing, unreadable, altered, or written for other samples) otherwise; PartStale when
    `made_from` is given and differs from what the part records."""
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
    if made_from is not None and (changed := changes(check.get("made_from"), made_from)):
        raise PartStale(changed)
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
