"""The corruption suite (issue 22, items 1-2): the new ops on a real artwork (neutral value leaves it
unchanged, severity moves it monotonically), their metadata table, chains reproducible from their
seed and from their recorded steps, presets' steps in the record, and the bad chain grids refused
through the CLI before anything is created."""

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from augment import apply, expand_grid
from augment.chains import FIELD, POOLS
from augment.grid import count_grid
from augment.ops import OP_INFO, SINGLE_OPS
from augment.presets import PRESETS
from augment.variants import step_id, variant_from_record
from experiments import run as cli
from experiments.config.schema import CONFIG_DIR
from tests.test_augment import STUDY_OPS
from tests.test_reliability import error_line, make_images, write_config

# op -> (its parameters besides the severity, severity levels mildest first, neutral first)
LADDERS = {
    "webp": ({}, [100, 90, 70, 50, 30, 10]),
    "jpeg2000": ({}, [1, 10, 25, 50, 100, 200]),
    "resize": ({"interpolation": "nearest"}, [1, 0.75, 0.5, 0.35, 0.25, 0.125]),
    "crop": ({"position": "top_left"}, [1, 0.95, 0.9, 0.8, 0.7, 0.5]),
    "rotate": ({"border": "fill"}, [0, 2, 5, 10, 20, 45]),
    "screenshot": ({}, [1, 0.9, 0.75, 0.5, 0.35, 0.25]),
    "sharpen": ({}, [0, 0.5, 1, 2, 4, 8]),
    "contrast": ({}, [1, 0.8, 0.6, 0.4, 0.3, 0.2]),
    "posterize": ({}, [8, 6, 5, 4, 3, 2]),
    "salt_and_pepper": ({}, [0, 0.005, 0.01, 0.02, 0.05, 0.1]),
    "poisson_noise": ({}, [0, 0.05, 0.1, 0.15, 0.25, 0.4]),
}
NO_SEVERITY = {"horizontal_flip", "resize_to"}
CHANCE = {"grayscale", "random_jpeg", "random_gaussian_noise", "random_resized_crop"}  # tested with ai_genbench


@pytest.fixture(scope="module")
def artwork(study_images) -> np.ndarray:
    """A real study artwork, shrunk to 192 px on the long side so the suite's ops run fast."""
    with Image.open(next(p for p in study_images if p.name == "starry_night.jpg")) as im:
        im = im.convert("RGB")
        im.thumbnail((192, 192), Image.Resampling.LANCZOS)
        return np.asarray(im)


def one(op, **params):
    (variant,) = [v for v in expand_grid({op: params}) if v.op == op]
    return variant


def mad(out: np.ndarray, img: np.ndarray) -> float:
    """Mean absolute difference, the output first brought to the image's size (as a detector would)."""
    if out.shape != img.shape:
        out = cv2.resize(out, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_AREA)
    return float(np.abs(out.astype(float) - img.astype(float)).mean())


def test_every_op_is_tested_here_or_with_the_study_ops():
    assert set(SINGLE_OPS) == set(STUDY_OPS) | set(LADDERS) | NO_SEVERITY | CHANCE


@pytest.mark.parametrize("name", sorted(LADDERS))
def test_neutral_leaves_the_artwork_unchanged_and_severity_moves_it_monotonically(artwork, name):
    fixed, levels = LADDERS[name]
    info = OP_INFO[name]
    assert levels[0] == info.neutral
    outs = [apply(artwork, one(name, **fixed, **{info.severity: level}), 11) for level in levels]
    assert outs[0].shape == artwork.shape and np.array_equal(outs[0], artwork)
    assert all(o.dtype == np.uint8 and o.ndim == 3 and o.shape[2] == 3 for o in outs)
    distances = [mad(o, artwork) for o in outs]
    assert distances[0] == 0
    assert all(b > a for a, b in zip(distances, distances[1:])), distances


