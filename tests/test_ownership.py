"""Ownership of the run folder (issue 19, items 1, 6 and 7): a run deletes, resumes and writes only
in a folder it marked, never through a link or into a FIFO, never inside its own inputs, and a
full disk is one line naming the file, resumable afterwards. Real CIFAKE images, the study's
32 px model."""

import json
import os
import resource
import shutil
import signal
import subprocess
from contextlib import contextmanager

import pandas as pd
import pytest

from experiments.report import build as report
from experiments import run as cli
from experiments.rundir.runfolder import MARKER, RunFolderError, read_marker, remove, write_marker
from tests.test_reliability import error_line
from tests.test_reliability import write_config as reliability_config
from tests.tolerance import assert_frames_match


@pytest.fixture
def images(tmp_path, cifake):
    """Three AI and three human CIFAKE test images in images/{ai,human}/."""
    for truth in ("ai", "human"):
        (tmp_path / "images" / truth).mkdir(parents=True)
        for src in sorted((cifake / "test" / truth).iterdir())[:3]:
            shutil.copy(src, tmp_path / "images" / truth / src.name.replace(" ", "_"))
    return tmp_path / "images"


def write_config(tmp_path, seed_mirror, **overrides):
    """tests/test_reliability.py's small config (the study's 32 px model, one noise edit), run "own"."""
    return reliability_config(tmp_path, seed_mirror, **({"name": "own"} | overrides))


def snapshot(folder):
    """Every entry below `folder` (links not followed) with its bytes, link target or kind."""
    found = {}
    for here, dirs, files in os.walk(folder):
        for name in dirs + files:
            p = os.path.join(here, name)
            if os.path.islink(p):
                found[os.path.relpath(p, folder)] = ("link", os.readlink(p))
            elif os.path.isfile(p):
                found[os.path.relpath(p, folder)] = ("file", open(p, "rb").read())
            else:
                found[os.path.relpath(p, folder)] = ("dir" if os.path.isdir(p) else "other", None)
    return found


@contextmanager
def no_hang(seconds=60):
    """Fail the test, instead of hanging it, when a run blocks (on a FIFO, say)."""

    def hung(*_):
        raise TimeoutError(f"the run blocked for {seconds} s")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def finished(tmp_path, seed_mirror, images):
    """A finished run: (config, run folder)."""
    config = write_config(tmp_path, seed_mirror)
    assert cli.main([str(config)]) == 0
    return config, tmp_path / "results" / "own"


# 2: names -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["..", "."])
def test_name_dot_or_dot_dot_is_refused_and_nothing_is_deleted(tmp_path, seed_mirror, images, capsys, name):
    (tmp_path / "results" / "another-run").mkdir(parents=True)
    (tmp_path / "results" / "another-run" / "scores.csv").write_text("kept")
    config = write_config(tmp_path, seed_mirror, name=name)
    before = snapshot(tmp_path)
    assert cli.main([str(config), "--force"]) == 2
    assert "config.yaml: name: must be one file name" in error_line(capsys)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["a/b", "", "a\x00b", "a\x1bb", "a\n"])
def test_names_that_are_not_one_safe_path_component_are_refused(tmp_path, seed_mirror, images, capsys, name):
    assert cli.main([str(write_config(tmp_path, seed_mirror, name=name))]) == 2
    assert "config.yaml: name: " in error_line(capsys)
    assert not (tmp_path / "results").exists()


# 1: only marked folders are cleared, resumed or cleaned ------------------------------------
@pytest.mark.parametrize("flag", [[], ["--force"], ["--resume"]])
def test_a_folder_that_is_not_a_run_is_refused_with_or_without_force(tmp_path, seed_mirror, images, capsys, flag):
    model = tmp_path / "hf-model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["BertModel"], "model_type": "bert"}))
    (model / "model.safetensors").write_bytes(os.urandom(4096))
    (model / "README.md").write_text("# a model card\n")
    before = snapshot(model)
    assert cli.main([str(write_config(tmp_path, seed_mirror)), "--out", str(model), *flag]) == 2
    err = error_line(capsys)
    assert f"{model}: not empty and not an artxai run folder (no {MARKER}); nothing was touched" in err
    assert snapshot(model) == before  # no lock, no marker, nothing deleted


