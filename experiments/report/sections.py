"""The report's index page, section by section (besides the edits, experiments.report.edit_sections,
and the subjects, experiments.report.subject_pages): the findings, the model comparison, the
models and their evaluation, the explanations, the study's table, the shortcut audit and cross-set
evaluation, and the run's details. Each `*_section` takes the run (experiments.report.run_data)
and returns its entries of the index page's template context.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from augment import IDENTITY, base_variant_id
from experiments.report import figures
from experiments.report.explanation_checks import add_check_findings, checks_block
from experiments.report.findings import model_findings
from experiments.report.generator_section import add_generator_findings
from experiments.report.html_tables import METRIC_NAMES, Tint, table_block, with_interval
from experiments.report.run_data import ReportRun, read_table
from experiments.report.training_warnings import training_warning
from experiments.rundir.atomic import atomic_write
from experiments.rundir.runfolder import read_json
from experiments.stats.claims import verdicts
from experiments.stages.scoring.tables import study_table_wide
from experiments.stats.statistics import METRICS

EVALUATION_FIGURES = {
    "confusion_": "Confusion matrix", "reliability_": "Reliability of p(AI)",
    "accuracy_by_style_": "Accuracy per style", "accuracy_by_generator_": "Accuracy per generator",
    "accuracy_by_source_": "Accuracy per source",
}  # fmt: skip


def findings_section(run: ReportRun) -> dict[str, object]:
    """The findings card per model (experiments.report.findings), its most fragile image linked
    to its subject page."""
    scores, tables = run.scores, run.tables
    findings = [
        model_findings(scores, tables["summary"], run.flips, run.curve, tables["evaluation_metrics"], m)
        for m in run.models if (scores["model"] == m).any()
    ]  # fmt: skip
    add_generator_findings(findings, read_table(run.run_dir, "generators"))  # "catches 2 of 6 generators; misses ..."
    add_check_findings(findings, read_table(run.run_dir, "explanation_checks"))  # "16 pass, 3 fail, 15 inconclusive"
    for f in findings:
        f["input_size"] = run.models[f["model"]]
        f["training_warning"] = training_warning(run.run_dir, f["model"])
        if f["fragile"]:
            f["fragile"]["href"] = run.pages.get(f["fragile"]["sample"])
    return {"findings": findings}


def not_in_run(run: ReportRun) -> list[str]:
    """One line per section this run has nothing for, saying why (a model that was not
    available is said in the line under the title)."""
    lines = []
    if not run.edited:
        lines.append(
            "Edits: this run scored the images unedited only (its augment grid is empty), so nothing can be fooled "
            "or shifted."
        )
    if run.tables.get("explanation_summary") is None:
        lines.append("Explanations: the config has no explain: section.")
    if run.tables.get("evaluation_metrics") is None:
        lines.append("Evaluation: the unedited images hold one class only; precision, recall and AUC need both.")
    return lines


def claims_section(run: ReportRun) -> dict[str, object]:
    """The study's comparison of its two models, tested on this run's scores (written to
    report/claims.csv; shown when the run has two models or more)."""
    warnings = {m: training_warning(run.run_dir, m) for m in run.models}  # at chance: its claims are inconclusive
    claims = verdicts(run.scores, run.models, run.resamples, run.seed, warnings=warnings)
    atomic_write(run.report / "claims.csv", lambda tmp: claims.to_csv(tmp, index=False))
    comparison = None
    if len(run.models) >= 2:
        shown = claims.reindex(columns=["text", "measure", "small_mean", "large_mean", "n_samples", "verdict", "why"])
        names = {"text": "claim", "small_mean": "smaller model", "large_mean": "larger model", "n_samples": "samples"}
        comparison = table_block(shown.rename(columns=names), "claims", {}, 3, verdicts=("verdict",))
    return {"comparison": comparison, "models_ran": list(run.models)}


def models_section(run: ReportRun) -> dict[str, object]:
    """The models, their cards and their training histories."""
    cards = []
    for name in run.models:
        path = run.run_dir / "models" / f"{name}.model_card.json"
        if path.is_file():
            cards.append({"name": name, "json": json.dumps(read_json(path), indent=1)})
    history = [
        run.figure(run.copy(p, run.img / p.name), f"Training history, {p.stem.removeprefix('history_')}")
        for p in sorted((run.run_dir / "figures").glob("history_*.png"))
    ]
    columns = ["name", "input_size", "params", "source", "git_blob_sha1", "preprocessing"]
    models = pd.DataFrame(run.manifest["models"]).reindex(columns=columns)
    return {"cards": cards, "history_figures": history, "models_table": table_block(models, "models", {})}


def evaluation_alt(stem: str) -> str:
    """'reliability_cnn32' -> 'Reliability of p(AI), cnn32'."""
    for prefix, words in EVALUATION_FIGURES.items():
        if stem.startswith(prefix):
            return f"{words}, {stem.removeprefix(prefix)}"
    return stem.replace("_", " ")


def evaluation_table(metrics: pd.DataFrame) -> pd.DataFrame:
    bounds = zip(metrics["value"], metrics["ci_low"], metrics["ci_high"])
    return pd.DataFrame({
        "model": metrics["model"], "metric": metrics["metric"].map(lambda m: METRIC_NAMES.get(m, m.replace("_", " "))),
        "value [95 % interval]": [with_interval(v, lo, hi, 3) for v, lo, hi in bounds],
        "n": metrics["n"].astype(int), "interval": metrics["ci_method"],
    })  # fmt: skip


def evaluation_section(run: ReportRun) -> dict[str, object]:
    """The evaluation on the unedited images: metrics, accuracy per group, the runner's figures."""
    pictures = run.run_dir / "figures"
    evaluation_figures = [
        run.figure(run.copy(p, run.img / p.name), evaluation_alt(p.stem))
        for p in sorted(pictures.glob("*.png"))
        if not p.name.startswith(("history_", "robustness_"))
    ]
    robustness_figures = [
        run.figure(
            run.copy(p, run.img / p.name),
            f"{p.stem.split('_')[1].replace('auc', 'ROC-AUC')} against the severity of each edit family",
        )
        for p in sorted(pictures.glob("robustness_*.png"))
    ]
    groups, groups_block = run.tables["evaluation_groups"], None
    if groups is not None and len(groups):
        bounds = zip(groups["accuracy"], groups["ci_low"], groups["ci_high"])
        g = groups.assign(accuracy=[with_interval(v, lo, hi, 3) for v, lo, hi in bounds])
        shown = g[["model", "by", "group", "n", "accuracy", "mean_p_ai"]]
        groups_block = table_block(shown, "groups", {"mean_p_ai": Tint("p_ai")})
    metrics = run.tables["evaluation_metrics"]
    return {
        "evaluation": table_block(evaluation_table(metrics), "evaluation", {})
        if metrics is not None and len(metrics)
        else None,
        "evaluation_figures": evaluation_figures,
        "robustness_figures": robustness_figures,
        "groups": groups_block,
    }


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


