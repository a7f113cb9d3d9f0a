"""Classification metrics with bootstrap confidence intervals, from a run's scores table.

Evaluation: on the unedited images (variant `identity`), per model: accuracy, precision / recall /
F1 per class, macro F1, ROC-AUC (AI as the positive class, scored by p_ai), the confusion matrix,
and accuracy per style and per generator. Robustness at dataset scale: the same headline numbers
per model x variant (op and severity), plus the distribution of delta p_ai.

Every interval is a percentile bootstrap (95 %, `resamples` draws of the images with
replacement, seeded), so the same scores and seed give the same table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from augment import IDENTITY

HEADLINE = ["accuracy", "precision_ai", "recall_ai", "f1_ai", "precision_human", "recall_human", "f1_human", "macro_f1", "roc_auc"]


def _rates(y: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """Headline metrics (except AUC) over the last axis; y, pred boolean (True = AI)."""
    tp, fp = (y & pred).sum(-1), (~y & pred).sum(-1)
    fn, tn = (y & ~pred).sum(-1), (~y & ~pred).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "accuracy": (tp + tn) / y.shape[-1],
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
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else float("nan")


def weighted_auc(y: np.ndarray, score: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC for each row of `weights` (how many times each item is drawn), all at once: the
    Mann-Whitney statistic over tie groups of the sorted scores. One sort serves every resample,
    so a thousand bootstrap AUCs of 30,000 images cost about as much as a few sklearn calls."""
    order = np.argsort(score, kind="stable")
    _, starts = np.unique(score[order], return_index=True)
    w, positive = weights[:, order], y[order]
    pos_w = np.add.reduceat(w * positive, starts, axis=1)  # (B, tie groups)
    neg_w = np.add.reduceat(w * ~positive, starts, axis=1)
    below = np.cumsum(neg_w, axis=1) - neg_w  # negatives scored strictly lower
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pos_w * (below + 0.5 * neg_w)).sum(axis=1) / (pos_w.sum(axis=1) * neg_w.sum(axis=1))


