"""Reliability (issue 13): no bad input stops a run, no run reports what it did not score, and
damaged state is caught. One test per numbered item of the issue, on small synthetic images and
the study's real 32 px model."""

import json
import logging
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from experiments import run as cli
from experiments.stages import scoring as scoring_stage
from experiments.inputs.samples import Sample
from experiments.stages.scoring import driver as scoring_driver
from experiments.config.fields import ConfigError
from experiments.config.schema import load_config
from experiments.rundir.runfolder import write_marker
from tests.conftest import MODEL_32, SAMPLES_DIR
from tests.tolerance import assert_frames_match


def make_images(folder, names, seed=0, size=40):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        pixels = rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)
        path = os.path.join(os.fsencode(folder), os.fsencode(name))  # bytes: any name, even not UTF-8
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Image.fromarray(pixels).save(path, format="JPEG")
    return folder


def write_config(tmp_path, seed_mirror, file="config.yaml", **overrides):
    cfg = {
        "name": "rel",
        "seed": 5,
        "out_dir": str(tmp_path / "results"),
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}],
        "samples": {"folder": "images"},
        "augment": {"gaussian_noise": {"std": [0.1]}},
        "bootstrap": 100,
        "report": "none",
    } | overrides
    path = tmp_path / file
    path.write_text(yaml.safe_dump(cfg))
    return path


