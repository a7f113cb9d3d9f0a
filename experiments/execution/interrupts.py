"""How a run ends when it is interrupted, and how the processes it starts end with it.

- Ctrl-C (SIGINT) raises KeyboardInterrupt in the driver, as Python always does; SIGTERM raises
  `Terminated`, a KeyboardInterrupt, so one path serves both (`interrupts_raise`; raised again
  at the next unit or stage when C code dropped it: `raise_if_interrupted`): every `finally`
  runs (worker pools and Ray clusters are ended, the run folder's lock released), finished parts
  stay on disk, and the runner prints one line and exits 128 + the signal's number (130, 143).
- The command line then leaves without Python's finalisation (`leave`: os._exit once the log,
  stdout and stderr are flushed), after an interrupt and after any other early end (exit 1 or 2:
  a full disk inside model.fit leaves the same state), and after a finished run too, where
  finalisation only tears TensorFlow down, for seconds. An interrupt raised inside model.fit
  leaves tf.data's iterators alive in the exception's reference cycle, their threads part-way
  through Python functions (the pipeline's decode and `train.augment` run as numpy_function);
  finalisation would end those threads when they next take the GIL (pthread_exit) and then
  destroy the iterators, which wait for them forever (a hang in `MapAndBatchDataset`'s
  destructor) or abort ("terminate called without an active exception"). Nothing is lost: every
  file is written atomically, locks are the kernel's, pools and clusters were ended by the
  `finally` blocks before main returned.
- Processes the driver starts get SIGINT blocked (`sigint_blocked`, the mask is inherited): a
  Ctrl-C to the terminal's process group reaches the driver only, which ends them, instead of
  printing a traceback from each.
- A worker process ends itself when its driver dies, however it dies (`die_with_parent`): the
  kernel's parent-death signal on Linux, else a thread that polls the parent's pid.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

MESSAGE = "interrupted; --resume continues"
STATUSES = (128 + signal.SIGINT, 128 + signal.SIGTERM)  # an interrupted run's exit status: 130, 143
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C's KeyboardInterrupt is."""


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


def leave(status: int) -> NoReturn:
    """End the process with `status` at once, skipping Python's finalisation, once the log, stdout
    and stderr are flushed: a run that stopped early (an interrupt, STATUSES, or an error; the
    module's docstring says why) and a finished run alike, whose finalisation has nothing left to
    do (files written whole, pools and clusters ended) and cost seconds (TensorFlow's teardown:
    more than a 2,000-image run's evaluation, tables and report together)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


_taken: list[int] = []  # the interrupts taken while `interrupts_raise` is active, oldest first


def _interrupt(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _raise_interrupt(signum, frame):
    _taken.append(signum)
    raise _interrupt(signum)


def raise_if_interrupted() -> None:
    """Raise the interrupt again where the run may stop (a unit back, a stage done, the run done)
    when one was taken. A handler's exception is raised at whatever bytecode the main thread runs
    next, and C code there may clear it: numpy's dtype comparison (`np.dtype(object) == other`,
    inside pandas' `to_parquet`) drops any error raised while it converts `other`; a SIGTERM
    lost there let 1 run in 8 on a loaded machine finish and exit 0."""
    if _taken:
        raise _interrupt(_taken[-1])


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """For the body, in the main thread: SIGTERM raises Terminated, and Ctrl-C KeyboardInterrupt
    as Python's own handler does (unless SIGINT is ignored: a job started in the background), each
    recorded for `raise_if_interrupted`. Elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _taken.clear()
    before = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        before[signal.SIGINT] = signal.signal(signal.SIGINT, _raise_interrupt)
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


@contextmanager
def sigterm_kept() -> Iterator[None]:
    """The SIGTERM handler as it was before the body (ray.init replaces it with sys.exit)."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGTERM) if main else None
    try:
        yield
    finally:
        if before is not None:
            signal.signal(signal.SIGTERM, before)


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread while it starts processes: they inherit the blocked mask
    across exec. A Ctrl-C meanwhile is delivered to the driver after the body (or at once, to
    another of its threads), never lost."""
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def die_with_parent(parent: int, kernel: bool = True) -> None:
    """In a worker: end this process when `parent` (its driver) dies. `kernel`: the kernel's
    parent-death signal, right only when the thread that started this process lives as long
    as the driver (its main thread); else, and off Linux, a thread polling the parent's pid."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and ends its workers
    armed = False
    if kernel and sys.platform.startswith("linux"):
        try:
            armed = ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent:  # it died before the signal was armed
        os._exit(1)
    if not armed:
        threading.Thread(target=_watch_parent, args=(parent,), name="die-with-parent", daemon=True).start()
