"""Scoring a chunk of samples at once gives the rows of scoring them one by one, the old way."""

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import yaml

from augment import apply, expand_grid, variant_seed
from experiments import run as cli
from experiments.config.schema import load_config
from experiments.inputs.images import DecodePolicy, decode_image, resize_for_model, resize_nearest
from experiments.models.architecture import KerasDetector, build_cnn, keras
from experiments.models.detector import InputSpec
from experiments.inputs.samples import Sample
from experiments.inputs.images import picture_bytes
from experiments.console import start_up_line
from experiments.context import Timings
from experiments.stages.scoring.batches import score_chunk, variant_inputs
from tests.conftest import SAMPLES_DIR
from xai import compiled
from tests.tolerance import PROBABILITY, assert_frames_match

GRID = {
    "gaussian_noise": {"std": [0.1]},
    "occlusion": {"area": 0.1, "colour": "red"},
    "hue_shift": {"degrees": [90]},
    "saturation": {"factor": [0, 2.5]},
    "brightness_contrast": {"brightness": [-0.4], "contrast": [0, 0.3]},
    "gamma": {"gamma": [0.5]},
    "combined": [
        [{"hue_shift": {"degrees": 45}}, {"gamma": {"gamma": 2}}],
        [{"hue_shift": {"degrees": 45}}, {"jpeg": {"quality": 20}}],
    ],
}


def test_pointwise_edits_on_the_model_input_are_the_full_image_edits_resized(seed_mirror):
    """Every pointwise variant of the default study, on real artworks of different shapes, gives
    the same pixels at 32 and 128 px whether it runs before or after the resize."""
    variants = [v for v in load_config("robustness.yaml").variants() if v.pointwise]
    assert len(variants) == 16 and {v.op for v in variants} == {
        "hue_shift",
        "saturation",
        "brightness_contrast",
        "gamma",
    }
    variants += [v for v in expand_grid(GRID) if v.pointwise and v.op == "combined"]
    for name in ("mona lisa.JPG", "starry_night.jpg", "ai_portrait_civitai.jpg"):
        pixels = decode_image(seed_mirror / SAMPLES_DIR / name).pixels
        for variant in variants:
            fast, problem, picture = variant_inputs(pixels, name, variant, [InputSpec(32), InputSpec(128)], seed=3)
            assert problem == "" and picture is None
            full = apply(pixels, variant, variant_seed(3, name, variant.id))
            for size in (32, 128):
                np.testing.assert_array_equal(
                    fast[InputSpec(size)], resize_nearest(full, size), err_msg=f"{name} {variant.id} {size}"
                )
    # with the report's gallery picture asked for: the same inputs, and the picture of the full-resolution edit
    for variant in (variants[0], *expand_grid({"gaussian_noise": {"std": [0.1]}})):
        fast, _, picture = variant_inputs(pixels, name, variant, [InputSpec(32)], seed=3)
        with_picture, _, picture = variant_inputs(pixels, name, variant, [InputSpec(32)], seed=3, picture=True)
        np.testing.assert_array_equal(with_picture[InputSpec(32)], fast[InputSpec(32)])
        assert picture == picture_bytes(apply(pixels, variant, variant_seed(3, name, variant.id)))
    assert not any(v.pointwise for v in expand_grid({"gaussian_noise": {"std": [0.1]}, "jpeg": {"quality": [50]}}))


@pytest.fixture(scope="module")
def two_models(cnn32):
    keras.utils.set_random_seed(3)
    return [cnn32, KerasDetector(name="cnn128", model=build_cnn(128), input=InputSpec(128), source="random weights")]


