"""The shortcut audit, cross-set evaluation and cross-generator matrix.

Generated data where the label is planted in the file (class decided by image size, or by JPEG
quality) must be flagged by the audit and solved by the metadata probe; a clean generated set
(class decided by colour, every file alike) must not be. Real data: the probe on real-mini
(sizes differ by class) and CIFAKE (they do not), and the runner's audit on real-mini."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from sklearn.metrics import average_precision_score, roc_auc_score

from experiments import run as cli
from experiments.stages.audit import metadata_probe, metadata_table, run_audit
from experiments.config.model_blocks import DatasetConfig, TrainConfig
from experiments.config.schema import load_config
from experiments.config.sections import AuditConfig, SamplesConfig
from experiments.stages.eval_sets import eval_set_table
from experiments.inputs.file_factors import file_metadata, normalise, strip_metadata
from experiments.inputs.images import DecodePolicy, ImageRejected, decode_image
from experiments.stats.metrics import weighted_average_precision
from experiments.stats.statistics import metric_with_ci, proportion, stratified_counts
from experiments.models.architecture import load_keras
from experiments.inputs.samples import load_samples, samples_from_dataset
from tests.tolerance import assert_frames_match


def jpeg_bytes(pixels, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", **kwargs)
    return buf.getvalue()


def png_bytes(pixels, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo():
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (60, 90, 3)).astype(np.uint8), (0, 0), 1.0)


def with_metadata() -> dict:
    exif = Image.Exif()
    exif[0x010F] = "camera"
    return {"exif": exif.tobytes(), "icc_profile": b"\0" * 200}


# --- file facts and normalisations --------------------------------------------------------------


def test_jpeg_quality_is_read_off_the_quantisation_tables(photo):
    for quality in (5, 30, 50, 75, 90, 100):
        assert file_metadata(jpeg_bytes(photo, quality=quality))["jpeg_quality"] == quality


def test_file_metadata_facts(photo):
    meta = file_metadata(jpeg_bytes(photo, quality=80, **with_metadata()))
    assert (meta["format"], meta["mode"], meta["width"], meta["height"], meta["aspect"]) == ("JPEG", "RGB", 90, 60, 1.5)
    assert meta["has_exif"] and meta["has_icc"] and meta["subsampling"] == "4:2:0"
    assert meta["bytes_per_pixel"] == pytest.approx(meta["file_size"] / (90 * 60))
    plain = file_metadata(png_bytes(photo))
    assert (
        plain["format"] == "PNG" and np.isnan(plain["jpeg_quality"]) and not plain["has_exif"] and not plain["has_icc"]
    )
    with pytest.raises(ValueError, match="not an image"):
        file_metadata(b"not an image at all")


@pytest.mark.parametrize("encode", [jpeg_bytes, png_bytes])
def test_strip_metadata_removes_exif_and_icc_and_keeps_every_pixel(photo, encode):
    data = encode(photo, **with_metadata())
    stripped = strip_metadata(data)
    meta = file_metadata(stripped)
    assert not meta["has_exif"] and not meta["has_icc"] and meta["format"] == file_metadata(data)["format"]
    assert np.array_equal(decode_image(stripped).pixels, decode_image(data).pixels)
    if encode is jpeg_bytes:  # the compressed scan is copied, not re-encoded
        assert stripped.endswith(data[data.index(b"\xff\xda") :]) and len(stripped) < len(data) - 200


def test_each_normalisation_changes_its_factor_only(photo):
    data = jpeg_bytes(photo, quality=95, **with_metadata())
    as_png = normalise(data, "png", quality=40, short_side=30)
    assert file_metadata(as_png)["format"] == "PNG" and np.array_equal(
        decode_image(as_png).pixels, decode_image(data).pixels
    )
    jpeg = file_metadata(normalise(data, "jpeg", quality=40, short_side=30))
    assert (jpeg["format"], jpeg["jpeg_quality"], jpeg["width"], jpeg["has_exif"]) == ("JPEG", 40, 90, False)
    size = file_metadata(normalise(data, "size", quality=40, short_side=30))
    assert (size["format"], size["width"], size["height"]) == ("PNG", 45, 30)  # lossless, aspect kept
    both = file_metadata(normalise(data, "all", quality=40, short_side=30))
    assert (both["format"], both["jpeg_quality"], both["width"], both["height"], both["has_icc"]) == (
        "JPEG",
        40,
        45,
        30,
        False,
    )


def test_decode_accepts_bytes_with_the_same_policy(tmp_path, photo):
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes(photo))
    assert np.array_equal(decode_image(path.read_bytes()).pixels, decode_image(path).pixels)
    with pytest.raises(ImageRejected, match="smaller than min_side"):
        decode_image(path.read_bytes(), DecodePolicy(min_side=61))
    with pytest.raises(ImageRejected, match="empty"):
        decode_image(b"")


# --- intervals ------------------------------------------------------------------------------------


def test_weighted_average_precision_equals_sklearn_with_ties_and_weights():
    rng = np.random.default_rng(3)
    for _ in range(20):
        y, score = rng.random(40) < 0.4, np.round(rng.random(40), 1)  # many tied scores
        weights = rng.integers(0, 3, (5, 40)).astype(float)
        expected = [average_precision_score(y, score, sample_weight=w) for w in weights]
        assert np.allclose(weighted_average_precision(y, score, weights), expected)


def test_stratified_draws_keep_class_counts_and_intervals_cover_the_point():
    strata = np.array([True] * 7 + [False] * 3)
    weights = stratified_counts(strata, 50, np.random.default_rng(0))
    assert (weights[:, :7].sum(axis=1) == 7).all() and (weights[:, 7:].sum(axis=1) == 3).all()
    assert proportion(0, 10)["ci_high"] == pytest.approx(0.2775, abs=1e-4)  # the textbook Wilson upper bound
    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.5
    score = rng.random(300) + 0.4 * y
    auc, low, high = metric_with_ci("roc_auc", y, score, 500, seed=0)
    assert auc == pytest.approx(roc_auc_score(y, score)) and low < auc < high and high - low < 0.15
    assert metric_with_ci("roc_auc", y, score, 500, seed=0) == (auc, low, high)  # seeded


# --- generated data with planted and without shortcuts -----------------------------------------


def blobs(rng, size: int, sigma: float, colour) -> np.ndarray:
    """Smooth random blobs of `sigma` px (fixed in pixels, whatever the image size) on a colour."""
    field = cv2.GaussianBlur(rng.normal(0, 1, (size, size, 3)), (0, 0), sigma)
    return np.clip(np.asarray(colour) + 40 * field / (field.std() + 1e-9), 0, 255).astype(np.uint8)


def make_set(root, kind: str, per_class: dict[str, int], seed: int = 0):
    """<root>/<split>/{ai,human}: `size` planted (AI 32 px, human 256 px PNGs), `jpeg` planted
    (32 px JPEGs, AI quality 95, human 10), or `clean` (32 px JPEGs at quality 90, class decided
    by colour, the files alike)."""
    rng = np.random.default_rng(seed)
    for split, n in per_class.items():
        for truth in ("ai", "human"):
            out = root / split / truth
            out.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                if kind == "size":
                    Image.fromarray(blobs(rng, 32 if truth == "ai" else 256, 3, rng.uniform(60, 200, 3))).save(
                        out / f"{i:03d}.png"
                    )
                elif kind == "jpeg":
                    Image.fromarray(blobs(rng, 32, 0.6, rng.uniform(100, 156, 3))).save(
                        out / f"{i:03d}.jpg", quality=95 if truth == "ai" else 10
                    )
                else:
                    warm, cool = (
                        (rng.uniform(140, 200), 100, rng.uniform(60, 100)),
                        (rng.uniform(60, 100), 100, rng.uniform(140, 200)),
                    )
                    Image.fromarray(blobs(rng, 32, 0.8, warm if truth == "ai" else cool)).save(
                        out / f"{i:03d}.jpg", quality=90
                    )
    return root


SPLITS = {"train": 40, "val": 10, "test": 20}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """For each kind of set: cnn32 trained on it, and the audit of its test split."""
    out = {}
    for kind, epochs in (("size", 4), ("jpeg", 6), ("clean", 4)):
        tmp = tmp_path_factory.mktemp(kind)
        dataset = DatasetConfig(root=make_set(tmp / "data", kind, SPLITS), layout="generic")
        from experiments.models.training import train

        train(
            "cnn32",
            TrainConfig(dataset=dataset, epochs=epochs, batch_size=8, patience=epochs),
            32,
            tmp / "cnn32.keras",
            seed=0,
        )
        detector = load_keras(tmp / "cnn32.keras", "cnn32", 32)
        samples = samples_from_dataset(dataset, "test")
        tables = run_audit(AuditConfig(), samples, [detector], DecodePolicy(), seed=0, resamples=300)
        out[kind] = {"tables": tables, "detector": detector, "samples": samples, "dataset": dataset}
    return out


def flagged(audit: pd.DataFrame) -> set[tuple[str, str]]:
    return {(r["factor"], r["class"]) for r in audit.to_dict("records") if r["verdict"] == "depends"}


def test_size_shortcut_is_flagged(audited):
    audit = audited["size"]["tables"]["audit"]
    assert {("size", "human"), ("all", "human")} <= flagged(audit)
    assert not {f for f, _ in flagged(audit)} & {"png", "metadata"}  # a lossless copy of the same pixels moves nothing
    size = audit.set_index(["factor", "class"]).loc[("size", "human")]
    assert (
        size["n"] == 20 and size["shift"] > 0.05 and size["shift_ci_low"] > 0
    )  # shrunk humans look more like the small AI files


def test_jpeg_shortcut_is_flagged(audited):
    audit = audited["jpeg"]["tables"]["audit"]
    assert ("jpeg", "ai") in flagged(audit)  # the AI files re-encoded at the humans' quality 10
    assert {f for f, _ in flagged(audit)} <= {"jpeg", "all"}
    same = audit[audit["factor"].isin(["png", "size", "metadata"])]
    assert (same["shift"] == 0).all()  # every file is 32 px already: these leave the pixels alone


def test_clean_set_is_not_flagged(audited):
    audit = audited["clean"]["tables"]["audit"]
    assert flagged(audit) == set() and len(audit) == 10
    assert (audit["accuracy_as_is"] >= 0.9).all()  # the model works: by colour


def test_metadata_probe_sees_planted_shortcuts_and_not_a_clean_set(audited):
    probes = {kind: a["tables"]["audit_probe"].set_index("probe") for kind, a in audited.items()}
    assert probes["size"].at["all", "roc_auc"] >= 0.95 and probes["size"].at["width", "roc_auc"] == 1.0
    assert probes["jpeg"].at["all", "roc_auc"] >= 0.95 and probes["jpeg"].at["jpeg_quality", "roc_auc"] == 1.0
    clean = probes["clean"].loc["all"]
    assert clean["ci_low"] < 0.5 < clean["ci_high"] and clean["n"] == 40 and clean["folds"] == 5
    assert probes["clean"].at["jpeg_quality", "roc_auc"] == 0.5  # the same quality everywhere: nothing to learn


def test_audit_scores_as_is_are_the_runners_scores(audited):
    """The audit scores through the runner's own decoding and preprocessing."""
    from experiments.inputs.images import load_for_model

    a = audited["jpeg"]
    scores = a["tables"]["audit_scores"]
    as_is = scores[scores["factor"] == "as_is"].set_index("sample")["p_ai"]
    x = np.stack([load_for_model(s.path, 32) for s in a["samples"]])
    expected = a["detector"].predict_proba(x)[:, 0]
    assert np.allclose(as_is.loc[[s.id for s in a["samples"]]].to_numpy(), expected, atol=1e-6)


