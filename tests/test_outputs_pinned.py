"""Every table three runs write, pinned by value: a refactor that says it changes no behaviour
proves it here, on any x86-64 machine.

The runs: the default study (robustness.yaml as shipped, explanations included), the study's table
(study_table.yaml) and a small CIFAKE run (200 test images, the study's 32 px model, a grid with
noise, JPEG, occlusion and placed text). Pinned in tests/pins/<run>/: every .csv (gzipped) and
.parquet table the run writes, and the values of every attribution map (maps.npz, one array per
explain/maps/<key>.npz). Compared by tests/tolerance.py's rule: identifiers, labels, decisions and
verdicts exactly, floats within the tolerance of what they measure, maps within a fraction of their
scale. Not pinned: the manifest, model cards, timings, pictures and the report's HTML (times and
versions).

After a change that is meant to change outputs: `ARTXAI_UPDATE_PINS=1 pytest
tests/test_outputs_pinned.py` rewrites tests/pins/<run>/; commit it with the reason.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from experiments import run as cli
from tests.conftest import MODEL_32, REPO
from tests.tolerance import frame_differences, map_differences

PINS = Path(__file__).with_name("pins")
CONFIGS = REPO / "experiments" / "configs"
UPDATE = os.environ.get("ARTXAI_UPDATE_PINS", "") == "1"
CACHES = ("parts", "explain/parts")  # resumable caches of the tables, not tables of the run
MAPS = "maps.npz"


def cifake_config(cifake: Path, seed_mirror: Path) -> dict:
    """100 test images per class of ../shared/cifake, the study's 32 px model, one value of every
    kind of edit the overlay ops draw at random (noise seed, block and text positions)."""
    return {
        "name": "cifake_pinned",
        "seed": 7,
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
        "samples": {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": 100}, "split": "test"},
        "augment": {
            "repeats": 2,
            "jpeg": {"quality": [30]},
            "gaussian_noise": {"std": [0.05]},
            "occlusion": {"area": [0.05], "count": 2},
            "text_watermark": {"opacity": [0.6], "size": 0.3, "position": "random"},
        },
        "part_size": 100,
        "bootstrap": 200,
        "explain": {
            "methods": ["gradcam", "random"],
            "max_samples": 2,
            "top_k": 2,
            "sanity": False,
            "faithfulness_steps": 4,
        },  # fmt: skip
        "report": "none",
    }


def run_config(config: dict, out: Path) -> Path:
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump(config, sort_keys=False))  # the grid's order is the variants' order
    assert cli.main([str(path), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def pinned_runs(tmp_path_factory, seed_mirror, cifake) -> dict[str, Path]:
    """The three runs, once per session (about a minute on two cores)."""
    tmp = tmp_path_factory.mktemp("pinned")
    default = yaml.safe_load((CONFIGS / "robustness.yaml").read_text())
    default["assets"]["mirror"] = str(seed_mirror)
    study = yaml.safe_load((CONFIGS / "study_table.yaml").read_text()) | {"assets": {"mirror": str(seed_mirror)}}
    return {
        "robustness": run_config(default, tmp / "robustness"),
        "study_table": run_config(study, tmp / "study_table"),
        "cifake": run_config(cifake_config(cifake, seed_mirror), tmp / "cifake"),
    }


def run_tables(run_dir: Path) -> list[str]:
    """Relative paths of every table of a run folder, caches left out."""
    return [
        rel
        for path in sorted(run_dir.rglob("*"))
        if path.is_file() and path.suffix in (".csv", ".parquet")
        and not any((rel := path.relative_to(run_dir).as_posix()).startswith(f"{c}/") for c in CACHES)
    ]  # fmt: skip


def run_maps(run_dir: Path) -> dict[str, np.ndarray]:
    """explain/maps/<key>.npz -> the values of its attribution maps."""
    return {
        path.relative_to(run_dir).as_posix(): np.load(path)["maps"]
        for path in sorted((run_dir / "explain" / "maps").glob("*.npz"))
    }


def read_table(path: Path) -> pd.DataFrame:
    """A table as pandas reads it back: the same reader for the pinned file and the found one."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, compression="gzip" if path.suffix == ".gz" else None, keep_default_na=True)


def record(run_dir: Path, pins: Path) -> None:
    """Writes the pins of one run: its tables (CSV gzipped without a time stamp) and its maps."""
    if pins.exists():
        shutil.rmtree(pins)  # tests/pins/<run> is the test's own folder
    for rel in run_tables(run_dir):
        target = pins / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".csv"):
            with gzip.GzipFile(target.with_name(target.name + ".gz"), "wb", mtime=0) as out:
                out.write((run_dir / rel).read_bytes())
        else:
            shutil.copyfile(run_dir / rel, target)
    maps = run_maps(run_dir)
    if maps:
        np.savez_compressed(pins / MAPS, **maps)


