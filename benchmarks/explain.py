"""Benchmark: where the explanation stage's time goes, against its pass floor, in one process.

    python -m benchmarks.explain [--config robustness.yaml] [--samples 2] [--samples-128 1]

Runs the config's explanation stage (its `explain:` section) on the first study originals, one
model at a time (the 128 px model as a random-weight stand-in where its weights cannot be had),
and prints per part: seconds, the model passes the part needs, the floor those passes take at
this machine's compiled batched throughput (measured in the same process, batch 256, before and
after the stage; the faster reading counts), and the ratio seconds / floor. Passes are counted as the stage defines its
work (one per method, image, LIME sample, randomised depth, Score-CAM channel, faithfulness step), for every code
version alike. Parts without model passes (pictures, preparation) show their seconds only.
Not a test: run on demand, figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.stages import explanations as stage
from benchmarks.runner_vs_study import with_stand_ins
from experiments.config.schema import load_config
from experiments.config.sections import ExplainConfig
from experiments.models.architecture import keras
from experiments.inputs.images import decode_policy
from experiments.preflight import load_detectors, resolver_for
from experiments.runner import execute
from experiments.inputs.samples import load_samples
from experiments.stages.explanations.checks import ROAD_PERCENTAGES
from experiments.context import Timings

SMOOTH_SAMPLES = 20  # SmoothGrad's noisy copies per image (xai.explain's default)
GRADIENT_PARTS = {"saliency": 1, "smoothgrad": SMOOTH_SAMPLES, "gradcam": 1, "gradcam++": 1, "layercam": 1}


def throughput(model: keras.Model, batch: int = 256, seconds: float = 3.0) -> tuple[float, float]:
    """Images/s of a compiled forward and of a compiled forward + input gradient, fixed batch."""
    import tensorflow as tf

    size = model.input_shape[1]
    x = tf.constant(np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32))
    forward = tf.function(lambda x: model(x, training=False))

    @tf.function
    def backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = model(x, training=False)[:, 0]
        return tape.gradient(out, x)

    rates = []
    for fn in (forward, backward):
        fn(x).numpy()  # trace
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < seconds / 2:
            fn(x).numpy()
            n += batch
        rates.append(n / (time.perf_counter() - t))
    return rates[0], rates[1]


def workload(table: pd.DataFrame, cfg: ExplainConfig, depths: int, channels: int) -> dict[str, tuple[float, str]]:
    """Passes per part, as the stage defines its work: {part: (passes, 'fwd' | 'fwd+bwd')}.
    Each method's maps and its sanity maps (the unedited image under every randomised depth)
    form one part."""
    images = table.drop_duplicates(["sample", "variant"]).shape[0]
    explained = images + (depths * table["sample"].nunique() if cfg.sanity else 0)
    methods = list(cfg.methods)
    parts = {}
    if "lime" in methods:
        parts["LIME (maps + sanity)"] = (explained * cfg.lime_samples, "fwd")
    if "smoothgrad" in methods:
        parts["SmoothGrad (maps + sanity)"] = (explained * SMOOTH_SAMPLES, "fwd+bwd")
    single = [m for m in methods if m in GRADIENT_PARTS and m != "smoothgrad"]
    if single:
        parts["saliency/CAM (maps + sanity)"] = (explained * len(single), "fwd+bwd")
    if "scorecam" in methods:
        parts["Score-CAM (maps + sanity)"] = (explained * (channels + 1), "fwd")
    parts["faithfulness"] = (images * len(methods) * 2 * (cfg.faithfulness_steps + 1), "fwd")
    # ROAD: each unedited image's map of every method, MoRF and LeRF at each percentage (3 at every
    # size: ROAD_PERCENTAGES, or ROAD_PERCENTAGES_LARGE above 64 px), plus one sparse solve per imputed
    # image, which no pass floor counts (its CPU cost: docs/benchmarks.md#explain-checks); localisation
    # needs no pass; the sensitivity part (re-explaining under noise) prints its seconds only
    parts["ROAD"] = (table["sample"].nunique() * len(methods) * 2 * len(ROAD_PERCENTAGES), "fwd")
    return parts


def study_subset(cfg, n: int, workdir: Path):
    """The config with its samples cut to the first n study originals (a manifest of them)."""
    resolver = resolver_for(cfg)
    samples = [s for s in load_samples(cfg.samples, resolver) if s.path is not None][:n]
    manifest = workdir / f"first_{n}.csv"
    pd.DataFrame(
        {
            "path": [s.id for s in samples],
            "subject": [s.subject for s in samples],
            "variant": [s.edit for s in samples],
            "truth": [s.truth for s in samples],
        }
    ).to_csv(manifest, index=False)
    return cfg.model_copy(
        update={"samples": cfg.samples.model_copy(update={"manifest": str(manifest), "variants": None})}
    )


def report(name: str, rows: list[tuple[str, float, float | None, float | None]], total: float, floor: float) -> None:
    print(f"\n{name}")
    print("| part | seconds | passes | floor (s) | ratio |\n| --- | --- | --- | --- | --- |")
    for part, secs, passes, part_floor in rows:
        if passes:
            print(f"| {part} | {secs:.2f} | {passes:,.0f} | {part_floor:.2f} | {secs / part_floor:.1f}x |")
        else:
            print(f"| {part} | {secs:.2f} | — | — | — |")
    print(f"| **stage** | **{total:.2f}** | | **{floor:.2f}** | **{total / floor:.1f}x** |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="robustness.yaml")
    parser.add_argument("--samples", type=int, default=2, help="study originals explained at 32 px")
    parser.add_argument("--samples-128", type=int, default=1, help="study originals explained at 128 px")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="artxai: %(message)s")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)

    base = load_config(args.config)
    explain_cfg = base.explain or ExplainConfig()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg, stand_ins = with_stand_ins(base, resolver_for(base), tmp)
        detectors, _ = load_detectors(cfg, resolver_for(cfg))
        for d in detectors:
            n = args.samples if d.input_size <= 32 else args.samples_128
            if n < 1:
                continue
            one = study_subset(cfg, n, tmp).model_copy(
                update={"models": [m for m in cfg.models if m.name == d.name], "explain": None, "report": "none"}
            )
            execute(one, tmp / f"scores_{d.name}", force=True)
            scores = pd.read_parquet(tmp / f"scores_{d.name}" / "scores.parquet")
            samples = [s for s in load_samples(one.samples, resolver_for(one)) if s.path is not None]
            before = throughput(d.model)
            run_dir, timings = tmp / f"explain_{d.name}", Timings()
            t = time.perf_counter()
            tables = stage.run_explanations(
                explain_cfg, one.seed, samples, one.variants(), [d], scores, run_dir, decode_policy(one), timings
            )
            total = time.perf_counter() - t
            after = throughput(d.model)
            fwd, bwd = max(before[0], after[0]), max(before[1], after[1])  # the faster reading: the floor
            seconds = dict(timings.phases)
            convs = [layer for layer in d.model.layers if isinstance(layer, keras.layers.Conv2D)]
            depths = sum(1 for layer in d.model.layers if layer.get_weights())
            phases = workload(tables["explanations"], explain_cfg, depths, convs[-1].filters)
            rows, floor = [], 0.0
            for phase, (passes, kind) in phases.items():
                phase_floor = passes / (fwd if kind == "fwd" else bwd)
                floor += phase_floor
                rows.append((phase, seconds.pop(phase, 0.0), passes, phase_floor))
            for phase, secs in sorted(seconds.items()):
                rows.append((phase, secs, None, None))
            rows.append(("other (targets, similarity, tables)", total - sum(r[1] for r in rows), None, None))
            stand_in = ", random-weight stand-in" if d.name in stand_ins else ""
            maps = len(tables["explanations"])
            name = (
                f"{d.name} ({d.input_size} px{stand_in}): {len(samples)} originals, {maps} maps; "
                f"compiled batch-256 throughput {fwd:,.0f} fwd/s, {bwd:,.0f} fwd+bwd/s "
                f"(before / after the stage: {before[0]:,.0f} / {after[0]:,.0f} fwd/s)"
            )
            report(name, rows, total, floor)


if __name__ == "__main__":
    main()
