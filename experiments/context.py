"""What every stage of a run shares, and nothing else: `RunContext` (config, paths, timings,
samples, detectors, the tables kept so far), `Timings` (wall seconds per stage and per phase),
`RunPaths` (where a run's files lie) and `write_tables`, the one writer of a run's tables. A leaf:
it imports no stage, the runner or the report; stages, the runner, the preflight, the console and
the manifest import it."""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from experiments.config.schema import RunConfig
from experiments.inputs.assets import AssetResolver
from experiments.inputs.images import DecodePolicy, decode_policy
from experiments.inputs.samples import Sample
from experiments.models.detector import Detector
from experiments.rundir.atomic import atomic_write, atomic_write_table, neutralise_formulas

WIDE = "_wide"  # a table named <name>_wide is a view for spreadsheets: CSV alone, two decimals, not listed


@dataclass
class Timings:
    """Wall seconds per stage of a run (they add up to the run's time), and seconds per phase
    inside a stage (explanations: per method family, faithfulness, pictures; scoring: decode,
    edit, predict), which may overlap where phases run on threads (manifest: `stage_parts_s`)."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    phases: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] += time.perf_counter() - started

    def phase(self, name: str, started: float) -> None:
        self.phases[name] += time.perf_counter() - started


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def parts(self) -> Path:
        return self.root / "parts"

    def part(self, chunk: list[Sample]) -> Path:
        """The file holding a chunk of samples' rows, named by a hash of their ids."""
        ids = "\n".join(s.id for s in chunk).encode("utf-8", "surrogateescape")  # any name, even not UTF-8
        return self.parts / (hashlib.sha1(ids).hexdigest()[:16] + ".parquet")


def write_tables(run_dir: Path, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The one writer of a run's tables: each `<name>.parquet` and `<name>.csv` (formulas
    neutralised), atomically (experiments.rundir.atomic); a wide view (`<name>_wide`) as CSV
    alone, two decimals. Returns `tables`."""
    for name, table in tables.items():
        if name.endswith(WIDE):
            write = lambda tmp, t=table: neutralise_formulas(t).to_csv(tmp, index=False, float_format="%.2f")  # noqa: E731
            atomic_write(run_dir / f"{name}.csv", write)
        else:
            atomic_write_table(table, run_dir / name)
    return tables


@dataclass
class RunContext:
    """What the stages of one run share. `tables`: every table written so far, by name;
    `listed`: the names manifest.json lists, in the order they were written; `part_size`:
    samples per part file (experiments.stages.scoring.driver.chosen_part_size)."""

    cfg: RunConfig
    paths: RunPaths
    timings: Timings
    started: float  # perf_counter at the process's start: the manifest's total is timed from here
    samples: list[Sample]
    detectors: list[Detector]
    model_blob_ids: dict[str, str]
    part_size: int
    resolver: AssetResolver  # the study's files (experiments.preflight.resolver_for)
    retrain: bool = False
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    listed: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    wrote_study: bool = False

    def __post_init__(self) -> None:
        self.variants = self.cfg.variants()

    @property
    def run_dir(self) -> Path:
        return self.paths.root

    @property
    def decode(self) -> DecodePolicy:
        return decode_policy(self.cfg)

    def keep(self, tables: dict[str, pd.DataFrame]) -> None:
        """The tables a stage returned: written (write_tables), shared with later stages and listed
        in the manifest (wide views are not listed)."""
        write_tables(self.run_dir, tables)
        self.tables |= tables
        self.listed += [name for name in tables if name not in self.listed and not name.endswith(WIDE)]
