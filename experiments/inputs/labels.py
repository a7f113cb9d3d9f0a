"""Which class an image belongs to, from the folders it sits in. A leaf module: no artxai imports.

Datasets name their class folders in many ways (`ai`/`human`, `FAKE`/`REAL`, `unseen_AI_images`,
`0_real`/`1_fake`). A class map gives, per class, folder-name patterns (shell-style, matched
case-insensitively against every folder between the root and the file):

    {"ai": ["FAKE", "unseen_AI_*"], "human": ["REAL", "unseen_Human_*"]}

A file whose folders match no class, or match both, is an error naming the file: guessing would
put wrong labels into every number downstream.
"""

from __future__ import annotations

import fnmatch
from pathlib import PurePath

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
CLASSES = ("ai", "human")
DEFAULT_CLASS_FOLDERS: dict[str, list[str]] = {"ai": ["ai"], "human": ["human"]}


class LabelError(ValueError):
    """A file whose class cannot be told from its folders."""


def patterns(value: str | list[str]) -> list[str]:
    """One folder pattern or several, as a list."""
    return [value] if isinstance(value, str) else list(value)


def class_patterns(classes: dict[str, str | list[str]]) -> dict[str, list[str]]:
    """A class map as given in a config (one pattern or several per class), as lists."""
    return {label: patterns(value) for label, value in classes.items()}


def matching_classes(folder: str, class_folders: dict[str, list[str]]) -> set[str]:
    """The classes whose patterns match one folder name (case-insensitive)."""
    name = folder.lower()
    return {label for label, pats in class_folders.items() if any(fnmatch.fnmatchcase(name, p.lower()) for p in pats)}


def folder_class(folder: str, class_folders: dict[str, list[str]]) -> str | None:
    """The one class a folder name matches, or None; LabelError when it matches both."""
    found = matching_classes(folder, class_folders)
    if len(found) > 1:
        raise LabelError(f"{folder}: matches both classes ({', '.join(sorted(found))})")
    return found.pop() if found else None


def nearest_class(rel: PurePath, class_folders: dict[str, list[str]] = DEFAULT_CLASS_FOLDERS) -> str | None:
    """The class of the nearest folder of `rel` (from the file up) that names one, or None: the
    default rule, where a parent folder named `ai` or `human` gives the class."""
    for parent in rel.parents:
        label = folder_class(parent.name, class_folders)
        if label is not None:
            return label
    return None


def label_from_folders(rel: PurePath, class_folders: dict[str, list[str]]) -> str | None:
    """The class named by the folders of `rel` (a path relative to the scanned root), or None
    when no folder matches a class. Raises LabelError when its folders name both classes."""
    found: set[str] = set()
    for folder in rel.parts[:-1]:
        found |= matching_classes(folder, class_folders)
    if len(found) > 1:
        raise LabelError(
            f"{rel}: its folders match both classes ({', '.join(sorted(found))}); make the class folder patterns "
            "exclusive"
        )
    return found.pop() if found else None
