"""Image datasets on disk, as tables of records: path, split, label, style, generator, source.

Two layouts:
- AI-ArtBench: `<root>/<split>/<style>` holds human art (ArtBench-10); `<root>/<split>/AI_LD_<style>`
  and `AI_SD_<style>` hold AI art from Latent and Standard Diffusion.
- generic: `<root>/<split>/<class folder>/...` with class folder names (or shell patterns,
  experiments.inputs.labels) from the config (by default `ai` and `human`); style is the sub-folder below
  the class folder, if any. With `generator_from` that sub-folder names instead the generator of an
  AI image or the source of a human one, shown as safe text (style stays empty; an image right in
  the class folder is `unknown`); a sub-folder without images, a name in both classes, a folder
  named `unknown` or `human` (reserved) and a mapping key that names no folder are refused.

A dataset may hold only some splits: evaluating needs only the split it scores (a test-only
folder is the common case), training needs `train/`.

Then, as the study did: the training split is balanced by dropping images of the larger class at
random (seeded) down to the smaller class's count (the study's AI images; the human images of a
copy filtered to one generator), and a stratified validation split is held out of it unless the dataset
has its own. Pure functions over pandas DataFrames; nothing here decodes an image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from experiments.config.fields import HUMAN, RESERVED_NAMES, UNNAMED, ConfigError
from experiments.config.messages import cut
from experiments.config.model_blocks import DatasetConfig
from experiments.inputs.folders import list_images, shown_name
from experiments.inputs.labels import IMAGE_SUFFIXES, LabelError, class_patterns, folder_class
from xai.text import printable

COLUMNS = ["path", "split", "label", "style", "generator", "source"]
GENERATORS = {"AI_LD_": "latent_diffusion", "AI_SD_": "standard_diffusion"}


def _images_below(folder: Path) -> list[Path]:
    """The regular image files below `folder`, sorted; symbolic links are not followed and
    entries that are not regular files are left out (experiments.inputs.folders.list_images)."""
    return list_images(folder, IMAGE_SUFFIXES).files


def scan_artbench(root: Path, splits: list[str]) -> pd.DataFrame:
    rows = []
    for split in splits:
        for folder in sorted(p for p in (root / split).iterdir() if p.is_dir()):
            prefix = next((k for k in GENERATORS if folder.name.upper().startswith(k)), None)
            label, generator = ("ai", GENERATORS[prefix]) if prefix else ("human", HUMAN)
            style = folder.name[len(prefix) :] if prefix else folder.name
            rows += [(str(p), split, label, style.lower(), generator, "") for p in _images_below(folder)]
    return pd.DataFrame(rows, columns=COLUMNS)


def _class_folders(root: Path, split: str, class_folders: dict[str, list[str]], class_dirs: dict) -> dict[str, list]:
    """Per class, the folders of one split whose names match its patterns (ConfigError for a
    folder that matches both)."""
    found = {label: [] for label in class_folders}
    for folder in sorted(p for p in (root / split).iterdir() if p.is_dir()):
        try:
            label = folder_class(folder.name, class_folders)
        except LabelError:
            why = f"{folder} matches both classes ({class_dirs}); make the patterns exclusive"
            raise ConfigError(f"dataset.class_dirs: {why}") from None
        if label is not None:
            found[label].append(folder)
    return found


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())


def scan_generic(
    root: Path,
    splits: list[str],
    class_dirs: dict[str, str | list[str]],
    generator_from: str | dict[str, str] | None = None,
) -> pd.DataFrame:
    class_folders = class_patterns(class_dirs)
    rows = []
    for split in splits:
        for label, folders in _class_folders(root, split, class_folders, class_dirs).items():
            if not folders:
                raise ConfigError(
                    f"dataset.class_dirs: no folder in {root / split} matches {label}: {class_dirs[label]!r}"
                )
            for folder in folders:
                rows += _class_rows(folder, split, label, generator_from)
    df = pd.DataFrame(rows, columns=COLUMNS)
    if generator_from is not None:
        check_labelled(df)
    return df


def named(folder: str, names: dict[str, str]) -> str:
    """The generator or source a sub-folder names: the mapping's name for it, else its own name
    as text that is safe to show (undecodable bytes and bidi controls as visible escapes)."""
    return names[folder] if folder in names else printable(shown_name(folder))


def _class_rows(folder: Path, split: str, label: str, generator_from: str | dict[str, str] | None) -> list[tuple]:
    """The records of one class folder: style (or, with generator_from, generator / source) from
    the sub-folder below it, if any."""
    if generator_from is None:
        rows = []
        for p in _images_below(folder):
            rel = p.relative_to(folder)
            style = rel.parts[0] if len(rel.parts) > 1 else ""
            rows.append((str(p), split, label, style, UNNAMED if label == "ai" else HUMAN, ""))
        return rows
    names = generator_from if isinstance(generator_from, dict) else {}
    kind = "generator" if label == "ai" else "source"
    for sub in _subfolders(folder):
        if not _images_below(sub):
            raise ConfigError(
                f"dataset.generator_from: {sub} is a {kind} folder with no images; remove it or add its images"
            )
        if (name := named(sub.name, names)) in RESERVED_NAMES:
            raise ConfigError(
                f"dataset.generator_from: {sub} is a {kind} folder named {name!r}, a reserved name (it labels "
                f"{RESERVED_NAMES[name]}); rename it, on disk or with generator_from: {{{name}: another_name}}"
            )
    rows = []
    for p in _images_below(folder):  # an image right in the class folder: generator / source UNNAMED
        rel = p.relative_to(folder)
        name = named(rel.parts[0], names) if len(rel.parts) > 1 else UNNAMED
        rows.append((str(p), split, label, "", name, "") if label == "ai" else (str(p), split, label, "", HUMAN, name))
    return rows


def check_mapping(cfg: DatasetConfig) -> None:
    """Every folder a generator_from mapping renames is a generator or source folder of the
    dataset, in some split: a misspelt key would leave its folder under its own name unseen."""
    if not isinstance(cfg.generator_from, dict):
        return
    class_folders = class_patterns(cfg.class_dirs)
    splits = [s for s in (cfg.train_split, cfg.val_split, cfg.test_split) if s and (cfg.root / s).is_dir()]
    found = {
        sub.name
        for split in splits
        for folders in _class_folders(cfg.root, split, class_folders, cfg.class_dirs).values()
        for folder in folders
        for sub in _subfolders(folder)
    }
    if missing := [key for key in cfg.generator_from if key not in found]:
        shown = ", ".join(sorted(printable(shown_name(f)) for f in found)) or "none"
        raise ConfigError(
            f"dataset.generator_from: {cut(repr(missing[0]))} names no generator or source folder of {cfg.root} "
            f"(its folders: {shown}); check its spelling"
        )


def check_labelled(records: pd.DataFrame) -> None:
    """A name that is both a generator (AI) and a source (human) would mix the classes' rows in
    every per-name table: refused, naming it."""
    both = sorted(
        set(records.loc[records["label"] == "ai", "generator"])
        & set(records.loc[records["label"] == "human", "source"])
    )
    if both:
        raise ConfigError(
            f"dataset.generator_from: {both[0]!r} names a folder in both classes (ai and human); "
            "give the generator and the source different names"
        )


def scan(cfg: DatasetConfig, splits: list[str] | None = None) -> pd.DataFrame:
    """Every image of the named splits (by default train, val and test, each where its folder
    exists, train required), sorted by split and path so seeded choices are reproducible.
    Sorted means class-sorted: anything that streams these rows must permute them first."""
    root = cfg.root
    if not root.is_dir():
        raise ConfigError(f"dataset.root: {root} is not a folder")
    if splits is None:
        splits = [cfg.train_split, *(s for s in (cfg.val_split, cfg.test_split) if s and (root / s).is_dir())]
    missing = [s for s in splits if not (root / s).is_dir()]
    if missing:
        present = sorted(p.name for p in root.iterdir() if p.is_dir())
        raise ConfigError(
            f"dataset.root: {root} has no {' or '.join(missing)} folder (it has: {', '.join(present) or 'no folders'})"
        )
    check_mapping(cfg)
    df = (
        scan_artbench(root, splits)
        if cfg.layout == "artbench"
        else scan_generic(root, splits, cfg.class_dirs, cfg.generator_from)
    )
    if df.empty:
        raise ConfigError(f"dataset.root: no images below {root} in the {cfg.layout} layout")
    if cfg.generators is not None:
        df = only_generators(df, cfg.generators)
    return df.sort_values(["split", "path"], ignore_index=True)


def only_generators(df: pd.DataFrame, generators: list[str]) -> pd.DataFrame:
    """The human records and the AI records of `generators`; a name no AI record has is refused."""
    missing = sorted(set(generators) - set(df.loc[df["label"] == "ai", "generator"]))
    if missing:
        found = ", ".join(sorted(set(df.loc[df["label"] == "ai", "generator"])))
        raise ConfigError(f"dataset.generators: no AI image of {', '.join(missing)} (generators here: {found})")
    return df[(df["label"] == "human") | df["generator"].isin(generators)]


def balance(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Drop rows of the larger class at random (seeded) until both classes have as many rows as
    the smaller one; order kept. AI rows, as the study's AI-ArtBench had more of them; human rows
    when a filter (`generators:`, the cross-generator copies) leaves fewer AI images than human."""
    ai, human = df.index[df["label"] == "ai"], df.index[df["label"] == "human"]
    if len(ai) == len(human):
        return df
    larger, smaller = (ai, human) if len(ai) > len(human) else (human, ai)
    keep = np.random.default_rng(seed).choice(larger, size=len(smaller), replace=False)
    return df.loc[sorted([*smaller, *keep])].reset_index(drop=True)


