"""Hostile inputs (issue 19, items 4 to 6): a file Pillow sniffs as DDS and cannot decode, names
that display alike, control and bidi characters in names, FIFOs among inputs, models whose
outputs are not probabilities or whose weights are not finite, an eval set of unreadable files,
spreadsheet formulas in names, and the training progress rate. Real CIFAKE images, real Keras
models saved as .keras files, the study's 32 px model."""

import io
import json
import os
import shutil
import struct
import threading

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from experiments import run as cli
from experiments.stages.audit import score_files
from experiments.inputs.folders import NotRegularFile, read_regular, shown_name
from experiments.inputs.images import DecodePolicy, ImageRejected, decode_image
from experiments.models.architecture import keras, load_keras
from experiments.inputs.samples import Sample
from experiments.models.training import recent_rate
from tests.conftest import MODEL_32
from xai.overlay import overlay_grid
from xai.text import printable


def cifake_copies(cifake, folder, names, split="test"):
    """Real CIFAKE images (AI and human in turn) copied under the given names (str or bytes)."""
    os.makedirs(folder, exist_ok=True)
    ai, human = (sorted((cifake / split / truth).iterdir()) for truth in ("ai", "human"))
    sources = [p for pair in zip(ai, human) for p in pair]
    for name, src in zip(names, sources):
        shutil.copyfile(src, os.path.join(os.fsencode(folder), os.fsencode(name)))
    return folder


