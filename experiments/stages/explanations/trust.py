"""How far to trust the explanation stage's maps, from its rows: the summary per model x method
(table explanation_summary) and each method against the `random` baseline on the same images,
as paired differences with bootstrap intervals and one verdict (table explanation_vs_random).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from augment import IDENTITY


def summarise_explanations(
    table: pd.DataFrame, sanity: pd.DataFrame, versus: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per model x method: mean drift over edited images, mean faithfulness AUCs (of the target's
    probability and of its log-odds), the mean similarity to the trained model's map once every
    layer is randomised (lower = the method depends on the model, as it should), and the verdicts
    against `random` on the log-odds AUCs over all explained images (see explanations_vs_random)."""
    if table.empty:
        return pd.DataFrame()
    edited = table[table["variant"] != IDENTITY]
    keys = ["model", "method"]
    summary = table.groupby(keys, sort=False).agg(
        maps=("variant", "size"), deletion_auc=("deletion_auc", "mean"), insertion_auc=("insertion_auc", "mean"),
        deletion_auc_logit=("deletion_auc_logit", "mean"), insertion_auc_logit=("insertion_auc_logit", "mean"),
    )  # fmt: skip
    summary = summary.join(
        edited.groupby(keys, sort=False).agg(
            drift_spearman=("drift_spearman", "mean"), drift_top_iou=("drift_top_iou", "mean")
        )
    )
    if len(sanity):
        deepest = sanity[sanity["randomised_layers"] == sanity.groupby(keys)["randomised_layers"].transform("max")]
        summary = summary.join(
            deepest.groupby(keys).agg(
                sanity_spearman_all_random=("spearman", "mean"), sanity_top_iou_all_random=("top_iou", "mean")
            )
        )
    if versus is not None and len(versus):
        overall = versus[versus["images"] == "all"].set_index([*keys, "metric"])["vs_random"]
        for metric in ("deletion_auc_logit", "insertion_auc_logit"):
            name = f"{metric.removesuffix('_auc_logit')}_vs_random"
            summary[name] = [overall.get((m, method, metric), "") for m, method in summary.index]
    return summary.reset_index()


# the metrics compared with random on every image (see explanations_vs_random); which direction
# is better is read from experiments.stats.statistics.METRICS
VERSUS_RANDOM = ("deletion_auc_logit", "insertion_auc_logit", "deletion_auc", "insertion_auc")
VERSUS_COLUMNS = [
    "model", "method", "metric", "images", "better", "n", "n_maps", "exploratory", "method_mean", "random_mean",
    "difference", "ci_low", "ci_high", "ci_method", "vs_random",
]  # fmt: skip


