"""Explanation pictures that cannot be misread: one colour scale per row of a grid, signed maps
on a diverging scale, the model's own input, the edited region outlined, under 1 MB; and the
raw maps they are drawn from rank pixels exactly as the rescaled ones."""

import numpy as np
import pytest

from tests.conftest import SAMPLES_DIR
from xai.explain import _rescale, explain
from xai.overlay import overlay_grid, row_scale, scaled, tint


@pytest.mark.parametrize("method", ["saliency", "gradcam", "scorecam", "lime", "random"])
def test_raw_maps_rank_pixels_as_the_rescaled_ones(cnn32, study_images, method):
    from experiments.inputs.images import decode_image, resize_for_model

    images = np.stack([resize_for_model(decode_image(p).pixels, 32) for p in study_images[:2]])
    options = {"num_samples": 200} if method == "lime" else {}
    rescaled = explain(cnn32.model, images, method, "ai", class_names=cnn32.class_names, seed=3, **options)
    raw = explain(cnn32.model, images, method, "ai", class_names=cnn32.class_names, seed=3, rescale=False, **options)
    np.testing.assert_allclose(_rescale(raw), rescaled, atol=1e-6)  # the same map up to a positive scale and shift
    if method == "lime":
        assert (raw < 0).any() and (raw > 0).any()  # evidence against the target keeps its sign
    if method in ("gradcam", "scorecam", "saliency"):
        assert raw.min() >= 0 and not np.allclose(raw.max(axis=(1, 2)), 1)  # the method's own values, not scaled to 1


def test_one_scale_per_row_and_signed_maps_diverge():
    grey = np.full((40, 40, 3), 128, np.uint8)
    strong, weak = np.full((40, 40), 2.0), np.full((40, 40), 1.0)
    maps = {"cam": np.stack([strong, weak]), "lime": np.stack([strong, -weak])}
    assert row_scale(maps["cam"]) == pytest.approx(2.0)
    same = tint(grey, scaled(weak, row_scale(maps["cam"]), False), False).astype(int)
    alone = tint(grey, scaled(weak, row_scale(weak), False), False).astype(int)
    assert (
        np.abs(same - grey).sum() < np.abs(alone - grey).sum()
    )  # half the row's top: drawn weaker than on its own scale
    picture = np.asarray(overlay_grid([grey, grey], maps, ["a", "b"], signed={"lime"}, cell=40).convert("RGB")).astype(
        int
    )
    h, w = picture.shape[:2]
    # the cam row's second cell is dimmer than its first; the lime row goes red, then blue
    cells = picture[h - 2 * 44 : h - 44, :], picture[h - 44 :, :]
    cam_first, cam_second = (cells[0][15:25, x + 15 : x + 25].mean(axis=(0, 1)) for x in _cell_columns(picture))
    assert cam_first.sum() > cam_second.sum() + 60
    lime_first, lime_second = (cells[1][15:25, x + 15 : x + 25].mean(axis=(0, 1)) for x in _cell_columns(picture))
    assert lime_first[0] > lime_first[2] + 40 and lime_second[2] > lime_second[0] + 20


def _cell_columns(picture) -> list[int]:
    """The left edges of the two 40 px cells in a grid drawn by overlay_grid (label column, then cells)."""
    width = picture.shape[1]
    right = width - 70  # the colour bars
    return [right - 2 * (40 + 4), right - (40 + 4)]


def test_grid_shows_the_model_input_outlines_the_edit_and_stays_under_a_megabyte(seed_mirror, tmp_path):
    from experiments.inputs.images import decode_image, display_resize, resize_for_model

    names = sorted(p.name for p in (seed_mirror / SAMPLES_DIR).iterdir())[:6]
    pixels = [decode_image(seed_mirror / SAMPLES_DIR / n).pixels for n in names]
    displays = [display_resize(p, 256) for p in pixels]
    inputs = [np.rint(resize_for_model(p, 32) * 255).astype(np.uint8) for p in pixels]
    rng = np.random.default_rng(0)
    maps = {f"method {k}": rng.random((6, 32, 32)) for k in range(7)} | {
        "lime": rng.normal(size=(6, 32, 32))
    }  # noise: the hardest to compress
    region = np.zeros(displays[1].shape[:2], bool)
    region[20:60, 30:90] = True
    regions = [None, region, None, None, None, None]
    picture = overlay_grid(
        displays,
        maps,
        [f"variant {k}\np(AI) 0.50 (Δ +0.10)" for k in range(6)],
        title="subject (ai) — cnn32",
        signed={"lime"},
        inputs=inputs,
        input_label="model input\n32 × 32 px",
        regions=regions,
        note="a note",
    )
    picture.save(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size < 1_000_000
    assert picture.width > 6 * 180 and picture.height > 9 * 90  # a model-input row above the eight methods
    rgb = np.asarray(picture.convert("RGB"))
    # the model-input row is the 32 px input enlarged without smoothing: blocks of equal pixels
    label_w = picture.width - 70 - 6 * (180 + 4)
    header = next(y for y in range(picture.height) if (rgb[y, label_w + 10 : label_w + 170] != 255).any(axis=1).all())
    first = rgb[header : header + 100, label_w : label_w + 180]
    block = 180 / 32
    assert len(np.unique(first[2 : int(block) - 1, 2 : int(block) - 1].reshape(-1, 3), axis=0)) == 1
    # the edited region of column 1 is outlined in white in every row
    x0 = label_w + 180 + 4
    whites = (rgb[header:, x0 : x0 + 180] >= 235).all(axis=2).sum(axis=1)  # per pixel row of the cells
    outline_rows = (whites > 20) & (whites < 120)  # not the white gaps between cells, not the page
    assert outline_rows.sum() >= 2 * 9  # the top and bottom edge of the region, in each of the nine rows
    x2 = label_w + 2 * (180 + 4)
    others = (rgb[header:, x2 : x2 + 180] >= 235).all(axis=2).sum(axis=1)
    assert ((others > 20) & (others < 120)).sum() <= 2  # no region, no outline (a bright patch of the picture at most)
