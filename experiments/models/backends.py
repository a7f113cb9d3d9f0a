"""The detector backends, one entry each in `BACKENDS` (kind -> Backend): how a config's model
block (experiments.config.model_blocks.ModelConfig) becomes a Detector (experiments.models.detector).

- `keras`: the study's CNNs and any .h5 / .keras classifier (experiments.models.architecture),
  trained first when the block has a train block (experiments.models.trained_models);
- `onnx`: any ONNX classifier with its declared preprocessing and output
  (experiments.models.onnx_detector);
- `embedding`: an ONNX image encoder and a linear head, the head a catalogue one, a file, or a probe
  artxai fits (experiments.models.embedding_detector, experiments.models.probe).

Each detector carries its `recipe`, (kind, the loader's arguments from resolved files), so a worker
on another process or machine opens the very files the driver checked (`reopen`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from experiments.config.model_blocks import ModelConfig
from experiments.inputs.assets import AssetError
from experiments.inputs.fingerprints import file_sha256
from experiments.models.detector import Detector, InputSpec, ModelLoadError


@dataclass
class Opening:
    """What opening a config's models may need besides the block: the study's files, the run's
    seed and decode policy (a training), --retrain, the config snapshot (a card), the timings."""

    resolver: object
    seed: int
    policy: object
    retrain: bool = False
    snapshot: dict | None = None
    timings: object = None
    onnx_copies: bool = False  # Keras files without a train block score through their checked ONNX copies


def pinned(path: Path, wanted: str | None, where: str) -> str:
    """The file's sha256, read before it is loaded; one line when the config pins another."""
    if not Path(path).is_file():
        raise AssetError(f"{where}: {path} not found")
    digest = file_sha256(Path(path))
    if wanted is not None and digest != wanted:
        raise ModelLoadError(f"{where}.sha256: {path} has sha256 {digest[:12]}..., the config pins {wanted[:12]}...")
    return digest


def load_keras_file(
    path: str, name: str, input_size: int, output: str, positive: str | None, onnx_copy_of: str | None = None,
    providers: tuple[str, ...] | None = None,
) -> Detector:  # fmt: skip
    """A Keras file's detector; with `onnx_copy_of` (the file's sha256), its checked ONNX copy
    (experiments.models.keras_onnx) on onnxruntime's `providers`, without TensorFlow."""
    if onnx_copy_of is not None:
        from experiments.models.keras_onnx import load_copy

        return load_copy(onnx_copy_of, name, input_size, output, positive, path, providers)
    from experiments.models.architecture import load_keras

    return load_keras(Path(path), name, input_size, output, positive)


def open_keras(m: ModelConfig, ctx: Opening) -> Detector:
    from experiments.models.trained_models import trained_detector

    if m.train is not None:
        detector, seconds = trained_detector(
            m.name, m.train, m.input_size, m.path, ctx.seed, ctx.policy, ctx.retrain, ctx.snapshot
        )
        if ctx.timings is not None and seconds is not None:
            ctx.timings.seconds["training"] += seconds
        args = (str(m.path), m.name, m.input_size, "softmax", None)
        return replace(detector, recipe=("keras", args))
    if m.seed_asset is not None:
        asset = ctx.resolver.resolve(m.seed_asset)
        path = asset.local_path
    else:
        path = m.path
    digest = pinned(path, m.sha256, f"models[{m.name}]")  # before loading: a file replaced meanwhile is found
    args = (str(path), m.name, m.input_size, m.output, m.positive)
    if ctx.onnx_copies:
        from experiments.models.keras_onnx import onnx_copy

        providers = tuple(m.providers) if m.providers else None
        if (copy := onnx_copy(Path(path), digest, *args[1:], providers)) is not None:
            return replace(copy, digest=digest, recipe=("keras", (*args, digest, providers)))
    return replace(load_keras_file(*args), digest=digest, recipe=("keras", args))


def load_onnx_file(path: str, name: str, spec: dict, norm: dict, output, positive, classes, providers) -> Detector:
    from experiments.models.onnx_detector import Normalisation, load_onnx

    return load_onnx(Path(path), name, InputSpec(**spec), Normalisation(**norm), output, positive, classes, providers)


def input_of(block) -> tuple[dict, dict]:
    """(InputSpec's fields, Normalisation's fields) from a config's `input` block."""
    spec = {"size": block.size, "resize": block.resize, "crop": block.crop}
    return spec, {"mean": tuple(block.mean), "std": tuple(block.std), "layout": block.layout}


def open_onnx(m: ModelConfig, ctx: Opening) -> Detector:
    digest = pinned(m.path, m.sha256, f"models[{m.name}]")
    spec, norm = input_of(m.input)
    providers = tuple(m.providers) if m.providers else None
    args = (str(m.path), m.name, spec, norm, m.output, m.positive, tuple(m.classes), providers)
    return replace(load_onnx_file(*args), digest=digest, recipe=("onnx", args))


def open_embedding(m: ModelConfig, ctx: Opening) -> Detector:
    from experiments.models.embedding_files import embedding_recipe, load_embedding_file

    started = time.perf_counter()
    args, digest, trained = embedding_recipe(m, ctx)
    if ctx.timings is not None and trained:
        ctx.timings.seconds["training"] += time.perf_counter() - started
    return replace(load_embedding_file(*args), digest=digest, recipe=("embedding", args))


def load_embedding_file(*args) -> Detector:
    from experiments.models.embedding_files import load_embedding_file as load

    return load(*args)


@dataclass(frozen=True)
class Backend:
    kind: str
    open: Callable[[ModelConfig, Opening], Detector]  # a config block, its files resolved (trained first if asked)
    load: Callable[..., Detector]  # from a recipe's arguments (resolved files): what a worker calls
    summary: str


BACKENDS: dict[str, Backend] = {
    b.kind: b
    for b in (
        Backend("keras", open_keras, load_keras_file, ".h5 / .keras classifier (TensorFlow), gradients available"),
        Backend("onnx", open_onnx, load_onnx_file, "ONNX classifier (onnxruntime), outputs only"),
        Backend("embedding", open_embedding, load_embedding_file, "ONNX encoder + linear head, outputs only"),
    )
}


def open_model(m: ModelConfig, ctx: Opening) -> Detector:
    """The config block's detector, from its backend."""
    return BACKENDS[m.kind].open(m, ctx)


def reopen(recipe: tuple, digest: str = "") -> Detector:
    """A detector from its recipe (on a worker): the same files, checked again."""
    kind, args = recipe
    return replace(BACKENDS[kind].load(*args), digest=digest, recipe=recipe)
