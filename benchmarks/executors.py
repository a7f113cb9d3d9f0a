"""Benchmark: the same run on each executor, in one process, tables compared.

    python -m benchmarks.executors [--images 2000] [--part-size 100] [--workers N]

CIFAKE's test split ($ARTXAI_CIFAKE, default ../shared/cifake) x a 10-variant grid x the
study's 32 px model, plus explanations of 50 of its images (Grad-CAM, LIME, random; the unedited
image, with faithfulness curves and pictures), run end to end (scoring parts, explanation units,
tables, no report) with `local`, `processes` and `ray`; each run's tables must equal the local
run's. Times per stage from each run's manifest. Then Ray's own cost per part: the
round trip of an empty unit through an actor pool. Not a test: run on demand, numbers go in
docs/benchmarks.md, with the machine they were measured on.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from experiments.config.schema import load_config
from experiments.config.sections import ExecutorConfig
from experiments.execution.executors import run_units
from experiments.runner import execute

GRID = {
    "gaussian_noise": {"std": [0.02, 0.1]},
    "gaussian_blur": {"sigma": [0.5, 1]},
    "jpeg": {"quality": [75, 30]},
    "occlusion": {"area": [0.05, 0.2], "colour": "red"},
    "saturation": {"factor": [0.5]},
}  # 9 edits + the unedited image = 10 variants


EXPLAIN = {
    "methods": ["gradcam", "lime", "random"],
    "images": "originals",
    "lime_samples": 300,
    "faithfulness_steps": 8,
    "sanity": False,
}
TABLES = ("scores", "robustness_metrics", "explanations", "explanation_summary")


def config(tmp: Path, cifake: Path, mirror: Path, images: int, part_size: int, explained: int) -> Path:
    cfg = {
        "name": "bench_executors", "seed": 0, "report": "none", "part_size": part_size,
        "assets": {"mirror": str(mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": "Models/AI-artbench/model 1 32px/best_model.h5"}],
        "samples": {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": images // 2},
                    "split": "test"},
        "augment": GRID,
        "explain": EXPLAIN | {"max_samples": explained},
    }  # fmt: skip
    path = tmp / "bench_executors.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def nothing(state, unit):
    return unit


def ray_overhead(units: int, workers: int) -> float:
    """Seconds per empty unit through Ray actors, start-up excluded."""
    import ray

    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        settings = ExecutorConfig(kind="ray", workers=workers)
        list(run_units(settings, dict, nothing, range(workers)))  # warm: actors started
        t = time.perf_counter()
        list(run_units(settings, dict, nothing, range(units)))
        return (time.perf_counter() - t) / units
    finally:
        ray.shutdown()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--part-size", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--explained", type=int, default=50, help="images explained")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="artxai: %(message)s")
    cifake = Path(os.environ.get("ARTXAI_CIFAKE") or Path(__file__).resolve().parents[2] / "shared" / "cifake")
    mirror = Path(
        os.environ.get("ARTXAI_SEED_MIRROR") or Path(__file__).resolve().parents[2] / "shared" / "seed-assets"
    )

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(config(Path(tmp), cifake, mirror, args.images, args.part_size, args.explained))
        times, stages, tables = {}, {}, {}
        for kind in ("local", "processes", "ray"):
            run_cfg = cfg.model_copy(update={"executor": ExecutorConfig(kind=kind, workers=args.workers)})
            t = time.perf_counter()
            execute(run_cfg, Path(tmp) / kind)
            times[kind] = time.perf_counter() - t
            stages[kind] = json.loads((Path(tmp) / kind / "manifest.json").read_text())["timings_s"]
            tables[kind] = {name: pd.read_parquet(Path(tmp) / kind / f"{name}.parquet") for name in TABLES}
        identical = all(tables[k][name].equals(tables["local"][name]) for k in tables for name in TABLES)
        overhead = ray_overhead(200, args.workers)

    n_parts = -(-args.images // args.part_size)
    print(
        f"\n{args.images} CIFAKE test images x {len(cfg.variants())} variants x cnn32, {n_parts} parts of "
        f"{args.part_size}; {args.explained} images explained; {args.workers} workers"
    )
    print(
        f"{'executor':<10} {'total s':>8} {'vs local':>9} {'scoring s':>10} {'vs local':>9} {'explain s':>10} "
        f"{'vs local':>9}"
    )
    for kind, seconds in times.items():
        score, explain = stages[kind]["scoring"], stages[kind]["explanations"]
        print(
            f"{kind:<10} {seconds:8.1f} {times['local'] / seconds:8.2f}x {score:10.1f} "
            f"{stages['local']['scoring'] / score:8.2f}x "
            f"{explain:10.1f} {stages['local']['explanations'] / explain:8.2f}x"
        )
    print(f"tables identical across executors ({', '.join(TABLES)}): {identical}")
    print(f"Ray round trip per part (empty unit, actors warm): {overhead * 1000:.1f} ms")


if __name__ == "__main__":
    main()