# --- cross-set evaluation -----------------------------------------------------------------------


def test_eval_sets_numbers_and_paired_or_unpaired_drops(audited):
    from experiments.stages.audit import score_files

    clean, other = audited["clean"], audited["jpeg"]
    detector, policy = clean["detector"], DecodePolicy()
    first, _ = score_files(clean["samples"], [detector], policy)
    copy, _ = score_files(
        clean["samples"], [detector], policy, lambda b: normalise(b, "jpeg", quality=20, short_side=32)
    )
    elsewhere, _ = score_files(other["samples"], [detector], policy)
    scores = pd.concat(
        [first.assign(set="clean"), copy.assign(set="clean_q20"), elsewhere.assign(set="jpeg_set")], ignore_index=True
    )
    table = eval_set_table(scores, resamples=300, seed=0).set_index("set")
    for name, df in scores.groupby("set"):
        y, p = (df["truth"] == "ai").to_numpy(), df["p_ai"].to_numpy()
        row = table.loc[name]
        assert row["n"] == 40 and row["accuracy"] == pytest.approx(((p >= 0.5) == y).mean())
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y, p)) and row["average_precision"] == pytest.approx(
            average_precision_score(y, p)
        )
        assert row["fpr"] == pytest.approx(((p >= 0.5) & ~y).sum() / (~y).sum()) and row["fnr"] == pytest.approx(
            ((p < 0.5) & y).sum() / y.sum()
        )
        for m in ("accuracy", "fpr", "fnr", "roc_auc"):
            assert row[f"{m}_ci_low"] <= row[m] <= row[f"{m}_ci_high"]
    assert np.isnan(table.at["clean", "accuracy_drop"])
    q20, far = table.loc["clean_q20"], table.loc["jpeg_set"]
    assert q20["paired"] and q20["n_paired"] == 40 and not far["paired"] and far["n_paired"] == 0
    assert q20["accuracy_drop"] == pytest.approx(table.at["clean", "accuracy"] - q20["accuracy"])
    assert far["roc_auc_drop"] == pytest.approx(table.at["clean", "roc_auc"] - far["roc_auc"])
    assert far["roc_auc_drop_ci_low"] <= far["roc_auc_drop"] <= far["roc_auc_drop_ci_high"]
    # paired intervals are narrower than unpaired ones would be for the same two scorings
    assert q20["accuracy_drop_ci_high"] - q20["accuracy_drop_ci_low"] < 0.1


