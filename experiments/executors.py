"""Where a run's units of work execute: in this process, on every local core, or on a Ray cluster.

A unit (a scoring part, an explanation unit) is independent of every other and deterministic: its
result depends only on the config, the seed and the unit itself. The driver writes each result
to its own atomic file and assembles the tables from those files in a fixed order, so the tables
do not depend on the executor, the number of workers, the order units finish in, or retries.

Each worker builds its state once through `setup()` (TensorFlow, the models, the compiled edits)
and then runs many units with `work(state, unit)`. For `processes` and `ray`, `setup` and `work`
must be picklable: module-level functions, or `functools.partial` of them.

- `local`: this process, units in order. The default.
- `processes`: spawned processes through `concurrent.futures`. A worker that dies breaks the pool:
  the pool is rebuilt and the unfinished units are submitted again, at most `max_retries` times.
- `ray`: one Ray actor per worker (`ray.util.ActorPool`); results come back through Ray's object
  store, so workers need to read the inputs (images, model files) but never write the run
  folder. An actor killed mid-unit is restarted (its `setup` runs again) and the unit retried by
  Ray itself (`max_restarts`, `max_task_retries`). `address` joins an existing cluster (`auto`,
  or `ray://head:10001`); without it a local cluster is started on `workers` CPUs.

No scheduler of our own: ordering, retries and placement are the pool's or Ray's.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

from experiments.config import ExecutorConfig

log = logging.getLogger("artxai")

def configure_worker(threads: int | None) -> None:
    """In a fresh worker, before TensorFlow is imported: threads per worker (so N workers do not
    each claim every core), GPU memory growth (so several workers can share one GPU), and no
    TensorFlow start-up noise. Environment variables only: TensorFlow reads them when it starts."""
    if threads:
        for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
            os.environ[var] = str(threads)
        os.environ["TF_NUM_INTEROP_THREADS"] = str(max(1, threads // 2))
    os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# ---- processes -------------------------------------------------------------------------------

_STATE: Any = None


def _init_process(setup: Callable[[], Any], threads: int) -> None:
    global _STATE
    configure_worker(threads)
    _STATE = setup()


def _run_in_process(work: Callable[[Any, Any], Any], index: int, unit: Any) -> tuple[int, Any]:
    return index, work(_STATE, unit)


def _processes(settings: ExecutorConfig, setup, work, units: list) -> Iterator[tuple[int, Any]]:
    workers = max(1, min(settings.workers or os.cpu_count() or 1, len(units)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    pending = dict(enumerate(units))
    for attempt in range(settings.max_retries + 1):
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_process, initargs=(setup, threads))
        try:
            futures = {pool.submit(_run_in_process, work, i, u): i for i, u in pending.items()}
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    index = futures.pop(future)
                    result = future.result()  # BrokenProcessPool when a worker died
                    pending.pop(index)
                    yield result
            return
        except BrokenProcessPool as e:
            if attempt == settings.max_retries:
                raise RuntimeError(f"executor processes: a worker died {attempt + 1} times; {len(pending)} unit(s) not done") from e
            log.warning("executor processes: a worker died (%s); restarting the pool for %d unfinished unit(s)", e, len(pending))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


# ---- ray -------------------------------------------------------------------------------------


def _ray_worker_class():
    import ray

    class Worker:
        def __init__(self, setup, threads):
            configure_worker(threads)
            self.state = setup()

        def run(self, work, index, unit):
            return index, work(self.state, unit)

    return ray.remote(Worker)


def _ray(settings: ExecutorConfig, setup, work, units: list) -> Iterator[tuple[int, Any]]:
    try:
        import ray
        from ray.util import ActorPool
    except ImportError:
        raise RuntimeError("executor ray needs Ray: pip install -e '.[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        kwargs = {"address": settings.address} if settings.address else {"num_cpus": settings.workers or os.cpu_count()}
        ray.init(**kwargs, include_dashboard=False, configure_logging=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        total_cpus = int(ray.cluster_resources().get("CPU", 1))
        workers = max(1, min(settings.workers or int(total_cpus // max(settings.num_cpus, 1e-9)), len(units)))
        actor = _ray_worker_class().options(
            num_cpus=settings.num_cpus, num_gpus=settings.num_gpus, max_restarts=settings.max_retries, max_task_retries=settings.max_retries
        )
        work_ref = ray.put(work)
        threads = max(1, int(settings.num_cpus))
        # setup goes by value, not through the object store: a restarted actor must still find it
        pool = ActorPool([actor.remote(setup, threads) for _ in range(workers)])
        yield from pool.map_unordered(lambda a, iu: a.run.remote(work_ref, *iu), list(enumerate(units)))
    finally:
        if started_here:
            ray.shutdown()


def progress_interval() -> float:
    """Seconds between progress-bar redraws: often on a terminal, rarely into a log file (with
    parallel units, the bar moves as each unit comes back to the driver)."""
    return 0.1 if sys.stderr.isatty() else 30.0


# ---- the door ----------------------------------------------------------------------------------


def run_units(settings: ExecutorConfig, setup: Callable[[], Any], work: Callable[[Any, Any], Any], units: Iterable) -> Iterator[tuple[int, Any]]:
    """(index, work(state, unit)) for every unit, in the order they finish; `index` is the unit's
    position in `units`. The caller writes results and assembles tables in index order."""
    units = list(units)
    if not units:
        return iter(())
    if settings.kind == "local":
        state = setup()
        return ((i, work(state, u)) for i, u in enumerate(units))
    if settings.kind == "processes":
        return _processes(settings, setup, work, units)
    if settings.kind == "ray":
        return _ray(settings, setup, work, units)
    raise ValueError(f"executor.kind: unknown kind {settings.kind!r}")
