"""Edit ops record what they drew (augment.record): the painted boxes and noise seeds, drawn in
the params step, equal to what the pixels show, the same for the same seed; the explanation
grid outlines the recorded region."""

import numpy as np
import pytest
from PIL import Image

from augment import EditRecord, apply, apply_with_record, compile_variant, expand_grid, region_mask
from augment.functional import gaussian_noise
from experiments.models.detector import InputSpec
from experiments.config.sections import ExplainConfig
from experiments.stages.explanations.maps import prepare_sample
from experiments.stages.explanations.pictures import edited_region
from experiments.inputs.images import DecodePolicy, decode_image
from experiments.inputs.samples import Sample
from tests.conftest import SAMPLES_DIR

REAL = ["mona lisa.JPG", "starry_night.jpg"]


def one(op, **params):
    (variant,) = [v for v in expand_grid({op: params}) if v.op == op]
    return variant


def changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1; x1, y1 exclusive) of the pixels whose value changed."""
    ys, xs = np.nonzero((before != after).any(axis=2))
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.fixture(scope="module")
def real_images(seed_mirror, cifake):
    """Two study artworks at full resolution and two 32 px CIFAKE photographs."""
    study = [decode_image(seed_mirror / SAMPLES_DIR / name).pixels for name in REAL]
    small = [np.asarray(Image.open(sorted((cifake / "test" / c).iterdir())[0]).convert("RGB")) for c in ("ai", "human")]
    return study + small


@pytest.mark.parametrize("seed", [0, 11, 2024])
def test_occlusion_records_exactly_the_blocks_it_painted(real_images, seed):
    for image in real_images:
        for count in (1, 3):
            variant = one("occlusion", area=0.05, colour="red", count=count)
            out, record = apply_with_record(image, compile_variant(variant), seed)
            assert record.size == image.shape[:2] and len(record.boxes) == count and record.noise_seeds == ()
            painted = region_mask(record, *image.shape[:2])
            np.testing.assert_array_equal(painted, (out != image).any(axis=2))  # every box pixel changed, none outside
            assert (out[painted] == (255, 0, 0)).all()
            if count == 1:
                assert record.boxes[0] == changed_box(image, out)


@pytest.mark.parametrize("position", ["random", "center", "bottom_right"])
def test_placed_text_records_the_box_of_the_pixels_it_lightened(real_images, position):
    """The box is where the text's coverage is above 0. On the study's artworks every such edge
    lightens some pixel; on a 32 px photograph a faint anti-aliased edge column can round to no
    change over bright pixels, so there the changed pixels lie inside the box, and on a black
    copy (where any coverage shows) they fill it."""
    variant = one("text_watermark", opacity=0.7, size=0.2, position=position)
    for image in real_images:
        for seed in (1, 5):
            out, record = apply_with_record(image, compile_variant(variant), seed)
            x0, y0, x1, y1 = changed_box(image, out)
            ((bx0, by0, bx1, by1),) = record.boxes
            if image.shape[0] > 100:  # the study's artworks
                assert (x0, y0, x1, y1) == (bx0, by0, bx1, by1)
            assert bx0 <= x0 < x1 <= bx1 and by0 <= y0 < y1 <= by1
            black = np.zeros_like(image)
            on_black, black_record = apply_with_record(black, compile_variant(variant), seed)
            assert black_record == record and black_record.boxes == (changed_box(black, on_black),)


def test_tiled_text_and_whole_image_edits_record_no_region(real_images):
    image = real_images[0]
    tiled = one("text_watermark", opacity=0.4, position="tiled")
    for variant in (tiled, one("gaussian_blur", sigma=2), expand_grid({})[0]):
        out, record = apply_with_record(image, compile_variant(variant), 3)
        assert record == EditRecord(image.shape[:2]) and not region_mask(record, 10, 10).any()


def test_the_same_seed_gives_the_same_record_and_pixels_and_the_noise_seed_remakes_the_noise(real_images):
    image = real_images[0]
    steps = [{"gaussian_noise": {"std": 0.1}}, {"occlusion": {"area": 0.03, "count": 2}}]
    (combined,) = [v for v in expand_grid({"combined": [steps]}) if v.steps]
    pipeline = compile_variant(combined)
    first, again, other = (apply_with_record(image, pipeline, s) for s in (7, 7, 8))
    assert first[1] == again[1] and np.array_equal(first[0], again[0])
    assert first[1].boxes != other[1].boxes and first[1].noise_seeds != other[1].noise_seeds
    assert len(first[1].boxes) == 2 and len(first[1].noise_seeds) == 1
    assert np.array_equal(apply(image, combined, 7), first[0])  # the image alone, unchanged by recording
    noise = one("gaussian_noise", std=0.1)
    out, record = apply_with_record(image, compile_variant(noise), 7)
    (noise_seed,) = record.noise_seeds
    assert np.array_equal(out, gaussian_noise(image, 0.1 * 255, noise_seed))
    assert noise_seed == first[1].noise_seeds[0]  # the first draw of the same stream


def test_region_mask_scales_boxes_to_any_size_by_overlap():
    record = EditRecord((10, 20), boxes=((2, 1, 6, 4), (18, 8, 20, 10)))
    full = region_mask(record, 10, 20)
    expected = np.zeros((10, 20), bool)
    expected[1:4, 2:6] = True
    expected[8:10, 18:20] = True
    np.testing.assert_array_equal(full, expected)
    half = region_mask(record, 5, 10)  # rows 0.5-2 -> 0, 1; cols 1-3 -> 1, 2; rows 4-5, cols 9-10
    expected = np.zeros((5, 10), bool)
    expected[0:2, 1:3] = True
    expected[4:5, 9:10] = True
    np.testing.assert_array_equal(half, expected)
    tiny = region_mask(EditRecord((100, 100), boxes=((50, 50, 51, 51),)), 3, 3)  # one pixel never vanishes
    assert tiny.sum() == 1 and tiny[1, 1]
    assert not region_mask(EditRecord((10, 20)), 10, 20).any()


def test_the_explanation_grid_outlines_the_recorded_region(seed_mirror):
    rel = f"{SAMPLES_DIR}/mona lisa.JPG"
    sample = Sample(rel, seed_mirror / rel, "mona", "original", "human")
    combined = [{"hue_shift": {"degrees": 90}}, {"text_watermark": {"opacity": 0.5}}]
    grid = {"occlusion": {"area": 0.05, "count": 2}, "gaussian_blur": {"sigma": [2]}, "combined": [combined]}
    variants = expand_grid(grid)
    prep = prepare_sample(sample, variants, {InputSpec(32)}, ExplainConfig(methods=["gradcam"]), 4, DecodePolicy())
    identity, occlusion, blur, combined = prep.variants
    assert edited_region(prep, identity) is None and edited_region(prep, blur) is None
    for variant in (occlusion, combined):  # a combined edit's text is outlined though hue changed every pixel
        region = edited_region(prep, variant)
        record = prep.records[variant.id]
        assert record.boxes and region.shape == prep.display[variant.id].shape[:2]
        np.testing.assert_array_equal(region, region_mask(record, *region.shape))
    red = (prep.display[occlusion.id] == (255, 0, 0)).all(axis=2)
    assert red[edited_region(prep, occlusion)].mean() > 0.8 and not red[~edited_region(prep, occlusion)].any()
