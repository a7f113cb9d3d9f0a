"""Image embeddings cached on disk, keyed by what they are of: the encoder file (its sha256), how
the image was prepared (a string naming every step, `catalogue.EncoderEntry.preprocessing`) and
the prepared pixels themselves (`pixel_key`: the sha256 of the uint8 image after resize and
crop, before normalisation). An image that is decoded, resized and cropped to the same pixels
is never run through the encoder twice.

Layout: `<root>/embeddings/<hash of encoder sha256 and preprocessing>/`, holding `about.json`
(what the folder is for) and shards `<time>-<pid>-<random>.npz`, each with `keys` (str) and
`embeddings` (float32, one row per key). One store() writes one shard, atomically (write beside,
rename), so two processes storing at once never lose or tear one another's shards; a shard that
cannot be read (damaged on disk) is skipped with a warning and removed, and its embeddings
count as misses, to be computed again. When a folder holds more than `max_shards` shards, store()
merges them into one: the merged shard is in place before the ones it holds are removed, so a
process that still expects those finds the merged one on its next look.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import time
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from experiments.rundir.atomic import atomic_write, atomic_write_json

log = logging.getLogger(__name__)

MAX_SHARDS = 64
FORMAT = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def pixel_key(pixels: np.ndarray) -> str:
    """The sha256 of an array's shape, dtype and bytes (C order): the key of prepared pixels."""
    array = np.ascontiguousarray(pixels)
    digest = hashlib.sha256(f"{array.shape}|{array.dtype.str}|".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


def cache_folder(root: Path, encoder_sha256: str, preprocessing: str) -> Path:
    """The folder of one (encoder, preprocessing) pair under the artxai cache `root`."""
    name = hashlib.sha256(f"{encoder_sha256}\n{preprocessing}".encode()).hexdigest()[:32]
    return Path(root) / "embeddings" / name


class EmbeddingCache:
    """Embeddings of one encoder and one preprocessing, by pixel key. Not for use by several
    threads at once; several processes may share a folder."""

    def __init__(self, root: Path, encoder_sha256: str, preprocessing: str, max_shards: int = MAX_SHARDS):
        if not _SHA256.fullmatch(encoder_sha256):
            raise ValueError(f"encoder_sha256: {encoder_sha256!r} is not a lowercase hex sha256")
        if not preprocessing.strip():
            raise ValueError("preprocessing: empty; name the steps that prepare an image for the encoder")
        self.about = {"format": FORMAT, "encoder_sha256": encoder_sha256, "preprocessing": preprocessing}
        self.folder = cache_folder(root, encoder_sha256, preprocessing)
        self.max_shards = max(2, max_shards)
        self._keys: dict[str, np.ndarray] = {}  # shard name -> its keys
        self._loaded: dict[str, np.ndarray] = {}  # shard name -> its embeddings, once read
        self._index: dict[str, tuple[str, int]] = {}  # key -> (shard name, row)
        self._check_about()
        self._scan()

    def __len__(self) -> int:
        return len(self._index)

    def lookup(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached embedding of each key that has one (a copy); keys without one are absent."""
        wanted = list(dict.fromkeys(keys))
        if any(key not in self._index for key in wanted):
            self._scan()  # another process may have stored them since
        found, stale = self._gather(wanted)
        if stale:  # a shard went away under us: merged by another process
            self._scan()
            found.update(self._gather([key for key in wanted if key not in found])[0])
        return found

    def store(self, items: dict[str, np.ndarray]) -> None:
        """Write `items` (key -> 1-D embedding, kept as float32) as one shard."""
        if not items:
            return
        keys = list(items)
        rows = [np.asarray(items[key], dtype=np.float32) for key in keys]
        for key, row in zip(keys, rows):
            if not isinstance(key, str) or not key:
                raise ValueError(f"embedding key {key!r}: not a non-empty string")
            if row.ndim != 1 or row.shape != rows[0].shape:
                raise ValueError(f"embedding {key}: shape {row.shape}, expected one row like {rows[0].shape}")
        if not (self.folder / "about.json").exists():
            atomic_write_json(self.folder / "about.json", self.about)
        self._write_shard(np.array(keys, dtype=str), np.stack(rows))
        if len(self._keys) > self.max_shards:
            self.compact()

    def compact(self) -> None:
        """Merge every shard into one; the old shards are removed once the merged one is in place."""
        self._scan()
        parts = {name: self._embeddings(name) for name in sorted(self._keys)}
        parts = {name: emb for name, emb in parts.items() if emb is not None}
        if len(parts) < 2:
            return
        keys = np.concatenate([self._keys[name] for name in parts])
        embeddings = np.concatenate(list(parts.values()))
        keys, first = np.unique(keys, return_index=True)
        self._write_shard(keys, embeddings[first])
        for name in parts:
            (self.folder / name).unlink(missing_ok=True)
            self._forget(name)
        self._reindex()

    def shard_count(self) -> int:
        return len(self._keys)

    def _write_shard(self, keys: np.ndarray, embeddings: np.ndarray) -> None:
        name = f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}.npz"
        atomic_write(self.folder / name, lambda tmp: _save(tmp, keys, embeddings))
        self._keys[name], self._loaded[name] = keys, embeddings
        for row, key in enumerate(keys.tolist()):
            self._index[key] = (name, row)

    def _check_about(self) -> None:
        path = self.folder / "about.json"
        try:
            about = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: unreadable ({e}); remove the folder to start it again") from None
        if about != self.about:
            raise ValueError(f"{path}: holds embeddings of {about}, not of {self.about}")

    def _scan(self) -> None:
        """Add the shards other processes have written; drop those that are gone."""
        present = {p.name for p in self.folder.glob("*.npz")} if self.folder.is_dir() else set()
        gone, new = set(self._keys) - present, sorted(present - set(self._keys))
        for name in gone:
            self._forget(name)
        for name in new:
            keys = self._read(name, "keys")
            if keys is not None:
                self._keys[name] = keys
        if gone or new:
            self._reindex()

    def _reindex(self) -> None:
        self._index = {}
        for name in sorted(self._keys):  # oldest first: a newer shard's copy of a key wins
            for row, key in enumerate(self._keys[name].tolist()):
                self._index[key] = (name, row)

    def _gather(self, keys: list[str]) -> tuple[dict[str, np.ndarray], bool]:
        by_shard: dict[str, list[tuple[str, int]]] = {}
        for key in keys:
            if key in self._index:
                shard, row = self._index[key]
                by_shard.setdefault(shard, []).append((key, row))
        found, stale = {}, False
        for shard, wanted in by_shard.items():
            embeddings = self._embeddings(shard)
            if embeddings is None:
                stale = True
                continue
            found.update({key: embeddings[row].copy() for key, row in wanted})
        return found, stale

    def _embeddings(self, name: str) -> np.ndarray | None:
        if name not in self._loaded:
            embeddings = self._read(name, "embeddings")
            if embeddings is None or len(embeddings) != len(self._keys.get(name, ())):
                if embeddings is not None:
                    self._drop_unreadable(name, "fewer or more rows than keys")
                self._forget(name)
                self._reindex()
                return None
            self._loaded[name] = embeddings
        return self._loaded[name]

    def _read(self, name: str, member: str) -> np.ndarray | None:
        """One array of a shard, checked; None when the shard is gone or cannot be read (then
        it is removed, with a warning)."""
        path = self.folder / name
        try:
            with np.load(path, allow_pickle=False) as shard:
                array = shard[member]
            if member == "keys" and not (array.ndim == 1 and array.dtype.kind == "U"):
                raise ValueError(f"keys are {array.dtype} of shape {array.shape}, not one row of text")
            if member == "embeddings" and not (array.ndim == 2 and array.dtype == np.float32):
                raise ValueError(f"embeddings are {array.dtype} of shape {array.shape}, not float32 rows")
            return array
        except FileNotFoundError:
            return None
        except _UNREADABLE as e:
            self._drop_unreadable(name, str(e) or type(e).__name__)
            return None

    def _drop_unreadable(self, name: str, cause: str) -> None:
        path = self.folder / name
        log.warning(
            "%s: unreadable embedding shard (%s), skipped and removed; its embeddings are recomputed", path, cause
        )
        path.unlink(missing_ok=True)

    def _forget(self, name: str) -> None:
        self._keys.pop(name, None)
        self._loaded.pop(name, None)


def _save(path: Path, keys: np.ndarray, embeddings: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.savez would append .npz to a name
        np.savez(fh, keys=keys, embeddings=embeddings)
