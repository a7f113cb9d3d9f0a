"""The HTML report: built from a real run, checked as data and in a real browser."""

import os
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from augment import apply, expand_grid, variant_seed
from experiments import report as report_cli
from experiments.claims import CLAIMS, verdicts
from experiments.explanations import slug
from experiments.images import decode_image, resize_for_model
from tests import browser
from tests.conftest import REPORT_ORIGINALS

def test_report_pages_tables_and_claims(reported_run, cnn32):
    run_dir = reported_run
    index = run_dir / "report" / "index.html"
    html = index.read_text()
    for section in ("summary", "shifts", "comparison", "explanations", "evaluation", "subjects"):
        assert f'id="{section}"' in html, section
    assert "<thead>" in html and html.count("<table") == html.count("<thead>")  # every table has headers
    assert not re.search(r"<img(?![^>]*\balt=\"[^\"]+\")[^>]*>", html)  # every image has alt text
    assert "http://" not in html and "https://" not in html  # nothing from the network
    pages = sorted((run_dir / "report" / "subjects").glob("*.html"))
    assert len(pages) == len(REPORT_ORIGINALS)

    scores = pd.read_parquet(run_dir / "scores.parquet")
    claims = pd.read_csv(run_dir / "report" / "claims.csv").set_index("claim")
    assert set(claims.index) == {c.id for c in CLAIMS}
    assert set(claims["verdict"]) <= {"supported", "contradicted", "inconclusive"}
    assert (claims["n_samples"] == len(REPORT_ORIGINALS)).all()  # both models ran: every claim was tested
    noise = scores[scores["op"] == "gaussian_noise"]
    for model, column in (("cnn32", "small_mean"), ("cnn128", "large_mean")):
        assert claims.at["noise", column] == pytest.approx(noise.loc[noise["model"] == model, "delta_p_ai"].abs().mean())

    # each subject page shows every scored edit, remade with the run's seeds: the very image scored
    sample = next(s for s in scores["sample"].unique() if "mona lisa" in s)
    page = (run_dir / "report" / "subjects" / f"{slug(sample)}.html").read_text()
    assert page.count('<li><figure><img src="../img/variants/') == scores["variant"].nunique()
    variant = next(v for v in expand_grid(yaml.safe_load((run_dir / "config.yaml").read_text())["augment"]) if v.id == "gaussian_noise(std=0.2)")
    pixels = decode_image(run_dir.parents[1] / "images" / "mona lisa.JPG").pixels
    remade = resize_for_model(apply(pixels, variant, variant_seed(2, sample, variant.id)), 32)
    scored = scores[(scores["sample"] == sample) & (scores["variant"] == variant.id) & (scores["model"] == "cnn32")]["p_ai"].iloc[0]
    assert cnn32.predict_proba(remade[None])[0, 0] == pytest.approx(scored, abs=1e-6)

    # regenerating from the run folder alone gives the same page
    before = html
    assert report_cli.main([str(run_dir)]) == 0
    assert index.read_text() == before


def fake_scores(small_shift, large_shift, n=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for model, shift in (("small", small_shift), ("large", large_shift)):
        for s in range(n):
            rows.append({"sample": s, "model": model, "variant": "identity", "op": "identity", "edit": "original", "params": "{}", "delta_p_ai": 0.0, "correct": True})
            rows.append({"sample": s, "model": model, "variant": "noise", "op": "gaussian_noise", "edit": "original", "params": '{"std": 0.1}',
                         "delta_p_ai": shift + rng.normal(0, 0.02), "correct": True})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("small, large, expected", [(0.05, 0.4, "supported"), (0.4, 0.05, "contradicted"), (0.2, 0.2, "inconclusive")])
def test_claim_verdicts_follow_the_evidence(small, large, expected):
    table = verdicts(fake_scores(small, large), {"small": 32, "large": 128}, resamples=500).set_index("claim")
    assert table.at["noise", "verdict"] == expected
    assert table.at["noise", "difference"] == pytest.approx(small - large, abs=0.03)
    assert table.at["dark", "verdict"] == "inconclusive"  # no darkened images in these scores
    single = verdicts(fake_scores(small, large), {"small": 32}).set_index("claim")
    assert single.at["noise", "verdict"] == "inconclusive" and "two models" in single.at["noise", "why"]


def test_report_in_a_real_browser(reported_run):
    run_dir = reported_run
    if not browser.available():
        if os.environ.get("CI"):
            pytest.fail("chromium and chromedriver are needed (.ci/run installs them)")
        pytest.skip("chromium / chromedriver not installed (apt-get install chromium chromium-driver)")
    report = run_dir / "report"
    pages = [report / "index.html", *sorted((report / "subjects").glob("*.html"))]
    for width in (1280, 390):  # a desktop and a phone
        driver = browser.open_browser(width=width)
        try:
            for page in pages:
                found = browser.inspect_page(driver, page)
                assert found["images"] > 0 and found["broken_images"] == [], (page.name, found["broken_images"])
                assert found["broken_links"] == [] and found["external"] == [], page.name
                assert found["console_errors"] == [], (page.name, found["console_errors"])
                assert found["missing_alt"] == [], page.name
                assert found["page_width"] <= width, (page.name, width)  # wide tables scroll inside their box
            driver.get(pages[0].resolve().as_uri())
            driver.save_screenshot(str(report / f"screenshot_{width}px.png"))
        finally:
            driver.quit()
    with Image.open(report / "screenshot_1280px.png") as shot:
        assert shot.format == "PNG" and shot.width >= 1000
