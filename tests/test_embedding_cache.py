"""The embedding cache (experiments.models.embedding_cache): exact float32 round trips, misses
across encoders and preprocessings, two processes storing at once (with merges) losing nothing,
a damaged shard skipped with a warning and its embeddings recomputed."""

from __future__ import annotations

import logging
import multiprocessing

import numpy as np
import pytest

from experiments.config.catalogue import ENCODERS
from experiments.models.embedding_cache import EmbeddingCache, cache_folder, pixel_key

ENCODER = ENCODERS["clip-vit-b16-int8"]
SHA = ENCODER.file.sha256
PREP = ENCODER.preprocessing


def embeddings(tag: str, n: int, dim: int = 512) -> dict[str, np.ndarray]:
    """n float32 rows by key (pixel keys of small random images), seeded by `tag`."""
    rng = np.random.default_rng(list(tag.encode()))  # the same in every process (not hash())
    images = rng.integers(0, 256, size=(n, 4, 4, 3), dtype=np.uint8)
    return {pixel_key(image): rng.standard_normal(dim).astype(np.float32) for image in images}


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype == np.float32 and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_pixel_key_covers_shape_dtype_and_bytes():
    pixels = np.arange(224 * 224 * 3, dtype=np.uint32).astype(np.uint8).reshape(224, 224, 3)
    assert pixel_key(pixels) == pixel_key(pixels.copy())
    assert pixel_key(pixels[:, ::-1][:, ::-1]) == pixel_key(pixels)  # a strided view, same pixels
    assert pixel_key(pixels.reshape(224, 672)) != pixel_key(pixels)  # same bytes, other shape
    assert pixel_key(pixels.view(np.int8)) != pixel_key(pixels)  # same bytes, other dtype
    changed = pixels.copy()
    changed[100, 100, 1] ^= 1
    assert pixel_key(changed) != pixel_key(pixels)


def test_a_round_trip_keeps_the_exact_float32_bits(tmp_path):
    items = embeddings("round", 5)
    odd = np.array([0.0, -0.0, np.float32(1e-45), np.inf, -np.inf, np.nan, 1 / 3, -7.25], dtype=np.float32)
    items["odd"] = np.tile(odd, 64)
    cache = EmbeddingCache(tmp_path, SHA, PREP)
    assert cache.lookup(list(items)) == {}
    cache.store(items)
    for reader in (cache, EmbeddingCache(tmp_path, SHA, PREP)):  # this process, and one opened afresh
        got = reader.lookup([*items, "absent"])
        assert set(got) == set(items)
        assert all(same_bits(got[key], items[key]) for key in items)
    folder = cache_folder(tmp_path, SHA, PREP)
    assert folder.parent == tmp_path / "embeddings"
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".npz"]  # about.json and one shard


def test_another_encoder_or_preprocessing_is_a_miss(tmp_path):
    items = embeddings("miss", 3)
    EmbeddingCache(tmp_path, SHA, PREP).store(items)
    other_sha = "0" * 64
    assert EmbeddingCache(tmp_path, other_sha, PREP).lookup(list(items)) == {}
    assert EmbeddingCache(tmp_path, SHA, PREP.replace("bicubic", "bilinear")).lookup(list(items)) == {}
    assert len(EmbeddingCache(tmp_path, SHA, PREP).lookup(list(items))) == 3
    with pytest.raises(ValueError, match="encoder_sha256: 'ABC' is not a lowercase hex sha256"):
        EmbeddingCache(tmp_path, "ABC", PREP)


def test_store_refuses_rows_of_other_shapes_and_writes_nothing(tmp_path):
    cache = EmbeddingCache(tmp_path, SHA, PREP)
    with pytest.raises(ValueError, match=r"embedding b: shape \(511,\), expected one row like \(512,\)"):
        cache.store({"a": np.zeros(512, np.float32), "b": np.zeros(511, np.float32)})
    assert not cache_folder(tmp_path, SHA, PREP).exists()


def _writer(root, tag, batches, max_shards, barrier):
    cache = EmbeddingCache(root, SHA, PREP, max_shards=max_shards)
    barrier.wait()
    for i in range(batches):
        cache.store(embeddings(f"{tag}-{i}", 4, dim=16))


def test_two_processes_storing_at_once_both_land(tmp_path, caplog):
    context = multiprocessing.get_context("spawn")  # no fork of a process that may hold TensorFlow's threads
    barrier = context.Barrier(2)
    batches, max_shards = 30, 6  # merges happen while the other process writes
    workers = [
        context.Process(target=_writer, args=(tmp_path, tag, batches, max_shards, barrier)) for tag in ("a", "b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]
    expected = {k: v for tag in ("a", "b") for i in range(batches) for k, v in embeddings(f"{tag}-{i}", 4, 16).items()}
    with caplog.at_level(logging.WARNING):
        cache = EmbeddingCache(tmp_path, SHA, PREP)
        got = cache.lookup(list(expected))
    assert len(expected) == 2 * batches * 4
    assert set(got) == set(expected)
    assert all(same_bits(got[key], expected[key]) for key in expected)
    assert caplog.text == ""  # no shard torn
    assert cache.shard_count() <= 2 * (max_shards + 1)  # merged: not one file per store()
    leftovers = [p.name for p in cache.folder.iterdir() if p.suffix not in (".npz", ".json")]
    assert leftovers == []  # no temporary file left behind


def test_a_truncated_shard_is_skipped_with_a_warning_and_recomputed(tmp_path, caplog):
    first, second = embeddings("first", 3), embeddings("second", 3)
    cache = EmbeddingCache(tmp_path, SHA, PREP)
    cache.store(first)
    cache.store(second)
    shards = sorted(cache.folder.glob("*.npz"))
    torn = next(p for p in shards if set(np.load(p)["keys"].tolist()) == set(second))
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="experiments.models.embedding_cache"):
        reopened = EmbeddingCache(tmp_path, SHA, PREP)
        got = reopened.lookup([*first, *second])
    assert set(got) == set(first)
    assert f"{torn}: unreadable embedding shard" in caplog.text
    assert not torn.exists()
    reopened.store({key: second[key] for key in second})  # recomputed by the caller
    got = EmbeddingCache(tmp_path, SHA, PREP).lookup([*first, *second])
    assert set(got) == set(first) | set(second)
