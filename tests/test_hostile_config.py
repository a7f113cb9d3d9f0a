"""Hostile configs (issue 27): a NUL byte in any path field or manifest path, train-time crops
smaller than a pixel, input sizes the CNN cannot train at, names too long for the files made from
them, a full disk while training, and a small file whose aliases expand to a huge config. Each
bad input is one error line naming the file or field, exit 2, nothing created. Real CIFAKE
images, the study's 32 px model."""

import os
import subprocess
import sys
import time
import tracemalloc
import typing

import numpy as np
import pytest
from pydantic import BaseModel, BeforeValidator

from experiments import run as cli
from experiments.config import fields, paths
from experiments.config.fields import ConfigError
from experiments.config.schema import RunConfig, load_config
from experiments.models.architecture import build_cnn
from tests.conftest import MODEL_32, REPO
from tests.test_hostile_inputs import cifake_copies, one_error_line, write_config
from tests.test_ownership import file_size_limit, small_disk


def refused(capsys, config, *words: str) -> str:
    """main() on `config` exits 2 with one error line holding every word; nothing is created."""
    assert cli.main([str(config)]) == 2
    line = one_error_line(capsys)
    for word in words:
        assert word in line, line
    assert not (config.parent / "results").exists()
    return line


# A NUL byte in a path ----------------------------------------------------------------------------
def trained(**train) -> dict:
    train = {"dataset": {"root": "data"}} | train
    return {"models": [{"name": "m", "input_size": 32, "path": "m.keras", "train": train}]}


NUL = "a\0b"
NUL_IN_PATH_FIELDS = {  # field as the error line names it -> the config's overrides
    "out_dir": {"out_dir": NUL},
    "assets.mirror": {"assets": {"mirror": NUL}},
    "assets.cache_dir": {"assets": {"cache_dir": NUL}},
    "models.0.path": {"models": [{"name": "m", "input_size": 32, "path": f"{NUL}.keras"}]},
    "models.0.train.dataset.root": {"models": [{"name": "m", "input_size": 32, "path": "m.keras",
                                                "train": {"dataset": {"root": NUL}}}]},
    "models.0.train.init_from": trained(init_from=f"{NUL}.keras"),
    "samples.manifest": {"samples": {"manifest": f"{NUL}.csv"}},
    "samples.folder": {"samples": {"folder": NUL}},
    "samples.dataset.root": {"samples": {"dataset": {"root": NUL}}},
    "eval_sets.0.samples.folder": {"eval_sets": [{"name": "e", "samples": {"folder": NUL}}]},
}  # fmt: skip
PATH_CHECKS = {paths.config_path, paths.output_path, fields._manifest}


