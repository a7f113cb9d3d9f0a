"""A watcher that ends a private Ray cluster when the run that started it ends, however it ends.

    python -I experiments/execution/reaper.py NAME=VALUE      (started by experiments.execution.raycluster)

Ray ties its gcs_server and raylet to the driver that started them (the kernel's parent-death
signal), but not the agents the raylet starts (dashboard agent, runtime-env agent): after a
killed driver they wait a minute on the dead GCS before they exit, and actors take seconds. The
driver starts this watcher first, in a session of its own, with a pipe on its stdin, and puts
NAME=VALUE (unique per cluster) into the environment the cluster's processes inherit. When the
pipe closes (the driver ended, was killed, or left the cluster) the watcher kills every process
whose environment holds that entry, then exits. It ignores SIGINT and SIGTERM (a Ctrl-C to the
terminal's process group, a group kill): only the pipe ends it. Standard library and psutil only
(Ray depends on psutil), so it starts in milliseconds without the project on its path.
"""

from __future__ import annotations

import signal
import sys
import time

import psutil

PASSES = 5  # a process started while the others were killed is found by a later pass


def tagged(entry: str) -> list[psutil.Process]:
    """This user's processes whose environment, as they were started, holds `entry` (NAME=VALUE)."""
    found = []
    for process in psutil.process_iter():
        try:
            name, _, value = entry.partition("=")
            if process.environ().get(name) == value:
                found.append(process)
        except (psutil.Error, OSError):  # gone, or another user's
            continue
    return found


def kill_tagged(entry: str) -> int:
    """SIGKILL every process tagged `entry` until none is left (at most PASSES scans); how many."""
    killed = 0
    for _ in range(PASSES):
        alive = [p for p in tagged(entry) if p.pid != psutil.Process().pid]
        if not alive:
            break
        for process in alive:
            try:
                process.kill()
                killed += 1
            except psutil.Error:
                continue
        psutil.wait_procs(alive, timeout=1)
        time.sleep(0.05)
    return killed


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    entry = argv[0]
    sys.stdin.buffer.read()  # returns when every writer of the pipe is gone
    kill_tagged(entry)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