def test_the_ops_without_a_severity_do_what_they_say(artwork):
    flipped = apply(artwork, one("horizontal_flip"), 0)
    assert np.array_equal(flipped, artwork[:, ::-1])
    assert np.array_equal(apply(flipped, one("horizontal_flip"), 0), artwork)
    h, w = artwork.shape[:2]
    small = apply(artwork, one("resize_to", long_side=96), 0)
    assert max(small.shape[:2]) == 96 and abs(small.shape[0] / small.shape[1] - h / w) < 0.02
    assert np.array_equal(apply(artwork, one("resize_to", long_side=1080), 0), artwork)  # never enlarged
    assert max(apply(artwork, one("resize_to", long_side=400, upscale=True), 0).shape[:2]) == 400
    assert OP_INFO["horizontal_flip"].severity is None and OP_INFO["resize_to"].neutral is None


def test_rotation_crops_its_border_and_the_screenshot_frames_the_image(artwork):
    filled = apply(artwork, one("rotate", degrees=30), 0)
    cropped = apply(artwork, one("rotate", degrees=30, border="crop"), 0)
    assert filled.shape == artwork.shape and (filled[0, 0] == 0).all()  # a black corner
    assert cropped.shape[0] < artwork.shape[0] and cropped.shape[1] < artwork.shape[1]
    assert (cropped.reshape(-1, 3).sum(axis=1) > 0).mean() > 0.99  # no filled corner left
    shot = apply(artwork, one("screenshot", scale=0.5, border=0.1, colour="white"), 0)
    pad = round(0.1 * max(round(artwork.shape[0] * 0.5), round(artwork.shape[1] * 0.5)))
    assert (shot[:pad] == 255).all() and (shot[:, -pad:] == 255).all()


def test_op_info_is_the_metadata_table_the_corruption_score_reads():
    assert set(OP_INFO) == set(SINGLE_OPS)
    families = {"noise", "blur", "compression", "resampling", "colour", "geometry", "overlay"}
    for name, info in OP_INFO.items():
        assert info.name == name and info.family in families
        if info.severity is not None:
            assert info.severity in SINGLE_OPS[name].param_names() and info.units
            if name in LADDERS:  # the suite's ops accept their neutral value (the study's may not: motion blur)
                assert info.low <= info.neutral <= info.high
    assert [OP_INFO[op].harsher for op in ("jpeg", "jpeg2000", "rotate")] == ["lower", "higher", "away"]
    assert [OP_INFO[op].family for op in ("webp", "crop", "sharpen")] == ["compression", "geometry", "blur"]
    assert (OP_INFO["poisson_noise"].low, OP_INFO["poisson_noise"].high) == (0, 1)
    assert OP_INFO["webp"].units == "quality, 100 = lossless"


def test_every_op_carries_its_words_and_the_naming_reads_them():
    """Each of the 28 ops says its label, axis and sides beside its other metadata (augment.op_base);
    augment.naming words every edit from them: an op without its own keeps its name and parameter."""
    from augment.naming import axis_label, describe, series_title, severity_name

    assert len(OP_INFO) == 28
    for name, info in OP_INFO.items():
        assert info.label and len(info.sides) == 2 and (info.axis is None) == (info.severity is None)
        assert severity_name(name) == info.axis
    assert (OP_INFO["jpeg"].label, axis_label("jpeg")) == ("JPEG", "JPEG quality (100 = best)")
    assert (OP_INFO["webp"].label, axis_label("webp")) == ("webp", "quality (quality, 100 = lossless)")
    assert series_title("brightness_contrast", {}, "decrease", True) == "brightness (darker)"
    assert describe("identity") == "unedited" and describe("jpeg(quality=30)") == "JPEG quality 30"


# --- chains and presets ---------------------------------------------------------------------

POOL = {"salt_and_pepper": {"amount": [0.02, 0.1]}, "crop": {"keep": [0.9, 0.7], "position": "random"},
        "jpeg": {"quality": [80, 40]}, "contrast": {"factor": [0.8, 0.5]}}  # fmt: skip