# --- real data ----------------------------------------------------------------------------------


def test_metadata_probe_on_real_data(real_mini):
    """real-mini: AI 224 px JPEGs, humans ~1,400 px paintings: solvable from the files alone.
    CIFAKE: both classes 32 px JPEGs from one encoder: near chance."""
    import os
    from pathlib import Path

    mini = metadata_probe(metadata_table(load_samples(SamplesConfig(folder=real_mini), None)), 5, 0, 200).set_index(
        "probe"
    )
    assert mini.at["all", "roc_auc"] == 1.0 and mini.at["all", "n"] == 60
    cifake = Path(os.environ.get("ARTXAI_CIFAKE", real_mini.parent / "cifake"))
    if not (cifake / "test").is_dir():
        pytest.fail("CIFAKE is needed: set ARTXAI_CIFAKE to ../shared/cifake")
    samples = samples_from_dataset(DatasetConfig(root=cifake, layout="generic"), "test")
    probe = metadata_probe(metadata_table(samples), 5, 0, 200).set_index("probe")
    assert probe.at["all", "n"] == 2000 and 0.45 < probe.at["all", "roc_auc"] < 0.6
    assert probe.at["width", "roc_auc"] == 0.5 and probe.at["jpeg_quality", "roc_auc"] == 0.5


