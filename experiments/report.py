"""The HTML report a person reads after a run: `python -m experiments.report results/<run>`.

Built from a finished run folder alone (its tables, manifest and pictures), so it can be made
again at any time; the runner calls it at the end of a run (`report: html`). Jinja2 templates
from experiments/templates; static files only, no network: the CSS, figures and images lie in
`<run>/report/` beside `index.html`, and one page per subject in `report/subjects/`.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from PIL import Image

from augment import IDENTITY, Variant, compile_variant, expand_grid
from experiments import figures
from experiments.atomic import atomic_write, atomic_write_text
from experiments.claims import verdicts
from experiments.evaluation import shifts
from experiments.explanations import slug
from experiments.images import DecodePolicy, ImageRejected, decode_image, display_resize
from experiments.scoring import edited_image

log = logging.getLogger("artxai")

TEMPLATES = Path(__file__).parent / "templates"
MAX_SUBJECT_PAGES = 50  # a dataset run gets pages for its most fragile samples only
MAX_GALLERY = 80  # pictures of edits per subject page


def read_table(run_dir: Path, name: str) -> pd.DataFrame | None:
    path = run_dir / f"{name}.parquet"
    return pd.read_parquet(path) if path.is_file() else None


def html_table(df: pd.DataFrame | None, digits: int = 3, **kwargs) -> str:
    if df is None or df.empty:
        return ""
    return df.to_html(index=False, border=0, float_format=lambda v: f"{v:.{digits}f}", na_rep="", **kwargs)


def claims_html(claims: pd.DataFrame) -> str:
    """The claims table with each verdict marked for colour (the text says it too)."""
    cols = ["text", "measure", "small_mean", "large_mean", "n_samples", "verdict", "why"]
    shown = claims.reindex(columns=cols).rename(columns={"text": "claim", "small_mean": "32 px model", "large_mean": "128 px model", "n_samples": "samples"})
    shown["verdict"] = shown["verdict"].map(lambda v: f'<span class="verdict-{v}">{v}</span>')
    return shown.to_html(index=False, border=0, escape=False, float_format=lambda v: f"{v:.3f}", na_rep="")


def figure(src: Path, report_dir: Path, alt: str) -> dict[str, str]:
    return {"src": src.relative_to(report_dir).as_posix(), "alt": alt}


def save_thumbnail(pixels, out: Path, size: int) -> None:
    small = Image.fromarray(display_resize(pixels, size))
    atomic_write(out, lambda tmp: small.save(tmp, format="JPEG", quality=85))


def variant_gallery(pixels, sample: str, variants: list[Variant], seed: int, rows: pd.DataFrame, out_dir: Path) -> list[dict]:
    """A small picture of every edit the run scored, made again with the run's own seeds (so it
    is the image that was scored), captioned with each model's p_ai."""
    p_ai = rows.pivot_table(index="variant", columns="model", values="p_ai", aggfunc="first")
    gallery = []
    for variant in variants[:MAX_GALLERY]:
        if variant.id not in p_ai.index:
            continue  # the edit failed for this image (see skipped)
        name = f"{slug(variant.id)}.jpg"
        if not (out_dir / name).is_file():
            edited, _ = edited_image(pixels, sample, variant, compile_variant(variant), seed)  # as the scorer made it
            if edited is None:
                continue
            save_thumbnail(edited, out_dir / name, 200)
        scores = ", ".join(f"{m} {v:.2f}" for m, v in p_ai.loc[variant.id].items())
        label = "unedited" if variant.id == IDENTITY else variant.id
        gallery.append({"src": f"../img/variants/{out_dir.name}/{name}", "caption": f"{label}: p_ai {scores}", "alt": f"{rows['subject'].iloc[0]}, {label}"})
    return gallery