def chains(**group):
    return [v for v in expand_grid({"chains": [{"name": "t", "pool": POOL} | group]}) if v.op == "chain"]


def test_chains_are_seeded_random_compositions_of_k_different_ops():
    drawn = chains(k=[1, 2, 3, 4], draws=5)
    assert len(drawn) == 20 and [v.severity for v in drawn] == [k for k in (1, 2, 3, 4) for _ in range(5)]
    for v in drawn:
        names = [s.name for s in v.steps]
        assert len(set(names)) == len(names) == v.params["k"] and set(names) <= set(POOL)
        assert v.params["steps"] == [step_id(s) for s in v.steps] and v.params["chain"] == "t"
    assert [v.id for v in chains(k=[1, 2, 3, 4], draws=5)] == [v.id for v in drawn]  # same seed, same chains
    assert [v.id for v in chains(k=[1, 2, 3, 4], draws=5, seed=1)] != [v.id for v in drawn]
    assert {v.id for v in drawn} <= {v.id for v in chains(k=[1, 2, 3, 4], draws=7)}  # more draws keep these
    assert {s.quality for v in chains(k=[4], draws=6, levels=[2]) for s in v.steps if s.name == "jpeg"} == {40}


def test_a_chain_is_reproduced_from_its_recorded_steps(artwork):
    (v,) = chains(k=[4], draws=1)  # salt-and-pepper and a random crop: the seed matters
    recorded = json.loads(json.dumps(v.params, sort_keys=True))  # as the scores table keeps it
    rebuilt = variant_from_record(v.id, v.op, recorded)
    assert rebuilt.params == v.params and rebuilt.severity == 4
    assert np.array_equal(apply(artwork, rebuilt, 3), apply(artwork, v, 3))
    assert not np.array_equal(apply(artwork, v, 3), apply(artwork, v, 4))


def test_presets_record_their_steps_and_shipped_pools_are_the_suite_ladders():
    variants = [v for v in expand_grid({"presets": "all"}) if v.op == "preset"]
    assert [v.params["preset"] for v in variants] == list(PRESETS)
    repost = variants[0]
    assert repost.params["steps"] == [
        "crop(keep=0.9, position='center')",
        "resize_to(long_side=1080, interpolation='area', upscale=False)",
        "jpeg(quality=85)",
    ]
    assert np.isnan(repost.severity)
    suite = yaml.safe_load((CONFIG_DIR / "suite.yaml").read_text())["augment"]
    assert {op: suite[op] for op in FIELD} == FIELD and POOLS["field"] is FIELD
    assert len({len(v) for op in FIELD.values() for v in op.values() if isinstance(v, list)}) == 1


def test_chains_and_presets_reach_the_scores_table(tmp_path, seed_mirror):
    make_images(tmp_path / "images", ["ai_a.jpg", "b.jpg"], size=64)
    grid = {"chains": [{"name": "t", "pool": POOL, "k": [2, 3], "draws": 1}], "presets": ["social_repost"]}
    config = write_config(tmp_path, seed_mirror, augment=grid)
    assert cli.main([str(config)]) == 0
    scores = pd.read_parquet(tmp_path / "results" / "rel" / "scores.parquet")
    chain_rows = scores[scores["op"] == "chain"]
    assert sorted(chain_rows["severity"].unique()) == [2, 3] and len(chain_rows) == 2 * 2
    for row in chain_rows.itertuples():
        params = json.loads(row.params)
        assert len(params["steps"]) == params["k"] == row.severity and row.variant.startswith("chain(t, ")
    (preset,) = scores.loc[scores["op"] == "preset", "params"].unique()
    steps = expand_grid({"presets": ["social_repost"]})[1].params["steps"]
    assert json.loads(preset) == {"preset": "social_repost", "steps": steps}


# --- bad chain grids: one line naming the field, exit 2, nothing created ----------------------


