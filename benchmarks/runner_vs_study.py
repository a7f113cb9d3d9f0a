"""Benchmark: the runner against the study's own way of working, in the same process.

    python -m benchmarks.runner_vs_study [--config robustness.yaml]

The study's way, per sample x variant: open the original, apply the edit, save it as a JPEG,
`keras.utils.load_img(path, target_size)` it back, and `model.predict` that one image, for each
model. The runner's way: `experiments.run` end to end on the same config (decode once, edit
once, pointwise edits on the rows the resize keeps, compiled batches across samples, tables
written), in this process (start-up not counted for either). Both use the same edits, so the
ratio measures the pipeline, not the augmentation library. Two ratios: against the runner's work
that the study's workflow also did (scoring and the score tables, from the stage timings of a
run with `report: none`, which also makes no gallery pictures), and against the whole run as
shipped (which also evaluates, draws figures, makes the gallery pictures while scoring and
writes the report).
Not a test: run on demand, numbers go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from augment import apply, variant_seed
from experiments.config.schema import load_config
from experiments.inputs.assets import AssetError
from experiments.models.architecture import build_cnn, keras
from experiments.preflight import load_detectors, resolver_for
from experiments.runner import execute
from experiments.inputs.samples import load_samples


def study_workflow(cfg, samples, detectors, workdir: Path) -> int:
    """Score every sample x variant x model one file at a time, as the study's tools did."""
    predictions, variants = 0, cfg.variants()
    for sample in samples:
        for variant in variants:
            with Image.open(sample.path) as im:
                pixels = np.asarray(im.convert("RGB"))
            edited = apply(pixels, variant, variant_seed(cfg.seed, sample.id, variant.id))
            path = workdir / "edited.jpg"
            Image.fromarray(edited).save(path, quality=95)
            for d in detectors:
                x = keras.utils.img_to_array(keras.utils.load_img(path, target_size=(d.input_size, d.input_size))) / 255
                d.model.predict(x[None], verbose=0)
                predictions += 1
    return predictions


def with_stand_ins(cfg, resolver, workdir: Path):
    """Replace models whose weights cannot be had (the 128 px one, offline) by the same
    architecture with random weights: identical cost, so the timing stays that of the real study."""
    models, stand_ins = [], []
    for m in cfg.models:
        try:
            if m.seed_asset is not None:
                resolver.resolve(m.seed_asset)
            models.append(m)
        except AssetError:
            path = workdir / f"{m.name}_stand_in.keras"
            keras.utils.set_random_seed(0)
            build_cnn(m.input_size).save(path)
            models.append(m.model_copy(update={"seed_asset": None, "path": path}))
            stand_ins.append(m.name)
    return cfg.model_copy(update={"models": models}), stand_ins


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="robustness.yaml")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="artxai: %(message)s")

    cfg = load_config(args.config).model_copy(update={"explain": None})  # scoring only: the study had no maps
    resolver = resolver_for(cfg)
    samples = [s for s in load_samples(cfg.samples, resolver) if s.path is not None]
    n_variants = len(cfg.variants())
    n = len(samples) * n_variants

    with tempfile.TemporaryDirectory() as tmp:
        cfg, stand_ins = with_stand_ins(cfg, resolver, Path(tmp))
        detectors, _ = load_detectors(cfg, resolver)
        for d in detectors:  # warm both paths up once so start-up costs count for neither
            d.model.predict(np.zeros((1, d.input_size, d.input_size, 3), np.float32), verbose=0)
            d.predict_proba(np.zeros((1, d.input_size, d.input_size, 3), np.float32))
        # the same work as the study's: scores and their tables, no report (so no gallery pictures either)
        execute(cfg.model_copy(update={"report": "none"}), Path(tmp) / "scores_only", force=True)
        scoring_stages = json.loads((Path(tmp) / "scores_only" / "manifest.json").read_text())["timings_s"]
        same_work = (
            scoring_stages["models"] + scoring_stages["samples"] + scoring_stages["scoring"] + scoring_stages["tables"]
        )
        t = time.perf_counter()
        execute(cfg, Path(tmp) / "run", force=True)
        ours = time.perf_counter() - t
        stages = json.loads((Path(tmp) / "run" / "manifest.json").read_text())["timings_s"]
        t = time.perf_counter()
        predictions = study_workflow(cfg, samples, detectors, Path(tmp))
        theirs = time.perf_counter() - t

    models = ", ".join(
        f"{d.name} ({d.input_size} px{', random-weight stand-in' if d.name in stand_ins else ''})" for d in detectors
    )
    print(f"\n{len(samples)} samples x {n_variants} variants = {n} edited images; models: {models}")
    print(
        f"study workflow (edit, save JPEG, load_img, predict 1 image):             {theirs:8.2f} s  ({predictions} "
        "predict calls)"
    )
    print(f"artxai runner, the same work (models, samples, scoring, score tables): {same_work:8.2f} s")
    print(f"artxai runner, end to end (also evaluation, figures, report):           {ours:8.2f} s")
    print("  runner stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
    print(f"speed-up: {theirs / same_work:.1f}x for the same work, {theirs / ours:.1f}x end to end")


if __name__ == "__main__":
    main()
