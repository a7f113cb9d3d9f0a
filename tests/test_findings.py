"""The findings card, the names of edits, the report's tables and figures, on small hand-made runs
whose answers are known: scores are made by the runner's own table functions from p_ai values
chosen so that each number can be worked out by hand."""

import json
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from experiments.report import heatmap, severity_figures
from experiments.report.findings import model_findings
from augment.naming import axis_label, compact_params, describe, parse_variant, series_title
from experiments.report.html_tables import Tint, drop_constant, render, table_block, with_interval
from experiments.stats.statistics import wilson_ci
from experiments.stages.scoring.tables import finish_scores, minimal_flip, minimal_flip_curve, summarise

TRUTH = {"s0": "ai", "s1": "ai", "s2": "ai", "s3": "human"}
UNEDITED = {"s0": 0.9, "s1": 0.8, "s2": 0.7, "s3": 0.6}  # s3 (human art) is already wrong: called AI
# variant -> (op, params, severity, p_ai per sample)
EDITS = {
    "gaussian_blur(sigma=1)": ("gaussian_blur", {"sigma": 1.0}, 1.0, {"s0": 0.85, "s1": 0.7, "s2": 0.3, "s3": 0.55}),
    "gaussian_blur(sigma=2)": ("gaussian_blur", {"sigma": 2.0}, 2.0, {"s0": 0.6, "s1": 0.4, "s2": 0.2, "s3": 0.5}),
    "hue_shift(degrees=90)": ("hue_shift", {"degrees": 90.0}, 90.0, {"s0": 0.95, "s1": 0.95, "s2": 0.95, "s3": 0.95}),
    "occlusion(area=0.1, colour='red', count=1, position='random')": (
        "occlusion", {"area": 0.1, "colour": "red", "count": 1, "position": "random"}, 0.1,
        {"s0": 0.85, "s1": 0.75, "s2": 0.1, "s3": 0.2},
    ),
}  # fmt: skip


def toy_scores(model: str = "m") -> pd.DataFrame:
    rows = []
    for sample, truth in TRUTH.items():
        base = {
            "sample": sample,
            "subject": f"subject {sample}",
            "edit": "original",
            "truth": truth,
            "model": model,
            "replicate": 0,
            "style": "",
            "generator": "",
        }
        rows.append(
            base
            | {"variant": "identity", "op": "identity", "params": "{}", "severity": np.nan, "p_ai": UNEDITED[sample]}
        )
        for variant, (op, params, severity, p) in EDITS.items():
            rows.append(
                base
                | {"variant": variant, "op": op, "params": json.dumps(params), "severity": severity, "p_ai": p[sample]}
            )
    raw = pd.DataFrame(rows)
    raw["p_human"] = 1 - raw["p_ai"]
    return finish_scores(raw)


def rescore(scores: pd.DataFrame, p_ai) -> pd.DataFrame:
    return finish_scores(scores.assign(p_ai=p_ai, p_human=1 - np.asarray(p_ai, float)).drop(columns=["margin"]))


def toy_findings(scores=None):
    scores = toy_scores() if scores is None else scores
    summary = summarise(scores, resamples=200, seed=0)
    flips = minimal_flip(scores)
    return model_findings(scores, summary, flips, minimal_flip_curve(flips, scores), None, "m")


