import json

import numpy as np
import pytest

from experiments.models.architecture import CLASS_NAMES, build_cnn, keras, load_keras
from tests.conftest import MODEL_32
from tests.tolerance import PROBABILITY

NETWORK_JSON = {
    32: "Models/AI-artbench/model 1 32px/network.json",
    128: "Models/AI-artbench/model 2 128px/network.json",
}
CHECKED = (
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "activation",
    "units",
    "pool_size",
    "use_bias",
    "data_format",
)


@pytest.mark.parametrize("size", [32, 128])
def test_cnn_matches_the_study_layer_for_layer(seed_mirror, size):
    study = json.loads((seed_mirror / NETWORK_JSON[size]).read_text())["config"]["layers"]
    study = [layer for layer in study if layer["class_name"] != "InputLayer"]
    ours = build_cnn(size).layers
    assert [type(layer).__name__ for layer in ours] == [layer["class_name"] for layer in study]
    for mine, theirs in zip(ours, study):
        config = mine.get_config()
        for key in CHECKED:
            if key in theirs["config"]:
                assert _norm(config[key]) == _norm(theirs["config"][key]), (theirs["config"]["name"], key)
        # the shape each study layer was built for is the output of the layer before it
        assert list(mine.input.shape[1:]) == theirs["build_config"]["input_shape"][1:]
    assert study[0]["config"]["batch_input_shape"][1:] == [size, size, 3]


def _norm(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def test_study_h5_loads_with_metadata_and_equals_our_architecture(seed_mirror):
    detector = load_keras(seed_mirror / MODEL_32, "cnn32")
    assert detector.input_size == 32 and detector.class_names == CLASS_NAMES == ("ai", "human")
    assert detector.metadata()["params"] == 186_370
    ours = build_cnn(32)
    ours.set_weights(detector.model.get_weights())
    x = np.random.default_rng(0).random((8, 32, 32, 3), dtype=np.float32)
    assert np.array_equal(detector.predict_proba(x), load_keras(seed_mirror / MODEL_32, "again").predict_proba(x))
    same = {"rtol": PROBABILITY.rtol, "atol": PROBABILITY.atol}  # tests/tolerance.py: two code paths
    np.testing.assert_allclose(detector.predict_proba(x), keras.ops.convert_to_numpy(ours(x)), **same)
    p = detector.predict_proba(x, batch_size=3)  # chunking must not change anything material
    np.testing.assert_allclose(p, detector.predict_proba(x), **same)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-6)


def test_keras_files_round_trip(tmp_path):
    model = build_cnn(16)
    model.save(tmp_path / "m.keras")
    detector = load_keras(tmp_path / "m.keras", "small")
    x = np.random.default_rng(1).random((4, 16, 16, 3), dtype=np.float32)
    np.testing.assert_allclose(
        detector.predict_proba(x), keras.ops.convert_to_numpy(model(x)), rtol=PROBABILITY.rtol, atol=PROBABILITY.atol
    )
    assert detector.input_size == 16


def test_wrong_input_size_or_file_type_is_refused(seed_mirror, tmp_path):
    with pytest.raises(ValueError, match="config says input_size 128, the model takes 32"):
        load_keras(seed_mirror / MODEL_32, "cnn", 128)
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(ValueError, match="expected a .h5 or .keras"):
        load_keras(tmp_path / "m.onnx", "cnn")


def test_model_code_is_backend_neutral():
    """No TensorFlow inside model code: it must train on Keras' JAX backend too."""
    import ast
    import inspect

    import experiments.models.architecture as models

    tree = ast.parse(inspect.getsource(models))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not imported & {"tensorflow", "tf_keras"}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "tf" not in names