def build_report(run_dir: Path, resamples: int = 1000) -> Path:
    """Write <run_dir>/report/index.html (and its pages, figures and CSS); return its path."""
    run_dir = Path(run_dir).resolve()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    scores = read_table(run_dir, "scores")
    if scores is None or scores.empty:
        raise FileNotFoundError(f"{run_dir}: no scores table; is this a finished run folder?")
    report = run_dir / "report"
    img = report / "img"
    img.mkdir(parents=True, exist_ok=True)
    atomic_write(report / "style.css", lambda tmp: shutil.copyfile(TEMPLATES / "style.css", tmp))
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    seed = manifest.get("seed", 0)
    models = {m["name"]: m["input_size"] for m in manifest["models"]}

    # score shifts: heatmaps per model, severity curves with intervals
    edited_models = scores.loc[scores["variant"] != IDENTITY, "model"].unique()  # none in a run without a grid
    heatmaps = [figure(figures.delta_heatmap(scores, m, img / f"delta_{m}.png"), report, f"Δ p_ai per subject and edit, {m}") for m in edited_models]
    shift = shifts(scores, resamples, seed)
    curves = [
        figure(figures.severity_curves(shift, metric, img / f"curve_{metric}.png"), report, f"{label} against severity, per op and model")
        for metric, label in (("mean_abs_delta_p_ai", "Mean |Δ p_ai|"), ("flip_rate", "Flip rate"))
    ]
    edited = shift[shift["variant"] != IDENTITY].sort_values("mean_abs_delta_p_ai", ascending=False).head(10)
    worst = edited[["model", "variant", "n", "mean_abs_delta_p_ai", "mean_abs_delta_p_ai_ci_low", "mean_abs_delta_p_ai_ci_high", "flip_rate"]]

    claims = verdicts(scores, models, resamples, seed)
    atomic_write(report / "claims.csv", lambda tmp: claims.to_csv(tmp, index=False))

    # models and their cards
    cards = []
    for name in models:
        path = run_dir / "models" / f"{name}.model_card.json"
        if path.is_file():
            cards.append({"name": name, "json": json.dumps(json.loads(path.read_text()), indent=1)})
    history = [figure(_copy(p, img / p.name), report, f"Training history, {p.stem.removeprefix('history_')}") for p in sorted((run_dir / "figures").glob("history_*.png"))]

    # dataset-scale evaluation, when the run has it
    metrics = read_table(run_dir, "evaluation_metrics")
    evaluation_figures = [
        figure(_copy(p, img / p.name), report, p.stem.replace("_", " "))
        for p in sorted((run_dir / "figures").glob("*.png"))
        if not p.name.startswith("history_")
    ]

    subjects, note = subject_pages(env, run_dir, report, scores, manifest, models)
    context = {
        "root": "",
        "run": {
            "name": manifest["run"], "folder": str(run_dir), "seed": seed, "fingerprint": manifest["fingerprint"],
            "counts": manifest["counts"], "models": manifest["models"], "models_unavailable": manifest.get("models_unavailable", []),
            "versions": manifest["versions"],
        },  # fmt: skip
        "models_table": html_table(pd.DataFrame(manifest["models"]).reindex(columns=["name", "input_size", "params", "source", "git_blob_sha1", "preprocessing"])),
        "cards": cards,
        "history_figures": history,
        # the stages before this report (its own time, and so the total, are known only after it)
        "timings_table": html_table(pd.DataFrame([{k: v for k, v in manifest["timings_s"].items() if k not in ("report", "other", "total")}]), 2),
        "versions_table": html_table(pd.DataFrame([manifest["versions"]])),
        "skipped_table": html_table(read_table(run_dir, "skipped")),
        "config_yaml": (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").is_file() else "",
        "sample_ids": html_table(pd.DataFrame(manifest.get("sample_blob_ids", {}).items(), columns=["sample", "git blob sha1"])) if manifest.get("sample_blob_ids") else "",
        "study_table": html_table(pd.read_csv(run_dir / "study_table_wide.csv"), 2) if (run_dir / "study_table_wide.csv").is_file() else "",
        "heatmaps": heatmaps,
        "curves": curves,
        "worst_table": html_table(worst),
        "claims_table": claims_html(claims),
        "explanation_summary": html_table(read_table(run_dir, "explanation_summary")),
        "evaluation": html_table(metrics),
        "evaluation_figures": evaluation_figures,
        "groups_table": html_table(read_table(run_dir, "evaluation_groups")),
        "subjects": subjects,
        "subjects_note": note,
    }
    context |= shortcut_context(run_dir, report)
    index = report / "index.html"
    atomic_write_text(index, env.get_template("index.html.j2").render(**context))
    return index


def shortcut_context(run_dir: Path, report: Path) -> dict[str, object]:
    """The shortcut audit, the cross-set evaluation and the cross-generator matrix, when the
    run has them: tables for the page and the figures drawn from them."""
    audit, probe = read_table(run_dir, "audit"), read_table(run_dir, "audit_probe")
    sets, matrix = read_table(run_dir, "eval_sets"), read_table(run_dir, "cross_generator")
    snapshot = json.loads((run_dir / "config.json").read_text())["config"] if (run_dir / "config.json").is_file() else {}
    min_shift = (snapshot.get("audit") or {}).get("min_shift", 0.05)
    img = report / "img"
    audit_figures = [] if audit is None else [
        figure(figures.audit_shifts(audit, m, min_shift, img / f"audit_{m}.png"), report, f"Shift in p(AI) per normalised factor and class, {m}")
        for m in audit["model"].unique()
    ]  # fmt: skip
    matrix_figures = [] if matrix is None or matrix.empty else [
        figure(figures.cross_generator_matrix(matrix, m, img / f"cross_generator_{m}.png"), report, f"Cross-generator ROC-AUC, {m}")
        for m in matrix["model"].unique()
    ]  # fmt: skip
    set_cols = ["set", "model", "n", "n_ai", "n_human", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "roc_auc", "roc_auc_ci_low", "roc_auc_ci_high",
                "average_precision", "fpr", "fnr", "accuracy_drop", "accuracy_drop_ci_low", "accuracy_drop_ci_high", "roc_auc_drop", "paired"]  # fmt: skip
    return {
        "audit_table": html_table(audit),
        "audit_min_shift": min_shift,
        "audit_figures": audit_figures,
        "probe_table": html_table(None if probe is None else probe.drop(columns="features")),
        "eval_sets_table": html_table(None if sets is None else sets.reindex(columns=set_cols)),
        "cross_generator_table": html_table(matrix),
        "cross_generator_figures": matrix_figures,
    }


def _copy(src: Path, dst: Path) -> Path:
    atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))
    return dst