def test_findings_card_on_a_run_worked_out_by_hand():
    found = toy_findings()
    acc = found["accuracy"]  # s0, s1, s2 right; s3 wrong
    assert (acc["k"], acc["n"]) == (3, 4)
    assert (acc["ci_low"], acc["ci_high"]) == pytest.approx(wilson_ci(3, 4))
    assert found["small_n"] and found["n"] == 4

    # blur sigma 2 fools s1 and s2 (2 of the 3 right); occlusion fools s2 (1 of 3); hue fools none
    top = found["most_fooling"]
    assert [e["variant"] for e in top] == [
        "gaussian_blur(sigma=2)",
        "occlusion(area=0.1, colour='red', count=1, position='random')",
    ]
    assert (
        top[0]["fooling_rate"] == pytest.approx(2 / 3)
        and top[0]["n_correct"] == 3
        and top[0]["fooled"] == pytest.approx(2)
    )
    assert (top[0]["ci_low"], top[0]["ci_high"]) == pytest.approx(wilson_ci(2, 3))
    assert top[0]["direction"]["towards"] == "human" and top[0]["direction"]["share"] == pytest.approx(1.0)
    assert top[0]["label"] == "Gaussian blur σ 2" and top[1]["label"] == "occlusion area 0.1"

    # half of the 3 right answers: blur gets there at sigma 2 (s2 from sigma 1, s1 from sigma 2); occlusion never
    mild = found["mildest"]
    assert mild["reached"] and mild["best"]["variant"] == "gaussian_blur(sigma=2)"
    assert (mild["best"]["fooled"], mild["best"]["n"], mild["best"]["harshest"]) == (2, 3, 2.0)
    assert mild["others"] == []

    # s2 is fooled by blur and occlusion, s1 by blur only, s0 by none
    fragile = found["fragile"]
    assert fragile["sample"] == "s2" and fragile["fooled"] == 2 and fragile["families"] == 3
    assert fragile["fooled_by"] == [
        "Gaussian blur",
        "occlusion",
    ]  # mildest for its grid first (sigma 1 of 2; area 0.1 of 0.1)


def test_findings_when_nothing_fools_or_nothing_is_right():
    scores = toy_scores()
    calm = rescore(scores, np.where(scores["truth"] == "ai", 0.9, 0.9))  # every edit leaves p_ai where it was
    found = toy_findings(calm)
    assert found["most_fooling"] == [] and not found["mildest"]["reached"]
    assert found["mildest"]["best"]["fooled"] == 0
    wrong = rescore(scores, np.where(scores["truth"] == "ai", 0.1, 0.9))
    found = toy_findings(wrong)
    assert found["accuracy"]["k"] == 0 and found["most_fooling"] == [] and found["fragile"] is None
    unedited_only = toy_scores()
    unedited_only = unedited_only[unedited_only["variant"] == "identity"]
    found = toy_findings(unedited_only)
    assert not found["edited"] and found["most_fooling"] == [] and found["mildest"] is None


def test_edit_names_leave_defaults_out():
    assert describe("occlusion(area=0.2, colour='red', count=3, position='random')#2") == "occlusion area 0.2, count 3"
    assert describe("brightness_contrast(brightness=-0.4, contrast=0)") == "brightness -0.4"
    assert (
        describe("text_watermark(opacity=0.7, text='SAMPLE', size=0.1, position='tiled')")
        == "text watermark opacity 0.7, position tiled"
    )
    combined = "combined(hue_shift(degrees=45) + occlusion(area=0.03, colour='yellow', count=3, position='random'))"
    assert parse_variant(combined) == [
        ("hue_shift", {"degrees": 45}),
        ("occlusion", {"area": 0.03, "colour": "yellow", "count": 3, "position": "random"}),
    ]
    assert describe(combined) == "hue shift 45° + occlusion area 0.03, colour yellow, count 3"
    assert describe("identity") == "unedited" and describe("not a (variant") == "not a (variant"
    assert compact_params("occlusion", {"area": 0.1, "colour": "red", "count": 1, "position": "random"}) == "area 0.1"
    assert axis_label("jpeg") == "JPEG quality (100 = best)" and axis_label("gaussian_blur") == "blur σ (px)"
    assert series_title("brightness_contrast", {"contrast": 0}, "decrease", True) == "brightness (darker)"