def explanations_section(run: ReportRun) -> dict[str, object]:
    """Each explanation method against the random baseline, with its sanity check."""
    checks = checks_block(read_table(run.run_dir, "explanation_checks"))  # the verdict table, first
    explanations = explanation_verdicts(run.tables["explanation_vs_random"], run.tables["explanation_summary"])
    if not len(explanations):
        return {"explanations": None, "explanation_checks": checks}
    verdict_columns = [c for c in explanations.columns if c not in ("model", "method") and not c.startswith("ρ")]
    block = table_block(explanations, "explanations", {}, 2, verdicts=tuple(verdict_columns))
    return {"explanations": block, "explanation_checks": checks}


def study_section(run: ReportRun) -> dict[str, object]:
    """The study's wide table, from the data (study_table.parquet), never from its CSV copy,
    whose text cells are neutralised for spreadsheets: the template escapes the raw text. Numbers
    are rounded as the CSV writes them (2 decimals), so the page shows what the CSV holds."""
    table = read_table(run.run_dir, "study_table")
    if table is None:
        return {"study_table": None}
    wide = study_table_wide(table)
    percents = [c for c in wide.columns if c.endswith(" %")]
    wide[percents] = wide[percents].map(lambda v: float(f"{v:.2f}"))
    tints = {c: Tint("p_ai") for c in wide.columns if c.endswith("AI %")}
    numbers = wide.assign(**{c: wide[c] / 100 for c in tints})
    return {"study_table": table_block(wide, "study", tints, 2, numbers=numbers)}


SET_COLUMNS = [
    "set", "model", "n", "n_ai", "n_human", "accuracy", "accuracy_ci_low", "accuracy_ci_high", "roc_auc",
    "roc_auc_ci_low", "roc_auc_ci_high", "average_precision", "fpr", "fnr", "accuracy_drop", "accuracy_drop_ci_low",
    "accuracy_drop_ci_high", "roc_auc_drop", "paired",
]  # fmt: skip


