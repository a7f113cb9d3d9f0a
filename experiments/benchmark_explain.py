"""Benchmark: explanation costs, in the same process.

    python -m experiments.benchmark_explain [--config robustness.yaml] [--images 4] [--samples 1000]

LIME: artxai's LIME (SLIC superpixels on a 256 px display copy, carried to the model input,
perturbed batches built at model resolution, the model called directly 256 at a time) against
lime's defaults as a study user would call them (`LimeImageExplainer().explain_instance` on the
model's own input: quickshift superpixels, batch_size 10, `model.predict`), same images, same
number of samples: seconds per explanation and superpixels per image.
Score-CAM and Grad-CAM: seconds per image for each model (a random-weight stand-in with the same
cost where the trained weights cannot be had). Not a test: run on demand, figures go in the README.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from lime import lime_image

from augment import expand_grid
from experiments.benchmark import with_stand_ins
from experiments.config import ExplainConfig, load_config
from experiments.explanations import prepare_sample
from experiments.run import decode_policy, load_detectors, resolver_for
from experiments.samples import load_samples
from xai import explain


# lime wraps its sampling loop in a tqdm bar with no switch; the bar is not what is measured.
lime_image.tqdm = lambda iterable, **_: iterable


def per_image(fn, n: int) -> float:
    fn()  # warm-up: tracing and first-call costs count for no one
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) / n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="robustness.yaml")
    parser.add_argument("--images", type=int, default=4, help="unedited study images to explain")
    parser.add_argument("--samples", type=int, default=1000, help="LIME samples per explanation")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="artxai: %(message)s")

    cfg = load_config(args.config)
    resolver = resolver_for(cfg)
    samples = [s for s in load_samples(cfg.samples, resolver) if s.path is not None][: args.images]
    explain_cfg = cfg.explain or ExplainConfig()
    with tempfile.TemporaryDirectory() as tmp:
        cfg, stand_ins = with_stand_ins(cfg, resolver, Path(tmp))
        detectors, _ = load_detectors(cfg, resolver)
    sizes = {d.input_size for d in detectors}
    preps = [prepare_sample(s, expand_grid({}), sizes, explain_cfg, cfg.seed, decode_policy(cfg)) for s in samples]
    n = len(preps)

    print(f"\n{n} unedited study images; LIME with {args.samples} samples each")
    for d in detectors:
        stand_in = " (random-weight stand-in)" if d.name in stand_ins else ""
        images = np.stack([p.inputs[d.input_size]["identity"] for p in preps])
        segments = [p.segments[d.input_size]["identity"] for p in preps]
        ours = per_image(lambda: explain(d.model, images, "lime", "ai", class_names=d.class_names, num_samples=args.samples, segments=segments), n)
        ours_count = np.mean([len(np.unique(s)) for s in segments])

        counts = []

        def defaults():
            counts.clear()
            for image in images:
                explanation = lime_image.LimeImageExplainer(random_state=0).explain_instance(
                    image.astype(np.float64), lambda b: d.model.predict(b, verbose=0), top_labels=2, num_samples=args.samples, random_seed=0
                )
                counts.append(len(np.unique(explanation.segments)))

        theirs = per_image(defaults, n)
        cams = {m: per_image(lambda m=m: explain(d.model, images, m, "ai", class_names=d.class_names), n) for m in ("gradcam", "scorecam")}
        print(f"\n{d.name} ({d.input_size} px){stand_in}")
        print(f"  LIME, lime's defaults (quickshift at {d.input_size} px, batch 10, model.predict): {theirs:7.3f} s/image, {np.mean(counts):5.1f} superpixels")
        print(f"  LIME, artxai (SLIC on 256 px display copy, batches of 256):       {ours:7.3f} s/image, {ours_count:5.1f} superpixels")
        print(f"  LIME speed-up: {theirs / ours:.1f}x")
        print(f"  Grad-CAM {cams['gradcam']:.4f} s/image, Score-CAM {cams['scorecam']:.4f} s/image (batch of {n})")


if __name__ == "__main__":
    main()