def test_tables_say_constant_columns_once_and_tint_by_value():
    df = pd.DataFrame(
        {
            "model": ["m", "m"],
            "variant": ["a <b>", "b"],
            "fooling_rate": [0.5, np.nan],
            "mean_delta_margin": [-2.0, 1.0],
        }
    )
    slim, constant = drop_constant(df)
    assert list(slim.columns) == ["variant", "fooling_rate", "mean_delta_margin"] and constant == {"model": "m"}
    block = table_block(df, "t", {"fooling_rate": Tint("rate"), "mean_delta_margin": Tint("signed")})
    assert block["constants"] == "Every row: model m."
    html = block["html"]
    assert (
        "<th" in html and ">fooled<" in html and ">mean Δ margin<" in html and "fooling_rate" not in html
    )  # readable headers
    assert "a &lt;b&gt;" in html  # text is escaped
    assert "#T_t_row0_col1" in html and "#T_t_row1_col1" not in html  # a missing value stays untinted
    assert 'class="sortable"' in html and render(df, "t") == render(df, "t")  # same page when made again
    assert with_interval(0.625, 0.3057, 0.8632) == "0.62\u00a0[0.31,\u00a00.86]"
    assert with_interval(np.nan, 0, 1) == "" and with_interval(1.5, np.nan, np.nan, 1, signed=True) == "+1.5"


def toy_points(metric="fooling_rate"):
    scores = toy_scores()
    summary = summarise(scores, resamples=200, seed=0)
    jpeg = summary[summary["variant"] == "gaussian_blur(sigma=1)"].assign(
        variant="jpeg(quality=20)", op="jpeg", severity=20.0
    )
    return severity_figures.add_series(pd.concat([summary, jpeg], ignore_index=True))


def test_severity_panels_run_milder_to_harsher_from_the_unedited_point(tmp_path):
    points = toy_points()
    assert set(points["series"]) == {
        "gaussian_blur(sigma>0)",
        "hue_shift(degrees>0)",
        "occlusion(area>0, colour='red', count=1, position='random')",
        "jpeg(quality<100)",
    }
    jpeg = points[points["op"] == "jpeg"]
    assert (jpeg["side"] == "decrease").all() and jpeg["strength"].iloc[0] == 80

    fig, ax = plt.subplots()
    severity_figures.draw_series(ax, jpeg, "fooling_rate", {"m": (0.0, 0.0, 0.0)}, {"m": "C0"})
    left, right = ax.get_xlim()
    assert left > right and left > 100 > 20 > right  # quality runs from 100 (unedited) down: milder on the left
    line = ax.lines[0]
    assert list(line.get_xdata()) == [100, 20] and list(line.get_ydata())[0] == 0  # the unedited point is drawn
    plt.close(fig)

    blur = points[points["op"] == "gaussian_blur"]
    fig, ax = plt.subplots()
    severity_figures.draw_series(ax, blur, "fooling_rate", {"m": (0.0, 0.0, 0.0)}, {"m": "C0"})
    assert ax.get_xlim()[0] < 0 < 2 < ax.get_xlim()[1]
    assert list(ax.lines[0].get_xdata()) == [0, 1, 2] and list(ax.lines[0].get_ydata()) == pytest.approx(
        [0, 1 / 3, 2 / 3]
    )
    plt.close(fig)

    panels = severity_figures.severity_panels(points, "fooling_rate", "fooled", tmp_path, "p")
    assert [p["series"] for p in panels][:2] == [
        "gaussian_blur(sigma>0)",
        "occlusion(area>0, colour='red', count=1, position='random')",
    ]  # by effect
    assert all(p["path"].is_file() for p in panels)
    low, high = severity_figures.shared_ylim(points, "fooling_rate", {"m": (0.0, 0.0, 0.0)})
    assert low < 0 and high >= points["fooling_rate"].max()  # one scale holds every panel's values


def test_heatmap_marks_fooled_cells_wrong_subjects_and_hidden_moves():
    scores = toy_scores()
    saturated = scores.copy()
    saturated.loc[(saturated["sample"] == "s0") & (saturated["variant"] == "identity"), "p_ai"] = 0.999
    saturated.loc[(saturated["sample"] == "s0") & (saturated["op"] == "hue_shift"), "p_ai"] = (
        0.99999  # Δp ~ 0, Δmargin ~ +4.6
    )
    saturated = rescore(saturated, saturated["p_ai"].to_numpy())
    fig = heatmap.heatmap_figure(saturated, "m")
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("●") == int(
        saturated.loc[saturated["variant"] != "identity", "fooled"].sum()
    )  # blur 1: s2; blur 2: s1, s2; occlusion: s2
    assert "+5" in texts  # log(0.99999/0.00001) - log(0.999/0.001) = 4.6
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["subject s0", "subject s1", "subject s2", "✗ subject s3"]  # s3 was wrong unedited
    assert sum(isinstance(p, plt.Rectangle) and p.get_linestyle() != "-" for p in ax.patches) == 1  # and framed
    plt.close(fig)


