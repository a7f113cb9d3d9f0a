"""The explanation stage's checks of the maps themselves: ROAD, localisation on planted patches,
and one verdict per method, model and check (docs/explanation-checks.md).

`gather` takes, as each explained sample comes back to the driver, its model inputs, edit
records and every method's maps (fresh or cached); `run_checks` then makes
  explanation_road           ROAD curves of the unedited images (xai.road): one row per order x percentage; with
                             `random`, also of the blurred random control (CONTROL, xai.controls)
  explanation_road_summary   per model x method: mean MoRF, LeRF and gap, and ROAD's ranking agreement
  explanation_localisation   per map of an image whose planted patch flipped or moved the decision (xai.localisation)
  explanation_robustness     per model x method: sensitivity under small noise and drift under edits
                             (experiments.stages.explanations.robustness)
  explanation_checks         per model x method x check: value, reference, interval, n, verdict, passed,
                             and n_to_pass (experiments.stats.sample_size)
The verdicts use the one rule of experiments.stats.statistics, each metric's direction read from METRICS,
in three words (VERDICT_WORDS): pass, fail, inconclusive.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from augment import IDENTITY, EditRecord, region_mask, variant_seed
from experiments.stages.explanations.maps import usable_methods
from experiments.stages.explanations.robustness import noise_sensitivity, robustness_table
from experiments.stats.sample_size import n_to_pass, wilson_n_to_pass
from experiments.stats.statistics import METRICS, exploratory, mean_ci, paired_difference_ci, verdict, wilson_ci

log = logging.getLogger("artxai")

ROAD_PERCENTAGES = (20, 50, 80)  # the stage's ROAD steps (xai.road.PERCENTAGES has five; cost: docs/benchmarks.md)
# above LARGE px a solve costs ~20x a 32 px one and grows faster than the pixels removed: the first half
# of the curves, where MoRF falls, keeps ROAD + localisation within its budget (docs/explanation-checks.md)
ROAD_PERCENTAGES_LARGE, LARGE = (10, 30, 50), 64
MOVED = 0.1  # a planted patch "moved the decision" when |delta p_ai| is at least this (or the class flipped)
CHANGED_BELOW = (
    0.5  # a map "changed" under full randomisation when its mean Spearman with the trained map is below this
)
CONTROL = "blurred_random"  # random noise smoothed to the methods' spatial scale (xai.controls), beside `random`
CHECKS = {  # check -> (metric in METRICS, what passing means)
    "road_morf": ("road_morf_log_odds", "ROAD MoRF below random's"),
    "road_morf_blurred": ("road_morf_log_odds", "ROAD MoRF below the blurred random map's"),
    "road_lerf": ("road_lerf_log_odds", "ROAD LeRF above random's"),
    "road_lerf_blurred": ("road_lerf_log_odds", "ROAD LeRF above the blurred random map's"),
    "pointing": ("pointing_game", "points at planted patches more often than a random map"),
    "randomisation": ("sanity_spearman", f"Spearman with the randomised model's map below {CHANGED_BELOW}"),
    "noise": ("avg_sensitivity", "map moves less under small noise than from one image to the next"),
}
# the verdict rule's words as a check reads them: the interval wholly on the better side, wholly on
# the worse side, or across 0 (the study cannot tell at this n: never a fail)
VERDICT_WORDS = {"better": "pass", "worse": "fail", "no_difference": "inconclusive"}
NOT_MEASURED = "not_measured"
CHECK_COLUMNS = [
    "model", "method", "check", "metric", "better", "n", "value", "reference", "difference", "ci_low", "ci_high",
    "ci_method", "verdict", "passed", "n_to_pass", "exploratory",
]  # fmt: skip


@dataclass
class CheckUnit:
    """One sample as one model saw it: the chosen variants' model inputs, maps and edit records."""

    sample: str
    model: str
    ids: list[str]
    images: np.ndarray  # (V, S, S, 3) float32
    maps: dict[str, np.ndarray]  # method -> (V, S, S)
    records: dict[str, EditRecord]


def gather(unit, result, cached: dict, methods: dict[str, list[str]], specs: dict) -> list[CheckUnit]:
    """The CheckUnits of one explained sample (an ExplainUnit and its ExplainResult), per model,
    each method's maps from the fresh results or the cache, as collect_unit reads them."""
    out = []
    for name, ids in result.explained.items():
        maps = {}
        for method in methods[name]:
            fresh = result.fresh.get(name, {})
            maps[method] = fresh[method][0] if method in fresh else cached[(name, method)][0]
        images = np.stack([result.prep.inputs[specs[name]][i] for i in ids]).astype(np.float32)
        out.append(CheckUnit(unit.sample.id, name, list(ids), images, maps, dict(result.prep.records)))
    return out


