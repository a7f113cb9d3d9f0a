"""The shortcut audit: does a detector look at the art or at the file? Tables `audit`,
`audit_probe` (and the per-image `audit_scores`, per-file `audit_files` behind them).

- `audit_probe`: a metadata-only probe. A logistic regression (scikit-learn: one-hot formats,
  scaled numbers) predicts the label from the file's facts alone (experiments.inputs.file_factors:
  pixel size, aspect, format, estimated JPEG quality, file size, EXIF / ICC), cross-validated
  (stratified, seeded folds); its ROC-AUC on the out-of-fold probabilities, with a 95 %
  bootstrap interval, says how much of the task is solvable without the pixels. One row for
  all features together, then one per feature alone.
- `audit`: per model, factor and class, every image scored as it is and with that factor
  normalised (experiments.inputs.file_factors.normalise), through the runner's own decoding and
  resize. The paired shift (normalised minus as-is p_ai, its mean over the class's images) and
  the paired change in the class's accuracy each have a 95 % bootstrap interval over images
  (experiments.stats.statistics: BCa where it can be computed); the verdict is `depends` when either
  moves by at least `min_shift` with an interval that excludes 0, else `no_evidence`.
  (Accuracy counts because a model whose scores sit near 0.5 can flip every prediction with a
  small shift.) `mean_abs_shift` (the mean of |shift|) shows movement that cancels out in the
  mean. Rows with fewer than 30 images are marked `exploratory`.

`score_files` is the scorer for unedited files here and in experiments.stages.eval_sets.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.config.sections import AuditConfig
from experiments.execution.threads import thread_pool
from experiments.inputs.file_factors import CATEGORICAL_FEATURES, NUMERIC_FEATURES, file_metadata, normalise
from experiments.inputs.folders import read_regular, shown_name
from experiments.inputs.images import DecodePolicy, decode_image
from experiments.stats.statistics import METRICS, exploratory, metric_with_ci, paired_difference_ci, proportion
from experiments.stats.statistics import verdict as interval_verdict
from experiments.models.detector import Detector
from experiments.inputs.samples import Sample
from experiments.context import RunContext, Timings

log = logging.getLogger("artxai")

AS_IS = "as_is"
SCORE_COLUMNS = ["sample", "path", "truth", "generator", "model", "p_ai"]
AUDIT_COLUMNS = [
    "model", "factor", "class", "n", "p_ai_as_is", "p_ai_normalised", "shift", "shift_ci_low", "shift_ci_high",
    "mean_abs_shift",
    "accuracy_as_is", "accuracy_normalised", "accuracy_change", "accuracy_change_ci_low", "accuracy_change_ci_high",
    "flip_rate", "ci_method", "exploratory", "verdict",
]  # fmt: skip
PROBE_COLUMNS = [
    "probe",
    "features",
    "n",
    "n_ai",
    "n_human",
    "folds",
    "roc_auc",
    "ci_low",
    "ci_high",
    "accuracy",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "exploratory",
]


def score_files(
    samples: list[Sample],
    detectors: list[Detector],
    policy: DecodePolicy,
    transform=None,
    batch_size: int = 256,
    workers: int | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """Each model's p_ai on each sample's file, unedited, decoded and resized exactly as the
    runner scores (decode_image with the run's policy, resize_for_model); `transform` (bytes ->
    bytes) first rewrites the file, e.g. a normalisation. Returns the rows (SCORE_COLUMNS, in
    sample order) and a skip record for each file that could not be read or transformed."""
    specs = list(dict.fromkeys(d.input for d in detectors))

    def prepare(sample: Sample):
        if sample.path is None:
            return None, sample.problem or "no file"
        try:
            data = read_regular(Path(sample.path))
            if transform is not None:
                data = transform(data)
            pixels = decode_image(data, policy).pixels
        except (OSError, ValueError) as e:  # ImageRejected is a ValueError
            return None, str(e)
        return {spec: spec.prepare(pixels).astype(np.float32) / 255.0 for spec in specs}, ""

    rows, skipped = [], []
    with thread_pool(workers) as pool:
        for start in range(0, len(samples), batch_size):
            chunk = samples[start : start + batch_size]
            prepared = list(pool.map(prepare, chunk))
            done = [(s, x) for s, (x, _) in zip(chunk, prepared) if x is not None]
            skipped += [{"sample": s.id, "reason": why} for s, (x, why) in zip(chunk, prepared) if x is None]
            if not done:
                continue
            for detector in detectors:
                probs = detector.predict_proba(np.stack([x[detector.input] for _, x in done]), batch_size)
                ai = detector.class_names.index("ai")
                rows += [
                    {
                        "sample": s.id,
                        "path": shown_name(s.path),
                        "truth": s.truth,
                        "generator": s.generator,
                        "model": detector.name,
                        "p_ai": float(p[ai]),
                    }
                    for (s, _), p in zip(done, probs)
                ]
    order, model_order = {s.id: i for i, s in enumerate(samples)}, {d.name: i for i, d in enumerate(detectors)}
    df = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    if len(df):  # model by model (the config's order), samples in their order
        key = df["model"].map(model_order) * len(samples) + df["sample"].map(order)
        df = df.iloc[np.argsort(key.to_numpy(), kind="stable")].reset_index(drop=True)
    return df, skipped


def stratified_subset(samples: list[Sample], limit: int | None, seed: int) -> list[Sample]:
    """At most `limit` samples, split between the classes in proportion, chosen at random
    (seeded); the order is kept."""
    if limit is None or len(samples) <= limit:
        return samples
    rng = np.random.default_rng(seed)
    keep: set[int] = set()
    for truth in sorted({s.truth for s in samples}):
        members = [i for i, s in enumerate(samples) if s.truth == truth]
        keep |= set(
            rng.choice(members, size=max(1, round(limit * len(members) / len(samples))), replace=False).tolist()
        )
    return [s for i, s in enumerate(samples) if i in keep]


# --- the metadata probe -------------------------------------------------------------------


def metadata_table(samples: list[Sample]) -> pd.DataFrame:
    """One row per sample: its truth and its file's facts (`problem` says why a file has none)."""
    rows = []
    for s in samples:
        row = {"sample": s.id, "truth": s.truth, "problem": ""}
        try:
            row |= (
                file_metadata(read_regular(Path(s.path))) if s.path is not None else {"problem": s.problem or "no file"}
            )
        except (OSError, ValueError) as e:
            row["problem"] = str(e)
        rows.append(row)
    return pd.DataFrame(rows).reindex(
        columns=["sample", "truth", "problem", *NUMERIC_FEATURES, *CATEGORICAL_FEATURES, "file_size"]
    )


