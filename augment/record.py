"""What an edit drew: the record that comes back with an edited image.

The ops that draw at random do their drawing in a params step (albumentations' `get_params` /
`get_params_dependent_on_data`), before the pixel work, and put what they drew in the params:
`painted`, the regions an overlay op covered, `noise_seed`, the seed of a noise field, and
`cropped`, the box a crop kept; a step that moves or resizes pixels (crop, rotation, flip, resize)
says so (`moved`), and the boxes painted before it are dropped, as they no longer say where.
`EditRecord.from_applied` gathers them from the params albumentations saved for every step of a
variant (`Compose(save_applied_params=True)`), so a picture can outline where an occlusion or a
placed text landed from the record, without comparing pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels; x1 and y1 exclusive
PAINTED = "painted"  # params key: the boxes an overlay op painted
NOISE_SEED = "noise_seed"  # params key: the seed of a noise field
CROPPED = "cropped"  # params key: the box a crop kept, in the coordinates of the image it cut
MOVED = "moved"  # params key: the step moved or resized the pixels


@dataclass(frozen=True)
class EditRecord:
    """What one application of a variant drew on an image, `size` (height, width) being the
    edited image's: the boxes it painted over (occlusion blocks, placed text; in the order drawn,
    each clipped to the image, and only those painted after the last step that moved pixels), the
    seeds of its noise fields and the boxes its crops kept. Tiled text is a pattern over the whole
    image, not a region: it adds no box. Identity and the deterministic edits record nothing else."""

    size: tuple[int, int]
    boxes: tuple[Box, ...] = ()
    noise_seeds: tuple[int, ...] = ()
    crops: tuple[Box, ...] = ()

    @classmethod
    def from_applied(cls, size: tuple[int, int], applied: Sequence[tuple[str, dict]]) -> EditRecord:
        """The record of albumentations' `applied_transforms` (name, params) list; `size` is the
        edited image's (the boxes are in its coordinates)."""
        boxes: list[Box] = []
        for _, params in applied:
            boxes = [] if params.get(MOVED) else boxes
            boxes += [tuple(int(v) for v in box) for box in params.get(PAINTED, ())]  # type: ignore[misc]
        seeds = tuple(int(params[NOISE_SEED]) for _, params in applied if NOISE_SEED in params)
        crops = tuple(tuple(int(v) for v in params[CROPPED]) for _, params in applied if CROPPED in params)
        return cls((int(size[0]), int(size[1])), tuple(boxes), seeds, crops)  # type: ignore[arg-type]


def region_mask(record: EditRecord, height: int, width: int) -> np.ndarray:
    """Boolean (height, width) mask of the region the record's boxes painted, on a copy of the
    image resized to height x width: a pixel is in it when its area overlaps a box (so a box
    never vanishes at a smaller size). All False when nothing was painted."""
    mask = np.zeros((height, width), bool)
    drawn_h, drawn_w = record.size
    for x0, y0, x1, y1 in record.boxes:
        rows = slice(math.floor(y0 * height / drawn_h), math.ceil(y1 * height / drawn_h))
        cols = slice(math.floor(x0 * width / drawn_w), math.ceil(x1 * width / drawn_w))
        mask[rows, cols] = True
    return mask