def write_config(tmp_path, seed_mirror, **overrides):
    cfg = {
        "name": "hostile", "seed": 3, "out_dir": str(tmp_path / "results"), "bootstrap": 100, "report": "none",
        "assets": {"mirror": str(seed_mirror), "base_url": ""},
        "models": [{"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32, "required": True}],
        "samples": {"folder": "images"}, "augment": {},
    } | overrides  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and err.splitlines()[-1] == lines[0], err
    return lines[0]


def dds_that_pillow_cannot_decode(size=4096) -> bytes:
    """A DDS header (Pillow's DdsImagePlugin takes it by its magic) with a FourCC pixel format
    Pillow does not implement: Image.open raises NotImplementedError, not an OSError."""
    pixel_format = struct.pack("<4I", 32, 0x4, int.from_bytes(b"ZZZZ", "little"), 0)  # size, DDPF_FOURCC, FourCC, bits
    header = struct.pack("<3I", 0x1007, 64, 64) + bytes(56) + pixel_format  # flags, height, width, pitch.. reserved
    data = b"DDS " + struct.pack("<I", 124) + header.ljust(120, b"\0")
    return data + bytes(size - len(data))


# 4. inputs -----------------------------------------------------------------------------------
def test_a_dds_file_pillow_cannot_decode_is_skipped_with_its_reason_and_the_run_goes_on(tmp_path, seed_mirror, cifake):
    data = dds_that_pillow_cannot_decode()
    with pytest.raises(NotImplementedError):  # what Pillow itself does with it
        Image.open(io.BytesIO(data))
    images = cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    (images / "x.jpg").write_bytes(data)
    with pytest.raises(ImageRejected, match="NotImplementedError: Unimplemented pixel format"):
        decode_image(images / "x.jpg")
    assert cli.main([str(write_config(tmp_path, seed_mirror))]) == 0
    out = tmp_path / "results" / "hostile"
    assert sorted(pd.read_parquet(out / "scores.parquet")["sample"]) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    skipped = pd.read_parquet(out / "skipped.parquet").set_index("sample")["reason"].to_dict()
    assert list(skipped) == ["x.jpg"]
    assert "NotImplementedError" in skipped["x.jpg"] and "pixel format" in skipped["x.jpg"]


def test_a_byte_name_and_text_names_that_display_alike_are_distinct_samples(tmp_path, seed_mirror, cifake):
    # the byte é (not UTF-8); a backslash, x, e, 9 (shows as the former did); UTF-8 é
    names = [os.fsdecode(b"caf\xe9.jpg"), "caf\\xe9.jpg", "café.jpg", "plain.jpg"]
    cifake_copies(cifake, tmp_path / "images", names)
    assert len(os.listdir(tmp_path / "images")) == 4
    assert cli.main([str(write_config(tmp_path, seed_mirror))]) == 0
    out = tmp_path / "results" / "hostile"
    scores = pd.read_parquet(out / "scores.parquet")
    assert sorted(scores["sample"]) == sorted(["caf\\xe9.jpg", "caf\\\\xe9.jpg", "café.jpg", "plain.jpg"])
    assert scores["p_ai"].between(0, 1).all() and scores["p_ai"].nunique() == 4  # four images, four scores
    assert "caf\\xe9.jpg" in (out / "scores.csv").read_text(encoding="utf-8")  # the escaped bytes, as text
    assert [shown_name(n) for n in names] == ["caf\\xe9.jpg", "caf\\\\xe9.jpg", "café.jpg", "plain.jpg"]


def test_printable_escapes_control_and_bidi_characters_and_keeps_the_rest():
    assert printable("\rstart.jpg") == "\\rstart.jpg"
    assert printable("evil\u202egpj.exe") == "evil\\u202egpj.exe"
    assert printable("a\nb\tc\x00\x7f\u2028\u200f") == "a\\nb\\tc\\x00\\x7f\\u2028\\u200f"
    assert printable("café – 中文 ✗ 12.jpg") == "café – 中文 ✗ 12.jpg"
    assert printable(printable("\r\u202e")) == printable("\r\u202e")  # escaping twice changes nothing


def test_a_name_starting_with_a_carriage_return_draws_as_an_escape_in_the_grid():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(2)]
    maps = {"random": rng.random((2, 40, 40))}
    picture = overlay_grid(images, maps, ["\runedited", "b\u202e"], title="\rname.jpg (ai) \u202e cnn32", note="\r")
    escaped = overlay_grid(
        images, maps, ["\\runedited", "b\\u202e"], title="\\rname.jpg (ai) \\u202e cnn32", note="\\r"
    )
    assert np.array_equal(np.asarray(picture), np.asarray(escaped))  # drawn as the visible escapes


def test_control_characters_in_names_reach_no_text_layout_in_a_run_with_grids_and_report(tmp_path, seed_mirror, cifake):
    cifake_copies(cifake, tmp_path / "images", ["\rcarriage.jpg", "\u202eright-to-left.jpg", "plain.jpg"])
    explain = {"methods": ["random"], "images": "originals", "sanity": False, "faithfulness_steps": 2}
    augment = {"gaussian_blur": {"sigma": [1.0]}}
    config = write_config(tmp_path, seed_mirror, explain=explain, report="html", augment=augment)
    assert cli.main([str(config)]) == 0
    out = tmp_path / "results" / "hostile"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["samples"] == 3 and manifest["counts"]["skipped"] == 0
    assert len(list((out / "explain" / "grids" / "cnn32").glob("*.png"))) == 3
    pages = "".join(p.read_text(encoding="utf-8") for p in (out / "report" / "subjects").glob("*.html"))
    assert "\\rcarriage" in pages and "\\u202eright-to-left" in pages
    assert "\r" not in pages.replace("\r\n", "\n") and "\u202e" not in pages


def test_a_fifo_among_inputs_is_never_opened(tmp_path, seed_mirror, cifake):
    images = cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg"])
    fifo = images / "pipe.jpg"
    os.mkfifo(fifo)
    wrote = threading.Event()

    def writer():  # blocks until someone opens the FIFO to read: only an old reader would
        try:
            with open(fifo, "wb") as fh:
                fh.write(b"not an image")
                wrote.set()
        except OSError:
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with pytest.raises(NotRegularFile, match="a FIFO"):
            read_regular(fifo)
        with pytest.raises(ImageRejected, match="a FIFO"):
            decode_image(fifo)
        detector = load_keras(seed_mirror / MODEL_32, "cnn32", 32)
        samples = [Sample(n, images / n, n, "original", "ai") for n in ("a.jpg", "pipe.jpg", "b.jpg")]
        scores, skipped = score_files(samples, [detector], DecodePolicy())  # the audit's and eval sets' scorer
        assert list(scores["sample"]) == ["a.jpg", "b.jpg"]
        assert skipped == [{"sample": "pipe.jpg", "reason": "a FIFO, not an image file"}]
        assert not wrote.is_set()  # nobody read from it
    finally:
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # let the writer go (its write fails: no reader)
        thread.join(10)


# 5. model outputs ----------------------------------------------------------------------------
def small_model(head: str, units: int = 2, seed: int = 0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, activation="relu"), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(units, activation=head),
    ])  # fmt: skip


