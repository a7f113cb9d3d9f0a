"""The explanation stage's cache: each map set (one model x method on one sample's chosen
variants) under a key of everything that changes its result, so a rerun or a resumed run skips it.

  maps                                   -> explain/maps/<key>.npz
  sanity rows                            -> explain/parts/<key>_sanity.parquet
  rows                                   -> explain/parts/<key>.parquet
The rows file is written last: its presence means the map set is done.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from augment import Variant
from experiments.config.sections import ExplainConfig
from experiments.models.detector import Detector
from experiments.rundir.atomic import atomic_write

log = logging.getLogger("artxai")

# a map set as the cache holds it: maps, rows, sanity rows
CachedMapSet = tuple[np.ndarray, pd.DataFrame, pd.DataFrame]


def save_maps(path: Path, maps: np.ndarray) -> None:
    with open(path, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
        np.savez_compressed(fh, maps=maps.astype(np.float32))


def file_digest(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:16]


def model_digest(detector: Detector) -> str:
    """What the cache keys a model by: its file's digest, or for a detector of several files (an
    encoder and a head) the digest of them all that it carries."""
    source = Path(detector.source)
    return file_digest(source) if source.is_file() else detector.digest[:16]


def map_set_key(
    sample_id: str, detector_digest: str, detector: Detector, method: str, variants: list[Variant], cfg: ExplainConfig,
    seed: int,
) -> str:  # fmt: skip
    settings = {
        "sample": sample_id,
        "model": [detector.name, detector_digest],
        "method": method,
        "variants": [v.id for v in variants],
        "seed": seed,
        "target": cfg.target,
        "top_fraction": cfg.top_fraction,
        "steps": cfg.faithfulness_steps,
        "sanity": cfg.sanity,
        "faithfulness": "probability+logit",  # rows record both curves' AUCs
        "maps": "raw",  # each method's own values (LIME signed), not rescaled per image
        "lime": [cfg.lime_samples, cfg.lime_segments, cfg.display_size] if method == "lime" else None,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]


@dataclass
class MapCache:
    """A run's cache of map sets: where they lie and the key of each."""

    run_dir: Path
    cfg: ExplainConfig
    seed: int
    detectors: dict[str, Detector]
    digests: dict[str, str]

    @classmethod
    def of_run(cls, run_dir: Path, cfg: ExplainConfig, seed: int, detectors: list[Detector]) -> MapCache:
        digests = {d.name: model_digest(d) for d in detectors}
        return cls(run_dir, cfg, seed, {d.name: d for d in detectors}, digests)

    @property
    def rows_dir(self) -> Path:
        return self.run_dir / "explain" / "parts"

    @property
    def maps_dir(self) -> Path:
        return self.run_dir / "explain" / "maps"

    def key(self, sample_id: str, model: str, method: str, variants: list[Variant]) -> str:
        detector = self.detectors[model]
        return map_set_key(sample_id, self.digests[model], detector, method, variants, self.cfg, self.seed)

    def load(self, key: str, n_variants: int) -> CachedMapSet | None:
        """A finished map set's maps, rows and sanity rows; None when it is not there, or when it
        is damaged (truncated, emptied, not matching its variants): then one warning line, and
        the caller computes it again."""
        rows_file, maps_file = self.rows_dir / f"{key}.parquet", self.maps_dir / f"{key}.npz"
        if not (rows_file.is_file() and maps_file.is_file()):
            return None
        try:
            maps, rows = np.load(maps_file)["maps"], pd.read_parquet(rows_file)
            sanity = pd.read_parquet(self.rows_dir / f"{key}_sanity.parquet")
            if len(maps) != n_variants or len(rows) != n_variants:
                raise ValueError(f"{len(maps)} maps and {len(rows)} rows for {n_variants} images")
        except Exception as e:  # whatever a damaged file raises (zip, parquet, npz errors)
            why = " ".join(str(e).split())[:200]
            log.warning("explain cache %s is damaged (%s: %s): computing it again", key, type(e).__name__, why)
            return None
        return maps, rows, sanity

    def save(self, key: str, maps: np.ndarray, rows: pd.DataFrame, sanity: pd.DataFrame) -> None:
        """The map set's files, the rows file last: its presence means the map set is done."""
        atomic_write(self.maps_dir / f"{key}.npz", lambda tmp: save_maps(tmp, maps))
        atomic_write(self.rows_dir / f"{key}_sanity.parquet", lambda tmp: sanity.to_parquet(tmp, index=False))
        atomic_write(self.rows_dir / f"{key}.parquet", lambda tmp: rows.to_parquet(tmp, index=False))
