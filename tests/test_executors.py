"""The executors: every unit runs once and comes back with its index, whatever the executor; a
worker killed mid-unit is replaced and the unit retried; worker state is built once per worker."""

import os
from functools import partial
from pathlib import Path

import pytest

from experiments.config import ExecutorConfig
from experiments.executors import run_units


def make_state(tag: str) -> dict:
    return {"tag": tag, "pid": os.getpid()}


def square(state: dict, unit: int) -> tuple[str, int, int]:
    return state["tag"], unit * unit, state["pid"]


def die_once(marker_dir: str, state: dict, unit: int) -> int:
    """Kills its own worker process the first time it sees unit 3, as an OOM kill would."""
    marker = Path(marker_dir) / f"seen-{unit}"
    if unit == 3 and not marker.exists():
        marker.touch()
        os._exit(1)
    return unit + 100


@pytest.mark.parametrize("kind", ["local", "processes"])
def test_every_unit_once_with_its_index(kind):
    results = dict(run_units(ExecutorConfig(kind=kind, workers=2), partial(make_state, "t"), square, range(7)))
    assert sorted(results) == list(range(7))
    assert all(results[i][:2] == ("t", i * i) for i in range(7))
    pids = {r[2] for r in results.values()}
    assert (pids == {os.getpid()}) if kind == "local" else (os.getpid() not in pids and 1 <= len(pids) <= 2)


def test_a_killed_process_worker_is_replaced_and_its_unit_retried(tmp_path):
    results = dict(run_units(ExecutorConfig(kind="processes", workers=2), partial(make_state, "t"), partial(die_once, str(tmp_path)), range(6)))
    assert results == {i: i + 100 for i in range(6)}
    assert (tmp_path / "seen-3").exists()  # it did die once


def test_unknown_kind_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="kind"):
        ExecutorConfig(kind="threads")


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_runs_every_unit_on_actors_built_once(ray_cluster):
    results = dict(run_units(ExecutorConfig(kind="ray", workers=2), partial(make_state, "r"), square, range(9)))
    assert {i: r[:2] for i, r in results.items()} == {i: ("r", i * i) for i in range(9)}
    assert len({r[2] for r in results.values()}) == 2  # two actors, each set up once


def test_ray_retries_a_unit_whose_actor_was_killed(ray_cluster, tmp_path):
    results = dict(run_units(ExecutorConfig(kind="ray", workers=2), partial(make_state, "r"), partial(die_once, str(tmp_path)), range(6)))
    assert results == {i: i + 100 for i in range(6)}
    assert (tmp_path / "seen-3").exists()
