"""The report's small pictures of every scored edit (a subject page's gallery): which samples
and edits get one, where each lies, and how it is made.

The picture is the edit as scoring made it (full resolution, the run's seed), shrunk for people
(`display_resize`) and saved as a JPEG. Scoring makes them while it has every edited image in
memory, for runs small enough that every sample gets a page (`gallery_made_while_scoring`); the
report makes whatever is missing, so a gallery never depends on which stage drew it.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from experiments.inputs.images import display_resize
from experiments.report.naming import slug

MAX_SUBJECT_PAGES = 50  # a dataset run gets pages for its most fragile samples only
MAX_GALLERY = 80  # pictures of edits per subject page: the grid's first 80 variants
SIZE = 200  # long side, pixels
QUALITY = 85


def gallery_dir(report_dir: Path, sample_id: str) -> Path:
    return report_dir / "img" / "variants" / slug(sample_id)


def gallery_file(report_dir: Path, sample_id: str, variant_id: str) -> Path:
    return gallery_dir(report_dir, sample_id) / f"{slug(variant_id)}.jpg"


def picture_bytes(pixels: np.ndarray, size: int = SIZE, quality: int = QUALITY) -> bytes:
    """The JPEG of `pixels` shrunk to long side `size`."""
    buffer = io.BytesIO()
    Image.fromarray(display_resize(pixels, size)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def gallery_made_while_scoring(samples: int, report: str) -> bool:
    """Every sample gets a page (and so a gallery) when there are at most MAX_SUBJECT_PAGES."""
    return report == "html" and samples <= MAX_SUBJECT_PAGES