def test_a_run_folder_an_older_artxai_made_is_refused_until_adopted(finished, capsys):
    config, out = finished
    (out / MARKER).unlink()  # as an artxai older than the marker left it
    before = snapshot(out)
    assert cli.main([str(config), "--resume"]) == 2
    assert f"`python -m experiments.rundir.runfolder adopt {out}` marks it" in error_line(capsys)
    assert snapshot(out) == before
    from experiments.rundir import runfolder

    assert runfolder.main(["adopt", str(out)]) == 0
    assert cli.main([str(config), "--resume"]) == 0
    assert json.loads((out / "manifest.json").read_text())["counts"]["resumed_samples"] == 6


def test_resume_with_another_config_is_refused_even_when_the_snapshot_is_gone(finished, tmp_path, seed_mirror, capsys):
    _, out = finished
    (out / "config.json").unlink()
    other = write_config(tmp_path, seed_mirror, augment={"gaussian_noise": {"std": [0.3]}})
    assert cli.main([str(other), "--resume"]) == 2
    assert "holds a run of a different config" in error_line(capsys)


def test_force_clears_the_run_folder_and_nothing_above_or_beside_it(finished, tmp_path):
    config, out = finished
    first = read_marker(out)["artxai_run"]
    (tmp_path / "results" / "another-run").mkdir()
    (tmp_path / "results" / "another-run" / "scores.csv").write_text("kept")
    (tmp_path / "results" / "notes.txt").write_text("kept")
    (tmp_path / "outside.txt").write_text("kept")
    (out / "junk.txt").write_text("the run's")
    (out / "figures" / "to-sibling").symlink_to(tmp_path / "results" / "another-run", target_is_directory=True)
    (out / "to-outside.txt").symlink_to(tmp_path / "outside.txt")
    beside = {p: snapshot(p) for p in (tmp_path / "images", tmp_path / "results" / "another-run")}
    assert cli.main([str(config), "--force"]) == 0
    assert {p: snapshot(p) for p in beside} == beside
    assert [(tmp_path / p).read_text() for p in ("results/notes.txt", "outside.txt")] == ["kept", "kept"]
    assert not os.path.lexists(out / "junk.txt") and not os.path.lexists(out / "to-outside.txt")
    assert not os.path.lexists(out / "figures" / "to-sibling")  # the link went, not what it led to
    assert sorted(os.listdir(tmp_path / "results")) == ["another-run", "notes.txt", "own"]
    assert read_marker(out)["artxai_run"] != first  # a new run, marked anew


def test_remove_deletes_only_inside_a_marked_folder_and_never_through_a_link(tmp_path):
    run, outside = tmp_path / "run", tmp_path / "outside"
    (run / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "precious.txt").write_text("kept")
    (run / "sub" / "x.txt").write_text("the run's")
    (run / "via").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RunFolderError, match="no .artxai-run.json"):
        remove(run, run / "sub" / "x.txt")
    write_marker(run, "f")
    refused = {
        outside / "precious.txt": "not inside",
        run / ".." / "outside": "not inside",
        run / MARKER: "not inside",
        run: "not inside",
        run / "via" / "precious.txt": "via on the way is not a folder",
    }
    for target, why in refused.items():
        with pytest.raises(RunFolderError, match=why):
            remove(run, target)
    assert (outside / "precious.txt").read_text() == "kept"
    remove(run, run / "via")
    remove(run, run / "sub")
    assert sorted(os.listdir(run)) == [MARKER] and (outside / "precious.txt").read_text() == "kept"


# 4: links and special files in the run folder ---------------------------------------------
@pytest.mark.parametrize("kind", ["symlink", "hard link"])
def test_a_lock_linked_to_a_file_outside_is_refused_and_the_file_unchanged(finished, tmp_path, capsys, kind):
    config, out = finished
    victim = tmp_path / "victim.txt"
    victim.write_text("precious, not a pid")
    (out / ".lock").unlink()
    (out / ".lock").symlink_to(victim) if kind == "symlink" else os.link(victim, out / ".lock")
    for flag in ("--resume", "--force"):
        assert cli.main([str(config), flag]) == 2
        assert f"{out / '.lock'}: cannot be used as the run's lock" in error_line(capsys)
    assert victim.read_text() == "precious, not a pid"
    assert (out / "scores.parquet").is_file()  # --force deleted nothing


@pytest.mark.parametrize("where", [".lock", "part"])
def test_a_fifo_as_the_lock_or_a_part_is_one_line_not_a_hang(finished, capsys, where):
    config, out = finished
    fifo = out / ".lock" if where == ".lock" else sorted((out / "parts").glob("*[0-9a-f].parquet"))[0]
    fifo.unlink()
    os.mkfifo(fifo)
    with no_hang():
        assert cli.main([str(config), "--resume"]) == 2
    err = error_line(capsys)
    assert str(fifo) in err and "not a regular file" in err