def probe_model(numeric: list[str], categorical: list[str], seed: int):
    """Logistic regression on scaled numbers (missing ones, e.g. a PNG's JPEG quality, set to
    the median and flagged) and one-hot categories. scikit-learn is imported here, where an audit
    runs (a run without one does not pay for its import)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    columns = ColumnTransformer(
        [
            (
                "numeric",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True), StandardScaler()
                ),
                numeric,
            ),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    return make_pipeline(columns, LogisticRegression(max_iter=1000, random_state=seed))


def probe_scores(meta: pd.DataFrame, numeric: list[str], categorical: list[str], folds: int, seed: int) -> np.ndarray:
    """Out-of-fold P(AI) for every row, from stratified, seeded cross-validation."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = meta[numeric + categorical].copy()
    x[numeric] = x[numeric].astype(float)
    x[categorical] = x[categorical].astype(str)
    y = (meta["truth"] == "ai").to_numpy()
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(probe_model(numeric, categorical, seed), x, y, cv=cv, method="predict_proba")[:, 1]


def metadata_probe(meta: pd.DataFrame, folds: int, seed: int, resamples: int) -> pd.DataFrame:
    """The probe on all features, then on each alone: AUC and accuracy with 95 % intervals."""
    meta = meta[meta["problem"] == ""].reset_index(drop=True)
    y = (meta["truth"] == "ai").to_numpy()
    n_ai, n_human = int(y.sum()), int((~y).sum())
    folds = min(folds, n_ai, n_human)
    if folds < 2:
        log.warning(
            "audit: the metadata probe needs at least 2 files of each class (%d AI, %d human); skipped", n_ai, n_human
        )
        return pd.DataFrame(columns=PROBE_COLUMNS)
    probes = [("all", list(NUMERIC_FEATURES), list(CATEGORICAL_FEATURES))]
    probes += [(f, [f], []) for f in NUMERIC_FEATURES] + [(f, [], [f]) for f in CATEGORICAL_FEATURES]
    rows = []
    for name, numeric, categorical in probes:
        p_ai = probe_scores(meta, numeric, categorical, folds, seed)
        auc, low, high = metric_with_ci("roc_auc", y, p_ai, resamples, seed)
        acc = proportion(int(((p_ai >= 0.5) == y).sum()), len(y))
        rows.append(
            {"probe": name, "features": ", ".join(numeric + categorical), "n": len(y), "n_ai": n_ai, "n_human": n_human,
                "folds": folds,
             "roc_auc": auc, "ci_low": low, "ci_high": high, "accuracy": acc["value"],
             "accuracy_ci_low": acc["ci_low"], "accuracy_ci_high": acc["ci_high"],
             "exploratory": exploratory(len(y))}
        )  # fmt: skip
    return pd.DataFrame(rows, columns=PROBE_COLUMNS)


