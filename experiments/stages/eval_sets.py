"""Cross-set evaluation: the same models on several named sample sets in one run (table
`eval_sets`, per-image `eval_set_scores`). The cross-generator matrix is a stage of its own
(experiments.stages.cross_generator).

Per set and model: accuracy, FPR (humans called AI) and FNR (AI called human) with 95 % Wilson
intervals; ROC-AUC and average precision (AI positive, scored by p_ai) with 95 % bootstrap
intervals (experiments.stats.statistics); and the drop in accuracy and AUC from the first set. The drop
is paired (the same bootstrap draws of images for both, over the files scored in both) when the
two sets hold the same files, e.g. a set and its normalised copy, else unpaired (independent
draws of each set). Rows with fewer than 30 images are marked `exploratory`. Every configured set
has its rows, even one none of whose files could be scored: n = 0, no metrics, and `note` says
why (how many files, the first reason).
"""

from __future__ import annotations

import logging
import time
from functools import partial

import pandas as pd

from experiments.inputs.assets import AssetResolver
from experiments.stages.audit import common_settings, metadata_table, score_files
from experiments.config.fields import ConfigError
from experiments.config.schema import RunConfig
from experiments.inputs.file_factors import normalise
from experiments.inputs.images import DecodePolicy
from experiments.models.detector import Detector
from experiments.inputs.samples import Sample, load_samples
from experiments.stages.evaluation import metrics_with_ci
from experiments.stats.statistics import exploratory, paired_difference, unpaired_difference
from experiments.context import RunContext

log = logging.getLogger("artxai")

RATES = ("accuracy", "fpr", "fnr")
CURVES = ("roc_auc", "average_precision")
DROPS = ("accuracy", "roc_auc")
SET_COLUMNS = [
    "set", "model", "n", "n_ai", "n_human",
    *[f"{m}{suffix}" for m in (*RATES, *CURVES) for suffix in ("", "_ci_low", "_ci_high")],
    *[f"{m}_drop{suffix}" for m in DROPS for suffix in ("", "_ci_low", "_ci_high")],
    "paired", "n_paired", "exploratory", "note",
]  # fmt: skip


# the eval-set tables' names for the metrics of experiments.stages.evaluation.metrics_with_ci
SET_METRICS = {
    "accuracy": "accuracy", "fpr": "false_positive_rate", "fnr": "false_negative_rate", "roc_auc": "roc_auc",
    "average_precision": "average_precision",
}  # fmt: skip


def set_metrics(truth: pd.Series, p_ai: pd.Series, resamples: int, seed: int) -> dict[str, float]:
    """n per class, and accuracy, FPR and FNR with Wilson intervals, AUC and AP with bootstrap
    intervals: experiments.stages.evaluation.metrics_with_ci under the tables' names."""
    y = truth.to_numpy() == "ai"
    out: dict[str, float] = {
        "n": len(y),
        "n_ai": int(y.sum()),
        "n_human": int((~y).sum()),
        "exploratory": exploratory(len(y)),
    }
    found = metrics_with_ci(truth, p_ai, resamples, seed, metrics=list(SET_METRICS.values())).set_index("metric")
    for name, metric in SET_METRICS.items():
        row = found.loc[metric]
        out |= {name: row["value"], f"{name}_ci_low": row["ci_low"], f"{name}_ci_high": row["ci_high"]}
    return out


def drops(first: pd.DataFrame, this: pd.DataFrame, resamples: int, seed: int) -> dict[str, object]:
    """First set minus this set, for accuracy and AUC, with 95 % bootstrap intervals: paired
    (over the files scored in both) when the sets hold the same files, else unpaired."""
    a_files, b_files = set(first["path"]), set(this["path"])
    paired = bool(a_files & b_files) and (a_files <= b_files or b_files <= a_files)  # the same files (less any skipped)
    out: dict[str, object] = {"paired": paired, "n_paired": 0}
    if paired:
        both = first.merge(this, on="path", suffixes=("_first", "_this"))
        y, a, b = (both["truth_first"] == "ai").to_numpy(), both["p_ai_first"].to_numpy(), both["p_ai_this"].to_numpy()
        out["n_paired"] = len(both)
    for name in DROPS:
        if paired:
            diff = paired_difference(name, y, a, b, resamples, seed)
        else:
            ya, yb = (first["truth"] == "ai").to_numpy(), (this["truth"] == "ai").to_numpy()
            diff = unpaired_difference(name, ya, first["p_ai"].to_numpy(), yb, this["p_ai"].to_numpy(), resamples, seed)
        out |= dict(zip((f"{name}_drop", f"{name}_drop_ci_low", f"{name}_drop_ci_high"), diff))
    return out


