"""A watcher that ends a private Ray cluster when the run that started it ends, however it ends.

    python -I experiments/execution/reaper.py NAME=VALUE      (started by experiments.execution.raycluster)

Ray ties its gcs_server and raylet to the driver that started them (the kernel's parent-death
signal), but not the agents the raylet starts (dashboard agent, runtime-env agent): after a
killed driver they wait a minute on the dead GCS before they exit, and actors take seconds. The
driver starts this watcher first, in a session of its own, with a pipe on its stdin, and puts
NAME=VALUE (unique per cluster) into the environment the cluster's processes inherit. When the
pipe closes (the driver ended, was killed, or left the cluster) the watcher kills every process
of the cluster, then exits. It ignores SIGINT and SIGTERM (a Ctrl-C to the terminal's process
group, a group kill): only the pipe ends it. Standard library and psutil only (Ray depends on
psutil), so it starts in milliseconds without the project on its path.

The cluster's processes are those whose environment holds the entry and their descendants. The
entry alone does not find them all: Ray's agents rename themselves (setproctitle), which wipes
the environment /proc shows, and they are children of the raylet, which dies with the driver,
so by then nothing links them to the cluster. While the pipe is open the watcher therefore
records the cluster's processes every RECORD_EVERY_S, each as a psutil.Process (a pid reused by
another process since is never signalled), and kills those still running with the ones tagged
when the pipe closes.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

import psutil

PASSES = 5  # a process started while the others were killed is found by a later pass
RECORD_EVERY_S = 1.0  # how often the cluster's processes are recorded while the driver runs


def tagged_and_descendants(entry: str) -> dict[int, psutil.Process]:
    """This user's processes whose environment, as they were started, holds `entry` (NAME=VALUE),
    and every descendant of one, by pid (one scan of the process table)."""
    name, _, value = entry.partition("=")
    children: dict[int, list[psutil.Process]] = {}
    todo = []
    for process in psutil.process_iter(["ppid"]):
        children.setdefault(process.info["ppid"], []).append(process)
        try:
            if process.environ().get(name) == value:
                todo.append(process)
        except (psutil.Error, OSError):  # gone, or another user's
            continue
    found: dict[int, psutil.Process] = {}
    while todo:
        process = todo.pop()
        if process.pid not in found:
            found[process.pid] = process
            todo += children.get(process.pid, [])
    return found


def members(entry: str, known: dict[int, psutil.Process]) -> dict[int, psutil.Process]:
    """The cluster's live processes by pid: those tagged `entry` and their descendants, and those
    of `known` (an earlier record) still running; never this watcher, never a zombie."""
    alive = {}
    for pid, process in (known | tagged_and_descendants(entry)).items():
        try:  # is_running: the same process (its start time), not a pid reused since
            if pid != os.getpid() and process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive[pid] = process
        except psutil.Error:
            continue
    return alive


def kill_members(entry: str, known: dict[int, psutil.Process]) -> int:
    """SIGKILL every process of the cluster until none is left (at most PASSES scans); how many."""
    killed = 0
    for _ in range(PASSES):
        known = members(entry, known)
        if not known:
            break
        for process in known.values():
            try:
                process.kill()  # psutil checks the pid still names the recorded process
                killed += 1
            except psutil.Error:
                continue
        psutil.wait_procs(list(known.values()), timeout=1)
        time.sleep(0.05)
    return killed


def recorded_until_closed(entry: str, pipe: int) -> dict[int, psutil.Process]:
    """The cluster's processes, recorded every RECORD_EVERY_S until every writer of `pipe` is
    gone (the driver writes nothing: readable means closed)."""
    known: dict[int, psutil.Process] = {}
    while not select.select([pipe], [], [], RECORD_EVERY_S)[0]:
        known = members(entry, known)
    while os.read(pipe, 65536):  # nothing is written; were it, read to the end
        pass
    return known


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    entry = argv[0]
    kill_members(entry, recorded_until_closed(entry, sys.stdin.fileno()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