def assert_same_scores(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """The same scores: tests/tolerance.py's rule (every column exact but the model outputs, which
    agree within float32 rounding)."""
    assert_frames_match(a, b, "scores.parquet")


def study_samples(seed_mirror, tmp_path):
    names = ["mona lisa.JPG", "ai_oil_painting_civitai.jpg", "starry_night.jpg"]
    samples = [
        Sample(n, seed_mirror / SAMPLES_DIR / n, n, "original", "ai" if n.startswith("ai_") else "human") for n in names
    ]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    return [*samples[:2], Sample("broken.jpg", broken, "broken", "original", "human"), samples[2]]


def old_rows(samples, variants, detectors, seed):
    """Scoring as it was: each variant on the full image, resized, the model called eagerly per sample."""
    rows = []
    for sample in samples:
        try:
            pixels = decode_image(sample.path).pixels
        except ValueError:
            continue
        edited = [apply(pixels, v, variant_seed(seed, sample.id, v.id)) for v in variants]
        for d in detectors:
            probs = d.predict_proba(np.stack([resize_for_model(e, d.input_size) for e in edited]))
            rows += [
                {"sample": sample.id, "model": d.name, "variant": v.id, "p_ai": p[0], "p_human": p[1]}
                for v, p in zip(variants, probs)
            ]
    return pd.DataFrame(rows)


def test_a_chunk_scores_as_its_samples_one_by_one(seed_mirror, tmp_path, two_models):
    samples, variants = study_samples(seed_mirror, tmp_path), expand_grid(GRID)
    with ThreadPoolExecutor(2) as pool:
        score = lambda chunk, batch: score_chunk(
            chunk, variants, two_models, 5, batch, DecodePolicy(), pool, 2, Timings()
        )
        together, failures = score(samples, 16)  # 3 images x 12 variants: batches cross samples
        alone = [score([s], 256) for s in samples]
    separately = pd.concat([rows for rows, _ in alone], ignore_index=True)
    assert_same_scores(pd.DataFrame(together), separately)  # other batches: equal to float32 rounding
    assert failures == [f for _, fs in alone for f in fs] and [f["sample"] for f in failures] == ["broken.jpg"]
    table = pd.DataFrame(together)
    assert len(table) == 3 * 2 * len(variants) and list(table["sample"].unique()) == [
        s.id for s in samples if s.id != "broken.jpg"
    ]
    assert json.loads(table.loc[table["op"] == "gamma", "params"].iloc[0]) == {"gamma": 0.5}
    old = old_rows(samples, variants, two_models, 5)
    np.testing.assert_allclose(table["p_ai"], old["p_ai"], atol=1e-6)
    assert (table[["sample", "model", "variant"]].to_numpy() == old[["sample", "model", "variant"]].to_numpy()).all()


def test_cifake_scores_do_not_depend_on_the_chunking(cifake, tmp_path, caplog):
    """300 real CIFAKE images (more than one batch of 256) in one part or in parts of 7; the
    run's start-up is timed and its line says what was imported."""
    caplog.set_level("INFO", logger="artxai")
    tables = {}
    for part_size in (300, 7):
        cfg = {
            "name": f"parts{part_size}",
            "out_dir": str(tmp_path),
            "models": [
                {"name": "cnn32", "input_size": 32, "seed_asset": "Models/AI-artbench/model 1 32px/best_model.h5"}
            ],
            "samples": {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": 150}, "split": "test"},
            "augment": {"gamma": {"gamma": [2.0]}},
            "part_size": part_size,
            "report": "none",
        }
        (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
        t0 = time.perf_counter() - 2.0  # as if the process had started two seconds ago
        assert cli.main([str(tmp_path / "c.yaml")], started=t0) == 0
        tables[part_size] = pd.read_parquet(tmp_path / f"parts{part_size}" / "scores.parquet")
        timings = json.loads((tmp_path / f"parts{part_size}" / "manifest.json").read_text())["timings_s"]
        stages = {k: v for k, v in timings.items() if k != "total"}
        assert timings["start-up"] >= 2.0
        line = re.search(r"start-up (\d+\.\d) s: ([^;]*); TensorFlow (not )?imported", caplog.text)
        assert line and float(line[1]) >= 2.0 and "numpy, pandas" in line[2], caplog.text
        caplog.clear()
        assert {"models", "samples", "scoring", "tables", "evaluation", "figures"} <= set(stages)
        assert sum(stages.values()) == pytest.approx(timings["total"], abs=0.01)  # the stages add up to the run
        assert stages["other"] < 0.05 * timings["total"]
    assert len(tables[300]) == 600 and tables[300]["truth"].value_counts().to_dict() == {"ai": 300, "human": 300}
    assert_same_scores(tables[300], tables[7])


def test_the_start_up_line_names_what_was_imported():
    """The console's start-up line: its seconds, the large libraries in sys.modules in a fixed
    order, and whether TensorFlow was imported (a run that scores without it says so)."""
    assert start_up_line(0.42, {"pandas", "numpy", "onnxruntime", "os"}) == (
        "start-up 0.4 s: numpy, pandas, onnxruntime; TensorFlow not imported"
    )
    assert start_up_line(4.21, {"numpy", "keras", "tensorflow"}) == "start-up 4.2 s: numpy, Keras; TensorFlow imported"
    assert start_up_line(0.0, set()) == "start-up 0.0 s: no large library; TensorFlow not imported"
    assert "numpy" in start_up_line(1.0)  # sys.modules by default


def test_compiled_outputs_do_not_depend_on_the_batch_around_an_image(two_models):
    """Beyond float32 rounding (some CPUs give bit-identical outputs, an AVX2 EPYC differs in the
    last bits); the same call twice is identical bit for bit."""
    for d, total in zip(two_models, (300, 40)):  # at 32 px across a batch of 256
        x = np.random.default_rng(0).random((total, d.input_size, d.input_size, 3), dtype=np.float32)
        whole = compiled.forward(d.model, x)
        assert np.array_equal(compiled.forward(d.model, x), whole)
        for start, n in ((0, 2), (5, 3), (1, 9), (17, 20), (3, 41), (40, 256)):
            if start + n > total:
                continue
            np.testing.assert_allclose(
                compiled.forward(d.model, x[start : start + n]), whole[start : start + n],
                rtol=PROBABILITY.rtol, atol=PROBABILITY.atol,
            )  # fmt: skip