def test_parts_that_is_a_file_is_one_line_and_the_tables_are_kept(finished, capsys):
    config, out = finished
    shutil.rmtree(out / "parts")
    (out / "parts").write_text("not a folder")
    scores = (out / "scores.parquet").read_bytes()
    for flags in (["--resume"], []):
        assert cli.main([str(config), *flags]) == 2
        assert "parts: not a folder" in error_line(capsys) if flags else "pass --resume" in error_line(capsys)
    assert (out / "scores.parquet").read_bytes() == scores and (out / "parts").read_text() == "not a folder"


# 5: the run folder and the inputs never overlap --------------------------------------------
def test_a_run_folder_inside_the_samples_folder_is_refused(tmp_path, seed_mirror, images, capsys):
    config = write_config(tmp_path, seed_mirror)
    before = snapshot(images)
    assert cli.main([str(config), "--out", str(images / "run")]) == 2
    assert f"run folder {images / 'run'} lies inside samples.folder {images}" in error_line(capsys)
    assert snapshot(images) == before


def test_samples_inside_the_run_folder_are_refused_before_force_deletes_them(finished, tmp_path, seed_mirror, capsys):
    _, out = finished
    (out / "figures" / "ai").mkdir(parents=True)
    shutil.copy(next((tmp_path / "images" / "ai").iterdir()), out / "figures" / "ai" / "x.jpg")
    before = snapshot(out)
    config = write_config(tmp_path, seed_mirror, samples={"folder": str(out / "figures")})
    assert cli.main([str(config), "--out", str(out), "--force"]) == 2
    assert f"samples.folder {out / 'figures'} lies inside the run folder {out}" in error_line(capsys)
    assert snapshot(out) == before


# 6: a damaged manifest, a full disk ---------------------------------------------------------
@pytest.mark.parametrize("damage", [lambda b: b[: len(b) // 2], lambda b: b"", lambda b: b"{}", lambda b: b"[1, 2]"])
def test_report_regeneration_from_a_damaged_manifest_is_one_line(finished, capsys, damage):
    _, out = finished
    manifest = out / "manifest.json"
    manifest.write_bytes(damage(manifest.read_bytes()))
    assert report.main([str(out)]) == 2
    err = error_line(capsys)
    assert f"{manifest}: " in err and ("not valid JSON" in err or "damaged (no " in err)
    with pytest.raises(RunFolderError):
        report.build_report(out)


@contextmanager
def small_disk(tmp_path, free_bytes, size="1m"):
    """A real full disk: a tmpfs of `size` (1 MiB) mounted under tmp_path (needs root), filled but
    for `free_bytes`; yields (mount point, a function that frees the space)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the file-size-limit case still runs")
    try:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize - free_bytes))
        yield disk, filler.unlink
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


@contextmanager
def file_size_limit(tmp_path, limit):
    """Another real kernel limit: files may not grow past `limit` bytes (RLIMIT_FSIZE; EFBIG)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal that kills
    lifted = []
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield tmp_path, lambda: lifted.append(resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard)))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


@pytest.mark.parametrize("limit", ["full tmpfs", "file size limit"])
def test_a_full_disk_is_one_line_naming_the_file_and_the_run_resumes(tmp_path, seed_mirror, images, capsys, limit):
    config = write_config(tmp_path, seed_mirror)
    assert cli.main([str(config), "--out", str(tmp_path / "whole")]) == 0
    whole = pd.read_parquet(tmp_path / "whole" / "scores.parquet")
    capsys.readouterr()
    disk = small_disk(tmp_path, 96 * 1024) if limit == "full tmpfs" else file_size_limit(tmp_path, 16 * 1024)
    with disk as (where, free):
        out = where / "run"
        assert cli.main([str(config), "--out", str(out)]) == 1
        err = error_line(capsys)
        assert f"error: {out}/" in err and "--resume" in err
        assert ("No space left on device" if limit == "full tmpfs" else "File too large") in err
        assert read_marker(out) is not None and not list(out.rglob("*.tmp"))
        finished_parts = len(list((out / "parts").glob("*.sha256.json")))
        free()
        assert cli.main([str(config), "--out", str(out), "--resume"]) == 0
        assert json.loads((out / "manifest.json").read_text())["counts"]["resumed_samples"] == finished_parts
        assert_frames_match(pd.read_parquet(out / "scores.parquet"), whole, "scores.parquet")