def with_blurred_control(units: list[CheckUnit], seed: int) -> list[CheckUnit]:
    """The units (in their order) with a CONTROL map for every chosen variant, right after `random`:
    seeded noise per sample, Gaussian-smoothed (xai.controls) to the median lag-1 autocorrelation
    of the model's methods' maps of the unedited images (every method but random: their typical scale)."""
    from dataclasses import replace

    from xai.controls import blurred_random, typical_sigma

    sigmas = {}
    for model in dict.fromkeys(u.model for u in units):
        own = [
            m[0] for u in units if u.model == model for name, m in u.maps.items() if name != "random" and _ranks(m[0])
        ]
        sigma, rho = typical_sigma(np.stack(own)) if own else (0.0, float("nan"))
        log.info("blurred random control for %s: sigma %.2f px (the methods' median autocorrelation %.2f)",
                 model, sigma, rho)  # fmt: skip
        sigmas[model] = sigma
    out = []
    for u in units:
        control = blurred_random(
            u.images.shape[:3], sigmas[u.model], variant_seed(seed, u.sample, f"{CONTROL}/{u.model}")
        )
        maps = {}
        for name, m in u.maps.items():
            maps[name] = m
            if name == "random":
                maps[CONTROL] = control
        out.append(replace(u, maps=maps if CONTROL in maps else maps | {CONTROL: control}))
    return out


def _ranks(m: np.ndarray) -> bool:
    return bool(np.isfinite(m).all() and np.ptp(m) > 0)


def road_table(units: list[CheckUnit], detectors: dict, target: str, seed: int) -> pd.DataFrame:
    """ROAD's MoRF and LeRF curves of each unedited image, per model and method; maps that rank
    nothing (a flat CAM) are left out and counted in the log."""
    from xai.explain import resolve_targets
    from xai.road import ORDERS, road_for_methods

    rows, flat = [], 0
    for u in units:
        detector = detectors[u.model]
        image = u.images[:1]
        targets = resolve_targets(detector.explainable, image, target, detector.class_names)
        usable = {m: maps[:1] for m, maps in u.maps.items() if _ranks(maps[0])}
        flat += len(u.maps) - len(usable)
        seeds = {m: variant_seed(seed, u.sample, f"road/{u.model}/{m}") for m in usable}
        percentages = ROAD_PERCENTAGES if detector.input_size <= LARGE else ROAD_PERCENTAGES_LARGE
        curves = road_for_methods(detector.explainable, image, usable, targets, seeds, percentages=percentages)
        for method, c in curves.items():
            for o, order in enumerate(ORDERS):
                for p, percent in enumerate(c.percentages):
                    prob = (c.morf_probability, c.lerf_probability)[o][0, p]
                    odds = (c.morf_log_odds, c.lerf_log_odds)[o][0, p]
                    rows.append({"model": u.model, "method": method, "sample": u.sample, "variant": IDENTITY,
                                 "target": detector.class_names[targets[0]], "order": order, "percent": percent,
                                 "probability": float(prob), "log_odds": float(odds)})  # fmt: skip
    if flat:
        log.info("ROAD: %d flat map(s) rank no pixel and were left out", flat)
    columns = ["model", "method", "sample", "variant", "target", "order", "percent", "probability", "log_odds"]
    return pd.DataFrame(rows, columns=columns)


def road_per_image(road: pd.DataFrame) -> pd.DataFrame:
    """Per model x method x sample: MoRF and LeRF (mean over percentages) of probability and log-odds."""
    wide = road.pivot_table(index=["model", "method", "sample"], columns="order", values=["probability", "log_odds"],
                            aggfunc="mean", sort=False)  # fmt: skip
    wide.columns = [f"road_{order}_{score}" for score, order in wide.columns]
    return wide.reset_index()


def road_summary(road: pd.DataFrame) -> pd.DataFrame:
    """Per model x method: mean MoRF, LeRF and gap (LeRF - MoRF) of the log-odds and probability,
    n images, and per model ROAD's ranking agreement of the methods (xai.road.ranking_agreement)."""
    from xai.road import ranking_agreement

    if road.empty:
        return pd.DataFrame()
    per = road_per_image(road)
    summary = per.groupby(["model", "method"], sort=False).agg(
        n=("sample", "size"), **{c: (c, "mean") for c in per.columns if c.startswith("road_")}
    )
    summary["road_gap_log_odds"] = summary["road_lerf_log_odds"] - summary["road_morf_log_odds"]
    summary["road_gap_probability"] = summary["road_lerf_probability"] - summary["road_morf_probability"]
    summary = summary.reset_index()
    agreement = {
        model: ranking_agreement(
            dict(zip(g["method"], g["road_morf_log_odds"])), dict(zip(g["method"], g["road_lerf_log_odds"]))
        )
        for model, g in summary.groupby("model", sort=False)
    }
    summary["rank_agreement"] = summary["model"].map(agreement)
    return summary


