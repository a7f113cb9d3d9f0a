"""The Ray cluster a run uses: joined at `executor.address` or started privately for the run,
checked before anything is created, and left or shut down on every exit path.

- Joining (`address: host:port`, `ray://host:port`, or `auto`: $RAY_ADDRESS, else the cluster
  the last `ray start` on this host recorded): the address is first probed with a TCP connect
  bounded by PROBE_TIMEOUT_S, so an unreachable one is one line in seconds instead of a
  traceback after Ray's retries. Leaving disconnects; the cluster keeps running.
- Private (no address): `ray.init(address="local")` starts a new cluster of this host's cores
  even when another one runs here (it never joins it), without the dashboard. Ray ties its
  gcs_server and raylet to the driver, not the agents and actors the raylet starts; the
  watcher of experiments.execution.reaper, started first, kills every process of the cluster once the
  driver ends, however it ends (SIGKILL included).
- Fit: a worker needs `num_cpus` CPUs and `num_gpus` GPUs on one node. A cluster with no such
  node is refused in one line (its actors would never be scheduled and the run would hang);
  `workers` is capped at how many fit at once.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from experiments.config.fields import ConfigError
from experiments.config.sections import ExecutorConfig
from experiments.execution.interrupts import sigint_blocked, sigterm_kept

PROBE_TIMEOUT_S = 5.0
TAG = "ARTXAI_RAY_CLUSTER"  # NAME=<uuid> in the environment of every process of a private cluster
QUIET = {"include_dashboard": False, "configure_logging": False, "log_to_driver": False}


class ClusterUnavailable(ConfigError):
    """The Ray cluster cannot be reached, found, or hold one worker."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterUnavailable("executor.kind: ray needs Ray: pip install -e '.[ray]'") from None
    return ray


def first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


# ---- joining ----------------------------------------------------------------------------------


def host_port(address: str) -> tuple[str, int]:
    """('host', port) of 'host:port', 'ray://host:port' or '[::1]:port'."""
    host, sep, port = address.split("://", 1)[-1].rstrip("/").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterUnavailable(f"executor.address: {address!r} is not host:port, ray://host:port or auto")
    return host.strip("[]"), int(port)


