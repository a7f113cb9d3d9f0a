"""The HTML report a person reads after a run: `python -m experiments.report results/<run>`.

Built from a finished run folder alone (its tables, manifest and pictures), so it can be made
again at any time; the runner calls it at the end of a run (`report: html`). Jinja2 templates
from experiments/report/templates; static files only, no network: the CSS, figures and images lie in
`<run>/report/` beside `index.html`, and one page per subject in `report/subjects/`.

The page opens with what the run found, per model (experiments/report/findings.py), then the
evidence: which edits fool the model and how much editing it takes (severity curves, tables),
which way scores move (heatmap), the study's table, the model comparison, the explanations, the
evaluation, the subjects; the run's details (models, versions, timings, config) come last,
collapsed. A section without data is left out, and the page says in one line why.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from PIL import Image

from augment import IDENTITY, SINGLE_OPS, Variant, base_variant_id, compile_variant, expand_grid
from experiments.report import figures
from experiments.rundir.atomic import atomic_write, atomic_write_bytes, atomic_write_text
from experiments.stages.claims import verdicts
from experiments.report.naming import slug
from experiments.report.corruption import corruption_context
from experiments.report.findings import model_findings
from experiments.report.gallery import MAX_GALLERY, MAX_SUBJECT_PAGES, gallery_dir, picture_bytes
from experiments.inputs.images import DecodePolicy, ImageRejected, decode_image, display_resize
from experiments.report.naming import describe, number
from experiments.rundir.runfolder import RunFolderError, read_json, remove
from experiments.stats.statistics import METRICS
from experiments.report.html_tables import METRIC_NAMES, Tint, count_of, table_block, with_interval
from experiments.stages.scoring import edited_image
from experiments.stages.score_tables import graded_edits, median_fooling_severity, series_titles, study_table_wide
from xai.text import printable

log = logging.getLogger("artxai")

TEMPLATES = Path(__file__).parent / "templates"
MAX_HEATMAP_SUBJECTS = 40  # more columns than this and a heatmap cannot be read
TOP_EDITS_SHOWN = 12  # rows of the fooling table shown before "all edits"
PANELS_SHOWN = 8  # severity panels shown before "more edit families" (two rows on a desktop)
EVALUATION_FIGURES = {"confusion_": "Confusion matrix", "reliability_": "Reliability of p(AI)", "accuracy_by_style_": "Accuracy per style", "accuracy_by_generator_": "Accuracy per generator"}


def read_table(run_dir: Path, name: str) -> pd.DataFrame | None:
    path = run_dir / f"{name}.parquet"
    return pd.read_parquet(path) if path.is_file() else None


def figure(src: Path, report_dir: Path, alt: str, caption: str | None = None) -> dict[str, str]:
    """A figure for the templates; caption "" for one whose picture carries its own title."""
    return {"src": src.relative_to(report_dir).as_posix(), "alt": alt, "caption": alt if caption is None else caption}


def save_thumbnail(pixels, out: Path, size: int) -> None:
    small = Image.fromarray(display_resize(pixels, size))
    atomic_write(out, lambda tmp: small.save(tmp, format="JPEG", quality=85))


def evaluation_alt(stem: str) -> str:
    """'reliability_cnn32' -> 'Reliability of p(AI), cnn32'."""
    for prefix, words in EVALUATION_FIGURES.items():
        if stem.startswith(prefix):
            return f"{words}, {stem.removeprefix(prefix)}"
    return stem.replace("_", " ")


def _copy(src: Path, dst: Path) -> Path:
    atomic_write(dst, lambda tmp: shutil.copyfile(src, tmp))
    return dst


# --- the evidence, section by section -------------------------------------------------------


def fooling_table(summary: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per model x edit (replicates pooled), most fooling first: the fooling and correction
    rates with their intervals and n, and how far and which way the scores moved."""
    rows = summary[summary["variant"] != IDENTITY].copy()
    rows = rows.sort_values(["fooling_rate", "mean_abs_delta_margin"], ascending=False, kind="stable", na_position="last")
    out = pd.DataFrame({
        "model": rows["model"],
        "edit": rows["variant"].map(describe),
        "fooled": [with_interval(v, lo, hi) for v, lo, hi in zip(rows["fooling_rate"], rows["fooling_ci_low"], rows["fooling_ci_high"])],
        "of right answers": [count_of(v * n, n) if np.isfinite(v) else "" for v, n in zip(rows["fooling_rate"], rows["n_correct"])],
        "corrected": [with_interval(v, lo, hi) for v, lo, hi in zip(rows["correction_rate"], rows["correction_ci_low"], rows["correction_ci_high"])],
        "wrong when unedited": rows["n_wrong"].astype(int),
        "mean Δ margin": [with_interval(v, lo, hi, 1, signed=True) for v, lo, hi in zip(rows["mean_delta_margin"], rows["mean_delta_margin_ci_low"], rows["mean_delta_margin_ci_high"])],
        "moved towards AI": [f"{v:.0%}" for v in rows["share_towards_ai"]],
        "mean Δ p(AI)": rows["mean_delta_p_ai"],
        "draws": rows["n_replicates"].astype(int),
    })  # fmt: skip
    numbers = pd.DataFrame({"fooled": rows["fooling_rate"], "corrected": rows["correction_rate"], "mean Δ margin": rows["mean_delta_margin"], "moved towards AI": rows["share_towards_ai"]})
    return out.reset_index(drop=True), numbers.reset_index(drop=True)