def draw_counts(n: int, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap draws: indices (draws, n) and how often each item was drawn (draws, n)."""
    idx = rng.integers(0, n, (draws, n))
    counts = np.bincount((idx + n * np.arange(draws)[:, None]).ravel(), minlength=draws * n).reshape(draws, n)
    return idx, counts


def metrics_with_ci(truth: pd.Series, p_ai: pd.Series, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """metric, value, ci_low, ci_high, n for one set of predictions."""
    y = truth.to_numpy() == "ai"
    score = p_ai.to_numpy(dtype=float)
    pred = score >= 0.5  # p_ai >= p_human for a two-way softmax
    point = {k: float(v) for k, v in _rates(y, pred).items()} | {"roc_auc": _auc(y, score)}
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {k: [] for k in HEADLINE}
    for start in range(0, resamples, 200):  # blocks bound the memory of the index matrix
        idx, counts = draw_counts(len(y), min(200, resamples - start), rng)
        for k, v in _rates(y[idx], pred[idx]).items():
            draws[k].append(v)
        draws["roc_auc"].append(weighted_auc(y, score, counts))
    rows = []
    for k in HEADLINE:
        values = np.concatenate(draws[k])
        values = values[np.isfinite(values)]
        low, high = np.percentile(values, [2.5, 97.5]) if len(values) else (np.nan, np.nan)
        rows.append({"metric": k, "value": point[k], "ci_low": float(low), "ci_high": float(high), "n": len(y)})
    return pd.DataFrame(rows)


def accuracy_with_ci(correct: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[float, float, float]:
    idx = rng.integers(0, len(correct), (resamples, len(correct)))
    low, high = np.percentile(correct[idx].mean(axis=1), [2.5, 97.5])
    return float(correct.mean()), float(low), float(high)


def evaluate(scores: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> dict[str, pd.DataFrame]:
    """evaluation_metrics, evaluation_groups (per style / generator) and confusion, per model,
    on the unedited images."""
    base = scores[scores["variant"] == IDENTITY]
    metrics, groups, confusion = [], [], []
    rng = np.random.default_rng(seed)
    for model, df in base.groupby("model", sort=False):
        metrics.append(metrics_with_ci(df["truth"], df["p_ai"], resamples, seed).assign(model=model))
        for truth in ("ai", "human"):
            for predicted in ("ai", "human"):
                confusion.append({"model": model, "truth": truth, "predicted": predicted, "count": int(((df["truth"] == truth) & (df["predicted"] == predicted)).sum())})
        for by in ("style", "generator"):
            for group, g in df.groupby(by, sort=True):
                if group == "":
                    continue
                acc, low, high = accuracy_with_ci(g["correct"].to_numpy(bool), resamples, rng)
                groups.append({"model": model, "by": by, "group": group, "n": len(g), "accuracy": acc, "ci_low": low, "ci_high": high, "mean_p_ai": float(g["p_ai"].mean())})
    cols = ["model", "metric", "value", "ci_low", "ci_high", "n"]
    return {
        "evaluation_metrics": pd.concat(metrics, ignore_index=True)[cols] if metrics else pd.DataFrame(columns=cols),
        "evaluation_groups": pd.DataFrame(groups, columns=["model", "by", "group", "n", "accuracy", "ci_low", "ci_high", "mean_p_ai"]),
        "confusion": pd.DataFrame(confusion, columns=["model", "truth", "predicted", "count"]),
    }


def robustness(scores: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per model x variant: accuracy, macro F1 and ROC-AUC with CIs, flip rate, and quantiles of
    delta p_ai: how each edit, at each severity, moves a whole test set."""
    rows = []
    for (model, variant), df in scores.groupby(["model", "variant"], sort=False):
        m = metrics_with_ci(df["truth"], df["p_ai"], resamples, seed).set_index("metric")
        q = df["delta_p_ai"].quantile([0.05, 0.25, 0.5, 0.75, 0.95]).to_numpy()
        row = {"model": model, "variant": variant, "op": df["op"].iloc[0], "severity": df["severity"].iloc[0], "n": len(df)}
        for k in ("accuracy", "macro_f1", "roc_auc"):
            row |= {k: m.at[k, "value"], f"{k}_ci_low": m.at[k, "ci_low"], f"{k}_ci_high": m.at[k, "ci_high"]}
        row |= {"flip_rate": float(df["flipped"].mean()), "mean_abs_delta_p_ai": float(df["delta_p_ai"].abs().mean())}
        row |= dict(zip(["delta_p_ai_q05", "delta_p_ai_q25", "delta_p_ai_median", "delta_p_ai_q75", "delta_p_ai_q95"], map(float, q)))
        rows.append(row)
    return pd.DataFrame(rows)


def mean_with_ci(values: np.ndarray, resamples: int, rng: np.random.Generator, min_n: int = 10) -> tuple[float, float, float]:
    """Mean and its 95 % bootstrap interval; no interval (NaN) below min_n values."""
    values = np.asarray(values, dtype=float)
    if len(values) < min_n:
        return float(values.mean()) if len(values) else float("nan"), float("nan"), float("nan")
    idx = rng.integers(0, len(values), (resamples, len(values)))
    low, high = np.percentile(values[idx].mean(axis=1), [2.5, 97.5])
    return float(values.mean()), float(low), float(high)


def shifts(scores: pd.DataFrame, resamples: int = 1000, seed: int = 0, min_n: int = 10) -> pd.DataFrame:
    """Per model x variant: mean |delta p_ai| and flip rate over samples, with 95 % bootstrap
    intervals where there are at least min_n samples: the study's anecdotes as statistics."""
    rng = np.random.default_rng(seed)
    rows = []
    for (model, variant), df in scores.groupby(["model", "variant"], sort=False):
        row = {"model": model, "variant": variant, "op": df["op"].iloc[0], "severity": df["severity"].iloc[0], "n": len(df)}
        for name, values in (("mean_abs_delta_p_ai", df["delta_p_ai"].abs()), ("flip_rate", df["flipped"].astype(float))):
            mean, low, high = mean_with_ci(values.to_numpy(), resamples, rng, min_n)
            row |= {name: mean, f"{name}_ci_low": low, f"{name}_ci_high": high}
        rows.append(row)
    return pd.DataFrame(rows)
