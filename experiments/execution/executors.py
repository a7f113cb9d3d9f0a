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
  the pool is rebuilt and the unfinished units are submitted again, at most `max_retries` times
  (then `WorkerDied`). Workers end with their driver, however it ends (experiments.execution.interrupts),
  leave Ctrl-C to it, and are killed when the driver stops waiting for them (an interrupt).
- `ray`: one Ray actor per worker (`ray.util.ActorPool`); results come back through Ray's object
  store, so workers need to read the inputs (images, model files) but never write the run
  folder. An actor killed mid-unit is restarted (its `setup` runs again) and the unit retried by
  Ray itself (`max_restarts`, `max_task_retries`). `address` joins an existing cluster (`auto`,
  or `ray://head:10001`); without it a private local cluster is started on this host's cores.
  The cluster is checked (reachable, a node that holds one worker) in the run's preflight and
  ended with the run (experiments.execution.raycluster).

No scheduler of our own: ordering, retries and placement are the pool's or Ray's.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

from experiments.config.sections import ExecutorConfig
from experiments.execution.interrupts import die_with_parent, raise_if_interrupted, sigint_blocked
from experiments.execution.raycluster import first_line, ray_session

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


class WorkerDied(RuntimeError):
    """Workers died more often than `max_retries` allows (killed: out of memory, a signal)."""


def _init_process(setup: Callable[[], Any], threads: int, parent: int, kernel: bool) -> None:
    global _STATE
    die_with_parent(parent, kernel)
    configure_worker(threads)
    _STATE = setup()


def _run_in_process(work: Callable[[Any, Any], Any], index: int, unit: Any) -> tuple[int, Any]:
    return index, work(_STATE, unit)


def _end_pool(pool: ProcessPoolExecutor, finished: bool) -> None:
    """Shut the pool down; unless every unit came back, kill its workers first: nobody waits for
    the units they run (the consumer stopped, an interrupt, a broken pool)."""
    if not finished:
        for process in list((pool._processes or {}).values()):  # Python 3.14's pool.kill_workers()
            process.kill()
    pool.shutdown(wait=True, cancel_futures=True)


def _processes(settings: ExecutorConfig, setup, work, units: list) -> Iterator[tuple[int, Any]]:
    workers = max(1, min(settings.workers or os.cpu_count() or 1, len(units)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    # the kernel's parent-death signal follows the thread that starts the workers: this one
    initargs = (setup, threads, os.getpid(), threading.current_thread() is threading.main_thread())
    pending = dict(enumerate(units))
    for attempt in range(settings.max_retries + 1):
        pool = ProcessPoolExecutor(workers, get_context("spawn"), initializer=_init_process, initargs=initargs)
        finished = False
        try:
            with sigint_blocked():  # workers start here, on the first submits
                futures = {pool.submit(_run_in_process, work, i, u): i for i, u in pending.items()}
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    index = futures.pop(future)
                    result = future.result()  # BrokenProcessPool when a worker died
                    pending.pop(index)
                    yield result
            finished = True
            return
        except BrokenProcessPool:
            if attempt == settings.max_retries:
                raise WorkerDied(
                    f"executor processes: a worker died {attempt + 1} time(s), more than max_retries "
                    f"({settings.max_retries}) allows; {len(pending)} unit(s) not done"
                ) from None
            log.warning("executor processes: a worker died; restarting the pool for %d unit(s)", len(pending))
        finally:
            _end_pool(pool, finished)


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
    import ray
    from ray.util import ActorPool

    with ray_session(settings) as fit:  # the run's cluster, or one for these units alone
        workers = max(1, min(settings.workers or fit, fit, len(units)))
        if settings.workers and settings.workers > fit:
            log.info("executor ray: %d of the %d workers asked for fit on the cluster at once", fit, settings.workers)
        actor = _ray_worker_class().options(
            num_cpus=settings.num_cpus,
            num_gpus=settings.num_gpus,
            max_restarts=settings.max_retries,
            max_task_retries=settings.max_retries,
        )
        work_ref = ray.put(work)
        threads = max(1, int(settings.num_cpus))
        # setup goes by value, not through the object store: a restarted actor must still find it
        pool = ActorPool([actor.remote(setup, threads) for _ in range(workers)])
        try:
            yield from pool.map_unordered(lambda a, iu: a.run.remote(work_ref, *iu), list(enumerate(units)))
        except ray.exceptions.RayActorError as e:
            allowed, reason = settings.max_retries, first_line(e)
            raise WorkerDied(
                f"executor ray: a worker died more than max_retries ({allowed}) allows ({reason})"
            ) from None


def progress_interval() -> float:
    """Seconds between progress-bar redraws: often on a terminal, rarely into a log file (with
    parallel units, the bar moves as each unit comes back to the driver)."""
    return 0.1 if sys.stderr.isatty() else 30.0


# ---- the door ----------------------------------------------------------------------------------


def run_units(
    settings: ExecutorConfig, setup: Callable[[], Any], work: Callable[[Any, Any], Any], units: Iterable
) -> Iterator[tuple[int, Any]]:
    """(index, work(state, unit)) for every unit, in the order they finish; `index` is the unit's
    position in `units`. The caller writes results and assembles tables in index order. An
    interrupt whose exception was dropped is raised again as each unit comes back."""
    units = list(units)
    if not units:
        return iter(())
    if settings.kind == "local":
        state = setup()
        return _checked((i, work(state, u)) for i, u in enumerate(units))
    if settings.kind == "processes":
        return _checked(_processes(settings, setup, work, units))
    if settings.kind == "ray":
        return _checked(_ray(settings, setup, work, units))
    raise ValueError(f"executor.kind: unknown kind {settings.kind!r}")


def _checked(results: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    """`results`, each after `raise_if_interrupted`; closed (its pool or cluster ended) however
    this ends."""
    try:
        for result in results:
            raise_if_interrupted()
            yield result
    finally:
        results.close()


def executor_session(settings: ExecutorConfig) -> AbstractContextManager:
    """For a run (its preflight): Ray's cluster joined or started, and checked, once for every
    stage, shut down or left when the run ends however it ends; for the other kinds, nothing."""
    return ray_session(settings) if settings.kind == "ray" else nullcontext()
