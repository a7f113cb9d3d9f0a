"""Cue reversal in the audit: each class re-encoded at the other class's typical file setting."""

import pytest

from experiments.config.model_blocks import DatasetConfig
from experiments.config.sections import AuditConfig
from experiments.inputs.file_factors import file_metadata
from experiments.inputs.images import DecodePolicy
from experiments.inputs.samples import samples_from_dataset
from experiments.stages.audit import metadata_table, run_audit
from experiments.report.html_tables import with_interval
from experiments.report.sections import reversal_block
from experiments.stages.cue_reversal import reencode, run_reversal, typical_settings
from tests.conftest import shared_folder


@pytest.fixture(scope="module")
def vangogh():
    """800 real 512 px JPEGs: every AI file quality 70, every human file quality 90
    ($ARTXAI_VANGOGH_JPEG or ../shared/vangogh-jpeg)."""
    return shared_folder("ARTXAI_VANGOGH_JPEG", "vangogh-jpeg", "test")


def test_reversal_on_vangogh_swaps_the_qualities_and_agrees_with_the_audit(vangogh, cnn32, tmp_path):
    samples = samples_from_dataset(DatasetConfig(root=vangogh, layout="generic", limit_per_class=8), "test")
    meta = metadata_table(samples)
    assert typical_settings(meta) == {"jpeg": {"ai": 70, "human": 90}, "size": {"ai": 512, "human": 512}}
    cfg = AuditConfig(factors=["jpeg", "size"], reversal=True)
    tables = run_audit(cfg, samples, [cnn32], DecodePolicy(), seed=0, resamples=300)
    table = run_reversal(cfg, samples, [cnn32], tables, tmp_path, DecodePolicy(), seed=0, resamples=300)[
        "audit_reversal"
    ]
    rows = table.set_index(["factor", "class"])
    assert rows.loc[("jpeg_reversed", "ai"), ["from_setting", "to_setting"]].tolist() == [70, 90]
    assert rows.loc[("jpeg_reversed", "human"), ["from_setting", "to_setting"]].tolist() == [90, 70]
    assert (rows["n"] == 8).all() and (tmp_path / "audit_reversal.parquet").is_file()
    size = rows.loc["size_reversed"]  # both classes 512 px: resized to their own size, re-saved at their own quality
    assert (size["accuracy_change"] == 0).all() and (size["verdict"] == "no_evidence").all()
    audit = tables["audit"].set_index(["factor", "class"])
    for truth in ("ai", "human"):  # the study's model, not trained on these files: both say the same
        assert rows.loc[("jpeg_reversed", truth), "verdict"] == audit.loc[("jpeg", truth), "verdict"]
        low, high = rows.loc[("jpeg_reversed", truth), ["accuracy_change_ci_low", "accuracy_change_ci_high"]]
        assert low <= rows.loc[("jpeg_reversed", truth), "accuracy_change"] <= high
    block = reversal_block(table)  # the report's rows: from / to setting, the change with its interval
    html = block["html"] + block["constants"]  # a column equal in every row is said once, above the table
    assert html.count("jpeg_reversed") == 2 and ">from setting<" in html and ">to setting<" in html
    change = rows.loc[("jpeg_reversed", "human")]
    bounds = change[["accuracy_change", "accuracy_change_ci_low", "accuracy_change_ci_high"]]
    shown = with_interval(*bounds, 3, signed=True)
    assert shown in html


def test_reencode_sets_the_quality_or_the_size_and_keeps_the_format(vangogh):
    data = next((vangogh / "test" / "ai").iterdir()).read_bytes()
    assert file_metadata(data)["jpeg_quality"] == 70
    assert file_metadata(reencode(data, "jpeg", 90))["jpeg_quality"] == 90
    smaller = file_metadata(reencode(data, "size", 256))
    assert (smaller["width"], smaller["height"], smaller["format"], smaller["jpeg_quality"]) == (256, 256, "JPEG", 70)
    with pytest.raises(ValueError, match="no reversal"):
        reencode(data, "metadata", 1)