def _spearman_along(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=-1), rankdata(y, axis=-1)
    rx, ry = rx - rx.mean(-1, keepdims=True), ry - ry.mean(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(-1) / np.sqrt((rx**2).sum(-1) * (ry**2).sum(-1))


def _drift_tracking_difference(
    change: np.ndarray, random_change: np.ndarray, shift: np.ndarray, axis: int = -1
) -> np.ndarray:
    """Spearman(method's map change, |delta margin|) - the same for random's maps."""
    return _spearman_along(change, shift) - _spearman_along(random_change, shift)


def faithfulness_versus_random(m: pd.DataFrame, random: pd.DataFrame, resamples: int, seed: int) -> list[dict]:
    """One method's faithfulness AUCs minus random's on the same (sample, variant), averaged per
    sample and bootstrapped over samples, on all explained images and on the unedited ones."""
    from experiments.stats.statistics import METRICS, paired_difference_ci, verdict

    both = m.index.intersection(random.index)
    rows = []
    for metric in VERSUS_RANDOM:
        better = METRICS[metric].direction
        for images, keep in (("all", both), ("unedited", both[both.get_level_values("variant") == IDENTITY])):
            diff = (m.loc[keep, metric] - random.loc[keep, metric]).dropna()
            per_sample = diff.groupby(level="sample", sort=False).mean()
            zeros = np.zeros(len(per_sample))
            found = paired_difference_ci(per_sample.to_numpy(), zeros, resamples=resamples, seed=seed)
            rows.append({
                "metric": metric, "images": images, "better": better, "n": found["n"], "n_maps": len(diff),
                "method_mean": float(m.loc[diff.index, metric].mean()),
                "random_mean": float(random.loc[diff.index, metric].mean()),
                "difference": found["difference"], "ci_low": found["ci_low"], "ci_high": found["ci_high"],
                "ci_method": found["ci_method"], "vs_random": verdict(found["ci_low"], found["ci_high"], better),
            })  # fmt: skip
    return rows


def drift_versus_random(m: pd.DataFrame, random: pd.DataFrame, resamples: int, seed: int) -> dict:
    """How well the change of one method's maps tracks the change of the score on the edited
    images (Spearman), minus the same for random's maps, bootstrapped over the edited images."""
    from experiments.stats.statistics import METRICS, bootstrap_ci, verdict

    both = m.index.intersection(random.index)
    edited = [i for i in both if i[1] != IDENTITY]
    pair = pd.DataFrame({
        "change": 1 - m.loc[edited, "drift_spearman"], "random_change": 1 - random.loc[edited, "drift_spearman"],
        "shift": m.loc[edited, "delta_margin"].abs() if "delta_margin" in m else np.nan,
    }).dropna()  # fmt: skip
    arrays = [pair[c].to_numpy() for c in ("change", "random_change", "shift")]
    enough = len(pair) > 2
    point = float(_drift_tracking_difference(*arrays)) if enough else np.nan
    low, high, method_used = (
        bootstrap_ci(arrays, _drift_tracking_difference, resamples=resamples, seed=seed) if enough
        else (np.nan, np.nan, "none")
    )  # fmt: skip
    better = METRICS["drift_margin_spearman"].direction
    return {
        "metric": "drift_margin_spearman", "images": "edited", "better": better, "n": len(pair), "n_maps": len(pair),
        "method_mean": float(_spearman_along(arrays[0], arrays[2])) if enough else np.nan,
        "random_mean": float(_spearman_along(arrays[1], arrays[2])) if enough else np.nan,
        "difference": point, "ci_low": low, "ci_high": high, "ci_method": method_used,
        "vs_random": verdict(low, high, better),
    }  # fmt: skip


def explanations_vs_random(table: pd.DataFrame, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Each method against the `random` baseline on the same images, as a paired difference with
    a bootstrap interval and a verdict (`vs_random`: better / no_difference / worse).

    Faithfulness (deletion / insertion AUC, of the target's log-odds and of its probability): the
    method's AUC minus random's on the same (sample, variant), averaged per sample, bootstrapped
    over samples (an artwork's edits are not independent of each other); on all explained images
    and on the unedited ones alone (`images`). Drift (`drift_margin_spearman`, on edited images):
    how well the change of a method's map (1 - drift_spearman) tracks the change of the score
    (|delta margin|), as a Spearman correlation, minus the same for random's maps, bootstrapped
    over the edited images."""
    if table.empty or "random" not in set(table["method"]):
        return pd.DataFrame(columns=VERSUS_COLUMNS)
    from experiments.stats.statistics import exploratory

    rows = []
    keys = ["model", "sample", "variant"]
    for model, mine in table.groupby("model", sort=False):
        random = mine[mine["method"] == "random"].set_index(keys[1:])
        for method, m in mine[mine["method"] != "random"].groupby("method", sort=False):
            m = m.set_index(keys[1:])
            labels = {"model": model, "method": method}
            rows += [labels | row for row in faithfulness_versus_random(m, random, resamples, seed)]
            rows.append(labels | drift_versus_random(m, random, resamples, seed))
    out = pd.DataFrame(rows, columns=VERSUS_COLUMNS)
    out["exploratory"] = exploratory(out["n"].astype(int))
    return out
