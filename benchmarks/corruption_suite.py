"""Benchmark: a corruption suite on the CIFAKE test split with a CIFAKE-trained cnn32, end to end,
against the model's predict floor.

    python -m benchmarks.corruption_suite [--root $ARTXAI_CIFAKE] [--model models/cifake/cnn32.keras]
                                          [--grid suite.yaml|today|FILE] [--report html|none]

The suite: the `augment:` mapping of the shipped suite.yaml (or of another config FILE; `today`:
GRID, the 11 ops the runner had before the suite's, at 5 severities each), on the 2,000 test images
of ../shared/cifake, scored by cnn32 trained on CIFAKE's train split as experiments/configs/
cifake.yaml trains it (the model file is reused when it exists; training is timed apart). The
run is the runner's own (`execute`, no part_size given: it is chosen), evaluation, corruption
score and report included. Prints the images x variants scored per second (scoring stage and
whole run) and the ratio of the scoring stage to the predict floor: the same number of images
through the compiled batch-256 forward pass alone. Not a test: run on demand, figures go in
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

import numpy as np
import yaml

from experiments.config.schema import CONFIG_DIR, find_config, load_config
from experiments.runner import execute

GRID = {
    "gaussian_noise": {"std": [0.02, 0.05, 0.1, 0.2, 0.3]},
    "gaussian_blur": {"sigma": [0.5, 1, 2, 4, 8]},
    "motion_blur": {"length": [3, 5, 11, 21, 41]},
    "hue_shift": {"degrees": [15, 45, 90, 135, 180]},
    "saturation": {"factor": [0.8, 0.6, 0.4, 0.2, 0]},
    "brightness_contrast": {"brightness": [0.1, 0.2, 0.3, 0.4, 0.5]},
    "gamma": {"gamma": [1.25, 1.5, 2.0, 2.5, 3.0]},
    "jpeg": {"quality": [90, 70, 50, 30, 10]},
    "downscale": {"scale": [0.75, 0.5, 0.375, 0.25, 0.125]},
    "occlusion": {"area": [0.01, 0.03, 0.1, 0.2, 0.3], "colour": "red", "count": 3},
    "text_watermark": {"opacity": [0.2, 0.4, 0.6, 0.8, 1.0], "position": "tiled"},
}


def suite_config(root: Path, model: Path, grid: dict, report: str) -> dict:
    cifake = yaml.safe_load((CONFIG_DIR / "cifake.yaml").read_text())
    train = cifake["models"][0]["train"] | {"dataset": {"root": str(root), "layout": "generic"}}
    return {
        "name": "corruption_suite", "seed": 20240601,
        "models": [{"name": "cnn32", "input_size": 32, "path": str(model), "train": train}],
        "samples": {"dataset": {"root": str(root), "layout": "generic"}, "split": "test"},
        "augment": grid, "report": report,
    }  # fmt: skip


def predict_floor(model_path: Path, images: int) -> float:
    """Seconds for `images` inputs through the compiled batch-256 forward pass alone (fastest of 2)."""
    from experiments.models.architecture import load_keras
    from xai.compiled import forward_outputs

    detector = load_keras(model_path, "cnn32", 32)
    x = np.random.default_rng(0).random((min(images, 25_600), 32, 32, 3), dtype=np.float32)
    forward_outputs(detector.model, x[:512])  # traces and sets up the shapes
    best = float("inf")
    for _ in range(2):
        t = time.perf_counter()
        forward_outputs(detector.model, x)
        best = min(best, time.perf_counter() - t)
    return best * images / len(x)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.environ.get("ARTXAI_CIFAKE") or str(Path("../shared/cifake").resolve()))
    parser.add_argument("--model", default="models/cifake/cnn32.keras", help="trained here first when missing")
    parser.add_argument("--grid", default="suite.yaml", help="a config whose augment: mapping is the suite, or `today`")
    parser.add_argument("--report", choices=["html", "none"], default="html")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="artxai: %(message)s")
    grid = GRID if args.grid == "today" else yaml.safe_load(find_config(args.grid).read_text())["augment"]
    model = Path(args.model).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        config = tmp / "suite.yaml"
        suite = suite_config(Path(args.root).resolve(), model, grid, args.report)
        config.write_text(yaml.safe_dump(suite, sort_keys=False))
        trained = time.perf_counter()
        if not model.is_file():  # train once, apart from the timed run
            execute(load_config(config).model_copy(update={"augment": {}, "report": "none"}), tmp / "train", force=True)
        trained = time.perf_counter() - trained
        cfg = load_config(config)
        t = time.perf_counter()
        assert execute(cfg, tmp / "run", force=True) == 0
        whole = time.perf_counter() - t
        manifest = json.loads((tmp / "run" / "manifest.json").read_text())
    stages, counts = manifest["timings_s"], manifest["counts"]
    pairs = counts["samples"] * counts["variants"]
    floor = predict_floor(model, pairs)
    model_note = f"trained now, {trained:.0f} s" if trained > 1 else "model file reused"
    print(
        f"\n{counts['samples']:,} CIFAKE test images x {counts['variants']} variants = {pairs:,} images x variants, "
        f"cnn32 trained on CIFAKE ({model_note})"
    )
    print(
        f"scoring stage: {stages['scoring']:7.1f} s  {pairs / stages['scoring']:8,.0f} image x variant/s  "
        f"({stages['scoring'] / floor:.1f}x the predict floor of {floor:.1f} s)"
    )
    print(f"whole run:     {whole:7.1f} s  {pairs / whole:8,.0f} image x variant/s  (target: 600 s or less)")
    print("  stages (s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))


if __name__ == "__main__":
    main()
