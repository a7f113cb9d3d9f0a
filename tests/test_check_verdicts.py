"""The checks of the maps read in three words: pass, fail, inconclusive (experiments.stages.explanations.checks),
each with its n and the n at which its observed difference would pass (experiments.stats.sample_size), on
constructed data; and as the report, its findings card and the console word them."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments.report.explanation_checks import add_check_findings, cell, checks_block, sentence, verdict_table
from experiments.stages.explanations.checks import check_table
from experiments.stats.sample_size import n_to_pass, wilson_n_to_pass

Z = stats.norm.ppf(0.975)
IMAGES = 8


def test_n_to_pass_keeps_the_effect_and_shrinks_the_spread_as_one_over_root_n():
    # higher is better: d = 0.5, half-width towards 0 = 0.6 at n 8 -> n > 8 * (0.6 / 0.5)^2 = 11.52 -> 12
    assert n_to_pass(0.5, -0.1, 1.1, 8, "higher") == 12
    assert 0.6 * np.sqrt(8 / 12) < 0.5 < 0.6 * np.sqrt(8 / 11)  # 12 shows it, 11 does not
    # lower is better: the side towards 0 is the upper one: d = -0.43, ci_high 0.30 -> 8 * (0.73 / 0.43)^2 = 23.06
    assert n_to_pass(-0.43, -1.45, 0.30, 8, "lower") == 24
    # a pass already: at most its own n (8 * (0.62 / 0.68)^2 = 6.65 -> 7)
    assert n_to_pass(-0.68, -1.51, -0.06, 8, "lower") == 7
    # the estimate on the worse side, or at 0: no n shows a pass
    for args in ((-0.43, -1.45, 0.30, 8, "higher"), (0.0, -1.0, 1.0, 8, "higher"), (0.2, 0.1, 0.3, 8, "lower")):
        assert np.isnan(n_to_pass(*args))
    assert np.isnan(n_to_pass(0.5, np.nan, np.nan, 1, "higher")) and np.isnan(n_to_pass(0.5, -1, 2, 0, "higher"))


def wilson_low(p: float, n: int) -> float:
    """The Wilson score interval's lower end, by its formula."""
    return (p + Z**2 / (2 * n) - Z * np.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))) / (1 + Z**2 / n)


def test_wilson_n_to_pass_is_the_first_n_whose_interval_at_the_observed_share_clears_the_reference():
    share, reference = 0.4, 0.155469  # smoothgrad's pointing in the default study: 2 of 5, inconclusive
    expected = next(m for m in range(1, 1000) if wilson_low(share, m) > reference)
    assert wilson_n_to_pass(share, reference, 5, "higher") == expected
    assert expected > 5 and wilson_low(share, 5) < reference  # inconclusive at 5
    assert wilson_n_to_pass(0.8, reference, 5, "higher") <= 5  # 4 of 5 passes already
    assert np.isnan(wilson_n_to_pass(0.1, reference, 5, "higher"))  # below the reference: not reachable
    high = next(m for m in range(1, 1000) if 1 - wilson_low(1 - 0.1, m) < 0.3)  # lower is better: upper end
    assert wilson_n_to_pass(0.1, 0.3, 5, "lower") == high