# --- score shifts under normalisation --------------------------------------------------------


def moved(effect: tuple[float, float, float], min_shift: float, metric: str = "p_ai_shift") -> bool:
    """An effect (value, ci_low, ci_high) that the verdict rule of experiments.stats.statistics calls a
    difference (its interval excludes 0, either side counts: METRICS[metric].direction is
    `either`) and whose size is at least min_shift."""
    value, low, high = effect
    return interval_verdict(low, high, METRICS[metric].direction) != "no_difference" and bool(abs(value) >= min_shift)


def verdict(shift: tuple[float, float, float], accuracy_change: tuple[float, float, float], min_shift: float) -> str:
    """`depends` when the mean p_ai or the class's accuracy moves by at least min_shift with an
    interval that excludes 0 (a model with scores near 0.5 can flip every prediction with a
    small shift); `no_evidence` otherwise."""
    depends = moved(shift, min_shift) or moved(accuracy_change, min_shift, "accuracy_change")
    return "depends" if depends else "no_evidence"


def shift_table(scores: pd.DataFrame, min_shift: float, resamples: int, seed: int) -> pd.DataFrame:
    """Per model x factor x class: the paired shift in p_ai (normalised minus as-is) over the
    images scored both ways, its bootstrap interval, accuracies, flip rate and the verdict."""
    as_is = scores[scores["factor"] == AS_IS].set_index(["model", "sample"])
    rows = []
    models, factors = list(dict.fromkeys(scores["model"])), list(dict.fromkeys(scores["factor"]))
    normalised = scores[scores["factor"] != AS_IS]
    for model, factor in [(m, f) for m in models for f in factors if f != AS_IS]:
        df = normalised[(normalised["model"] == model) & (normalised["factor"] == factor)]
        paired = df.join(as_is["p_ai"].rename("p_ai_as_is"), on=["model", "sample"], how="inner")
        for truth in ("ai", "human"):
            g = paired[paired["truth"] == truth]
            if g.empty:
                continue
            before, after = g["p_ai_as_is"].to_numpy(), g["p_ai"].to_numpy()
            found = paired_difference_ci(after, before, resamples=resamples, seed=seed)
            shift = (found["difference"], found["ci_low"], found["ci_high"])
            correct_before, correct_after = (before >= 0.5) == (truth == "ai"), (after >= 0.5) == (truth == "ai")
            moved_acc = paired_difference_ci(
                correct_after.astype(float), correct_before.astype(float), resamples=resamples, seed=seed
            )
            change = (moved_acc["difference"], moved_acc["ci_low"], moved_acc["ci_high"])
            rows.append(
                {"model": model, "factor": factor, "class": truth, "n": len(g), "p_ai_as_is": float(before.mean()),
                    "p_ai_normalised": float(after.mean()),
                 "shift": shift[0], "shift_ci_low": shift[1], "shift_ci_high": shift[2],
                 "mean_abs_shift": float(np.abs(after - before).mean()),
                 "accuracy_as_is": float(correct_before.mean()), "accuracy_normalised": float(correct_after.mean()),
                 "accuracy_change": change[0], "accuracy_change_ci_low": change[1],
                 "accuracy_change_ci_high": change[2],
                 "flip_rate": float((correct_before != correct_after).mean()), "ci_method": found["ci_method"],
                 "exploratory": exploratory(len(g)),
                 "verdict": verdict(shift, change, min_shift)}
            )  # fmt: skip
    return pd.DataFrame(rows, columns=AUDIT_COLUMNS)


