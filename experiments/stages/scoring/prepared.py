"""The samples' inputs made on the threads while the models run: consecutive samples in groups
(one task each, their inputs stacked, so the thread that runs the models does no per-image work),
handed over in order, a bounded number ahead. `Ahead` queues the groups of several chunks one
after another, so a local run decodes the next part's first samples while the models finish this
one's; a group never spans two chunks, so each chunk's batches are what they would be alone."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

GROUP_IMAGES = 32  # edited images a decoding task makes at least (a sample's variants, or several samples)
AHEAD_BATCHES = 2  # batches of inputs the threads may prepare ahead of the models


@dataclass
class PreparedGroup:
    """Consecutive samples' inputs (experiments.stages.scoring.batches.sample_inputs), stacked per
    input spec in their order, their skip records and gallery pictures."""

    samples: list
    done: list[list]  # each sample's variants scored
    inputs: dict[object, np.ndarray]
    failures: list[dict]
    pictures: dict[tuple[str, str], bytes]


def prepare_group(samples: list, specs: list, make: Callable) -> PreparedGroup:
    """`make(sample)` (a SampleInputs) for each sample, their inputs stacked."""
    made = [make(s) for s in samples]
    inputs = {spec: np.concatenate([m.inputs[spec] for m in made]) for spec in specs}
    pictures = {(s.id, v): jpeg for s, m in zip(samples, made) for v, jpeg in m.pictures.items()}
    return PreparedGroup(samples, [m.variants for m in made], inputs, [f for m in made for f in m.failures], pictures)


def groups_of(samples: list, variants: int, workers: int, images: int = GROUP_IMAGES) -> list[list]:
    """The chunk cut into groups of about `images` edited images, and at least 2 x workers groups."""
    size = max(1, min(-(-images // max(1, variants)), len(samples) // (2 * workers)))
    return [samples[i : i + size] for i in range(0, len(samples), size)]


def window(groups: list[list], variants: int, workers: int, batch_size: int) -> int:
    """Groups in flight: AHEAD_BATCHES batches of images, and at least 2 x workers groups."""
    images = max(1, len(groups[0]) * max(1, variants)) if groups else 1
    return max(2 * workers, -(-AHEAD_BATCHES * batch_size // images))


class Ahead:
    """Groups prepared on the pool in the order queued, chunk after chunk, at most `window` in
    flight: `queue` a chunk's groups (the next chunk's before this one is taken), `take` them back."""

    def __init__(self, pool: ThreadPoolExecutor):
        self.pool, self.window = pool, 1
        self.waiting: deque = deque()  # (chunk, group, prepare) not yet submitted
        self.pending: deque = deque()  # (chunk, future)
        self.queued: set[int] = set()  # id() of the chunks queued and not yet taken

    def queue(self, chunk: list, groups: list[list], prepare: Callable, window: int) -> None:
        if id(chunk) not in self.queued:
            self.queued.add(id(chunk))
            self.waiting.extend((chunk, g, prepare) for g in groups)
            self.window = window
            self._fill()

    def has(self, chunk: list) -> bool:
        return id(chunk) in self.queued

    def _fill(self) -> None:
        while self.waiting and len(self.pending) < self.window:
            chunk, group, prepare = self.waiting.popleft()
            self.pending.append((chunk, self.pool.submit(prepare, group)))

    def take(self, chunk: list) -> Iterator[PreparedGroup]:
        """The chunk's groups, prepared, in order: the chunk is the first one queued and not taken."""
        self.queued.discard(id(chunk))
        while self.pending and self.pending[0][0] is chunk:
            future = self.pending.popleft()[1]
            self._fill()
            yield future.result()
