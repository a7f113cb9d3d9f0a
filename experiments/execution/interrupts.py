"""How a run ends when it is interrupted, and how the processes it starts end with it.

- Ctrl-C (SIGINT) raises KeyboardInterrupt in the driver, as Python always does; SIGTERM raises
  `Terminated`, a KeyboardInterrupt, so one path serves both: every `finally` runs (worker pools
  and Ray clusters are ended, the run folder's lock released), finished parts stay on disk, and
  the runner prints one line and exits 128 + the signal's number (130, 143).
- Processes the driver starts get SIGINT blocked (`sigint_blocked`, the mask is inherited): a
  Ctrl-C to the terminal's process group reaches the driver only, which ends them, instead of
  printing a traceback from each.
- A worker process ends itself when its driver dies, however it dies (`die_with_parent`): the
  kernel's parent-death signal on Linux, else a thread that polls the parent's pid.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

MESSAGE = "interrupted; --resume continues"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread as Ctrl-C's KeyboardInterrupt is."""


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


def _raise_terminated(signum, frame):
    raise Terminated()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises Terminated in the main thread for the body (elsewhere: nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


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
