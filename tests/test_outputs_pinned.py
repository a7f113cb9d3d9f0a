"""Every table three runs write, pinned byte for byte: a refactor that says it changes no
behaviour proves it here.

The runs: the default study (robustness.yaml as shipped, explanations included), the study's table
(study_table.yaml) and a small CIFAKE run (200 test images, the study's 32 px model, a grid with
noise, JPEG, occlusion and placed text). Pinned: the sha256 of every .csv and .parquet table the
run writes (both are byte-deterministic: same versions, same bytes) and of the attribution maps'
values (each explain/maps/<key>.npz array; the .npz file itself carries zip times). Not pinned:
the manifest, model cards, timings, pictures and the report's HTML (times and versions).

After a change that is meant to change outputs: `ARTXAI_UPDATE_PINS=1 pytest
tests/test_outputs_pinned.py` rewrites tests/pinned_outputs.json; commit it with the reason.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from experiments import run as cli
from tests.conftest import MODEL_32

PINS = Path(__file__).with_name("pinned_outputs.json")
CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"
UPDATE = os.environ.get("ARTXAI_UPDATE_PINS", "") == "1"
CACHES = ("parts", "explain/parts")  # resumable caches of the tables, not tables of the run


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


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def output_digests(run_dir: Path) -> dict[str, str]:
    """Relative path -> sha256 of every table of a run folder (caches left out), and
    `<maps file>:maps` -> sha256 of the float32 values of every attribution map file."""
    digests = {}
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir).as_posix()
        if not path.is_file() or any(rel.startswith(f"{c}/") for c in CACHES):
            continue
        if path.suffix in (".csv", ".parquet"):
            digests[rel] = sha256(path.read_bytes())
        elif path.suffix == ".npz" and rel.startswith("explain/maps/"):
            maps = np.load(path)["maps"]
            digests[f"{rel}:maps"] = sha256(np.ascontiguousarray(maps, "<f4").tobytes() + str(maps.shape).encode())
    return digests


def differences(pinned: dict[str, str], found: dict[str, str]) -> list[str]:
    """One line per file that changed, appeared or went missing."""
    lines = [f"changed: {name}" for name in sorted(pinned.keys() & found.keys()) if pinned[name] != found[name]]
    lines += [f"missing: {name}" for name in sorted(pinned.keys() - found.keys())]
    lines += [f"new: {name}" for name in sorted(found.keys() - pinned.keys())]
    return lines


def test_differences_name_every_changed_missing_and_new_file():
    assert differences({"a.csv": "1", "b.csv": "2", "c.csv": "3"}, {"a.csv": "1", "b.csv": "9", "d.csv": "4"}) == [
        "changed: b.csv", "missing: c.csv", "new: d.csv",
    ]  # fmt: skip


@pytest.mark.parametrize("run", ["robustness", "study_table", "cifake"])
def test_every_table_and_map_is_byte_identical_to_the_pinned_digests(pinned_runs, run):
    found = output_digests(pinned_runs[run])
    assert any(name.endswith(".parquet") for name in found) and any(name.endswith(".csv") for name in found)
    pins = json.loads(PINS.read_text()) if PINS.is_file() else {}
    if UPDATE:
        pins[run] = found
        PINS.write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n")
        return
    assert run in pins, f"no pins for {run}: run with ARTXAI_UPDATE_PINS=1 to record them"
    changed = differences(pins[run], found)
    assert not changed, f"{run}: outputs differ from {PINS.name}:\n" + "\n".join(changed)
