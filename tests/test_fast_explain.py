"""The explanation stage's fast paths give the maps and numbers of the slow ones they replace:
tf-keras-vis' own methods on a fresh logit copy, eager model calls, one randomised copy per
depth, one faithfulness batch per method. Real images, the study's 32 px model, and the 128 px
architecture with random weights (its zoom factors are not whole numbers)."""

import contextlib
import io

import numpy as np
import pytest
import tensorflow as tf

from experiments.inputs.images import load_for_model
from experiments.models.architecture import build_cnn, keras
from tests.conftest import SAMPLES_DIR
from xai import compiled
from xai.explain import _rescale, explain, last_conv_layer, logit_model
from xai.faithfulness import curve_images, curves_for_methods, deletion_insertion
from xai.lime_explain import image_maps, model_labels
from xai.overlay import overlay_grid
from xai.sanity import _glorot_uniform, cascade_predict, cascading_randomisation, sanity_copy, sanity_maps

NAMES = ("mona lisa.JPG", "ai_portrait_civitai.jpg")


@pytest.fixture(scope="module")
def cnn128():
    keras.utils.set_random_seed(7)
    return build_cnn(128)


def images_at(seed_mirror, size, n=2):
    return np.stack([load_for_model(seed_mirror / SAMPLES_DIR / name, size) for name in NAMES[:n]])


def fresh_logit_copy(model):
    """What xai.explain.logit_model built on every call before: a new functional copy."""
    inputs = keras.Input(model.input_shape[1:])
    x = inputs
    for i, layer in enumerate(model.layers):
        config = layer.get_config()
        if i == len(model.layers) - 1:
            config |= {"activation": "linear", "name": f"{layer.name}_logits"}
        clone = type(layer).from_config(config)
        x = clone(x)
        clone.set_weights(layer.get_weights())
    return keras.Model(inputs, x)


def tf_keras_vis_maps(model, images, targets, method, seed):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    logits, score = fresh_logit_copy(model), CategoricalScore(targets)
    keras.utils.set_random_seed(seed)
    if method in ("saliency", "smoothgrad"):
        return Saliency(logits, clone=False)(
            score, images, smooth_samples=20 if method == "smoothgrad" else 0, smooth_noise=0.2
        )
    layer = last_conv_layer(model)
    if method == "scorecam":
        with contextlib.redirect_stdout(io.StringIO()):
            return Scorecam(logits, clone=False)(score, images, penultimate_layer=layer, batch_size=256)
    return {"gradcam": Gradcam, "gradcam++": GradcamPlusPlus, "layercam": Layercam}[method](logits, clone=False)(
        score, images, penultimate_layer=layer
    )


@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "gradcam", "gradcam++", "layercam", "scorecam"])
def test_compiled_methods_give_tf_keras_vis_maps(cnn32, cnn128, seed_mirror, method):
    for model, images, targets in (
        (cnn32.model, images_at(seed_mirror, 32), [0, 1]),
        (cnn128, images_at(seed_mirror, 128), [0, 1]),
    ):
        ours = explain(model, images, method, targets, seed=3)
        theirs = _rescale(tf_keras_vis_maps(model, images, targets, method, seed=3))
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-5, err_msg=f"{method} at {images.shape[1]} px")
        assert ours.std() > 0.05  # a real map, not two blanks agreeing


def test_one_logit_model_per_architecture_with_weights_refreshed(cnn32, seed_mirror):
    images = images_at(seed_mirror, 32)
    keras.utils.set_random_seed(1)
    other = build_cnn(32)  # same architecture, other weights
    first = logit_model(cnn32.model)
    np.testing.assert_allclose(tf.nn.softmax(first(images)).numpy(), cnn32.predict_proba(images), atol=1e-6)
    second = logit_model(other)
    assert second is first  # built once
    np.testing.assert_allclose(
        tf.nn.softmax(second(images)).numpy(), keras.ops.convert_to_numpy(other(images)), atol=1e-6
    )
    assert logit_model(cnn32.model) is first
    np.testing.assert_allclose(
        tf.nn.softmax(first(images)).numpy(), cnn32.predict_proba(images), atol=1e-6
    )  # never stale


def test_compiled_forward_runs_fixed_buckets_and_matches_eager_calls(cnn32, seed_mirror):
    assert [compiled.bucket(n) for n in (1, 2, 3, 5, 9, 20, 200, 256)] == [2, 2, 4, 8, 16, 24, 200, 256]
    rng = np.random.default_rng(0)
    x = np.concatenate([images_at(seed_mirror, 32), rng.random((298, 32, 32, 3), dtype=np.float32)])  # 300: crosses 256
    ours = compiled.forward(cnn32.model, x)
    assert ours.shape == (300, 2)
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(cnn32.model(x)), atol=1e-6)
    np.testing.assert_allclose(compiled.forward(cnn32.model, x[:3]), ours[:3], atol=1e-6)  # padded to 4: same rows


def old_cascade(model, seed):
    """The randomised copies as they were made before: a fresh clone, randomised layer by layer."""
    rng = np.random.default_rng(seed)
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    for layer in reversed(copy.layers):
        weights = layer.get_weights()
        if weights:
            layer.set_weights([_glorot_uniform(w.shape, rng) if w.ndim > 1 else np.zeros_like(w) for w in weights])
            yield layer.name, copy


