"""Sample sets: the images a run scores, with their subject, edit and true label.

Two sources:
- a CSV manifest with columns `path` (required), `subject`, `variant`, `truth` (optional);
  paths are relative to the manifest's folder, or paths in the study's repository when
  `from_seed_assets` is set. `variant` names the hand-made edit a file stands for
  (original, noise, blur, colour, combined, watermark); it becomes the `edit` column of tables.
- a folder: every image file below it, sorted. Truth comes from the class folder patterns of
  `samples.classes` when given (experiments.inputs.labels: a file matching neither class or both is an
  error), else from a parent folder named `ai` or `human`, else from the filename rule (`ai_`
  prefix -> AI, anything else -> human).
- one split of a dataset (experiments.inputs.datasets), which may hold only that split.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from experiments.inputs.assets import AssetError, AssetResolver
from experiments.config.fields import BUILTIN_MANIFESTS, ConfigError
from experiments.config.model_blocks import DatasetConfig
from experiments.config.sections import SamplesConfig
from experiments.inputs.datasets import limit_per_class, scan
from experiments.inputs.folders import list_images, shown_name
from experiments.inputs.labels import CLASSES as TRUTHS
from experiments.inputs.labels import IMAGE_SUFFIXES, LabelError, class_patterns, label_from_folders, nearest_class
from experiments.config.messages import cut
from experiments.config.paths import no_nul

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    id: str  # stable name used in tables and for seeding
    path: Path | None  # None when the file could not be had (see `problem`)
    subject: str
    edit: str
    truth: str
    problem: str = ""  # why it cannot be scored, found before decoding
    style: str = ""  # from a dataset: art style
    generator: str = ""  # from a dataset: human, latent_diffusion, standard_diffusion, unknown, or its sub-folder
    source: str | None = None  # from a dataset with generator_from: a human image's source ("" for AI images)

    def labels(self) -> dict[str, str]:
        """The columns the score tables carry for it: style and generator, or, where the dataset
        names generators and sources (generator_from), source and generator."""
        kind = {"style": self.style} if self.source is None else {"source": self.source}
        return kind | {"generator": self.generator}


def truth_from_name(path: Path, ai_prefix: str = "ai_") -> str:
    """The default rule: the nearest parent folder named `ai` or `human`, else the filename prefix."""
    return nearest_class(path) or ("ai" if path.name.lower().startswith(ai_prefix.lower()) else "human")


def truth_in_folder(rel: Path, classes: dict[str, str | list[str]] | None, ai_prefix: str) -> str:
    """A folder sample's class: from the `classes` folder patterns when given, else the default rule."""
    if classes is None:
        return truth_from_name(rel, ai_prefix)
    try:
        label = label_from_folders(rel, class_patterns(classes))
    except LabelError as e:
        raise ConfigError(f"samples.classes: {e}") from None
    if label is None:
        raise ConfigError(f"samples.classes: {rel} is in no folder matching a class pattern ({classes})")
    return label


def samples_from_folder(
    folder: Path,
    ai_prefix: str = "ai_",
    classes: dict[str, str | list[str]] | None = None,
    follow_symlinks: bool = False,
) -> list[Sample]:
    """Every image file below `folder`; entries that cannot be scored (links not followed,
    FIFOs, folders named like images) come as samples with their `problem` (see folders.py)."""
    if not folder.is_dir():
        raise ConfigError(f"samples.folder: {folder} is not a folder")
    listing = list_images(folder, IMAGE_SUFFIXES, follow_symlinks)
    if not listing.files and not listing.skipped:
        raise ConfigError(f"samples.folder: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) below {folder}")
    return [
        Sample(
            shown_name(p.relative_to(folder)),
            p,
            shown_name(p.stem),
            "original",
            truth_in_folder(p.relative_to(folder), classes, ai_prefix),
        )
        for p in listing.files
    ] + [  # listed with the reason they are not scored (their truth is not used)
        Sample(
            shown_name(p.relative_to(folder)),
            None,
            shown_name(p.stem),
            "original",
            truth_from_name(p.relative_to(folder), ai_prefix),
            problem,
        )
        for p, problem in listing.skipped
    ]