def test_runner_audits_real_mini(trained_run):
    """The runner's audit and eval sets on real pixels (conftest's trained_run)."""
    run_dir, _, _ = trained_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {"audit", "audit_probe", "eval_sets"} <= set(manifest["tables"])
    scores = pd.read_parquet(run_dir / "scores.parquet")
    base = scores[scores["variant"] == "identity"].set_index("sample")["p_ai"]
    audit_scores = pd.read_parquet(run_dir / "audit_scores.parquet")
    as_is = audit_scores[audit_scores["factor"] == "as_is"].set_index("sample")["p_ai"]
    assert np.allclose(as_is.loc[base.index], base, atol=1e-6)  # the same decode and preprocessing as the scores
    audit = pd.read_parquet(run_dir / "audit.parquet").set_index("class")
    assert audit.at["ai", "shift"] == 0  # the AI files are the smallest: resizing to their short side leaves them alone
    assert audit.at["human", "n"] == 10 and audit["verdict"].isin(["depends", "no_evidence"]).all()
    assert pd.read_parquet(run_dir / "audit_probe.parquet").set_index("probe").at["all", "roc_auc"] == 1.0
    sets = pd.read_parquet(run_dir / "eval_sets.parquet").set_index("set")
    metrics = pd.read_parquet(run_dir / "evaluation_metrics.parquet").set_index("metric")
    assert sets.at["test", "accuracy"] == pytest.approx(metrics.at["accuracy", "value"])
    assert sets.at["test_resized", "paired"] and sets.at["test_resized", "n_paired"] == 20
    html = (run_dir / "report" / "index.html").read_text()
    assert (
        'id="audit"' in html and 'id="eval-sets"' in html and (run_dir / "report" / "img" / "audit_cnn32.png").is_file()
    )


