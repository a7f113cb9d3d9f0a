"""The report's detectors side by side, on a real small run: the study's 32 px CNN (keras, trained
on AI-ArtBench's two generators: seen and unseen) beside an ONNX graph whose outputs depend on its
batch (so it runs one image per call, and its training generators are unknown), on 16 art-6gen test
images with a small grid. The table comes first, one row per model, its numbers the tables' own,
its dashes footnoted; each findings card says what its detector is."""

import html
import json
import os
import re

import pandas as pd
import pytest
import yaml

from experiments import run as cli
from experiments.report import build as report_cli
from experiments.report.detectors import MEASURES, side_by_side
from experiments.report.run_data import load_run
from tests import browser
from tests.conftest import MODEL_32
from tests.onnx_graphs import batch_dependent_classifier
from tests.test_report import sections

GENERATORS = {"original_ldm": "latent_diffusion", "stable_diffusion": "standard_diffusion"}


@pytest.fixture(scope="module")
def two_detectors(tmp_path_factory, seed_mirror, art6gen):
    tmp = tmp_path_factory.mktemp("detectors")
    graph = batch_dependent_classifier(tmp / "batchy.onnx", 16)
    art = {"root": str(art6gen), "layout": "generic", "generator_from": GENERATORS, "limit_per_class": 8}
    cfg = {
        "name": "two_detectors", "seed": 4, "out_dir": str(tmp / "results"),
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [
            {"name": "study32", "input_size": 32, "seed_asset": MODEL_32, "required": True},
            {"name": "batchy", "kind": "onnx", "path": str(graph), "output": "logits", "required": True,
             "input": {"size": 16, "layout": "nchw", "resize": "bilinear"}},
        ],
        "samples": {"dataset": art, "split": "test"},
        "augment": {"gaussian_noise": {"std": [0.1]}, "jpeg": {"quality": [30]}},
        "corruption": {},
        "bootstrap": 200,
    }  # fmt: skip
    (tmp / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp / "c.yaml")]) == 0
    return tmp / "results" / "two_detectors"


def rows_of(page: str) -> list[list[str]]:
    """The side-by-side table's body as text, cell by cell (non-breaking spaces made plain)."""
    table = re.search(r'<table id="T_side_by_side".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
    text = lambda c: html.unescape(re.sub(r"<[^>]+>", "", c)).replace("\u00a0", " ").strip()  # noqa: E731
    return [[text(c) for c in row] for row in cells]


def shown(value: float, low: float, high: float) -> str:
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def test_the_side_by_side_table_opens_the_report_with_the_tables_numbers(two_detectors):
    run_dir = two_detectors
    page = (run_dir / "report" / "index.html").read_text()
    assert sections(page)[:2] == ["detectors", "findings"]
    rows = rows_of(page)
    assert [r[0].rstrip("†") for r in rows] == ["study32", "batchy"]  # one row per model, the manifest's order
    assert [r[1] for r in rows] == ["keras", "onnx"]
    columns = ["model", "kind", *(key for key, _ in MEASURES)]
    cells = {r[0].rstrip("†"): dict(zip(columns, r)) for r in rows}

    metrics = pd.read_parquet(run_dir / "evaluation_metrics.parquet").set_index(["model", "metric"])
    for model in ("study32", "batchy"):
        for metric in ("accuracy", "roc_auc", "false_positive_rate"):
            m = metrics.loc[(model, metric)]
            assert cells[model][metric] == f"{shown(m['value'], m['ci_low'], m['ci_high'])} n = {int(m['n'])}"
    generators = pd.read_parquet(run_dir / "generators.parquet")
    pooled = generators[(generators["model"] == "study32") & (generators["kind"] == "pooled")].set_index("name")
    for pool in ("seen", "unseen"):
        g = pooled.loc[f"{pool} generators"]
        assert cells["study32"][pool] == f"{shown(g['rate'], g['ci_low'], g['ci_high'])} {g['k']} of {g['n']}"
    score = pd.read_parquet(run_dir / "corruption_score.parquet").set_index(["model", "measure"])
    for model in ("study32", "batchy"):
        c = score.loc[(model, "mean_fooling_rate")]
        assert cells[model]["corruption"] == f"{shown(c['value'], c['ci_low'], c['ci_high'])} n = {int(c['n'])}"

    # the onnx graph's training generators are unknown: a dash and its footnote, never a number
    assert cells["batchy"]["seen"] == cells["batchy"]["unseen"] == "— [1]"
    assert re.search(r'<li id="side-note-1">the generators it was trained on are unknown', page)
    # it ran one image per call (the batch check), and the table says so
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {m["name"]: m["one_image_per_call"] for m in manifest["models"]} == {"study32": False, "batchy": True}
    assert rows[1][0] == "batchy†" and rows[0][0] == "study32"
    assert re.search(r'<p id="side-one-per-call" class="notes">† batchy runs one image per call', page)


def test_the_rows_hold_the_tables_values_exactly(two_detectors):
    run = load_run(two_detectors, 200)
    block = side_by_side(run)
    metrics = pd.read_parquet(two_detectors / "evaluation_metrics.parquet")
    for row in block["rows"]:
        acc = metrics[(metrics["model"] == row["model"]) & (metrics["metric"] == "accuracy")].iloc[0]
        assert (row["accuracy"]["value"], row["accuracy"]["ci_low"], row["accuracy"]["ci_high"]) == (
            acc["value"], acc["ci_low"], acc["ci_high"],
        )  # fmt: skip
        assert row["accuracy"]["n"] == acc["n"] == 16
    # one model alone: no table (the findings card says it all)
    run.manifest = run.manifest | {"models": run.manifest["models"][:1]}
    assert side_by_side(run) is None


def test_each_card_says_what_its_detector_is(two_detectors):
    page = (two_detectors / "report" / "index.html").read_text()
    cards = re.findall(r'<article class="card">(.*?)</article>', page, re.S)
    assert len(cards) == 2
    manifest = {m["name"]: m for m in json.loads((two_detectors / "manifest.json").read_text())["models"]}
    study, onnx = cards
    assert "<summary>keras, 32 px, nearest resize, no crop</summary>" in study
    assert manifest["study32"]["sha256"] in study and "one image per call" not in study
    assert "<summary>onnx, 16 px, bilinear resize, no crop; one image per call</summary>" in onnx
    assert manifest["batchy"]["sha256"] in onnx and "output logits" in onnx
    assert html.escape(manifest["batchy"]["preprocessing"]) in onnx


def test_the_report_made_again_is_the_same(two_detectors):
    index = two_detectors / "report" / "index.html"
    before = index.read_text()
    assert report_cli.main([str(two_detectors)]) == 0
    assert index.read_text() == before


def test_the_table_reads_on_a_desktop_and_a_phone(two_detectors):
    """At 1280 px and on a 390 px phone: the side-by-side table opens the page, its scroll box keeps
    every last cell in reach, the page is no wider than the screen, no console error."""
    if not browser.available():
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are needed (.ci/run installs them)")
        pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)")
    index = two_detectors / "report" / "index.html"
    for width in (1280, 390):
        driver = browser.open_browser(width=width, height=900 if width > 600 else 844)
        try:
            found = browser.inspect_page(driver, index, width)
        finally:
            driver.quit()
        assert found["first_section"] == "detectors", width
        assert found["cut_tables"] == [] and found["page_width"] <= width, (width, found["cut_tables"])
        assert found["console_errors"] == [] and found["broken_links"] == [], width