def subject_pages(env, run_dir: Path, report: Path, scores: pd.DataFrame, manifest: dict, models: dict) -> tuple[list[dict], str]:
    """One page per sample (the most fragile ones when there are many); their index entries."""
    fragility = scores[scores["variant"] != IDENTITY].assign(a=scores["delta_p_ai"].abs()).groupby("sample", sort=False)["a"].mean()
    fragility = fragility.reindex(scores["sample"].unique()).fillna(0)
    chosen = fragility.sort_values(ascending=False, kind="stable").head(MAX_SUBJECT_PAGES).index
    note = f"Pages for the {MAX_SUBJECT_PAGES} most fragile of {len(fragility)} samples." if len(fragility) > MAX_SUBJECT_PAGES else ""
    explanations = read_table(run_dir, "explanations")
    paths = manifest.get("sample_paths", {})
    snapshot = json.loads((run_dir / "config.json").read_text())["config"] if (run_dir / "config.json").is_file() else {}
    variants = expand_grid(snapshot.get("augment", {}))
    policy = DecodePolicy(**snapshot.get("preprocess", {}))  # decoded as the run decoded it
    entries = []
    for sample in [s for s in scores["sample"].unique() if s in set(chosen)]:
        rows = scores[scores["sample"] == sample]
        name = slug(sample)
        thumb = img_rel = None
        gallery = []
        try:
            pixels = decode_image(Path(paths[sample]), policy).pixels if paths.get(sample) else None
        except ImageRejected:
            pixels = None  # moved or unreadable since the run: the page goes without pictures of it
        if pixels is not None:
            save_thumbnail(pixels, report / "img" / "subjects" / f"{name}.jpg", 320)
            img_rel = f"img/subjects/{name}.jpg"
            thumb = f"../{img_rel}"
            gallery = variant_gallery(pixels, sample, variants, manifest.get("seed", 0), rows, report / "img" / "variants" / name)
        grids = []
        for model in models:
            grid = run_dir / "explain" / "grids" / model / f"{name}.png"
            if grid.is_file():
                copied = _copy(grid, report / "img" / "grids" / model / f"{name}.png")
                grids.append({"src": "../" + copied.relative_to(report).as_posix(), "alt": f"Attribution maps of {rows['subject'].iloc[0]} under its largest edits, {model}"})
        table = rows.assign(abs_delta=rows["delta_p_ai"].abs()).sort_values("abs_delta", ascending=False)
        table = table[["variant", "model", "p_ai", "delta_p_ai", "predicted", "flipped"]]
        drift = None
        if explanations is not None:
            drift = explanations[(explanations["sample"] == sample) & (explanations["variant"] != IDENTITY)]
            drift = drift[["model", "method", "variant", "drift_spearman", "drift_top_iou", "deletion_auc", "insertion_auc"]]
        subject = {"name": rows["subject"].iloc[0], "truth": rows["truth"].iloc[0], "thumb": thumb}
        page = env.get_template("subject.html.j2").render(
            root="../", run={"name": manifest["run"], "folder": str(run_dir), "versions": manifest["versions"]},
            subject=subject, scores_table=html_table(table), grids=grids, drift_table=html_table(drift), gallery=gallery,
        )  # fmt: skip
        atomic_write_text(report / "subjects" / f"{name}.html", page)
        entries.append(subject | {"href": f"subjects/{name}.html", "thumb": img_rel, "fragility": float(fragility[sample])})
    return entries, note


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
    resamples = args.bootstrap or (json.loads(snapshot.read_text())["config"].get("bootstrap", 1000) if snapshot.is_file() else 1000)
    index = build_report(args.run_dir, resamples)
    print(f"report: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
