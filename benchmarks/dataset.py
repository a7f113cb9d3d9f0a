"""Benchmark: dataset-scale evaluation rate, the runner against one image at a time, in one process.

    python -m benchmarks.dataset [--root $ARTXAI_CIFAKE] [--split all|test] [--baseline 500]

The runner scores a folder of images unedited with the study's 32 px model (CIFAKE: 10,000
32x32 JPEGs in train|test/{ai,human}; `--split test` takes its 2,000 test images) and evaluates
them (metrics with bootstrap intervals, figures; no report): images per second of its scoring
stage and of the whole run (start-up not counted). The baseline, measured in the same process on
the first `--baseline` images: what scoring did per sample before it batched across samples
(decode, resize, one eager model call per image). Not a test: run on demand, figures go in
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import yaml

from experiments.config.schema import load_config
from experiments.inputs.images import decode_image, resize_for_model
from experiments.models.architecture import load_keras
from experiments.preflight import resolver_for
from experiments.runner import execute
from experiments.inputs.samples import load_samples

MODEL_32 = "Models/AI-artbench/model 1 32px/best_model.h5"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_root = os.environ.get("ARTXAI_CIFAKE") or str(Path("../shared/cifake").resolve())
    parser.add_argument(
        "--root", default=default_root, help="a folder with train|test/{ai,human} (default: $ARTXAI_CIFAKE)"
    )
    parser.add_argument("--split", choices=["all", "test"], default="all")
    parser.add_argument("--baseline", type=int, default=500, help="images scored one at a time for the baseline")
    parser.add_argument("--part-size", type=int, default=1024)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="artxai: %(message)s")

    root = Path(args.root).resolve()
    samples = (
        {"folder": str(root)}
        if args.split == "all"
        else {"dataset": {"root": str(root), "layout": "generic"}, "split": "test"}
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = tmp / "dataset.yaml"
        config.write_text(yaml.safe_dump({
            "name": "dataset_rate",
            "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
            "samples": samples,
            "part_size": args.part_size,
            "report": "none",
        }))  # fmt: skip
        cfg = load_config(config)
        resolver = resolver_for(cfg)
        detector = load_keras(resolver.resolve(MODEL_32).local_path, "cnn32", 32)
        paths = [s.path for s in load_samples(cfg.samples, resolver)]

        first = paths[: args.baseline]
        detector.predict_proba(resize_for_model(decode_image(first[0]).pixels, 32)[None])  # warm-up
        t = time.perf_counter()
        for path in first:
            detector.predict_proba(resize_for_model(decode_image(path).pixels, 32)[None])
        baseline = len(first) / (time.perf_counter() - t)

        t = time.perf_counter()
        execute(cfg, tmp / "run", force=True)
        whole = time.perf_counter() - t
        stages = json.loads((tmp / "run" / "manifest.json").read_text())["timings_s"]

    n = len(paths)
    print(f"\n{n:,} images below {root} ({args.split}), unedited, cnn32, part_size {args.part_size}")
    print(f"one image at a time (decode, resize, eager call), first {len(first)}: {baseline:8,.0f} images/s")
    print(
        f"runner, scoring stage ({stages['scoring']:.1f} s):                    {n / stages['scoring']:8,.0f} images/s "
        f" ({n / stages['scoring'] / baseline:.1f}x)"
    )
    print(
        f"runner, whole run ({whole:.1f} s, evaluation and figures included):  {n / whole:8,.0f} images/s  "
        f"({n / whole / baseline:.1f}x)"
    )
    print("  runner stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))


if __name__ == "__main__":
    main()
