"""The onnx backend on real graphs: the study's cnn32 exported by Keras 3 (tf2onnx) scores as the
Keras model does, through the whole study; classifiers built with onnx.helper cover NCHW, logits
with another class order, and sigmoid of `positive: human`; wrong files are one line, exit 2,
nothing created."""

import json

import numpy as np
import onnx
import pandas as pd
import pytest
import yaml
from onnx import numpy_helper

from experiments import run as cli
from experiments.inputs.images import decode_image
from experiments.models.detector import InputSpec, ModelLoadError, batch_dependence
from experiments.models.onnx_detector import Normalisation, load_onnx
from tests.conftest import MODEL_32, SAMPLES_DIR
from tests.onnx_graphs import batch_dependent_classifier, export_cnn32, pooled_classifier, pooled_reference
from tests.tolerance import assert_frames_match

CNN32_INPUT = {"size": 32, "layout": "nhwc", "resize": "nearest", "crop": "none"}


@pytest.fixture(scope="session")
def cnn32_onnx(tmp_path_factory, seed_mirror):
    return export_cnn32(seed_mirror, tmp_path_factory.mktemp("onnx") / "cnn32.onnx")


def study_pictures(seed_mirror, size=32, n=12):
    names = sorted((seed_mirror / SAMPLES_DIR).iterdir())[:n]
    return np.stack([InputSpec(size).prepare(decode_image(p).pixels) for p in names]).astype(np.float32) / 255.0


def test_the_exported_cnn32_gives_the_keras_probabilities_and_margins(cnn32_onnx, cnn32, seed_mirror):
    x = study_pictures(seed_mirror)
    onnx_detector = load_onnx(cnn32_onnx, "cnn32_onnx", InputSpec(32), Normalisation(layout="nhwc"))
    p, margin = onnx_detector.predict_proba_and_margin(x, batch_size=5)
    p_keras, margin_keras = cnn32.predict_proba_and_margin(x, batch_size=5)
    np.testing.assert_allclose(p, p_keras, atol=1e-6)
    # a softmax graph gives probabilities only: its margin is their log-ratio, Keras's the logit difference
    np.testing.assert_allclose(margin, margin_keras, atol=1e-4)
    assert not onnx_detector.one_per_call and batch_dependence(onnx_detector) < 1e-6
    assert onnx_detector.metadata()["kind"] == "onnx" and onnx_detector.metadata()["params"] == cnn32.parameter_count()


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_a_logits_graph_with_human_first_gives_its_softmax_and_logit_margin(tmp_path, seed_mirror, layout):
    rng = np.random.default_rng(1)
    weights, bias = rng.normal(size=(3, 2)) * 4, rng.normal(size=2)
    path = pooled_classifier(tmp_path / "m.onnx", 48, weights, bias, layout)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    spec = InputSpec(48, "bicubic", "centre")
    detector = load_onnx(path, "m", spec, Normalisation(mean, std, layout), "logits", None, ("human", "ai"))
    x = study_pictures(seed_mirror, 48)
    x = np.stack([spec.prepare(np.rint(i * 255).astype(np.uint8)) for i in x]).astype(np.float32) / 255
    z = pooled_reference(x, mean, std, weights, bias)  # columns: human, ai
    p, margin = detector.predict_proba_and_margin(x)
    np.testing.assert_allclose(margin, z[:, 1] - z[:, 0], atol=1e-4)
    np.testing.assert_allclose(p[:, 0], 1 / (1 + np.exp(-(z[:, 1] - z[:, 0]))), atol=1e-5)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-12)


def test_a_sigmoid_graph_of_human_gives_one_minus_it_as_p_ai(tmp_path, seed_mirror):
    rng = np.random.default_rng(2)
    weights, bias = rng.normal(size=(3, 1)) * 6, rng.normal(size=1)
    path = pooled_classifier(tmp_path / "m.onnx", 32, weights, bias, "nhwc", sigmoid=True)
    detector = load_onnx(path, "m", InputSpec(32), Normalisation(layout="nhwc"), "sigmoid", "human")
    x = study_pictures(seed_mirror)
    p_human = 1 / (1 + np.exp(-pooled_reference(x, 0.0, 1.0, weights, bias)[:, 0]))
    p, margin = detector.predict_proba_and_margin(x)
    np.testing.assert_allclose(p[:, 1], p_human, atol=1e-6)
    np.testing.assert_allclose(margin, np.log(1 - p_human) - np.log(p_human), atol=1e-4)


def test_the_centre_crop_matches_the_clip_recipe_on_a_wide_image():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (300, 451, 3), np.uint8)
    from PIL import Image

    image = Image.fromarray(pixels)
    new = (int(round(451 * 224 / 300)), 224)
    resized = image.resize(new, Image.Resampling.BICUBIC)
    left = (new[0] - 224) // 2
    expected = np.asarray(resized.crop((left, 0, left + 224, 224)))
    np.testing.assert_array_equal(InputSpec(224, "bicubic", "centre").prepare(pixels), expected)
    assert InputSpec(32).prepare(pixels).shape == (32, 32, 3)


