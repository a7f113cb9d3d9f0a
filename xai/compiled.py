"""Compiled passes through a Keras model, with a few fixed batch shapes.

Explanation methods call a model thousands of times on small batches. Called eagerly, each call
pays Python and dispatch overhead. Here each pass is a `tf.function` traced once, for any batch
size, and fed a few fixed batch shapes: a batch of n images runs as chunks of `batch_size` with
the last one zero-padded to the next *bucket* (2, 4, 8, then multiples of 8), so a run sees at
most batch_size / 8 + 2 shapes whatever its sizes (oneDNN sets up its kernels once per shape)
and padding adds at most 7 rows. The same images in the same calls give the same outputs bit for
bit, so a config always gives the same tables. Grouped into other calls (another `part_size` or
`batch_size`), an image's output can move in the last float32 bits on some CPUs (up to 6e-8 in
a probability on an AVX2 EPYC; on others not at all): tests/test_scoring.py holds it to 1e-6.

Every pass reads the model's variables when it runs: changing a model's weights (a sanity copy
being randomised) never needs a new trace. Passes are cached per model object.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

BATCH_SIZE = 256


def bucket(n: int, batch_size: int = BATCH_SIZE) -> int:
    """The padded size a chunk of n <= batch_size rows runs at: 2, 4 or 8 (a batch of one
    takes a matrix-vector kernel that rounds differently), above that the next multiple of 8."""
    size = max(2, 1 << max(0, int(n) - 1).bit_length()) if n <= 8 else -(-int(n) // 8) * 8
    return min(batch_size, size)


_copiers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """`target` (a model of the same architecture) takes `source`'s weights, variable to
    variable in one compiled call (no copy through NumPy, no per-layer checks)."""
    per_source = _copiers.setdefault(source, {})
    if id(target) not in per_source:
        pairs = list(zip(source.weights, target.weights, strict=True))

        @tf.function
        def copy():
            for a, b in pairs:
                b.assign(a.value)

        per_source[id(target)] = (target, copy)  # holds the target: its id stays its own
    per_source[id(target)][1]()


def signature(model: keras.Model, *extra: tf.TensorSpec) -> list[tf.TensorSpec]:
    """A batch of the model's inputs of any size (one trace serves every bucket)."""
    return [tf.TensorSpec((None, *model.input_shape[1:]), tf.float32), *extra]


def run_batched(fn: Callable[..., object], arrays: list[np.ndarray], batch_size: int = BATCH_SIZE) -> list[np.ndarray]:
    """fn over `arrays` (same first dimension) in chunks of batch_size, the last chunk padded with
    zeros to its bucket; fn returns a tensor or a tuple of tensors with the batch dimension first.
    Returns the outputs concatenated, padding rows dropped, as NumPy arrays."""
    n = len(arrays[0])
    outs: list[list[np.ndarray]] = []
    for start in range(0, n, batch_size):
        chunk = [a[start : start + batch_size] for a in arrays]
        size = len(chunk[0])
        padded = bucket(size, batch_size)
        if padded != size:
            chunk = [np.concatenate([c, np.zeros((padded - size, *c.shape[1:]), c.dtype)]) for c in chunk]
        result = fn(*chunk)
        result = result if isinstance(result, (tuple, list)) else (result,)
        for i, r in enumerate(result):
            if len(outs) <= i:
                outs.append([])
            outs[i].append(np.asarray(r)[:size])
    return [np.concatenate(o) for o in outs] if outs else []


_forwards: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def forward_outputs(model: keras.Model, x: np.ndarray, batch_size: int = BATCH_SIZE) -> list[np.ndarray]:
    """Every output of model(x) as float32 NumPy, through one compiled function per model."""
    fn = _forwards.get(model)
    if fn is None:
        fn = _forwards[model] = tf.function(lambda x: model(x, training=False), input_signature=signature(model))
    x = np.asarray(x, np.float32)
    if not len(x):
        shapes = model.output_shape if isinstance(model.output_shape, list) else [model.output_shape]
        return [np.zeros((0, *shape[1:]), np.float32) for shape in shapes]
    return run_batched(fn, [x], batch_size)


def forward(model: keras.Model, x: np.ndarray, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """model(x) (its first output) as float32 NumPy, through one compiled function per model."""
    return forward_outputs(model, x, batch_size)[0]


_gradients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def gradients(
    model: keras.Model, layer_index: int | None, x: np.ndarray, targets: np.ndarray, batch_size: int = BATCH_SIZE
) -> tuple[np.ndarray, ...]:
    """One forward and backward pass for a batch: (outputs, d score / d x) and, with a layer,
    (that layer's output A, d score / d A). score_i = outputs[i, targets[i]]: each image's
    gradient comes from its own score only. Saliency, SmoothGrad, the CAMs and Score-CAM's
    activations all read the same pass (one trace per model and layer)."""
    key = (layer_index,)
    per_model = _gradients.setdefault(model, {})
    fn = per_model.get(key)
    if fn is None:
        outputs = [model.output] if layer_index is None else [model.output, model.layers[layer_index].output]
        tapped = keras.Model(model.inputs, outputs)

        @tf.function(input_signature=signature(model, tf.TensorSpec((None,), tf.int32)))
        def fn(x, t):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = tapped(x, training=False)
                out = out if isinstance(out, (list, tuple)) else [out]
                score = tf.gather(out[0], t, batch_dims=1)
            if layer_index is None:
                return out[0], tape.gradient(score, x)
            grad_x, grad_a = tape.gradient(score, [x, out[1]])
            return out[0], grad_x, out[1], grad_a

        per_model[key] = fn
    x = np.asarray(x, np.float32)
    return tuple(run_batched(fn, [x, np.asarray(targets, np.int32)], batch_size))
