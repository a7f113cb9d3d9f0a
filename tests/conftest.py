"""Shared fixtures. The study's files come from the mirror at $ARTXAI_SEED_MIRROR, or
../shared/seed-assets beside the checkout (as developers and CI have it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODEL_32 = "Models/AI-artbench/model 1 32px/best_model.h5"
MODEL_128 = "Models/AI-artbench/model 2 128px/best_model.h5"
SAMPLES_DIR = "Datasets/new sample"


def _find_mirror() -> Path | None:
    env = os.environ.get("ARTXAI_SEED_MIRROR", "").strip()
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "seed-assets"]:
        if (candidate / "MANIFEST.tsv").is_file():
            return candidate.resolve()
    return None


@pytest.fixture(scope="session")
def seed_mirror() -> Path:
    mirror = _find_mirror()
    if mirror is None:
        pytest.fail("the study's files are needed: set ARTXAI_SEED_MIRROR to a mirror folder (../shared/seed-assets)")
    return mirror


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    """Never touch the user's cache; never download from the internet in tests."""
    monkeypatch.setenv("ARTXAI_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def study_images(seed_mirror) -> list[Path]:
    return sorted((seed_mirror / SAMPLES_DIR).iterdir())


@pytest.fixture(scope="session")
def cnn32(seed_mirror):
    from experiments.models import load_detector

    return load_detector(seed_mirror / MODEL_32, "cnn32", 32)


@pytest.fixture(scope="session")
def real_mini() -> Path:
    """Real images in train|val|test/{ai,human} ($ARTXAI_REAL_MINI or ../shared/real-mini)."""
    env = os.environ.get("ARTXAI_REAL_MINI", "").strip()
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "real-mini"]:
        if (candidate / "train").is_dir():
            return candidate.resolve()
    pytest.fail("real-mini is needed: set ARTXAI_REAL_MINI to ../shared/real-mini")
