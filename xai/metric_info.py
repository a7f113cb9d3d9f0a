"""What each measure of an explanation is, as data (Quantus' `score_direction`): `MetricInfo` with
its name, which way is better, its range and where it comes from, for every measure xai computes
(`XAI_METRICS`). The one source of these facts: xai.sensitivity's DIRECTIONS and the run's
verdicts (experiments.stats.statistics.METRICS, which adds the run's own measures) read them here.
A leaf: it imports nothing of xai, and loads no Keras."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Direction = Literal["higher", "lower", "either"]


@dataclass(frozen=True)
class MetricInfo:
    """What a reported measure is and which way is better: `higher`, `lower`, or `either` (no
    better side: any change that is not noise counts, as for a shift of the scores). `low`,
    `high`: the values it can take (None where open); `citation`: where it comes from ("" for
    artxai's own)."""

    name: str
    direction: Direction
    description: str
    low: float | None = None
    high: float | None = None
    citation: str = ""


PETSIUK, ROAD = "Petsiuk et al. 2018 (RISE)", "Rong et al. 2022 (ROAD)"
ADEBAYO, YEH, ARRAS = "Adebayo et al. 2018", "Yeh et al. 2019", "Arras et al. 2022"

SPEARMAN, SHARE, UNIT_CHANGE, OPEN = (-1, 1), (0, 1), (0, 2), (None, None)  # ranges (unit maps: xai.sensitivity)

XAI_METRICS = {m.name: m for m in (
    MetricInfo("deletion_auc_logit", "lower", "deletion AUC of the target's log-odds", *OPEN, PETSIUK),
    MetricInfo("insertion_auc_logit", "higher", "insertion AUC of the target's log-odds", *OPEN, PETSIUK),
    MetricInfo("deletion_auc", "lower", "deletion AUC of the target's probability", *SHARE, PETSIUK),
    MetricInfo("insertion_auc", "higher", "insertion AUC of the target's probability", *SHARE, PETSIUK),
    MetricInfo(
        "drift_margin_spearman", "higher", "Spearman of a map's change with |delta margin| (tracks the score)",
        *SPEARMAN,
    ),
    MetricInfo(
        "sanity_spearman", "lower", "Spearman of a map with a randomised model's map (depends on the model)",
        *SPEARMAN, ADEBAYO,
    ),
    MetricInfo(
        "road_morf_log_odds", "lower", "ROAD MoRF: target's log-odds, most relevant pixels imputed", *OPEN, ROAD
    ),
    MetricInfo(
        "road_lerf_log_odds", "higher", "ROAD LeRF: target's log-odds, least relevant pixels imputed", *OPEN, ROAD
    ),
    MetricInfo("road_gap_log_odds", "higher", "ROAD LeRF minus MoRF of the target's log-odds", *OPEN, ROAD),
    MetricInfo(
        "pointing_game", "higher", "share of maps whose maximum lies in the planted patch", *SHARE, "Zhang et al. 2018"
    ),
    MetricInfo("relevance_mass", "higher", "share of positive attribution inside the planted patch", *SHARE, ARRAS),
    MetricInfo("relevance_rank", "higher", "share of the top-|patch| pixels inside the planted patch", *SHARE, ARRAS),
    MetricInfo(
        "max_sensitivity", "lower", "largest change of a unit-norm map under small noise (Yeh et al. 2019)",
        *UNIT_CHANGE, YEH,
    ),
    MetricInfo(
        "avg_sensitivity", "lower", "mean change of a unit-norm map under small noise (Yeh et al. 2019)",
        *UNIT_CHANGE, YEH,
    ),
    MetricInfo(
        "drift_spearman", "higher", "Spearman of an edited image's map with its unedited image's map", *SPEARMAN
    ),
)}  # fmt: skip
