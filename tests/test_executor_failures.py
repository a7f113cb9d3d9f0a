"""Executors that fail in one line: a Ray cluster that cannot be used is refused before the run
folder exists; Ctrl-C and SIGTERM end a run with one line and exit 130 / 143, its finished parts
kept for --resume; a worker death past max_retries is one line, exit 1; and no process the run
started outlives it: after SIGKILL or SIGTERM of the driver its children are gone within 10 s.

Drivers run as subprocesses whose environment holds a unique ARTXAI_TEST_TAG: every process they
start inherits it, so their children are found (psutil) even after they were orphaned."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
import yaml

from experiments import run as cli
from experiments.stages.scoring import driver as scoring_driver
from experiments.config.sections import ExecutorConfig
from tests.conftest import MODEL_32, REPO
from tests.tolerance import assert_frames_match

TAG = "ARTXAI_TEST_TAG"
MESSAGE = "interrupted; --resume continues"  # the one line (experiments.execution.interrupts.MESSAGE)
GONE_WITHIN_S = 10


def write_config(folder: Path, cifake: Path, seed_mirror: Path, per_class: int, part_size: int, **executor) -> Path:
    """Real CIFAKE test images, the study's 32 px model, a three-edit grid."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {
        "name": "x", "seed": 4, "out_dir": str(folder / "results"), "report": "none", "part_size": part_size,
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
        "samples": {"dataset": {"root": str(cifake), "layout": "generic", "limit_per_class": per_class},
                    "split": "test"},
        "augment": {"gaussian_noise": {"std": [0.05, 0.1]}, "jpeg": {"quality": 30}},
        "executor": {"workers": 2} | executor,
    }  # fmt: skip
    path = folder / f"x_{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def tagged(tag: str) -> list[psutil.Process]:
    """Live (not zombie) processes whose environment holds TAG=tag."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(TAG) == tag and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def default_sigint() -> None:
    """In the driver before it starts: Ctrl-C as a terminal delivers it. A test runner started in
    the background by a shell without job control (as CI may be) ignores SIGINT, and a Python
    started with SIGINT ignored keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Driver:
    """`python -m experiments.run` in a session of its own, its descendants tagged."""

    def __init__(self, config: Path, out: Path, *args: str, env: dict | None = None):
        self.tag, self.out = uuid.uuid4().hex, out
        self.stderr = out.parent / f"{out.name}.stderr"
        environ = os.environ | {TAG: self.tag, "PYTHONPATH": str(REPO)} | (env or {})
        with open(self.stderr, "w") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "experiments.run", str(config), "--out", str(out), *args],
                env=environ, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True, cwd=REPO,
                preexec_fn=default_sigint,
            )  # fmt: skip

    def wait_for_a_part(self, stop: bool = False) -> None:
        """Until the run has finished a part; `stop`: then stop its process group at once (SIGSTOP),
        so a loaded machine cannot let it finish before the test's signal arrives."""
        while not any((self.out / "parts").glob("*.sha256.json")):
            assert self.process.poll() is None, (
                f"the run ended before a part was written:\n{self.stderr.read_text()[-3000:]}"
            )
            time.sleep(0.01)
        if stop:
            os.killpg(self.process.pid, signal.SIGSTOP)

    def children(self) -> list[psutil.Process]:
        return [p for p in tagged(self.tag) if p.pid != self.process.pid]

    def kill(self, signum: int, group: bool = False) -> int:
        (os.killpg if group else os.kill)(self.process.pid, signum)
        try:
            os.killpg(self.process.pid, signal.SIGCONT)  # a stopped group takes the signal as it goes on
        except ProcessLookupError:
            pass  # nobody of the group is left
        return self.wait(120)

    def wait(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"the run did not end in {timeout} s:\n{self.stderr.read_text()[-3000:]}")

    def lines(self) -> list[str]:
        """stderr's lines, progress-bar redraws split off."""
        return [line.strip() for line in self.stderr.read_text().replace("\r", "\n").splitlines() if line.strip()]

    def left(self) -> list[psutil.Process]:
        """Its processes still alive GONE_WITHIN_S after it ended."""
        deadline = time.monotonic() + GONE_WITHIN_S
        while (alive := tagged(self.tag)) and time.monotonic() < deadline:
            time.sleep(0.2)
        return alive

    def clean_up(self) -> None:
        for process in tagged(self.tag):  # what a failing test left behind
            process.kill()