def probe(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """ClusterUnavailable unless something accepts a TCP connection at the address in time."""
    try:
        socket.create_connection(host_port(address), timeout=timeout).close()
    except OSError as e:
        reason = f"no answer in {timeout:g} s" if isinstance(e, TimeoutError) else (e.strerror or str(e))
        raise ClusterUnavailable(f"executor.address: cannot reach a Ray cluster at {address} ({reason})") from None


def auto_address() -> str:
    """Ray's documented `auto`: $RAY_ADDRESS, else the address the last `ray start` on this host
    recorded (Ray's own `auto` also joins any raylet it finds running: not done here)."""
    from ray._private.utils import read_ray_address

    found = os.environ.get("RAY_ADDRESS") or read_ray_address()
    if not found:
        raise ClusterUnavailable(
            "executor.address: auto, but no Ray cluster was started on this host (no `ray start`, RAY_ADDRESS unset); "
            "start one, name its address, or remove address to start a private one"
        )
    return found


def join(ray, address: str) -> None:
    """Connect to the cluster at `address` ('auto' resolved first), probed before Ray tries."""
    resolved = auto_address() if address == "auto" else address
    probe(resolved)
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", "5")  # Ray's connect retries, ~1 s each
    try:
        with stderr_held(), sigterm_kept():  # Ray's C++ client writes a warning line per failed retry
            ray.init(address=resolved, configure_logging=False, log_to_driver=False)
    except Exception as e:  # ConnectionError, RuntimeError (versions differ), ValueError: one line
        ray.shutdown()
        reason = first_line(e)
        raise ClusterUnavailable(f"executor.address: cannot join the Ray cluster at {resolved}: {reason}") from None


@contextmanager
def stderr_held() -> Iterator[None]:
    """What is written to file descriptor 2 in the body is held back: written after it when the
    body succeeds, dropped when it raises (its exception says what failed)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        held.seek(0)
        os.write(2, held.read())


# ---- a private cluster ------------------------------------------------------------------------


@contextmanager
def watched(entry: str) -> Iterator[None]:
    """A reaper (experiments.execution.reaper) that kills every process tagged `entry` (NAME=VALUE) when
    the body ends or this process dies, however it dies."""
    reaper = subprocess.Popen(
        [sys.executable, "-I", str(Path(__file__).with_name("reaper.py")), entry],
        stdin=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        yield
    finally:
        reaper.stdin.close()
        try:
            reaper.wait(timeout=15)
        except subprocess.TimeoutExpired:
            reaper.kill()


@contextmanager
def private_cluster(ray) -> Iterator[None]:
    """A new local cluster of this host's cores (never one already running here), ended with
    this context or with this process."""
    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)  # not "token authentication is enabled"
    tag = uuid.uuid4().hex
    with watched(f"{TAG}={tag}"):
        try:
            start_local(ray, tag)
            yield
        finally:
            ray.shutdown()


def start_local(ray, tag: str) -> None:
    os.environ[TAG] = tag  # inherited by every process the cluster starts, and only by them
    try:
        with sigterm_kept(), sigint_blocked():
            ray.init(address="local", num_cpus=os.cpu_count() or 1, **QUIET)
    except Exception as e:  # Ray could not start: one line
        raise ClusterUnavailable(f"executor.kind: ray could not start a local cluster: {first_line(e)}") from None
    finally:
        os.environ.pop(TAG, None)


# ---- fit --------------------------------------------------------------------------------------


def workers_that_fit(nodes: list[dict], num_cpus: float, num_gpus: float) -> int:
    """How many workers of `num_cpus` CPUs and `num_gpus` GPUs the alive nodes hold at once."""
    total = 0
    for node in nodes:
        if node.get("Alive", True):
            have = node.get("Resources", {})
            fit = math.floor(have.get("CPU", 0) / num_cpus + 1e-9)
            if num_gpus:
                fit = min(fit, math.floor(have.get("GPU", 0) / num_gpus + 1e-9))
            total += fit
    return total


def check_fits(settings: ExecutorConfig, nodes: list[dict], where: str) -> int:
    """How many workers fit; ClusterUnavailable, naming the field, when not one does."""
    fit = workers_that_fit(nodes, settings.num_cpus, settings.num_gpus)
    if fit:
        return fit
    alive = [n.get("Resources", {}) for n in nodes if n.get("Alive", True)] or [{}]
    cpus, gpus = max(r.get("CPU", 0) for r in alive), max(r.get("GPU", 0) for r in alive)
    if settings.num_gpus > gpus:
        field, need, have = "num_gpus", f"{settings.num_gpus:g} GPU(s)", f"{where} has {gpus:g} GPU(s) at most"
    elif settings.num_cpus > cpus:
        field, need, have = "num_cpus", f"{settings.num_cpus:g} CPU(s)", f"{where} has {cpus:g} CPU(s) at most"
    else:
        field, have = "num_cpus", f"no node of {where} has both"
        need = f"{settings.num_cpus:g} CPU(s) and {settings.num_gpus:g} GPU(s)"
    raise ClusterUnavailable(
        f"executor.{field}: a worker needs {need} on one node, but {have}; lower it or use a larger cluster"
    )


@contextmanager
def ray_session(settings: ExecutorConfig) -> Iterator[int]:
    """Ray ready for the body, which gets how many workers fit; what was joined is left and what
    was started is shut down after, however the body ends. A caller's own ray.init is used as
    it is (and left to the caller)."""
    ray = import_ray()
    with ExitStack() as stack:
        if ray.is_initialized():
            where = "the Ray cluster"
        elif settings.address:
            join(ray, settings.address)
            stack.callback(ray.shutdown)  # disconnects; the cluster keeps running
            where = f"the Ray cluster at {settings.address}"
        else:
            stack.enter_context(private_cluster(ray))
            where = f"this host ({os.cpu_count()} cores)"
        yield check_fits(settings, ray.nodes(), where)
