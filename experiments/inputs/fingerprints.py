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
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return -1, "missing"
    except OSError as e:
        return -1, f"unreadable ({e.strerror})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return -1, "not a regular file"
        digest = hashlib.sha256()
        with os.fdopen(fd, "rb", closefd=False) as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
        return info.st_size, digest.hexdigest()
    except OSError as e:
        return -1, f"unreadable ({e.strerror})"
    finally:
        os.close(fd)


def input_digests(samples) -> dict[str, str | None]:
    """Each sample's (experiments.inputs.samples.Sample) file digest by id; None for a sample that has no
    file. Hashing CIFAKE's 2,000 test images takes 0.4 s from a cold disk, the study's 66 0.014 s."""
    return {s.id: None if s.path is None else file_sha256(s.path) for s in samples}