@pytest.fixture
def drivers():
    started: list[Driver] = []
    yield lambda *a, **k: started.append(Driver(*a, **k)) or started[-1]
    for driver in started:
        if driver.process.poll() is None:
            driver.process.kill()
        driver.clean_up()


def assert_one_line(driver: Driver, line: str) -> None:
    lines = driver.lines()
    assert not [x for x in lines if "Traceback" in x or "KeyboardInterrupt" in x], lines[-20:]
    assert lines[-1] == line and sum(x == line for x in lines) == 1, lines[-5:]


def scores_of(run_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "scores.parquet")


# ---- processes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_processes_workers_and_resource_tracker_end_with_their_driver(tmp_path, cifake, seed_mirror, drivers, signum):
    config = write_config(tmp_path, cifake, seed_mirror, per_class=100, part_size=5, kind="processes")
    driver = drivers(config, tmp_path / "run")
    driver.wait_for_a_part(stop=True)
    children = driver.children()
    names = [" ".join(p.cmdline()) for p in children]
    assert len(children) >= 3 and any("resource_tracker" in n for n in names), names  # 2 workers and the tracker
    status = driver.kill(signum)
    assert driver.left() == []
    if signum == signal.SIGTERM:
        assert status == 143, driver.stderr.read_text()[-3000:]
        assert_one_line(driver, MESSAGE)
        assert any((tmp_path / "run" / "parts").glob("*.sha256.json"))  # kept for --resume


def die_in_worker(state, unit):
    """In place of the runner's unit: its worker process dies, as an OOM kill would have it."""
    os._exit(1)


def test_a_worker_death_past_max_retries_is_one_line_exit_1(tmp_path, cifake, seed_mirror, monkeypatch, capsys):
    config = write_config(
        tmp_path, cifake, seed_mirror, per_class=2, part_size=2, kind="processes", workers=1, max_retries=0
    )
    monkeypatch.setattr(scoring_driver, "score_part", die_in_worker)
    assert cli.main([str(config), "--out", str(tmp_path / "run")]) == 1
    errors = [x for x in capsys.readouterr().err.replace("\r", "\n").splitlines() if x.strip()]
    assert not [x for x in errors if "Traceback" in x], errors
    assert errors[-1].startswith(
        "error: executor processes: a worker died 1 time(s), more than max_retries (0) allows; 2 unit(s) not done"
    )
    assert errors[-1].endswith("--resume continues") and sum(x.startswith("error:") for x in errors) == 1


# ---- local -------------------------------------------------------------------------------------


class SignalsWhileNumpyConverts:
    """`np.dtype(object) == this` makes numpy read `.dtype`, which sends `signum` to this process
    and runs until the run's handler has raised: numpy clears that exception (as it cleared a
    SIGTERM inside pandas' to_parquet, and the run went on to exit 0)."""

    def __init__(self, signum: int):
        self.signum = signum

    @property
    def dtype(self):
        from experiments.execution import interrupts

        assert signal.getsignal(self.signum) is interrupts._raise_interrupt  # never the test runner's own
        os.kill(os.getpid(), self.signum)
        deadline = time.monotonic() + 5
        while not interrupts._taken and time.monotonic() < deadline:
            pass  # the handler runs between these bytecodes and raises here
        raise AssertionError("the handler did not run")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupt_whose_exception_c_code_dropped_still_stops_the_run(
    tmp_path, cifake, seed_mirror, monkeypatch, capsys, signum
):
    config = write_config(tmp_path, cifake, seed_mirror, per_class=10, part_size=2, kind="local")
    written = []

    def write_part(*args, **kwargs):
        if not written:
            assert not (np.dtype(object) == SignalsWhileNumpyConverts(signum))  # the exception is gone here
        written.append(scoring_driver_write_part(*args, **kwargs))

    scoring_driver_write_part = scoring_driver.write_part
    monkeypatch.setattr(scoring_driver, "write_part", write_part)
    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal starts it
    try:
        status = cli.main([str(config), "--out", str(tmp_path / "run")])
    finally:
        signal.signal(signal.SIGINT, before)
    assert status == 128 + signum
    lines = [x for x in capsys.readouterr().err.replace("\r", "\n").splitlines() if x.strip()]
    assert lines[-1] == MESSAGE and not [x for x in lines if "Traceback" in x], lines[-5:]
    assert len(written) == 1  # stopped as the first part came back, not after all 10
    assert len(list((tmp_path / "run" / "parts").glob("*.sha256.json"))) == 1
    assert not (tmp_path / "run" / "scores.parquet").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the run's handlers are gone with it