def samples_from_dataset(dataset: DatasetConfig, split: str, seed: int = 0) -> list[Sample]:
    """One split of a dataset (limit_per_class applied, seeded) with label, style and generator;
    the dataset needs only that split (a test-only folder evaluates)."""
    records = scan(dataset, [split])
    records = limit_per_class(records[records["split"] == split].reset_index(drop=True), dataset.limit_per_class, seed)
    if records.empty:
        raise ConfigError(f"samples.split: {dataset.root} has no images in split {split!r}")
    return [
        Sample(
            shown_name(Path(r.path).relative_to(dataset.root)),
            Path(r.path),
            shown_name(Path(r.path).stem),
            "original",
            r.label,
            style=r.style,
            generator=r.generator,
            source=None if dataset.generator_from is None else r.source,
        )
        for r in records.itertuples()
    ]


def read_manifest(path: Path, ai_prefix: str = "ai_") -> list[dict[str, str]]:
    """Rows of a manifest CSV with every column filled in and checked."""
    if not path.is_file():
        raise ConfigError(f"samples.manifest: {path} not found")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} line {line}: not UTF-8 text (byte {data[e.start]:#04x}); save the manifest as UTF-8"
        ) from None
    with io.StringIO(text, newline="") as fh:
        reader = csv.DictReader(fh)
        try:
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise ConfigError(f"{path}: a manifest needs a 'path' column (got {cut(repr(reader.fieldnames))})")
            rows = [_manifest_row(path, reader.line_num, row, ai_prefix) for row in reader]
        except csv.Error as e:  # a NUL byte; a field over the csv module's limit, longer than any path
            why = f"a field over {csv.field_size_limit():,} characters" if "field limit" in str(e) else str(e)
            raise ConfigError(f"{path} line {reader.reader.line_num}: {why}") from None  # the line being read
    if not rows:
        raise ConfigError(f"{path}: the manifest lists no samples")
    return rows


def _manifest_row(path: Path, line: int, row: dict[str, str], ai_prefix: str) -> dict[str, str]:
    """One manifest row (`line`: where it ends) with every column filled in and checked."""
    rel = (row.get("path") or "").strip()
    if not rel:
        raise ConfigError(f"{path} line {line}: empty path")
    try:
        no_nul(rel)
    except ValueError as e:
        raise ConfigError(f"{path} line {line}: path {cut(repr(rel))}: {e}") from None
    truth = (row.get("truth") or "").strip().lower() or truth_from_name(Path(rel), ai_prefix)
    if truth not in TRUTHS:
        raise ConfigError(f"{path} line {line}: truth must be one of {TRUTHS}, got {cut(repr(row['truth']))}")
    return {
        "path": rel,
        "subject": (row.get("subject") or "").strip() or Path(rel).stem,
        "edit": (row.get("variant") or "").strip() or "original",
        "truth": truth,
    }


def load_samples(cfg: SamplesConfig, resolver: AssetResolver) -> list[Sample]:
    """The sample set a config describes, filtered to `cfg.variants` when given."""
    if cfg.dataset is not None:
        try:
            samples = samples_from_dataset(cfg.dataset, cfg.split)
        except ConfigError as e:  # the dataset's fields are samples.dataset.* here
            raise ConfigError(f"samples.{e}" if str(e).startswith("dataset.") else str(e)) from None
    elif cfg.folder is not None:
        samples = samples_from_folder(cfg.folder, cfg.ai_prefix, cfg.classes, cfg.follow_symlinks)
    else:
        manifest = BUILTIN_MANIFESTS.get(cfg.manifest) or Path(cfg.manifest)
        samples = []
        for row in read_manifest(manifest, cfg.ai_prefix):
            if cfg.variants is not None and row["edit"] not in cfg.variants:
                continue
            path, problem = _locate(row["path"], manifest.parent, cfg.from_seed_assets, resolver)
            samples.append(Sample(row["path"], path, row["subject"], row["edit"], row["truth"], problem))
    if cfg.variants is not None and not samples:
        raise ConfigError(f"samples.variants: no sample has a variant in {cfg.variants}")
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ConfigError(f"samples: {dup} is listed more than once")
    return samples


def _locate(rel: str, base: Path, from_seed: bool, resolver: AssetResolver) -> tuple[Path | None, str]:
    if not from_seed:
        path = Path(rel) if Path(rel).is_absolute() else base / rel
        return path, ""
    try:
        return resolver.resolve(rel).local_path, ""
    except AssetError as e:
        log.warning("%s", e)
        return None, str(e)
