"""Classification metrics with honest intervals, from a run's scores table.

Evaluation: on the unedited images (variant `identity`), per model: accuracy, precision / recall /
F1 per class, macro F1, the false-positive rate (human art called AI: the costly error) and the
false-negative rate, ROC-AUC and average precision (AI as the positive class, scored by p_ai),
expected calibration error with a reliability table, the confusion matrix, and accuracy per style
and per generator (per generator and per source where the samples name them: group_columns). Robustness at dataset
scale: the same headline numbers per model x variant (op and severity), plus fooling / correction rates and the
distribution of delta p_ai.

Intervals (95 %, seeded, from experiments.stats.statistics): Wilson for every proportion, at the n of
its own denominator (precision: the images called AI; recall and FNR: the AI images; FPR: the
human ones); BCa bootstrap over images for F1, macro F1, AUC, average precision and ECE in the
headline table, all six from one set of scipy's draws (experiments.stats.draws): up to BCA_MAX_N
images BCa, its jackknife from leave-one-out formulas in O(n log n) (jackknife_statistics) instead
of n evaluations on n - 1 images; above, the percentile interval, each resample's metric computed
from how often each image was drawn (one sort for all resamples).
The per-variant robustness table uses a percentile bootstrap for macro F1 and AUC, vectorised
over resamples (one sort serves every resample's AUC): BCa's jackknife costs n evaluations of
each statistic per variant, which a grid of variants on a test set of thousands cannot afford.
Every row has its n, its interval method and an `exploratory` flag (n < 30).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from augment import IDENTITY, base_variant_id
from experiments.context import RunContext
from experiments.stats.draws import draws_ci
from experiments.stats.metrics import (
    auc_stat, average_precision_stat, loo_auc, loo_average_precision, proportion_counts,
    resampled_average_precision, weighted_auc, weighted_average_precision, weighted_macro_f1,
)  # fmt: skip
from experiments.stats.statistics import (
    BCA_MAX_N, count_blocks, exploratory, percentile_interval, proportion, row_mean_cis, wilson_ci,
)  # fmt: skip
from experiments.stages.scoring.tables import fooling_and_correction, per_image

HEADLINE = [
    "accuracy", "precision_ai", "recall_ai", "f1_ai", "precision_human", "recall_human", "f1_human", "macro_f1",
    "false_positive_rate", "false_negative_rate", "roc_auc", "average_precision", "expected_calibration_error",
]  # fmt: skip
METRIC_COLUMNS = ["metric", "value", "ci_low", "ci_high", "n", "ci_method", "exploratory"]
CALIBRATION_BINS = 10


def _rates(y: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """Headline metrics (except AUC) over the last axis; y, pred boolean (True = AI)."""
    tp, fp = (y & pred).sum(-1), (~y & pred).sum(-1)
    fn, tn = (y & ~pred).sum(-1), (~y & ~pred).sum(-1)
    return _rates_of(tp, fp, fn, tn, y.shape[-1])


def _rates_of(tp, fp, fn, tn, n: int) -> dict[str, np.ndarray]:
    """_rates from the confusion counts (arrays of any shape) of n images."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "accuracy": (tp + tn) / n,
            "precision_ai": tp / (tp + fp),
            "recall_ai": tp / (tp + fn),
            "precision_human": tn / (tn + fn),
            "recall_human": tn / (tn + fp),
        }
        for c in ("ai", "human"):
            p, r = out[f"precision_{c}"], out[f"recall_{c}"]
            out[f"f1_{c}"] = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    out["macro_f1"] = (out["f1_ai"] + out["f1_human"]) / 2
    return out


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC (Mann-Whitney with mid-ranks: scikit-learn's value, without importing it)."""
    return float(auc_stat(y, score)) if 0 < y.sum() < len(y) else float("nan")


# --- statistics vectorised over leading axes (scipy's bootstrap passes (resamples, n) arrays) --------


def _f1_stat(label: str):
    def stat(y, score, axis=-1):
        return _rates(y > 0.5, score >= 0.5)[label]

    return stat


def calibration_error_stat(y, score, axis=-1, bins: int = CALIBRATION_BINS):
    """Expected calibration error of p_ai along the last axis: over equal-width bins of p_ai, the
    share of images in the bin times |observed share of AI - mean p_ai| (reliability of p_ai)."""
    y = (y > 0.5).astype(float)
    which = np.clip((score * bins).astype(int), 0, bins - 1)
    total = np.zeros(y.shape[:-1])
    for b in range(bins):
        inside = which == b
        total += np.abs((y * inside).sum(-1) - (score * inside).sum(-1))
    return total / y.shape[-1]


BOOTSTRAPPED = {
    "f1_ai": _f1_stat("f1_ai"),
    "f1_human": _f1_stat("f1_human"),
    "macro_f1": _f1_stat("macro_f1"),
    "roc_auc": auc_stat,
    "average_precision": average_precision_stat,
    "expected_calibration_error": calibration_error_stat,
}


def weighted_statistics(y: np.ndarray, score: np.ndarray) -> dict:
    """BOOTSTRAPPED's statistics as functions of a (draws, n) matrix of how often each image was
    drawn: one sort of the scores serves every draw (experiments.stats.metrics). F1 and AUC come
    out bit for bit as BOOTSTRAPPED's on the resampled images (sums of whole counts); average
    precision and calibration error to float rounding (their sums run in another order)."""
    pred = score >= 0.5
    cells = np.stack([y & pred, ~y & pred, y & ~pred, ~y & ~pred]).astype(float).T  # (n, 4): tp fp fn tn
    which = np.clip((score * CALIBRATION_BINS).astype(int), 0, CALIBRATION_BINS - 1)
    bins = np.arange(CALIBRATION_BINS)[:, None] == which  # (bins, n)
    gap = (bins * y).astype(float).T - (bins * score).T  # (n, bins): each image's share of a bin's gap

    def f1(label: str):
        return lambda w: _rates_of(*(w @ cells).T, len(y))[label]

    return {
        "f1_ai": f1("f1_ai"), "f1_human": f1("f1_human"), "macro_f1": f1("macro_f1"),
        "roc_auc": lambda w: weighted_auc(y, score, w),
        "average_precision": lambda w: weighted_average_precision(y, score, w),
        "expected_calibration_error": lambda w: np.abs(w @ gap).sum(-1) / len(y),
    }  # fmt: skip


def jackknife_statistics(y: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """BOOTSTRAPPED's statistics with each image left out in turn (n values each: BCa's
    acceleration) without n evaluations: F1 from the four confusion counts less the image's
    cell, calibration error from its bin's gap less its own share, AUC and average precision from
    tie-group sums (experiments.stats.metrics). F1 and AUC come out bit for bit as the statistics
    on each subset; calibration error and average precision to float rounding."""
    pred = score >= 0.5
    cell = np.select([y & pred, ~y & pred, y & ~pred], [0, 1, 2], 3)  # tp fp fn tn
    left_out = np.bincount(cell, minlength=4).astype(float) - np.eye(4)  # row c: an image of cell c left out
    rates = _rates_of(*left_out.T, len(y) - 1)
    which = np.clip((score * CALIBRATION_BINS).astype(int), 0, CALIBRATION_BINS - 1)
    own = y.astype(float) - score
    gap = np.bincount(which, weights=y.astype(float), minlength=CALIBRATION_BINS) - np.bincount(
        which, weights=score, minlength=CALIBRATION_BINS
    )
    ece = (np.abs(gap).sum() - np.abs(gap[which]) + np.abs(gap[which] - own)) / (len(y) - 1)
    return {
        "f1_ai": rates["f1_ai"][cell], "f1_human": rates["f1_human"][cell], "macro_f1": rates["macro_f1"][cell],
        "roc_auc": loo_auc(y, score), "average_precision": loo_average_precision(y, score),
        "expected_calibration_error": ece,
    }  # fmt: skip


def bootstrapped_cis(
    y: np.ndarray, score: np.ndarray, resamples: int, seed: int, names: Sequence[str] = tuple(BOOTSTRAPPED)
) -> dict[str, tuple]:
    """metric -> (ci_low, ci_high, method) for the BOOTSTRAPPED metrics in `names`, from one set
    of draws (draws_ci): bootstrap_ci's BCa up to BCA_MAX_N images, its acceleration from
    jackknife_statistics; above, its percentile interval, every statistic from the draw counts
    (one sort for all resamples). Up to BCA_MAX_N, average precision and calibration error are
    computed on the resampled images, as scipy does: BCa's bias correction counts the draws
    below the value on the data, and a rounding difference there would move the interval."""
    names = [k for k in BOOTSTRAPPED if k in names]
    weighted, data = weighted_statistics(y, score), (y.astype(float), score)

    def statistic(k: str):
        if len(y) > BCA_MAX_N or k not in ("average_precision", "expected_calibration_error"):
            return lambda counts, idx: weighted[k](counts)
        if k == "average_precision":
            return lambda counts, idx: resampled_average_precision(y, score, idx)
        return lambda counts, idx: calibration_error_stat(data[0][idx], data[1][idx])

    exact = None
    if len(y) <= BCA_MAX_N:
        loo = jackknife_statistics(y, score)
        exact = {k: (float(BOOTSTRAPPED[k](*data)), loo[k]) for k in names}
    return draws_ci(len(y), {k: statistic(k) for k in names}, resamples=resamples, seed=seed, exact=exact)


def metrics_with_ci(
    truth: pd.Series, p_ai: pd.Series, resamples: int = 1000, seed: int = 0, metrics: Sequence[str] = tuple(HEADLINE)
) -> pd.DataFrame:
    """metric, value, ci_low, ci_high, n, ci_method, exploratory for one set of predictions, one
    row per name in `metrics` (default every HEADLINE metric; only those are bootstrapped).
    Proportions get Wilson intervals at their own denominator; the rest a bootstrap
    (bootstrapped_cis)."""
    y = truth.to_numpy() == "ai"
    score = p_ai.to_numpy(dtype=float)
    pred = score >= 0.5  # p_ai >= p_human for a two-way softmax
    rows = {k: proportion(hits, n) for k, (hits, n) in proportion_counts(y, pred).items()}
    point = {k: float(v) for k, v in _rates(y, pred).items()}
    both = 0 < y.sum() < len(y)  # AUC and AP need both classes (as experiments.stats.statistics.metric)
    point["roc_auc"] = _auc(y, score)
    point["average_precision"] = float(average_precision_stat(y, score)) if both else np.nan
    point["expected_calibration_error"] = float(calibration_error_stat(y.astype(float), score))
    cis = bootstrapped_cis(y, score, resamples, seed, [k for k in metrics if np.isfinite(point.get(k, np.nan))])
    for k in BOOTSTRAPPED:
        if k not in metrics:
            continue
        low, high, method = cis.get(k, (np.nan, np.nan, "none"))  # no value, no interval
        rows[k] = {"value": point[k], "ci_low": low, "ci_high": high, "n": len(y), "ci_method": method}
    table = pd.DataFrame([{"metric": k} | rows[k] for k in metrics])
    table["exploratory"] = exploratory(table["n"])
    return table[METRIC_COLUMNS]


def calibration(truth: pd.Series, p_ai: pd.Series, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """The reliability table: per equal-width bin of p_ai, n, mean p_ai and the observed share
    of AI images with its Wilson interval (a calibrated model has them equal)."""
    y = truth.to_numpy() == "ai"
    score = p_ai.to_numpy(dtype=float)
    which = np.clip((score * bins).astype(int), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        n, hits = int(inside.sum()), int(y[inside].sum())
        low, high = wilson_ci(hits, n)
        rows.append({
            "bin_low": b / bins, "bin_high": (b + 1) / bins, "n": n,
            "mean_p_ai": float(score[inside].mean()) if n else np.nan,
            "share_ai": hits / n if n else np.nan, "ci_low": low, "ci_high": high,
        })  # fmt: skip
    return pd.DataFrame(rows)


def fast_metrics_with_ci(
    df: pd.DataFrame, resamples: int = 1000, seed: int = 0, shared: dict | None = None
) -> dict[str, tuple[float, float, float]]:
    """accuracy (Wilson over images, replicates averaged), macro F1 and ROC-AUC (percentile
    bootstrap over images, each image drawn with all its replicates; vectorised over resamples)
    for one model x variant: metric -> (value, ci_low, ci_high). `shared`: see count_blocks."""
    y = df["truth"].to_numpy() == "ai"
    score = df["p_ai"].to_numpy(dtype=float)
    pred = score >= 0.5
    image, images = pd.factorize(df["sample"])
    f1s, aucs = [], []
    for counts in count_blocks(len(images), resamples, seed, shared):
        weights = counts[:, image]  # an image's draws weigh each of its replicates
        f1s.append(weighted_macro_f1(y, pred, weights))
        aucs.append(weighted_auc(y, score, weights))
    per_image = pd.Series(y == pred).groupby(image).mean()
    out = {"accuracy": (float(per_image.mean()), *wilson_ci(per_image.sum(), len(images)))}
    point_f1 = float(weighted_macro_f1(y, pred, np.ones((1, len(y))))[0])
    for k, point, draws in (("macro_f1", point_f1, f1s), ("roc_auc", _auc(y, score), aucs)):
        out[k] = (float(point), *percentile_interval(np.concatenate(draws)))
    return out


def evaluate(scores: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """evaluation_metrics, evaluation_groups (per style / generator), confusion and calibration
    (the reliability table), per model, on the unedited images."""
    base = scores[scores["variant"] == IDENTITY]
    metrics, groups, confusion, reliability = [], [], [], []
    for model, df in base.groupby("model", sort=False):
        metrics.append(metrics_with_ci(df["truth"], df["p_ai"], resamples, seed).assign(model=model))
        reliability.append(calibration(df["truth"], df["p_ai"]).assign(model=model))
        for truth in ("ai", "human"):
            for predicted in ("ai", "human"):
                confusion.append(
                    {
                        "model": model,
                        "truth": truth,
                        "predicted": predicted,
                        "count": int(((df["truth"] == truth) & (df["predicted"] == predicted)).sum()),
                    }
                )
        for by in group_columns(df):
            for group, g in df.groupby(by, sort=True):
                if group == "" or (by == "generator" and "source" in df and group == "human"):
                    continue  # no group; the human images of a labelled set are grouped by source
                hits = int(g["correct"].sum())
                low, high = wilson_ci(hits, len(g))
                groups.append({
                    "model": model, "by": by, "group": group, "n": len(g), "accuracy": hits / len(g), "ci_low": low,
                    "ci_high": high,
                    "ci_method": "wilson", "exploratory": exploratory(len(g)), "mean_p_ai": float(g["p_ai"].mean()),
                })  # fmt: skip
    cols = ["model", *METRIC_COLUMNS]
    calibration_cols = ["model", "bin_low", "bin_high", "n", "mean_p_ai", "share_ai", "ci_low", "ci_high"]
    return {
        "evaluation_metrics": pd.concat(metrics, ignore_index=True)[cols] if metrics else pd.DataFrame(columns=cols),
        "evaluation_groups": pd.DataFrame(
            groups,
            columns=[
                "model",
                "by",
                "group",
                "n",
                "accuracy",
                "ci_low",
                "ci_high",
                "ci_method",
                "exploratory",
                "mean_p_ai",
            ],
        ),
        "confusion": pd.DataFrame(confusion, columns=["model", "truth", "predicted", "count"]),
        "calibration": pd.concat(reliability, ignore_index=True)[calibration_cols]
        if reliability
        else pd.DataFrame(columns=calibration_cols),
    }


def group_columns(scores: pd.DataFrame) -> tuple[str, ...]:
    """What evaluation_groups groups by: style and generator, or, where the samples name
    generators and sources (score_tables.score_columns), generator (AI) and source (human)."""
    return ("generator", "source") if "source" in scores else ("style", "generator")


def robustness(scores: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per model x variant (replicates pooled; n counts images): accuracy, macro F1 and ROC-AUC
    with intervals, flip / fooling / correction rates with Wilson intervals, and quantiles of
    delta p_ai: how each edit, at each severity, moves a whole test set."""
    rows = []
    images = per_image(scores)
    rates = fooling_and_correction(images).set_index(["model", "variant"]).drop(columns="op")
    flips = images.groupby(["model", "variant"], sort=False)["flipped"].agg(["sum", "size"])
    keyed = scores.assign(variant=scores["variant"].map(base_variant_id))
    shared: dict[int, list[np.ndarray]] = {}  # one bootstrap draw serves every variant (count_blocks)
    for (model, variant), df in keyed.groupby(["model", "variant"], sort=False):
        m = fast_metrics_with_ci(df, resamples, seed, shared)
        q = df["delta_p_ai"].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).to_numpy()
        n = df["sample"].nunique()
        row = {
            "model": model,
            "variant": variant,
            "op": df["op"].iloc[0],
            "severity": df["severity"].iloc[0],
            "n": n,
            "exploratory": exploratory(n),
        }
        for k in ("accuracy", "macro_f1", "roc_auc"):
            row |= {k: m[k][0], f"{k}_ci_low": m[k][1], f"{k}_ci_high": m[k][2]}
        flipped, images_n = flips.loc[(model, variant)]
        row["flip_rate"] = flipped / images_n
        row["flip_rate_ci_low"], row["flip_rate_ci_high"] = wilson_ci(flipped, images_n)
        row |= rates.loc[(model, variant)].to_dict()
        row |= {"mean_abs_delta_p_ai": float(df["delta_p_ai"].abs().mean())}
        row |= dict(
            zip(
                ["delta_p_ai_q05", "delta_p_ai_q25", "delta_p_ai_median", "delta_p_ai_q75", "delta_p_ai_q95"],
                map(float, q),
            )
        )
        rows.append(row)
    return pd.DataFrame(rows)


def shifts(scores: pd.DataFrame, resamples: int = 1000, seed: int = 0, min_n: int = 2) -> pd.DataFrame:
    """Per model x variant (replicates pooled): mean |delta p_ai| with its bootstrap interval and
    the flip rate with its Wilson interval, over images (intervals from min_n images on): the
    study's anecdotes as statistics."""
    images = per_image(scores)
    rows = []
    for model, m in images.groupby("model", sort=False):
        wide = m.pivot_table(index="variant", columns="sample", values="abs_delta_p_ai", dropna=False, sort=False)
        order = m.drop_duplicates("variant")
        wide = wide.reindex(order["variant"])
        means, low, high, _ = row_mean_cis(wide.to_numpy(), resamples=resamples, seed=seed)
        flips = m.groupby("variant", sort=False)["flipped"].agg(["sum", "size"]).reindex(order["variant"])
        f_low, f_high = wilson_ci(flips["sum"].to_numpy(), flips["size"].to_numpy())
        enough = flips["size"].to_numpy() >= min_n
        for i, r in enumerate(order.itertuples()):
            n = int(flips["size"].iloc[i])
            rows.append({
                "model": model, "variant": r.variant, "op": r.op, "severity": r.severity, "n": n,
                "exploratory": exploratory(n),
                "mean_abs_delta_p_ai": means[i], "mean_abs_delta_p_ai_ci_low": low[i] if enough[i] else np.nan,
                "mean_abs_delta_p_ai_ci_high": high[i] if enough[i] else np.nan, "flip_rate": flips["sum"].iloc[i] / n,
                "flip_rate_ci_low": f_low[i] if enough[i] else np.nan,
                "flip_rate_ci_high": f_high[i] if enough[i] else np.nan,
            })  # fmt: skip
    return pd.DataFrame(rows)


# --- the stage -----------------------------------------------------------------------------------


def dataset_tables(scores: pd.DataFrame, resamples: int, seed: int) -> dict[str, pd.DataFrame]:
    """Evaluation (unedited images) and robustness (every variant) with bootstrap intervals, when
    the scored images include both classes; {} otherwise."""
    if scores.loc[scores["variant"] == IDENTITY, "truth"].nunique() < 2:
        return {}
    return evaluate(scores, resamples, seed) | {"robustness_metrics": robustness(scores, resamples, seed)}


def run(ctx: RunContext) -> dict[str, pd.DataFrame]:
    """Classification metrics and robustness with intervals, when both classes were scored
    (the runner draws their figures after the stages, with the report)."""
    t = time.perf_counter()
    tables = dataset_tables(ctx.tables["scores"], ctx.cfg.bootstrap, ctx.cfg.seed)
    if tables:
        ctx.timings.add("evaluation", t)
    return tables
