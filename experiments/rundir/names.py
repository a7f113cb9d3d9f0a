"""File names in a run folder for any id (`slug`), and where the report's small pictures of every
scored edit lie (a subject page's gallery): which samples and edits get one, and their files.

The picture is the edit as scoring made it (full resolution, the run's seed), shrunk for people
(experiments.inputs.images.picture_bytes). Scoring makes them while it has every edited image in
memory, for runs small enough that every sample gets a page (`gallery_made_while_scoring`); the
report makes whatever is missing, so a gallery never depends on which stage drew it.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

MAX_SUBJECT_PAGES = 50  # a dataset run gets pages for its most fragile samples only
MAX_GALLERY = 80  # pictures of edits per subject page: the grid's first 80 variants


def slug(text: str) -> str:
    """A file-name-safe, collision-free name for a sample or variant id (any id, even one from a
    file name that is not UTF-8)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(text).stem if "/" in text else text).strip("_")[:48]
    return f"{readable}-{hashlib.sha1(text.encode('utf-8', 'surrogateescape')).hexdigest()[:6]}"


def gallery_dir(report_dir: Path, sample_id: str) -> Path:
    return report_dir / "img" / "variants" / slug(sample_id)


def gallery_file(report_dir: Path, sample_id: str, variant_id: str) -> Path:
    return gallery_dir(report_dir, sample_id) / f"{slug(variant_id)}.jpg"


def gallery_made_while_scoring(samples: int, report: str) -> bool:
    """Every sample gets a page (and so a gallery) when there are at most MAX_SUBJECT_PAGES."""
    return report == "html" and samples <= MAX_SUBJECT_PAGES
