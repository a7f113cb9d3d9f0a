"""Benchmark: where the report's and the dataset figures' time goes, on one finished run.

    python -m benchmarks.report [--run results/<run>] [--repeat 2]

Without `--run` it first runs the default study scoring-only (robustness.yaml with its first
model alone and no explain: section, as `make demo` runs offline) into a temporary folder. Then,
on a copy of the run folder, `repeat` times each: the `figures` step (the runner's
`dataset_figures`: confusion matrix, reliability diagram, accuracy per group, the two
robustness curve figures) and `build_report` from scratch (its report/ folder emptied first but
for the gallery pictures scoring made, as a run leaves it). Prints wall seconds per part (each
part's fastest repeat): the severity panels, the heatmaps, the tables (pandas -> HTML), the
thumbnails (the subject pictures, and any gallery picture of a scored edit that scoring did not
make: remade at full resolution on threads), and everything else (reading tables,
findings, claims with their bootstrap, the templates, copying figures). Not a test: run on
demand, figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import pandas as pd
import yaml

from experiments.report import build as report
from experiments.report import edit_sections, figures, heatmap, sections, severity_figures, subject_pages
from experiments.config.schema import CONFIG_DIR, load_config
from experiments.report.run_figures import dataset_figures
from experiments.stages.evaluation import dataset_tables
from experiments.rundir.runfolder import remove
from experiments.context import Timings

CONFIG = CONFIG_DIR / "robustness.yaml"
DATASET_FIGURES = (
    (figures, "confusion_matrix"), (figures, "reliability_diagram"), (figures, "group_accuracy"),
    (severity_figures, "severity_curves"),
)  # fmt: skip


def scoring_only_run(out: Path) -> Path:
    """The default study with its first model and no explanations, run in a fresh process."""
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg.pop("explain", None)
    cfg["models"] = cfg["models"][:1]
    cfg["name"] = "scoreonly"
    config = out.parent / "scoreonly.yaml"
    config.write_text(yaml.safe_dump(cfg))
    subprocess.run(
        [sys.executable, "-m", "experiments.run", str(config), "--out", str(out), "--force"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return out


class PartTimer:
    """Wraps module functions so each call's wall time adds to a named part; calls made inside
    another timed call (or on a worker thread) are not counted twice."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth = 0
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, module, name: str, part: str) -> None:
        original = getattr(module, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if self._depth or threading.current_thread() is not threading.main_thread():
                return original(*args, **kwargs)
            self._depth += 1
            t = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[part] += time.perf_counter() - t
                self._depth -= 1

        self._undo.append((module, name, original))
        setattr(module, name, timed)

    def restore(self) -> None:
        for module, name, original in reversed(self._undo):
            setattr(module, name, original)
        self._undo.clear()


def as_the_run_left_it(report_dir: Path) -> None:
    """Empty the report folder but for the gallery pictures scoring made (experiments.rundir.names)."""
    for child in sorted(report_dir.rglob("*"), reverse=True):  # a folder's files before the folder
        if "variants" in child.relative_to(report_dir).parts[:2]:
            continue
        if child.is_symlink() or child.is_file() or not any(child.iterdir()):
            remove(report_dir.parent, child)  # the run folder's own files only (experiments.rundir.runfolder)


def time_report(run_dir: Path) -> dict[str, float]:
    if (run_dir / "report").is_dir():
        as_the_run_left_it(run_dir / "report")
    timer = PartTimer()
    timer.wrap(severity_figures, "severity_panels", "severity panels")
    timer.wrap(heatmap, "delta_heatmap", "heatmaps")
    for module in (edit_sections, sections, subject_pages):  # where the page sections call it
        timer.wrap(module, "table_block", "tables")
    timer.wrap(subject_pages, "variant_gallery", "thumbnails")
    timer.wrap(subject_pages, "save_thumbnail", "thumbnails")
    t = time.perf_counter()
    try:
        report.build_report(run_dir, _resamples(run_dir))
    finally:
        timer.restore()
    total = time.perf_counter() - t
    return dict(timer.seconds) | {"other": total - sum(timer.seconds.values()), "total": total}


def time_dataset_figures(run_dir: Path) -> dict[str, float]:
    cfg = load_config(run_dir / "config.yaml")
    scores = pd.read_parquet(run_dir / "scores.parquet")
    timer = PartTimer()
    for module, name in DATASET_FIGURES:
        timer.wrap(module, name, name.replace("_", " "))
    timings, tables = Timings(), dataset_tables(scores, cfg.bootstrap, cfg.seed)
    t = time.perf_counter()
    try:
        if tables:
            dataset_figures(list(scores["model"].unique()), tables, run_dir / "figures")
            timings.add("figures", t)
    finally:
        timer.restore()
    return dict(timer.seconds) | {"total": timings.seconds["figures"]}


def _resamples(run_dir: Path) -> int:
    snapshot = run_dir / "config.json"
    return json.loads(snapshot.read_text())["config"].get("bootstrap", 1000) if snapshot.is_file() else 1000


def fastest(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each part's fastest repeat (a busy machine slows repeats unevenly)."""
    return {k: min(r.get(k, 0.0) for r in runs) for k in runs[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        type=Path,
        help="a finished run folder (default: run the default study scoring-only into a temporary folder)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="times each part is measured; the fastest is shown")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="artxai: %(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = args.run.resolve() if args.run else scoring_only_run(tmp / "scoreonly")
        run_dir = tmp / "copy"
        shutil.copytree(source, run_dir)
        manifest = json.loads((run_dir / "manifest.json").read_text())
        stages = manifest.get("timings_s", {})
        dataset = fastest([time_dataset_figures(run_dir) for _ in range(args.repeat)])
        built = fastest([time_report(run_dir) for _ in range(args.repeat)])
    print(f"\nrun {source.name}: {len(manifest['models'])} model(s), {manifest['counts']}")
    if not args.run:
        print("  its own stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    print(f"figures step (the runner's dataset_figures), fastest of {args.repeat}:")
    for part, s in dataset.items():
        print(f"  {part:<22}{s:7.2f} s")
    print(f"report (build_report from scratch), fastest of {args.repeat}:")
    for part in ("severity panels", "heatmaps", "tables", "thumbnails", "other", "total"):
        print(f"  {part:<22}{built.get(part, 0.0):7.2f} s")


if __name__ == "__main__":
    main()