def localisation_table(units: list[CheckUnit], scores: pd.DataFrame) -> pd.DataFrame:
    """Per map of each edited image whose edit painted a region (occlusion blocks, placed text)
    and flipped the decision or moved p_ai by at least MOVED: the three localisation measures."""
    from xai.localisation import localisation

    index = scores.set_index(["sample", "model", "variant"])
    rows = []
    for u in units:
        for v, variant in enumerate(u.ids):
            record = u.records.get(variant)
            if variant == IDENTITY or record is None or not record.boxes:
                continue
            mask = region_mask(record, *u.images.shape[1:3])
            p, delta = index.loc[(u.sample, u.model, variant), ["p_ai", "delta_p_ai"]]
            flipped = bool((p >= 0.5) != (p - delta >= 0.5))
            if not mask.any() or mask.all() or not (flipped or abs(delta) >= MOVED):
                continue
            for method, maps in u.maps.items():
                if not _ranks(maps[v]):
                    continue
                found = localisation(maps[v][None], mask[None])
                rows.append(
                    {
                        "model": u.model,
                        "method": method,
                        "sample": u.sample,
                        "variant": variant,
                        "delta_p_ai": float(delta),
                        "flipped": flipped,
                    }
                    | {k: float(a[0]) for k, a in found.items()}
                )
    columns = ["model", "method", "sample", "variant", "delta_p_ai", "flipped", "pointing_game", "relevance_mass",
               "relevance_rank", "region_share"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def _row(
    model: str, method: str, check: str, n: int, value: float, reference: float, found: tuple, ci_method: str
) -> dict:
    """One verdict row: the difference value - reference and its interval (low, high), read with
    the one verdict rule against the check's metric's direction (VERDICT_WORDS), and the smallest
    n at which the observed difference would pass (a Wilson row: from its observed share)."""
    metric = CHECKS[check][0]
    better = METRICS[metric].direction
    low, high = found
    decided = VERDICT_WORDS[verdict(low, high, better)] if n else NOT_MEASURED
    difference = value - reference
    if ci_method == "wilson":
        needed = wilson_n_to_pass(value, reference, n, better)
    else:
        needed = n_to_pass(difference, low, high, n, better)
    return {"model": model, "method": method, "check": check, "metric": metric, "better": better, "n": int(n),
            "value": value, "reference": reference, "difference": difference, "ci_low": low, "ci_high": high,
            "ci_method": ci_method, "verdict": decided, "passed": decided == "pass", "n_to_pass": needed}  # fmt: skip


def road_checks(road: pd.DataFrame, resamples: int, seed: int) -> list[dict]:
    """Per model x method: its per-image MoRF and LeRF log-odds against random's and, where the run
    has it, the blurred random control's (CONTROL), paired on the same images (bootstrap over images)."""
    if road.empty or "random" not in set(road["method"]):
        return []
    per = road_per_image(road)
    rows = []
    for model, mine in per.groupby("model", sort=False):
        references = {
            suffix: mine[mine["method"] == name].set_index("sample")
            for suffix, name in (("", "random"), ("_blurred", CONTROL))
            if (mine["method"] == name).any()
        }
        for method, m in mine[~mine["method"].isin(["random", CONTROL])].groupby("method", sort=False):
            m = m.set_index("sample")
            for order in ("morf", "lerf"):
                column = f"road_{order}_log_odds"
                for suffix, reference in references.items():
                    both = m.index.intersection(reference.index)
                    a, b = m.loc[both, column].to_numpy(), reference.loc[both, column].to_numpy()
                    found = paired_difference_ci(a, b, resamples=resamples, seed=seed)
                    rows.append(_row(model, method, f"road_{order}{suffix}", found["n"],
                                     float(np.mean(a)) if len(a) else np.nan, float(np.mean(b)) if len(b) else np.nan,
                                     (found["ci_low"], found["ci_high"]), found["ci_method"]))  # fmt: skip
    return rows


def pointing_checks(localisation: pd.DataFrame, methods: list[tuple[str, str]]) -> list[dict]:
    """Per model x method: the pointing-game hit rate (Wilson interval) against a random map's
    expected rate, the mean share of the image the patches cover; n = the maps measured."""
    rows = []
    for model, method in methods:
        g = localisation[(localisation["model"] == model) & (localisation["method"] == method)]
        n, hits = len(g), float(g["pointing_game"].sum())
        reference = float(g["region_share"].mean()) if n else np.nan
        low, high = wilson_ci(hits, n) if n else (np.nan, np.nan)
        rows.append(_row(model, method, "pointing", n, hits / n if n else np.nan, reference,
                         (low - reference, high - reference), "wilson" if n else "none"))  # fmt: skip
    return rows


def randomisation_checks(sanity: pd.DataFrame, methods: list[tuple[str, str]], resamples: int, seed: int) -> list[dict]:
    """Per model x method: the mean Spearman of the trained model's map with the map once every
    weighted layer is randomised (cascading, xai.sanity), against CHANGED_BELOW."""
    rows = []
    for model, method in methods:
        g = sanity[(sanity["model"] == model) & (sanity["method"] == method)] if len(sanity) else sanity
        deepest = g[g["randomised_layers"] == g["randomised_layers"].max()] if len(g) else g
        found = mean_ci(deepest["spearman"].to_numpy() if len(g) else [], resamples=resamples, seed=seed)
        interval = (found["ci_low"] - CHANGED_BELOW, found["ci_high"] - CHANGED_BELOW)
        rows.append(
            _row(model, method, "randomisation", found["n"], found["mean"], CHANGED_BELOW, interval, found["ci_method"])
        )
    return rows


def noise_checks(sensitivities: pd.DataFrame, methods: list[tuple[str, str]], resamples: int, seed: int) -> list[dict]:
    """Per model x method: each image's average sensitivity under small noise against the change
    from its map to the next image's map (paired bootstrap over images)."""
    rows = []
    for model, method in methods:
        g = sensitivities[(sensitivities["model"] == model) & (sensitivities["method"] == method)]
        a, b = g["avg_sensitivity"].to_numpy(float), g["between_images"].to_numpy(float)
        both = np.isfinite(a) & np.isfinite(b)
        found = paired_difference_ci(a, b, resamples=resamples, seed=seed)
        rows.append(_row(model, method, "noise", found["n"], float(a[both].mean()) if both.any() else np.nan,
                         float(b[both].mean()) if both.any() else np.nan, (found["ci_low"], found["ci_high"]),
                         found["ci_method"]))  # fmt: skip
    return rows


def check_table(
    road: pd.DataFrame,
    localisation: pd.DataFrame,
    sanity: pd.DataFrame,
    methods: list[tuple[str, str]],
    resamples: int,
    seed: int,
    sensitivities: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The verdict table: per model x method (random left out: it is the reference) x check."""
    rows = road_checks(road, resamples, seed) + pointing_checks(localisation, methods)
    rows += randomisation_checks(sanity, methods, resamples, seed)
    if sensitivities is not None:
        rows += noise_checks(sensitivities, methods, resamples, seed)
    out = pd.DataFrame(rows, columns=CHECK_COLUMNS)
    out["exploratory"] = exploratory(out["n"].astype(int)) if len(out) else []
    order = {check: i for i, check in enumerate(CHECKS)}
    keys = {(m, k): i for i, (m, k) in enumerate(methods)}
    out["_key"] = [
        (keys.get((m, k), len(keys)), order[c]) for m, k, c in zip(out["model"], out["method"], out["check"])
    ]
    return out.sort_values("_key", kind="stable").drop(columns="_key").reset_index(drop=True)


def run_checks(
    cfg,
    seed: int,
    units: list[CheckUnit],
    detectors: dict,
    scores: pd.DataFrame,
    sanity: pd.DataFrame,
    timings,
    resamples: int,
    explanations: pd.DataFrame | None = None,
) -> dict[str, pd.DataFrame]:
    """ROAD, localisation and the maps' robustness of the gathered units, the verdict table."""
    import time

    t = time.perf_counter()
    units = with_blurred_control(units, seed) if "random" in cfg.methods else units
    road = road_table(units, detectors, cfg.target, seed)
    timings.phase("ROAD", t)
    t = time.perf_counter()
    localisation = localisation_table(units, scores)
    timings.phase("localisation", t)
    t = time.perf_counter()
    sensitivities = noise_sensitivity(units, detectors, cfg.methods, cfg.target, seed)
    timings.phase("sensitivity", t)
    methods = [(d, m) for d in detectors for m in usable_methods(detectors[d], cfg.methods) if m != "random"]
    explanations = explanations if explanations is not None else pd.DataFrame()
    tables = {
        "explanation_road": road,
        "explanation_road_summary": road_summary(road),
        "explanation_localisation": localisation,
        "explanation_robustness": robustness_table(sensitivities, explanations, resamples, seed),
        "explanation_checks": check_table(road, localisation, sanity, methods, resamples, seed, sensitivities),
    }
    return tables