@pytest.mark.parametrize(
    "grid, words",
    [
        (
            {"chains": [{"pool": {"jpeg": {"quality": [50]}, "blurr": {"sigma": [1]}}, "k": [1]}]},
            ["augment.chains[0].pool.blurr: unknown op 'blurr'"],
        ),
        ({"chains": [{"pool": "field", "k": [1, 21]}]}, ["augment.chains[0].k[1]: 21 is larger than the pool (20 ops"]),
        (
            {"chains": [{"pool": {"jpeg": {"quality": [50, 101]}}, "k": 1}]},
            ["augment.chains[0].pool.jpeg.quality[1]: Input should be less than or equal to 100"],
        ),
        ({"webp": {"quality": [0]}}, ["augment.webp.quality[0]: Input should be greater than or equal to 1"]),
        (
            {"chains": [{"pool": "field", "k": [1, 2, 3, 4, 5], "draws": 1000}]},
            ["augment: the grid expands to 5,001 variants, over max_variants (10,000)"],
        ),
        ({"chains": [{"pool": "nope", "k": 1}]}, ["augment.chains[0].pool: unknown pool 'nope'"]),
        ({"presets": ["social_repost", "tiktok"]}, ["augment.presets[1]: unknown preset 'tiktok'"]),
    ],
)
def test_bad_chain_grids_are_refused_before_anything_is_created(tmp_path, seed_mirror, capsys, grid, words):
    over = {"max_variants": 5000} if "draws" in str(grid) else {}
    config = write_config(tmp_path, seed_mirror, augment=grid, **over)
    assert cli.main([str(config)]) == 2
    line = error_line(capsys)
    expected = [w.replace("(10,000)", "(5,000)") for w in words]
    assert all(w in line for w in expected), line
    assert line.startswith(f"error: {config}: ")
    assert not (tmp_path / "results").exists()


def test_the_chain_count_is_known_before_building():
    grid = {"repeats": 3, "chains": [{"pool": "laundering", "k": [1, 2], "draws": 4}], "presets": "all"}
    # laundering's ops draw nothing at random; ai_genbench draws per image: `repeats` draws of it
    assert count_grid(grid) == 1 + 2 * 4 + (len(PRESETS) - 1) + 3
    assert len(expand_grid(grid)) <= count_grid(grid)
    assert count_grid({"repeats": 3, "chains": [{"pool": POOL, "k": [1, 2], "draws": 4}]}) == 1 + 2 * 4 * 3


# --- ai_genbench: AI-GenBench's evaluation chain, each step with its probability, drawn per image ----------

AI_GENBENCH_STEPS = [  # ai_genbench_pipeline.py at MI-BioLab/AI-GenBench@2332e50 (docs/augmentations.md)
    "grayscale(p=0.1)",
    "random_jpeg(qualities=(50, 101), p=0.5)",
    "random_gaussian_noise(std_low=0.015, std_high=0.075, p=0.3)",
    "random_jpeg(qualities=(50, 101), p=0.2)",
    "random_resized_crop(size_low=256, size_high=512, scale_low=0.5, scale_high=1, ratio_low=0.9, "
    "ratio_high=1.1111111111111112, interpolations=('bilinear', 'bicubic', 'lanczos'), p=0.25)",
    "random_jpeg(qualities=(50, 101), p=0.1)",
]