def test_one_sanity_copy_and_the_shared_trunk_give_the_old_cascade(cnn32, seed_mirror):
    model, x = cnn32.model, np.random.default_rng(1).random((40, 32, 32, 3), dtype=np.float32)
    names, predict = cascade_predict(model, seed=4)
    outputs = predict(x)
    reference = [(name, keras.ops.convert_to_numpy(copy(x))) for name, copy in old_cascade(model, 4)]
    assert names == [name for name, _ in reference] and len(outputs) == 1 + len(reference) == 5
    np.testing.assert_allclose(outputs[0], cnn32.predict_proba(x), atol=1e-6)
    for out, (_, expected) in zip(outputs[1:], reference):
        np.testing.assert_allclose(out, expected, atol=1e-6)
    copies = {id(copy) for _, copy in cascading_randomisation(model, seed=4)}
    assert copies == {id(sanity_copy(model))}  # one copy per model, reused
    for (name, copy), (old_name, old_copy) in zip(cascading_randomisation(model, seed=4), old_cascade(model, 4)):
        assert name == old_name
        assert all(np.array_equal(a, b) for a, b in zip(copy.get_weights(), old_copy.get_weights()))


@pytest.mark.parametrize("method", ["lime", "gradcam", "smoothgrad"])
def test_sanity_maps_equal_explaining_each_randomised_copy(cnn32, seed_mirror, method):
    images = images_at(seed_mirror, 32)
    options = {"num_samples": 300} if method == "lime" else {}
    maps, randomised = sanity_maps(cnn32.model, images, method, [0, 0], seed=9, **options)
    np.testing.assert_allclose(maps, explain(cnn32.model, images, method, [0, 0], seed=9, **options), atol=1e-5)
    reference = [
        (name, explain(copy, images[:1], method, [0], seed=9, **options)[0])
        for name, copy in old_cascade(cnn32.model, 9)
    ]
    assert [name for name, _ in randomised] == [name for name, _ in reference]
    for (_, ours), (name, theirs) in zip(randomised, reference):
        np.testing.assert_allclose(ours, theirs, atol=1e-4, err_msg=f"{method}, randomised up to {name}")


def test_lime_through_compiled_batches_equals_eager_calls(cnn32, seed_mirror):
    image = images_at(seed_mirror, 32, 1)[0]
    labels = model_labels(image)
    eager = image_maps(
        image, labels, 0, lambda x: [keras.ops.convert_to_numpy(cnn32.model(x))], seed=2, num_samples=600
    )
    ours = image_maps(image, labels, 0, lambda x: [compiled.forward(cnn32.model, x)], seed=2, num_samples=600)
    np.testing.assert_allclose(ours[0], eager[0], atol=1e-6)
    assert len(np.unique(np.round(ours[0], 8))) >= 10


def test_faithfulness_of_every_method_in_one_batch(cnn32, seed_mirror):
    images = images_at(seed_mirror, 32)
    maps = {m: explain(cnn32.model, images, m, [0, 1], seed=1) for m in ("gradcam", "saliency", "random")}
    seeds = {"gradcam": 5, "saliency": 6, "random": 7}
    together = curves_for_methods(cnn32.model, images, maps, [0, 1], seeds, steps=8)
    for method, m in maps.items():
        alone = deletion_insertion(cnn32.model, images, m, [0, 1], steps=8, seed=seeds[method])
        probs = keras.ops.convert_to_numpy(cnn32.model(curve_images(images, m, 8, seeds[method]))).reshape(2, 18, 2)
        eager = probs[np.arange(2), :, [0, 1]]
        np.testing.assert_allclose(together[method].deletion, eager[:, :9], atol=1e-6)
        np.testing.assert_allclose(together[method].insertion, eager[:, 9:], atol=1e-6)
        np.testing.assert_allclose(together[method].deletion_auc, alone.deletion_auc, atol=1e-7)


def test_score_cam_upsampling_is_scipy_zoom():
    from scipy.ndimage import zoom

    from xai.attributions import upsample as _upsample

    a = np.random.default_rng(0).random((2, 61, 61, 64), dtype=np.float32) * 5  # the 128 px CNN's last conv
    for size in (128, 100):
        ours, theirs = _upsample(a, size, size), zoom(a, (1, size / 61, size / 61, 1), order=1, mode="nearest")
        np.testing.assert_allclose(ours, theirs, rtol=3e-7)  # float64 sums in another order: one float32 step at most
        assert (ours != theirs).mean() < 1e-4


def test_grid_of_eight_methods_by_six_images_stays_under_a_megabyte(seed_mirror, tmp_path):
    from experiments.inputs.images import decode_image, display_resize

    names = sorted(p.name for p in (seed_mirror / SAMPLES_DIR).iterdir())[:6]
    displays = [display_resize(decode_image(seed_mirror / SAMPLES_DIR / n).pixels, 256) for n in names]
    rng = np.random.default_rng(0)
    maps = {f"method {k}": rng.random((6, 32, 32)) for k in range(8)}  # noise: the hardest to compress
    picture = overlay_grid(
        displays, maps, [f"variant {k}\np_ai 0.50 (Δ +0.10)" for k in range(6)], title="subject (ai) — cnn32"
    )
    picture.save(tmp_path / "grid.png")
    assert picture.width > 6 * 180 and picture.height > 8 * 90  # the first six study files are landscape
    assert (tmp_path / "grid.png").stat().st_size < 1_000_000
