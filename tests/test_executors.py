"""The executors: every unit runs once and comes back with its index, whatever the executor; a
worker killed mid-unit is replaced and the unit retried; worker state is built once per worker."""

import os
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from experiments.config.sections import ExecutorConfig
from experiments.execution.executors import run_units
from tests.tolerance import assert_frames_match


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
    results = dict(
        run_units(
            ExecutorConfig(kind="processes", workers=2),
            partial(make_state, "t"),
            partial(die_once, str(tmp_path)),
            range(6),
        )
    )
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
    results = dict(
        run_units(
            ExecutorConfig(kind="ray", workers=2), partial(make_state, "r"), partial(die_once, str(tmp_path)), range(6)
        )
    )
    assert results == {i: i + 100 for i in range(6)}
    assert (tmp_path / "seen-3").exists()


# ---- the runner on every executor ---------------------------------------------------------------

RUN_GRID = {"gaussian_noise": {"std": 0.1}, "occlusion": {"area": 0.1, "colour": "red"}}


def die_on_first_part(marker_dir: str, work, state, unit):
    """The runner's own unit of work, but the first worker to start a part dies mid-part."""
    marker = Path(marker_dir) / "died"
    if not marker.exists():
        marker.touch()
        os._exit(1)
    return work(state, unit)