def differences(run_dir: Path, pins: Path) -> list[str]:
    """One line per table or map that is missing, new, or not the same result as pinned."""
    pinned = {p.relative_to(pins).as_posix().removesuffix(".gz"): p for p in pins.rglob("*") if p.name != MAPS}
    pinned = {rel: p for rel, p in pinned.items() if p.is_file()}
    found = set(run_tables(run_dir))
    lines = [f"missing: {rel}" for rel in sorted(pinned.keys() - found)]
    lines += [f"new: {rel}" for rel in sorted(found - pinned.keys())]
    for rel in sorted(found & pinned.keys()):
        lines += frame_differences(read_table(run_dir / rel), read_table(pinned[rel]), rel)
    maps = run_maps(run_dir)
    expected = dict(np.load(pins / MAPS)) if (pins / MAPS).is_file() else {}
    lines += [f"missing: {rel}" for rel in sorted(expected.keys() - maps.keys())]
    lines += [f"new: {rel}" for rel in sorted(maps.keys() - expected.keys())]
    for rel in sorted(maps.keys() & expected.keys()):
        lines += map_differences(maps[rel], expected[rel], rel)
    return lines


def check_against_pins(run_dir: Path, run: str) -> None:
    if UPDATE:
        record(run_dir, PINS / run)
        return
    assert (PINS / run).is_dir(), f"no pins for {run}: run with ARTXAI_UPDATE_PINS=1 to record them"
    changed = differences(run_dir, PINS / run)
    assert not changed, f"{run}: outputs differ from tests/pins/{run}:\n" + "\n".join(changed)


@pytest.mark.parametrize("run", ["robustness", "study_table", "cifake"])
def test_every_table_and_map_is_the_pinned_result(pinned_runs, run):
    assert any(name.endswith(".parquet") for name in run_tables(pinned_runs[run]))
    check_against_pins(pinned_runs[run], run)


def test_differences_name_every_missing_new_and_changed_table_and_map(tmp_path):
    pins, run = tmp_path / "pins", tmp_path / "run"
    (run / "explain" / "maps").mkdir(parents=True)
    table = pd.DataFrame({"sample_id": ["a", "b"], "p_ai": [0.25, 0.75], "pred": ["human", "ai"]})
    for name in ("same", "changed", "gone"):
        table.to_parquet(run / f"{name}.parquet")
    table.to_csv(run / "same.csv", index=False)
    np.savez(run / "explain" / "maps" / "k.npz", maps=np.ones((1, 4, 4), np.float32))
    record(run, pins)
    assert differences(run, pins) == []
    (run / "gone.parquet").unlink()
    table.to_parquet(run / "new.parquet")
    table.assign(p_ai=[0.25, 0.76]).to_parquet(run / "changed.parquet")
    table.assign(p_ai=[0.25 + 1e-7, 0.75 - 1e-7]).to_csv(run / "same.csv", index=False)  # within tolerance
    np.savez(run / "explain" / "maps" / "k.npz", maps=np.full((1, 4, 4), 1.01, np.float32))
    found = differences(run, pins)
    assert found[:2] == ["missing: gone.parquet", "new: new.parquet"]
    assert found[2].startswith("changed.parquet row 1 (sample_id='b', pred='ai'): p_ai: expected 0.75, found 0.76")
    assert found[3].startswith("explain/maps/k.npz[0]: off by 0.01") and len(found) == 4


def other_kernels() -> dict[str, str]:
    """The environment with oneDNN held to another instruction set than this process uses: SSE4.1,
    or the machine's own best when the suite itself runs at SSE4.1."""
    env = dict(os.environ)
    if env.get("ONEDNN_MAX_CPU_ISA", "").upper() == "SSE41":
        env.pop("ONEDNN_MAX_CPU_ISA")
    else:
        env["ONEDNN_MAX_CPU_ISA"] = "SSE41"
    return env


def test_the_pins_hold_with_other_kernels(tmp_path, pinned_runs, cifake, seed_mirror):
    """The CIFAKE run again in a subprocess whose oneDNN uses other kernels, as another CPU would:
    its attribution maps (TensorFlow's gradients) differ from this process's in their bits, and its
    tables and maps are still the pinned results. This is what lets `make test` pass on a CPU
    other than the one that recorded the pins."""
    config = tmp_path / "cifake.yaml"
    config.write_text(yaml.safe_dump(cifake_config(cifake, seed_mirror), sort_keys=False))
    out = tmp_path / "cifake"
    done = subprocess.run(
        [sys.executable, "-m", "experiments.run", str(config), "--out", str(out)],
        cwd=REPO, env=other_kernels(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # a finished run ends without Python's finalisation (interrupts.leave), its log flushed first
    assert done.stderr.strip().splitlines()[-1].startswith("artxai: time (s): "), done.stderr[-3000:]
    assert (out / "manifest.json").is_file()
    # the attribution maps come from TensorFlow (p_ai from the model's ONNX copy, onnxruntime's own kernels)
    here, there = run_maps(pinned_runs["cifake"]), run_maps(out)
    assert here.keys() == there.keys() and len(here) > 0
    changed = [key for key in here if not np.array_equal(here[key], there[key])]
    assert changed, "the other instruction set gave the same bits: the kernels did not change"
    if not UPDATE:
        changed = differences(out, PINS / "cifake")
        assert not changed, "cifake with other kernels:\n" + "\n".join(changed)
