"""The corruption score and the per-family curves, checked against numbers worked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import average_precision_score, roc_auc_score

from experiments import run as cli
from experiments.stages.corruption import OP_FAMILIES, corruption_curves, corruption_score
from experiments.stages.scoring.tables import finish_scores

TRUTH = ["ai", "ai", "human", "human"]
VARIANTS = [("identity", "identity", np.nan), ("jpeg(quality=50)", "jpeg", 50.0), ("jpeg(quality=20)", "jpeg", 20.0),
            ("gaussian_noise(std=0.1)", "gaussian_noise", 0.1)]  # fmt: skip
P_AI = {  # model -> variant -> p_ai of images s0..s3 (s0, s1 AI; s2, s3 human)
    "a": [[0.9, 0.8, 0.2, 0.7], [0.4, 0.8, 0.2, 0.7], [0.4, 0.3, 0.6, 0.2], [0.9, 0.8, 0.2, 0.7]],
    "ref": [[0.9, 0.9, 0.1, 0.1], [0.4, 0.9, 0.1, 0.1], [0.4, 0.4, 0.1, 0.1], [0.9, 0.9, 0.6, 0.1]],
}


def hand_scores() -> pd.DataFrame:
    rows = []
    for i, truth in enumerate(TRUTH):
        for model, table in P_AI.items():
            for (variant, op, severity), p in zip(VARIANTS, table):
                rows.append({
                    "sample": f"s{i}", "subject": f"s{i}", "edit": "original", "truth": truth, "style": "",
                    "generator": "", "variant": variant, "op": op, "params": "{}", "severity": severity, "model": model,
                    "p_ai": p[i], "p_human": 1 - p[i], "replicate": 0,
                })  # fmt: skip
    return finish_scores(pd.DataFrame(rows))


def test_corruption_score_is_the_mean_over_ops_of_the_mean_over_severities_and_relative_per_op():
    table = corruption_score(hand_scores(), "ref", resamples=300, seed=1).set_index(["model", "measure"])
    # a: right unedited on s0, s1, s2. jpeg 50 fools 1 of 3 (wrong 2 of 4); jpeg 20 fools 3 of 3 (wrong 3 of 4);
    # noise fools none (wrong 1 of 4). Means over ops of the means over severities:
    assert table.at[("a", "mean_fooling_rate"), "value"] == pytest.approx(((1 / 3 + 1) / 2 + 0) / 2)
    assert table.at[("a", "mean_error"), "value"] == pytest.approx(((2 / 4 + 3 / 4) / 2 + 1 / 4) / 2)
    # ref, right on all 4: jpeg fools 1/4 then 2/4, noise 1/4 (errors the same). Per op, the sums' ratio:
    assert table.at[("ref", "mean_fooling_rate"), "value"] == pytest.approx(((1 / 4 + 2 / 4) / 2 + 1 / 4) / 2)
    assert table.at[("a", "relative_fooling_rate"), "value"] == pytest.approx(((1 / 3 + 1) / (3 / 4) + 0 / (1 / 4)) / 2)
    assert table.at[("a", "relative_error"), "value"] == pytest.approx(((5 / 4) / (3 / 4) + (1 / 4) / (1 / 4)) / 2)
    assert table.loc["ref", "value"][["relative_fooling_rate", "relative_error"]].tolist() == [1.0, 1.0]
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()
    assert table.loc[("a", "mean_error"), "ci_low"] < table.loc[("a", "mean_error"), "ci_high"]
    assert set(table["n"]) == {4} and set(table["ops"]) == {2} and set(table["variants"]) == {3}
    assert set(table["reference"]) == {"ref"} and table["exploratory"].all()
    # no reference: the absolute rows alone, the same numbers and intervals (the draws do not depend on it)
    alone = corruption_score(hand_scores(), None, resamples=300, seed=1).set_index(["model", "measure"])
    assert sorted(alone.index.get_level_values("measure").unique()) == ["mean_error", "mean_fooling_rate"]
    columns = ["value", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(alone[columns], table.loc[alone.index, columns])


def test_curves_give_ap_and_auc_per_op_and_severity_with_the_family():
    curves = corruption_curves(hand_scores(), OP_FAMILIES, resamples=200, seed=0)
    a = curves[curves["model"] == "a"].set_index("variant")
    assert a["level"].tolist() == [0, 1, 2, 1]
    assert a["family"].tolist() == ["unedited", "compression", "compression", "noise"]
    for i, (variant, _, _) in enumerate(VARIANTS):
        y = np.array(TRUTH) == "ai"
        assert a.at[variant, "roc_auc"] == pytest.approx(roc_auc_score(y, P_AI["a"][i]))
        assert a.at[variant, "average_precision"] == pytest.approx(average_precision_score(y, P_AI["a"][i]))
    assert a.at["jpeg(quality=20)", "roc_auc"] == 0.5 and a.at["identity", "roc_auc"] == 1.0
    assert (a["roc_auc_ci_low"] <= a["roc_auc"]).all() and (a["roc_auc"] <= a["roc_auc_ci_high"]).all()
    assert len(curves) == 8 and set(curves["n"]) == {4}


def test_the_curves_are_drawn_against_each_ops_own_parameter_in_its_units():
    """The AP and ROC-AUC figures: one panel per op, its x-axis the op's parameter named with its
    unit (augment's OP_INFO), the unedited images at the neutral value, then the grid's severities."""
    from augment.naming import axis_label
    from experiments.report.corruption import in_units

    curves = corruption_curves(hand_scores(), OP_FAMILIES, resamples=50, seed=0)
    for metric, ylabel in (("average_precision", "average precision"), ("roc_auc", "ROC-AUC")):
        fig = in_units(curves, metric, None)
        panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
        assert sorted(ax.get_xlabel() for ax in panels.values()) == sorted(
            f"{axis_label(op)}, harsher →" for op in ("jpeg", "gaussian_noise")
        )
        assert {ax.get_ylabel() for ax in fig.axes if ax.get_subplotspec().is_first_col()} == {ylabel}
        jpeg = next(ax for ax in panels.values() if ax.get_xlabel().startswith(axis_label("jpeg")))
        assert jpeg.lines[0].get_xdata().tolist() == [100.0, 50.0, 20.0]  # unedited (quality 100), then 50, 20
        assert jpeg.lines[0].get_ydata()[1] == pytest.approx(curves.set_index(["model", "variant"]).at[
            (jpeg.lines[0].get_label(), "jpeg(quality=50)"), metric])  # fmt: skip


def test_a_preset_with_no_one_parameter_gets_its_own_figure_by_level(tmp_path):
    """Single ops in their units; a preset (no one parameter to put on an axis) in a second figure,
    by level, for each of AP and ROC-AUC."""
    from types import SimpleNamespace

    from augment.presets import preset_variant
    from experiments.report.corruption import curve_figures

    scores = hand_scores()
    preset = scores[scores["variant"] == "jpeg(quality=50)"].assign(
        variant=preset_variant("social_repost").id, op="preset", severity=np.nan
    )
    curves = corruption_curves(pd.concat([scores, preset], ignore_index=True), OP_FAMILIES, resamples=50, seed=0)
    run = SimpleNamespace(img=tmp_path, figure=lambda path, caption: (path.name, caption))
    for metric, stem in (("average_precision", "corruption_ap"), ("roc_auc", "corruption_roc_auc")):
        drawn = curve_figures(run, curves, metric)
        assert [name for name, _ in drawn] == [f"{stem}.png", f"{stem}_levels.png"]
        assert "in its units" in drawn[0][1] and "presets" in drawn[1][1]
        assert all((tmp_path / name).is_file() for name, _ in drawn)


def test_an_unknown_reference_model_is_one_error_line_naming_the_field(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "name": "c", "models": [{"name": "cnn32", "input_size": 32, "path": "m.keras"}], "samples": {"folder": "x"},
        "corruption": {"reference": "cnn64"},
    }))  # fmt: skip
    assert cli.main([str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corruption: reference 'cnn64' is not one of the models ['cnn32']" in err[0]
    assert not (tmp_path / "run").exists()


def test_a_run_writes_the_score_relative_to_its_reference_and_the_report_shows_it_first(reported_run):
    score = pd.read_parquet(reported_run / "corruption_score.parquet").set_index(["model", "measure"])
    assert sorted(score.index.get_level_values("model").unique()) == ["cnn128", "cnn32"]
    assert score.loc["cnn32", "value"][["relative_fooling_rate", "relative_error"]].tolist() == [1.0, 1.0]
    assert set(score["reference"]) == {"cnn32"} and set(score["n"]) == {5} and set(score["ops"]) == {5}
    assert np.isfinite(score.loc[("cnn128", "relative_error"), "value"])
    curves = pd.read_parquet(reported_run / "corruption_curves.parquet")
    assert len(curves) == 2 * (1 + 7) and set(curves["family"]) == {"unedited", "noise", "colour", "overlay"}
    page = (reported_run / "report" / "index.html").read_text(encoding="utf-8")
    section = page[page.index('<section id="fooling">') :]
    assert section.index("Corruption score") < section.index("Edits ranked by how often they fool")
    for figure in ("corruption_ap.png", "corruption_roc_auc.png"):  # AP and ROC-AUC against severity, side by side
        assert f'src="img/{figure}"' in section and (reported_run / "report" / "img" / figure).is_file()
    assert section.index("corruption_ap.png") < section.index("corruption_roc_auc.png") < section.index("Edits ranked")
    assert "ROC-AUC against each edit's parameter, in its units".replace("'", "&#39;") in section