@pytest.fixture(scope="module")
def cifake_run_config(tmp_path_factory, seed_mirror, cifake):
    import yaml

    from tests.conftest import MODEL_32

    tmp = tmp_path_factory.mktemp("executors")
    cfg = {
        "name": "ex", "seed": 5, "out_dir": str(tmp / "results"), "report": "none", "part_size": 4,
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
        "samples": {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": 11}, "split": "test"},
        "augment": RUN_GRID,
        "explain": EXPLAIN,
    }  # fmt: skip
    (tmp / "ex.yaml").write_text(yaml.safe_dump(cfg))
    return tmp / "ex.yaml"


# explanation units: 3 samples (more than the 2 workers), every kind of method, sanity on
EXPLAIN = {
    "methods": ["gradcam", "smoothgrad", "lime", "random"],
    "max_samples": 3,
    "top_k": 1,
    "lime_samples": 40,
    "faithfulness_steps": 4,
    "display_size": 64,
}
EXPLAIN_TABLES = ("explanations", "explanation_sanity", "explanation_summary", "explanation_vs_random")


def tables_of(run_dir):
    names = ("scores", "summary", "robustness_metrics", "evaluation_metrics", *EXPLAIN_TABLES)
    return {t: pd.read_parquet(run_dir / f"{t}.parquet") for t in names}


@pytest.fixture(scope="module")
def local_tables(cifake_run_config):
    from experiments import run as cli

    out = cifake_run_config.parent / "local"
    assert cli.main([str(cifake_run_config), "--out", str(out)]) == 0
    tables = tables_of(out)
    assert len(tables["scores"]) == 22 * 3 and tables["scores"]["sample"].nunique() == 22  # 6 parts, the last short
    explained = tables["explanations"]
    assert explained["sample"].nunique() == 3 and len(explained) == 3 * 2 * 4  # unedited + top edit, 4 methods
    assert len(tables["explanation_sanity"]) > 0 and explained["deletion_auc"].notna().all()
    return tables


@pytest.mark.parametrize("kind", ["processes", "ray"])
def test_the_runner_gives_identical_tables_on_every_executor(cifake_run_config, local_tables, kind, request):
    from experiments import run as cli

    if kind == "ray":
        request.getfixturevalue("ray_cluster")
    out = cifake_run_config.parent / kind
    assert cli.main([str(cifake_run_config), "--out", str(out), "--executor", kind]) == 0
    for name, table in tables_of(out).items():
        assert_frames_match(table, local_tables[name], f"{name}.parquet")


@pytest.mark.parametrize("kind", ["processes", "ray"])
def test_a_worker_killed_mid_part_changes_no_table(cifake_run_config, local_tables, kind, request, tmp_path):
    from experiments.preflight import preflight
    from experiments.stages.scoring import driver as scoring_driver
    from experiments.config.schema import load_config
    from experiments.context import Timings

    if kind == "ray":
        request.getfixturevalue("ray_cluster")
    cfg = load_config(cifake_run_config)
    cfg = cfg.model_copy(update={"executor": cfg.executor.model_copy(update={"kind": kind, "workers": 2})})
    samples, detectors, _ = preflight(cfg, scoring_driver.RunPaths(tmp_path / "run"), False, False, False)
    paths = scoring_driver.RunPaths(tmp_path / "run")
    paths.parts.mkdir(parents=True)
    work = partial(die_on_first_part, str(tmp_path), scoring_driver.score_part)
    scoring_driver.score_samples(cfg, samples, cfg.variants(), detectors, paths, Timings(), work=work)
    assert (tmp_path / "died").exists()
    scores = scoring_driver.assemble(samples, paths, cfg.part_size)
    assert_frames_match(scores, local_tables["scores"], "scores.parquet")


@pytest.mark.parametrize("kind", ["processes", "ray"])
def test_an_explanation_worker_killed_mid_unit_changes_no_table(
    cifake_run_config, local_tables, kind, request, tmp_path
):
    """The run's explanation units on an executor whose first worker dies mid-unit: the unit
    is retried, and the explanation tables equal the local run's."""
    from experiments.inputs.images import decode_policy
    from experiments.preflight import preflight
    from experiments.stages.scoring import driver as scoring_driver
    from experiments.config.schema import load_config
    from experiments.stages.explanations import explain_sample, run_explanations
    from experiments.context import Timings

    if kind == "ray":
        request.getfixturevalue("ray_cluster")
    cfg = load_config(cifake_run_config)
    cfg = cfg.model_copy(update={"executor": cfg.executor.model_copy(update={"kind": kind, "workers": 2})})
    samples, detectors, _ = preflight(cfg, scoring_driver.RunPaths(tmp_path / "run"), False, False, False)
    work = partial(die_on_first_part, str(tmp_path), explain_sample)
    tables = run_explanations(
        cfg.explain,
        cfg.seed,
        samples,
        cfg.variants(),
        detectors,
        local_tables["scores"],
        tmp_path / "run",
        decode_policy(cfg),
        Timings(),
        cfg.bootstrap,
        cfg.executor,
        work=work,
    )
    assert (tmp_path / "died").exists()
    for name in EXPLAIN_TABLES:
        assert_frames_match(tables[name].reset_index(drop=True), local_tables[name], f"{name}.parquet")


def test_the_ray_executor_scores_an_onnx_detector_as_the_local_one(tmp_path, seed_mirror, ray_cluster):
    """Ray's workers reopen the detector from its recipe (experiments.models.backends.reopen): the
    study's cnn32 exported to ONNX (tests.onnx_graphs), scored with one edit."""
    import yaml

    from experiments import run as cli
    from tests.onnx_graphs import export_cnn32

    cnn32_onnx = export_cnn32(seed_mirror, tmp_path / "cnn32.onnx")
    nhwc = {"size": 32, "layout": "nhwc", "resize": "nearest"}
    cfg = {
        "name": "onnx", "seed": 3, "report": "none", "part_size": 16,
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32_onnx", "kind": "onnx", "path": str(cnn32_onnx), "input": nhwc, "required": True}],
        "samples": {"manifest": "study", "from_seed_assets": True}, "augment": {"jpeg": {"quality": [40, 20]}},
    }  # fmt: skip
    config = tmp_path / "onnx.yaml"
    config.write_text(yaml.safe_dump(cfg))
    assert cli.main([str(config), "--out", str(tmp_path / "local")]) == 0
    assert cli.main([str(config), "--out", str(tmp_path / "ray"), "--executor", "ray"]) == 0
    local, on_ray = (pd.read_parquet(tmp_path / where / "scores.parquet") for where in ("local", "ray"))
    assert len(local) == 66 * 3
    assert_frames_match(on_ray, local, "scores")
