"""What a finished run records about itself: `manifest.json` (config fingerprint, versions, models,
tables, counts, sample ids and paths, each stage's seconds), written once, when the run ends, and
the model cards beside its tables. The run folder's marker (`.artxai-run.json`) and the part
files' checksums are what `--resume` needs before then (experiments.rundir.runfolder, parts)."""

from __future__ import annotations

import json
import platform
import shutil
import time
from importlib import metadata
from pathlib import Path

import pandas as pd

from experiments.config.schema import RunConfig
from experiments.inputs.assets import known_blob_ids
from experiments.inputs.samples import Sample
from experiments.models.detector import Detector
from experiments.models.training_folder import card_path, training_dir
from experiments.rundir.atomic import atomic_write, atomic_write_json
from experiments.context import Timings

PACKAGES = ["artxai", "tensorflow", "keras", "numpy", "albumentations", "pillow", "pandas", "pyarrow", "pydantic"]


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def model_cards(detectors: list[Detector], blob_ids: dict[str, str]) -> dict[str, dict]:
    """Per model: its training card when it has one (trained by artxai), else what is known."""
    cards = {}
    for d in detectors:
        card = card_path(d.trained_file())
        known = (
            json.loads(card.read_text()) if card.is_file() else {"note": "not trained by artxai: no training record"}
        )
        cards[d.name] = d.metadata() | {"git_blob_sha1": blob_ids.get(d.name)} | known
    return cards


def write_model_cards(
    run_dir: Path,
    detectors: list[Detector],
    blob_ids: dict[str, str],
    evaluation: pd.DataFrame,
    trained_on: dict[str, list[str] | None] | None = None,
) -> None:
    """models/<name>.model_card.json with this run's test numbers and the generators the model
    was trained on (`trained_on`, when known: experiments.stages.generators), and the training
    history's figure when the model has one."""
    cards = model_cards(detectors, blob_ids)
    for d in detectors:
        if (trained_on or {}).get(d.name) is not None:
            cards[d.name]["trained_on_generators"] = trained_on[d.name]
        if len(evaluation):  # this run's test numbers join the card the report shows
            cards[d.name]["evaluation"] = (
                evaluation[evaluation["model"] == d.name].drop(columns="model").to_dict("records")
            )
        atomic_write_json(run_dir / "models" / f"{d.name}.model_card.json", cards[d.name])
        history = training_dir(d.trained_file()) / "history.png"
        if history.is_file():
            atomic_write(run_dir / "figures" / f"history_{d.name}.png", lambda tmp, h=history: shutil.copyfile(h, tmp))


def stage_timings(timings: Timings, started: float) -> dict[str, dict[str, float]]:
    """Manifest fields: each stage's wall seconds so far, what no stage accounts for and the
    total (they add up to the run's time), and the parts inside stages."""
    total = time.perf_counter() - started
    other = max(0.0, total - sum(timings.seconds.values()))
    return {
        "timings_s": {k: round(v, 3) for k, v in timings.seconds.items()}
        | {"other": round(other, 3), "total": round(total, 3)},
        "stage_parts_s": {k: round(v, 3) for k, v in timings.phases.items()},
    }


def manifest(
    cfg: RunConfig,
    detectors: list[Detector],
    blob_ids: dict[str, str],
    samples: list[Sample],
    tables: list[str],
    counts: dict[str, int],
) -> dict:
    """manifest.json's fields but the timings (stage_timings adds those)."""
    return {
        "run": cfg.name,
        "seed": cfg.seed,
        "fingerprint": cfg.fingerprint(),
        "versions": versions(),
        "models": [d.metadata() | {"git_blob_sha1": blob_ids.get(d.name)} for d in detectors],
        "tables": tables,
        "models_unavailable": [m.name for m in cfg.models if m.name not in {d.name for d in detectors}],
        "sample_blob_ids": {s.id: known_blob_ids().get(s.id) for s in samples} if cfg.samples.from_seed_assets else {},
        "sample_paths": {s.id: str(s.path) if s.path else None for s in samples},
        "counts": counts,
    }


def as_written(fields: dict) -> dict:
    """The manifest as a reader of manifest.json sees it (keys sorted, values as JSON), for the
    report built before the file is written."""
    return json.loads(json.dumps(fields, sort_keys=True, default=str))
