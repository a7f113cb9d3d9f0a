"""The one rule for "the same results" (tests/tolerance.py): exact where a value is not a float,
within the stated tolerance where it is, and a knife edge named with its row."""

import numpy as np
import pandas as pd

from tests.tolerance import (
    FROM_MAPS, LOG_ODDS, MAP_RTOL, PROBABILITY, frame_differences, map_differences, tolerance_for,
)  # fmt: skip


def scores(**changes) -> pd.DataFrame:
    table = pd.DataFrame({
        "sample_id": ["a", "b", "c"], "p_ai": [0.1, 0.5000001, 0.9], "margin": [-2.2, 0.0000004, 2.2],
        "pred": ["human", "ai", "ai"], "correct": [True, False, True], "n": [3, 3, 3],
    })  # fmt: skip
    return table.assign(**changes)


def test_each_column_gets_the_tolerance_of_what_it_measures():
    assert tolerance_for("scores.parquet", "p_ai") is PROBABILITY
    assert tolerance_for("scores.csv", "delta_margin") is LOG_ODDS
    assert tolerance_for("explanation_road.parquet", "log_odds") is FROM_MAPS  # made from maps, first
    assert tolerance_for("explain/explanation_checks.parquet", "value") is FROM_MAPS
    assert tolerance_for("summary.parquet", "mean_delta_p_ai_ci_low") is PROBABILITY


def test_floats_within_tolerance_are_the_same_result_and_beyond_it_are_not():
    assert frame_differences(scores(p_ai=[0.1 + 9e-6, 0.5000001, 0.9]), scores()) == []
    assert frame_differences(scores(margin=[-2.2 + 9e-5, 0.0000004, 2.2]), scores()) == []
    (line,) = frame_differences(scores(p_ai=[0.1 + 3e-5, 0.5000001, 0.9]), scores(), "scores.parquet")
    assert line.startswith("scores.parquet row 0 (sample_id='a', pred='human', correct=True, n=3): p_ai: expected 0.1")
    assert "off by 3e-05" in line and "knife edge" not in line


def test_a_decision_that_flips_while_every_float_agrees_is_named_a_knife_edge():
    found = scores(p_ai=[0.1, 0.4999999, 0.9], pred=["human", "human", "ai"], correct=[True, True, True])
    (line,) = frame_differences(found, scores(), "scores.parquet")
    assert line.startswith("scores.parquet row 1 (sample_id='b', n=3): pred: expected 'ai', found 'human'; correct:")
    assert "a knife edge" in line and "p_ai=0.4999999" in line


def test_columns_types_and_rows_must_match_exactly():
    assert "columns" in frame_differences(scores().drop(columns="n"), scores())[0]
    assert "column types differ: n float64 (expected int64)" in frame_differences(scores(n=[3.0] * 3), scores())[0]
    assert frame_differences(scores().head(2), scores()) == ["table: 2 rows where 3 were expected"]
    assert frame_differences(scores(p_ai=[np.nan, 0.5000001, 0.9]), scores(p_ai=[np.nan, 0.5000001, 0.9])) == []
    assert len(frame_differences(scores(p_ai=[np.nan, 0.5000001, 0.9]), scores())) == 1


def test_maps_are_compared_against_their_own_scale():
    tiny = np.full((2, 4, 4), 1e-12)
    assert map_differences(tiny * (1 + MAP_RTOL / 2), tiny) == []
    assert map_differences(tiny * (1 + 2 * MAP_RTOL), tiny) == [
        "maps[0]: off by 2e-15, more than 0.001 of its scale 1e-12",
        "maps[1]: off by 2e-15, more than 0.001 of its scale 1e-12",
    ]
    assert map_differences(np.zeros((1, 2, 2)), np.zeros((1, 3, 2)))[0].startswith("maps: shape")
