"""A finished run as the report reads it (`ReportRun`): its manifest (checked), its scores and
the other tables the page shows, its config snapshot, and the report folder the page sections
write their figures into. Read from the run folder alone, so a report can be made again at any time.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from augment import IDENTITY
from experiments.rundir.atomic import atomic_write
from experiments.rundir.runfolder import RunFolderError, read_json

# the run's tables the index page reads besides `scores` (a section reads any other itself)
PAGE_TABLES = [
    "summary", "minimal_flip", "minimal_flip_curve", "evaluation_metrics", "evaluation_groups", "explanation_summary",
    "explanation_vs_random",
]  # fmt: skip
MANIFEST_FIELDS = {"run", "fingerprint", "models", "counts", "versions"}


def read_table(run_dir: Path, name: str) -> pd.DataFrame | None:
    path = run_dir / f"{name}.parquet"
    return pd.read_parquet(path) if path.is_file() else None


@dataclass
class ReportRun:
    """What every page section reads: the run folder, its manifest, scores and PAGE_TABLES, the
    bootstrap resamples, and (once the subject pages are written) each sample's page."""

    run_dir: Path
    manifest: dict
    scores: pd.DataFrame
    tables: dict[str, pd.DataFrame | None]
    resamples: int
    pages: dict[str, str] = field(default_factory=dict)

    @property
    def report(self) -> Path:
        return self.run_dir / "report"

    @property
    def img(self) -> Path:
        return self.report / "img"

    @property
    def seed(self) -> int:
        return self.manifest.get("seed", 0)

    @property
    def models(self) -> dict[str, int]:
        """Each model's input size by name, in the manifest's order."""
        return {m["name"]: m["input_size"] for m in self.manifest["models"]}

    @property
    def edited(self) -> bool:
        return bool((self.scores["variant"] != IDENTITY).any())

    @property
    def flips(self) -> pd.DataFrame:
        found = self.tables["minimal_flip"]
        return found if found is not None else pd.DataFrame(columns=["model", "correct_unedited"])

    @property
    def curve(self) -> pd.DataFrame:
        found = self.tables["minimal_flip_curve"]
        return found if found is not None else pd.DataFrame()

    @cached_property
    def snapshot(self) -> dict:
        """The run's config as it ran (config.json), {} when the folder has none."""
        path = self.run_dir / "config.json"
        return read_json(path).get("config", {}) if path.is_file() else {}

    def figure(self, src: Path, alt: str, caption: str | None = None) -> dict[str, str]:
        """A figure for the templates; caption "" for one whose picture carries its own title."""
        return {
            "src": src.relative_to(self.report).as_posix(),
            "alt": alt,
            "caption": alt if caption is None else caption,
        }

    def copy(self, src: Path, dst: Path) -> Path:
        """A picture of the run copied into the report folder."""
        atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))
        return dst


def load_run(run_dir: Path, resamples: int, manifest: dict | None = None) -> ReportRun:
    """The run in `run_dir`; `manifest` as manifest.json will hold it, when the runner builds the
    report before writing manifest.json (it is written once, last); else read from the folder.
    RunFolderError (one line) for a damaged manifest, FileNotFoundError without scores."""
    run_dir = Path(run_dir).resolve()
    if manifest is None:
        manifest = read_json(run_dir / "manifest.json")  # RunFolderError, one line, when damaged
    if missing := sorted(MANIFEST_FIELDS - set(manifest)):
        fields = ", ".join(missing)
        raise RunFolderError(f"{run_dir / 'manifest.json'}: damaged (no {fields}); run its config again with --resume")
    scores = read_table(run_dir, "scores")
    if scores is None or scores.empty:
        raise FileNotFoundError(f"{run_dir}: no scores table; is this a finished run folder?")
    return ReportRun(run_dir, manifest, scores, {name: read_table(run_dir, name) for name in PAGE_TABLES}, resamples)
