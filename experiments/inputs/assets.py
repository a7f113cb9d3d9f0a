"""The study's files, resolved by their path in its public repository and verified.

A file is looked for, in order:
1. in a local mirror folder laid out like the repository (config `assets.mirror`, or the
   environment variable ARTXAI_SEED_MIRROR);
2. in the user cache (ARTXAI_CACHE, default ~/.cache/artxai/<commit>/...);
3. by downloading its raw file from `assets.base_url` into the cache.
Every file is checked against its git blob id (sha1 of "blob <size>\\0" + content) before use.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from experiments.rundir.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

STUDY_REPO = "nibrassajjad/AI-art-vs-non-AI-art"
STUDY_COMMIT = "108f355e1b6d25fe2c46f97f3d72d7f35bc69c71"
DEFAULT_BASE_URL = f"https://raw.githubusercontent.com/{STUDY_REPO}/{STUDY_COMMIT}/"
MIRROR_ENV = "ARTXAI_SEED_MIRROR"
CACHE_ENV = "ARTXAI_CACHE"


class AssetError(RuntimeError):
    """A study file that cannot be had, or whose content is not the study's."""


@dataclass(frozen=True)
class Asset:
    repo_path: str  # path inside the study's repository
    local_path: Path
    blob_id: str
    source: str  # "mirror", "cache" or "download"


@functools.cache
def known_blob_ids() -> dict[str, str]:
    """Repository path -> git blob id, for every study file the project uses (package data)."""
    text = resources.files("experiments.data").joinpath("seed_files.tsv").read_text()
    return {row["path"]: row["git_blob_sha1"] for row in csv.DictReader(text.splitlines(), delimiter="\t")}


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def default_cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "artxai"
    return Path(root) / STUDY_COMMIT


def mirror_from_env() -> Path | None:
    value = os.environ.get(MIRROR_ENV, "").strip()
    return Path(value) if value else None


@dataclass(frozen=True)
class AssetResolver:
    mirror: Path | None = None
    cache_dir: Path | None = None
    base_url: str | None = DEFAULT_BASE_URL  # None: never download
    timeout_s: float = 30.0

    def resolve(self, repo_path: str) -> Asset:
        """Return the verified local copy of `repo_path`, fetching it when needed."""
        blob_id = known_blob_ids().get(repo_path)
        if blob_id is None:
            raise AssetError(f"{repo_path}: not a file of the study's repository that artxai knows")
        cache_path = (self.cache_dir or default_cache_dir()) / repo_path
        tried = []
        if self.mirror is not None:
            candidate = self.mirror / repo_path
            if candidate.is_file():
                if not self._verify(candidate, blob_id):
                    raise AssetError(
                        f"{candidate}: content does not match the study's {repo_path} "
                        f"(git blob id {blob_id}); replace it with the original file"
                    )
                return Asset(repo_path, candidate, blob_id, "mirror")
            tried.append(f"not in mirror {self.mirror}")
        if cache_path.is_file():
            if self._verify(cache_path, blob_id):
                return Asset(repo_path, cache_path, blob_id, "cache")
            log.warning("%s: cached copy is corrupt, fetching it again", repo_path)
            cache_path.unlink()
        if self.base_url:
            error = self._download(repo_path, blob_id, cache_path)
            if error is None:
                return Asset(repo_path, cache_path, blob_id, "download")
            tried.append(error)
        else:
            tried.append("downloads are off")
        raise AssetError(
            f"{repo_path}: unavailable ({'; '.join(tried)}). Supply it by pointing {MIRROR_ENV} "
            f"(or assets.mirror) at a copy of {STUDY_REPO} at commit {STUDY_COMMIT[:10]}, "
            f"or place the file at {cache_path}"
        )

    @staticmethod
    def _verify(path: Path, blob_id: str) -> bool:
        return git_blob_id(path.read_bytes()) == blob_id

    def _download(self, repo_path: str, blob_id: str, dest: Path) -> str | None:
        """Fetch into `dest` atomically; return None on success, else why it failed."""
        url = self.base_url.rstrip("/") + "/" + urllib.parse.quote(repo_path)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                data = response.read()
        except urllib.error.HTTPError as e:
            return f"download from {url} failed: HTTP {e.code} {e.reason}"
        except (urllib.error.URLError, OSError) as e:
            return f"download from {url} failed: {getattr(e, 'reason', e)}"
        if git_blob_id(data) != blob_id:
            return f"download from {url} refused: content does not match git blob id {blob_id}"
        atomic_write_bytes(dest, data)
        log.info("downloaded %s (%d bytes, verified)", repo_path, len(data))
        return None