def test_ai_genbench_records_its_published_steps_and_probabilities():
    from augment.presets import preset_variant
    from augment.variants import parse_step_id

    v = preset_variant("ai_genbench")
    assert v.params == {"preset": "ai_genbench", "steps": AI_GENBENCH_STEPS} and v.is_random
    steps = [parse_step_id(s) for s in v.params["steps"]]
    assert [next(iter(s.values()))["p"] for s in steps] == [0.1, 0.5, 0.3, 0.2, 0.25, 0.1]
    crop = steps[4]["random_resized_crop"]
    assert (crop["size_low"], crop["size_high"], crop["scale_low"], crop["ratio_high"]) == (256, 512, 0.5, 1 / 0.9)
    rebuilt = variant_from_record(v.id, v.op, json.loads(json.dumps(v.params)))  # as the scores table holds it
    assert rebuilt.params == v.params
    suite = yaml.safe_load((CONFIG_DIR / "suite.yaml").read_text())["augment"]
    in_suite = [v for v in expand_grid({"presets": suite["presets"]}) if v.op == "preset"]
    assert v.id in {s.id for s in in_suite}  # the corruption suite runs it


def test_ai_genbench_draws_the_same_twice_for_a_seed_and_each_step_at_its_own_rate(artwork):
    from augment import compile_variant
    from augment.ops_chance import APPLIED
    from augment.presets import preset_variant

    compiled = compile_variant(preset_variant("ai_genbench"))

    def draws(image, seed):
        compiled.set_random_seed(seed)
        out = compiled(image=image)
        return out["image"], [{k: v for k, v in p.items() if k != "box"} for _, p in out["applied_transforms"]]

    for seed in (1, 7, 123):
        (a, first), (b, again) = draws(artwork, seed), draws(artwork, seed)
        assert np.array_equal(a, b) and first == again  # the same seeded image: the same draws and pixels
    small = artwork[:16, :16]
    n = 1500
    rates = np.mean([[p[APPLIED] for p in draws(small, seed)[1]] for seed in range(n)], axis=0)
    for rate, p in zip(rates, [0.1, 0.5, 0.3, 0.2, 0.25, 0.1]):  # each near its p: 4 standard errors
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / n)
    records = [draws(small, seed)[1] for seed in range(300)]
    jpegs = [[r[i][APPLIED] for i in (1, 3, 5)] for r in records]
    assert any(j[0] != j[1] for j in jpegs)  # the steps draw apart (one seed for all would tie them)
    qualities = {r[1]["quality"] for r in records}
    sizes = [r[4]["size"] for r in records]
    assert qualities == {50, 101} and 256 <= min(sizes) and max(sizes) <= 512
    assert {r[4]["interpolation"] for r in records} == {"bilinear", "bicubic", "lanczos"}
    stds = [r[2]["std"] for r in records]
    assert 0.015 <= min(stds) and max(stds) <= 0.075
    cut = next(draws(artwork, s)[0] for s in range(300) if records[s][4][APPLIED])
    assert cut.shape[0] == cut.shape[1] and 256 <= cut.shape[0] <= 512  # a square of the drawn side


def test_a_quality_of_101_is_jpeg_at_100():
    from augment.ops_chance import _jpeg

    img = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    assert np.array_equal(_jpeg(img, True, 101), _jpeg(img, True, 100))
    assert not np.array_equal(_jpeg(img, True, 50), _jpeg(img, True, 100))
    assert _jpeg(img, False, 50) is img


def test_chains_and_presets_read_as_steps_in_words():
    """The report names a chain or a preset by its steps, in order, in words (augment.naming):
    from its id and, the same, from the params the scores table records; the raw id never shows."""
    from augment.naming import describe, describe_params
    from augment.presets import preset_variant

    chain = chains(k=[3], draws=2)[1]
    preset = preset_variant("social_repost")
    for v in (chain, preset):
        recorded = describe_params(v.op, json.dumps(v.params))
        assert describe(v.id) == describe(f"{v.id}#1") == recorded and "(" not in recorded.split(": ", 1)[0]
        steps = recorded.split(": ", 1)[1].split(" → ")
        assert len(steps) == len(v.steps) and "=" not in recorded
        assert all(step.startswith(OP_INFO[s.name].label) for step, s in zip(steps, v.steps))
    assert recorded == "preset social_repost: crop keep 0.9 → resize_to long_side 1080 → JPEG quality 85"
    assert describe(chain.id).startswith("chain t of 3, draw 2: ")