def reversal_block(reversal: pd.DataFrame | None) -> dict | None:
    """The cue reversal (table audit_reversal) as the report shows it: per model, factor and class,
    the setting it went from and to, its accuracy before, the change and the shift, with intervals."""
    if reversal is None or reversal.empty:
        return None

    def interval(c: str) -> list[str]:
        bounds = zip(reversal[c], reversal[f"{c}_ci_low"], reversal[f"{c}_ci_high"])
        return [with_interval(v, lo, hi, 3, signed=True) for v, lo, hi in bounds]

    shown = reversal[["model", "factor", "class", "n", "from_setting", "to_setting", "accuracy_as_is"]].assign(
        accuracy_change=interval("accuracy_change"), shift=interval("shift"), verdict=reversal["verdict"]
    )
    if "note" in reversal and (reversal["note"] != "").any():  # a reversal that could not be made says why
        shown = shown.assign(note=reversal["note"])
    return table_block(shown, "audit_reversal", {"accuracy_as_is": Tint("rate")}, verdicts=())


def shortcut_section(run: ReportRun) -> dict[str, object]:
    """The shortcut audit, the cross-set evaluation and the cross-generator matrix, when the
    run has them: tables for the page and the figures drawn from them."""
    audit, probe = read_table(run.run_dir, "audit"), read_table(run.run_dir, "audit_probe")
    sets, matrix = read_table(run.run_dir, "eval_sets"), read_table(run.run_dir, "cross_generator")
    min_shift = (run.snapshot.get("audit") or {}).get("min_shift", 0.05)
    audit_figures = [] if audit is None else [
        run.figure(figures.audit_shifts(audit, m, min_shift, run.img / f"audit_{m}.png"),
                   f"Shift in p(AI) per normalised factor and class, {m}")
        for m in audit["model"].unique()
    ]  # fmt: skip
    matrix_figures = [] if matrix is None or matrix.empty else [
        run.figure(figures.cross_generator_matrix(matrix, m, run.img / f"cross_generator_{m}.png"),
                   f"Cross-generator ROC-AUC, {m}")
        for m in matrix["model"].unique()
    ]  # fmt: skip
    set_cols = list(SET_COLUMNS)
    if sets is not None and "note" in sets and (sets["note"].fillna("") != "").any():
        set_cols.append("note")  # a set not (fully) scored says why
    present = lambda df: df is not None and len(df) > 0  # noqa: E731
    return {
        "audit_table": table_block(audit, "audit", {"shift": Tint("signed")}, verdicts=()) if present(audit) else None,
        "audit_min_shift": min_shift,
        "reversal_table": reversal_block(read_table(run.run_dir, "audit_reversal")),
        "audit_figures": audit_figures,
        "probe_table": table_block(probe.drop(columns="features"), "probe", {"roc_auc": Tint("rate")})
        if present(probe)
        else None,
        "eval_sets_table": table_block(sets.reindex(columns=set_cols), "eval_sets", {"accuracy": Tint("rate")})
        if present(sets)
        else None,
        "cross_generator_table": table_block(matrix, "cross_generator", {"roc_auc": Tint("rate")})
        if present(matrix)
        else None,
        "cross_generator_figures": matrix_figures,
    }


def details_section(run: ReportRun) -> dict[str, object]:
    """The run's details, last on the page: its name, counts and versions, what the page leaves
    out and why, the stages' timings, skipped files, the config and the samples' blob ids."""
    manifest, scores = run.manifest, run.scores
    skipped = read_table(run.run_dir, "skipped")
    excluded = ("report", "other", "total")  # the stages before this report
    timings = {k: v for k, v in manifest.get("timings_s", {}).items() if k not in excluded}
    blob_ids = manifest.get("sample_blob_ids")
    config = run.run_dir / "config.yaml"
    return {
        "root": "",
        "run": {
            "name": manifest["run"],
            "folder": str(run.run_dir),
            "seed": run.seed,
            "fingerprint": manifest["fingerprint"],
            "counts": manifest["counts"],
            "models": manifest["models"],
            "models_unavailable": manifest.get("models_unavailable", []),
            "versions": manifest["versions"],
            "edits": scores.loc[scores["variant"] != IDENTITY, "variant"].map(base_variant_id).nunique(),
            "images": scores["sample"].nunique(),
        },  # fmt: skip
        "not_in_run": not_in_run(run),
        "timings_table": table_block(pd.DataFrame([timings]), "timings", {}, 2) if timings else None,
        "versions_table": table_block(pd.DataFrame([manifest["versions"]]), "versions", {}),
        "skipped_table": table_block(skipped, "skipped", {}) if skipped is not None and len(skipped) else None,
        "config_yaml": config.read_text() if config.is_file() else "",
        "sample_ids": table_block(pd.DataFrame(blob_ids.items(), columns=["sample", "git blob sha1"]), "sample_ids", {})
        if blob_ids
        else None,  # fmt: skip
    }
