"""xai: one interface over tf-keras-vis methods and LIME, checked for real properties."""

import re

import numpy as np
import pytest
import tensorflow as tf

from experiments.inputs.images import load_for_model
from experiments.models.architecture import build_cnn, keras
from xai.explain import METHODS, explain, logit_model
from xai.faithfulness import deletion_insertion, pixel_order
from xai.lime_explain import display_copy, superpixels
from xai.overlay import overlay
from xai.sanity import cascading_randomisation
from xai.similarity import similarity, top_iou, top_mask
from tests.conftest import SAMPLES_DIR


@pytest.fixture(scope="module")
def two_images(seed_mirror):
    return np.stack(
        [load_for_model(seed_mirror / SAMPLES_DIR / n, 32) for n in ("mona lisa.JPG", "ai_portrait_civitai.jpg")]
    )


def test_logit_model_is_the_same_network_before_softmax(cnn32, two_images):
    logits = keras.ops.convert_to_numpy(logit_model(cnn32.model)(two_images))
    probs = cnn32.predict_proba(two_images)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), probs, atol=1e-6)


def _rescale(m):
    return (m - m.min()) / (m.max() - m.min())


def test_saliency_gradients_come_from_the_logits_not_the_softmax(cnn32, two_images):
    x = tf.constant(two_images[:1])
    maps = {}
    for name, net in (("logits", logit_model(cnn32.model)), ("softmax", cnn32.model)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = net(x)[:, 0]
        maps[name] = _rescale(np.abs(tape.gradient(out, x).numpy()).max(axis=-1))[0]
    ours = explain(cnn32.model, two_images[:1], "saliency", target=0)[0]
    np.testing.assert_allclose(ours, maps["logits"], atol=1e-5)
    assert np.abs(ours - maps["softmax"]).max() > 0.05


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_rescaled_maps_through_one_call(cnn32, two_images, method):
    options = {"num_samples": 200} if method == "lime" else {}
    maps = explain(cnn32.model, two_images, method, "human", class_names=("ai", "human"), **options)
    assert maps.shape == (2, 32, 32)
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    assert (maps.reshape(2, -1).max(axis=1) == 1).all()  # not blank


def test_bad_method_and_target_are_clear_errors(cnn32, two_images):
    with pytest.raises(ValueError, match=re.escape("unknown method 'gradcam+++'")):
        explain(cnn32.model, two_images, "gradcam+++")
    with pytest.raises(ValueError, match="class names"):
        explain(cnn32.model, two_images, "saliency", "robot", class_names=("ai", "human"))


@pytest.fixture(scope="module")
def corner_model():
    """A CNN trained so that its decision depends only on the top-left quadrant: class 1 has a
    bright square somewhere in it, class 0 does not; the rest of every image is noise."""
    rng = np.random.default_rng(0)
    x = rng.random((768, 32, 32, 3), dtype=np.float32) * 0.5
    y = np.arange(768) % 2
    for i in np.flatnonzero(y):
        r, c = rng.integers(0, 9, 2)
        x[i, r : r + 7, c : c + 7] = 1.0
    keras.utils.set_random_seed(0)
    model = build_cnn(32)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    return model, x[y == 1][:16]


def test_gradcam_peaks_where_the_decision_is_made(corner_model):
    model, positives = corner_model
    assert keras.ops.convert_to_numpy(model(positives)).argmax(axis=1).mean() > 0.9  # it learned
    for method in ("gradcam", "gradcam++", "layercam"):
        maps = explain(model, positives, method, target=1)
        rows, cols = np.unravel_index(maps.reshape(len(maps), -1).argmax(axis=1), (32, 32))
        assert ((rows < 16) & (cols < 16)).mean() >= 0.8, method


def test_lime_uses_many_superpixels_and_repeats_with_its_seed(cnn32, two_images):
    segments = superpixels(display_copy(two_images[0], 256))
    assert segments.shape == (256, 256) and len(np.unique(segments)) >= 20
    a = explain(cnn32.model, two_images[:1], "lime", "ai", class_names=("ai", "human"), num_samples=300, seed=1)
    b = explain(cnn32.model, two_images[:1], "lime", "ai", class_names=("ai", "human"), num_samples=300, seed=1)
    c = explain(cnn32.model, two_images[:1], "lime", "ai", class_names=("ai", "human"), num_samples=300, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len(np.unique(np.round(a, 6))) >= 10  # many superpixels carry weight, not one blob


# --- numbers about maps -----------------------------------------------------------------------


def test_similarity_of_known_maps():
    ramp = np.arange(100, dtype=float).reshape(10, 10)
    assert similarity(ramp, ramp) == {"spearman": pytest.approx(1.0), "top_iou": 1.0}
    assert similarity(ramp, -ramp)["spearman"] == pytest.approx(-1.0)
    assert top_iou(ramp, -ramp) == 0.0  # the top 10 pixels of one are the bottom 10 of the other
    shifted = np.roll(ramp, 5)  # top-10 sets share 5 pixels: IoU 5 / 15
    assert top_iou(ramp, shifted) == pytest.approx(5 / 15)
    assert top_mask(np.zeros((7, 7)), 0.1).sum() == 5  # ceil(4.9): ties still give an exact count
    assert similarity(np.ones((4, 4)), ramp[:4, :4])["spearman"] == 0  # a blank map ranks nothing


def test_pixel_order_is_most_important_first_with_random_ties():
    m = np.array([[0.0, 1.0], [0.5, 1.0]])
    orders = {tuple(pixel_order(m, np.random.default_rng(s))) for s in range(20)}
    assert {o[2:] for o in orders} == {(2, 0)} and {o[:2] for o in orders} == {(1, 3), (3, 1)}


def test_overlay_puts_heat_where_the_map_is_high():
    m = np.zeros((32, 32))
    m[:8, :8] = 1
    picture = overlay(np.full((128, 256, 3), (40, 60, 200), np.uint8), m)  # a blue image
    assert picture.shape == (128, 256 + 64, 3) and picture.dtype == np.uint8
    hot, cold = picture[5, 5].astype(int), picture[120, 250].astype(int)
    assert hot[0] > hot[2] + 50 and hot.sum() > cold.sum() + 200  # inferno: bright yellow where the map is high
    assert np.ptp(cold) == 0  # grey where it is 0: the image's own blue cannot pass for attribution
    signed = overlay(np.full((128, 256, 3), 128, np.uint8), np.where(m > 0, 1.0, -1.0), signed=True)
    assert (
        signed[5, 5, 0] > signed[5, 5, 2] + 60 and signed[120, 250, 2] > signed[120, 250, 0] + 60
    )  # red for, blue against


def quadrant_model():
    """A model whose evidence is known exactly: class 1's logit grows with the mean squared
    brightness of the top-left 16x16 quadrant (so both darkening and blurring it lower the
    score); class 0's logit is constant. No other pixel matters."""
    inputs = keras.Input((32, 32, 3))
    quadrant = keras.layers.Cropping2D(((0, 16), (0, 16)))(inputs)
    energy = keras.layers.GlobalAveragePooling2D()(keras.layers.Multiply()([quadrant, quadrant]))
    dense = keras.layers.Dense(2, activation="softmax")
    model = keras.Model(inputs, dense(energy))
    dense.set_weights([np.array([[0, 20]] * 3, np.float32), np.array([0, -20 * 3 * 0.594], np.float32)])
    return model


def test_deletion_and_insertion_reward_the_true_map_over_a_random_one():
    model = quadrant_model()
    checks = 0.5 + 0.5 * (np.add.outer(np.arange(32), np.arange(32)) % 2)  # mean square 0.625; blurred 0.5625
    images = (checks[None, :, :, None] + np.random.default_rng(0).uniform(-0.02, 0.02, (8, 32, 32, 3))).astype(
        np.float32
    )
    truth = np.zeros((8, 32, 32))
    truth[:, :16, :16] = 1
    noise = explain(model, images, "random", target=1, seed=3)
    faithful = deletion_insertion(model, images, truth, [1] * 8, steps=16)
    baseline = deletion_insertion(model, images, noise, [1] * 8, steps=16)
    assert faithful.deletion.shape == (8, 17)
    # curves start at the model's own probability and end at that of the black / intact image
    p = keras.ops.convert_to_numpy(model(images))[:, 1]
    np.testing.assert_allclose(faithful.deletion[:, 0], p, atol=1e-6)
    np.testing.assert_allclose(faithful.insertion[:, -1], p, atol=1e-6)
    assert (faithful.deletion[:, -1] < 1e-6).all() and (p > 0.8).all()  # all black: no evidence left
    # the true map removes all evidence after a quarter of the pixels: deletion falls 4x faster
    assert (np.diff(faithful.deletion, axis=1) <= 1e-6).all()
    np.testing.assert_allclose(faithful.deletion[:, 4:], np.broadcast_to(faithful.deletion[:, -1:], (8, 13)), atol=1e-5)
    assert (faithful.deletion_auc < baseline.deletion_auc).all()
    assert faithful.insertion_auc.mean() > baseline.insertion_auc.mean() + 0.1


def test_randomised_models_give_dissimilar_maps(corner_model):
    model, positives = corner_model
    before = [w.copy() for w in model.get_weights()]
    trained = {m: explain(model, positives, m, target=1, seed=0) for m in ("gradcam", "saliency", "random")}
    layers = []
    for layer, randomised in cascading_randomisation(model, seed=0):
        layers.append(layer)
        last = {m: explain(randomised, positives, m, target=1, seed=0) for m in trained}
    assert len(layers) == 4  # two Conv2D and two Dense layers, the output layer first
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the original is untouched
    rho = {m: np.mean([similarity(a, b)["spearman"] for a, b in zip(trained[m], last[m])]) for m in trained}
    assert rho["gradcam"] < 0.5
    assert rho["saliency"] < 0.9  # gradients keep some of the input's structure (Adebayo et al. saw this too)
    # a method that ignores the model is caught: its maps do not change at all
    assert rho["random"] == pytest.approx(1)
