"""Benchmark: small-data training on art-6gen, paired on the same test images.

    python -m benchmarks.art_training [--root ../shared/art-6gen] [--mirror ../shared/seed-assets]
                                      [--epochs 30] [--seed 0] [--out DIR]

cnn32 trained on art-6gen's training split (534 images, 60 held out for validation) four ways,
and the study's own 32 px model as it is, all scored on the same 201 test images:
  scratch      from random weights (Adam, 1e-3)
  fine-tuned   from the study's weights (init_from, fine_tune_learning_rate 1e-4)
  augmented    from random weights, with train-time augmentation
  tuned+aug    from the study's weights, with augmentation
Per pair of models: accuracies with their Wilson intervals, the discordant counts and the exact
McNemar p-value, paired on the same images (experiments.stages.model_comparison, the table a run
writes with `model_comparison: true`, as `make art` does); per trained model, the chance guard's
verdict on validation. Not a test: run on demand; the table goes in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.config.model_blocks import DatasetConfig, TrainAugmentConfig, TrainConfig
from experiments.inputs.datasets import scan
from experiments.inputs.images import load_for_model
from experiments.models.architecture import load_keras
from experiments.models.training import train
from experiments.stages.model_comparison import comparison_table

STUDY_32 = "Models/AI-artbench/model 1 32px/best_model.h5"
AUGMENT = TrainAugmentConfig(
    flip=0.5, crop=0.85, brightness=0.15, contrast=0.15, saturation=0.2, hue=8, jpeg_quality=(60, 95)
)


def variants(dataset: DatasetConfig, study: Path, epochs: int) -> dict[str, TrainConfig]:
    base = TrainConfig(dataset=dataset, epochs=epochs, batch_size=32, patience=6)
    tuned = {"init_from": study, "fine_tune_learning_rate": 1e-4}
    return {
        "scratch": base,
        "fine-tuned": base.model_copy(update=tuned),
        "augmented": base.model_copy(update={"augment": AUGMENT}),
        "tuned+aug": base.model_copy(update=tuned | {"augment": AUGMENT}),
    }


def correct_on(path: Path, test: pd.DataFrame) -> np.ndarray:
    """Which test images the 32 px model at `path` gets right (p_ai >= 0.5 means AI)."""
    detector = load_keras(path, path.stem, 32)
    x = np.stack([load_for_model(Path(p), 32) for p in test["path"]])
    p_ai = detector.predict_proba(x)[:, 0]
    return (p_ai >= 0.5) == (test["label"] == "ai").to_numpy()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("../shared/art-6gen"))
    parser.add_argument("--mirror", type=Path, default=Path("../shared/seed-assets"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="where the models go (default: a temporary folder)")
    args = parser.parse_args(argv)
    dataset = DatasetConfig(root=args.root.resolve(), layout="generic")
    study = (args.mirror / STUDY_32).resolve()
    test = scan(dataset, ["test"])
    results, guards = {"study as is": correct_on(study, test)}, {}
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        for name, cfg in variants(dataset, study, args.epochs).items():
            path = out / f"cnn32_{name.replace('+', '_').replace('-', '_')}.keras"
            card = train(name, cfg, 32, path, args.seed)
            t = card["training"]
            low, high = t["val_accuracy_ci"]
            guards[name] = f"val {t['best_val_accuracy']:.3f} [{low:.3f}, {high:.3f}] n={t['val_n']}: " + (
                "chance" if t["warning"] else "above chance"
            )
            results[name] = correct_on(path, test)
    table = comparison_table(results)
    print(
        f"art-6gen test split, {len(test)} images ({(test['label'] == 'ai').sum()} AI), seed {args.seed}, epochs <= "
        f"{args.epochs}"
    )
    print(table.drop(columns="exploratory").round(3).to_string(index=False))
    for name, guard in guards.items():
        print(f"chance guard, {name}: {guard}")


if __name__ == "__main__":
    main()