# --- the cross-generator matrix, through the runner ---------------------------------------------


def make_two_generators(root, per_folder: int):
    """AI-ArtBench layout where each source has its own colour: humans grey, Latent Diffusion
    warm, Standard Diffusion green. A model that saw one generator has never seen the other's."""
    rng = np.random.default_rng(0)
    colours = {"": (110, 110, 110), "AI_LD_": (180, 90, 70), "AI_SD_": (70, 180, 90)}
    for split in ("train", "test"):
        for style in ("impressionism", "ukiyo_e"):
            for prefix, colour in colours.items():
                out = root / split / f"{prefix}{style}"
                out.mkdir(parents=True, exist_ok=True)
                for i in range(per_folder):
                    Image.fromarray(blobs(rng, 48, 1.5, np.asarray(colour) + rng.uniform(-20, 20, 3))).save(
                        out / f"{i:03d}.jpg", quality=90
                    )
    return root


def test_cross_generator_matrix_and_report(tmp_path, capsys):
    root = make_two_generators(tmp_path / "artbench", per_folder=12)
    dataset = {"root": str(root), "layout": "artbench", "val_fraction": 0.2}
    cfg = {
        "name": "cross",
        "seed": 0,
        "out_dir": str(tmp_path / "results"),
        "models": [
            {
                "name": "cnn32",
                "input_size": 32,
                "path": str(tmp_path / "models" / "cnn32.keras"),
                "train": {"dataset": dataset, "epochs": 5, "batch_size": 8},
            }
        ],
        "samples": {"dataset": dataset | {"limit_per_class": 6}, "split": "test"},  # a light report
        "cross_generator": {},
        "eval_sets": [{"name": "test"}, {"name": "test_q50", "normalise": "jpeg"}],
        "audit": {"factors": ["jpeg"], "jpeg_quality": 50},
        "bootstrap": 200,
    }
    path = tmp_path / "cross.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli.main([str(path)]) == 0
    run_dir = tmp_path / "results" / "cross"
    matrix = pd.read_parquet(run_dir / "cross_generator.parquet").set_index(["trained_on", "tested_on"])
    generators = ["latent_diffusion", "standard_diffusion"]
    trained = ["all", *generators, *(f"all but {g}" for g in generators)]  # single and leave-one-out copies
    assert sorted(matrix.index) == sorted((t, g) for t in trained for g in generators)
    # with two generators, leaving one out is training on the other: one model serves both rows
    assert (
        matrix.loc["all but standard_diffusion", "roc_auc"].tolist()
        == matrix.loc["latent_diffusion", "roc_auc"].tolist()
    )
    assert (matrix["n_ai"] == 24).all() and (matrix["n_human"] == 24).all()
    for g in generators:
        assert matrix.at[(g, g), "roc_auc"] >= 0.9  # each copy learnt its own generator
    for seen, unseen in (generators, generators[::-1]):  # a model that saw only warm AI images misses the green ones
        assert matrix.at[(seen, unseen), "recall_ai"] < matrix.at[(seen, seen), "recall_ai"] - 0.5
    for copy in generators:
        assert (tmp_path / "models" / "cnn32.cross_generator" / f"{copy}.keras").is_file()
    # the run's own model's row, recomputed: its scores on the test split's humans and LD images
    from experiments.inputs.images import load_for_model

    files = sorted(p for p in (root / "test").rglob("*.jpg") if not p.parent.name.startswith("AI_SD_"))  # humans and LD
    p_ai = load_keras(tmp_path / "models" / "cnn32.keras", "cnn32", 32).predict_proba(
        np.stack([load_for_model(p, 32) for p in files])
    )[:, 0]
    truth = [p.parent.name.startswith("AI_") for p in files]
    assert matrix.at[("all", "latent_diffusion"), "roc_auc"] == pytest.approx(roc_auc_score(truth, p_ai))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {"audit", "audit_probe", "eval_sets", "cross_generator"} <= set(manifest["tables"])
    html = (run_dir / "report" / "index.html").read_text()
    assert (
        "Cross-generator matrix" in html
        and (run_dir / "report" / "img" / "cross_generator_cnn32.png").stat().st_size > 5000
    )
    # the copies are reused on a second run
    path.write_text(
        yaml.safe_dump({k: v for k, v in cfg.items() if k not in ("eval_sets", "audit")} | {"report": "none"})
    )
    assert cli.main([str(path), "--out", str(tmp_path / "again")]) == 0
    again = pd.read_parquet(tmp_path / "again" / "cross_generator.parquet").set_index(["trained_on", "tested_on"])
    assert_frames_match(again.reset_index(), matrix.reset_index(), "cross_generator.parquet")
    # ... but never for other training settings: a copy trained for 5 epochs is not one for 1
    copy = tmp_path / "models" / "cnn32.cross_generator" / "latent_diffusion.keras"
    before = copy.read_bytes()
    path.write_text(yaml.safe_dump(json.loads(json.dumps(cfg)) | {"cross_generator": {"epochs": 1}, "report": "none"}))
    capsys.readouterr()
    assert cli.main([str(path), "--out", str(tmp_path / "other")]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]  # the rest: progress
    assert (
        len(err) == 1
        and "latent_diffusion.keras was trained otherwise: settings (epochs card: 5, this config: 1)" in err[0]
    ), err
    assert copy.read_bytes() == before


