"""The explanation stage's pictures, drawn by the driver as map sets come back: one overlay per map
(explain/overlays/<model>/<sample>/) and a grid per sample x model (explain/grids/<model>/), the
figure a person reads first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from augment import IDENTITY, Variant, region_mask
from experiments.rundir.names import slug
from experiments.rundir.atomic import atomic_write
from experiments.stages.explanations.maps import PreparedSample


def write_overlays(prep: PreparedSample, model: str, method: str, maps: np.ndarray, root: Path) -> list[str]:
    """One PNG per chosen variant, the method's maps of the sample on one scale; returns their
    paths relative to the run folder."""
    from xai import overlay
    from xai.explain import SIGNED_METHODS
    from xai.overlay import row_scale

    paths = []
    scale = row_scale(maps)
    for variant, m in zip(prep.variants, maps):
        rel = Path("explain", "overlays", model, slug(prep.sample.id), f"{slug(variant.id)}__{method}.png")
        if not (root / rel).is_file():
            picture = Image.fromarray(
                overlay(prep.display[variant.id], m, signed=method in SIGNED_METHODS, scale=scale)
            )
            atomic_write(
                root / rel, lambda tmp: picture.save(tmp, format="PNG", compress_level=1)
            )  # 2x faster, 10 % larger
        paths.append(rel.as_posix())
    return paths


TARGET_WORDS = {"ai": "AI", "human": "human", "predicted": "the predicted class"}
GRID_NOTE = (
    "Each map over a grey copy of its image; one colour scale per row (its 99th percentile of |value| at full "
    "colour), so the columns of a row compare. LIME is signed: red for {target}, blue against. Outlined: where the "
    "edit painted (its blocks, the box around its text)."
)


def edited_region(prep: PreparedSample, variant: Variant) -> np.ndarray | None:
    """Where the edit painted a region (occlusion blocks, placed text), as the edit recorded it,
    as a mask of the display copy; also when other steps of a combined edit changed every pixel.
    None where it painted none (the unedited image, noise, blur, colour, tiled text)."""
    record = prep.records.get(variant.id)
    if record is None or not record.boxes:
        return None
    return region_mask(record, *prep.display[variant.id].shape[:2])


def write_grid(
    prep: PreparedSample, model: str, maps: dict[str, np.ndarray], scores: pd.DataFrame, root: Path, spec, target: str
) -> str:
    """The figure a person reads first: the model's own input per variant as the first row, then
    methods as rows (one colour scale per row), variants as columns, scores in titles."""
    from augment.naming import describe
    from xai.explain import SIGNED_METHODS
    from xai.overlay import overlay_grid

    rel = Path("explain", "grids", model, f"{slug(prep.sample.id)}.png")
    rows = scores[(scores["sample"] == prep.sample.id) & (scores["model"] == model)].set_index("variant")
    titles = []
    for v in prep.variants:
        name = (
            "unedited" if v.id == IDENTITY else describe(v.id) + (f" (draw {v.replicate + 1})" if v.replicate else "")
        )
        titles.append(f"{name}\np(AI) {rows.at[v.id, 'p_ai']:.2f} (Δ {rows.at[v.id, 'delta_p_ai']:+.2f})")
    title = f"{prep.sample.subject} ({prep.sample.truth}) — {model}"
    inputs = [np.rint(np.asarray(prep.inputs[spec][v.id]) * 255).astype(np.uint8) for v in prep.variants]
    words = TARGET_WORDS.get(target, target)
    picture = overlay_grid(
        [prep.display[v.id] for v in prep.variants], maps, titles, title=title, signed=set(SIGNED_METHODS),
        inputs=inputs, input_label=f"model input\n{spec.size} × {spec.size} px",
        regions=[edited_region(prep, v) for v in prep.variants], target=words, note=GRID_NOTE.format(target=words),
    )  # fmt: skip
    atomic_write(root / rel, lambda tmp: picture.save(tmp, format="PNG", optimize=False, compress_level=6))
    return rel.as_posix()