def common_settings(meta: pd.DataFrame, quality: int | None, short_side: int | None) -> tuple[int, int]:
    """The JPEG quality and short side every file is normalised to: as configured, else the
    lowest estimated quality among the files (75 when none is a JPEG) and the smallest short
    side: re-encoding at or below every file's own quality, and shrinking, leave no file with
    less compression or more pixels than the others."""
    readable = meta[meta["problem"] == ""]
    if quality is None:
        lowest = readable["jpeg_quality"].min()
        quality = 75 if pd.isna(lowest) else int(lowest)
    if short_side is None:
        short_side = int(np.minimum(readable["width"], readable["height"]).min()) if len(readable) else 256
    return quality, short_side


def run(ctx: RunContext) -> dict[str, pd.DataFrame]:
    """The shortcut audit (`audit:`): tables `audit`, `audit_probe`, `audit_scores`, `audit_files`."""
    cfg = ctx.cfg
    if cfg.audit is None:
        return {}
    args = ctx.samples, ctx.detectors, ctx.decode, cfg.seed, cfg.bootstrap, cfg.batch_size, cfg.workers or None
    return run_audit(cfg.audit, *args, ctx.timings)


def run_audit(
    cfg: AuditConfig,
    samples: list[Sample],
    detectors: list[Detector],
    policy: DecodePolicy,
    seed: int,
    resamples: int,
    batch_size: int = 256,
    workers: int | None = None,
    timings: Timings | None = None,
) -> dict[str, pd.DataFrame]:
    """Probe the metadata, score every factor's normalised copy; return the tables."""
    started = time.perf_counter()
    chosen = stratified_subset(samples, cfg.max_samples, seed)
    meta = metadata_table(chosen)
    if (meta["problem"] == "").sum() == 0:
        log.warning("audit: no readable file among %d samples; skipped", len(chosen))
        return {}
    quality, short_side = common_settings(meta, cfg.jpeg_quality, cfg.short_side)
    log.info(
        "audit: %d files, factors %s (JPEG quality %d, short side %d px)",
        len(chosen),
        ", ".join(cfg.factors),
        quality,
        short_side,
    )
    parts = []
    for factor in (AS_IS, *cfg.factors):
        transform = (
            None
            if factor == AS_IS
            else partial(normalise, factor=factor, quality=quality, short_side=short_side, policy=policy)
        )
        scored, skipped = score_files(chosen, detectors, policy, transform, batch_size, workers)
        if skipped:
            log.warning(
                "audit: %d file(s) not scored %s (first: %s: %s)",
                len(skipped),
                factor,
                skipped[0]["sample"],
                skipped[0]["reason"],
            )
        parts.append(scored.assign(factor=factor))
    scores = pd.concat(parts, ignore_index=True)
    tables = {
        "audit": shift_table(scores, cfg.min_shift, resamples, seed),
        "audit_probe": metadata_probe(meta, cfg.probe_folds, seed, resamples),
        "audit_scores": scores,
        "audit_files": meta,
    }
    if timings is not None:
        timings.add("audit", started)
    print_audit(tables["audit"], tables["audit_probe"])
    return tables


def print_audit(audit: pd.DataFrame, probe: pd.DataFrame) -> None:
    if len(probe):
        p = probe.iloc[0]
        log.info(
            "audit: metadata-only probe ROC-AUC %.3f [%.3f, %.3f] (n=%d, %d-fold)",
            p.roc_auc,
            p.ci_low,
            p.ci_high,
            p.n,
            p.folds,
        )
    for r in audit.to_dict("records"):
        log.info(
            "audit: %-8s %-9s %-6s n=%-5d shift %+.3f [%+.3f, %+.3f] -> %s",
            r["model"],
            r["factor"],
            r["class"],
            r["n"],
            r["shift"],
            r["shift_ci_low"],
            r["shift_ci_high"],
            r["verdict"],
        )