def error_line(capsys) -> str:
    """The run's one error line (the last on stderr, after any progress bars)."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("error: ") and sum(line.startswith("error: ") for line in err.splitlines()) == 1, err
    return last


def warnings_with(caplog, text):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


# 1 ------------------------------------------------------------------------------------------
def test_1_file_name_that_is_not_utf8_is_scored_and_shown_escaped(tmp_path, seed_mirror):
    images = make_images(tmp_path / "images", [os.fsdecode(b"\xff\xfe.jpg"), "plain.jpg"])
    assert sorted(os.listdir(os.fsencode(images))) == [b"plain.jpg", b"\xff\xfe.jpg"]
    config = write_config(tmp_path, seed_mirror, report="html")
    out = tmp_path / "results" / "rel"
    assert cli.main([str(config)]) == 0
    scores = pd.read_parquet(out / "scores.parquet")
    assert sorted(scores["sample"].unique()) == ["\\xff\\xfe.jpg", "plain.jpg"]  # the bytes, escaped
    assert len(scores) == 2 * 2 and scores["p_ai"].between(0, 1).all()
    assert "\\xff\\xfe.jpg" in (out / "scores.csv").read_text(encoding="utf-8")
    assert "\\xff\\xfe" in (out / "report" / "index.html").read_text(encoding="utf-8")
    # the resumed run finds the parts under the same names and keeps them
    parts = {p: p.stat().st_mtime_ns for p in (out / "parts").glob("*.parquet")}
    assert len(parts) == 2
    assert cli.main([str(config), "--resume"]) == 0
    assert {p: p.stat().st_mtime_ns for p in parts} == parts
    assert json.loads((out / "manifest.json").read_text())["counts"]["resumed_samples"] == 2


# 2 ------------------------------------------------------------------------------------------
def test_2_a_second_run_into_a_locked_folder_is_refused_with_the_holders_pid(tmp_path, seed_mirror, capsys):
    make_images(tmp_path / "images", ["a.jpg"])
    config = write_config(tmp_path, seed_mirror)
    out = tmp_path / "results" / "rel"
    out.mkdir(parents=True)
    write_marker(out, "the-other-runs-config")  # the other run marked its folder first
    (out / "work-in-progress").write_text("the other run's")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'%d' % os.getpid()); print('locked', flush=True); "
         "time.sleep(60)", str(out / ".lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert cli.main([str(config), "--force"]) == 2
        err = error_line(capsys)
        assert f"is in use by another run (pid {holder.pid})" in err and str(out) in err
        assert (out / "work-in-progress").read_text() == "the other run's"  # --force deleted nothing
    finally:
        holder.kill()
        holder.wait()
    assert cli.main([str(config), "--force"]) == 0  # the lock died with its holder


def test_2_assemble_refuses_to_report_without_every_part(tmp_path, seed_mirror, monkeypatch, capsys):
    make_images(tmp_path / "images", ["a.jpg", "b.jpg", "c.jpg"])
    config = write_config(tmp_path, seed_mirror)
    out = tmp_path / "results" / "rel"
    real = scoring_stage.score_samples

    def another_process_deletes_a_part(cfg, samples, *args):
        result = real(cfg, samples, *args)
        scoring_driver.RunPaths(out).part(samples[1:2]).unlink()
        return result

    monkeypatch.setattr(scoring_stage, "score_samples", another_process_deletes_a_part)
    assert cli.main([str(config)]) == 1
    err = error_line(capsys)
    assert (
        "1 of 3 parts missing or damaged" in err and "its rows are missing (samples b.jpg)" in err and "--resume" in err
    )
    assert not (out / "scores.parquet").exists() and not (out / "manifest.json").exists()
    monkeypatch.setattr(scoring_stage, "score_samples", real)
    assert cli.main([str(config), "--resume"]) == 0
    assert sorted(pd.read_parquet(out / "scores.parquet")["sample"].unique()) == ["a.jpg", "b.jpg", "c.jpg"]


# 3 ------------------------------------------------------------------------------------------
def test_3_a_failed_run_creates_nothing_and_the_corrected_rerun_needs_no_force(tmp_path, seed_mirror, capsys):
    make_images(tmp_path / "images", ["a.jpg", "b.jpg"])
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    out = tmp_path / "results" / "rel"
    bad = {
        "samples folder missing": ({"samples": {"folder": "nowhere"}}, "samples.folder"),
        "manifest missing": ({"samples": {"manifest": "nowhere.csv"}}, "nowhere.csv not found"),
        "unknown variant": (
            {"samples": {"manifest": "study", "from_seed_assets": True, "variants": ["sepia"]}},
            "samples.variants",
        ),
        "model does not load": (
            {"models": [{"name": "m", "input_size": 32, "path": "broken.keras", "required": True}]},
            "broken.keras",
        ),
        "mirror missing": ({"assets": {"mirror": str(tmp_path / "no-mirror"), "base_url": ""}}, "assets.mirror"),
    }
    for case, (override, message) in bad.items():
        assert cli.main([str(write_config(tmp_path, seed_mirror, **override))]) == 2, case
        assert message in error_line(capsys), case
        assert not out.exists(), case
    assert cli.main([str(write_config(tmp_path, seed_mirror))]) == 0  # no --force needed
    # a folder an earlier failed run left (its marker, config and empty parts/, another config) is taken over
    shutil.rmtree(out)
    (out / "parts").mkdir(parents=True)
    write_marker(out, "an-older-config")
    (out / "config.json").write_text(json.dumps({"fingerprint": "an-older-config"}))
    assert cli.main([str(write_config(tmp_path, seed_mirror)), "--resume"]) == 0
    assert len(pd.read_parquet(out / "scores.parquet")) == 4
    # a folder with finished parts is still protected
    assert cli.main([str(write_config(tmp_path, seed_mirror, seed=6))]) == 2
    assert "pass --resume" in error_line(capsys)


# 4 ------------------------------------------------------------------------------------------
def test_4_damaged_resume_state_is_recomputed_with_one_warning_line_each(tmp_path, seed_mirror, caplog):
    make_images(tmp_path / "images", ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"])
    explain = {"methods": ["random"], "images": "originals", "sanity": False, "pictures": False}
    config = write_config(tmp_path, seed_mirror, explain=explain)
    out = tmp_path / "results" / "rel"
    assert cli.main([str(config)]) == 0
    whole = {t: pd.read_parquet(out / f"{t}.parquet") for t in ("scores", "skipped", "explanations")}
    paths = scoring_driver.RunPaths(out)
    samples = sorted(whole["scores"]["sample"].unique())
    part = {s: paths.part([Sample(s, None, "", "", "")]) for s in samples}
    data = part["a.jpg"].read_bytes()
    part["a.jpg"].write_bytes(data[: len(data) // 2])  # truncated
    part["b.jpg"].write_bytes(b"")  # emptied
    altered = pd.read_parquet(part["c.jpg"]).assign(p_ai=0.5)  # a valid file with other values
    altered.to_parquet(part["c.jpg"], index=False)
    part["d.jpg"].with_suffix(".skips.json").write_text("[{")  # broken skip records
    explain_part = sorted((out / "explain" / "parts").glob("*[0-9a-f].parquet"))[0]
    explain_part.write_bytes(explain_part.read_bytes()[:100])  # truncated explanation part

    caplog.clear()
    assert cli.main([str(config), "--resume"]) == 0
    damaged = warnings_with(caplog, "is damaged")
    assert len(damaged) == 5, damaged
    assert sorted(m.split()[1] for m in damaged if m.startswith("part ")) == sorted(
        part[f"{s}.jpg"].name for s in "abcd"
    )
    assert sum(m.startswith("explain cache") for m in damaged) == 1
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["resumed_samples"] == 1  # only e.jpg was intact
    for name, table in whole.items():
        assert_frames_match(pd.read_parquet(out / f"{name}.parquet"), table, f"{name}.parquet")


# 5 ------------------------------------------------------------------------------------------
def test_5_csv_cells_that_would_run_as_formulas_are_neutralised(tmp_path, seed_mirror):
    names = ["=1+2.jpg", "+SUM(1).jpg", "-2.jpg", "@cmd.jpg", "plain.jpg"]
    make_images(tmp_path / "images", names)
    assert cli.main([str(write_config(tmp_path, seed_mirror))]) == 0
    out = tmp_path / "results" / "rel"
    raw = pd.read_parquet(out / "scores.parquet")
    assert sorted(raw["sample"].unique()) == sorted(names)  # parquet keeps the raw value
    csv = pd.read_csv(out / "scores.csv")
    shown = set(csv["sample"]) | set(csv["subject"])
    assert {"'=1+2.jpg", "'+SUM(1).jpg", "'-2.jpg", "'@cmd.jpg", "plain.jpg", "'=1+2", "'-2", "plain"} <= shown
    assert not any(
        str(v).startswith(("=", "+", "-", "@")) for col in csv.select_dtypes(exclude="number") for v in csv[col]
    )
    assert (csv["delta_p_ai"].to_numpy() == raw["delta_p_ai"].to_numpy()).all()  # numbers are numbers


# 6 ------------------------------------------------------------------------------------------
def test_6_a_grid_is_counted_and_capped_before_it_is_expanded(tmp_path, seed_mirror):
    ten = [round(0.05 * i, 2) for i in range(1, 11)]
    at_cap = write_config(
        tmp_path, seed_mirror, augment={"brightness_contrast": {"brightness": ten, "contrast": ten}}, max_variants=101
    )
    assert len(load_config(at_cap).variants()) == 101
    over = write_config(
        tmp_path, seed_mirror, augment={"brightness_contrast": {"brightness": ten, "contrast": ten}}, max_variants=100
    )
    with pytest.raises(ConfigError, match=r"augment: the grid expands to 101 variants, over max_variants \(100\)"):
        load_config(over)
    thousand = [round(-1 + 0.002 * i, 3) for i in range(1000)]
    million = write_config(
        tmp_path, seed_mirror, augment={"brightness_contrast": {"brightness": thousand, "contrast": thousand}}
    )
    with pytest.raises(ConfigError, match=r"1,000,001 variants, over max_variants \(10,000\)"):
        load_config(million)  # refused at once, nothing built


# 7 ------------------------------------------------------------------------------------------
def crafted_models(tmp_path):
    """Three bad .keras files derived from a real one: a class named from module os, a file that
    is not a zip, a broken config.json."""
    from experiments.models.architecture import build_cnn

    build_cnn(32).save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])

    def write(name, replaced):
        with zipfile.ZipFile(tmp_path / name, "w") as z:
            for n, data in (files | replaced).items():
                z.writestr(n, data)

    evil = config | {
        "module": "os",
        "class_name": "system",
        "registered_name": None,
        "config": {"command": f"touch {tmp_path}/ran"},
    }
    write("evil.keras", {"config.json": json.dumps(evil)})
    write("broken_config.keras", {"config.json": "{not json"})
    (tmp_path / "corrupt.keras").write_bytes((tmp_path / "good.keras").read_bytes()[:700])
    return {
        "evil.keras": "TypeError: Could not locate class 'system'",
        "corrupt.keras": "not a .keras archive",
        "broken_config.keras": "its config.json is broken",
    }


def test_7_every_model_load_failure_is_one_line_naming_the_file_and_cause(tmp_path, seed_mirror, capsys, caplog):
    make_images(tmp_path / "images", ["a.jpg"])
    causes = crafted_models(tmp_path)
    optional = [{"name": n.split(".")[0], "input_size": 32, "path": n} for n in causes]
    config = write_config(
        tmp_path, seed_mirror, models=[{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32}, *optional]
    )
    assert cli.main([str(config)]) == 0  # optional models that fail are skipped
    for name, cause in causes.items():
        (line,) = warnings_with(caplog, f"model {name.split('.')[0]} skipped")
        assert str(tmp_path / name) in line and cause in line
    manifest = json.loads((tmp_path / "results" / "rel" / "manifest.json").read_text())
    assert sorted(manifest["models_unavailable"]) == sorted(n.split(".")[0] for n in causes)
    for name, cause in causes.items():
        required = write_config(
            tmp_path, seed_mirror, models=[{"name": "m", "input_size": 32, "path": name, "required": True}]
        )
        assert cli.main([str(required), "--out", str(tmp_path / f"run-{name}")]) == 2
        err = error_line(capsys)
        assert err.startswith(f"error: model m: {tmp_path / name}: ") and cause in err
        assert not (tmp_path / f"run-{name}").exists()
    assert not (tmp_path / "ran").exists()  # nothing in a model file ran


# 8 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case", ["config not utf-8", "manifest in latin-1", "--out is a file", "out_dir cannot be created"]
)
def test_8_unreadable_inputs_are_one_line_and_exit_2(tmp_path, seed_mirror, capsys, case):
    make_images(tmp_path / "images", ["a.jpg"])
    config, args = write_config(tmp_path, seed_mirror), []
    if case == "config not utf-8":
        config.write_bytes(config.read_bytes() + "# r\xe9sum\xe9\n".encode("latin-1"))
        expected = f"{config}: not UTF-8 text (byte 0xe9"
    elif case == "manifest in latin-1":
        (tmp_path / "m.csv").write_bytes("path,subject\nimages/a.jpg,caf\xe9\n".encode("latin-1"))
        config = write_config(tmp_path, seed_mirror, samples={"manifest": "m.csv"})
        expected = f"{tmp_path / 'm.csv'} line 2: not UTF-8 text (byte 0xe9)"
    elif case == "--out is a file":
        (tmp_path / "taken").write_text("a file")
        args, expected = ["--out", str(tmp_path / "taken")], "is a file, not a folder"
    else:
        (tmp_path / "plain").write_text("a file")
        config = write_config(tmp_path, seed_mirror, out_dir=str(tmp_path / "plain" / "results"))
        expected = f"run folder {tmp_path / 'plain' / 'results' / 'rel'}: cannot be created"
    assert cli.main([str(config), *args]) == 2
    assert expected in error_line(capsys)


# 9 ------------------------------------------------------------------------------------------
def test_9_messages_say_the_cause(tmp_path, seed_mirror, capsys):
    make_images(tmp_path / "images", ["a.jpg"])
    (tmp_path / "only.keras").write_bytes(b"\x00" * 64)
    only = write_config(tmp_path, seed_mirror, models=[{"name": "only", "input_size": 32, "path": "only.keras"}])
    assert cli.main([str(only)]) == 2
    err = error_line(capsys)
    assert "no model could be loaded: model only: " in err and f"{tmp_path / 'only.keras'}: not a .keras archive" in err
    nan = write_config(tmp_path, seed_mirror)
    nan.write_text(nan.read_text().replace("std:\n    - 0.1", "std:\n    - .nan"))
    assert cli.main([str(nan)]) == 2
    assert "augment.gaussian_noise.std[0]: Input should be a finite number" in error_line(capsys)


# 10 -----------------------------------------------------------------------------------------
def test_10_resume_clears_what_killed_atomic_writes_left(tmp_path, seed_mirror):
    make_images(tmp_path / "images", ["a.jpg", "b.jpg"])
    config = write_config(tmp_path, seed_mirror)
    out = tmp_path / "results" / "rel"
    assert cli.main([str(config)]) == 0
    leftovers = [
        out / ".scores.parquet.k2j4.tmp",
        out / "parts" / ".0123456789abcdef.parquet.x1.tmp",
        out / "models" / ".cnn32.model_card.json.q.tmp",
    ]
    for p in leftovers:
        p.write_bytes(b"half a file")
    assert cli.main([str(config), "--resume"]) == 0
    assert not list(out.rglob("*.tmp"))


# 11 -----------------------------------------------------------------------------------------
def test_11_a_tampered_study_file_is_an_asset_error_unless_partial_runs_are_allowed(tmp_path, seed_mirror, capsys):
    names = ["mona lisa_blur.JPG", "ai_oil_painting_blur.jpg", "ai_oil_painting_color_manipulation.jpg"]
    mirror = tmp_path / "mirror"
    for rel in [MODEL_32, *(f"{SAMPLES_DIR}/{n}" for n in names)]:
        (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(seed_mirror / rel, mirror / rel)
    tampered = mirror / SAMPLES_DIR / names[1]
    tampered.write_bytes(tampered.read_bytes() + b"\x00")
    pd.DataFrame({"path": [f"{SAMPLES_DIR}/{n}" for n in names]}).to_csv(tmp_path / "study.csv", index=False)
    samples = {"manifest": "study.csv", "from_seed_assets": True}
    strict = write_config(tmp_path, seed_mirror, assets={"mirror": str(mirror), "base_url": ""}, samples=samples)
    assert cli.main([str(strict)]) == 2
    err = error_line(capsys)
    assert f"{tampered}: content does not match" in err and "1 of 3 study files unavailable" in err
    assert not (tmp_path / "results").exists()
    partial = write_config(
        tmp_path, seed_mirror, assets={"mirror": str(mirror), "base_url": ""}, samples=samples | {"allow_missing": True}
    )
    assert cli.main([str(partial)]) == 0
    skipped = pd.read_parquet(tmp_path / "results" / "rel" / "skipped.parquet")
    assert (
        skipped["sample"].tolist() == [f"{SAMPLES_DIR}/{names[1]}"] and "content does not match" in skipped["reason"][0]
    )
    assert pd.read_parquet(tmp_path / "results" / "rel" / "scores.parquet")["sample"].nunique() == 2


# 12 -----------------------------------------------------------------------------------------
def test_12_links_are_not_followed_and_odd_entries_are_skipped_with_reasons(tmp_path, seed_mirror):
    images = make_images(tmp_path / "images", ["real.jpg", "dir.jpg/inner.jpg"])
    make_images(tmp_path / "outside", ["secret.jpg"], seed=1)
    (images / "outside.jpg").symlink_to(tmp_path / "outside" / "secret.jpg")
    (images / "outside_folder").symlink_to(tmp_path / "outside")
    (images / "passwd.png").symlink_to("/etc/passwd")
    (images / "loop.jpg").symlink_to(images / "loop.jpg")
    (images / "up").symlink_to(images)
    os.mkfifo(images / "fifo.jpg")
    out = tmp_path / "results" / "rel"

    assert cli.main([str(write_config(tmp_path, seed_mirror))]) == 0
    scored = set(pd.read_parquet(out / "scores.parquet")["sample"])
    assert scored == {"real.jpg", "dir.jpg/inner.jpg"}
    reasons = pd.read_parquet(out / "skipped.parquet").set_index("sample")["reason"].to_dict()
    not_followed = "symbolic link, not followed (samples.follow_symlinks is false)"
    assert reasons == {
        "outside.jpg": not_followed, "outside_folder": not_followed, "passwd.png": not_followed,
        "loop.jpg": not_followed,
        "up": not_followed, "fifo.jpg": "a FIFO, not an image file", "dir.jpg": "a folder, not an image file",
    }  # fmt: skip

    follow = write_config(tmp_path, seed_mirror, samples={"folder": "images", "follow_symlinks": True})
    assert cli.main([str(follow), "--out", str(tmp_path / "followed")]) == 0
    scored = set(pd.read_parquet(tmp_path / "followed" / "scores.parquet")["sample"])
    assert scored == {"real.jpg", "dir.jpg/inner.jpg", "outside.jpg", "outside_folder/secret.jpg"}
    reasons = pd.read_parquet(tmp_path / "followed" / "skipped.parquet").set_index("sample")["reason"].to_dict()
    assert reasons["loop.jpg"] == "symbolic link loop" and reasons["up"].startswith("symbolic link loop")
    assert reasons["fifo.jpg"] == "a FIFO, not an image file" and reasons["passwd.png"].startswith("not an image")