def model_config(tmp_path, seed_mirror, model_path, **model):
    models = [{"name": "m", "input_size": 32, "path": str(model_path), "required": True} | model]
    return write_config(tmp_path, seed_mirror, models=models)


@pytest.mark.parametrize("head", ["linear", "relu", "sigmoid"])
def test_a_two_unit_head_that_is_not_a_softmax_is_refused_in_one_line(tmp_path, seed_mirror, cifake, capsys, head):
    cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg"])
    small_model(head).save(tmp_path / "m.keras")
    assert cli.main([str(model_config(tmp_path, seed_mirror, tmp_path / "m.keras"))]) == 2
    line = one_error_line(capsys)
    assert "models[m]" in line and "outputs are not probabilities" in line and "row sums" in line
    assert "declare output: logits" in line
    assert not (tmp_path / "results").exists()


def test_a_model_with_nan_weights_is_refused_at_load_in_one_line(tmp_path, seed_mirror, cifake, capsys):
    cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg"])
    model = small_model("softmax")
    weights = model.get_weights()
    weights[0][0, 0, 0, :2] = np.nan
    model.set_weights(weights)
    model.save(tmp_path / "m.keras")
    assert cli.main([str(model_config(tmp_path, seed_mirror, tmp_path / "m.keras"))]) == 2
    line = one_error_line(capsys)
    assert "models[m]" in line and "weights are not finite (2 NaN or infinite values in" in line
    assert not (tmp_path / "results").exists()


def test_a_logits_model_declared_as_such_scores_probabilities_and_its_logit_margin(tmp_path, seed_mirror, cifake):
    cifake_copies(cifake, tmp_path / "images", ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    model = small_model("linear")
    model.save(tmp_path / "m.keras")
    assert cli.main([str(model_config(tmp_path, seed_mirror, tmp_path / "m.keras", output="logits"))]) == 0
    scores = pd.read_parquet(tmp_path / "results" / "hostile" / "scores.parquet").sort_values("sample")
    np.testing.assert_allclose(scores["p_ai"] + scores["p_human"], 1.0, atol=1e-6)
    x = np.stack([np.asarray(Image.open(tmp_path / "images" / s), np.float32) / 255 for s in scores["sample"]])  # 32 px
    z = keras.ops.convert_to_numpy(model(x)).astype(np.float64)
    np.testing.assert_allclose(scores["margin"], z[:, 0] - z[:, 1], atol=1e-5)  # the model's own logits
    np.testing.assert_allclose(scores["p_ai"], 1 / (1 + np.exp(-(z[:, 0] - z[:, 1]))), atol=1e-6)


def test_a_one_unit_sigmoid_model_gives_p_of_its_declared_class(tmp_path, cifake):
    model = small_model("sigmoid", units=1)
    model.save(tmp_path / "s.keras")
    x = np.random.default_rng(2).random((5, 32, 32, 3), dtype=np.float32)
    raw = keras.ops.convert_to_numpy(model(x))[:, 0].astype(np.float64)
    for positive, column in (("ai", 0), ("human", 1)):
        p = load_keras(tmp_path / "s.keras", "s", 32, "sigmoid", positive).predict_proba(x)
        np.testing.assert_allclose(p[:, column], raw, atol=1e-6)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)


# 6. eval sets, HTML from the data, progress rates --------------------------------------------
def test_an_eval_set_of_unreadable_files_is_reported_with_n_0_and_the_reason(tmp_path, seed_mirror, cifake):
    cifake_copies(cifake, tmp_path / "images", [f"{i}.jpg" for i in range(6)])
    broken = tmp_path / "broken"
    broken.mkdir()
    for i, src in enumerate(sorted((cifake / "test" / "ai").iterdir())[:3]):
        (broken / f"{i}.jpg").write_bytes(src.read_bytes()[:40])  # truncated real JPEGs
    sets = [{"name": "good"}, {"name": "broken", "samples": {"folder": str(broken)}}]
    assert cli.main([str(write_config(tmp_path, seed_mirror, eval_sets=sets))]) == 0
    table = pd.read_parquet(tmp_path / "results" / "hostile" / "eval_sets.parquet").set_index("set")
    assert list(table.index) == ["good", "broken"]
    assert table.at["good", "n"] == 6 and table.at["good", "note"] == ""
    assert table.at["broken", "n"] == 0 and np.isnan(table.at["broken", "accuracy"])
    assert table.at["broken", "note"].startswith("3 of 3 files not scored (first: 0.jpg: ")


