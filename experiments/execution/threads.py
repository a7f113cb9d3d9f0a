"""The one way artxai makes a pool of threads for the work beside the models (decoding, editing,
drawing pictures): `thread_pool(workers)`, `workers` threads, one per core when not given
(`threads`). Units of work across processes or machines are experiments.execution.executors'."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor


def threads(workers: int | None = None) -> int:
    """`workers` when given (and not 0), else one per core."""
    return workers or os.cpu_count() or 1


def thread_pool(workers: int | None = None) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(threads(workers))