def test_each_severity_panel_shows_its_own_series_alone(tmp_path):
    """The panels are drawn one after another on one reused Axes: a panel made in the sequence
    is pixel for pixel the panel made alone (nothing left over from the one before), and the
    panels differ from each other."""
    from PIL import Image

    points = toy_points()
    panels = severity_figures.severity_panels(
        points, "fooling_rate", "fooled", tmp_path / "all", "p", ylim=(-0.03, 1.03)
    )
    assert len(panels) == points["series"].nunique() == 4
    pictures = [np.asarray(Image.open(p["path"]).convert("RGB")) for p in panels]
    assert len({p.tobytes() for p in pictures}) == 4
    for k in (1, 3):
        alone = severity_figures.severity_panels(
            points,
            "fooling_rate",
            "fooled",
            tmp_path / f"alone{k}",
            "p",
            order=[panels[k]["series"]],
            ylim=(-0.03, 1.03),
        )
        assert np.array_equal(np.asarray(Image.open(alone[0]["path"]).convert("RGB")), pictures[k])


def test_heatmap_cells_are_coloured_by_the_change_in_p_ai(tmp_path):
    """The saved heatmap: each cell has the colour of its Δ p(AI) on the RdBu_r scale
    from -1 to 1 (red towards AI, blue towards human), where no marker is drawn on it."""
    from matplotlib import colormaps
    from PIL import Image

    scores = toy_scores()
    fig = heatmap.heatmap_figure(scores, "m")
    ax = fig.axes[0]
    fig.canvas.draw()
    picture = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    edited = scores[scores["variant"] != "identity"]
    delta = edited.pivot_table(index="variant", columns="subject", values="delta_p_ai").reindex(
        index=list(dict.fromkeys(edited["variant"])), columns=list(dict.fromkeys(edited["subject"]))
    )
    fooled = edited.pivot_table(index="variant", columns="subject", values="fooled").reindex_like(delta)
    checked = 0
    for i in range(delta.shape[0]):
        for j in range(delta.shape[1]):
            if fooled.iat[i, j] >= 0.5:
                continue  # a dot covers the centre
            x, y = ax.transData.transform((j + 0.3, i + 0.3))  # off the centre, inside the cell
            want = np.array(colormaps["RdBu_r"]((delta.iat[i, j] + 1) / 2)[:3]) * 255
            assert np.abs(picture[picture.shape[0] - int(y), int(x)] - want).max() <= 3, (i, j)
            checked += 1
    assert checked == delta.size - int((fooled >= 0.5).to_numpy().sum()) and checked >= 10
    path = heatmap.delta_heatmap(scores, "m", tmp_path / "h.png")
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), picture)  # the file is that picture
    plt.close(fig)


def test_written_files_follow_the_umask(tmp_path):
    """mkstemp makes 0600 files; atomic writes give what open() would under the umask."""
    code = (
        "import os, sys; from pathlib import Path; from experiments.rundir.atomic import atomic_write_text;"
        "atomic_write_text(Path(sys.argv[1]) / 'sub' / 'f.txt', 'x')"
    )
    for umask, file_mode, dir_mode in ((0o022, 0o644, 0o755), (0o027, 0o640, 0o750)):
        out = tmp_path / f"u{umask:o}"
        out.mkdir()
        subprocess.run(
            [sys.executable, "-c", code, str(out)], check=True, preexec_fn=lambda u=umask: os.umask(u), cwd=os.getcwd()
        )
        assert (out / "sub" / "f.txt").stat().st_mode & 0o777 == file_mode
        assert (out / "sub").stat().st_mode & 0o777 == dir_mode