def test_config_errors_name_the_field(tmp_path):
    base = {"name": "x", "models": [{"name": "m", "input_size": 32, "path": "m.h5"}], "samples": {"folder": "f"}}
    for extra, message in (
        ({"audit": {"factors": ["jpeg", "gif"]}}, "audit.factors.1: Input should be"),
        ({"eval_sets": [{"name": "a"}, {"name": "a"}]}, "eval_sets: eval set names must be unique"),
        ({"cross_generator": {}}, "cross_generator: needs models with a train block"),
        ({"audit": {"jpeg_quality": 0}}, "audit.jpeg_quality: Input should be greater than or equal to 1"),
    ):
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump(base | extra))
        with pytest.raises(Exception, match=message.replace("(", r"\(")):
            load_config(path)


def test_audit_subset_is_stratified_and_seeded():
    from experiments.stages.audit import stratified_subset
    from experiments.inputs.samples import Sample

    samples = [
        Sample(f"{t}{i}", None, "", "original", t) for t in ("ai", "human") for i in range(30 if t == "ai" else 10)
    ]
    chosen = stratified_subset(samples, 8, seed=1)
    assert [s.truth for s in chosen].count("ai") == 6 and [s.truth for s in chosen].count("human") == 2
    assert chosen == stratified_subset(samples, 8, seed=1) and chosen == sorted(chosen, key=samples.index)
    assert stratified_subset(samples, 100, seed=1) == samples