FOOLING_TINTS = {
    "fooled": Tint("rate"), "corrected": Tint("rate"), "mean Δ margin": Tint("signed"), "moved towards AI": Tint("p_ai"), "mean Δ p(AI)": Tint("signed", limit=1.0),
}  # fmt: skip


def mildest_table(curve: pd.DataFrame, scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per model x edit family: the grid tried, the mildest severity that fools half of the
    images right when unedited (at that severity or milder), and the share fooled by the
    harshest, with its interval."""
    medians = median_fooling_severity(curve)
    titles = series_titles(graded_edits(scores))
    last = curve.groupby(["model", "series"], sort=False).tail(1).set_index(["model", "series"])
    rows = []
    for r in medians.itertuples():
        grid = curve[(curve["model"] == r.model) & (curve["series"] == r.series)]["severity"]
        end = last.loc[(r.model, r.series)]
        rows.append({
            "model": r.model, "edit": titles.get(r.series, r.series), "severities tried": ", ".join(number(v) for v in grid),
            "fools half from": "not reached" if np.isnan(r.median_fooling_severity) else number(r.median_fooling_severity),
            "fooled at some severity": with_interval(end["share_fooled_at_or_below"], end["ci_low"], end["ci_high"]),
            "of right answers": count_of(end["fooled_at_or_below"], int(end["n"])), "_share": end["share_fooled_at_or_below"],
        })  # fmt: skip
    df = pd.DataFrame(rows)
    if df.empty:
        return df, df
    df = df.sort_values("_share", ascending=False, kind="stable").reset_index(drop=True)
    return df.drop(columns="_share"), pd.DataFrame({"fooled at some severity": df["_share"]})


def explanation_verdicts(vs_random: pd.DataFrame | None, summary: pd.DataFrame | None) -> pd.DataFrame:
    """Per model x method: each comparison with `random` as 'verdict: difference [interval]',
    and the sanity similarity once every layer is random."""
    if vs_random is None or vs_random.empty:
        return pd.DataFrame()
    better = {name: f"{info.direction} is better" for name, info in METRICS.items()}
    columns = {
        ("deletion_auc_logit", "unedited"): f"deletion, unedited ({better['deletion_auc_logit']})",
        ("insertion_auc_logit", "unedited"): f"insertion, unedited ({better['insertion_auc_logit']})",
        ("deletion_auc_logit", "all"): "deletion, all explained",
        ("insertion_auc_logit", "all"): "insertion, all explained",
        ("drift_margin_spearman", "edited"): "map moves with the score",
    }
    rows = []
    for (model, method), g in vs_random.groupby(["model", "method"], sort=False):
        row = {"model": model, "method": method}
        for (metric, images), name in columns.items():
            hit = g[(g["metric"] == metric) & (g["images"] == images)]
            if len(hit):
                h = hit.iloc[0]
                verdict = str(h["vs_random"]).replace("_", " ")
                row[name] = f"{verdict}: {with_interval(h['difference'], h['ci_low'], h['ci_high'], 2, signed=True)}"
        if summary is not None and "sanity_spearman_all_random" in summary:
            s = summary[(summary["model"] == model) & (summary["method"] == method)]
            if len(s) and np.isfinite(s["sanity_spearman_all_random"].iloc[0]):
                sanity = round(float(s["sanity_spearman_all_random"].iloc[0]), 2)
                row[f"ρ with every layer random ({better['sanity_spearman']})"] = sanity
        rows.append(row)
    return pd.DataFrame(rows)


def evaluation_table(metrics: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "model": metrics["model"], "metric": metrics["metric"].map(lambda m: METRIC_NAMES.get(m, m.replace("_", " "))),
        "value [95 % interval]": [with_interval(v, lo, hi, 3) for v, lo, hi in zip(metrics["value"], metrics["ci_low"], metrics["ci_high"])],
        "n": metrics["n"].astype(int), "interval": metrics["ci_method"],
    })  # fmt: skip


def severity_figures(scores: pd.DataFrame, summary: pd.DataFrame, img: Path, report: Path) -> dict[str, list[dict]]:
    """The report's severity panels: fooling rate (Wilson band) and mean Δ margin (bootstrap
    band) per edit family, the same family order in both (by fooling, then by shift), one
    y-scale per figure, replicate draws as dots."""
    points = figures.add_series(summary).rename(columns={"fooling_ci_low": "fooling_rate_ci_low", "fooling_ci_high": "fooling_rate_ci_high"})
    if points.empty:
        return {"fooling": [], "margin": []}
    replicates = figures.replicate_points(scores)
    effect = points.groupby("series", sort=False).agg(f=("fooling_rate", "max"), m=("mean_delta_margin", lambda v: v.abs().max()))
    order = list(effect.sort_values(["f", "m"], ascending=False, kind="stable").index)
    for old in img.glob("severity_*.png"):  # a rerun with fewer families must not leave stale panels
        remove(report.parent, old)
    made = {}
    for key, metric, ylabel, ylim in (
        ("fooling", "fooling_rate", "share of right answers fooled", (-0.03, 1.03)),
        ("margin", "mean_delta_margin", "mean Δ margin (log-odds)\n+ towards AI, − towards human", None),
    ):
        panels = figures.severity_panels(points, metric, ylabel, img, f"severity_{key}", replicates=replicates, order=order, ylim=ylim)
        made[key] = [figure(p["path"], report, f"{ylabel.splitlines()[0]} against the severity of {p['title']}", "") for p in panels]
    return made


def not_in_run(scores: pd.DataFrame, tables: dict, models: dict, manifest: dict) -> list[str]:
    """One line per section this run has nothing for, saying why (a model that was not
    available is said in the line under the title)."""
    lines = []
    if not (scores["variant"] != IDENTITY).any():
        lines.append("Edits: this run scored the images unedited only (its augment grid is empty), so nothing can be fooled or shifted.")
    if tables.get("explanation_summary") is None:
        lines.append("Explanations: the config has no explain: section.")
    if tables.get("evaluation_metrics") is None:
        lines.append("Evaluation: the unedited images hold one class only; precision, recall and AUC need both.")
    return lines


# --- the report ------------------------------------------------------------------------------


def build_report(run_dir: Path, resamples: int = 1000, manifest: dict | None = None) -> Path:
    """Write <run_dir>/report/index.html (and its pages, figures and CSS); return its path.
    `manifest`: the run's manifest as manifest.json will hold it, when the runner builds the
    report before writing manifest.json (it is written once, last); else read from the folder."""
    run_dir = Path(run_dir).resolve()
    if manifest is None:
        manifest = read_json(run_dir / "manifest.json")  # RunFolderError, one line, when damaged
    if missing := sorted({"run", "fingerprint", "models", "counts", "versions"} - set(manifest)):
        fields = ", ".join(missing)
        raise RunFolderError(f"{run_dir / 'manifest.json'}: damaged (no {fields}); run its config again with --resume")
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
    names = ["summary", "minimal_flip", "minimal_flip_curve", "evaluation_metrics", "evaluation_groups", "explanation_summary", "explanation_vs_random"]
    tables = {name: read_table(run_dir, name) for name in names}
    summary = tables["summary"]
    flips = tables["minimal_flip"] if tables["minimal_flip"] is not None else pd.DataFrame(columns=["model", "correct_unedited"])
    curve = tables["minimal_flip_curve"] if tables["minimal_flip_curve"] is not None else pd.DataFrame()
    edited = bool((scores["variant"] != IDENTITY).any())

    subjects, subjects_note, pages = subject_pages(env, run_dir, report, scores, flips, manifest, models)
    findings = [model_findings(scores, summary, flips, curve, tables["evaluation_metrics"], m) for m in models if (scores["model"] == m).any()]
    for f in findings:
        f["input_size"] = models[f["model"]]
        if f["fragile"]:
            f["fragile"]["href"] = pages.get(f["fragile"]["sample"])

    # which edits fool it, how much it takes, which way scores move
    fooling = mildest = None
    heatmaps, severity, heatmap_note = [], {"fooling": [], "margin": []}, ""
    if edited:
        fooling_df, fooling_numbers = fooling_table(summary)
        fooling = {
            "top": table_block(fooling_df.head(TOP_EDITS_SHOWN), "fooling_top", FOOLING_TINTS, 3, numbers=fooling_numbers.head(TOP_EDITS_SHOWN)),
            "all": table_block(fooling_df, "fooling_all", FOOLING_TINTS, 3, numbers=fooling_numbers) if len(fooling_df) > TOP_EDITS_SHOWN else None,
            "rows": len(fooling_df),
        }
        if len(curve):
            mild_df, mild_numbers = mildest_table(curve, scores)
            mildest = table_block(mild_df, "mildest", {"fooled at some severity": Tint("rate")}, numbers=mild_numbers)
        severity = severity_figures(scores, summary, img, report)
        for m in scores.loc[scores["variant"] != IDENTITY, "model"].unique():
            if scores.loc[scores["model"] == m, "subject"].nunique() > MAX_HEATMAP_SUBJECTS:
                heatmap_note = f"No heatmap: {scores['subject'].nunique():,} subjects are too many columns to read; the curves and tables above summarise them."
                break
            path = figures.delta_heatmap(scores, m, img / f"delta_{m}.png")
            heatmaps.append(figure(path, report, f"Change in p(AI) per edit and subject, {m}"))

    claims = verdicts(scores, models, resamples, seed)
    atomic_write(report / "claims.csv", lambda tmp: claims.to_csv(tmp, index=False))
    comparison = None
    if len(models) >= 2:
        shown = claims.reindex(columns=["text", "measure", "small_mean", "large_mean", "n_samples", "verdict", "why"])
        shown = shown.rename(columns={"text": "claim", "small_mean": "smaller model", "large_mean": "larger model", "n_samples": "samples"})
        comparison = table_block(shown, "claims", {}, 3, verdicts=("verdict",))
    ran = list(models)

    # models and their cards, evaluation
    cards = []
    for name in models:
        path = run_dir / "models" / f"{name}.model_card.json"
        if path.is_file():
            cards.append({"name": name, "json": json.dumps(read_json(path), indent=1)})
    history = [figure(_copy(p, img / p.name), report, f"Training history, {p.stem.removeprefix('history_')}") for p in sorted((run_dir / "figures").glob("history_*.png"))]
    metrics = tables["evaluation_metrics"]
    evaluation_figures = [
        figure(_copy(p, img / p.name), report, evaluation_alt(p.stem))
        for p in sorted((run_dir / "figures").glob("*.png"))
        if not p.name.startswith(("history_", "robustness_"))
    ]
    robustness_figures = [figure(_copy(p, img / p.name), report, f"{p.stem.split('_')[1].replace('auc', 'ROC-AUC')} against the severity of each edit family") for p in sorted((run_dir / "figures").glob("robustness_*.png"))]
    groups = tables["evaluation_groups"]
    groups_block = None
    if groups is not None and len(groups):
        g = groups.assign(accuracy=[with_interval(v, lo, hi, 3) for v, lo, hi in zip(groups["accuracy"], groups["ci_low"], groups["ci_high"])])
        groups_block = table_block(g[["model", "by", "group", "n", "accuracy", "mean_p_ai"]], "groups", {"mean_p_ai": Tint("p_ai")})
    explanations = explanation_verdicts(tables["explanation_vs_random"], tables["explanation_summary"])
    verdict_columns = [c for c in explanations.columns if c not in ("model", "method") and not c.startswith("ρ")]

    skipped = read_table(run_dir, "skipped")
    timings = {k: v for k, v in manifest.get("timings_s", {}).items() if k not in ("report", "other", "total")}  # the stages before this report
    context = {
        "root": "",
        "run": {
            "name": manifest["run"], "folder": str(run_dir), "seed": seed, "fingerprint": manifest["fingerprint"],
            "counts": manifest["counts"], "models": manifest["models"], "models_unavailable": manifest.get("models_unavailable", []),
            "versions": manifest["versions"], "edits": scores.loc[scores["variant"] != IDENTITY, "variant"].map(base_variant_id).nunique(),
            "images": scores["sample"].nunique(),
        },  # fmt: skip
        "findings": findings,
        "not_in_run": not_in_run(scores, tables, models, manifest),
        "fooling": fooling,
        "mildest": mildest,
        "severity": severity,
        "heatmaps": heatmaps,
        "heatmap_note": heatmap_note,
        "comparison": comparison,
        "models_ran": ran,
        "panels_shown": PANELS_SHOWN,
        "explanations": table_block(explanations, "explanations", {}, 2, verdicts=tuple(verdict_columns)) if len(explanations) else None,
        "evaluation": table_block(evaluation_table(metrics), "evaluation", {}) if metrics is not None and len(metrics) else None,
        "evaluation_figures": evaluation_figures,
        "robustness_figures": robustness_figures,
        "groups": groups_block,
        "study_table": study_block(run_dir),
        "subjects": subjects,
        "subjects_note": subjects_note,
        "models_table": table_block(pd.DataFrame(manifest["models"]).reindex(columns=["name", "input_size", "params", "source", "git_blob_sha1", "preprocessing"]), "models", {}),
        "cards": cards,
        "history_figures": history,
        "timings_table": table_block(pd.DataFrame([timings]), "timings", {}, 2) if timings else None,
        "versions_table": table_block(pd.DataFrame([manifest["versions"]]), "versions", {}),
        "skipped_table": table_block(skipped, "skipped", {}) if skipped is not None and len(skipped) else None,
        "config_yaml": (run_dir / "config.yaml").read_text() if (run_dir / "config.yaml").is_file() else "",
        "sample_ids": table_block(pd.DataFrame(manifest.get("sample_blob_ids", {}).items(), columns=["sample", "git blob sha1"]), "sample_ids", {}) if manifest.get("sample_blob_ids") else None,
    }
    context |= shortcut_context(run_dir, report)
    context |= corruption_context(run_dir, report, figure)
    index = report / "index.html"
    atomic_write_text(index, env.get_template("index.html.j2").render(**context))
    return index


def shortcut_context(run_dir: Path, report: Path) -> dict[str, object]:
    """The shortcut audit, the cross-set evaluation and the cross-generator matrix, when the
    run has them: tables for the page and the figures drawn from them."""
    audit, probe = read_table(run_dir, "audit"), read_table(run_dir, "audit_probe")
    sets, matrix = read_table(run_dir, "eval_sets"), read_table(run_dir, "cross_generator")
    snapshot = read_json(run_dir / "config.json").get("config", {}) if (run_dir / "config.json").is_file() else {}
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
    if sets is not None and "note" in sets and (sets["note"].fillna("") != "").any():
        set_cols.append("note")  # a set not (fully) scored says why
    present = lambda df: df is not None and len(df) > 0  # noqa: E731
    return {
        "audit_table": table_block(audit, "audit", {"shift": Tint("signed")}, verdicts=()) if present(audit) else None,
        "audit_min_shift": min_shift,
        "audit_figures": audit_figures,
        "probe_table": table_block(probe.drop(columns="features"), "probe", {"roc_auc": Tint("rate")}) if present(probe) else None,
        "eval_sets_table": table_block(sets.reindex(columns=set_cols), "eval_sets", {"accuracy": Tint("rate")}) if present(sets) else None,
        "cross_generator_table": table_block(matrix, "cross_generator", {"roc_auc": Tint("rate")}) if present(matrix) else None,
        "cross_generator_figures": matrix_figures,
    }


def study_block(run_dir: Path) -> dict | None:
    """The study's wide table, from the data (study_table.parquet), never from its CSV copy,
    whose text cells are neutralised for spreadsheets: the template escapes the raw text. Numbers
    are rounded as the CSV writes them (2 decimals), so the page shows what the CSV holds."""
    table = read_table(run_dir, "study_table")
    if table is None:
        return None
    wide = study_table_wide(table)
    percents = [c for c in wide.columns if c.endswith(" %")]
    wide[percents] = wide[percents].map(lambda v: float(f"{v:.2f}"))
    tints = {c: Tint("p_ai") for c in wide.columns if c.endswith("AI %")}
    numbers = wide.assign(**{c: wide[c] / 100 for c in tints})
    return table_block(wide, "study", tints, 2, numbers=numbers)


# --- subject pages ---------------------------------------------------------------------------


def variant_gallery(pixels, sample: str, variants: list[Variant], seed: int, rows: pd.DataFrame, out_dir: Path) -> list[dict]:
    """A small picture of every edit the run scored, made again with the run's own seeds (so it
    is the image that was scored), captioned with each model's p_ai. Edits at full resolution
    cost as much as in scoring: they run on threads (OpenCV releases the GIL)."""
    p_ai = rows.pivot_table(index="variant", columns="model", values="p_ai", aggfunc="first")
    shown = [v for v in variants[:MAX_GALLERY] if v.id in p_ai.index]  # an edit that failed for this image is in skipped

    def make(variant: Variant) -> bool:
        out = out_dir / f"{slug(variant.id)}.jpg"
        if not out.is_file():  # small runs: scoring made it already (experiments.report.gallery)
            edited, _ = edited_image(pixels, sample, variant, compile_variant(variant), seed)  # as the scorer made it
            if edited is None:
                return False
            atomic_write_bytes(out, picture_bytes(edited))
        return True

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        made = list(pool.map(make, shown))
    gallery = []
    for variant, ok in zip(shown, made):
        if not ok:
            continue
        scores = ", ".join(f"{m} {v:.2f}" for m, v in p_ai.loc[variant.id].items())
        label = describe(variant.id) + (f" (draw {variant.replicate + 1})" if variant.replicate else "")
        src = f"../img/variants/{out_dir.name}/{slug(variant.id)}.jpg"
        alt = f"{printable(rows['subject'].iloc[0])}, {label}"
        gallery.append({"src": src, "caption": f"{label}: p(AI) {scores}", "alt": alt})
    return gallery


def subject_flips(flips: pd.DataFrame, scores: pd.DataFrame, sample: str, titles: dict[frozenset, dict[str, str]] | None = None) -> dict:
    """Per model: the mildest severity of each edit family that fools it on this image.
    `titles` caches the family titles per set of edits scored (most images share one)."""
    mine = flips[flips["sample"] == sample] if "sample" in flips else flips.iloc[0:0]
    if mine.empty:
        return {"html": "", "constants": ""}
    rows = scores[scores["sample"] == sample]
    titles = {} if titles is None else titles
    key = frozenset(rows["variant"])
    if key not in titles:
        titles[key] = series_titles(graded_edits(rows))
    titles = titles[key]
    neutral = pd.Series([float(SINGLE_OPS[op].neutral) for op in mine["op"]], index=mine.index, dtype=float)
    relative = (mine["min_fooling_strength"] / (mine["harshest_severity"] - neutral).abs()).where(mine["correct_unedited"].astype(bool), 9)
    mine = mine.assign(_order=relative.fillna(2)).sort_values(["model", "_order"], kind="stable")  # mildest for its grid first
    df = pd.DataFrame({
        "model": mine["model"], "edit": mine["series"].map(lambda s: titles.get(s, s)),
        "fooled from": [("—" if not ok else "not fooled" if np.isnan(v) else number(v)) for v, ok in zip(mine["min_fooling_severity"], mine["correct_unedited"])],
        "harshest tried": mine["harshest_severity"].map(number),
    })  # fmt: skip
    return table_block(df, "flips", {})


def subject_pages(env, run_dir: Path, report: Path, scores: pd.DataFrame, flips: pd.DataFrame, manifest: dict, models: dict) -> tuple[list[dict], str, dict[str, str]]:
    """One page per sample (the most fragile ones when there are many); their index entries,
    a note when pages were left out, and sample -> page link."""
    edited = scores[scores["variant"] != IDENTITY]
    fragility = edited.assign(a=edited["delta_margin"].abs()).groupby("sample", sort=False)["a"].mean()
    fooled = edited.groupby("sample", sort=False)["fooled"].mean()
    fragility = fragility.reindex(scores["sample"].unique()).fillna(0)
    order = pd.DataFrame({"fooled": fooled.reindex(fragility.index).fillna(0), "margin": fragility})
    chosen = order.sort_values(["fooled", "margin"], ascending=False, kind="stable").head(MAX_SUBJECT_PAGES).index
    note = f"Pages for the {MAX_SUBJECT_PAGES} most fragile of {len(fragility):,} samples." if len(fragility) > MAX_SUBJECT_PAGES else ""
    explanations = read_table(run_dir, "explanations")
    paths = manifest.get("sample_paths", {})
    snapshot = read_json(run_dir / "config.json").get("config", {}) if (run_dir / "config.json").is_file() else {}
    variants = expand_grid(snapshot.get("augment", {}))
    policy = DecodePolicy(**snapshot.get("preprocess", {}))  # decoded as the run decoded it
    entries, pages, family_titles = [], {}, {}
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
            gallery = variant_gallery(pixels, sample, variants, manifest.get("seed", 0), rows, gallery_dir(report, sample))
        grids = []
        for model in models:
            grid = run_dir / "explain" / "grids" / model / f"{name}.png"
            if grid.is_file():
                copied = _copy(grid, report / "img" / "grids" / model / f"{name}.png")
                alt = f"Attribution maps of {printable(rows['subject'].iloc[0])}, {model}: the model's input, then each method's map, unedited and under its largest edits"
                grids.append({"src": "../" + copied.relative_to(report).as_posix(), "alt": alt, "caption": alt})
        table = rows.assign(abs_delta=rows["delta_margin"].abs()).sort_values("abs_delta", ascending=False, kind="stable")
        shown = pd.DataFrame({
            "edit": table["variant"].map(lambda v: describe(v) + (f" (draw {int(v.rsplit('#', 1)[1]) + 1})" if "#" in v else "")),
            "model": table["model"], "p(AI)": table["p_ai"], "Δ p(AI)": table["delta_p_ai"], "Δ margin": table["delta_margin"],
            "predicted": table["predicted"], "fooled": table["fooled"].map({True: "fooled", False: ""}),
            "corrected": table["corrected"].map({True: "corrected", False: ""}),
        })  # fmt: skip
        scores_block = table_block(shown, "scores", {"p(AI)": Tint("p_ai"), "Δ p(AI)": Tint("signed", limit=1.0), "Δ margin": Tint("signed")})
        drift = None
        if explanations is not None:
            d = explanations[(explanations["sample"] == sample) & (explanations["variant"] != IDENTITY)]
            if len(d):
                d = d.assign(variant=d["variant"].map(describe))[["model", "method", "variant", "drift_spearman", "drift_top_iou", "deletion_auc", "insertion_auc"]]
                drift = table_block(d, "drift", {"drift_spearman": Tint("rate")})
        base = rows[rows["variant"] == IDENTITY]
        verdict = [{"model": r.model, "p_ai": r.p_ai, "correct": bool(r.correct)} for r in base.itertuples()]
        subject = {"name": printable(rows["subject"].iloc[0]), "truth": rows["truth"].iloc[0], "thumb": thumb, "unedited": verdict}
        page = env.get_template("subject.html.j2").render(
            root="../", run={"name": manifest["run"], "folder": str(run_dir), "versions": manifest["versions"]},
            subject=subject, scores_table=scores_block, grids=grids, drift_table=drift, gallery=gallery,
            flips=subject_flips(flips, scores, sample, family_titles),
        )  # fmt: skip
        atomic_write_text(report / "subjects" / f"{name}.html", page)
        pages[sample] = f"subjects/{name}.html"
        entries.append(subject | {"href": pages[sample], "thumb": img_rel, "fooled": float(order.at[sample, "fooled"]), "margin": float(order.at[sample, "margin"])})
    entries.sort(key=lambda e: (-e["fooled"], -e["margin"]))  # most fragile first
    return entries, note, pages


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
