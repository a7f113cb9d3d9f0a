"""Fingerprints of the files a number was made from: each file's digest is the sha256 of its
content as a decoder would read it (links followed), opened so that it never blocks: a FIFO,
device or folder gets a text that says what it is instead, which compares unequal to any digest,
and is never read. A model's training fingerprint, built on these, is in
experiments.models.training_fingerprint.

Checksums detect damage and mistakes (a file replaced, a dataset changed), not forgery: whoever
can write the model file can write its card too.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def file_sha256(path: Path) -> str:
    """The sha256 of a regular file's content; for anything else a text naming what it is
    ("missing", "not a regular file", "unreadable (...)"), which never equals a digest."""
    return sized_sha256(path)[1]


def sized_sha256(path: Path) -> tuple[int, str]:
    """(size, file_sha256) from one open; size -1 when it is not a readable regular file."""
    size, digest, _ = read_sha256(path, 0)
    return size, digest


def read_sha256(path: Path, keep: int) -> tuple[int, str, bytes | None]:
    """sized_sha256 and, for a regular file of at most `keep` bytes, the bytes it hashed (else None)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return -1, "missing", None
    except OSError as e:
        return -1, f"unreadable ({e.strerror})", None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return -1, "not a regular file", None
        if info.st_size <= keep:  # read whole, without a file object: a dataset of tiny files pays it per file
            chunks = [os.read(fd, info.st_size + 1)]
            while chunks[-1]:  # to the end of the file, as it is now (not kept if it changed since fstat)
                chunks.append(os.read(fd, 1 << 16))
            data = b"".join(chunks)
            return info.st_size, hashlib.sha256(data).hexdigest(), data if len(data) == info.st_size else None
        digest = hashlib.sha256()
        while block := os.read(fd, 1 << 20):
            digest.update(block)
        return info.st_size, digest.hexdigest(), None
    except OSError as e:
        return -1, f"unreadable ({e.strerror})", None
    finally:
        os.close(fd)


def input_digests(samples) -> dict[str, str | None]:
    """Each sample's (experiments.inputs.samples.Sample) file digest by id; None for a sample that has no
    file. Hashing CIFAKE's 2,000 test images takes 0.4 s from a cold disk, the study's 66 0.014 s."""
    return {s.id: None if s.path is None else file_sha256(s.path) for s in samples}


SMALL_FILE = 1 << 16  # bytes: an input file this small is kept from its digest for its decoding
SMALL_FILES_BUDGET = 1 << 28  # bytes of such files kept in all


def input_digests_and_bytes(
    samples, pool=None, workers: int = 1, keep: int = SMALL_FILE
) -> tuple[dict[str, str | None], dict[str, bytes]]:
    """input_digests, and the bytes of the small files (up to `keep` bytes each, SMALL_FILES_BUDGET in
    all) by sample id: the very bytes hashed, which scoring decodes instead of opening the file again
    (a dataset of tiny JPEGs pays the opening per image). `pool`: its `workers` threads read slices."""
    with_file = [s for s in samples if s.path is not None]
    step = max(1, -(-len(with_file) // (2 * workers)))
    slices = [with_file[i : i + step] for i in range(0, len(with_file), step)]
    read = lambda part: [read_sha256(s.path, keep) for s in part]  # noqa: E731
    found = [r for part in (pool.map(read, slices) if pool is not None else map(read, slices)) for r in part]
    digests = dict.fromkeys((s.id for s in samples), None)
    contents, kept = {}, 0
    for s, (size, digest, data) in zip(with_file, found):
        digests[s.id] = digest
        if data is not None and kept + size <= SMALL_FILES_BUDGET:
            contents[s.id], kept = data, kept + size
    return digests, contents
