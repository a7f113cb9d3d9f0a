"""Benchmark: dataset-scale evaluation rate, the runner against one image at a time, in one process.

    python -m benchmarks.dataset [--root $ARTXAI_CIFAKE] [--split all|test] [--baseline 500] [--rounds 3]

The runner scores a folder of images unedited with the study's 32 px model (CIFAKE: 10,000
32x32 JPEGs in train|test/{ai,human}; `--split test` takes its 2,000 test images) and evaluates
them (metrics with bootstrap intervals, figures; no report): images per second of its scoring
stage and of the whole run (start-up not counted). The baseline, measured in the same process on
the first `--baseline` images: what scoring did per sample before it batched across samples
(decode, resize, one eager model call per image).

First, `--rounds` alternated rounds of the forward floor and the scoring stage, on the detector
the run itself loads (the checked ONNX copy, as every run scores a Keras file): the floor is
that detector's forward over all the images already decoded and resized, in batches of the run's
batch_size (the /255 included); the scoring stage is experiments.stages.scoring.driver's
`score_samples` on the same images into a fresh run folder (digests, decoding, batching, parts).
Prints each round's ratio and the median (aim: 2x). Not a test: run on demand, figures go in
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

from experiments.config.schema import load_config
from experiments.context import RunPaths, Timings
from experiments.inputs.images import decode_image, resize_for_model
from experiments.inputs.samples import load_samples
from experiments.preflight import load_detectors, resolver_for
from experiments.runner import execute
from experiments.stages.scoring.driver import score_samples

MODEL_32 = "Models/AI-artbench/model 1 32px/best_model.h5"


def floor_seconds(detector, x: np.ndarray, batch_size: int) -> float:
    """The detector's forward over prepared uint8 pictures, in batches, as scoring calls it."""
    t = time.perf_counter()
    for i in range(0, len(x), batch_size):
        detector.predict_proba_and_margin(x[i : i + batch_size].astype(np.float32) / 255.0, batch_size)
    return time.perf_counter() - t


def floor_rounds(cfg, samples, detectors, folder: Path, rounds: int) -> list[float]:
    """Scoring stage / forward floor time, per round (the floor first, then the stage)."""
    detector, ratios = detectors[0], []
    x = np.stack([detector.input.prepare(decode_image(s.path).pixels) for s in samples])
    floor_seconds(detector, x[: cfg.batch_size], cfg.batch_size)  # warm-up
    for round_ in range(rounds):
        floor = floor_seconds(detector, x, cfg.batch_size)
        paths = RunPaths(folder / f"round{round_}")
        paths.parts.mkdir(parents=True)
        timings = Timings()
        score_samples(cfg, samples, cfg.variants(), detectors, paths, timings)
        stage = timings.seconds["scoring"]
        ratios.append(stage / floor)
        print(
            f"round {round_ + 1}: floor {floor:.2f} s ({len(x) / floor:,.0f} images/s), scoring stage {stage:.2f} s "
            f"({len(x) / stage:,.0f} images/s; predict {timings.phases['predict']:.2f} s): {ratios[-1]:.2f}x, "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    return ratios


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_root = os.environ.get("ARTXAI_CIFAKE") or str(Path("../shared/cifake").resolve())
    parser.add_argument(
        "--root", default=default_root, help="a folder with train|test/{ai,human} (default: $ARTXAI_CIFAKE)"
    )
    parser.add_argument("--split", choices=["all", "test"], default="all")
    parser.add_argument("--baseline", type=int, default=500, help="images scored one at a time for the baseline")
    parser.add_argument("--part-size", type=int, default=None, help="default: chosen as a run chooses it")
    parser.add_argument("--rounds", type=int, default=3, help="forward floor and scoring stage, alternated")
    parser.add_argument("--rounds-only", action="store_true", help="only the rounds: no baseline, no whole run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="artxai: %(message)s")

    root = Path(args.root).resolve()
    source = (
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
            "samples": source,
            "report": "none",
        } | ({"part_size": args.part_size} if args.part_size else {})))  # fmt: skip
        cfg = load_config(config)
        resolver = resolver_for(cfg)
        samples = load_samples(cfg.samples, resolver)
        detectors, _ = load_detectors(cfg, resolver)  # as the run loads them: a Keras file's ONNX copy
        kind = type(detectors[0]).__name__
        print(f"{len(samples):,} images, {detectors[0].name} as {kind}, batch_size {cfg.batch_size}")
        if args.rounds:
            ratios = floor_rounds(cfg, samples, detectors, tmp, args.rounds)
            print(f"median scoring stage / forward floor over {len(ratios)} rounds: {float(np.median(ratios)):.2f}x")
        if args.rounds_only:
            return
        from experiments.models.architecture import load_keras  # TensorFlow: after the rounds

        detector = load_keras(resolver.resolve(MODEL_32).local_path, "cnn32", 32)
        paths = [s.path for s in samples]

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
    print(f"\n{n:,} images below {root} ({args.split}), unedited, cnn32, part_size {args.part_size or 'chosen'}")
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
