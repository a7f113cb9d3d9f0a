"""The training input pipeline: tf.data over a table of image records.

seeded permutation of the records -> decode (PIL, with the runner's decode policy) -> the runner's
nearest resize -> uint8 cache (memory or disk) -> seeded shuffle -> seeded augmentation when
configured (experiments.models.train_augment) -> batch -> / 255 -> prefetch.

Why the permutation: dataset tables arrive sorted by path, which is sorted by class (every `ai/`
or `AI_*` folder, then every human one). A shuffle buffer smaller than the set turns such a stream
into long runs of one class, and a model trained on it learns nothing (measured: CIFAKE, buffer
1,000 of 7,200, test accuracy 0.50). Permuting the records first makes every window of the stream
a random sample, whatever the buffer; without a cache the paths are re-permuted every epoch (a
full shuffle of strings is cheap), with a cache the buffer reshuffles locally each epoch. Decoding runs in parallel
(PIL releases the GIL); from the second epoch on images come from the cache, already resized.
The result is bit-identical to the runner's `load_for_model` (tested), so a model trained here
sees exactly what it is scored on. Memory stays bounded: records stream, the shuffle buffer is
fixed, and `cache: disk` keeps 180k resized images on disk rather than in RAM.

An unreadable file never stops training: it is dropped from the stream and its reason recorded
in a `SkipLog`, which the model card counts.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from experiments.config.model_blocks import TrainAugmentConfig
from experiments.inputs.images import DecodePolicy, ImageRejected, decode_image, resize_nearest
from experiments.models.train_augment import augment_image
from experiments.rundir.atomic import FULL_DISK, write_failed

CLASS_INDEX = {"ai": 0, "human": 1}  # the study's class order


class SkipLog:
    """Files the pipeline could not read, with the reason; safe to fill from tf.data threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reasons: dict[str, str] = {}

    def add(self, path: str, reason: str) -> None:
        with self._lock:
            self.reasons[path] = reason


def loader(size: int, policy: DecodePolicy, skips: SkipLog):
    def load(path: bytes) -> tuple[np.ndarray, bool]:
        name = os.fsdecode(path)  # the file system's bytes: any name, even one that is not UTF-8
        try:
            return np.ascontiguousarray(resize_nearest(decode_image(Path(name), policy).pixels, size)), True
        except ImageRejected as e:
            skips.add(name, str(e))
            return np.zeros((size, size, 3), np.uint8), False

    return load


def _readable(pixels, ok, label):
    return ok


def _without_flag(pixels, ok, label):
    return pixels, label


def _scaled(pixels, label):
    return tf.cast(pixels, tf.float32) / 255.0, label  # as resize_for_model: float32 / 255


def augmented(ds: tf.data.Dataset, cfg: TrainAugmentConfig, size: int, seed: int) -> tf.data.Dataset:
    """Each (pixels, label) with its pixels augmented by a key from a seeded random stream that
    draws anew each epoch (the same seed and global seed: the same keys, epoch by epoch)."""
    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def edit(pixels: np.ndarray, key: np.int64) -> np.ndarray:
        return augment_image(pixels, cfg, int(key) & 0x7FFFFFFFFFFFFFFF)

    def apply(pair, key):
        pixels, label = pair
        out = tf.numpy_function(edit, [pixels, key], tf.uint8, stateful=False)
        return tf.ensure_shape(out, (size, size, 3)), label

    return tf.data.Dataset.zip((ds, keys)).map(apply, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def image_dataset(
    records: pd.DataFrame,
    size: int,
    *,
    batch_size: int,
    skips: SkipLog,
    shuffle_seed: int | None = None,
    shuffle_buffer: int = 10_000,
    cache: str = "memory",
    cache_file: Path | None = None,
    policy: DecodePolicy = DecodePolicy(),
    augment: TrainAugmentConfig | None = None,
) -> tf.data.Dataset:
    """Batches of (float32 images in [0, 1], int labels: 0 = ai, 1 = human); shuffled (records
    permuted first) when `shuffle_seed` is given, else in the records' order; augmented after the
    cache (experiments.models.train_augment), drawn from `shuffle_seed`, when `augment` is given."""
    if shuffle_seed is not None:
        records = records.iloc[np.random.default_rng(shuffle_seed).permutation(len(records))]
    labels = records["label"].map(CLASS_INDEX).to_numpy(np.int32)
    paths = np.array([os.fsencode(p) for p in records["path"]], dtype=object)  # bytes: a name need not be UTF-8
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle_seed is not None and cache == "none":
        ds = ds.shuffle(len(records), seed=shuffle_seed, reshuffle_each_iteration=True)  # paths only: cheap
    load = loader(size, policy, skips)

    def decode(path, label):
        pixels, ok = tf.numpy_function(load, [path], [tf.uint8, tf.bool], stateful=False)
        return tf.ensure_shape(pixels, (size, size, 3)), ok, label

    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.filter(_readable).map(_without_flag)
    if cache == "memory":
        ds = ds.cache()
    elif cache == "disk":
        if cache_file is None:
            raise ValueError("cache 'disk' needs a cache_file")
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        for stale in cache_file.parent.glob(f"{cache_file.name}*.lockfile"):
            stale.unlink()  # left by a killed run; the partial cache it guarded is rebuilt
        ds = ds.cache(str(cache_file))
    if shuffle_seed is not None:
        ds = ds.shuffle(min(shuffle_buffer, len(records)), seed=shuffle_seed, reshuffle_each_iteration=True)
    if augment is not None:
        ds = augmented(ds, augment, size, 0 if shuffle_seed is None else shuffle_seed)
    ds = ds.batch(batch_size).map(_scaled, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


@contextmanager
def cache_writes(folder: Path) -> Iterator[None]:
    """tf.data writes a disk cache inside the graph, so a full disk there is TensorFlow's error
    (naming the cache file and the system's text, e.g. "No space left on device"), not an
    OSError: WriteFailed naming the cache folder, as any other failed write of a run."""
    try:
        yield
    except tf.errors.OpError as e:
        full = [n for n in FULL_DISK if os.strerror(n) in str(e) and str(folder) in str(e)]
        if not full:
            raise
        raise write_failed(folder, OSError(full[0], os.strerror(full[0]))) from None