def test_ctrl_c_is_one_line_exit_130_and_resume_gives_the_straight_runs_tables(tmp_path, cifake, seed_mirror, drivers):
    config = write_config(tmp_path, cifake, seed_mirror, per_class=100, part_size=5, kind="local")
    driver = drivers(config, tmp_path / "run")
    driver.wait_for_a_part(stop=True)
    assert driver.kill(signal.SIGINT, group=True) == 130  # as a terminal's Ctrl-C: the whole process group
    assert_one_line(driver, MESSAGE)
    assert driver.left() == []
    parts = len(list((tmp_path / "run" / "parts").glob("*.sha256.json")))
    assert parts >= 1
    assert cli.main([str(config), "--out", str(tmp_path / "run"), "--resume"]) == 0
    assert cli.main([str(config), "--out", str(tmp_path / "straight")]) == 0
    resumed, straight = scores_of(tmp_path / "run"), scores_of(tmp_path / "straight")
    assert len(straight) == 200 * 4
    assert_frames_match(resumed, straight, "scores.parquet")
    for name in ("summary", "evaluation_metrics", "robustness_metrics"):
        assert_frames_match(
            pd.read_parquet(tmp_path / "run" / f"{name}.parquet"),
            pd.read_parquet(tmp_path / "straight" / f"{name}.parquet"),
            f"{name}.parquet",
        )


# ---- ray: refused before the run folder exists ---------------------------------------------------


def test_fit_counts_workers_per_node_and_names_the_missing_resource():
    from experiments.execution.raycluster import ClusterUnavailable, check_fits, workers_that_fit

    nodes = [
        {"Alive": True, "Resources": {"CPU": 2.0}},
        {"Alive": True, "Resources": {"CPU": 1.0, "GPU": 1.0}},
        {"Alive": False, "Resources": {"CPU": 64.0}},
    ]
    assert (
        workers_that_fit(nodes, 1, 0) == 3
        and workers_that_fit(nodes, 0.1, 0) == 30
        and workers_that_fit(nodes, 1, 0.5) == 1
    )
    with pytest.raises(
        ClusterUnavailable,
        match=r"^executor.num_cpus: a worker needs 64 CPU\(s\) on one node, but here has 2 CPU\(s\) at most",
    ):
        check_fits(ExecutorConfig(kind="ray", num_cpus=64), nodes, "here")
    with pytest.raises(ClusterUnavailable, match=r"^executor.num_gpus: a worker needs 2 GPU\(s\)"):
        check_fits(ExecutorConfig(kind="ray", num_gpus=2), nodes, "here")
    with pytest.raises(ClusterUnavailable, match=r"^executor.num_cpus: a worker needs 2 CPU\(s\) and 1 GPU\(s\)"):
        check_fits(ExecutorConfig(kind="ray", num_cpus=2, num_gpus=1), nodes, "here")


@pytest.fixture
def no_ray_on_host(monkeypatch):
    """Ray's record of the last `ray start` in a folder of this test's own (RAY_TMPDIR)."""
    pytest.importorskip("ray") if not os.environ.get("CI") else None
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live under it
    monkeypatch.setenv("RAY_TMPDIR", folder)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("address", ["127.0.0.1:1", "10.255.255.1:6379", "auto"])