def limit_per_class(df: pd.DataFrame, n: int | None, seed: int) -> pd.DataFrame:
    """At most n rows per label, chosen at random (seeded): a quick look at a big dataset."""
    if n is None:
        return df
    rng = np.random.default_rng(seed)
    keep = [rng.choice(g.index, size=min(n, len(g)), replace=False) for _, g in df.groupby("label", sort=True)]
    return df.loc[sorted(np.concatenate(keep))].reset_index(drop=True)


def training_splits(cfg: DatasetConfig, seed: int) -> dict[str, pd.DataFrame]:
    """train (balanced), val (the dataset's own, or stratified by label and style out of train)
    and test records (empty when the dataset has no test split)."""
    df = scan(cfg)
    train = limit_per_class(df[df["split"] == cfg.train_split].reset_index(drop=True), cfg.limit_per_class, seed)
    test = limit_per_class(df[df["split"] == cfg.test_split].reset_index(drop=True), cfg.limit_per_class, seed)
    if cfg.balance:
        train = balance(train, seed)
    if cfg.val_split and (df["split"] == cfg.val_split).any():
        val = df[df["split"] == cfg.val_split].reset_index(drop=True)
    else:
        strata = (
            train["label"]
            + "/"
            + (train["style"] if cfg.generator_from is None else train["generator"] + "/" + train["source"])
        )
        if strata.value_counts().min() < 2:  # too few per style (generator, source) to stratify by it
            strata = train["label"]
        from sklearn.model_selection import train_test_split  # here: a run that splits nothing need not load it

        train, val = train_test_split(train, test_size=cfg.val_fraction, random_state=seed, stratify=strata)
        train, val = train.sort_index().reset_index(drop=True), val.sort_index().reset_index(drop=True)
    for name, part in (("train", train), ("validation", val), ("test", test)):
        if part["label"].nunique() < 2 and not (name == "test" and part.empty):
            raise ConfigError(f"dataset.root: the {name} split of {cfg.root} needs both ai and human images")
    return {"train": train, "val": val, "test": test}


def counts(records: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per class, style and generator (and source, where the layout names sources): what a model
    card lists; its `generator` counts are the generators a model was trained on."""
    labelled = "source" in records and (records["source"] != "").any()
    keys = ("label", "generator", "source") if labelled else ("label", "style", "generator")
    return {key: {str(k): int(v) for k, v in records[key].value_counts().sort_index().items()} for key in keys}
