"""Benchmark: the training input pipeline and training speed, in the same process.

    python -m benchmarks.training [--images 600] [--batch 64]

1. Input pipeline, images/s: artxai's tf.data pipeline against the study's
   `ImageDataGenerator(rescale=1/255).flow_from_dataframe(...)` (Keras' legacy module, as TF 2.21
   exposes it), on the same folder of JPEGs at realistic sizes (human 256 px, AI 768 px, as in
   AI-ArtBench), for epochs 1 and 2, at 32 and 128 px.
2. Training steps/s for both input sizes (batch 64, data already in memory).
3. FLOPs per image of both models (counted from the layers) and the floor they imply given this
   machine's measured matrix-multiply throughput.
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
from PIL import Image

from experiments.models.architecture import build_cnn, keras
from experiments.models.training_data import SkipLog, image_dataset


def make_folder(root: Path, n: int, seed: int = 0) -> pd.DataFrame:
    """n JPEGs, half human-sized (256 px), half AI-sized (768 px), with texture (so they
    compress like paintings, not like flat colour)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label, side = ("human", 256) if i % 2 else ("ai", 768)
        small = rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC)
        path = root / label / f"{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, quality=90)
        rows.append({"path": str(path), "split": "train", "label": label, "style": "", "generator": ""})
    return pd.DataFrame(rows)


def time_epochs(batches, epochs: int = 2) -> list[float]:
    """Seconds per pass over an iterable of batches (a fresh iteration each epoch)."""
    out = []
    for _ in range(epochs):
        t = time.perf_counter()
        for _ in batches():
            pass
        out.append(time.perf_counter() - t)
    return out


def image_data_generator(records: pd.DataFrame, size: int, batch: int):
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    flow = ImageDataGenerator(rescale=1 / 255).flow_from_dataframe(
        records,
        x_col="path",
        y_col="label",
        target_size=(size, size),
        batch_size=batch,
        class_mode="sparse",
        shuffle=True,
        seed=0,
    )
    return lambda: (flow[i] for i in range(len(flow)))


def flops_per_image(model: keras.Model) -> int:
    """Multiply-adds x 2 of the forward pass, from each Conv2D / Dense layer's shapes."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            k_h, k_w, c_in, _ = layer.kernel.shape
            total += 2 * h * w * k_h * k_w * c_in * c_out
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a = keras.random.normal((n, n), seed=0)
    keras.ops.convert_to_numpy(keras.ops.matmul(a, a))
    t = time.perf_counter()
    for _ in range(repeats):
        keras.ops.convert_to_numpy(keras.ops.matmul(a, a))
    return 2 * n**3 * repeats / (time.perf_counter() - t) / 1e9


def training_steps_per_s(size: int, batch: int, steps: int = 20) -> float:
    keras.utils.set_random_seed(0)
    model = build_cnn(size)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((batch * steps, size, size, 3), dtype=np.float32)
    y = np.arange(batch * steps) % 2
    model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)  # trace once
    t = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    return steps / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        records = make_folder(Path(tmp), args.images)
        print(f"\n{len(records)} JPEGs (half 256 px, half 768 px), batch {args.batch}")
        for size in (128, 32):
            idg = time_epochs(image_data_generator(records, size, args.batch))
            ds = image_dataset(records, size, batch_size=args.batch, skips=SkipLog(), shuffle_seed=0, cache="memory")
            ours = time_epochs(lambda: iter(ds))
            rate = lambda s: len(records) / s  # noqa: E731
            print(
                f"{size:4d} px  ImageDataGenerator: epoch 1 {rate(idg[0]):7.0f} img/s, epoch 2 {rate(idg[1]):7.0f} "
                "img/s"
            )
            print(
                f"         artxai tf.data:     epoch 1 {rate(ours[0]):7.0f} img/s, epoch 2 {rate(ours[1]):7.0f} img/s"
            )
            print(f"         ratio: epoch 1 {idg[0] / ours[0]:.1f}x, epoch 2 {idg[1] / ours[1]:.1f}x")

    peak = matmul_gflops()
    print(f"\nthis machine: {peak:.0f} GFLOP/s on a 2048x2048 float32 matmul (the floor below assumes it)")
    for size in (32, 128):
        forward = flops_per_image(build_cnn(size))
        steps = training_steps_per_s(size, args.batch)
        floor = peak * 1e9 / (3 * forward * args.batch)  # a training step ~ 3 forward passes
        print(
            f"cnn{size}: {forward / 1e6:7.1f} MFLOP/image forward; training {steps:6.1f} steps/s "
            f"({steps * args.batch:7.0f} img/s); floor at matmul speed {floor:6.1f} steps/s -> {steps / floor:.0%} of "
            "it"
        )


if __name__ == "__main__":
    main()