def test_a_ray_cluster_that_cannot_be_reached_is_one_line_exit_2_and_no_folder(
    tmp_path, cifake, seed_mirror, no_ray_on_host, capsys, address
):
    """A closed port; an address that may answer TCP but is no Ray (or drops packets); `auto`
    with no cluster started on this host."""
    config = write_config(tmp_path, cifake, seed_mirror, per_class=2, part_size=2, kind="ray", address=address)
    started = time.monotonic()
    assert cli.main([str(config), "--out", str(tmp_path / "run")]) == 2
    assert time.monotonic() - started < 30  # not Ray's minutes of retries
    errors = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: executor.address: ") and address in errors[0], errors
    assert not (tmp_path / "run").exists()


def test_gpus_the_cluster_lacks_are_one_line_exit_2_no_folder_no_process_left(
    tmp_path, cifake, seed_mirror, drivers, no_ray_on_host
):
    if shutil.which("nvidia-smi"):
        pytest.skip("this host may have a GPU")
    config = write_config(tmp_path, cifake, seed_mirror, per_class=2, part_size=2, kind="ray", num_gpus=1)
    driver = drivers(config, tmp_path / "run")
    assert driver.wait(300) == 2
    assert driver.lines()[-1].startswith("error: executor.num_gpus: a worker needs 1 GPU(s) on one node, but this host")
    assert not (tmp_path / "run").exists()
    assert driver.left() == []


# ---- ray: a private cluster, never an unrelated one, ended with its driver ---------------------


@pytest.fixture(scope="module")
def unrelated_cluster():
    """A Ray cluster started on this host with `ray start --head`, that the runs must not join;
    its RAY_TMPDIR is theirs, so Ray's own lookup of "the cluster on this host" finds it."""
    pytest.importorskip("ray") if not os.environ.get("CI") else None
    folder, tag = tempfile.mkdtemp(prefix="ray", dir="/tmp"), uuid.uuid4().hex
    env = os.environ | {"RAY_TMPDIR": folder, TAG: tag}
    env.pop("RAY_ADDRESS", None)
    ray_cli = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--num-cpus=1", "--include-dashboard=false", "--block", "--port=0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    address_file = Path(folder) / "ray" / "ray_current_cluster"
    deadline = time.monotonic() + 180
    while not address_file.is_file() and time.monotonic() < deadline and head.poll() is None:
        time.sleep(0.5)
    assert address_file.is_file(), "ray start --head did not start"
    yield folder
    os.killpg(head.pid, signal.SIGKILL)  # never `ray stop`: it would stop every Ray on the host
    head.wait()
    for process in tagged(tag):  # what left its process group
        process.kill()
    shutil.rmtree(folder, ignore_errors=True)


def test_a_run_with_no_address_starts_its_own_cluster_beside_an_unrelated_one(
    tmp_path, cifake, seed_mirror, drivers, unrelated_cluster
):
    config = write_config(tmp_path, cifake, seed_mirror, per_class=6, part_size=3, kind="ray")
    driver = drivers(config, tmp_path / "run", env={"RAY_TMPDIR": unrelated_cluster})
    assert driver.wait(400) == 0, driver.lines()[-5:]
    assert len(scores_of(tmp_path / "run")) == 12 * 4
    assert driver.left() == []


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_private_ray_cluster_ends_with_its_driver(tmp_path, cifake, seed_mirror, drivers, unrelated_cluster, signum):
    config = write_config(tmp_path, cifake, seed_mirror, per_class=100, part_size=5, kind="ray")
    driver = drivers(config, tmp_path / "run", env={"RAY_TMPDIR": unrelated_cluster})
    driver.wait_for_a_part()
    names = {p.name() for p in driver.children()}
    assert {"gcs_server", "raylet"} <= names, names
    status = driver.kill(signum)
    assert driver.left() == []
    if signum == signal.SIGTERM:
        assert status == 143, driver.stderr.read_text()[-3000:]
        assert_one_line(driver, MESSAGE)
