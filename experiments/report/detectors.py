"""The report's detectors: with two or more, one side-by-side table first on the page (one row per
model: its kind, accuracy, ROC-AUC, human art called AI, seen- and unseen-generator detection and
the corruption score, each with its interval and n, read from the run's tables
`evaluation_metrics`, `generators` and `corruption_score`); and, on every findings card, what the
detector is (kind, input, preprocessing, sha256, provenance and licence, one image per call), from
manifest.json's model entries (experiments.models.detector.Detector.metadata).

A measure the run has no number for is a dash whose reason is a footnote (and the cell's title),
never a number made up. ([Detectors](docs/detectors.md))
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from experiments.report.run_data import ReportRun, read_table

# the table's measures, in order: (key, column header)
MEASURES = (
    ("accuracy", "accuracy"),
    ("roc_auc", "ROC-AUC"),
    ("false_positive_rate", "human art called AI"),
    ("seen", "seen generators detected"),
    ("unseen", "unseen generators detected"),
    ("corruption", "corruption score (mean fooling rate)"),
)
CORRUPTION_MEASURE = "mean_fooling_rate"
ONE_PER_CALL = (
    "runs one image per call: its outputs for an image moved with the other images of its batch at load (the batch "
    "check: an INT8 graph quantises its activations per call), so every image is scored alone"
)


def measured(row: pd.Series | dict, value: str = "value", method: str | None = None) -> dict:
    """A cell from a table's row: the value, its 95 % interval, n (and k where the row has it);
    a dash with its reason when the value is not a finite number."""
    v = float(row[value])
    if not np.isfinite(v):
        return {"missing": "not defined on these images (the table holds no number)"}
    cell = {"value": v, "ci_low": float(row["ci_low"]), "ci_high": float(row["ci_high"]), "n": int(row["n"])}
    if "k" in row:
        cell["k"] = int(row["k"])
    return cell | {"method": str(method or row.get("ci_method", ""))}


def metric_cell(metrics: pd.DataFrame | None, model: str, metric: str) -> dict:
    """One model's `metric` from `evaluation_metrics` (accuracy, roc_auc, false_positive_rate)."""
    if metrics is None or metrics.empty:
        return {"missing": "no evaluation: the unedited images hold one class only, and these measures need both"}
    hit = metrics[(metrics["model"] == model) & (metrics["metric"] == metric)]
    if hit.empty:
        return {"missing": f"evaluation_metrics has no {metric} row for this model"}
    return measured(hit.iloc[0])


def generator_cell(generators: pd.DataFrame | None, model: str, pool: str) -> dict:
    """One model's pooled detection rate over the generators it was trained on (`seen`) or the
    others (`unseen`), from table `generators`; a dash saying why when the pool has no row."""
    if generators is None or generators.empty:
        return {"missing": "the samples do not name their generators (a dataset's generator_from): no generators table"}
    mine = generators[generators["model"] == model]
    hit = mine[(mine["kind"] == "pooled") & (mine["name"] == f"{pool} generators")]
    if len(hit):
        return measured(hit.iloc[0], "rate")
    if mine.empty:
        return {"missing": "the generators table has no row for this model"}
    if (mine["seen"] == "unknown").any():
        return {"missing": "the generators it was trained on are unknown (set trained_on in its config)"}
    if pool == "unseen":
        return {"missing": "trained on every generator here: none is unseen"}
    return {"missing": "none of the generators here was in its training"}


def corruption_cell(score: pd.DataFrame | None, model: str) -> dict:
    """One model's mean fooling rate over the grid, from table `corruption_score`."""
    if score is None or score.empty:
        return {"missing": "no corruption score: the run scored no edits of labelled images"}
    hit = score[(score["model"] == model) & (score["measure"] == CORRUPTION_MEASURE)]
    if hit.empty:
        return {"missing": "corruption_score has no row for this model"}
    return measured(hit.iloc[0])


def side_by_side_rows(run: ReportRun) -> list[dict]:
    """One row per model of the manifest, in its order: name, kind, one-image-per-call and a cell
    per MEASURES key."""
    metrics = run.tables["evaluation_metrics"]
    generators, score = read_table(run.run_dir, "generators"), read_table(run.run_dir, "corruption_score")
    rows = []
    for entry in run.manifest["models"]:
        model = entry["name"]
        cells = {m: metric_cell(metrics, model, m) for m in ("accuracy", "roc_auc", "false_positive_rate")}
        cells |= {pool: generator_cell(generators, model, pool) for pool in ("seen", "unseen")}
        cells["corruption"] = corruption_cell(score, model)
        kind = entry.get("kind", "keras")
        rows.append({"model": model, "kind": kind, "one_per_call": bool(entry.get("one_image_per_call")), **cells})
    return rows


def with_footnotes(rows: list[dict]) -> list[str]:
    """Number each distinct reason for a dash (1, 2, ...) in reading order, set the number on its
    cells (`note`), and return the reasons in that order."""
    notes: list[str] = []
    for row in rows:
        for key, _ in MEASURES:
            reason = row[key].get("missing")
            if reason is not None:
                if reason not in notes:
                    notes.append(reason)
                row[key]["note"] = notes.index(reason) + 1
    return notes


def side_by_side(run: ReportRun) -> dict | None:
    """The template's `side_by_side` block (None with fewer than two models): the columns, the
    rows, the footnotes and the models that run one image per call."""
    if len(run.manifest["models"]) < 2:
        return None
    rows = side_by_side_rows(run)
    notes = with_footnotes(rows)
    return {
        "columns": [{"key": k, "title": t} for k, t in MEASURES],
        "rows": rows,
        "notes": notes,
        "one_per_call": [r["model"] for r in rows if r["one_per_call"]],
        "one_per_call_text": ONE_PER_CALL,
    }


def provenance_parts(provenance: dict) -> list[dict]:
    """A detector's provenance as the card lists it: one part per file (an embedding detector's
    encoder and head), each with its name or file, where it came from, licence and sha256."""
    if not provenance:
        return []
    parts = provenance.items() if all(isinstance(v, dict) for v in provenance.values()) else [("file", provenance)]
    shown = []
    for role, about in parts:
        if not about:
            continue
        shown.append({
            "role": role, "name": about.get("name") or about.get("file") or "", "licence": about.get("licence"),
            "provenance": about.get("provenance") or about.get("fitted_by"),
            "requirement": about.get("requirement"), "sha256": about.get("sha256"),
        })  # fmt: skip
    return shown


def detector_facts(entry: dict) -> dict:
    """What a findings card says of a detector, from its manifest entry."""
    spec = entry.get("input") or {"size": entry.get("input_size"), "resize": "nearest", "crop": "none"}
    crop = "centre crop" if spec.get("crop") == "centre" else "no crop"
    return {
        "kind": entry.get("kind", "keras"),
        "input": f"{spec.get('size')} px, {spec.get('resize')} resize, {crop}",
        "preprocessing": entry.get("preprocessing", ""),
        "output": entry.get("output", "softmax"),
        "classes": ", ".join(entry.get("class_names", [])),
        "sha256": entry.get("sha256"),
        "git_blob_sha1": entry.get("git_blob_sha1"),
        "source": entry.get("source", ""),
        "provenance": provenance_parts(entry.get("provenance") or {}),
        "one_per_call": bool(entry.get("one_image_per_call")),
    }


def detectors_section(run: ReportRun) -> dict[str, object]:
    """The page's side-by-side table (two models or more) and each findings card's detector facts."""
    facts = {entry["name"]: detector_facts(entry) for entry in run.manifest["models"]}
    return {"side_by_side": side_by_side(run), "detector_facts": facts}