def test_report_tables_are_built_from_the_data_not_from_the_spreadsheet_copies(tmp_path, seed_mirror, cifake):
    names = ["=HYPERLINK(1).jpg", "=HYPERLINK(1) blurred.jpg", "plain.jpg", "plain blurred.jpg"]
    images = cifake_copies(cifake, tmp_path / "images", names)
    rows = [(n, n.split(" blurred")[0].removesuffix(".jpg"), "blur" if "blurred" in n else "original") for n in names]
    pd.DataFrame(rows, columns=["path", "subject", "variant"]).to_csv(images / "manifest.csv", index=False)
    config = write_config(tmp_path, seed_mirror, samples={"manifest": str(images / "manifest.csv")}, report="html")
    assert cli.main([str(config)]) == 0
    out = tmp_path / "results" / "hostile"
    assert "'=HYPERLINK(1)" in (out / "study_table_wide.csv").read_text()
    assert "'=HYPERLINK(1).jpg" in (out / "scores.csv").read_text()
    html = (out / "report" / "index.html").read_text(encoding="utf-8")
    study = html[html.index('<table id="T_study"') :]
    study = study[: study.index("</table>")]
    assert study.count(">=HYPERLINK(1)<") == 2 and "'=HYPERLINK" not in study and "&#39;=HYPERLINK" not in study
    assert "=HYPERLINK(1)" in html and "'=HYPERLINK" not in html and "&#39;=HYPERLINK" not in html


def test_the_progress_rate_comes_from_recent_steps_never_from_an_epochs_first_step():
    # epoch 2 starts at t = 100 s after a slow validation pass; its first step ends at 130 s
    # (the pipeline refilling), then a step every 0.5 s
    assert recent_rate([130.0]) is None  # no whole step measured yet: no rate, no line
    assert recent_rate([130.0, 130.5]) == pytest.approx(2.0)
    assert recent_rate([130.0, 130.5, 131.0, 131.5]) == pytest.approx(3 / 1.5)
    # a slow stretch older than the window no longer counts: steps at 0, 40, then every second
    assert recent_rate([0.0, 40.0, 41.0, 42.0], window_s=30) == pytest.approx(2 / 2)
    # only one step inside the window: the last whole step sets the rate
    assert recent_rate([0.0, 100.0], window_s=30) == pytest.approx(1 / 100)
    # a steady 4 steps/s for 60 s: the last 30 s give 4 steps/s
    ends = [100 + k * 0.25 for k in range(241)]
    assert recent_rate(ends, window_s=30) == pytest.approx(4.0)


def test_output_declarations_are_checked_with_the_config(tmp_path, seed_mirror):
    from experiments.config.fields import ConfigError
    from experiments.config.schema import load_config

    base = {"name": "m", "input_size": 32, "path": str(tmp_path / "m.keras")}
    train = {"dataset": {"root": str(tmp_path)}}
    for model, words in (
        ({"output": "sigmoid"}, "output: sigmoid needs positive: ai or human"),
        ({"output": "logits", "positive": "ai"}, "only it takes one"),
        ({"output": "logits", "train": train}, "a model with a train block is artxai's CNN"),
    ):
        with pytest.raises(ConfigError, match=words):
            load_config(write_config(tmp_path, seed_mirror, models=[base | model]))
    declared = load_config(
        write_config(tmp_path, seed_mirror, models=[base | {"output": "sigmoid", "positive": "human"}])
    )
    assert (declared.models[0].output, declared.models[0].positive) == ("sigmoid", "human")
    plain = load_config(write_config(tmp_path, seed_mirror, models=[base]))
    assert "output" not in plain.model_dump(mode="json")["models"][0]  # configs without it keep their fingerprints
