"""The HTML report a person reads after a run: `python -m experiments.report results/<run>`.

Built from a finished run folder alone (its tables, manifest and pictures), so it can be made
again at any time; the runner calls it at the end of a run (`report: html`). Jinja2 templates
from experiments/report/templates; static files only, no network: the CSS, figures and images lie in
`<run>/report/` beside `index.html`, and one page per subject in `report/subjects/`.

The page opens, with two models or more, with the detectors side by side
(experiments/report/detectors.py), then what the run found, per model (experiments/report/findings.py), then the
evidence: which edits fool the model and how much editing it takes (severity curves, tables),
which way scores move (heatmap), the study's table, the model comparison, the explanations, the
evaluation, the subjects; the run's details (models, versions, timings, config) come last,
collapsed. A section without data is left out, and the page says in one line why.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from experiments.report.corruption import corruption_section
from experiments.report.comparison_section import comparison_section
from experiments.report.detectors import detectors_section
from experiments.report.edit_sections import edits_section
from experiments.report.generator_section import generators_section
from experiments.report.pages import write_page, write_style
from experiments.report.run_data import ReportRun, load_run
from experiments.report.sections import (
    claims_section,
    details_section,
    evaluation_section,
    explanations_section,
    findings_section,
    models_section,
    shortcut_section,
    study_section,
)  # fmt: skip
from experiments.report.subject_pages import subjects_section
from experiments.rundir.runfolder import RunFolderError, read_json

log = logging.getLogger("artxai")

# The index page's sections, in the order they are made: each takes the run and returns its
# entries of the page's template context. The subject pages come first (the findings link to
# them). A new section (its own module, its own block in templates/index.html.j2) is one more entry.
SECTIONS: tuple[Callable[[ReportRun], dict[str, object]], ...] = (
    subjects_section,
    detectors_section,
    findings_section,
    corruption_section,
    edits_section,
    claims_section,
    models_section,
    evaluation_section,
    explanations_section,
    study_section,
    shortcut_section,
    generators_section,
    comparison_section,
    details_section,
)


def build_report(run_dir: Path, resamples: int = 1000, manifest: dict | None = None) -> Path:
    """Write <run_dir>/report/index.html (and its pages, figures and CSS); return its path.
    `manifest`: the run's manifest as manifest.json will hold it, when the runner builds the
    report before writing manifest.json (it is written once, last); else read from the folder."""
    run = load_run(run_dir, resamples, manifest)
    run.img.mkdir(parents=True, exist_ok=True)
    write_style(run.report)
    context: dict[str, object] = {}
    for section in SECTIONS:
        context |= section(run)
    index = run.report / "index.html"
    write_page(index, "index.html.j2", **context)
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a finished run folder, e.g. results/robustness")
    parser.add_argument("--bootstrap", type=int, help="resamples behind each interval (default: the run's own setting)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="artxai: %(message)s")
    if not (args.run_dir / "manifest.json").is_file():
        print(f"error: {args.run_dir}: no manifest.json; not a finished run folder", file=sys.stderr)
        return 2
    snapshot = args.run_dir / "config.json"
    try:
        ran = read_json(snapshot).get("config", {}) if snapshot.is_file() else {}
        resamples = args.bootstrap or ran.get("bootstrap", 1000)
        index = build_report(args.run_dir, resamples)
    except RunFolderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"report: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