def test_a_bad_eval_set_is_one_line_naming_it(tmp_path, seed_mirror, capsys):
    from tests.conftest import MODEL_32

    cfg = {
        "name": "x", "out_dir": str(tmp_path / "results"), "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
        "samples": {"manifest": "study", "from_seed_assets": True, "variants": ["original"]},
        "eval_sets": [{"name": "here"}, {"name": "gone", "samples": {"folder": str(tmp_path / "nowhere")}}],
        "report": "none",
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp_path / "c.yaml")]) == 2
    assert f"error: eval_sets[gone].samples.folder: {tmp_path / 'nowhere'} is not a folder" in capsys.readouterr().err


def test_cross_generator_needs_two_generators(tmp_path, real_mini, capsys):
    cfg = {
        "name": "x",
        "out_dir": str(tmp_path / "results"),
        "models": [
            {
                "name": "m",
                "input_size": 32,
                "path": str(tmp_path / "m.keras"),
                "train": {"dataset": {"root": str(real_mini), "layout": "generic"}, "epochs": 1},
            }
        ],
        "samples": {"folder": str(real_mini / "test")},
        "cross_generator": {},
        "report": "none",
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert cli.main([str(path)]) == 2  # checked in the preflight: nothing is trained or created
    assert "cross_generator: models[m].train.dataset" in capsys.readouterr().err
    assert not (tmp_path / "m.keras").exists() and not (tmp_path / "results").exists()


def test_shipped_configs_with_an_audit(monkeypatch, real_mini):
    monkeypatch.setenv("ARTXAI_REAL_MINI", str(real_mini))
    monkeypatch.setenv("ARTXAI_CIFAKE", str(real_mini.parent / "cifake"))
    mini = load_config("real_mini.yaml")
    assert mini.audit == AuditConfig() and [(s.name, s.normalise) for s in mini.eval_sets] == [
        ("test", None),
        ("test_all_normalised", "all"),
    ]
    cifake = load_config("cifake_audit.yaml")
    assert cifake.audit is not None and [s.name for s in cifake.eval_sets] == [
        "cifake_test",
        "cifake_test_all_normalised",
        "real_mini_test",
        "study_66",
    ]
    assert cifake.eval_sets[2].samples.dataset.root == real_mini


def test_cue_reversal_turns_a_jpeg_shortcut_against_the_model(audited, tmp_path):
    """cnn32 trained where AI files are JPEG q95 and human q10: re-encoding each class at the
    other's quality makes it call AI art human: the AI class's accuracy falls, with an interval below 0."""
    from experiments.stages.cue_reversal import run_reversal

    found = audited["jpeg"]
    cfg = AuditConfig(factors=["jpeg"], reversal=True)
    table = run_reversal(cfg, found["samples"], [found["detector"]], found["tables"], tmp_path, DecodePolicy(), 0, 300)[
        "audit_reversal"
    ]
    rows = table.set_index("class")
    assert (
        list(table["factor"]) == ["jpeg_reversed", "jpeg_reversed"]
        and rows.at["ai", "to_setting"] == rows.at["human", "from_setting"]
    )
    assert rows.at["ai", "accuracy_change_ci_high"] < 0 and rows.at["ai", "verdict"] == "depends", rows.to_dict("index")
    assert rows.at["ai", "accuracy_normalised"] < rows.at["ai", "accuracy_as_is"] - 0.3  # AI files at q10 read as human
    assert rows.at["human", "accuracy_normalised"] <= rows.at["human", "accuracy_as_is"]
