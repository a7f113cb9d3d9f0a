import numpy as np
import pytest

from augment import GridError, apply, expand_grid, variant_seed
from augment.ops import SINGLE_OPS


def flat(value=128, h=120, w=160):
    return np.full((h, w, 3), value, np.uint8)


def textured(h=120, w=160, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def one(op, **params):
    (variant,) = [v for v in expand_grid({op: params}) if v.op == op]
    return variant


# --- grid expansion -----------------------------------------------------------------------


def test_grid_expands_to_stable_ids_identity_first():
    variants = expand_grid(
        {
            "gaussian_blur": {"sigma": [1, 2.5, 4.0]},
            "brightness_contrast": {"brightness": [-0.2, 0.2], "contrast": [0, 0.3]},
        }
    )
    ids = [v.id for v in variants]
    assert ids[0] == "identity"
    assert ids[1:4] == ["gaussian_blur(sigma=1)", "gaussian_blur(sigma=2.5)", "gaussian_blur(sigma=4)"]
    assert len(ids) == 1 + 3 + 4  # cartesian product of brightness x contrast
    assert "brightness_contrast(brightness=0.2, contrast=0.3)" in ids
    assert variants[2].severity == 2.5 and np.isnan(variants[0].severity)
    assert [v.id for v in expand_grid({"gaussian_blur": {"sigma": [1, 2.5, 4.0]}})] == ids[:4]  # stable


def test_empty_grid_is_identity_only_and_duplicates_collapse():
    assert [v.id for v in expand_grid(None)] == ["identity"]
    assert [v.id for v in expand_grid({"jpeg": {"quality": [50, 50.0]}})] == ["identity", "jpeg(quality=50)"]


def test_combined_is_a_named_sequence():
    (v,) = expand_grid({"combined": [[{"gaussian_noise": {"std": 0.05}}, {"hue_shift": {"degrees": 30}}]]})[1:]
    assert v.id == "combined(gaussian_noise(std=0.05) + hue_shift(degrees=30))"
    assert v.params == {"steps": ["gaussian_noise(std=0.05)", "hue_shift(degrees=30)"]}
    assert len(v.steps) == 2


@pytest.mark.parametrize(
    "grid, field, words",
    [
        ({"blurr": {"sigma": [1]}}, "augment.blurr", "unknown op"),
        ({"gaussian_blur": {"sigma": [1, -2]}}, "augment.gaussian_blur.sigma[1]", "greater than 0"),
        ({"gaussian_blur": {"sigmaa": 1}}, "augment.gaussian_blur.sigmaa", "unknown parameter"),
        ({"gaussian_blur": {}}, "augment.gaussian_blur.sigma", "required"),
        ({"motion_blur": {"length": [5, 4]}}, "augment.motion_blur.length[1]", "odd"),
        ({"occlusion": {"area": 0.1, "colour": "blurple"}}, "augment.occlusion.colour", "unknown colour"),
        ({"jpeg": {"quality": "high"}}, "augment.jpeg.quality", "integer"),
        ({"jpeg": {"quality": []}}, "augment.jpeg.quality", "empty"),
        ({"combined": [[{"jpeg": {"quality": 500}}]]}, "augment.combined[0][0].jpeg.quality", "less than or equal"),
        ({"combined": [[{"jpeg": {"quality": 5}, "gamma": {"gamma": 2}}]]}, "augment.combined[0][0]", "exactly one op"),
        ({"combined": {"jpeg": 1}}, "augment.combined", "list of step lists"),
    ],
)
def test_bad_grid_names_the_yaml_field(grid, field, words):
    with pytest.raises(GridError) as info:
        expand_grid(grid)
    assert info.value.field == field
    assert str(info.value).startswith(field + ": ")
    assert words in str(info.value)


# --- determinism -----------------------------------------------------------------------------


def test_seeded_ops_repeat_and_depend_on_the_seed():
    img = textured()
    v = one("gaussian_noise", std=0.1)
    a, b, c = apply(img, v, 7), apply(img, v, 7), apply(img, v, 8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    w = one("occlusion", area=0.05, count=2)
    assert np.array_equal(apply(img, w, 3), apply(img, w, 3))


def test_variant_seed_is_a_pure_function():
    assert variant_seed(1, "a.jpg", "identity") == variant_seed(1, "a.jpg", "identity")
    assert (
        len(
            {
                variant_seed(1, "a.jpg", "x"),
                variant_seed(2, "a.jpg", "x"),
                variant_seed(1, "b.jpg", "x"),
                variant_seed(1, "a.jpg", "y"),
            }
        )
        == 4
    )


def test_identity_returns_the_image_untouched():
    img = textured()
    assert np.array_equal(apply(img, expand_grid({})[0], 0), img)


STUDY_OPS = {
    "gaussian_noise": {"std": 0.1},
    "gaussian_blur": {"sigma": 2},
    "motion_blur": {"length": 7},
    "hue_shift": {"degrees": 90},
    "saturation": {"factor": 0},
    "brightness_contrast": {"brightness": 0.2},
    "gamma": {"gamma": 2},
    "jpeg": {"quality": 10},
    "downscale": {"scale": 0.25},
    "occlusion": {"area": 0.1},
    "text_watermark": {"opacity": 0.5},
}  # fmt: skip  (the corruption suite's ops: tests/test_corruptions.py)


@pytest.mark.parametrize("name", sorted(STUDY_OPS))
def test_every_op_keeps_shape_and_dtype(name):
    assert name in SINGLE_OPS
    img = textured(97, 131)  # odd sizes on purpose
    out = apply(img, one(name, **STUDY_OPS[name]), 0)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not np.array_equal(out, img)


# --- each op does what its name says -------------------------------------------------------


def test_gaussian_noise_std_is_a_fraction_of_the_range():
    out = apply(flat(128, 400, 400), one("gaussian_noise", std=0.05), 1).astype(float)
    for channel in range(3):  # every channel gets its own noise
        assert abs(out[..., channel].std() - 0.05 * 255) < 0.3
    assert abs(out.mean() - 128) < 0.2
    assert abs(np.corrcoef(out[..., 0].ravel(), out[..., 1].ravel())[0, 1]) < 0.02


def test_gaussian_blur_smooths_and_keeps_the_mean():
    img = textured(200, 200)
    out = apply(img, one("gaussian_blur", sigma=4), 0).astype(float)
    assert out.std() < img.std() / 5
    assert abs(out.mean() - img.mean()) < 1


def test_hue_shift_180_turns_red_into_cyan():
    red = np.zeros((10, 10, 3), np.uint8)
    red[..., 0] = 255
    out = apply(red, one("hue_shift", degrees=180), 0)
    assert out[0, 0].tolist() == [0, 255, 255]
    assert apply(red, one("hue_shift", degrees=120), 0)[0, 0].tolist() == [0, 255, 0]


def test_saturation_zero_is_grey():
    out = apply(textured(), one("saturation", factor=0), 0).astype(int)
    assert np.abs(out[..., 0] - out[..., 1]).max() <= 1 and np.abs(out[..., 1] - out[..., 2]).max() <= 1


def test_brightness_and_gamma_move_levels_as_defined():
    assert abs(apply(flat(100), one("brightness_contrast", brightness=0.2), 0).mean() - (100 + 0.2 * 255)) <= 1
    assert abs(apply(flat(128), one("gamma", gamma=2.0), 0).mean() - 255 * (128 / 255) ** 2) <= 1


def test_jpeg_error_grows_as_quality_falls():
    img = textured(128, 128)
    errors = [np.abs(apply(img, one("jpeg", quality=q), 0).astype(int) - img).mean() for q in (95, 50, 5)]
    assert errors[0] < errors[1] < errors[2]


def test_downscale_removes_fine_detail_and_keeps_size():
    img = textured(128, 128)
    out = apply(img, one("downscale", scale=0.25), 0)
    assert out.shape == img.shape
    assert np.abs(np.diff(out.astype(int), axis=1)).mean() < np.abs(np.diff(img.astype(int), axis=1)).mean() / 3


def test_occlusion_paints_the_requested_area_and_colour():
    img = flat(128, 100, 200)
    out = apply(img, one("occlusion", area=0.1, colour="red", count=1, position="top_left"), 0)
    painted = (out != img).any(axis=2)
    assert abs(painted.mean() - 0.1) < 0.01
    assert out[0, 0].tolist() == [255, 0, 0] and painted[0, 0] and not painted[-1, -1]
    blue = apply(img, one("occlusion", area=0.2, colour="#0000ff", count=4), 5)
    assert ((blue == [0, 0, 255]).all(axis=2)).mean() == pytest.approx(0.2, abs=0.03)


def test_text_watermark_only_lightens_within_its_opacity():
    img = flat(100, 200, 300)
    out = apply(img, one("text_watermark", opacity=0.4, size=0.2), 0).astype(int)
    lifted = out - 100
    assert lifted.min() >= 0
    assert lifted.max() <= round(0.4 * 155) + 1
    assert 0.01 < (lifted > 0).any(axis=2).mean() < 0.3  # text, not a fill
