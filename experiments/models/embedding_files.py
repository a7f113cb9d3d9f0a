"""An embedding detector's files from its config block: the encoder (a catalogue one, fetched and
checked by sha256, or a user's .onnx file with its preprocessing), the head (a catalogue one, a
user's .json / .npz file, or a probe artxai fits: experiments.models.probe), and the recipe a worker
opens them from (`load_embedding_file`)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from experiments.config.model_blocks import ModelConfig
from experiments.inputs.fingerprints import file_sha256
from experiments.models.detector import InputSpec, ModelLoadError
from experiments.models.embedding_detector import EmbeddingDetector, check_head, open_encoder, read_head
from experiments.models.onnx_detector import Normalisation, settled


def cache_key(spec: InputSpec, norm: Normalisation) -> str:
    """What the embedding cache keys an encoder's embeddings by, besides its sha256."""
    return f"{spec.describe()}; {norm.describe()}"


def encoder_files(m: ModelConfig, where: str) -> tuple[Path, str, dict, dict, dict]:
    """(encoder file, its sha256, InputSpec fields, Normalisation fields, provenance)."""
    from experiments.models.backends import input_of, pinned
    from experiments.config.catalogue import ENCODERS
    from experiments.models.fetch import DetectorFileError, fetched

    if isinstance(m.encoder, str):
        entry = ENCODERS[m.encoder]
        try:
            path = fetched(entry.file)
        except DetectorFileError as e:
            raise ModelLoadError(f"{where}.encoder: {e}") from None
        spec = {"size": entry.input_size, "resize": entry.resize, "crop": entry.crop}
        norm = {"mean": tuple(entry.mean), "std": tuple(entry.std), "layout": entry.layout}
        file = entry.file
        about = {"name": m.encoder, "sha256": file.sha256, "requirement": file.requirement, "member": file.member,
                 "licence": file.licence, "provenance": file.provenance}  # fmt: skip
        return path, entry.file.sha256, spec, norm, about
    digest = pinned(m.encoder, m.encoder_sha256, f"{where}.encoder")
    spec, norm = input_of(m.input)
    return Path(m.encoder), digest, spec, norm, {"file": str(m.encoder), "sha256": digest}


def head_file(m: ModelConfig, where: str) -> tuple[Path | None, dict]:
    """(head file, provenance) of a catalogue head or a user's head file; (None, {}) for a probe."""
    from experiments.models.backends import pinned
    from experiments.config.catalogue import HEADS
    from experiments.models.fetch import DetectorFileError, fetched

    if isinstance(m.head, str):
        entry = HEADS[m.head]
        if entry.encoder != m.encoder:
            raise ModelLoadError(
                f"{where}.head: {m.head} was fitted on {entry.encoder}'s embeddings, not {m.encoder}'s"
            )
        try:
            path = fetched(entry.file)
        except DetectorFileError as e:
            raise ModelLoadError(f"{where}.head: {e}") from None
        return path, {"name": m.head, "sha256": entry.file.sha256, "licence": entry.file.licence,
                      "provenance": entry.file.provenance}  # fmt: skip
    if m.head is not None:
        return Path(m.head), {"file": str(m.head), "sha256": pinned(m.head, None, f"{where}.head")}
    return None, {}


def open_embedder(m: ModelConfig) -> EmbeddingDetector:
    """The model's encoder without a head (its embeddings cached): what a probe is fitted with."""
    encoder, encoder_sha, spec, norm, _ = encoder_files(m, f"models[{m.name}]")
    providers = tuple(m.providers) if m.providers else None
    return load_embedding_file(m.name, str(encoder), spec, norm, encoder_sha, None, providers, {})


def embedding_recipe(m: ModelConfig, ctx) -> tuple[tuple, str, bool]:
    """(the loader's arguments, the detector's digest, whether a probe was fitted now)."""
    where = f"models[{m.name}]"
    encoder, encoder_sha, spec, norm, encoder_about = encoder_files(m, where)
    head, head_about = head_file(m, where)
    providers = tuple(m.providers) if m.providers else None
    trained = False
    if head is None:  # a probe: fitted by artxai (train), or a file it fitted before
        if m.train is not None:
            from experiments.models.probe import trained_probe

            embedder = load_embedding_file(m.name, str(encoder), spec, norm, encoder_sha, None, providers, {})
            trained = trained_probe(m, embedder, ctx)
        head = m.path
        head_about = {"file": str(head), "sha256": file_sha256(head) if Path(head).is_file() else None}
        head_about |= {"fitted_by": "artxai (logistic regression on the encoder's embeddings)"}
    provenance = {"encoder": encoder_about, "head": head_about}
    args = (m.name, str(encoder), spec, norm, encoder_sha, str(head), providers, provenance)
    digest = hashlib.sha256(f"{encoder_sha}\n{head_about.get('sha256')}".encode()).hexdigest()
    return args, digest, trained


def load_embedding_file(
    name: str,
    encoder: str,
    spec: dict,
    norm: dict,
    encoder_sha: str,
    head: str | None,
    providers: tuple[str, ...] | None,
    provenance: dict,
) -> EmbeddingDetector:
    """The detector from its files, checked; `head` None gives an encoder without a head (what a
    probe's fitting embeds its training images with)."""
    from experiments.models.embedding_cache import EmbeddingCache
    from experiments.models.fetch import cache_root

    where = f"models[{name}]"
    input_spec, normalisation = InputSpec(**spec), Normalisation(**norm)
    enc = open_encoder(Path(encoder), input_spec, normalisation, encoder_sha, providers, where)
    cache = EmbeddingCache(cache_root(), encoder_sha, cache_key(input_spec, normalisation))
    detector = EmbeddingDetector(
        name=name,
        input=input_spec,
        source=encoder if head is None else f"{encoder} + {head}",
        preprocessing=f"{input_spec.describe()}, {normalisation.describe()}, L2-normalised embedding",
        encoder=enc,
        w=np.zeros(enc.dim),
        cache=cache,
        provenance=provenance,
    )
    if head is not None:
        w, b = read_head(Path(head), where)
        check_head(w, b, enc.dim, where, head)
        detector = replace(detector, w=w, b=b, head_file=head)
    return settled(detector, False, where)