def path_fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every field of `model` (and of the blocks inside it) read as a path, dotted; lists as `.0`."""

    def types(annotation) -> list:
        found = [annotation]
        for arg in typing.get_args(annotation):
            found += types(arg)
        return found

    found = set()
    for name, info in model.model_fields.items():
        field = f"{prefix}{name}"
        inner = types(info.annotation)
        metadata = info.metadata + [m for t in inner for m in getattr(t, "__metadata__", ())]
        if any(isinstance(m, BeforeValidator) and m.func in PATH_CHECKS for m in metadata):
            found.add(field)
        for t in inner:
            if isinstance(t, type) and issubclass(t, BaseModel):
                listed = any(typing.get_origin(o) is list for o in inner)
                found |= path_fields(t, f"{field}.0." if listed else f"{field}.")
    return found


def test_the_nul_cases_cover_every_path_field_of_the_schema():
    every = path_fields(RunConfig)
    assert {"out_dir", "samples.folder", "models.0.train.init_from"} <= every
    covered = set(NUL_IN_PATH_FIELDS) | {"eval_sets.0.samples.manifest", "eval_sets.0.samples.dataset.root"}
    assert every == covered, every ^ covered


@pytest.mark.parametrize("field", sorted(NUL_IN_PATH_FIELDS))
def test_a_nul_byte_in_any_path_field_is_one_line_naming_it(tmp_path, seed_mirror, cifake, capsys, field):
    cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg"])
    config = write_config(tmp_path, seed_mirror, **NUL_IN_PATH_FIELDS[field])
    refused(capsys, config, f"{config}: {field}: a NUL byte at character 2; no path can hold one")


def test_a_nul_byte_in_a_manifest_path_is_one_line_naming_the_file_and_line(tmp_path, seed_mirror, cifake, capsys):
    cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg"])
    manifest = tmp_path / "samples.csv"
    manifest.write_text("path,truth\nimages/a.jpg,ai\nimages/b\0.jpg,human\n")
    config = write_config(tmp_path, seed_mirror, samples={"manifest": "samples.csv"})
    refused(capsys, config, f"error: {manifest} line 3: path 'images/b\\x00.jpg': a NUL byte at character 9")


# A small file that expands to a huge config --------------------------------------------------------
def test_a_long_string_aliased_many_times_is_refused_before_it_is_expanded(tmp_path, seed_mirror, cifake, capsys):
    cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg"])
    samples = {"folder": "images", "ai_prefix": "ANCHOR", "variants": ["VARIANTS"]}
    text = write_config(tmp_path, seed_mirror, samples=samples).read_text()
    line = ", ".join(["*s"] * 100)  # PyYAML reads a flow sequence's line of at most 1,024 characters
    aliased = "[" + ",\n    ".join([line] * 200) + "]"  # 10 KB x 20,000: 200 MB, under the 100,000-alias limit
    config = tmp_path / "config.yaml"
    config.write_text(text.replace("ANCHOR", f"&s {'x' * 10_000}").replace("\n  - VARIANTS", " " + aliased))
    assert len(config.read_bytes()) < 100_000
    tracemalloc.start()
    started, refusal = time.perf_counter(), f"{config}: line [0-9]+: the config's values come to more than 4,000,000"
    try:
        with pytest.raises(ConfigError, match=refusal):
            load_config(config)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000 and time.perf_counter() - started < 5, (peak, time.perf_counter() - started)
    refused(capsys, config, f"error: {config}: line ", "more than 4,000,000 characters (aliases expanded)")


# Names that become file names --------------------------------------------------------------------
LONGEST = "n" * 128  # fields.MAX_NAME


@pytest.mark.parametrize(
    "override, field",
    [
        ({"name": LONGEST + "n"}, "name"),
        ({"models": [{"name": LONGEST + "n", "input_size": 32, "seed_asset": MODEL_32}]}, "models.0.name"),
        ({"eval_sets": [{"name": LONGEST + "n"}]}, "eval_sets.0.name"),
    ],
)
def test_a_name_longer_than_the_files_named_after_it_allow_is_refused(
    tmp_path, seed_mirror, cifake, capsys, override, field
):
    cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg"])  # a run that would go on
    config = write_config(tmp_path, seed_mirror, **override)
    refused(capsys, config, f"{config}: {field}: a name of 129 characters; the most is 128")


def test_names_of_the_longest_length_give_every_file_and_the_report(tmp_path, seed_mirror, art6gen):
    dataset = {"root": str(art6gen), "layout": "generic", "generator_from": "subfolder", "limit_per_class": 3}
    model = {"name": LONGEST, "input_size": 32, "seed_asset": MODEL_32, "required": True}
    config = write_config(
        tmp_path, seed_mirror, name=LONGEST, models=[model], samples={"dataset": dataset}, report="html",
        eval_sets=[{"name": LONGEST}],
    )  # fmt: skip
    assert cli.main([str(config)]) == 0
    run_dir = tmp_path / "results" / LONGEST
    assert (run_dir / "figures" / f"accuracy_by_generator_{LONGEST}.png").is_file()  # the longest name a run writes
    assert (run_dir / "report" / "index.html").is_file()
    longest = max(len(os.fsencode(p.name)) for p in run_dir.rglob("*"))
    assert longest == len(f"accuracy_by_generator_{LONGEST}.png"), longest
    assert len(f".accuracy_by_generator_{LONGEST}.png.abcdefgh.tmp") <= paths.NAME_MAX  # as atomic_write names it


# Training: the CNN's smallest input, crops under a pixel, a full disk ---------------------------------
def test_the_cnns_least_input_size_is_the_one_the_config_asks_for():
    from experiments.config.model_blocks import MIN_CNN_INPUT

    build_cnn(MIN_CNN_INPUT)  # one pixel left after the last pooling
    with pytest.raises(ValueError):  # Keras' own error: none left
        build_cnn(MIN_CNN_INPUT - 1)


def test_a_train_block_below_the_cnns_least_input_size_is_one_line_naming_it(tmp_path, seed_mirror, cifake, capsys):
    cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg"])
    train = {"dataset": small_dataset(cifake, tmp_path / "data", 8), "epochs": 1}  # a training that would start
    model = {"name": "tiny", "input_size": 9, "path": "m.keras", "train": train}
    config = write_config(tmp_path, seed_mirror, models=[model])
    line = refused(capsys, config, f"{config}: models.0: models[tiny].input_size: 9 px is too small", "least is 10 px")
    assert "\x1b" not in line and not (tmp_path / "m.training").exists()
    model |= {"input_size": 10}
    assert load_config(write_config(tmp_path, seed_mirror, models=[model])).models[0].input_size == 10


def small_dataset(cifake, root, per_class):
    """CIFAKE copies in train|test/{ai,human} (the validation images held out of train)."""
    for split in ("train", "test"):
        for truth in ("ai", "human"):
            cifake_copies(cifake, root / split / truth, [f"{i}.jpg" for i in range(per_class)], split)
    return {"root": str(root), "layout": "generic", "val_split": None}


def test_a_crop_under_one_pixel_keeps_one_pixel(tmp_path, seed_mirror, cifake):
    from experiments.config.model_blocks import TrainAugmentConfig
    from experiments.models.train_augment import augment_image

    pixels = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
    crops = [augment_image(pixels, TrainAugmentConfig(crop=0.01), key) for key in range(200)]
    assert all(c.shape == (16, 16, 3) for c in crops)
    assert any(len(np.unique(c.reshape(-1, 3), axis=0)) == 1 for c in crops)  # one pixel, resized back
    cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg"])
    train = {"dataset": small_dataset(cifake, tmp_path / "data", 100), "epochs": 2, "augment": {"crop": 0.01}}
    model = {"name": "m", "input_size": 16, "path": "m.keras", "train": train, "required": True}
    assert cli.main([str(write_config(tmp_path, seed_mirror, models=[model]))]) == 0  # draws a side under 1 px


def training_config(tmp_path, seed_mirror, cifake, model_path, **train):
    cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg"])
    train = {"dataset": small_dataset(cifake, tmp_path / "data", 8), "epochs": 1} | train
    model = {"name": "m", "input_size": 10, "path": str(model_path), "train": train, "required": True}
    return write_config(tmp_path, seed_mirror, models=[model])


@pytest.mark.parametrize("free_kb, fails", [(64, "best.keras"), (800, "backup")])
def test_a_full_disk_while_training_is_one_line_naming_the_file(tmp_path, seed_mirror, cifake, capsys, free_kb, fails):
    """A real full disk (a 2 MiB tmpfs, tests.test_ownership): the best checkpoint (554 KB at
    10 px) does not fit in 64 KB; in 800 KB it does, and the backup after it (548 KB) does not.
    The failing run is the command line, as a user runs it: h5py's handle on the half-written
    backup cannot be closed, and HDF5 crashes (SIGSEGV) if Python's finalisation closes it, which
    the command line skips after an early end (experiments.execution.interrupts.leave)."""
    with small_disk(tmp_path, free_kb * 1024, size="2m") as (disk, free):
        config = training_config(tmp_path, seed_mirror, cifake, disk / "m.keras")
        done = subprocess.run(
            [sys.executable, "-m", "experiments.run", str(config)], cwd=REPO, capture_output=True, text=True,
            timeout=600,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr[-2000:]
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and done.stderr.strip().splitlines()[-1] == errors[0], done.stderr[-2000:]
        line = errors[0]
        assert line.startswith(f"error: {disk}/m.training/{fails}: cannot be written (No space left on device)")
        assert not (tmp_path / "results").exists()
        left = {p.name for p in (disk / "m.training").iterdir()}
        assert left <= {".artxai-training.json", "fingerprint.json", "history.csv", "best.keras"} and fails not in left
        free()
        assert cli.main([str(config)]) == 0  # trains anew: nothing half-written is resumed from
        assert (disk / "m.keras").is_file() and (tmp_path / "results" / "hostile" / "scores.parquet").is_file()


def test_a_training_cache_over_a_file_size_limit_is_one_line_naming_it(tmp_path, seed_mirror, cifake, capsys):
    config = training_config(tmp_path, seed_mirror, cifake, tmp_path / "m.keras", cache="disk")
    with file_size_limit(tmp_path, 4096):  # tf.data's cache of 14 images at 10 px: 4.2 KB
        assert cli.main([str(config)]) == 1
    line = one_error_line(capsys)
    assert line.startswith(f"error: {tmp_path}/m.training/cache: cannot be written (File too large)"), line
    assert not (tmp_path / "results").exists()