def onnx_config(tmp_path, seed_mirror, models, **overrides):
    cfg = {
        "name": "onnx", "seed": 3, "out_dir": str(tmp_path / "results"), "bootstrap": 200, "report": "none",
        "assets": {"mirror": str(seed_mirror), "base_url": ""}, "models": models,
        "samples": {"manifest": "study", "from_seed_assets": True},
        "augment": {"gaussian_blur": {"sigma": [1.0]}, "jpeg": {"quality": [40]}},
    } | overrides  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_the_study_runs_on_the_onnx_cnn32_as_on_the_keras_one(tmp_path, seed_mirror, cnn32_onnx):
    models = [
        {"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32, "required": True},
        {"name": "cnn32_onnx", "kind": "onnx", "path": str(cnn32_onnx), "input": CNN32_INPUT, "required": True},
    ]
    assert cli.main([str(onnx_config(tmp_path, seed_mirror, models))]) == 0
    run = next((tmp_path / "results").iterdir())
    scores = pd.read_parquet(run / "scores.parquet")
    assert set(scores["model"]) == {"cnn32", "cnn32_onnx"} and len(scores) == 2 * 66 * 3
    keras_rows = (
        scores[scores["model"] == "cnn32"]
        .pipe(lambda f: f.drop(columns=["model"] + [c for c in f.columns if "margin" in c]))
        .reset_index(drop=True)
    )
    onnx_rows = (
        scores[scores["model"] == "cnn32_onnx"]
        .pipe(lambda f: f.drop(columns=["model"] + [c for c in f.columns if "margin" in c]))
        .reset_index(drop=True)
    )
    assert_frames_match(onnx_rows, keras_rows, "scores")
    cards = json.loads((run / "manifest.json").read_text())["models"]
    card = next(c for c in cards if c["name"] == "cnn32_onnx")
    assert card["kind"] == "onnx" and card["sha256"] and card["one_image_per_call"] is False


def nan_graph(tmp_path, cnn32_onnx):
    model = onnx.load(str(cnn32_onnx))
    tensor = max(model.graph.initializer, key=lambda t: np.prod(t.dims))
    values = numpy_helper.to_array(tensor).copy()
    values.flat[:3] = np.nan
    tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    onnx.save(model, str(tmp_path / "nan.onnx"))
    return tmp_path / "nan.onnx"


def text_file(tmp_path, _):
    (tmp_path / "x.onnx").write_text("not a graph")
    return tmp_path / "x.onnx"


WRONG = {
    "not onnx": (text_file, {}, "not a valid ONNX"),
    "input size": (lambda tmp, good: good, {"input": CNN32_INPUT | {"size": 64}}, "models[d].input: the graph takes"),
    "layout": (lambda tmp, good: good, {"input": CNN32_INPUT | {"layout": "nchw"}}, "models[d].input: the graph takes"),
    "nan": (nan_graph, {}, "weights are not finite (3 NaN"),
    "hash": (lambda tmp, good: good, {"sha256": "0" * 64}, "models[d].sha256:"),
    "sigmoid on two outputs": (lambda tmp, good: good, {"output": "sigmoid", "positive": "ai"}, "models[d].output:"),
}


@pytest.mark.parametrize("case", WRONG)
def test_a_wrong_onnx_file_is_one_line_naming_the_model_and_field(tmp_path, seed_mirror, cnn32_onnx, capsys, case):
    make, fields, expected = WRONG[case]
    model = {"name": "d", "kind": "onnx", "path": str(make(tmp_path, cnn32_onnx)), "input": CNN32_INPUT} | fields
    assert cli.main([str(onnx_config(tmp_path, seed_mirror, [model]))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if line.startswith("error: ")]) == 1 and err[-1].startswith("error: "), err
    assert expected in err[-1] and "models[d]" in err[-1], err[-1]
    assert not (tmp_path / "results").exists()


def test_the_batch_check_catches_a_graph_whose_outputs_depend_on_the_batch(tmp_path):
    """A graph that divides by its batch's largest value (as dynamic quantisation scales by it)."""
    batch_dependent_classifier(tmp_path / "b.onnx", 16)
    detector = load_onnx(tmp_path / "b.onnx", "b", InputSpec(16), Normalisation(), "logits")
    assert detector.one_per_call and batch_dependence(detector) > 1e-3
    x = np.random.default_rng(5).random((6, 16, 16, 3), dtype=np.float32) * np.linspace(0.2, 1, 6)[:, None, None, None]
    alone = np.concatenate([detector.forward(x[i : i + 1])[0] for i in range(6)])
    np.testing.assert_allclose(detector.predict_proba(x, batch_size=6), alone, atol=1e-12)


def test_a_missing_provider_is_one_line(tmp_path, cnn32_onnx):
    from experiments.models.onnx_detector import session

    with pytest.raises(ModelLoadError, match=r"models\[d\].providers: NoSuchExecutionProvider is not available"):
        session(cnn32_onnx, ("NoSuchExecutionProvider",), "models[d]")


def test_a_run_explains_the_onnx_cnn32_black_box_only_as_it_does_the_keras_one(
    tmp_path, seed_mirror, cnn32_onnx, caplog
):
    """gradcam is skipped for the ONNX graph with one line; occlusion's maps of the two copies of
    one network agree; the ONNX graph's randomisation runs on its initializers, top layer first."""
    models = [
        {"name": "cnn32", "input_size": 32, "seed_asset": MODEL_32, "required": True},
        {"name": "cnn32_onnx", "kind": "onnx", "path": str(cnn32_onnx), "input": CNN32_INPUT, "required": True},
    ]
    explain = {"methods": ["gradcam", "occlusion", "random"], "max_samples": 2, "top_k": 1, "faithfulness_steps": 4}
    config = onnx_config(tmp_path, seed_mirror, models, explain=explain, augment={"gaussian_blur": {"sigma": [2.0]}})
    assert cli.main([str(config)]) == 0
    assert "cnn32_onnx: gradcam not computed: they need gradients and layers; onnx detectors give only outputs" in (
        caplog.text
    )
    run = tmp_path / "results" / "onnx"
    maps = pd.read_parquet(run / "explanations.parquet")
    assert set(maps[maps["model"] == "cnn32"]["method"]) == {"gradcam", "occlusion", "random"}
    assert set(maps[maps["model"] == "cnn32_onnx"]["method"]) == {"occlusion", "random"}
    pick = ["sample", "variant", "drift_spearman", "deletion_auc", "insertion_auc", "deletion_auc_logit"]
    keras_rows, onnx_rows = (
        maps[(maps["model"] == m) & (maps["method"] == "occlusion")][pick].reset_index(drop=True)
        for m in ("cnn32", "cnn32_onnx")
    )
    assert len(keras_rows) == 4
    pd.testing.assert_frame_equal(onnx_rows, keras_rows, atol=1e-3, check_exact=False)
    sanity = pd.read_parquet(run / "explanation_sanity.parquet")
    mine = sanity[(sanity["model"] == "cnn32_onnx") & (sanity["method"] == "occlusion")]
    first = mine[mine["sample"] == mine["sample"].iloc[0]]
    assert list(first["randomised_layers"]) == list(range(1, len(first) + 1)) and len(first) >= 4
    assert first["top_layer"].iloc[0].endswith("BiasAdd") and first["spearman"].notna().all()
    assert first["spearman"].iloc[-1] < 0.5  # randomised down to the first convolution: the map is not the trained one
    checks = pd.read_parquet(run / "explanation_checks.parquet")
    assert {"cnn32", "cnn32_onnx"} <= set(checks["model"])


def test_randomisation_of_a_deep_graph_goes_layer_by_layer_to_the_cap_then_all_at_once(tmp_path):
    """12 weighted layers: the top MAX_CASCADE one by one, then one copy with every layer randomised."""
    from onnx import TensorProto, helper

    from experiments.models.onnx_detector import MAX_CASCADE, cascade

    rng = np.random.default_rng(0)
    nodes, inits, x = [helper.make_node("Flatten", ["pixels"], ["h0"])], [], "h0"
    widths = [8 * 8 * 3] + [6] * 11 + [2]
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        inits.append(numpy_helper.from_array((rng.normal(size=(a, b)) * 2 / np.sqrt(a)).astype(np.float32), f"W{i}"))
        nodes.append(helper.make_node("MatMul", [x, f"W{i}"], ["out" if i == len(widths) - 2 else f"h{i + 1}"]))
        x = f"h{i + 1}"
    graph = helper.make_graph(
        nodes, "deep", [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 2])], initializer=inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, str(tmp_path / "deep.onnx"))
    detector = load_onnx(tmp_path / "deep.onnx", "deep", InputSpec(8), Normalisation(), "logits")
    copies, why = detector.randomised_copies(seed=1)
    copies = list(copies)  # made one at a time, as the sanity check takes them
    names = [name for name, _ in copies]
    assert why is None and len(names) == MAX_CASCADE + 1 == 9 and names[-1] == "all 12 weighted layers"
    assert len(list(cascade(onnx.load(str(tmp_path / "deep.onnx")), 1))) == MAX_CASCADE + 1
    x = np.random.default_rng(2).random((3, 8, 8, 3), dtype=np.float32)
    margins = [copy.passes(x)[1] for _, copy in copies]  # the logit difference: it does not saturate
    assert all(np.abs(m - detector.passes(x)[1]).min() > 1e-6 for m in margins)
    assert all(np.isfinite(m).all() for m in margins)