def eval_set_table(
    scores: pd.DataFrame,
    resamples: int,
    seed: int,
    sets: list[str] | None = None,
    models: list[str] | None = None,
    notes: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per set x model (sets in their order), from the per-image scores of every set;
    a set in `sets` with no scores gets a row with n = 0 and its note (`notes`: set -> why)."""
    rows, notes = [], notes or {}
    sets = sets or list(dict.fromkeys(scores["set"]))
    for model in models or dict.fromkeys(scores["model"]):
        first = scores[(scores["set"] == sets[0]) & (scores["model"] == model)]
        for name in sets:
            df = scores[(scores["set"] == name) & (scores["model"] == model)]
            if df.empty:
                why = notes.get(name, "no image of this set was scored")
                empty = {"n": 0, "n_ai": 0, "n_human": 0, "paired": False, "n_paired": 0, "exploratory": True}
                rows.append({"set": name, "model": model} | empty | {"note": why})
                continue
            row = {"set": name, "model": model} | set_metrics(df["truth"], df["p_ai"], resamples, seed)
            if name == sets[0]:
                row |= {"paired": True, "n_paired": len(df)}
            elif not first.empty:
                row |= drops(first, df, resamples, seed)
            rows.append(row | {"note": notes.get(name, "")})
    return pd.DataFrame(rows).reindex(columns=SET_COLUMNS)


def eval_set_samples(cfg: RunConfig, run_samples: list[Sample], resolver: AssetResolver) -> dict[str, list[Sample]]:
    """Each eval set's samples by its name (the run's own where a set names none); the runner's
    preflight lists them before the run folder exists. A ConfigError names the set and field."""
    found = {}
    for entry in cfg.eval_sets or []:
        try:
            found[entry.name] = run_samples if entry.samples is None else load_samples(entry.samples, resolver)
        except ConfigError as e:
            raise ConfigError(f"eval_sets[{entry.name}]{'.' if str(e).startswith('samples') else ': '}{e}") from None
    return found


def score_sets(
    cfg: RunConfig, run_samples: list[Sample], detectors: list[Detector], resolver: AssetResolver, policy: DecodePolicy
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-image p_ai of every model on every set (each set's normalised copy where asked), and
    a note per set of the files not scored (how many, the first reason)."""
    audit = cfg.audit
    parts, notes, listed = [], {}, eval_set_samples(cfg, run_samples, resolver)
    for entry in cfg.eval_sets:
        samples = listed[entry.name]
        transform = None
        if entry.normalise is not None:
            quality, side = common_settings(
                metadata_table(samples), audit and audit.jpeg_quality, audit and audit.short_side
            )
            log.info(
                "eval_sets[%s]: normalised (%s; JPEG quality %d, short side %d px)",
                entry.name,
                entry.normalise,
                quality,
                side,
            )
            transform = partial(normalise, factor=entry.normalise, quality=quality, short_side=side, policy=policy)
        scored, skipped = score_files(samples, detectors, policy, transform, cfg.batch_size, cfg.workers or None)
        if skipped:
            first = f"{skipped[0]['sample']}: {skipped[0]['reason']}"
            notes[entry.name] = f"{len(skipped)} of {len(samples)} files not scored (first: {first})"
            log.warning("eval_sets[%s]: %s", entry.name, notes[entry.name])
        parts.append(scored.assign(set=entry.name))
    return pd.concat(parts, ignore_index=True), notes


def run(ctx: RunContext) -> dict[str, pd.DataFrame]:
    """Cross-set evaluation (`eval_sets:`): tables `eval_sets` and `eval_set_scores`."""
    cfg = ctx.cfg
    if not cfg.eval_sets:
        return {}
    started = time.perf_counter()
    scores, notes = score_sets(cfg, ctx.samples, ctx.detectors, ctx.resolver, ctx.decode)
    sets, models = [e.name for e in cfg.eval_sets], [d.name for d in ctx.detectors]
    table = eval_set_table(scores, cfg.bootstrap, cfg.seed, sets, models, notes)
    ctx.timings.add("eval_sets", started)
    print_sets(table)
    return {"eval_sets": table, "eval_set_scores": scores}


def print_sets(table: pd.DataFrame) -> None:
    for r in table.to_dict("records"):
        if r["n"] == 0:
            log.warning("eval set %-16s %-8s n=0: %s", r["set"], r["model"], r["note"])
            continue
        drop = (
            ""
            if r["set"] == table["set"].iloc[0]
            else f"; accuracy drop {r['accuracy_drop']:+.3f} [{r['accuracy_drop_ci_low']:+.3f}, "
            f"{r['accuracy_drop_ci_high']:+.3f}] ({'paired' if r['paired'] else 'unpaired'})"
        )
        log.info(
            "eval set %-16s %-8s n=%-5d accuracy %.3f [%.3f, %.3f], AUC %.3f%s",
            r["set"],
            r["model"],
            r["n"],
            r["accuracy"],
            r["accuracy_ci_low"],
            r["accuracy_ci_high"],
            r["roc_auc"],
            drop,
        )