def road_rows(method: str, morf: np.ndarray, lerf: np.ndarray) -> list[dict]:
    return [
        {"model": "m", "method": method, "sample": f"s{i}", "variant": "identity", "target": "ai", "order": order,
         "percent": 50, "probability": 0.5, "log_odds": float(v[i])}
        for order, v in (("morf", morf), ("lerf", lerf)) for i in range(IMAGES)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def checks() -> pd.DataFrame:
    """ROAD of three methods against random on the same 8 images: one clearly better on both
    orders, one clearly worse, one whose differences straddle 0 (with a positive mean on LeRF)."""
    rng = np.random.default_rng(0)
    base = rng.normal(-1.5, 0.3, IMAGES)
    straddle = np.array([1.0, -0.9, 0.8, -0.7, 1.1, -0.6, 0.9, -0.4])  # mean +0.275, sd ~0.85
    road = pd.DataFrame(
        road_rows("random", base, base)
        + road_rows("good", base - 1.0 + rng.normal(0, 0.1, IMAGES), base + 1.0 + rng.normal(0, 0.1, IMAGES))
        + road_rows("bad", base + 1.0 + rng.normal(0, 0.1, IMAGES), base - 1.0 + rng.normal(0, 0.1, IMAGES))
        + road_rows("unsure", base - straddle, base + straddle)
    )
    localisation = pd.DataFrame(
        {"model": "m", "method": ["good"] * 10, "pointing_game": [1.0] * 9 + [0.0], "region_share": 0.1}
    )
    sanity = pd.DataFrame(columns=["sample", "model", "method", "randomised_layers", "top_layer", "spearman"])
    methods = [("m", "good"), ("m", "bad"), ("m", "unsure")]
    return check_table(road, localisation, sanity, methods, 500, 0)


def test_each_verdict_kind_on_constructed_data(checks):
    by = checks.set_index(["method", "check"])
    for check in ("road_morf", "road_lerf"):
        good, bad, unsure = by.loc[("good", check)], by.loc[("bad", check)], by.loc[("unsure", check)]
        assert (good["verdict"], bad["verdict"], unsure["verdict"]) == ("pass", "fail", "inconclusive")
        assert good["passed"] and not bad["passed"] and not unsure["passed"]
        assert (good["n"], bad["n"], unsure["n"]) == (IMAGES, IMAGES, IMAGES)
        assert good["n_to_pass"] <= IMAGES and np.isnan(bad["n_to_pass"])  # the worse side: not reachable
        assert unsure["ci_low"] < 0 < unsure["ci_high"]
        spread = (
            unsure["difference"] - unsure["ci_low"]
            if check == "road_lerf"
            else unsure["ci_high"] - unsure["difference"]
        )
        assert unsure["n_to_pass"] == np.floor(IMAGES * (spread / abs(unsure["difference"])) ** 2) + 1 > IMAGES
    pointing = by.loc[("good", "pointing")]
    assert pointing["verdict"] == "pass" and pointing["ci_method"] == "wilson" and pointing["n"] == 10
    assert by.loc[("bad", "pointing"), "verdict"] == "not_measured" and np.isnan(
        by.loc[("bad", "pointing"), "n_to_pass"]
    )
    assert set(checks["verdict"]) == {"pass", "fail", "inconclusive", "not_measured"}


def test_the_report_words_and_colours_the_three_verdicts(checks):
    rows = checks.set_index(["method", "check"])
    assert cell(rows.loc[("good", "road_morf")]).startswith("pass: -")
    assert cell(rows.loc[("bad", "road_morf")]).startswith("fail: +")
    unsure = rows.loc[("unsure", "road_lerf")]
    assert cell(unsure).endswith(f", n {IMAGES}; pass from n {int(unsure['n_to_pass'])}")
    worse_side = rows.loc[("unsure", "road_morf")].copy()
    worse_side["n_to_pass"] = np.nan
    assert cell(worse_side).endswith("a pass not reachable at any n")
    assert cell(rows.loc[("bad", "pointing")]) == "not measured"
    table = verdict_table(checks)
    assert list(table["method"]) == ["good", "bad", "unsure"]
    html = checks_block(checks)["table"]["html"]
    for colour in ("#d6efd9", "#f7d4d4", "#eeeeee"):  # pass green, fail red, inconclusive neutral
        assert colour in html
    found = sentence(checks)
    assert found.startswith("7 checks measured (n 8-10): 3 pass, 2 fail, 2 inconclusive.")
    tail = "Passes every check on every model: good (not measured in this run: changes when the model is randomised)."
    assert found.endswith(tail)
    assert sentence(checks[checks["method"] != "good"]).endswith("No method passes every check on every model (not "
                                                                 "measured in this run: points at planted patches, "
                                                                 "changes when the model is randomised).")  # fmt: skip


def test_findings_and_console_count_the_verdicts(checks, caplog):
    from experiments.console import print_explanation_checks

    findings = [{"model": "m"}, {"model": "other"}]
    add_check_findings(findings, checks)
    assert findings[0]["checks"] == {"tally": "7 checks measured (n 8-10): 3 pass, 2 fail, 2 inconclusive",
                                     "passing": ["good"]}  # fmt: skip
    assert "checks" not in findings[1]
    with caplog.at_level(logging.INFO, logger="artxai"):
        print_explanation_checks(pytest.importorskip("pathlib").Path("run"), checks)
    lines = caplog.messages
    assert lines[0].startswith("checks of the maps: 7 checks measured (n 8-10): 3 pass, 2 fail, 2 inconclusive")
    assert sum("fail:" in line for line in lines) == 2 and sum("inconclusive:" in line for line in lines) == 2
    assert not any(" pass:" in line for line in lines[1:])
